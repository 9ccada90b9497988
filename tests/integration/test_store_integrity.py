"""A damaged store file is refused at open with the remedy; a full filesystem fails closed."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from relayer import metrics
from relayer.adapters.store import Store, StoreError, StoreUnwritable
from relayer.core.types import ChainId

CHAIN = ChainId(7001)


async def filled(path: Path, rows: int = 300) -> None:
    async with Store.open(path) as store:
        for i in range(rows):
            async with store.transaction() as db:
                await db.execute(
                    "INSERT INTO transfer_history VALUES (7001, 7002, ?, 'final', ?, 0)", (i, "x" * 400)
                )
        await store.record_scan(CHAIN, 42, [], "0xabc")


async def crash_image(tmp_path: Path) -> Path:
    """The files a kill -9 leaves: the store copied while its connection is open, log not checkpointed."""
    live, image = tmp_path / "live" / "qiao.sqlite3", tmp_path / "image" / "qiao.sqlite3"
    await filled(live, 10)
    image.parent.mkdir()
    async with Store.open(live) as store:
        await store.record_scan(CHAIN, 43, [], "0xdef")
        for suffix in ("", "-wal"):
            shutil.copy(f"{live}{suffix}", f"{image}{suffix}")
    assert wal_size(image) > 0
    return image


def wal_size(path: Path) -> int:
    return Path(f"{path}-wal").stat().st_size


def garbage_over_wal(path: Path, size: int | None = None) -> None:
    Path(f"{path}-wal").write_bytes(os.urandom(wal_size(path) if size is None else size))


async def test_the_files_a_crash_leaves_open_with_the_log_applied(tmp_path: Path) -> None:
    image = await crash_image(tmp_path)
    async with Store.open(image) as store:
        assert await store.cursor(CHAIN) == 43


def delete_store(path: Path) -> None:
    for f in path.parent.glob(f"{path.name}*"):
        f.unlink()


def garbage_over_header(path: Path) -> None:
    with path.open("r+b") as fh:
        fh.write(os.urandom(100))


def garbage_over_pages(path: Path) -> None:
    """Whole pages overwritten (a misdirected write). Garbage inside a row's payload alone is not
    detectable: SQLite keeps no page checksums (docs/RELIABILITY.md, Known limits)."""
    with path.open("r+b") as fh:
        for page in (3, 7, 11):
            fh.seek(page * 4096)
            fh.write(os.urandom(4096))


def truncated(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def foreign_tables(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('schema', '1')")
        db.execute("CREATE TABLE transfers (id INTEGER, payload BLOB)")


def altered_columns(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE transfers ADD COLUMN note TEXT")


def lost_signed_items_table(path: Path) -> None:
    """The record of what this member signed is gone: signing from the file could equivocate."""
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE signed_items")


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (garbage_over_header, "not a usable SQLite store"),
        (garbage_over_pages, "integrity check|malformed"),
        (truncated, "integrity check|malformed"),
        (foreign_tables, "table 'cursors' is missing"),
        (altered_columns, "table 'transfers' has columns"),
        (lost_signed_items_table, "table 'signed_items' is missing"),
    ],
)
async def test_a_damaged_store_file_is_refused_naming_the_file_and_the_remedy(
    tmp_path: Path, damage: Callable[[Path], None], says: str
) -> None:
    path = tmp_path / "qiao.sqlite3"
    await filled(path)
    damage(path)
    with pytest.raises(StoreError) as refused:
        async with Store.open(path):
            pass
    message = str(refused.value)
    assert message.startswith(f"{path}: ")
    assert re.search(says, message)
    assert "restore qiao.sqlite3 from a backup, or delete qiao.sqlite3, qiao.sqlite3-wal" in message


async def test_a_write_ahead_log_full_of_garbage_is_refused_rather_than_silently_dropped(
    tmp_path: Path,
) -> None:
    image = await crash_image(tmp_path)
    garbage_over_wal(image)
    with pytest.raises(StoreError, match="write-ahead log does not start with SQLite's WAL magic"):
        async with Store.open(image):
            pass
    assert wal_size(image) > 0  # left for the operator: nothing was overwritten


async def test_deleting_the_three_files_gives_a_new_store(tmp_path: Path) -> None:
    image = await crash_image(tmp_path)
    garbage_over_wal(image, 4096)
    delete_store(image)
    async with Store.open(image) as store:
        assert await store.cursor(CHAIN) is None


async def test_a_full_filesystem_fails_the_write_keeps_nothing_and_recovers_by_itself(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "qiao.sqlite3") as store:
        await store.record_scan(CHAIN, 10, [], "0x01")
        db = store._db  # the store's own connection: cap its file as a full disk would
        row = await (await db.execute("PRAGMA page_count")).fetchone()
        assert row is not None
        pages = int(row[0])
        await db.execute(f"PRAGMA max_page_count = {pages}")
        big = [(i, "y" * 4000) for i in range(50)]
        with pytest.raises(StoreUnwritable, match="disk full"):
            async with store.transaction() as tx:
                await tx.executemany(
                    "INSERT INTO transfer_history VALUES (7001, 7002, ?, 'final', ?, 0)", big
                )
        assert not store.writable
        assert metrics.STORE_WRITABLE._value.get() == 0
        assert await store.cursor(CHAIN) == 10
        assert (await store._fetchall("SELECT COUNT(*) AS n FROM transfer_history"))[0]["n"] == 0
        await db.execute("PRAGMA max_page_count = 1073741823")  # space is back
        await store.record_scan(CHAIN, 11, [], "0x02")
        assert store.writable
        assert metrics.STORE_WRITABLE._value.get() == 1
        assert await store.cursor(CHAIN) == 11


async def test_a_partial_kept_on_a_full_filesystem_fails_keeps_nothing_and_recovers(tmp_path: Path) -> None:
    """`write_one` (a received partial: one statement, its own transaction) fails closed like
    `transaction()` does."""
    from relayer.core.types import BatchId, ChainId, Nonce, Route

    bid = BatchId(Route(ChainId(7001), ChainId(7002)), Nonce(1), Nonce(1))
    async with Store.open(tmp_path / "qiao.sqlite3") as store:
        db = store._db
        row = await (await db.execute("PRAGMA page_count")).fetchone()
        assert row is not None
        await db.execute(f"PRAGMA max_page_count = {int(row[0])}")
        with pytest.raises(StoreUnwritable, match="disk full"):  # a page more than the file has
            await store.put_partial(bid, 1, b"\x02" * 32, b"\x03" * 20_000)
        assert not store.writable
        assert metrics.STORE_WRITABLE._value.get() == 0
        kept = await store.count_partials()
        await db.execute("PRAGMA max_page_count = 1073741823")  # space is back
        await store.put_partial(bid, 200, b"\x02" * 32, b"\x03" * 48)
        assert store.writable
        assert metrics.STORE_WRITABLE._value.get() == 1
        assert await store.count_partials() == kept + 1


async def test_an_index_added_later_that_a_full_disk_refuses_at_open_is_made_at_the_next_start(
    tmp_path: Path,
) -> None:
    """A store made before `transfer_history_at` gets it when opened; a full filesystem refusing it
    then is logged and the open goes on (the node starts and waits for space, as on any refused
    write), and the next start creates it."""
    import aiosqlite
    from structlog.testing import capture_logs

    from relayer.adapters.store.schema import _later_indexes

    path = tmp_path / "qiao.sqlite3"
    await filled(path)
    with contextlib.closing(sqlite3.connect(path)) as made_before:
        made_before.execute("DROP INDEX transfer_history_at")
        made_before.execute("VACUUM")  # no free page left for the index to take
    async with aiosqlite.connect(path) as db:  # as Store.open's connection, its file capped
        row = await (await db.execute("PRAGMA page_count")).fetchone()
        assert row is not None
        await db.execute(f"PRAGMA max_page_count = {int(row[0])}")
        with capture_logs() as logs:
            await _later_indexes(db, path)
    assert [e["event"] for e in logs] == ["store_index_not_created"]
    assert "full" in logs[0]["error"]
    assert "transfer_history_at" not in indexes(path)
    async with Store.open(path) as store:  # space is back
        assert await store.cursor(CHAIN) == 42
    assert "transfer_history_at" in indexes(path)


def indexes(path: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
