"""The store's connection: opening the file (checked, migrated or created) and write transactions.

`StoreBase` is what every part of the store builds on: one aiosqlite connection, a lock that
serializes its use, and `transaction()`, which turns a failing disk into `StoreUnwritable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn, Self

import aiosqlite
import structlog

from relayer import metrics
from relayer.adapters.store.integrity import quick_check, unwritable_reason, wal_file_problem
from relayer.adapters.store.schema import migrate_or_create
from relayer.core.store_rules import remedy

log = structlog.get_logger(__name__)


class StoreError(Exception):
    """The store file is unusable; the message says why and what to do."""


class StoreUnwritable(Exception):
    """A write failed because the store's filesystem is full or failing (SQLITE_FULL, SQLITE_IOERR).

    Nothing of the transaction was kept. The node fails closed: it does not publish, send or
    advance anything it could not record, and resumes by itself once a write succeeds again.
    """


def open_error(path: Path, exc: BaseException) -> StoreError:
    """The StoreError for SQLite's refusal to open or read a store file, with the right advice."""
    reason = unwritable_reason(exc)
    if reason is not None:
        return StoreError(
            f"{path}: cannot write the store ({reason}: {exc}); free space on (or repair) its "
            "filesystem and start the node again"
        )
    code = int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreError(f"{path}: the store is locked by another process ({exc}); is this node running?")
    return StoreError(f"{path}: not a usable SQLite store ({exc}); {remedy(path)}")


def rows_in_states(
    table: str, states: Iterable[str] | None, order: str, limit: int, **equal: object
) -> tuple[str, list[Any]]:
    """The query (SQL, arguments) of `table`'s rows in one of `states` (any state if None) whose
    columns equal `equal` (a None value is no condition), in `order`, at most `limit`. `table`,
    `order` and the column names are this package's constants, never input."""
    sql = f"SELECT * FROM {table} WHERE 1=1"  # noqa: S608
    args: list[Any] = []
    if states is not None:
        wanted = [str(s) for s in states]
        sql += f" AND state IN ({','.join('?' for _ in wanted)})"
        args += wanted
    for column, value in equal.items():
        if value is not None:
            sql += f" AND {column}=?"
            args.append(value)
    return f"{sql} ORDER BY {order} LIMIT ?", [*args, limit]


def readonly_uri(path: Path) -> str:
    """The SQLite URI that opens the existing store file at `path` read-only."""
    if not path.exists():
        raise StoreError(f"{path}: no store file; has this node ever run with this configuration?")
    return path.resolve().as_uri() + "?mode=ro"


class StoreBase:
    """Async access to the node's SQLite file. Use as `async with Store.open(path) as store`."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self._path = path
        self._lock = asyncio.Lock()
        self.unwritable: str | None = None  # why the last write failed, None while writes succeed

    @property
    def writable(self) -> bool:
        return self.unwritable is None

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path) -> AsyncIterator[Self]:
        """Open (or create) the store; refuse, with `StoreError` naming the file and the remedy,
        a file that fails SQLite's integrity check, a damaged write-ahead log, or a file that is not
        this build's store."""
        path.parent.mkdir(parents=True, exist_ok=True)
        problem = wal_file_problem(path)
        if problem is not None:
            raise StoreError(f"{path}: {problem}; {remedy(path)}")
        try:
            db = await aiosqlite.connect(str(path), isolation_level=None)
        except Exception as exc:
            raise StoreError(
                f"{path}: cannot open the store ({exc}); check the path and permissions"
            ) from exc
        try:
            db.row_factory = aiosqlite.Row
            try:
                await db.execute("PRAGMA journal_mode=WAL")
                await db.execute("PRAGMA synchronous=FULL")
                await db.execute("PRAGMA foreign_keys=ON")
                problem = await quick_check(db)
                if problem is None:
                    problem = await migrate_or_create(db, path)
                if problem is not None:
                    raise StoreError(f"{path}: {problem}; {remedy(path)}")
            except aiosqlite.DatabaseError as exc:
                raise open_error(path, exc) from exc
            metrics.STORE_WRITABLE.set(1)
            yield cls(db, path)
        finally:
            await db.close()

    @classmethod
    @asynccontextmanager
    async def open_readonly(cls, path: Path) -> AsyncIterator[Self]:
        """Read an existing store without changing it (no check, no migration, no creation): what
        the operator CLI reads when the daemon does not answer, and what the admin socket and the
        health probes read beside the node's writer (WAL lets readers run beside it). Every write
        through it fails."""
        uri = readonly_uri(path)
        try:
            db = await aiosqlite.connect(uri, uri=True)
        except Exception as exc:
            raise StoreError(f"{path}: cannot open the store to read ({exc}); check its permissions") from exc
        try:
            db.row_factory = aiosqlite.Row
            yield cls(db, path)
        finally:
            await db.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction; everything inside commits together or not at all.

        A write the filesystem refuses (full, failing) rolls the transaction back, marks the store
        unwritable (logged once, `qiao_store_writable` 0, readiness false) and raises
        `StoreUnwritable`; the next transaction that commits marks it writable again.
        """
        async with self._lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    await self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            await self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                self._unwritable(exc)
            self._written()

    async def write_one(self, sql: str, args: Iterable[Any] = ()) -> int:
        """One write statement as a transaction of its own (the connection autocommits): the
        same guarantees as `transaction()` with one round trip to SQLite's thread instead of
        three. Returns the rows it changed."""
        async with self._lock:
            if self._db.in_transaction:
                # a transaction whose ROLLBACK failed is still open: a statement now would run
                # inside it, say it changed a row and mark the store writable, and commit nothing
                with contextlib.suppress(sqlite3.Error):
                    await self._db.execute("ROLLBACK")
            try:
                cursor = await self._db.execute(sql, tuple(args))
            except sqlite3.Error as exc:
                self._unwritable(exc)
            self._written()
            return int(cursor.rowcount)

    def _unwritable(self, exc: sqlite3.Error) -> NoReturn:
        reason = unwritable_reason(exc)
        if reason is None:
            raise exc
        self._note_unwritable(reason, exc)
        raise StoreUnwritable(f"{self._path}: {reason}: {exc}") from exc

    def _written(self) -> None:
        if self.unwritable is not None:
            log.warning("store_writable_again", path=str(self._path), was=self.unwritable)
            self.unwritable = None
            metrics.STORE_WRITABLE.set(1)

    def _note_unwritable(self, reason: str, exc: BaseException) -> None:
        metrics.STORE_WRITE_FAILURES.labels(reason).inc()
        if self.unwritable is None:
            log.error(
                "store_not_writable",
                path=str(self._path),
                reason=reason,
                error=str(exc),
                effect="not signing, sending or advancing until a write succeeds",
                remedy=f"free space on (or repair) the filesystem of {self._path.parent}; "
                "the node resumes by itself",
            )
            metrics.STORE_WRITABLE.set(0)
        self.unwritable = reason

    async def _fetchall(self, sql: str, args: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        async with self._lock:
            cursor = await self._db.execute(sql, tuple(args))
            return list(await cursor.fetchall())
