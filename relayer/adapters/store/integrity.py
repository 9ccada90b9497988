"""The store file's integrity: the write-ahead log's header, SQLite's quick check, a failing disk.

Each check returns why the file is unusable (for the `StoreError` that refuses it) or None.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Sequence
from pathlib import Path

import aiosqlite

WAL_MAGICS = (0x377F0682, 0x377F0683)  # checksums over little- / big-endian words
WAL_FORMAT_VERSION = 3007000
QUICK_CHECK_LINES = 5  # of SQLite's report, in the error message


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


def wal_file_problem(path: Path) -> str | None:
    """Why the store's non-empty `-wal` file beside `path` is damaged, or None (absent, empty, sound)."""
    wal = path.with_name(path.name + "-wal")
    if not (wal.exists() and wal.stat().st_size > 0):
        return None
    with wal.open("rb") as fh:
        return wal_problem(fh.read(32))


async def quick_check(db: aiosqlite.Connection) -> str | None:
    """SQLite's `PRAGMA quick_check` of the open file, as `quick_check_problem` words it."""
    rows = await (await db.execute("PRAGMA quick_check")).fetchall()
    return quick_check_problem([str(r[0]) for r in rows])


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
