"""A VEN's reading of OpenADR events and its hourly usage reports, without Home Assistant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from balance_openadr.events import (
    applies_to,
    read_event,
    signal_at,
    target_strings,
    usage_event,
)
from balance_openadr.models import ReportRequest
from balance_openadr.usage import MeterHour, usage_batch, with_event

T0 = datetime(2026, 1, 15, 17, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def event(event_id: str, intervals: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "programID": "p",
        "intervalPeriod": {"start": iso(T0), "duration": "PT1H"},
        "intervals": intervals,
        **extra,
    }


def simple(level: int, position: int = 0) -> dict[str, Any]:
    return {"id": position, "payloads": [{"type": "SIMPLE", "values": [level]}]}


def test_sequential_intervals_follow_each_other() -> None:
    slots = read_event(event("e", [simple(1, 0), simple(2, 1), simple(0, 2)]), T0)
    assert [(s.start, s.end, s.level) for s in slots.slots] == [
        (T0, T0 + timedelta(hours=1), 1),
        (T0 + timedelta(hours=1), T0 + timedelta(hours=2), 2),
        (T0 + timedelta(hours=2), T0 + timedelta(hours=3), 0),
    ]
    assert slots.end == T0 + timedelta(hours=3)
    assert signal_at([slots], T0 + timedelta(minutes=90)).level == 2
    assert not signal_at([slots], T0 + timedelta(minutes=150)).dr_active
    assert not signal_at([slots], T0 + timedelta(hours=3)).active_events


def test_level_limit_and_price_combine_over_events() -> None:
    shed = read_event(event("a", [simple(1)]), T0)
    cap = read_event(
        event(
            "b",
            [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [4.5]}]}],
            intervalPeriod={"start": iso(T0), "duration": "PT30M"},
        ),
        T0,
    )
    price = read_event(
        event(
            "c",
            [{"id": 0, "payloads": [{"type": "PRICE", "values": [0.31]}]}],
            payloadDescriptors=[
                {
                    "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                    "payloadType": "PRICE",
                    "units": "KWH",
                    "currency": "EUR",
                }
            ],
            priority=0,
        ),
        T0,
    )
    cheap = read_event(
        event("d", [{"id": 0, "payloads": [{"type": "PRICE", "values": [0.1]}]}], priority=5),
        T0,
    )
    signal = signal_at([shed, cap, price, cheap], T0 + timedelta(minutes=10))
    assert signal.level == 1
    assert signal.limit_w == 4500.0
    assert signal.dr_until == T0 + timedelta(minutes=30)  # the limit ends first
    assert (signal.price, signal.currency, signal.price_units) == (0.31, "EUR", "KWH")
    assert signal.next_change == T0 + timedelta(minutes=30)
    assert set(signal.active_events) == {"a", "b", "c", "d"}


def test_capacity_limit_units_from_the_descriptor() -> None:
    watts = read_event(
        event(
            "w",
            [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [2500]}]}],
            payloadDescriptors=[{"payloadType": "IMPORT_CAPACITY_LIMIT", "units": "W"}],
        ),
        T0,
    )
    assert watts.slots[0].limit_w == 2500.0


def test_future_event_is_next_and_start_now_and_open_ended() -> None:
    later = read_event(
        event(
            "later",
            [simple(3)],
            intervalPeriod={"start": iso(T0 + timedelta(hours=2)), "duration": "PT1H"},
        ),
        T0,
    )
    now_open = read_event(
        event(
            "open",
            [simple(2)],
            intervalPeriod={"start": "0001-01-01T00:00:00Z", "duration": "P9999Y"},
        ),
        T0 + timedelta(minutes=5),
    )
    signal = signal_at([later, now_open], T0 + timedelta(minutes=6))
    assert signal.level == 2 and signal.dr_until is None  # open-ended: until the VTN ends it
    assert signal.next_start == T0 + timedelta(hours=2)
    assert now_open.slots[0].start == T0 + timedelta(minutes=5)
    assert now_open.end is None


def test_bad_intervals_are_skipped_and_named() -> None:
    slots = read_event(
        event(
            "bad",
            [
                simple(7),
                {"id": 1, "payloads": [{"type": "SIMPLE", "values": ["high"]}]},
                {"id": 2, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [-1]}]},
                simple(1, 3),
                "nonsense",
            ],
        ),
        T0,
    )
    assert len(slots.problems) == 4  # the bad ones keep their place in the sequence
    assert [(s.start, s.level) for s in slots.slots] == [(T0 + timedelta(hours=3), 1)]
    # without a start anywhere there is nothing to place the interval at
    assert read_event({"id": "x", "intervals": [simple(1)]}, T0).slots == ()


def test_targets_31_and_301() -> None:
    assert target_strings(["g1", "g2"]) == {"g1", "g2"}
    assert target_strings([{"type": "GROUP", "values": ["g1"]}]) == {"g1"}
    assert applies_to({"targets": ["g1"]}, {"g1", "house"})
    assert not applies_to({"targets": ["g2"]}, {"g1"})
    assert applies_to({"targets": None}, {"g1"})
    assert applies_to({"targets": ["g2"]}, set())  # the VTN filtered for us


def test_usage_event_is_the_one_asking_for_usage() -> None:
    events: list[dict[str, Any]] = [
        {"id": "dr", "reportDescriptors": None},
        {
            "id": "old",
            "createdDateTime": "2026-01-01T00:00:00Z",
            "reportDescriptors": [{"payloadType": "USAGE"}],
        },
        {
            "id": "new",
            "createdDateTime": "2026-01-02T00:00:00Z",
            "reportDescriptors": [{"payloadType": "USAGE_GAS"}],
        },
    ]
    assert usage_event(events, ["USAGE", "USAGE_GAS"]) == "new"
    assert usage_event(events[:1], ["USAGE"]) is None


def test_usage_batch_is_valid_stable_and_skips_garbage() -> None:
    hour = int(T0.timestamp())
    readings = [
        MeterHour("sensor.water", "water", hour + 3600, 0.015),
        MeterHour("sensor.kitchen", "electricity", hour, 0.4),
        MeterHour("sensor.kitchen", "electricity", hour + 3600, float("nan")),
        MeterHour("sensor.kitchen", "electricity", hour + 7, 1.0),
        MeterHour("sensor.kitchen", "steam", hour, 1.0),
    ]
    batch = usage_batch("house", readings)
    assert batch is not None
    assert batch == usage_batch("house", list(reversed(readings)))
    assert batch["reportName"] == "usage house 2026-01-15T17:00:00Z/2026-01-15T19:00:00Z"
    report = ReportRequest.model_validate(with_event(batch, "e1"))
    assert [r.resource_name for r in report.resources] == ["sensor.kitchen", "sensor.water"]
    assert [d.payload_type for d in report.payload_descriptors or ()] == ["USAGE", "USAGE_WATER"]
    assert usage_batch("house", readings[2:]) is None


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=30)
    | st.sampled_from(["PT1H", "P9999Y", "-PT1H", "2026-01-15T17:00:00Z", "0001-01-01"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=30,
)
interval_like = st.fixed_dictionaries(
    {"id": st.integers(0, 5)},
    optional={
        "intervalPeriod": st.fixed_dictionaries(
            {},
            optional={
                "start": st.sampled_from(["2026-01-15T17:00:00Z", "0001-01-01T00:00:00Z", "x"])
                | json_values,
                "duration": st.sampled_from(["PT1H", "P9999Y", "PT0S", "-PT5M", "1h"])
                | json_values,
            },
        ),
        "payloads": st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["SIMPLE", "IMPORT_CAPACITY_LIMIT", "PRICE", "OTHER"]),
                    "values": st.lists(json_values, max_size=2),
                }
            ),
            max_size=3,
        )
        | json_values,
    },
)


@given(
    st.fixed_dictionaries(
        {"id": st.text(max_size=5)},
        optional={
            "intervalPeriod": json_values
            | st.fixed_dictionaries(
                {"start": st.just("2026-01-15T17:00:00Z"), "duration": st.just("PT1H")}
            ),
            "intervals": st.lists(interval_like | json_values, max_size=4),
            "payloadDescriptors": json_values,
            "priority": json_values,
            "targets": json_values,
        },
    ),
    st.integers(-7200, 7200),
)
def test_any_event_reads_without_raising(raw: dict[str, Any], offset: int) -> None:
    """Whatever a VTN sends, the VEN reads what it can and names the rest; the signal is sane."""
    slots = read_event(raw, T0)
    signal = signal_at([slots], T0 + timedelta(seconds=offset))
    assert 0 <= signal.level <= 3
    assert signal.limit_w is None or signal.limit_w >= 0
    for slot in slots.slots:
        assert slot.end is None or slot.end >= slot.start
    applies_to(raw, {"g1"})
