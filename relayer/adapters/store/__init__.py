"""The node's durable state: one SQLite file (WAL), every state change one transaction.

The store is the only memory a node has across restarts. It holds the watcher cursors, the final
transfers, the batches cut from them, what this member signed (the signed-once guard), the
partials received, and every transfer's state with timestamps.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import struct
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import structlog

from relayer import metrics
from relayer.core.batching import Located
from relayer.core.refunds import failure_words
from relayer.core.states import (
    BatchHead,
    BatchState,
    Equivocation,
    ObservedFailure,
    RefundState,
    StoredBatch,
    StoredRefund,
    TransferRow,
    TransferState,
    TxRecord,
    transfer_may_move,
)
from relayer.core.types import Batch, BatchId, ChainId, Nonce, Route, Transfer

SCHEMA_VERSION = 3

# version 2: failed transfers seen on their destination and their refunds (docs/PROTOCOL.md)
REFUND_SCHEMA = """
CREATE TABLE IF NOT EXISTS refunds (
    src_chain_id INTEGER NOT NULL,
    dst_chain_id INTEGER NOT NULL,
    nonce INTEGER NOT NULL,
    reason INTEGER NOT NULL,
    block_number INTEGER NOT NULL,
    block_hash TEXT NOT NULL,
    tx_hash TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    state TEXT NOT NULL,
    key_epoch INTEGER,
    message BLOB,
    partial BLOB,
    signature BLOB,
    refund_tx TEXT,
    refund_tx_nonce INTEGER,
    max_fee TEXT,
    priority_fee TEXT,
    sent_at REAL,
    detail TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (src_chain_id, dst_chain_id, nonce)
);
CREATE INDEX IF NOT EXISTS refunds_state ON refunds (state);
CREATE TABLE IF NOT EXISTS refund_partials (
    src_chain_id INTEGER NOT NULL,
    dst_chain_id INTEGER NOT NULL,
    nonce INTEGER NOT NULL,
    member INTEGER NOT NULL,
    message BLOB NOT NULL,
    partial BLOB NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (src_chain_id, dst_chain_id, nonce, member)
);
"""
REFUND_TABLES = ("refunds", "refund_partials")
# version 3: routes an operator paused on this node (`relayer pause`), kept across restarts
PAUSE_SCHEMA = """
CREATE TABLE IF NOT EXISTS pauses (
    src_chain_id INTEGER NOT NULL,
    dst_chain_id INTEGER NOT NULL,
    paused_at REAL NOT NULL,
    PRIMARY KEY (src_chain_id, dst_chain_id)
);
"""
PAUSE_TABLES = ("pauses",)
# what a store of an older version needs to become this one: version -> SQL (run in one
# transaction with the version bump); any other version is refused
MIGRATIONS = {1: REFUND_SCHEMA + PAUSE_SCHEMA, 2: PAUSE_SCHEMA}
# the tables each older version lacks
ADDED_SINCE = {1: REFUND_TABLES + PAUSE_TABLES, 2: PAUSE_TABLES}

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (
    chain_id INTEGER PRIMARY KEY,
    next_block INTEGER NOT NULL,
    last_hash TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS transfers (
    src_chain_id INTEGER NOT NULL,
    dst_chain_id INTEGER NOT NULL,
    nonce INTEGER NOT NULL,
    src_token TEXT NOT NULL,
    dst_token TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    amount TEXT NOT NULL,
    block_number INTEGER NOT NULL,
    block_hash TEXT NOT NULL,
    tx_hash TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    state TEXT NOT NULL,
    batch_first INTEGER,
    detail TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (src_chain_id, dst_chain_id, nonce)
);
CREATE INDEX IF NOT EXISTS transfers_state ON transfers (state);
CREATE TABLE IF NOT EXISTS transfer_history (
    src_chain_id INTEGER NOT NULL,
    dst_chain_id INTEGER NOT NULL,
    nonce INTEGER NOT NULL,
    state TEXT NOT NULL,
    detail TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS transfer_history_key
    ON transfer_history (src_chain_id, dst_chain_id, nonce);
CREATE TABLE IF NOT EXISTS routes (
    src_chain_id INTEGER NOT NULL,
    dst_chain_id INTEGER NOT NULL,
    batched_through_block INTEGER NOT NULL,
    next_nonce INTEGER NOT NULL,
    PRIMARY KEY (src_chain_id, dst_chain_id)
);
CREATE TABLE IF NOT EXISTS batches (
    src_chain_id INTEGER NOT NULL,
    dst_chain_id INTEGER NOT NULL,
    first_nonce INTEGER NOT NULL,
    last_nonce INTEGER NOT NULL,
    key_epoch INTEGER NOT NULL,
    dst_contract TEXT NOT NULL,
    root BLOB NOT NULL,
    message BLOB NOT NULL,
    state TEXT NOT NULL,
    signature BLOB,
    tx_hash TEXT,
    detail TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (src_chain_id, dst_chain_id, first_nonce)
);
CREATE INDEX IF NOT EXISTS batches_state ON batches (state);
CREATE TABLE IF NOT EXISTS signed (
    src_chain_id INTEGER NOT NULL,
    dst_chain_id INTEGER NOT NULL,
    first_nonce INTEGER NOT NULL,
    last_nonce INTEGER NOT NULL,
    key_epoch INTEGER NOT NULL,
    root BLOB NOT NULL,
    message BLOB NOT NULL,
    partial BLOB NOT NULL,
    signed_at REAL NOT NULL,
    PRIMARY KEY (src_chain_id, dst_chain_id, first_nonce)
);
CREATE TABLE IF NOT EXISTS txs (
    tx_hash TEXT PRIMARY KEY,
    chain_id INTEGER NOT NULL,
    account TEXT NOT NULL,
    nonce INTEGER NOT NULL,
    src_chain_id INTEGER NOT NULL,
    dst_chain_id INTEGER NOT NULL,
    first_nonce INTEGER NOT NULL,
    max_fee TEXT NOT NULL,
    priority_fee TEXT NOT NULL,
    sent_at REAL NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS txs_batch ON txs (src_chain_id, dst_chain_id, first_nonce);
CREATE TABLE IF NOT EXISTS partials (
    src_chain_id INTEGER NOT NULL,
    dst_chain_id INTEGER NOT NULL,
    first_nonce INTEGER NOT NULL,
    last_nonce INTEGER NOT NULL,
    member INTEGER NOT NULL,
    message BLOB NOT NULL,
    partial BLOB NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (src_chain_id, dst_chain_id, first_nonce, member)
);
"""
    + REFUND_SCHEMA
    + PAUSE_SCHEMA
)
# a new store is created in one transaction, so a crash during the first start leaves nothing half made
SEED = f"INSERT INTO meta (key, value) VALUES ('schema', '{SCHEMA_VERSION}');"  # noqa: S608
CREATE = "\n".join(["BEGIN IMMEDIATE;", SCHEMA, SEED, "COMMIT;"])


class StoreError(Exception):
    """The store file is unusable; the message says why and what to do."""


class StoreUnwritable(Exception):
    """A write failed because the store's filesystem is full or failing (SQLITE_FULL, SQLITE_IOERR).

    Nothing of the transaction was kept. The node fails closed: it does not publish, send or
    advance anything it could not record, and resumes by itself once a write succeeds again.
    """


log = structlog.get_logger(__name__)

WAL_MAGICS = (0x377F0682, 0x377F0683)  # checksums over little- / big-endian words
WAL_FORMAT_VERSION = 3007000
QUICK_CHECK_LINES = 5  # of SQLite's report, in the error message


def remedy(path: Path) -> str:
    """What an operator does about an unusable store file (docs/OPERATIONS.md, 'A corrupted store')."""
    name = path.name
    return (
        f"the node does not start (and never signs) from it. With the node stopped, either restore "
        f"{name} from a backup, or delete {name}, {name}-wal and {name}-shm in {path.parent} so the "
        "node rebuilds its store from the chains (safe: the same batches are cut again and the "
        "destination's executed bitmap keeps anything from executing twice); see "
        "docs/OPERATIONS.md, 'A corrupted store'"
    )


def failure_detail(reason: int, block_number: int, tx_hash: str) -> str:
    """A transfer's `failed` history line: why the destination did not deliver it, and where."""
    return f"{failure_words(reason)}: TransferFailed in block {block_number}, tx {tx_hash}"


def wal_checksum(data: bytes, big_endian: bool, s0: int = 0, s1: int = 0) -> tuple[int, int]:
    """SQLite's WAL checksum (two running 32-bit sums over pairs of 32-bit words)."""
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data[: len(data) // 4 * 4])
    for i in range(0, len(words) - 1, 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def wal_problem(header: bytes) -> str | None:
    """Why the first bytes of a non-empty `-wal` file are not a SQLite WAL header, or None.

    SQLite ignores a log whose header is invalid, so committed transactions in it would vanish
    without a word; SQLite rewrites the 32-byte header in one sector, so garbage there is damage.
    """
    if len(header) < 32:
        return f"its write-ahead log holds {len(header)} bytes, less than a WAL header"
    magic, version, page_size, _, _, _, sum0, sum1 = struct.unpack(">8I", header[:32])
    if magic not in WAL_MAGICS:
        return f"its write-ahead log does not start with SQLite's WAL magic number (0x{magic:08x})"
    if version != WAL_FORMAT_VERSION:
        return f"its write-ahead log has format version {version}, not {WAL_FORMAT_VERSION}"
    if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        return f"its write-ahead log names page size {page_size}"
    if wal_checksum(header[:24], big_endian=bool(magic & 1)) != (sum0, sum1):
        return "its write-ahead log header fails its checksum"
    return None


def quick_check_problem(rows: Sequence[str]) -> str | None:
    """SQLite's `PRAGMA quick_check` report, shortened, unless it is the single line 'ok'."""
    if list(rows) == ["ok"]:
        return None
    lines = [line for row in rows for line in str(row).splitlines() if line.strip()]
    shown = "; ".join(lines[:QUICK_CHECK_LINES])
    more = f" (and {len(lines) - QUICK_CHECK_LINES} more)" if len(lines) > QUICK_CHECK_LINES else ""
    return f"it fails SQLite's integrity check: {shown or 'no report'}{more}"


def schema_problem(
    version: str | None,
    tables: Mapping[str, Sequence[str]],
    expected: Mapping[str, Sequence[str]],
) -> str | None:
    """Whether an existing file is this build's store: `version` is meta's schema value (None if
    absent), `tables` the columns of every table it has, `expected` those of SCHEMA. A file with no
    tables is a new store (None)."""
    if not tables:
        return None
    if version is None:
        return "it has tables but no schema version: it is not a Qiao store, or lost its meta table"
    if version.strip() != str(SCHEMA_VERSION):
        return f"its schema version is {version!r}; this build reads version {SCHEMA_VERSION}"
    for table, columns in expected.items():
        if table not in tables:
            return f"its table {table!r} is missing"
        if list(tables[table]) != list(columns):
            return f"its table {table!r} has columns {list(tables[table])}, not {list(columns)}"
    return None


@functools.cache
def expected_columns() -> dict[str, tuple[str, ...]]:
    """The columns of every table SCHEMA creates (in an in-memory database)."""
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        db.executescript(SCHEMA)
        names = [str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: tuple(str(c[1]) for c in db.execute(f"PRAGMA table_info('{n}')")) for n in names}


def migration_from(version: str | None) -> int | None:
    """The older schema version `version` names, if this build migrates it; else None."""
    if version is None or not version.strip().isdigit():
        return None
    number = int(version.strip())
    return number if number in MIGRATIONS else None


def columns_before(version: int) -> dict[str, tuple[str, ...]]:
    """The tables (and columns) a store of schema `version` has."""
    added = ADDED_SINCE[version]
    return {k: v for k, v in expected_columns().items() if k not in added}


def migration_script(version: int) -> str:
    """One transaction: the tables added since `version`, and the new version number."""
    bump = f"UPDATE meta SET value='{SCHEMA_VERSION}' WHERE key='schema';"  # noqa: S608
    return "\n".join(["BEGIN IMMEDIATE;", MIGRATIONS[version], bump, "COMMIT;"])


def unwritable_reason(exc: BaseException) -> str | None:
    """'disk full' or 'I/O error' when SQLite failed to write to the filesystem, else None."""
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(exc, sqlite3.Error) or code is None:
        return None
    primary = int(code) & 0xFF
    if primary == sqlite3.SQLITE_FULL:
        return "disk full"
    if primary == sqlite3.SQLITE_IOERR:
        return "I/O error"
    return None


def _refund_from_row(r: aiosqlite.Row) -> StoredRefund:
    route = Route(ChainId(r["src_chain_id"]), ChainId(r["dst_chain_id"]))
    tx = None
    if r["refund_tx"] is not None:
        tx = TxRecord(
            tx_hash=r["refund_tx"],
            chain_id=int(r["src_chain_id"]),
            account="",
            nonce=int(r["refund_tx_nonce"]),
            max_fee=int(r["max_fee"]),
            priority_fee=int(r["priority_fee"]),
            sent_at=float(r["sent_at"]),
        )
    return StoredRefund(
        route=route,
        nonce=int(r["nonce"]),
        reason=int(r["reason"]),
        state=RefundState(r["state"]),
        key_epoch=None if r["key_epoch"] is None else int(r["key_epoch"]),
        message=None if r["message"] is None else bytes(r["message"]),
        partial=None if r["partial"] is None else bytes(r["partial"]),
        signature=None if r["signature"] is None else bytes(r["signature"]),
        tx=tx,
        detail=str(r["detail"]),
        created_at=float(r["created_at"]),
        updated_at=float(r["updated_at"]),
    )


def _transfer_from_row(row: aiosqlite.Row) -> Transfer:
    return Transfer(
        src_chain_id=ChainId(row["src_chain_id"]),
        dst_chain_id=ChainId(row["dst_chain_id"]),
        nonce=Nonce(row["nonce"]),
        src_token=row["src_token"],
        dst_token=row["dst_token"],
        sender=row["sender"],
        recipient=row["recipient"],
        amount=int(row["amount"]),
    )


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


def readonly_uri(path: Path) -> str:
    """The SQLite URI that opens the existing store file at `path` read-only."""
    if not path.exists():
        raise StoreError(f"{path}: no store file; has this node ever run with this configuration?")
    return path.resolve().as_uri() + "?mode=ro"


async def _schema_facts(db: aiosqlite.Connection) -> tuple[str | None, dict[str, tuple[str, ...]]]:
    """(meta's schema version or None, the columns of every table) of an open file."""
    names = await (await db.execute("SELECT name FROM sqlite_master WHERE type='table'")).fetchall()
    tables: dict[str, tuple[str, ...]] = {}
    for (name,) in names:
        info = await (await db.execute(f"PRAGMA table_info('{name}')")).fetchall()
        tables[str(name)] = tuple(str(c[1]) for c in info)
    version = None
    if "meta" in tables:
        row = await (await db.execute("SELECT value FROM meta WHERE key='schema'")).fetchone()
        version = None if row is None else str(row[0])
    return version, tables


class Store:
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
    async def open(cls, path: Path) -> AsyncIterator[Store]:
        """Open (or create) the store; refuse, with `StoreError` naming the file and the remedy,
        a file that fails SQLite's integrity check, a damaged write-ahead log, or a file that is not
        this build's store."""
        path.parent.mkdir(parents=True, exist_ok=True)
        wal = path.with_name(path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            with wal.open("rb") as fh:
                problem = wal_problem(fh.read(32))
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
                rows = await (await db.execute("PRAGMA quick_check")).fetchall()
                problem = quick_check_problem([str(r[0]) for r in rows])
                version, tables = await _schema_facts(db)
                migration = migration_from(version) if tables else None
                if problem is None and migration is not None:
                    problem = schema_problem(str(SCHEMA_VERSION), tables, columns_before(migration))
                    if problem is None:
                        await db.executescript(migration_script(migration))
                        log.info("store_migrated", path=str(path), to=SCHEMA_VERSION)
                        version, tables = await _schema_facts(db)
                if problem is None:
                    problem = schema_problem(version, tables, expected_columns())
                if problem is not None:
                    raise StoreError(f"{path}: {problem}; {remedy(path)}")
                if not tables:  # a new store: every table and the version, in one transaction
                    await db.executescript(CREATE)
            except aiosqlite.DatabaseError as exc:
                raise open_error(path, exc) from exc
            metrics.STORE_WRITABLE.set(1)
            yield cls(db, path)
        finally:
            await db.close()

    @classmethod
    @asynccontextmanager
    async def open_readonly(cls, path: Path) -> AsyncIterator[Store]:
        """Read an existing store without changing it (no check, no migration, no creation): what
        the operator CLI reads when the daemon does not answer. Every write through it fails."""
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
                reason = unwritable_reason(exc)
                if reason is None:
                    raise
                self._note_unwritable(reason, exc)
                raise StoreUnwritable(f"{self._path}: {reason}: {exc}") from exc
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

    # ---- watcher -------------------------------------------------------------------------

    async def cursor(self, chain_id: ChainId) -> int | None:
        rows = await self._fetchall("SELECT next_block FROM cursors WHERE chain_id=?", (chain_id,))
        return int(rows[0]["next_block"]) if rows else None

    async def cursor_hash(self, chain_id: ChainId) -> str:
        """The hash of the last block scanned (block `cursor - 1`), '' if none was recorded."""
        rows = await self._fetchall("SELECT last_hash FROM cursors WHERE chain_id=?", (chain_id,))
        return str(rows[0]["last_hash"]) if rows else ""

    async def record_scan(
        self,
        chain_id: ChainId,
        next_block: int,
        events: list[tuple[Located, str, str, int]],
        last_hash: str = "",
        failures: Sequence[ObservedFailure] = (),
    ) -> list[Transfer]:
        """Store final transfers, final failures of transfers toward this chain, and advance the
        cursor, in one transaction.

        `events` are (located transfer, block hash, tx hash, log index). Returns the transfers that
        were new. A transfer already stored with different fields is a conflict and raises; a
        failure already stored is kept as it was (the destination records it once).
        """
        now = time.time()
        new: list[Transfer] = []
        async with self.transaction() as db:
            for f in failures:
                why = failure_detail(f.reason, f.block_number, f.tx_hash)
                await db.execute(
                    "INSERT OR IGNORE INTO refunds (src_chain_id, dst_chain_id, nonce, reason, "
                    "block_number, block_hash, tx_hash, log_index, state, detail, created_at, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        f.route.src,
                        f.route.dst,
                        f.nonce,
                        f.reason,
                        f.block_number,
                        f.block_hash,
                        f.tx_hash,
                        f.log_index,
                        RefundState.OBSERVED,
                        why,
                        now,
                        now,
                    ),
                )
                await self._move(db, f.route.src, f.route.dst, [f.nonce], TransferState.FAILED, why, now)
            # one query per route for what is stored already, one executemany for the rest: a
            # catch-up scan holds thousands of transfers (docs/BENCHMARKS.md)
            seen: dict[tuple[int, int, int], Transfer] = {}
            by_route: dict[tuple[int, int], list[int]] = {}
            for located, _, _, _ in events:
                t = located.transfer
                by_route.setdefault((t.src_chain_id, t.dst_chain_id), []).append(t.nonce)
            for (src, dst), nonces in by_route.items():
                unique = sorted(set(nonces))
                for i in range(0, len(unique), 500):
                    chunk = unique[i : i + 500]
                    marks = ",".join("?" for _ in chunk)
                    where = f"src_chain_id=? AND dst_chain_id=? AND nonce IN ({marks})"
                    sql = f"SELECT * FROM transfers WHERE {where}"  # noqa: S608
                    cur = await db.execute(sql, (src, dst, *chunk))
                    for row in await cur.fetchall():
                        seen[(src, dst, int(row["nonce"]))] = _transfer_from_row(row)
            rows: list[tuple[Any, ...]] = []
            history: list[tuple[Any, ...]] = []
            for located, block_hash, tx_hash, log_index in events:
                t = located.transfer
                key = (t.src_chain_id, t.dst_chain_id, t.nonce)
                existing = seen.get(key)
                if existing is not None:
                    if existing != t:
                        raise StoreError(
                            f"transfer {t.route}#{t.nonce} seen again with different fields "
                            f"(block {located.block_number}); halting this chain's watcher"
                        )
                    continue
                seen[key] = t
                rows.append(
                    (
                        t.src_chain_id,
                        t.dst_chain_id,
                        t.nonce,
                        t.src_token,
                        t.dst_token,
                        t.sender,
                        t.recipient,
                        str(t.amount),
                        located.block_number,
                        block_hash,
                        tx_hash,
                        log_index,
                        TransferState.FINAL,
                        now,
                        now,
                    )
                )
                history.append(
                    (
                        t.src_chain_id,
                        t.dst_chain_id,
                        t.nonce,
                        TransferState.FINAL,
                        f"block {located.block_number}",
                        now,
                    )
                )
                new.append(t)
            await db.executemany(
                "INSERT INTO transfers (src_chain_id, dst_chain_id, nonce, src_token, "
                "dst_token, sender, recipient, amount, block_number, block_hash, tx_hash, "
                "log_index, state, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            await db.executemany(
                "INSERT INTO transfer_history (src_chain_id, dst_chain_id, nonce, state, detail, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                history,
            )
            await self._fail_known(db, new, now)
            await db.execute(
                "INSERT INTO cursors (chain_id, next_block, last_hash, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (chain_id) DO UPDATE SET next_block=excluded.next_block, "
                "last_hash=excluded.last_hash, updated_at=excluded.updated_at",
                (chain_id, next_block, last_hash, now),
            )
        return new

    @staticmethod
    async def _history(
        db: aiosqlite.Connection,
        src: int,
        dst: int,
        nonces: Iterable[int],
        state: TransferState,
        detail: str,
        now: float,
    ) -> None:
        await db.executemany(
            "INSERT INTO transfer_history (src_chain_id, dst_chain_id, nonce, state, detail, at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(src, dst, n, state, detail, now) for n in nonces],
        )

    async def _move(
        self,
        db: aiosqlite.Connection,
        src: int,
        dst: int,
        nonces: Sequence[int],
        state: TransferState,
        detail: str,
        now: float,
        *,
        retry: bool = False,
    ) -> list[int]:
        """Record `state` for those of the transfers (src, dst, nonces) it may move to (the one
        place a transfer's state changes: `transfer_may_move`); returns the nonces moved."""
        if not nonces:
            return []
        lo, hi = min(nonces), max(nonces)
        wanted = set(nonces)
        cur = await db.execute(
            "SELECT nonce, state FROM transfers WHERE src_chain_id=? AND dst_chain_id=? "
            "AND nonce BETWEEN ? AND ?",
            (src, dst, lo, hi),
        )
        moved = [
            int(r["nonce"])
            for r in await cur.fetchall()
            if int(r["nonce"]) in wanted and transfer_may_move(TransferState(r["state"]), state, retry=retry)
        ]
        await db.executemany(
            "UPDATE transfers SET state=?, detail=?, updated_at=? "
            "WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
            [(state, detail, now, src, dst, n) for n in moved],
        )
        await self._history(db, src, dst, moved, state, detail, now)
        return moved

    async def _fail_known(self, db: aiosqlite.Connection, new: Sequence[Transfer], now: float) -> None:
        """Transfers stored after their destination's failure was (this node's source watcher
        lagged): record them failed at once, with the reason."""
        by_route: dict[tuple[int, int], list[int]] = {}
        for t in new:
            by_route.setdefault((t.src_chain_id, t.dst_chain_id), []).append(t.nonce)
        for (src, dst), nonces in by_route.items():
            cur = await db.execute(
                "SELECT nonce, reason, block_number, tx_hash FROM refunds WHERE src_chain_id=? "
                "AND dst_chain_id=? AND nonce BETWEEN ? AND ?",
                (src, dst, min(nonces), max(nonces)),
            )
            for r in await cur.fetchall():
                if int(r["nonce"]) in nonces:
                    why = failure_detail(int(r["reason"]), int(r["block_number"]), str(r["tx_hash"]))
                    await self._move(db, src, dst, [int(r["nonce"])], TransferState.FAILED, why, now)

    # ---- batching ------------------------------------------------------------------------

    async def route_progress(self, route: Route) -> tuple[int, int]:
        """(batched through block, next nonce to batch) for a route; (-1, 1) when new."""
        rows = await self._fetchall(
            "SELECT batched_through_block, next_nonce FROM routes WHERE src_chain_id=? AND dst_chain_id=?",
            (route.src, route.dst),
        )
        if not rows:
            return -1, 1
        return int(rows[0]["batched_through_block"]), int(rows[0]["next_nonce"])

    async def transfers_in_blocks(self, route: Route, first: int, last: int) -> list[Located]:
        rows = await self._fetchall(
            "SELECT * FROM transfers WHERE src_chain_id=? AND dst_chain_id=? "
            "AND block_number BETWEEN ? AND ? ORDER BY nonce",
            (route.src, route.dst, first, last),
        )
        return [Located(_transfer_from_row(r), int(r["block_number"])) for r in rows]

    async def record_batches(
        self,
        route: Route,
        batches: list[tuple[Batch, bytes, bytes]],
        batched_through_block: int,
        next_nonce: int,
    ) -> None:
        """Store the batches cut from complete windows and advance the route, atomically."""
        now = time.time()
        async with self.transaction() as db:
            for batch, root, message in batches:
                bid = batch.id
                await db.execute(
                    "INSERT INTO batches (src_chain_id, dst_chain_id, first_nonce, last_nonce, "
                    "key_epoch, dst_contract, root, message, state, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        route.src,
                        route.dst,
                        bid.first_nonce,
                        bid.last_nonce,
                        batch.key_epoch,
                        batch.dst_contract,
                        root,
                        message,
                        BatchState.PENDING,
                        now,
                        now,
                    ),
                )
                await self._set_transfer_state(
                    db, bid, TransferState.BATCHED, f"batch {bid}", now, batch_first=True
                )
            await db.execute(
                "INSERT INTO routes (src_chain_id, dst_chain_id, batched_through_block, "
                "next_nonce) VALUES (?, ?, ?, ?) ON CONFLICT (src_chain_id, dst_chain_id) DO "
                "UPDATE SET batched_through_block=excluded.batched_through_block, "
                "next_nonce=excluded.next_nonce",
                (route.src, route.dst, batched_through_block, next_nonce),
            )

    async def _set_transfer_state(
        self,
        db: aiosqlite.Connection,
        bid: BatchId,
        state: TransferState,
        detail: str,
        now: float,
        *,
        batch_first: bool = False,
        retry: bool = False,
    ) -> None:
        if batch_first:  # the batch a transfer belongs to is recorded whatever its state
            await db.execute(
                "UPDATE transfers SET batch_first=? "
                "WHERE src_chain_id=? AND dst_chain_id=? AND nonce BETWEEN ? AND ?",
                (bid.first_nonce, bid.route.src, bid.route.dst, bid.first_nonce, bid.last_nonce),
            )
        nonces = range(bid.first_nonce, bid.last_nonce + 1)
        await self._move(db, bid.route.src, bid.route.dst, nonces, state, detail, now, retry=retry)

    async def _batch_from_row(self, row: aiosqlite.Row) -> StoredBatch:
        head = self._head_from_row(row)
        bid = head.id
        trows = await self._fetchall(
            "SELECT * FROM transfers WHERE src_chain_id=? AND dst_chain_id=? "
            "AND nonce BETWEEN ? AND ? ORDER BY nonce",
            (bid.route.src, bid.route.dst, bid.first_nonce, bid.last_nonce),
        )
        batch = Batch(
            transfers=tuple(_transfer_from_row(r) for r in trows),
            dst_contract=head.dst_contract,
            key_epoch=head.key_epoch,
        )
        return StoredBatch(
            batch=batch,
            root=head.root,
            message=head.message,
            state=head.state,
            signature=head.signature,
            tx_hash=head.tx_hash,
            created_at=head.created_at,
            updated_at=head.updated_at,
        )

    async def batches(
        self, states: Iterable[BatchState], dst: ChainId | None = None, limit: int = 100
    ) -> list[StoredBatch]:
        sql, args = self._batches_query(states, dst, limit)
        return [await self._batch_from_row(r) for r in await self._fetchall(sql, args)]

    @staticmethod
    def _batches_query(
        states: Iterable[BatchState], dst: ChainId | None, limit: int
    ) -> tuple[str, list[Any]]:
        wanted = [str(s) for s in states]
        marks = ",".join("?" for _ in wanted)
        sql = f"SELECT * FROM batches WHERE state IN ({marks})"  # noqa: S608
        args: list[Any] = list(wanted)
        if dst is not None:
            sql += " AND dst_chain_id=?"
            args.append(dst)
        sql += " ORDER BY created_at, first_nonce LIMIT ?"
        args.append(limit)
        return sql, args

    @staticmethod
    def _head_from_row(row: aiosqlite.Row) -> BatchHead:
        return BatchHead(
            id=BatchId(
                Route(ChainId(row["src_chain_id"]), ChainId(row["dst_chain_id"])),
                Nonce(row["first_nonce"]),
                Nonce(row["last_nonce"]),
            ),
            key_epoch=int(row["key_epoch"]),
            dst_contract=row["dst_contract"],
            root=bytes(row["root"]),
            message=bytes(row["message"]),
            state=BatchState(row["state"]),
            signature=bytes(row["signature"]) if row["signature"] is not None else None,
            tx_hash=row["tx_hash"],
            created_at=float(row["created_at"]),
            updated_at=float(row["updated_at"]),
        )

    async def batch_heads(
        self, states: Iterable[BatchState], dst: ChainId | None = None, limit: int = 100
    ) -> list[BatchHead]:
        """As `batches`, without the transfers."""
        sql, args = self._batches_query(states, dst, limit)
        return [self._head_from_row(r) for r in await self._fetchall(sql, args)]

    async def _batch_row(self, route: Route, first_nonce: int) -> aiosqlite.Row | None:
        rows = await self._fetchall(
            "SELECT * FROM batches WHERE src_chain_id=? AND dst_chain_id=? AND first_nonce=?",
            (route.src, route.dst, first_nonce),
        )
        return rows[0] if rows else None

    async def batch_head(self, route: Route, first_nonce: int) -> BatchHead | None:
        row = await self._batch_row(route, first_nonce)
        return self._head_from_row(row) if row is not None else None

    async def batch(self, route: Route, first_nonce: int) -> StoredBatch | None:
        row = await self._batch_row(route, first_nonce)
        return await self._batch_from_row(row) if row is not None else None

    # ---- signing (the signed-once guard) -------------------------------------------------

    async def record_signature(
        self, bid: BatchId, key_epoch: int, root: bytes, message: bytes, partial: bytes
    ) -> bytes:
        """Record that this member signs `bid` with `root`, before the partial is published.

        Returns the partial to publish: the one recorded earlier if this exact batch was already
        signed (a restart re-publishes, never re-signs). Raises `Equivocation` if any overlapping
        nonce range on the route was signed with anything else.
        """
        now = time.time()
        async with self.transaction() as db:
            cur = await db.execute(
                "SELECT * FROM signed WHERE src_chain_id=? AND dst_chain_id=? "
                "AND first_nonce <= ? AND last_nonce >= ?",
                (bid.route.src, bid.route.dst, bid.last_nonce, bid.first_nonce),
            )
            for row in await cur.fetchall():
                same = (
                    row["first_nonce"] == bid.first_nonce
                    and row["last_nonce"] == bid.last_nonce
                    and row["key_epoch"] == key_epoch
                    and bytes(row["root"]) == root
                    and bytes(row["message"]) == message
                )
                if not same:
                    raise Equivocation(
                        f"batch {bid} overlaps {row['first_nonce']}-{row['last_nonce']} signed "
                        f"earlier with root 0x{bytes(row['root']).hex()}; refusing to sign "
                        f"root 0x{root.hex()}"
                    )
                return bytes(row["partial"])
            await db.execute(
                "INSERT INTO signed (src_chain_id, dst_chain_id, first_nonce, last_nonce, "
                "key_epoch, root, message, partial, signed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    bid.route.src,
                    bid.route.dst,
                    bid.first_nonce,
                    bid.last_nonce,
                    key_epoch,
                    root,
                    message,
                    partial,
                    now,
                ),
            )
            # a batch this node already saw aggregated or executed (from the others' partials,
            # before its own signer ran) keeps its transfers' later state (transfer_may_move)
            await self._set_transfer_state(db, bid, TransferState.SIGNED, f"signed {bid}", now)
        return partial

    async def signed_partial(self, bid: BatchId) -> bytes | None:
        rows = await self._fetchall(
            "SELECT partial, last_nonce FROM signed WHERE src_chain_id=? AND dst_chain_id=? "
            "AND first_nonce=?",
            (bid.route.src, bid.route.dst, bid.first_nonce),
        )
        if not rows or rows[0]["last_nonce"] != bid.last_nonce:
            return None
        return bytes(rows[0]["partial"])

    # ---- aggregation ---------------------------------------------------------------------

    async def add_partial(self, bid: BatchId, member: int, message: bytes, partial: bytes) -> bool:
        """Keep a received partial (one per member and batch). False if one was already kept."""
        async with self.transaction() as db:
            cur = await db.execute(
                "INSERT OR IGNORE INTO partials (src_chain_id, dst_chain_id, first_nonce, "
                "last_nonce, member, message, partial, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    bid.route.src,
                    bid.route.dst,
                    bid.first_nonce,
                    bid.last_nonce,
                    member,
                    message,
                    partial,
                    time.time(),
                ),
            )
            return bool(cur.rowcount)

    async def drop_partial(self, bid: BatchId, member: int) -> None:
        async with self.transaction() as db:
            await db.execute(
                "DELETE FROM partials WHERE src_chain_id=? AND dst_chain_id=? AND first_nonce=? AND member=?",
                (bid.route.src, bid.route.dst, bid.first_nonce, member),
            )

    async def partials_for(self, bid: BatchId) -> list[tuple[int, int, bytes, bytes]]:
        """(member, last nonce, message, partial) of every partial kept for the batch's range."""
        rows = await self._fetchall(
            "SELECT member, last_nonce, message, partial FROM partials WHERE src_chain_id=? "
            "AND dst_chain_id=? AND first_nonce=? ORDER BY member",
            (bid.route.src, bid.route.dst, bid.first_nonce),
        )
        return [
            (int(r["member"]), int(r["last_nonce"]), bytes(r["message"]), bytes(r["partial"])) for r in rows
        ]

    async def received_partials(self, route: Route, first_nonce: int) -> list[tuple[int, int, bytes, float]]:
        """(member, last nonce, message, received at) of every partial kept for a batch's range."""
        rows = await self._fetchall(
            "SELECT member, last_nonce, message, received_at FROM partials WHERE src_chain_id=? "
            "AND dst_chain_id=? AND first_nonce=? ORDER BY member",
            (route.src, route.dst, first_nonce),
        )
        return [
            (int(r["member"]), int(r["last_nonce"]), bytes(r["message"]), float(r["received_at"]))
            for r in rows
        ]

    async def count_partials(self) -> int:
        rows = await self._fetchall("SELECT COUNT(*) AS n FROM partials")
        return int(rows[0]["n"])

    async def set_batch_state(
        self,
        bid: BatchId,
        state: BatchState,
        detail: str = "",
        *,
        signature: bytes | None = None,
        tx_hash: str | None = None,
        retry: bool = False,
    ) -> None:
        """Move a batch to `state` and its transfers to the matching state (as far as they may
        move: `transfer_may_move`); `retry` is an operator's retry of a failed batch."""
        now = time.time()
        transfer_state = {
            BatchState.AGGREGATED: TransferState.AGGREGATED,
            BatchState.SUBMITTED: TransferState.SUBMITTED,
            BatchState.EXECUTED: TransferState.EXECUTED,
            BatchState.FAILED: TransferState.FAILED,
            BatchState.PENDING: TransferState.BATCHED,
        }[state]
        async with self.transaction() as db:
            await db.execute(
                "UPDATE batches SET state=?, detail=?, updated_at=?, "
                "signature=COALESCE(?, signature), tx_hash=COALESCE(?, tx_hash) "
                "WHERE src_chain_id=? AND dst_chain_id=? AND first_nonce=?",
                (
                    state,
                    detail,
                    now,
                    signature,
                    tx_hash,
                    bid.route.src,
                    bid.route.dst,
                    bid.first_nonce,
                ),
            )
            await self._set_transfer_state(db, bid, transfer_state, detail or str(state), now, retry=retry)
            if state == BatchState.EXECUTED:
                await db.execute(
                    "DELETE FROM partials WHERE src_chain_id=? AND dst_chain_id=? AND first_nonce=?",
                    (bid.route.src, bid.route.dst, bid.first_nonce),
                )

    # ---- transactions --------------------------------------------------------------------

    async def record_tx(self, bid: BatchId, tx: TxRecord) -> None:
        """Record a signed transaction (before it is broadcast) and mark its batch submitted."""
        now = time.time()
        async with self.transaction() as db:
            await db.execute(
                "INSERT OR REPLACE INTO txs (tx_hash, chain_id, account, nonce, src_chain_id, "
                "dst_chain_id, first_nonce, max_fee, priority_fee, sent_at, state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'sent')",
                (
                    tx.tx_hash,
                    tx.chain_id,
                    tx.account,
                    tx.nonce,
                    bid.route.src,
                    bid.route.dst,
                    bid.first_nonce,
                    str(tx.max_fee),
                    str(tx.priority_fee),
                    tx.sent_at,
                ),
            )
            await db.execute(
                "UPDATE batches SET state=?, tx_hash=?, detail=?, updated_at=? "
                "WHERE src_chain_id=? AND dst_chain_id=? AND first_nonce=?",
                (
                    BatchState.SUBMITTED,
                    tx.tx_hash,
                    f"tx {tx.tx_hash} nonce {tx.nonce}",
                    now,
                    bid.route.src,
                    bid.route.dst,
                    bid.first_nonce,
                ),
            )
            await self._set_transfer_state(
                db, bid, TransferState.SUBMITTED, f"tx {tx.tx_hash} nonce {tx.nonce}", now
            )

    async def txs_for(self, bid: BatchId) -> list[TxRecord]:
        rows = await self._fetchall(
            "SELECT * FROM txs WHERE src_chain_id=? AND dst_chain_id=? AND first_nonce=? ORDER BY sent_at",
            (bid.route.src, bid.route.dst, bid.first_nonce),
        )
        return [
            TxRecord(
                tx_hash=r["tx_hash"],
                chain_id=int(r["chain_id"]),
                account=r["account"],
                nonce=int(r["nonce"]),
                max_fee=int(r["max_fee"]),
                priority_fee=int(r["priority_fee"]),
                sent_at=float(r["sent_at"]),
            )
            for r in rows
        ]

    # ---- refunds -------------------------------------------------------------------------

    async def transfer(self, route: Route, nonce: int) -> Transfer | None:
        """The final transfer this node's own watcher stored, if any."""
        rows = await self._fetchall(
            "SELECT * FROM transfers WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
            (route.src, route.dst, nonce),
        )
        return _transfer_from_row(rows[0]) if rows else None

    async def batch_first(self, route: Route, nonce: int) -> int | None:
        """The first nonce of the batch a stored transfer is in (None: not batched, or unknown)."""
        rows = await self._fetchall(
            "SELECT batch_first FROM transfers WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
            (route.src, route.dst, nonce),
        )
        return None if not rows or rows[0]["batch_first"] is None else int(rows[0]["batch_first"])

    async def refund(self, route: Route, nonce: int) -> StoredRefund | None:
        rows = await self._fetchall(
            "SELECT * FROM refunds WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
            (route.src, route.dst, nonce),
        )
        return _refund_from_row(rows[0]) if rows else None

    async def refunds(
        self, states: Iterable[RefundState], src: ChainId | None = None, limit: int = 100
    ) -> list[StoredRefund]:
        wanted = [str(s) for s in states]
        marks = ",".join("?" for _ in wanted)
        sql = f"SELECT * FROM refunds WHERE state IN ({marks})"  # noqa: S608
        args: list[Any] = list(wanted)
        if src is not None:
            sql += " AND src_chain_id=?"
            args.append(src)
        sql += " ORDER BY created_at, nonce LIMIT ?"
        args.append(limit)
        return [_refund_from_row(r) for r in await self._fetchall(sql, args)]

    async def approve_refund(
        self, route: Route, nonce: int, key_epoch: int, message: bytes, partial: bytes | None
    ) -> bytes | None:
        """Record, before anything is published, that this node checked the failed transfer and
        signs (or, with no share, accepts) its REFUND `message`. Signed once: if it was approved
        before, the partial recorded then is returned and nothing changes."""
        now = time.time()
        async with self.transaction() as db:
            cur = await db.execute(
                "SELECT * FROM refunds WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
                (route.src, route.dst, nonce),
            )
            row = await cur.fetchone()
            if row is None:
                raise StoreError(f"no failure of transfer {route}#{nonce} on record")
            if row["state"] != RefundState.OBSERVED:
                if row["message"] is not None and bytes(row["message"]) != message:
                    raise Equivocation(
                        f"refund of {route}#{nonce} was approved with message "
                        f"0x{bytes(row['message']).hex()}; refusing 0x{message.hex()}"
                    )
                return None if row["partial"] is None else bytes(row["partial"])
            await db.execute(
                "UPDATE refunds SET state=?, key_epoch=?, message=?, partial=?, detail=?, updated_at=? "
                "WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
                (
                    RefundState.APPROVED,
                    key_epoch,
                    message,
                    partial,
                    "checked: own transfer, Failed at the destination's final head",
                    now,
                    route.src,
                    route.dst,
                    nonce,
                ),
            )
        return partial

    async def set_refund_state(
        self, route: Route, nonce: int, state: RefundState, detail: str, *, signature: bytes | None = None
    ) -> bool:
        """Move a refund on; REFUNDED also moves the transfer to `refunded` and forgets partials.
        A refund already REFUNDED stays so (states never go back, nothing is recorded twice):
        False then, or if there is no such refund."""
        now = time.time()
        async with self.transaction() as db:
            cur = await db.execute(
                "SELECT state FROM refunds WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
                (route.src, route.dst, nonce),
            )
            row = await cur.fetchone()
            if row is None or row["state"] == RefundState.REFUNDED:
                return False
            await db.execute(
                "UPDATE refunds SET state=?, detail=?, updated_at=?, signature=COALESCE(?, signature) "
                "WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
                (state, detail, now, signature, route.src, route.dst, nonce),
            )
            if state == RefundState.REFUNDED:
                await self._move(db, route.src, route.dst, [nonce], TransferState.REFUNDED, detail, now)
                await db.execute(
                    "DELETE FROM refund_partials WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
                    (route.src, route.dst, nonce),
                )
        return True

    async def record_refund_tx(self, route: Route, nonce: int, tx: TxRecord) -> None:
        """Record a signed refund transaction (before it is broadcast) and mark the refund submitted."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE refunds SET state=?, refund_tx=?, refund_tx_nonce=?, max_fee=?, priority_fee=?, "
                "sent_at=?, detail=?, updated_at=? WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
                (
                    RefundState.SUBMITTED,
                    tx.tx_hash,
                    tx.nonce,
                    str(tx.max_fee),
                    str(tx.priority_fee),
                    tx.sent_at,
                    f"tx {tx.tx_hash} nonce {tx.nonce}",
                    time.time(),
                    route.src,
                    route.dst,
                    nonce,
                ),
            )

    async def put_refund_partial(
        self, route: Route, nonce: int, member: int, message: bytes, partial: bytes
    ) -> None:
        """Keep a member's refund partial (its latest replaces an earlier one)."""
        async with self.transaction() as db:
            await db.execute(
                "INSERT OR REPLACE INTO refund_partials (src_chain_id, dst_chain_id, nonce, member, "
                "message, partial, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (route.src, route.dst, nonce, member, message, partial, time.time()),
            )

    async def drop_refund_partial(self, route: Route, nonce: int, member: int) -> None:
        async with self.transaction() as db:
            await db.execute(
                "DELETE FROM refund_partials WHERE src_chain_id=? AND dst_chain_id=? AND nonce=? "
                "AND member=?",
                (route.src, route.dst, nonce, member),
            )

    async def refund_partials_for(self, route: Route, nonce: int) -> list[tuple[int, bytes, bytes]]:
        """(member, message, partial) of every refund partial kept for the transfer."""
        rows = await self._fetchall(
            "SELECT member, message, partial FROM refund_partials WHERE src_chain_id=? "
            "AND dst_chain_id=? AND nonce=? ORDER BY member",
            (route.src, route.dst, nonce),
        )
        return [(int(r["member"]), bytes(r["message"]), bytes(r["partial"])) for r in rows]

    # ---- operators -----------------------------------------------------------------------

    async def pauses(self) -> dict[Route, float]:
        """The routes an operator paused on this node, with when (unix time)."""
        rows = await self._fetchall("SELECT src_chain_id, dst_chain_id, paused_at FROM pauses")
        return {
            Route(ChainId(r["src_chain_id"]), ChainId(r["dst_chain_id"])): float(r["paused_at"]) for r in rows
        }

    async def pause_routes(self, routes: Iterable[Route], at: float) -> None:
        """Record routes paused (a route paused already keeps its first time)."""
        async with self.transaction() as db:
            await db.executemany(
                "INSERT OR IGNORE INTO pauses (src_chain_id, dst_chain_id, paused_at) VALUES (?, ?, ?)",
                [(r.src, r.dst, at) for r in routes],
            )

    async def resume_routes(self, routes: Iterable[Route]) -> None:
        async with self.transaction() as db:
            await db.executemany(
                "DELETE FROM pauses WHERE src_chain_id=? AND dst_chain_id=?", [(r.src, r.dst) for r in routes]
            )

    async def transfers(self, state: TransferState | None = None, limit: int = 100) -> list[TransferRow]:
        sql = "SELECT * FROM transfers"
        args: list[Any] = []
        if state is not None:
            sql += " WHERE state=?"
            args.append(state)
        sql += " ORDER BY created_at DESC, nonce DESC LIMIT ?"
        args.append(limit)
        return [
            TransferRow(
                transfer=_transfer_from_row(r),
                state=TransferState(r["state"]),
                block_number=int(r["block_number"]),
                tx_hash=r["tx_hash"],
                detail=r["detail"],
                created_at=float(r["created_at"]),
                updated_at=float(r["updated_at"]),
            )
            for r in await self._fetchall(sql, args)
        ]

    async def history(self, route: Route, nonce: int) -> list[tuple[str, str, float]]:
        rows = await self._fetchall(
            "SELECT state, detail, at FROM transfer_history WHERE src_chain_id=? AND "
            "dst_chain_id=? AND nonce=? ORDER BY at, rowid",
            (route.src, route.dst, nonce),
        )
        return [(r["state"], r["detail"], float(r["at"])) for r in rows]

    async def batch_counts_by_state(self) -> dict[str, int]:
        rows = await self._fetchall("SELECT state, COUNT(*) AS n FROM batches GROUP BY state")
        return {r["state"]: int(r["n"]) for r in rows}

    async def counts_by_state(self) -> dict[str, int]:
        rows = await self._fetchall("SELECT state, COUNT(*) AS n FROM transfers GROUP BY state")
        return {r["state"]: int(r["n"]) for r in rows}
