"""OpenADR 3.1.0 request bodies, validated as the specification's YAML defines them.

Only what a client sends is modelled: the VTN adds ``objectMetadata`` (id, timestamps, objectType)
and, for VEN-created objects, ``clientID``. Unknown properties are dropped, as the spec's schemas do
not forbid them and a 3.0.1 client may still send some.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
)

from .times import parse_datetime, parse_duration

OBJECT_TYPES = ("PROGRAM", "EVENT", "REPORT", "SUBSCRIPTION", "VEN", "RESOURCE")
OPERATIONS = ("READ", "CREATE", "UPDATE", "DELETE")

_OBJECT_ID = re.compile(r"^[a-zA-Z0-9_-]*$")


def _check_datetime(value: str) -> str:
    try:
        parse_datetime(value)
    except ValueError as err:
        raise ValueError(f"not an RFC 3339 date-time: {value!r}") from err
    if "T" not in value.upper() and len(value) > 10:
        raise ValueError(f"not an RFC 3339 date-time: {value!r}")
    return value


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


def _check_object_id(value: str) -> str:
    if not _OBJECT_ID.match(value):
        raise ValueError("objectID must be URL safe: letters, digits, '_' and '-'")
    return value


DateTime = Annotated[StrictStr, Field(max_length=64)]
Duration = Annotated[StrictStr, Field(max_length=64)]
ObjectID = Annotated[StrictStr, Field(min_length=1, max_length=128)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=128)]
Target = Annotated[StrictStr, Field(min_length=1, max_length=128)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        """The object as the spec spells it, without absent optional properties."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _normalise_targets(value: Any) -> Any:
    """3.1 targets are strings; a 3.0.1 client sends valuesMaps ({type, values}). Each value of such
    a map becomes one target string, so a 3.0.1 GROUP target "g1" and a 3.1 target "g1" match."""
    if not isinstance(value, list):
        return value
    out: list[Any] = []
    for item in value:
        if isinstance(item, dict) and "values" in item:
            values = item.get("values")
            if isinstance(values, list):
                out.extend(str(v) for v in values)
                continue
        out.append(item)
    return out


Targets = Annotated[list[Target] | None, BeforeValidator(_normalise_targets)]


class IntervalPeriod(_Model):
    start: DateTime | None = None
    duration: Duration | None = None
    randomize_start: Duration | None = Field(default=None, alias="randomizeStart")

    @field_validator("start")
    @classmethod
    def _start(cls, value: str | None) -> str | None:
        return None if value is None else _check_datetime(value)

    @field_validator("duration", "randomize_start")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        return None if value is None else _check_duration(value)


class Point(_Model):
    x: StrictFloat | StrictInt
    y: StrictFloat | StrictInt


Value = StrictBool | StrictInt | StrictFloat | StrictStr | Point


class ValuesMap(_Model):
    type: Name
    values: list[Value]


class Interval(_Model):
    id: StrictInt = Field(ge=-(2**31), le=2**31 - 1)
    interval_period: IntervalPeriod | None = Field(default=None, alias="intervalPeriod")
    payloads: list[ValuesMap]


class EventPayloadDescriptor(_Model):
    object_type: Literal["EVENT_PAYLOAD_DESCRIPTOR"] = Field(
        default="EVENT_PAYLOAD_DESCRIPTOR", alias="objectType"
    )
    payload_type: Name = Field(alias="payloadType")
    units: Name | None = None
    currency: StrictStr | None = None


class ReportPayloadDescriptor(_Model):
    object_type: Literal["REPORT_PAYLOAD_DESCRIPTOR"] = Field(
        default="REPORT_PAYLOAD_DESCRIPTOR", alias="objectType"
    )
    payload_type: Name = Field(alias="payloadType")
    reading_type: Name | None = Field(default=None, alias="readingType")
    units: Name | None = None
    accuracy: StrictFloat | StrictInt | None = None
    confidence: StrictInt | None = Field(default=None, ge=0, le=100)


class ReportDescriptor(_Model):
    payload_type: Name = Field(alias="payloadType")
    reading_type: Name | None = Field(default=None, alias="readingType")
    units: Name | None = None
    targets: Targets = None
    aggregate: StrictBool | None = None
    start_interval: StrictInt | None = Field(default=None, alias="startInterval")
    num_intervals: StrictInt | None = Field(default=None, alias="numIntervals")
    historical: StrictBool | None = None
    frequency: StrictInt | None = None
    repeat: StrictInt | None = None
    report_intervals: Literal["INTERVALS", "SUB_INTERVALS", "OPEN_INTERVALS"] | None = Field(
        default=None, alias="reportIntervals"
    )


class ProgramDescription(_Model):
    url: Annotated[StrictStr, Field(min_length=2, max_length=8000)] = Field(alias="URL")


class ProgramRequest(_Model):
    program_name: Name = Field(alias="programName")
    interval_period: IntervalPeriod | None = Field(default=None, alias="intervalPeriod")
    program_descriptions: list[ProgramDescription] | None = Field(
        default=None, alias="programDescriptions"
    )
    payload_descriptors: list[EventPayloadDescriptor | ReportPayloadDescriptor] | None = Field(
        default=None, alias="payloadDescriptors"
    )
    attributes: list[ValuesMap] | None = None
    targets: Targets = None


class EventRequest(_Model):
    program_id: ObjectID = Field(alias="programID")
    event_name: StrictStr | None = Field(default=None, alias="eventName")
    duration: Duration | None = None
    priority: StrictInt | None = Field(default=None, ge=0)
    targets: Targets = None
    report_descriptors: list[ReportDescriptor] | None = Field(
        default=None, alias="reportDescriptors"
    )
    payload_descriptors: list[EventPayloadDescriptor] | None = Field(
        default=None, alias="payloadDescriptors"
    )
    interval_period: IntervalPeriod | None = Field(default=None, alias="intervalPeriod")
    intervals: list[Interval] = Field(default_factory=list)

    @field_validator("program_id")
    @classmethod
    def _id(cls, value: str) -> str:
        return _check_object_id(value)

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        return None if value is None else _check_duration(value)


class ReportResource(_Model):
    resource_name: Name = Field(alias="resourceName")
    interval_period: IntervalPeriod | None = Field(default=None, alias="intervalPeriod")
    intervals: list[Interval]


class ReportRequest(_Model):
    event_id: ObjectID = Field(alias="eventID")
    client_name: Name = Field(alias="clientName")
    report_name: StrictStr | None = Field(default=None, alias="reportName")
    payload_descriptors: list[ReportPayloadDescriptor] | None = Field(
        default=None, alias="payloadDescriptors"
    )
    resources: list[ReportResource]

    @field_validator("event_id")
    @classmethod
    def _id(cls, value: str) -> str:
        return _check_object_id(value)


class ObjectOperation(_Model):
    objects: list[Literal["PROGRAM", "EVENT", "REPORT", "SUBSCRIPTION", "VEN", "RESOURCE"]]
    operations: list[Literal["READ", "CREATE", "UPDATE", "DELETE"]]
    callback_url: Annotated[StrictStr, Field(min_length=2, max_length=8000)] = Field(
        alias="callbackUrl"
    )
    bearer_token: StrictStr | None = Field(default=None, alias="bearerToken")


class SubscriptionRequest(_Model):
    client_name: Name = Field(alias="clientName")
    program_id: ObjectID | None = Field(default=None, alias="programID")
    object_operations: list[ObjectOperation] = Field(alias="objectOperations")
    targets: Targets = None

    @field_validator("program_id")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        return None if value is None else _check_object_id(value)


class BlVenRequest(_Model):
    object_type: Literal["BL_VEN_REQUEST"] = Field(alias="objectType")
    client_id: Name = Field(alias="clientID")
    targets: Targets = None
    ven_name: Name = Field(alias="venName")
    attributes: list[ValuesMap] | None = None


class VenVenRequest(_Model):
    object_type: Literal["VEN_VEN_REQUEST"] = Field(alias="objectType")
    ven_name: Name = Field(alias="venName")
    attributes: list[ValuesMap] | None = None


class BlResourceRequest(_Model):
    object_type: Literal["BL_RESOURCE_REQUEST"] = Field(alias="objectType")
    client_id: Name = Field(alias="clientID")
    targets: Targets = None
    resource_name: Name = Field(alias="resourceName")
    ven_id: ObjectID = Field(alias="venID")
    attributes: list[ValuesMap] | None = None


class VenResourceRequest(_Model):
    object_type: Literal["VEN_RESOURCE_REQUEST"] = Field(alias="objectType")
    resource_name: Name = Field(alias="resourceName")
    ven_id: ObjectID = Field(alias="venID")
    attributes: list[ValuesMap] | None = None
