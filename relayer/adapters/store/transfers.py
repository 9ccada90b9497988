"""The watch cursor and the final transfers: what each chain's watcher scanned, and what it found.

`record_scan` stores one scan in one transaction: the destination failures it saw (through
`refunds.observe_failures`), the transfers the destination holds or queues
(`releases.observe_waits`), the new transfers (a transfer seen again with other fields is a
conflict), the failures already known for them, and the chain's cursor.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import aiosqlite

from relayer.adapters.store.connection import StoreBase, StoreError
from relayer.adapters.store.ledger import transfer_from_row
from relayer.adapters.store.refunds import fail_known, observe_failures
from relayer.adapters.store.releases import observe_waits
from relayer.core.batching import Located
from relayer.core.states import ObservedFailure, ObservedWait, TransferState
from relayer.core.types import ChainId, Route, Transfer

# (located transfer, block hash, tx hash, log index): one TransferInitiated a watcher found
ScanEvent = tuple[Located, str, str, int]
Key = tuple[int, int, int]  # (src chain, dst chain, nonce)
CHUNK = 500  # nonces per `IN (...)` query: below SQLite's limit on bound parameters


class Transfers(StoreBase):
    """Each chain's watch cursor and the final transfers its watcher stored."""

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
        events: list[ScanEvent],
        last_hash: str = "",
        failures: Sequence[ObservedFailure] = (),
        waits: Sequence[ObservedWait] = (),
    ) -> list[Transfer]:
        """Store final transfers, final failures of transfers toward this chain, the transfers it
        holds or queues (`waits`), and advance the cursor, in one transaction.

        `events` are (located transfer, block hash, tx hash, log index). Returns the transfers that
        were new. A transfer already stored with different fields is a conflict and raises; a
        failure already stored is kept as it was (the destination records it once).
        """
        now = time.time()
        async with self.transaction() as db:
            await observe_waits(db, waits, now)  # before the failures: a held one may be vetoed after
            await observe_failures(db, failures, now)
            seen = await _stored(db, events)
            new, rows, history = _new_transfers(events, seen, now)
            await _insert(db, rows, history)
            await fail_known(db, new, now)
            await db.execute(
                "INSERT INTO cursors (chain_id, next_block, last_hash, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (chain_id) DO UPDATE SET next_block=excluded.next_block, "
                "last_hash=excluded.last_hash, updated_at=excluded.updated_at",
                (chain_id, next_block, last_hash, now),
            )
        return new

    async def transfer(self, route: Route, nonce: int) -> Transfer | None:
        """The final transfer this node's own watcher stored, if any."""
        rows = await self._fetchall(
            "SELECT * FROM transfers WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
            (route.src, route.dst, nonce),
        )
        return transfer_from_row(rows[0]) if rows else None

    async def batch_first(self, route: Route, nonce: int) -> int | None:
        """The first nonce of the batch a stored transfer is in (None: not batched, or unknown)."""
        rows = await self._fetchall(
            "SELECT batch_first FROM transfers WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
            (route.src, route.dst, nonce),
        )
        return None if not rows or rows[0]["batch_first"] is None else int(rows[0]["batch_first"])


async def _stored(db: aiosqlite.Connection, events: Sequence[ScanEvent]) -> dict[Key, Transfer]:
    """The transfers among `events` stored already: one query per route and chunk of nonces, not
    one per transfer (a catch-up scan holds thousands of transfers: docs/BENCHMARKS.md)."""
    seen: dict[Key, Transfer] = {}
    by_route: dict[tuple[int, int], list[int]] = {}
    for located, _, _, _ in events:
        t = located.transfer
        by_route.setdefault((t.src_chain_id, t.dst_chain_id), []).append(t.nonce)
    for (src, dst), nonces in by_route.items():
        unique = sorted(set(nonces))
        for i in range(0, len(unique), CHUNK):
            chunk = unique[i : i + CHUNK]
            marks = ",".join("?" for _ in chunk)
            where = f"src_chain_id=? AND dst_chain_id=? AND nonce IN ({marks})"
            sql = f"SELECT * FROM transfers WHERE {where}"  # noqa: S608
            cur = await db.execute(sql, (src, dst, *chunk))
            for row in await cur.fetchall():
                seen[(src, dst, int(row["nonce"]))] = transfer_from_row(row)
    return seen


def _new_transfers(
    events: Sequence[ScanEvent], seen: dict[Key, Transfer], now: float
) -> tuple[list[Transfer], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(the new transfers, their `transfers` rows, their `final` history lines); `seen` is what is
    stored already and gains the new ones. A stored transfer seen with other fields raises."""
    new: list[Transfer] = []
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
    return new, rows, history


async def _insert(
    db: aiosqlite.Connection, rows: list[tuple[Any, ...]], history: list[tuple[Any, ...]]
) -> None:
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
