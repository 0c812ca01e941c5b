"""SQLite: the embedded default. Its object store (``objects``) and grid store (``grid``)."""

from __future__ import annotations

from .grid import SqliteGridStore
from .objects import SqliteStorage

__all__ = ["SqliteGridStore", "SqliteStorage"]
