"""PostgreSQL: the utility deployment. Its object store (``objects``) and grid store (``grid``)."""

from __future__ import annotations

from .grid import PostgresGridStore
from .objects import PostgresStorage

__all__ = ["PostgresGridStore", "PostgresStorage"]
