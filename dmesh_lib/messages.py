"""DMesh messages: typed, frozen payloads and their byte layouts (docs/dmesh-protocol.md §4).

Every message is a frozen dataclass with ``MSG_TYPE``. Fixed-layout messages declare a
``struct`` format whose fields follow the dataclass fields in order; variable ones (readings,
sensor reports, pages, backlog) encode their repeated part explicitly. :func:`decode_message`
turns any frame into a message or an :class:`UnknownFrame` — never an exception — because a
firmware newer than this library must not take the connection down.

All integers are big-endian. The client and the simulator share this one codec.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import IntEnum, IntFlag
from typing import Any, ClassVar, Self

from .framer import Frame
from .units import MeterKind

# --------------------------------------------------------------------------- enumerations


class ModuleType(IntEnum):
    D100FC = 1
    """Battery radio module with three pulse inputs."""
    D100FC_E = 2
    """Mains-powered repeater variant; also counts pulses."""
    SENSOR = 3
    """Sensor module: flood, gas, door, temperature, humidity, phase and neutral voltage, arcing."""
    AD220 = 4
    """Contactor adapter that switches a load or a whole flat."""
    VALVE = 5
    """Motorised shut-off valve for gas or water."""


class ChannelKind(IntEnum):
    NONE = 0
    PULSE = 1
    RELAY = 2
    VALVE = 3


class ChannelFault(IntFlag):
    NONE = 0
    WIRE_BREAK = 0x01
    SHORT_CIRCUIT = 0x02
    MAGNET = 0x04
    """An external magnetic field on the pulse sensor: the classic way to stop a meter."""


class SensorKind(IntEnum):
    FLOOD = 1
    GAS = 2
    DOOR = 3
    TEMPERATURE = 4
    """Value in 0.1 °C."""
    HUMIDITY = 5
    """Value in 0.1 % relative humidity."""
    PHASE_L1 = 6
    PHASE_L2 = 7
    PHASE_L3 = 8
    NEUTRAL_FAULT = 9
    """Voltage on the neutral wire: a broken neutral, dangerous for appliances."""
    ARCING = 10
    """Arcing or a bad contact detected on the supply."""


SENSOR_SCALE: dict[SensorKind, float] = {SensorKind.TEMPERATURE: 0.1, SensorKind.HUMIDITY: 0.1}


class SensorSet(IntFlag):
    """Which sensors a module carries: bit (kind - 1)."""

    NONE = 0
    FLOOD = 1 << 0
    GAS = 1 << 1
    DOOR = 1 << 2
    TEMPERATURE = 1 << 3
    HUMIDITY = 1 << 4
    PHASE_L1 = 1 << 5
    PHASE_L2 = 1 << 6
    PHASE_L3 = 1 << 7
    NEUTRAL_FAULT = 1 << 8
    ARCING = 1 << 9

    def kinds(self) -> list[SensorKind]:
        return [k for k in SensorKind if self & (1 << (k - 1))]


class AnnounceReason(IntEnum):
    JOINED = 0
    REJOINED = 1
    """Back after a power-up or a period out of reach."""


class LeaveReason(IntEnum):
    LEFT = 0
    LOST = 1
    """Not heard from within its reporting period several times over."""
    REMOVED = 2


class CommandStatus(IntEnum):
    DELIVERED = 0
    UNREACHABLE = 1
    REFUSED = 2
    TIMED_OUT = 3
    BUSY = 4


class RejectReason(IntEnum):
    UNKNOWN_MODULE = 1
    BAD_ARGUMENT = 2
    BUSY = 3
    UNSUPPORTED = 4


class RelayFault(IntEnum):
    NONE = 0
    CONTACTOR_STUCK = 1
    OVERLOAD = 2
    NO_SUPPLY = 3


class ValvePosition(IntEnum):
    CLOSED = 0
    OPEN = 1
    OPENING = 2
    CLOSING = 3
    UNKNOWN = 4


class ValveFault(IntEnum):
    NONE = 0
    BLOCKED = 1
    LOW_BATTERY = 2


class GroupAction(IntEnum):
    RESTORE = 0
    SHED = 1


class BroadcastStatus(IntEnum):
    APPLIED = 0
    NOT_MEMBER = 1
    FAILED = 2


class PowerSource(IntEnum):
    MAINS = 0
    SOLAR = 1


# --------------------------------------------------------------------------- message types


class MsgType(IntEnum):
    ACK = 0x01
    NAK = 0x02
    GET_IDENTITY = 0x10
    GET_STATUS = 0x11
    TIME_SYNC = 0x12
    GET_INVENTORY = 0x13
    GET_TOPOLOGY = 0x14
    READ_NOW = 0x15
    FETCH_BACKLOG = 0x16
    SET_RELAY = 0x17
    SET_VALVE = 0x18
    BROADCAST_GROUP = 0x19
    SET_GROUP = 0x1A
    IDENTITY = 0x30
    STATUS = 0x31
    INVENTORY_PAGE = 0x32
    TOPOLOGY_PAGE = 0x33
    COMMAND_ACCEPTED = 0x34
    COMMAND_RESULT = 0x35
    REQUEST_REJECTED = 0x36
    BACKLOG_RECORDS = 0x37
    BROADCAST_ACK = 0x38
    TIME_SYNC_RESULT = 0x39
    MODULE_ANNOUNCE = 0x40
    MODULE_LEAVE = 0x41
    METER_READING = 0x42
    CHANNEL_STATUS = 0x43
    SENSOR_REPORT = 0x44
    MODULE_HEALTH = 0x45
    RELAY_STATE = 0x46
    VALVE_STATE = 0x47


class MalformedPayload(ValueError):
    """A payload whose length or values do not fit its message type."""


# --------------------------------------------------------------------------- base classes


@dataclass(frozen=True, slots=True)
class Message:
    MSG_TYPE: ClassVar[MsgType]

    def encode_payload(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def decode_payload(cls, payload: bytes) -> Self:
        raise NotImplementedError

    def to_frame(
        self, *, seq: int = 0, src: int = 0, dst: int = 0, hops: int = 0, flags: int = 0
    ) -> Frame:
        from .framer import FrameFlag

        return Frame(
            msg_type=int(self.MSG_TYPE),
            seq=seq,
            src=src,
            dst=dst,
            hops=hops,
            flags=FrameFlag(flags),
            payload=self.encode_payload(),
        )


@dataclass(frozen=True, slots=True)
class FixedMessage(Message):
    """A message whose payload is exactly ``_STRUCT``; fields map to the dataclass fields in order.

    Enum-typed fields are listed in ``_ENUMS`` and validated on decode: an unknown enum value is a
    malformed payload, not a crash.
    """

    _STRUCT: ClassVar[struct.Struct]
    _ENUMS: ClassVar[dict[str, Callable[[int], Any]]] = {}

    def encode_payload(self) -> bytes:
        try:
            return self._STRUCT.pack(*(int(getattr(self, f.name)) for f in fields(self)))
        except struct.error as err:
            raise ValueError(f"{type(self).__name__}: {err}") from err

    @classmethod
    def decode_payload(cls, payload: bytes) -> Self:
        if len(payload) != cls._STRUCT.size:
            raise MalformedPayload(
                f"{cls.__name__} takes {cls._STRUCT.size} bytes, got {len(payload)}"
            )
        values = list(cls._STRUCT.unpack(payload))
        for i, f in enumerate(fields(cls)):
            if f.name in cls._ENUMS:
                values[i] = cls._ENUMS[f.name](values[i])
        return cls(*values)


class Request:
    """Marker for messages the host sends; every request starts with a 16-bit request id."""

    __slots__ = ()
    request_id: int


class Response:
    """Marker for concentrator messages that answer a request id."""

    __slots__ = ()
    request_id: int


# --------------------------------------------------------------------------- link control


@dataclass(frozen=True, slots=True)
class Ack(Message):
    """Link acknowledgement; the acknowledged sequence number travels in the frame header."""

    MSG_TYPE = MsgType.ACK

    def encode_payload(self) -> bytes:
        return b""

    @classmethod
    def decode_payload(cls, payload: bytes) -> Self:
        return cls()


@dataclass(frozen=True, slots=True)
class Nak(Message):
    """A frame arrived corrupted: the peer retransmits every unacknowledged frame at once."""

    MSG_TYPE = MsgType.NAK

    def encode_payload(self) -> bytes:
        return b""

    @classmethod
    def decode_payload(cls, payload: bytes) -> Self:
        return cls()


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class GetIdentity(FixedMessage, Request):
    MSG_TYPE = MsgType.GET_IDENTITY
    _STRUCT = struct.Struct(">H")
    request_id: int


@dataclass(frozen=True, slots=True)
class GetStatus(FixedMessage, Request):
    MSG_TYPE = MsgType.GET_STATUS
    _STRUCT = struct.Struct(">H")
    request_id: int


@dataclass(frozen=True, slots=True)
class TimeSync(FixedMessage, Request):
    """Sets the concentrator's clock (unix seconds, UTC); it passes the time on to its modules."""

    MSG_TYPE = MsgType.TIME_SYNC
    _STRUCT = struct.Struct(">HI")
    request_id: int
    unix_time: int


@dataclass(frozen=True, slots=True)
class GetInventory(FixedMessage, Request):
    MSG_TYPE = MsgType.GET_INVENTORY
    _STRUCT = struct.Struct(">H")
    request_id: int


@dataclass(frozen=True, slots=True)
class GetTopology(FixedMessage, Request):
    MSG_TYPE = MsgType.GET_TOPOLOGY
    _STRUCT = struct.Struct(">H")
    request_id: int


@dataclass(frozen=True, slots=True)
class ReadNow(FixedMessage, Request):
    """Ask a module, through the mesh, for a fresh MeterReading (and its sensors)."""

    MSG_TYPE = MsgType.READ_NOW
    _STRUCT = struct.Struct(">HI")
    request_id: int
    module: int


@dataclass(frozen=True, slots=True)
class FetchBacklog(FixedMessage, Request):
    """Hourly counters of the channels in ``channel_mask`` for hours first_hour..last_hour.

    Hours are unix hour indices (unix seconds // 3600), both ends included.
    """

    MSG_TYPE = MsgType.FETCH_BACKLOG
    _STRUCT = struct.Struct(">HIBII")
    request_id: int
    module: int
    channel_mask: int
    first_hour: int
    last_hour: int


@dataclass(frozen=True, slots=True)
class SetRelay(FixedMessage, Request):
    MSG_TYPE = MsgType.SET_RELAY
    _STRUCT = struct.Struct(">HIBB")
    request_id: int
    module: int
    output: int
    on: bool

    _ENUMS = {"on": bool}


@dataclass(frozen=True, slots=True)
class SetValve(FixedMessage, Request):
    MSG_TYPE = MsgType.SET_VALVE
    _STRUCT = struct.Struct(">HIB")
    request_id: int
    module: int
    open: bool

    _ENUMS = {"open": bool}


@dataclass(frozen=True, slots=True)
class BroadcastGroup(FixedMessage, Request):
    """A demand-response command for every module in a group: shed (at a level) or restore."""

    MSG_TYPE = MsgType.BROADCAST_GROUP
    _STRUCT = struct.Struct(">HHBBI")
    request_id: int
    group: int
    action: GroupAction
    level: int
    duration_s: int

    _ENUMS = {"action": GroupAction}


@dataclass(frozen=True, slots=True)
class SetGroup(FixedMessage, Request):
    MSG_TYPE = MsgType.SET_GROUP
    _STRUCT = struct.Struct(">HIH")
    request_id: int
    module: int
    group: int


# --------------------------------------------------------------------------- shared records


_CHANNEL = struct.Struct(">BBH")
_MODULE_INFO = struct.Struct(">IBBBIBHH")
CHANNELS_PER_MODULE = 3


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """What the installer told the module about one of its three inputs/outputs."""

    kind: ChannelKind = ChannelKind.NONE
    meter_kind: MeterKind = MeterKind.UNKNOWN
    pulses_per_unit: int = 0
    """Meter constant hint (e.g. 1000 imp/kWh); 0 when the installer left it unset."""


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    serial: int
    module_type: ModuleType
    firmware: int
    hop: int
    parent: int
    """Serial of the next module towards the concentrator; 0 when it hears the concentrator."""
    online: bool
    group: int
    sensors: SensorSet
    channels: tuple[ChannelInfo, ChannelInfo, ChannelInfo] = (
        ChannelInfo(),
        ChannelInfo(),
        ChannelInfo(),
    )

    SIZE: ClassVar[int] = _MODULE_INFO.size + CHANNELS_PER_MODULE * _CHANNEL.size  # 28

    def encode(self) -> bytes:
        out = _MODULE_INFO.pack(
            self.serial,
            self.module_type,
            self.firmware,
            self.hop,
            self.parent,
            int(self.online),
            self.group,
            int(self.sensors),
        )
        for ch in self.channels:
            out += _CHANNEL.pack(ch.kind, ch.meter_kind, ch.pulses_per_unit)
        return out

    @classmethod
    def decode(cls, data: bytes) -> ModuleInfo:
        serial, mtype, fw, hop, parent, online, group, sensors = _MODULE_INFO.unpack_from(data)
        channels = []
        for i in range(CHANNELS_PER_MODULE):
            kind, meter_kind, ppu = _CHANNEL.unpack_from(data, _MODULE_INFO.size + i * 4)
            channels.append(ChannelInfo(ChannelKind(kind), MeterKind(meter_kind), ppu))
        return cls(
            serial,
            ModuleType(mtype),
            fw,
            hop,
            parent,
            bool(online),
            group,
            SensorSet(sensors),
            (channels[0], channels[1], channels[2]),
        )


@dataclass(frozen=True, slots=True)
class TopologyEntry:
    serial: int
    parent: int
    hop: int
    rssi: int
    """dBm of the link to the parent."""
    lqi: int
    """Link quality 0–255."""

    STRUCT: ClassVar[struct.Struct] = struct.Struct(">IIBbB")


# --------------------------------------------------------------------------- responses


_PAGE_HEAD = struct.Struct(">HBBB")


@dataclass(frozen=True, slots=True)
class Identity(FixedMessage, Response):
    MSG_TYPE = MsgType.IDENTITY
    _STRUCT = struct.Struct(">HIBBBHHB")
    request_id: int
    serial: int
    fw_major: int
    fw_minor: int
    fw_patch: int
    subnet_id: int
    max_modules: int
    power_source: PowerSource

    _ENUMS = {"power_source": PowerSource}

    @property
    def firmware(self) -> str:
        return f"{self.fw_major}.{self.fw_minor}.{self.fw_patch}"


@dataclass(frozen=True, slots=True)
class Status(FixedMessage, Response):
    MSG_TYPE = MsgType.STATUS
    _STRUCT = struct.Struct(">HIIHHB")
    request_id: int
    unix_time: int
    uptime_s: int
    modules: int
    online: int
    queued_commands: int


@dataclass(frozen=True, slots=True)
class InventoryPage(Message, Response):
    MSG_TYPE = MsgType.INVENTORY_PAGE
    PER_PAGE: ClassVar[int] = 8
    request_id: int
    page: int
    pages: int
    modules: tuple[ModuleInfo, ...] = ()

    def encode_payload(self) -> bytes:
        head = _PAGE_HEAD.pack(self.request_id, self.page, self.pages, len(self.modules))
        return head + b"".join(m.encode() for m in self.modules)

    @classmethod
    def decode_payload(cls, payload: bytes) -> Self:
        req, page, pages, count = _unpack_head(_PAGE_HEAD, payload)
        _expect_len(cls, payload, _PAGE_HEAD.size + count * ModuleInfo.SIZE)
        base = _PAGE_HEAD.size
        mods = tuple(
            ModuleInfo.decode(
                payload[base + i * ModuleInfo.SIZE : base + (i + 1) * ModuleInfo.SIZE]
            )
            for i in range(count)
        )
        return cls(req, page, pages, mods)


@dataclass(frozen=True, slots=True)
class TopologyPage(Message, Response):
    MSG_TYPE = MsgType.TOPOLOGY_PAGE
    PER_PAGE: ClassVar[int] = 21
    request_id: int
    page: int
    pages: int
    entries: tuple[TopologyEntry, ...] = ()

    def encode_payload(self) -> bytes:
        head = _PAGE_HEAD.pack(self.request_id, self.page, self.pages, len(self.entries))
        st = TopologyEntry.STRUCT
        return head + b"".join(
            st.pack(e.serial, e.parent, e.hop, e.rssi, e.lqi) for e in self.entries
        )

    @classmethod
    def decode_payload(cls, payload: bytes) -> Self:
        req, page, pages, count = _unpack_head(_PAGE_HEAD, payload)
        st = TopologyEntry.STRUCT
        _expect_len(cls, payload, _PAGE_HEAD.size + count * st.size)
        entries = tuple(
            TopologyEntry(*st.unpack_from(payload, _PAGE_HEAD.size + i * st.size))
            for i in range(count)
        )
        return cls(req, page, pages, entries)


@dataclass(frozen=True, slots=True)
class CommandAccepted(FixedMessage, Response):
    """The concentrator took a command for a module and is relaying it through the mesh."""

    MSG_TYPE = MsgType.COMMAND_ACCEPTED
    _STRUCT = struct.Struct(">HIB")
    request_id: int
    module: int
    hops: int
    """How many radio hops the command has to travel: the client scales its timeout by it."""


@dataclass(frozen=True, slots=True)
class CommandResult(FixedMessage, Response):
    """End of a relayed command: delivered, or why not."""

    MSG_TYPE = MsgType.COMMAND_RESULT
    _STRUCT = struct.Struct(">HIBBH")
    request_id: int
    module: int
    status: CommandStatus
    hops: int
    detail: int
    """Per command: records sent for a backlog, modules reached for a broadcast."""

    _ENUMS = {"status": CommandStatus}


@dataclass(frozen=True, slots=True)
class RequestRejected(FixedMessage, Response):
    MSG_TYPE = MsgType.REQUEST_REJECTED
    _STRUCT = struct.Struct(">HB")
    request_id: int
    reason: RejectReason

    _ENUMS = {"reason": RejectReason}


_BACKLOG_HEAD = struct.Struct(">HIBIB")


@dataclass(frozen=True, slots=True)
class BacklogRecords(Message, Response):
    """Counters at consecutive whole hours, starting at ``first_hour`` (a gap starts a new page)."""

    MSG_TYPE = MsgType.BACKLOG_RECORDS
    PER_PAGE: ClassVar[int] = 48
    request_id: int
    module: int
    channel: int
    first_hour: int
    counters: tuple[int, ...] = ()

    def encode_payload(self) -> bytes:
        if len(self.counters) > self.PER_PAGE:
            raise ValueError(f"at most {self.PER_PAGE} counters per page")
        head = _BACKLOG_HEAD.pack(
            self.request_id, self.module, self.channel, self.first_hour, len(self.counters)
        )
        return head + struct.pack(f">{len(self.counters)}I", *self.counters)

    @classmethod
    def decode_payload(cls, payload: bytes) -> Self:
        req, module, channel, first_hour, count = _unpack_head(_BACKLOG_HEAD, payload)
        _expect_len(cls, payload, _BACKLOG_HEAD.size + 4 * count)
        if count > cls.PER_PAGE:
            raise MalformedPayload(f"{count} counters in one page")
        counters = struct.unpack_from(f">{count}I", payload, _BACKLOG_HEAD.size)
        return cls(req, module, channel, first_hour, tuple(counters))


@dataclass(frozen=True, slots=True)
class BroadcastAck(FixedMessage, Response):
    """One module's acknowledgement of a group broadcast."""

    MSG_TYPE = MsgType.BROADCAST_ACK
    _STRUCT = struct.Struct(">HHIB")
    request_id: int
    group: int
    module: int
    status: BroadcastStatus

    _ENUMS = {"status": BroadcastStatus}


@dataclass(frozen=True, slots=True)
class TimeSyncResult(FixedMessage, Response):
    MSG_TYPE = MsgType.TIME_SYNC_RESULT
    _STRUCT = struct.Struct(">HII")
    request_id: int
    previous_time: int
    new_time: int


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class ModuleAnnounce(Message):
    MSG_TYPE = MsgType.MODULE_ANNOUNCE
    module: ModuleInfo
    reason: AnnounceReason = AnnounceReason.JOINED

    def encode_payload(self) -> bytes:
        return self.module.encode() + bytes([self.reason])

    @classmethod
    def decode_payload(cls, payload: bytes) -> Self:
        _expect_len(cls, payload, ModuleInfo.SIZE + 1)
        return cls(ModuleInfo.decode(payload[:-1]), AnnounceReason(payload[-1]))


@dataclass(frozen=True, slots=True)
class ModuleLeave(FixedMessage):
    MSG_TYPE = MsgType.MODULE_LEAVE
    _STRUCT = struct.Struct(">IB")
    module: int
    reason: LeaveReason

    _ENUMS = {"reason": LeaveReason}


_READING_HEAD = struct.Struct(">IIB")
_READING_ITEM = struct.Struct(">BI")


@dataclass(frozen=True, slots=True)
class MeterReading(Message):
    """Pulse counters of a module's channels at ``timestamp`` (unix seconds)."""

    MSG_TYPE = MsgType.METER_READING
    module: int
    timestamp: int
    counters: tuple[tuple[int, int], ...] = field(default=())
    """(channel 0–2, monotonic 32-bit counter that wraps)."""

    def encode_payload(self) -> bytes:
        out = _READING_HEAD.pack(self.module, self.timestamp, len(self.counters))
        for channel, counter in self.counters:
            out += _READING_ITEM.pack(channel, counter)
        return out

    @classmethod
    def decode_payload(cls, payload: bytes) -> Self:
        module, ts, count = _unpack_head(_READING_HEAD, payload)
        _expect_len(cls, payload, _READING_HEAD.size + count * _READING_ITEM.size)
        items = tuple(
            _READING_ITEM.unpack_from(payload, _READING_HEAD.size + i * _READING_ITEM.size)
            for i in range(count)
        )
        if any(ch >= CHANNELS_PER_MODULE for ch, _ in items):
            raise MalformedPayload("channel out of range")
        return cls(module, ts, items)


@dataclass(frozen=True, slots=True)
class ChannelStatus(FixedMessage):
    """Validity of a pulse input; sent on every change, and ``NONE`` when a fault clears."""

    MSG_TYPE = MsgType.CHANNEL_STATUS
    _STRUCT = struct.Struct(">IBBI")
    module: int
    channel: int
    faults: ChannelFault
    timestamp: int

    _ENUMS = {"faults": ChannelFault}


_SENSOR_ITEM = struct.Struct(">Bh")


@dataclass(frozen=True, slots=True)
class SensorReport(Message):
    MSG_TYPE = MsgType.SENSOR_REPORT
    module: int
    timestamp: int
    values: tuple[tuple[SensorKind, int], ...] = ()
    """Raw values: 0/1 for alarms and phase presence, 0.1 units for temperature and humidity."""

    def encode_payload(self) -> bytes:
        out = _READING_HEAD.pack(self.module, self.timestamp, len(self.values))
        for kind, value in self.values:
            out += _SENSOR_ITEM.pack(kind, value)
        return out

    @classmethod
    def decode_payload(cls, payload: bytes) -> Self:
        module, ts, count = _unpack_head(_READING_HEAD, payload)
        _expect_len(cls, payload, _READING_HEAD.size + count * _SENSOR_ITEM.size)
        items = []
        for i in range(count):
            kind, value = _SENSOR_ITEM.unpack_from(payload, _READING_HEAD.size + i * 3)
            items.append((SensorKind(kind), value))
        return cls(module, ts, tuple(items))

    def scaled(self) -> dict[SensorKind, float | bool]:
        """Values in engineering units (°C, %) and booleans for alarm states."""
        out: dict[SensorKind, float | bool] = {}
        for kind, value in self.values:
            scale = SENSOR_SCALE.get(kind)
            out[kind] = value * scale if scale is not None else bool(value)
        return out


@dataclass(frozen=True, slots=True)
class ModuleHealth(FixedMessage):
    MSG_TYPE = MsgType.MODULE_HEALTH
    _STRUCT = struct.Struct(">IHBbBIBI")
    module: int
    battery_mv: int
    battery_pct: int
    rssi: int
    lqi: int
    parent: int
    hop: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class RelayState(FixedMessage):
    """AD220 output state; ``request_id`` names the command that caused it (0: spontaneous)."""

    MSG_TYPE = MsgType.RELAY_STATE
    _STRUCT = struct.Struct(">IBBBH")
    module: int
    output: int
    on: bool
    fault: RelayFault
    request_id: int = 0

    _ENUMS = {"on": bool, "fault": RelayFault}


@dataclass(frozen=True, slots=True)
class ValveState(FixedMessage):
    MSG_TYPE = MsgType.VALVE_STATE
    _STRUCT = struct.Struct(">IBBH")
    module: int
    position: ValvePosition
    fault: ValveFault
    request_id: int = 0

    _ENUMS = {"position": ValvePosition, "fault": ValveFault}


# --------------------------------------------------------------------------- unknown & registry


@dataclass(frozen=True, slots=True)
class UnknownFrame:
    """A frame with a valid CRC that this library cannot interpret (newer firmware, bad payload)."""

    msg_type: int
    payload: bytes
    reason: str


def _unpack_head(st: struct.Struct, payload: bytes) -> tuple[Any, ...]:
    if len(payload) < st.size:
        raise MalformedPayload(f"payload of {len(payload)} bytes is shorter than its header")
    return st.unpack_from(payload)


def _expect_len(cls: type, payload: bytes, size: int) -> None:
    if len(payload) != size:
        raise MalformedPayload(f"{cls.__name__} takes {size} bytes, got {len(payload)}")


MESSAGE_CLASSES: dict[int, type[Message]] = {
    int(cls.MSG_TYPE): cls
    for cls in (
        Ack,
        Nak,
        GetIdentity,
        GetStatus,
        TimeSync,
        GetInventory,
        GetTopology,
        ReadNow,
        FetchBacklog,
        SetRelay,
        SetValve,
        BroadcastGroup,
        SetGroup,
        Identity,
        Status,
        InventoryPage,
        TopologyPage,
        CommandAccepted,
        CommandResult,
        RequestRejected,
        BacklogRecords,
        BroadcastAck,
        TimeSyncResult,
        ModuleAnnounce,
        ModuleLeave,
        MeterReading,
        ChannelStatus,
        SensorReport,
        ModuleHealth,
        RelayState,
        ValveState,
    )
}

EVENT_TYPES: tuple[type[Message], ...] = (
    ModuleAnnounce,
    ModuleLeave,
    MeterReading,
    ChannelStatus,
    SensorReport,
    ModuleHealth,
    RelayState,
    ValveState,
)


def decode_message(frame: Frame) -> Message | UnknownFrame:
    """The typed message a frame carries, or :class:`UnknownFrame`; never raises."""
    cls = MESSAGE_CLASSES.get(frame.msg_type)
    if cls is None:
        return UnknownFrame(frame.msg_type, frame.payload, "unknown message type")
    try:
        return cls.decode_payload(frame.payload)
    except (MalformedPayload, ValueError, struct.error) as err:
        return UnknownFrame(frame.msg_type, frame.payload, f"malformed: {err}")
