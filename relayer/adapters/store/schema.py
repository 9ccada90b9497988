"""The store's schema: its tables, its version, and the migrations from older versions.

A new store is created in one transaction; a store of an older version this build knows is
migrated in one transaction; any other file is refused (`schema_problem` says why).
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiosqlite
import structlog

log = structlog.get_logger(__name__)

SCHEMA_VERSION = 6

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
# version 4: committee actions (relayer.core.items), their partials, and the one signed-once table
# every signed action item goes through; the registry watcher's cursor is in `meta`
ACTION_SCHEMA = """
CREATE TABLE IF NOT EXISTS actions (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    chain_id INTEGER NOT NULL,
    params BLOB NOT NULL,
    origin TEXT NOT NULL,
    proposer INTEGER NOT NULL,
    position_a INTEGER NOT NULL,
    position_b INTEGER NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    approved_at REAL,
    state TEXT NOT NULL,
    detail TEXT NOT NULL,
    action_nonce INTEGER,
    key_epoch INTEGER,
    message BLOB,
    signature BLOB,
    tx_hash TEXT,
    executable_at INTEGER,
    sent_at REAL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS action_history (
    id TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS action_history_id ON action_history (id);
CREATE TABLE IF NOT EXISTS action_partials (
    id TEXT NOT NULL,
    action_nonce INTEGER NOT NULL,
    key_epoch INTEGER NOT NULL,
    member INTEGER NOT NULL,
    message BLOB NOT NULL,
    partial BLOB NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (id, action_nonce, key_epoch, member)
);
CREATE TABLE IF NOT EXISTS signed_items (
    kind TEXT NOT NULL,
    chain_id INTEGER NOT NULL,
    contract TEXT NOT NULL,
    key_epoch INTEGER NOT NULL,
    item_id TEXT NOT NULL,
    message BLOB NOT NULL,
    partial BLOB NOT NULL,
    signed_at REAL NOT NULL,
    sequence TEXT,
    span_first INTEGER,
    span_last INTEGER,
    content BLOB,
    PRIMARY KEY (kind, chain_id, contract, key_epoch, item_id)
);
CREATE INDEX IF NOT EXISTS signed_items_span ON signed_items (kind, sequence, span_first);
"""
ACTION_TABLES = ("actions", "action_history", "action_partials", "signed_items")
# version 5: every kind goes through `signed_items` (relayer.core.signing); a batch or a refund
# names the span of its route's nonces it takes. A version-4 store's `signed_items` gains the span
# columns; every store's signed batches (`signed`) and signed refund approvals (`refunds`) are
# copied in, so what a member signed before the upgrade is never contradicted after it.
SIGNED_ITEMS_V4 = ("kind", "chain_id", "contract", "key_epoch", "item_id", "message", "partial", "signed_at")
SPAN_COLUMNS = """
ALTER TABLE signed_items ADD COLUMN sequence TEXT;
ALTER TABLE signed_items ADD COLUMN span_first INTEGER;
ALTER TABLE signed_items ADD COLUMN span_last INTEGER;
ALTER TABLE signed_items ADD COLUMN content BLOB;
CREATE INDEX IF NOT EXISTS signed_items_span ON signed_items (kind, sequence, span_first);
"""
SIGNED_INTO_ITEMS = """
INSERT OR IGNORE INTO signed_items (kind, chain_id, contract, key_epoch, item_id, message, partial,
    signed_at, sequence, span_first, span_last, content)
SELECT 'batch', s.dst_chain_id, lower(COALESCE(b.dst_contract, '')), s.key_epoch,
    s.src_chain_id || ':' || s.first_nonce, s.message, s.partial, s.signed_at,
    s.src_chain_id || ':' || s.dst_chain_id, s.first_nonce, s.last_nonce, s.root
FROM signed s LEFT JOIN batches b ON b.src_chain_id = s.src_chain_id
    AND b.dst_chain_id = s.dst_chain_id AND b.first_nonce = s.first_nonce;
INSERT OR IGNORE INTO signed_items (kind, chain_id, contract, key_epoch, item_id, message, partial,
    signed_at, sequence, span_first, span_last, content)
SELECT 'refund', src_chain_id, '', key_epoch, src_chain_id || ':' || dst_chain_id || ':' || nonce,
    message, partial, updated_at, src_chain_id || ':' || dst_chain_id, nonce, nonce, X''
FROM refunds WHERE message IS NOT NULL AND partial IS NOT NULL AND key_epoch IS NOT NULL;
"""
# version 6: the table `signed` (the batches a member signed, kept beside `signed_items` as a record
# only since version 5) is dropped; `signed_items` alone records them (kind 'batch'). A row of
# `signed` that has no counterpart there (the same batch, key epoch, root, message and partial) is
# copied in first, as version 5 did; if one still has none (another record of the same batch and
# key epoch holds its place), the migration is refused and the file left as it was.
SIGNED_COLUMNS = (
    "src_chain_id",
    "dst_chain_id",
    "first_nonce",
    "last_nonce",
    "key_epoch",
    "root",
    "message",
    "partial",
    "signed_at",
)
SIGNED_WITHOUT_COUNTERPART = """NOT EXISTS (SELECT 1 FROM signed_items i WHERE i.kind = 'batch'
    AND i.chain_id = s.dst_chain_id AND i.key_epoch = s.key_epoch
    AND i.item_id = s.src_chain_id || ':' || s.first_nonce
    AND i.sequence = s.src_chain_id || ':' || s.dst_chain_id
    AND i.span_first = s.first_nonce AND i.span_last = s.last_nonce
    AND i.content = s.root AND i.message = s.message AND i.partial = s.partial)"""
SIGNED_MISSING_INTO_ITEMS = f"""
INSERT OR IGNORE INTO signed_items (kind, chain_id, contract, key_epoch, item_id, message, partial,
    signed_at, sequence, span_first, span_last, content)
SELECT 'batch', s.dst_chain_id, lower(COALESCE(b.dst_contract, '')), s.key_epoch,
    s.src_chain_id || ':' || s.first_nonce, s.message, s.partial, s.signed_at,
    s.src_chain_id || ':' || s.dst_chain_id, s.first_nonce, s.last_nonce, s.root
FROM signed s LEFT JOIN batches b ON b.src_chain_id = s.src_chain_id
    AND b.dst_chain_id = s.dst_chain_id AND b.first_nonce = s.first_nonce
WHERE {SIGNED_WITHOUT_COUNTERPART};
"""  # noqa: S608
# the rows of `signed` still without a counterpart, read in the migration's transaction before
# `signed` is dropped
SIGNED_LEFT = f"""
SELECT s.src_chain_id, s.dst_chain_id, s.first_nonce, s.last_nonce, s.key_epoch FROM signed s
WHERE {SIGNED_WITHOUT_COUNTERPART} ORDER BY s.src_chain_id, s.dst_chain_id, s.first_nonce
"""  # noqa: S608
SIGNED_SHOWN = 3  # of the rows without a counterpart, in the error message
# what a store of an older version needs to become this one: version -> SQL (run in one
# transaction with the check of `signed`, its drop and the version bump); any other version is refused
MIGRATIONS = {
    1: REFUND_SCHEMA + PAUSE_SCHEMA + ACTION_SCHEMA + SIGNED_INTO_ITEMS,
    2: PAUSE_SCHEMA + ACTION_SCHEMA + SIGNED_INTO_ITEMS,
    3: ACTION_SCHEMA + SIGNED_INTO_ITEMS,
    4: SPAN_COLUMNS + SIGNED_INTO_ITEMS,
    5: SIGNED_MISSING_INTO_ITEMS,
}
# the tables each older version lacks
ADDED_SINCE: dict[int, tuple[str, ...]] = {
    1: REFUND_TABLES + PAUSE_TABLES + ACTION_TABLES,
    2: PAUSE_TABLES + ACTION_TABLES,
    3: ACTION_TABLES,
    4: (),
    5: (),
}
# the tables an older version has with other columns than this one
CHANGED_SINCE: dict[int, dict[str, tuple[str, ...]]] = {4: {"signed_items": SIGNED_ITEMS_V4}}
# the tables every older version has that this one dropped
DROPPED: dict[str, tuple[str, ...]] = {"signed": SIGNED_COLUMNS}

# indexes added after a schema version was released: in SCHEMA for a new store, and created on
# every open of an existing one (an index changes no table, so no version number; a build without
# it reads the file as before). transfer_history_at: the health probe's reads of the history since
# its last look (every 2 s), a search instead of a scan of every state change ever recorded
LATER_INDEXES = """
CREATE INDEX IF NOT EXISTS transfer_history_at ON transfer_history (at);
"""

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
"""
    + LATER_INDEXES
    + """CREATE TABLE IF NOT EXISTS routes (
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
    + ACTION_SCHEMA
)
# a new store is created in one transaction, so a crash during the first start leaves nothing half made
SEED = f"INSERT INTO meta (key, value) VALUES ('schema', '{SCHEMA_VERSION}');"  # noqa: S608
CREATE = "\n".join(["BEGIN IMMEDIATE;", SCHEMA, SEED, "COMMIT;"])


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
    before = {k: v for k, v in expected_columns().items() if k not in added}
    return before | CHANGED_SINCE.get(version, {}) | DROPPED


def signed_left_problem(rows: Sequence[Sequence[int]], version: int) -> str | None:
    """Why `signed` cannot be dropped: `rows` are (src, dst, first nonce, last nonce, key epoch) of
    its rows that have no counterpart in `signed_items` once the migration copied what it could."""
    if not rows:
        return None
    shown = ", ".join(f"{s}->{d}#{f}-{la} (key epoch {e})" for s, d, f, la, e in rows[:SIGNED_SHOWN])
    more = f" and {len(rows) - SIGNED_SHOWN} more" if len(rows) > SIGNED_SHOWN else ""
    return (
        f"its table 'signed' records {len(rows)} signed batch(es) that 'signed_items' holds otherwise "
        f"(another range, root, message or partial for the same batch and key epoch): {shown}{more}. The two "
        "records of what this member signed disagree, so the migration that drops 'signed' was not "
        f"made: the file is left at version {version} (a build of schema 5 still runs on it)"
    )


async def migrate(db: aiosqlite.Connection, version: int) -> str | None:
    """Migrate the open store from `version`, in one transaction: the tables added since, what
    `signed` holds copied into `signed_items`, `signed` dropped, the new version number. Returns why
    it cannot be done (nothing changed then: `signed_left_problem`), or None."""
    # executescript commits an open transaction before it runs, so the script opens the
    # transaction and the check, the drop and the commit follow statement by statement
    try:
        await db.executescript("\n".join(["BEGIN IMMEDIATE;", MIGRATIONS[version]]))
        left = await (await db.execute(SIGNED_LEFT)).fetchall()
        problem = signed_left_problem([tuple(int(c) for c in r) for r in left], version)
        if problem is not None:
            await db.execute("ROLLBACK")
            return problem
        await db.execute("DROP TABLE signed")
        await db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION),))
        await db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                await db.execute("ROLLBACK")
        raise
    return None


async def schema_facts(db: aiosqlite.Connection) -> tuple[str | None, dict[str, tuple[str, ...]]]:
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


async def migrate_or_create(db: aiosqlite.Connection, path: Path) -> str | None:
    """Make the open file at `path` this build's store: migrate an older version, create a new one.
    Returns why the file is not a store this build can use (nothing changed then), or None."""
    version, tables = await schema_facts(db)
    migration = migration_from(version) if tables else None
    if migration is not None:
        problem = schema_problem(str(SCHEMA_VERSION), tables, columns_before(migration))
        if problem is not None:
            return problem
        problem = await migrate(db, migration)
        if problem is not None:
            return problem
        log.info("store_migrated", path=str(path), to=SCHEMA_VERSION)
        version, tables = await schema_facts(db)
    problem = schema_problem(version, tables, expected_columns())
    if problem is not None:
        return problem
    if not tables:  # a new store: every table and the version, in one transaction
        await db.executescript(CREATE)
    else:
        await _later_indexes(db, path)
    return None


async def _later_indexes(db: aiosqlite.Connection, path: Path) -> None:
    """Create LATER_INDEXES on an existing store. One that cannot be created now (a full or failing
    disk) does not keep the node from starting, where it waits for space as on any refused write:
    its reads are slower without it, and the next start creates it."""
    try:
        await db.executescript(LATER_INDEXES)
    except sqlite3.OperationalError as exc:
        log.warning(
            "store_index_not_created",
            path=str(path),
            error=str(exc),
            effect="the health probe's reads scan the history until the next start creates it",
        )
