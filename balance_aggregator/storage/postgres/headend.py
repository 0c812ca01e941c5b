"""The head-end's statements on the VTN's PostgreSQL database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import asyncpg

from balance_aggregator.storage.headend import LeaseLost, SqlHeadendStore, Stmt


class PostgresRunner(Protocol):
    @property
    def pool(self) -> asyncpg.Pool: ...

    async def ensure_hours(
        self, conn: asyncpg.pool.PoolConnectionProxy, hours: Sequence[int]
    ) -> None:
        """Create the month partitions of these reading hours if missing."""


class _Runner:
    def __init__(self, storage: PostgresRunner) -> None:
        self._storage = storage

    async def query(self, sql: str, args: Sequence[object] = ()) -> list[tuple[object, ...]]:
        rows = await self._storage.pool.fetch(sql, *args)
        return [tuple(r) for r in rows]

    async def write(self, statements: Sequence[Stmt], hours: Sequence[int] = ()) -> None:
        async with self._storage.pool.acquire() as conn:
            if hours:
                await self._storage.ensure_hours(conn, hours)
            async with conn.transaction():
                for s in statements:
                    if len(s.rows) == 1:
                        status = await conn.execute(s.sql, *s.rows[0])
                        changed = int(status.rsplit(" ", 1)[1])
                    else:
                        await conn.executemany(s.sql, s.rows)
                        changed = len(s.rows)
                    if s.fence and changed < 1:
                        raise LeaseLost("the lease of this concentrator is held by another process")


def postgres_headend_store(storage: PostgresRunner) -> SqlHeadendStore:
    return SqlHeadendStore(_Runner(storage), sqlite=False)
