"""Storage of the VTN: one interface, SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from .base import (
    AuditEntry,
    Client,
    Conflict,
    Delivery,
    GroupConsumption,
    ObjectQuery,
    ReadingRow,
    Storage,
    StorageError,
    StoredObject,
)


def open_storage(url: str) -> Storage:
    """A storage for ``sqlite:///path.db`` or ``postgresql://...`` (not yet opened)."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from .sqlite import SqliteStorage

        return SqliteStorage(url)
    if scheme in ("postgresql", "postgres"):
        from .postgres import PostgresStorage

        return PostgresStorage(url)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///path or postgresql://...")


__all__ = [
    "AuditEntry",
    "Client",
    "Conflict",
    "Delivery",
    "GroupConsumption",
    "ObjectQuery",
    "ReadingRow",
    "Storage",
    "StorageError",
    "StoredObject",
    "open_storage",
]
