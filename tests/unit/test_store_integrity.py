"""The decisions behind refusing a damaged store: pure functions over bytes, rows and names."""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

import pytest

from relayer.adapters.store import (
    SCHEMA_VERSION,
    expected_columns,
    quick_check_problem,
    remedy,
    schema_problem,
    unwritable_reason,
    wal_checksum,
    wal_problem,
)
from relayer.adapters.store.schema import MIGRATIONS, SIGNED_COLUMNS, columns_before, signed_left_problem


def wal_header(magic: int = 0x377F0682, version: int = 3007000, page_size: int = 4096) -> bytes:
    head = struct.pack(">6I", magic, version, page_size, 0, 0x11223344, 0x55667788)
    return head + struct.pack(">2I", *wal_checksum(head, big_endian=bool(magic & 1)))


@pytest.mark.parametrize("magic", [0x377F0682, 0x377F0683])
def test_a_wal_header_as_sqlite_writes_it_passes_in_either_byte_order(magic: int) -> None:
    assert wal_problem(wal_header(magic)) is None


@pytest.mark.parametrize(
    ("header", "says"),
    [
        (b"\x37\x7f\x06", "less than a WAL header"),
        (bytes(range(32)), "magic number"),
        (b"\x00" * 32, "magic number"),
        (wal_header(version=3007001), "format version"),
        (wal_header(page_size=1000), "page size 1000"),
        (wal_header()[:-1] + bytes([wal_header()[-1] ^ 1]), "checksum"),
        (wal_header()[:12] + b"\x00\x00\x00\x07" + wal_header()[16:], "checksum"),
    ],
)
def test_a_damaged_wal_header_is_named(header: bytes, says: str) -> None:
    problem = wal_problem(header)
    assert problem is not None
    assert says in problem


def test_quick_check_ok_is_no_problem_and_a_report_is_shortened() -> None:
    assert quick_check_problem(["ok"]) is None
    report = ["*** in database main ***\nPage 6: btreeInitPage() returns error code 11"] + [
        f"On tree page {i} cell 0: invalid page number" for i in range(10)
    ]
    problem = quick_check_problem(report)
    assert problem is not None
    assert "Page 6: btreeInitPage()" in problem
    assert "(and 7 more)" in problem
    assert quick_check_problem([]) is not None


def test_a_file_without_tables_is_a_new_store() -> None:
    assert schema_problem(None, {}, expected_columns()) is None


def test_this_builds_schema_is_accepted() -> None:
    assert schema_problem(str(SCHEMA_VERSION), expected_columns(), expected_columns()) is None


@pytest.mark.parametrize(
    ("version", "change", "says"),
    [
        (None, None, "no schema version"),
        ("7", None, "schema version is '7'"),
        ("5", None, "schema version is '5'"),
        ("garbage", None, "schema version is 'garbage'"),
        ("6", ("drop", "refunds"), "table 'refunds' is missing"),
        ("6", ("columns", "transfers"), "table 'transfers' has columns"),
        ("6", ("drop", "pauses"), "table 'pauses' is missing"),
        ("6", ("drop", "signed_items"), "table 'signed_items' is missing"),
        ("6", ("columns", "signed_items"), "table 'signed_items' has columns"),
    ],
)
def test_a_file_that_is_not_this_builds_store_is_named(
    version: str | None, change: tuple[str, str] | None, says: str
) -> None:
    tables = dict(expected_columns())
    if change is not None and change[0] == "drop":
        del tables[change[1]]
    elif change is not None:
        tables[change[1]] = ("id", "blob")
    problem = schema_problem(version, tables, expected_columns())
    assert problem is not None
    assert says in problem


def test_signed_is_a_table_of_every_older_version_and_not_of_this_one() -> None:
    """Version 6 dropped `signed`; a store of any version it migrates must still have it (its rows
    are checked against `signed_items` before it is dropped)."""
    assert "signed" not in expected_columns()
    assert "signed_items" in expected_columns()
    for version in MIGRATIONS:
        assert columns_before(version)["signed"] == SIGNED_COLUMNS
    assert columns_before(5) == {**expected_columns(), "signed": SIGNED_COLUMNS}


def test_rows_of_signed_left_without_a_counterpart_refuse_the_migration_naming_them() -> None:
    assert signed_left_problem([], 5) is None
    rows = [(7001, 7002, 1, 2, 1), (7001, 7002, 3, 3, 1), (7002, 7001, 1, 4, 2), (7002, 7001, 5, 5, 2)]
    problem = signed_left_problem(rows, 5)
    assert problem is not None
    assert problem.startswith("its table 'signed' records 4 signed batch(es)")
    assert (
        "7001->7002#1-2 (key epoch 1), 7001->7002#3-3 (key epoch 1), 7002->7001#1-4 (key epoch 2)" in problem
    )
    assert "and 1 more" in problem
    assert "7002->7001#5-5" not in problem
    assert "left at version 5" in problem


def test_the_remedy_names_the_files_and_both_ways_out() -> None:
    text = remedy(Path("/var/lib/qiao/qiao.sqlite3"))
    assert "restore qiao.sqlite3 from a backup" in text
    assert "delete qiao.sqlite3, qiao.sqlite3-wal and qiao.sqlite3-shm in /var/lib/qiao" in text
    assert "docs/OPERATIONS.md" in text


def test_a_full_database_is_unwritable_and_other_errors_are_not() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (x BLOB)")
    db.execute("PRAGMA max_page_count = 3")  # SQLite's own SQLITE_FULL, as from a full disk
    with pytest.raises(sqlite3.OperationalError) as full:
        db.execute("INSERT INTO t VALUES (?)", (b"\x00" * 100_000,))
    assert unwritable_reason(full.value) == "disk full"
    with pytest.raises(sqlite3.OperationalError) as other:
        db.execute("SELECT * FROM no_such_table")
    assert unwritable_reason(other.value) is None
    assert unwritable_reason(ValueError("not sqlite")) is None
