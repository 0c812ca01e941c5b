"""Reasons a household can read: what was switched, because of what, and when it comes back."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from .limits import DR_SOURCE_UTILITY, LimitInForce, dr_source_words
from .model import ShedCause, SocketColour

_DR_LEVEL_WORDS = {
    1: "green sockets off",
    2: "green and yellow sockets off",
    3: "everything but red sockets off",
}


@dataclass(frozen=True, slots=True)
class ReasonContext:
    """The facts one reason may draw on; all times in the household's time zone."""

    now: datetime
    name: str
    colour: SocketColour
    limit: LimitInForce
    dr_level: int
    dr_until: datetime | None
    dr_source: str
    """Who asked for the DR level in force (`DemandResponse.source`)."""
    effective_w: float
    over_since: datetime | None
    socket_w: float | None
    restore_fraction: float
    max_off_s: float
    night_start: datetime | None
    deadline: datetime | None
    stale_since: datetime | None
    restore_all: bool = False
    """Everything held is given back because the household asked for it (`restore_all`)."""


def kw(watts: float) -> str:
    return f"{watts / 1000:.1f} kW"


def clock(moment: datetime, now: datetime) -> str:
    moment = moment.astimezone(now.tzinfo)
    text = f"{moment:%H:%M}"
    days = (moment.date() - now.date()).days
    if days == 1:
        return f"{text} tomorrow"
    if days > 1 or days < 0:
        return f"{text} on {moment:%a %d %b}"
    return text


def _limit_words(ctx: ReasonContext) -> str:
    words = f" {ctx.limit.words}" if ctx.limit.words else ""
    text = f"{kw(ctx.limit.watts)}{words} limit"
    if ctx.limit.until is not None:
        text += f" (until {clock(ctx.limit.until, ctx.now)})"
    return text


def _back_on_words(ctx: ReasonContext) -> str:
    parts: list[str] = []
    if math.isfinite(ctx.limit.watts):
        below = ctx.restore_fraction * ctx.limit.watts - (ctx.socket_w or 0.0)
        if below > 0:
            parts.append(f"back on when below {kw(below)}")
        else:
            parts.append(f"back on when the limit leaves room for its {kw(ctx.socket_w or 0.0)}")
    if math.isfinite(ctx.max_off_s):
        latest = ctx.now + timedelta(seconds=ctx.max_off_s)
        parts.append(f"at the latest at {clock(latest, ctx.now)}")
    return ", ".join(parts)


def explain(cause: ShedCause, ctx: ReasonContext) -> str:
    name = ctx.name
    match cause:
        case ShedCause.OVER_LIMIT:
            since = clock(ctx.over_since or ctx.now, ctx.now)
            text = f"{name} off: {kw(ctx.effective_w)} > {_limit_words(ctx)} since {since}"
            back = _back_on_words(ctx)
            return f"{text}; {back}" if back else text
        case ShedCause.DEMAND_RESPONSE:
            asked = _DR_LEVEL_WORDS.get(ctx.dr_level, "less load")
            who = dr_source_words(ctx.dr_source)[0]
            text = f"{name} off: {who} asked for {asked}"
            if ctx.dr_until is not None:
                text += f" until {clock(ctx.dr_until, ctx.now)}"
            if math.isfinite(ctx.max_off_s):
                latest = ctx.now + timedelta(seconds=ctx.max_off_s)
                text += f"; back on at the latest at {clock(latest, ctx.now)}"
            return text
        case ShedCause.DR_EMERGENCY:
            if ctx.dr_source == DR_SOURCE_UTILITY:
                text = f"{name} off: utility emergency, only red sockets stay on"
            else:
                who = dr_source_words(ctx.dr_source)[0]
                text = f"{name} off: {who} asked for {_DR_LEVEL_WORDS[3]}"
            if ctx.dr_until is not None:
                text += f" until {clock(ctx.dr_until, ctx.now)}"
            return text
        case ShedCause.WAIT_FOR_NIGHT:
            start = clock(ctx.night_start, ctx.now) if ctx.night_start else "the night tariff"
            text = f"{name} waits for the night tariff: starts at {start}"
            if ctx.deadline is not None:
                text += f", done by {clock(ctx.deadline, ctx.now)}"
            return text
        case ShedCause.ROOM_AGAIN:
            return (
                f"{name} back on: {kw(ctx.effective_w)} now, room for its "
                f"{kw(ctx.socket_w or 0.0)} under the {_limit_words(ctx)}"
            )
        case ShedCause.MAX_OFF_REACHED:
            return (
                f"{name} back on: it has been off {ctx.max_off_s / 60:.0f} min, the most it may be"
            )
        case ShedCause.DEADLINE:
            until = clock(ctx.deadline, ctx.now) if ctx.deadline else "its deadline"
            return f"{name} on: it must run now to finish by {until}"
        case ShedCause.NIGHT_TARIFF:
            text = f"{name} on: night tariff"
            if ctx.deadline is not None:
                text += f", done by {clock(ctx.deadline, ctx.now)}"
            return text
        case ShedCause.RUN_NOW:
            until = clock(ctx.deadline, ctx.now) if ctx.deadline else "its deadline"
            return f"{name} on: it can no longer finish in the night tariff before {until}"
        case ShedCause.MODE_OFF:
            if ctx.restore_all:
                return f"{name} back on: restore all was asked for"
            return f"{name} back on: load management is switched off"
        case ShedCause.READING_STALE:
            since = clock(ctx.stale_since, ctx.now) if ctx.stale_since else "a while"
            return (
                f"{name} back on: no power reading since {since}, "
                "so sockets are given back one at a time"
            )
        case ShedCause.TURNED_ON_BY_HAND:
            return f"{name} was switched on by hand: load management leaves it on"
        case ShedCause.NOW_RED:
            return f"{name} back on: it is a red socket now, and red is never switched off"
        case ShedCause.NO_LONGER_MANAGED:
            return f"{name} back on: it is no longer managed by load management"
        case ShedCause.NONE:
            return f"{name}: no change"
