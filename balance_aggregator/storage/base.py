"""The one storage interface of the VTN; SQLite and PostgreSQL implement it alike.

OpenADR objects are kept as their JSON body plus the columns the API filters on, so a query never
parses JSON. Targets live in their own table, indexed by target, because "which VENs are in group
X" and "which events may VEN Y read" are the hot questions of a DR broadcast.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .grid import GridStore
from .headend import HeadendStore


class StorageError(Exception):
    """Base of the storage errors the API maps to HTTP statuses."""


class Conflict(StorageError):
    """A unique name or a referenced object would be violated (HTTP 409)."""


@dataclass(slots=True)
class StoredObject:
    """One OpenADR object: its full JSON body and the columns that are searched."""

    kind: str
    id: str
    created_at: float
    modified_at: float
    body: dict[str, Any]
    client_id: str | None = None
    unique_name: str | None = None
    program_id: str | None = None
    event_id: str | None = None
    ven_id: str | None = None
    client_name: str | None = None
    starts_at: float | None = None
    ends_at: float | None = None
    content_hash: str | None = None
    sub_objects: str | None = None
    targets: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ObjectQuery:
    """Filters are additive (the spec: results match every filter term)."""

    kind: str
    skip: int = 0
    limit: int = 50
    client_id: str | None = None
    program_id: str | None = None
    event_id: str | None = None
    ven_id: str | None = None
    client_name: str | None = None
    unique_name: str | None = None
    #: subscriptions to all of these object types
    sub_objects: Sequence[str] = ()
    #: resources named so (unique_name is "{venID}/{resourceName}")
    resource_name: str | None = None
    #: objects carrying at least one of these targets match
    targets: Sequence[str] | None = None
    #: with ``targets``: objects without any target match too (VEN reads of programs and events)
    untargeted_match: bool = False
    #: only objects whose [starts_at, ends_at) has not ended by this time (events ``active``)
    not_ended_at: float | None = None


@dataclass(frozen=True, slots=True)
class ReadingRow:
    """One hourly value of one meter, as carried by a VEN report."""

    ven_id: str
    resource_name: str
    kind: str
    unit: str
    hour: int  # epoch seconds of the hour's start, UTC
    value: float
    report_id: str


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    secret_hash: str
    role: str  # "bl" or "ven"
    created_at: float


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one VEN answered to one event, and how long the event took to reach it."""

    event_id: str
    ven_id: str
    client_id: str
    status: str  # "ACK" or "OPT_OUT"
    received_at: float
    latency_s: float | None
    channel: str | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: float
    actor: str
    action: str
    object_kind: str
    object_id: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class GroupConsumption:
    target: str
    kind: str
    unit: str
    hour: int
    meters: int
    total: float
    #: how many of the ``meters`` values are estimates (``report_id`` ``estimate:…``)
    estimated: int = 0


class Storage(abc.ABC):
    """Everything the VTN keeps. Every method is one transaction."""

    url: str

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema to the newest migration."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise if the database cannot answer (health endpoint)."""

    @abc.abstractmethod
    async def schema_version(self) -> int: ...

    # --- OpenADR objects -------------------------------------------------------------------
    @abc.abstractmethod
    async def insert_object(
        self,
        obj: StoredObject,
        readings: Sequence[ReadingRow] = (),
        deliveries: Sequence[Delivery] = (),
        audit: AuditEntry | None = None,
    ) -> StoredObject:
        """Insert atomically with the readings, deliveries and audit entry it carries. A report
        whose (clientID, content hash) is already stored is not inserted twice: the stored one is
        returned and nothing else is written. Raises Conflict on a duplicate unique name."""

    @abc.abstractmethod
    async def replace_object(
        self,
        obj: StoredObject,
        readings: Sequence[ReadingRow] = (),
        deliveries: Sequence[Delivery] = (),
        audit: AuditEntry | None = None,
    ) -> bool:
        """Replace body and columns of an existing object; False if it does not exist."""

    @abc.abstractmethod
    async def delete_object(
        self, kind: str, object_id: str, audit: AuditEntry | None = None
    ) -> StoredObject | None:
        """Delete and return the object (and, for a VEN, its resources)."""

    @abc.abstractmethod
    async def get_object(self, kind: str, object_id: str) -> StoredObject | None: ...

    @abc.abstractmethod
    async def list_objects(self, query: ObjectQuery) -> list[StoredObject]: ...

    @abc.abstractmethod
    async def granted_targets(self, client_id: str) -> tuple[list[str], set[str]]:
        """The VEN ids owned by a client and the targets BL granted to them or their resources."""

    @abc.abstractmethod
    async def vens_for_targets(self, targets: Sequence[str] | None) -> dict[str, set[str]]:
        """VEN ids whose ven or resource objects carry any of the targets, each with the targets
        it matched by; every VEN (with no targets) for None."""

    # --- clients (OAuth2 client credentials) ----------------------------------------------
    @abc.abstractmethod
    async def put_client(self, client: Client) -> None: ...

    @abc.abstractmethod
    async def get_client(self, client_id: str) -> Client | None: ...

    @abc.abstractmethod
    async def delete_client(self, client_id: str) -> bool: ...

    # --- settings shared by every replica -------------------------------------------------
    @abc.abstractmethod
    async def get_or_create_setting(self, key: str, value: str) -> str:
        """The stored value, or ``value`` after storing it if none was (first writer wins)."""

    # --- readings -------------------------------------------------------------------------
    @abc.abstractmethod
    async def ingest_readings(self, rows: Sequence[ReadingRow]) -> int:
        """Store a batch in one transaction; returns how many rows were new or changed."""

    @abc.abstractmethod
    async def count_readings(self) -> int: ...

    @abc.abstractmethod
    async def group_consumption(self, target: str, start: int, end: int) -> list[GroupConsumption]:
        """Hourly totals of the meters of a group (a VEN or resource target) in [start, end)."""

    # --- DR bookkeeping -------------------------------------------------------------------
    @abc.abstractmethod
    async def list_deliveries(self, event_id: str) -> list[Delivery]: ...

    @abc.abstractmethod
    async def list_audit(self, limit: int = 100) -> list[AuditEntry]: ...

    @abc.abstractmethod
    async def audit(self, entry: AuditEntry) -> None:
        """Append to the audit log an action that is not an object write (a VEE estimate)."""

    # --- the utility's grid (hierarchy, balances, operator users) ------------------------
    @abc.abstractmethod
    def grid(self) -> GridStore:
        """The grid tables of this same database (migration 2)."""

    @abc.abstractmethod
    def headend(self) -> HeadendStore:
        """The head-end's tables of this same database (migration 5)."""

    async def __aenter__(self) -> Storage:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
