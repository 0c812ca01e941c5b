"""Every message round-trips; anything else decodes to UnknownFrame, never an exception."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmesh_lib import messages as m
from dmesh_lib.framer import MAX_PAYLOAD, Frame, FrameReader
from dmesh_lib.units import MeterKind

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
i8 = st.integers(-128, 127)
channel = st.integers(0, 2)

channel_info = st.builds(
    m.ChannelInfo, st.sampled_from(m.ChannelKind), st.sampled_from(MeterKind), u16
)
module_info = st.builds(
    m.ModuleInfo,
    u32,
    st.sampled_from(m.ModuleType),
    u8,
    st.integers(0, 30),
    u32,
    st.booleans(),
    u16,
    st.builds(m.SensorSet, st.integers(0, 0x3FF)),
    st.tuples(channel_info, channel_info, channel_info),
)
topology_entry = st.builds(m.TopologyEntry, u32, u32, u8, i8, u8)

STRATEGIES: dict[type[m.Message], st.SearchStrategy[Any]] = {
    m.Ack: st.builds(m.Ack),
    m.Nak: st.builds(m.Nak),
    m.GetIdentity: st.builds(m.GetIdentity, u16),
    m.GetStatus: st.builds(m.GetStatus, u16),
    m.TimeSync: st.builds(m.TimeSync, u16, u32),
    m.GetInventory: st.builds(m.GetInventory, u16),
    m.GetTopology: st.builds(m.GetTopology, u16),
    m.ReadNow: st.builds(m.ReadNow, u16, u32),
    m.FetchBacklog: st.builds(m.FetchBacklog, u16, u32, st.integers(0, 7), u32, u32),
    m.SetRelay: st.builds(m.SetRelay, u16, u32, u8, st.booleans()),
    m.SetValve: st.builds(m.SetValve, u16, u32, st.booleans()),
    m.BroadcastGroup: st.builds(
        m.BroadcastGroup, u16, u16, st.sampled_from(m.GroupAction), st.integers(0, 3), u32
    ),
    m.SetGroup: st.builds(m.SetGroup, u16, u32, u16),
    m.Identity: st.builds(
        m.Identity, u16, u32, u8, u8, u8, u16, u16, st.sampled_from(m.PowerSource)
    ),
    m.Status: st.builds(m.Status, u16, u32, u32, u16, u16, u8),
    m.InventoryPage: st.builds(
        m.InventoryPage, u16, u8, u8, st.lists(module_info, max_size=8).map(tuple)
    ),
    m.TopologyPage: st.builds(
        m.TopologyPage, u16, u8, u8, st.lists(topology_entry, max_size=21).map(tuple)
    ),
    m.CommandAccepted: st.builds(m.CommandAccepted, u16, u32, u8),
    m.CommandResult: st.builds(
        m.CommandResult, u16, u32, st.sampled_from(m.CommandStatus), u8, u16
    ),
    m.RequestRejected: st.builds(m.RequestRejected, u16, st.sampled_from(m.RejectReason)),
    m.BacklogRecords: st.builds(
        m.BacklogRecords, u16, u32, channel, u32, st.lists(u32, max_size=48).map(tuple)
    ),
    m.BroadcastAck: st.builds(m.BroadcastAck, u16, u16, u32, st.sampled_from(m.BroadcastStatus)),
    m.TimeSyncResult: st.builds(m.TimeSyncResult, u16, u32, u32),
    m.ModuleAnnounce: st.builds(m.ModuleAnnounce, module_info, st.sampled_from(m.AnnounceReason)),
    m.ModuleLeave: st.builds(m.ModuleLeave, u32, st.sampled_from(m.LeaveReason)),
    m.MeterReading: st.builds(
        m.MeterReading,
        u32,
        u32,
        st.lists(st.tuples(channel, u32), max_size=3).map(tuple),
    ),
    m.ChannelStatus: st.builds(
        m.ChannelStatus, u32, channel, st.builds(m.ChannelFault, st.integers(0, 7)), u32
    ),
    m.SensorReport: st.builds(
        m.SensorReport,
        u32,
        u32,
        st.lists(
            st.tuples(st.sampled_from(m.SensorKind), st.integers(-32768, 32767)), max_size=10
        ).map(tuple),
    ),
    m.ModuleHealth: st.builds(m.ModuleHealth, u32, u16, u8, i8, u8, u32, u8, u32),
    m.RelayState: st.builds(
        m.RelayState, u32, u8, st.booleans(), st.sampled_from(m.RelayFault), u16
    ),
    m.ValveState: st.builds(
        m.ValveState, u32, st.sampled_from(m.ValvePosition), st.sampled_from(m.ValveFault), u16
    ),
}


def test_every_message_type_has_a_strategy() -> None:
    assert set(STRATEGIES) == set(m.MESSAGE_CLASSES.values())


@settings(max_examples=40)
@pytest.mark.parametrize("cls", list(STRATEGIES), ids=lambda c: c.__name__)
@given(data=st.data())
def test_round_trip_through_the_wire(cls: type[m.Message], data: st.DataObject) -> None:
    message = data.draw(STRATEGIES[cls])
    frame = message.to_frame(seq=5, src=0x4A100010, hops=3)
    assert len(frame.payload) <= MAX_PAYLOAD
    (received,) = FrameReader().feed(frame.encode())
    assert isinstance(received, Frame)
    assert m.decode_message(received) == message


@settings(max_examples=500)
@given(msg_type=u8, payload=st.binary(max_size=MAX_PAYLOAD))
def test_any_payload_decodes_without_raising(msg_type: int, payload: bytes) -> None:
    result = m.decode_message(Frame(msg_type=msg_type, payload=payload))
    assert isinstance(result, (m.Message, m.UnknownFrame))
    if msg_type not in m.MESSAGE_CLASSES:
        assert result == m.UnknownFrame(msg_type, payload, "unknown message type")


def test_truncated_reading_is_unknown_not_a_crash() -> None:
    payload = m.MeterReading(1, 2, ((0, 3), (1, 4))).encode_payload()[:-1]
    result = m.decode_message(Frame(msg_type=m.MsgType.METER_READING, payload=payload))
    assert isinstance(result, m.UnknownFrame)
    assert "malformed" in result.reason


def test_channel_out_of_range_is_malformed() -> None:
    payload = m.MeterReading(1, 2, ((0, 3),)).encode_payload()
    bad = payload[:9] + bytes([7]) + payload[10:]
    result = m.decode_message(Frame(msg_type=m.MsgType.METER_READING, payload=bad))
    assert isinstance(result, m.UnknownFrame)


def test_every_page_fits_a_frame() -> None:
    # The page sizes are chosen so that a full page stays within MAX_PAYLOAD.
    info = m.ModuleInfo(1, m.ModuleType.D100FC, 1, 1, 0, True, 0, m.SensorSet.NONE)
    assert len(m.InventoryPage(1, 0, 1, (info,) * 8).encode_payload()) <= MAX_PAYLOAD
    entry = m.TopologyEntry(1, 2, 3, -70, 200)
    assert len(m.TopologyPage(1, 0, 1, (entry,) * 21).encode_payload()) <= MAX_PAYLOAD
    assert len(m.BacklogRecords(1, 2, 0, 3, (7,) * 48).encode_payload()) <= MAX_PAYLOAD


def test_sensor_values_are_scaled_to_units() -> None:
    report = m.SensorReport(
        1,
        2,
        ((m.SensorKind.TEMPERATURE, -55), (m.SensorKind.HUMIDITY, 455), (m.SensorKind.FLOOD, 1)),
    )
    assert report.scaled() == {
        m.SensorKind.TEMPERATURE: pytest.approx(-5.5),
        m.SensorKind.HUMIDITY: pytest.approx(45.5),
        m.SensorKind.FLOOD: True,
    }


def test_value_out_of_range_is_refused_on_encode() -> None:
    with pytest.raises(ValueError, match="SetRelay"):
        m.SetRelay(70000, 1, 0, True).encode_payload()
