"""The sentinel's own SQLite store: how far it scanned each chain, the final source transfers, the
destination records still to settle, what it found and what it sent. Nothing here is shared with a
relayer's store; one sentinel process owns the file.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relayer.core.types import ChainId, Nonce, Transfer
from sentinel.checks import BatchExecuted, Executed, Queued, Record, Refunded

SCHEMA = """
CREATE TABLE IF NOT EXISTS cursors (chain_id INTEGER PRIMARY KEY, block INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS source (
    src INTEGER NOT NULL, dst INTEGER NOT NULL, nonce INTEGER NOT NULL,
    transfer TEXT NOT NULL, block INTEGER NOT NULL, PRIMARY KEY (src, dst, nonce));
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY, chain_id INTEGER NOT NULL, tx_hash TEXT NOT NULL, log_index INTEGER NOT NULL,
    block INTEGER NOT NULL, record TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
    UNIQUE (chain_id, tx_hash, log_index));
CREATE TABLE IF NOT EXISTS findings (
    record_id INTEGER, route TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL,
    verdict TEXT NOT NULL, reason TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS actions (
    chain_id INTEGER NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, tx_hash TEXT NOT NULL,
    at REAL NOT NULL, PRIMARY KEY (chain_id, action, target));
"""


def transfer_json(t: Transfer) -> dict[str, Any]:
    return {
        "src": t.src_chain_id, "dst": t.dst_chain_id, "nonce": t.nonce, "src_token": t.src_token,
        "dst_token": t.dst_token, "sender": t.sender, "recipient": t.recipient, "amount": str(t.amount),
    }  # fmt: skip


def transfer_from(d: dict[str, Any]) -> Transfer:
    return Transfer(
        ChainId(d["src"]), ChainId(d["dst"]), Nonce(d["nonce"]), d["src_token"], d["dst_token"],
        d["sender"], d["recipient"], int(d["amount"]),
    )  # fmt: skip


def record_json(r: Record) -> str:
    if isinstance(r, BatchExecuted):
        d: dict[str, Any] = {"kind": "batch", "src": r.src_chain_id, "dst": r.dst_chain_id,
                             "first": r.first_nonce, "last": r.last_nonce, "root": r.root.hex(),
                             "epoch": r.key_epoch}  # fmt: skip
    elif isinstance(r, Refunded):
        d = {"kind": "refunded", "src": r.src_chain_id, "dst": r.dst_chain_id, "nonce": r.nonce,
             "sender": r.sender, "amount": str(r.amount)}  # fmt: skip
        return json.dumps(d, sort_keys=True)
    elif isinstance(r, Executed):
        d = {"kind": "executed", "src": r.src_chain_id, "dst": r.dst_chain_id, "nonce": r.nonce,
             "recipient": r.recipient, "amount": str(r.amount)}  # fmt: skip
        if r.in_batch:
            d["in_batch"] = True
    else:
        d = {"kind": "queued", "src": r.src_chain_id, "dst": r.dst_chain_id, "nonce": r.nonce,
             "leaf": r.leaf.hex(), "amount": str(r.amount), "held": r.held,
             "release_after": r.release_after}  # fmt: skip
    if not isinstance(r, BatchExecuted) and r.claimed is not None:
        d["claimed"] = transfer_json(r.claimed)
    return json.dumps(d, sort_keys=True)


def record_from(text: str) -> Record:
    d = json.loads(text)
    claimed = transfer_from(d["claimed"]) if "claimed" in d else None
    if d["kind"] == "batch":
        return BatchExecuted(d["src"], d["dst"], d["first"], d["last"], bytes.fromhex(d["root"]), d["epoch"])
    if d["kind"] == "refunded":
        return Refunded(d["src"], d["dst"], d["nonce"], d["sender"], int(d["amount"]))
    if d["kind"] == "executed":
        batched = bool(d.get("in_batch", False))
        return Executed(d["src"], d["dst"], d["nonce"], d["recipient"], int(d["amount"]), claimed, batched)
    return Queued(
        d["src"], d["dst"], d["nonce"], bytes.fromhex(d["leaf"]), int(d["amount"]), d["held"],
        d["release_after"], claimed,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Stored:
    id: int
    chain_id: int
    tx_hash: str
    log_index: int
    block: int
    record: Record


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def cursor(self, chain_id: int) -> int | None:
        row = self.db.execute("SELECT block FROM cursors WHERE chain_id = ?", (chain_id,)).fetchone()
        return None if row is None else int(row[0])

    def record_scan(
        self,
        chain_id: int,
        to_block: int,
        transfers: list[tuple[Transfer, int]],
        records: list[tuple[str, int, int, Record]],
    ) -> None:
        """One scanned range, atomically: its source transfers, its destination records, the cursor."""
        with self._tx():
            for t, block in transfers:
                self.db.execute(
                    "INSERT OR IGNORE INTO source (src, dst, nonce, transfer, block) VALUES (?, ?, ?, ?, ?)",
                    (t.src_chain_id, t.dst_chain_id, t.nonce, json.dumps(transfer_json(t)), block),
                )
            for tx_hash, log_index, block, r in records:
                self.db.execute(
                    "INSERT OR IGNORE INTO records (chain_id, tx_hash, log_index, block, record) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (chain_id, tx_hash, log_index, block, record_json(r)),
                )
            self.db.execute(
                "INSERT INTO cursors (chain_id, block) VALUES (?, ?) "
                "ON CONFLICT (chain_id) DO UPDATE SET block = excluded.block",
                (chain_id, to_block),
            )

    def source(self, src: int, dst: int, nonce: int) -> Transfer | None:
        row = self.db.execute(
            "SELECT transfer FROM source WHERE src = ? AND dst = ? AND nonce = ?", (src, dst, nonce)
        ).fetchone()
        return None if row is None else transfer_from(json.loads(row[0]))

    def pending(self) -> list[Stored]:
        rows = self.db.execute(
            "SELECT id, chain_id, tx_hash, log_index, block, record FROM records "
            "WHERE status = 'pending' ORDER BY id"
        ).fetchall()
        return [Stored(r[0], r[1], r[2], r[3], r[4], record_from(r[5])) for r in rows]

    def settle(self, record_id: int, status: str) -> None:
        self.db.execute("UPDATE records SET status = ? WHERE id = ?", (status, record_id))

    def count(self, status: str) -> int:
        return int(self.db.execute("SELECT count(*) FROM records WHERE status = ?", (status,)).fetchone()[0])

    def add_finding(
        self, record_id: int | None, route: str, kind: str, detail: str, verdict: str, reason: str
    ) -> None:
        self.db.execute(
            "INSERT INTO findings (record_id, route, kind, detail, verdict, reason, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (record_id, route, kind, detail, verdict, reason, time.time()),
        )

    def findings(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT record_id, route, kind, detail, verdict, reason FROM findings"
        ).fetchall()
        keys = ("record_id", "route", "kind", "detail", "verdict", "reason")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def action_sent(self, chain_id: int, action: str, target: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM actions WHERE chain_id = ? AND action = ? AND target = ?",
            (chain_id, action, target),
        ).fetchone()
        return row is not None

    def record_action(self, chain_id: int, action: str, target: str, tx_hash: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO actions (chain_id, action, target, tx_hash, at) VALUES (?, ?, ?, ?, ?)",
            (chain_id, action, target, tx_hash, time.time()),
        )

    def actions(self) -> list[tuple[int, str, str, str]]:
        return [tuple(r) for r in self.db.execute("SELECT chain_id, action, target, tx_hash FROM actions")]

    def _tx(self) -> Any:
        db = self.db

        class _Tx:
            def __enter__(self) -> None:
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self, kind: object, *_: object) -> None:
                db.execute("COMMIT" if kind is None else "ROLLBACK")

        return _Tx()

    def __iter__(self) -> Iterator[Stored]:
        return iter(self.pending())
