"""Landlord view: consumption and cost per meter for a period, as an action and as a CSV download.

Hours come from the recorder's long-term statistics (they reach back as far as the recorder
keeps them), or from the analytics' own journal where there is no recorder. Costs use each
meter's tariff from the start of the period's first month, so a progressive price is right.
"""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus

import probatio as vol
from aiohttp import web
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.util import dt as dt_util

from balance_analytics import HourlySeries, LandlordMeter, LandlordReport, landlord_report
from balance_analytics.series import month_bounds

from ..const import DOMAIN
from .manager import AnalyticsManager
from .recorder import async_hourly_history
from .setup import ANALYTICS

SERVICE_LANDLORD_REPORT = "landlord_report"
ATTR_CONFIG_ENTRY = "config_entry_id"
CSV_URL = "/api/balance/landlord_report.csv"

LANDLORD_SCHEMA = vol.Schema(
    {
        vol.Required("start"): cv.datetime,
        vol.Required("end"): cv.datetime,
        vol.Optional(ATTR_CONFIG_ENTRY): cv.string,
    }
)


def async_setup_analytics_services(hass: HomeAssistant) -> None:
    async def landlord(call: ServiceCall) -> ServiceResponse:
        report = await async_landlord_report(
            call.hass, call.data["start"], call.data["end"], call.data.get(ATTR_CONFIG_ENTRY)
        )
        return report.as_dict()  # type: ignore[return-value]

    hass.services.async_register(
        DOMAIN,
        SERVICE_LANDLORD_REPORT,
        landlord,
        schema=LANDLORD_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    if getattr(hass, "http", None) is not None:
        hass.http.register_view(LandlordCsvView())


def _aware(moment: datetime) -> datetime:
    return (
        moment
        if moment.tzinfo is not None
        else moment.replace(tzinfo=dt_util.get_default_time_zone())
    )


async def async_landlord_report(
    hass: HomeAssistant, start: datetime, end: datetime, entry_id: str | None = None
) -> LandlordReport:
    start, end = _aware(start), _aware(end)
    if end <= start or (end - start).total_seconds() < 3600:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="bad_period")
    managers: dict[str, AnalyticsManager] = hass.data.get(ANALYTICS, {})
    if entry_id is not None:
        if entry_id not in managers:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="no_analytics",
                translation_placeholders={"entry": entry_id},
            )
        managers = {entry_id: managers[entry_id]}
    meters: list[LandlordMeter] = []
    for manager in managers.values():
        tz = manager.tz
        first = datetime.fromtimestamp(month_bounds(start.timestamp(), tz)[0], tz)
        for meter in manager.meters.values():
            series: HourlySeries = meter.journal.series()
            if meter.entity_id is not None and not meter.source.power:
                history = await async_hourly_history(hass, meter.entity_id, first, end)
                if history is not None:
                    series = history[0]
            meters.append(
                LandlordMeter(
                    meter_id=meter.entity_id or meter.key,
                    name=meter.source.name,
                    carrier=meter.carrier,
                    series=series,
                    plan=meter.tariffs.plan if meter.tariffs is not None else None,
                )
            )
    return landlord_report(meters, start.timestamp(), end.timestamp(), hass.config.currency)


class LandlordCsvView(HomeAssistantView):
    """``GET /api/balance/landlord_report.csv?start=…&end=…[&config_entry_id=…]``, logged in."""

    url = CSV_URL
    name = "api:balance:landlord_report"
    requires_auth = True

    async def get(self, request: web.Request) -> web.Response:
        hass = request.app[KEY_HASS]
        try:
            start = cv.datetime(request.query.get("start"))
            end = cv.datetime(request.query.get("end"))
        except vol.Invalid as err:
            return web.Response(
                status=HTTPStatus.BAD_REQUEST, text=f"start and end must be date-times: {err}"
            )
        try:
            report = await async_landlord_report(
                hass, start, end, request.query.get(ATTR_CONFIG_ENTRY)
            )
        except ServiceValidationError as err:
            return web.Response(status=HTTPStatus.BAD_REQUEST, text=str(err))
        name = f"landlord_{start:%Y%m%d}_{end:%Y%m%d}.csv"
        return web.Response(
            text=report.to_csv(),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
