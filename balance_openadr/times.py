"""RFC 3339 date-times and ISO 8601 durations as OpenADR 3.1 writes them (no third-party code)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(
    r"^(-?)P(?=\d|T\d)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)([DW]))?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


def parse_datetime(value: str) -> datetime:
    """RFC 3339 date-time; a naive value is taken as UTC."""
    parsed = datetime.fromisoformat(value.replace("z", "Z"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def parse_duration(value: str) -> timedelta | None:
    """ISO 8601 duration as the spec's pattern allows; None for "infinite" (P9999Y) or years/months
    too large to mean anything but "open-ended"."""
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(f"not an ISO 8601 duration: {value!r}")
    sign, years, months, count, unit, hours, minutes, seconds = match.groups()
    if years and int(years) >= 100:
        return None
    days = int(years or 0) * 365 + int(months or 0) * 30
    if count:
        days += int(count) * (7 if unit == "W" else 1)
    try:
        delta = timedelta(
            days=days,
            hours=int(hours or 0),
            minutes=int(minutes or 0),
            seconds=float(seconds or 0),
        )
    except OverflowError:
        return None
    return -delta if sign else delta
