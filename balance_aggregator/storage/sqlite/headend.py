"""The head-end's statements on the VTN's SQLite database (the storage's single worker thread)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Protocol

from balance_aggregator.storage.headend import LeaseLost, SqlHeadendStore, Stmt


class SqliteRunner(Protocol):
    async def run[T](self, fn: Callable[[sqlite3.Connection], T]) -> T: ...

    async def run_tx[T](self, fn: Callable[[sqlite3.Connection], T]) -> T: ...


class _Runner:
    def __init__(self, storage: SqliteRunner) -> None:
        self._storage = storage

    async def query(self, sql: str, args: Sequence[object] = ()) -> list[tuple[object, ...]]:
        def work(db: sqlite3.Connection) -> list[tuple[object, ...]]:
            return [tuple(r) for r in db.execute(sql, tuple(args)).fetchall()]

        return await self._storage.run(work)

    async def write(self, statements: Sequence[Stmt], hours: Sequence[int] = ()) -> None:
        def work(db: sqlite3.Connection) -> None:
            for s in statements:
                if len(s.rows) == 1:
                    changed = db.execute(s.sql, tuple(s.rows[0])).rowcount
                else:
                    changed = db.executemany(s.sql, [tuple(r) for r in s.rows]).rowcount
                if s.fence and changed < 1:
                    raise LeaseLost("the lease of this concentrator is held by another process")

        await self._storage.run_tx(work)


def sqlite_headend_store(storage: SqliteRunner) -> SqlHeadendStore:
    return SqlHeadendStore(_Runner(storage), sqlite=True)
