"""The one place a transfer's state changes in SQL, with its history line, and how a transfer row reads.

Every part of the store that moves transfers (the scan, batches, refunds) calls `move` or
`move_batch` inside its own transaction; which moves are allowed is the pure rule
`relayer.core.states.transfer_may_move`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import aiosqlite

from relayer.core.states import TransferRow, TransferState, transfer_may_move
from relayer.core.types import BatchId, ChainId, Nonce, Transfer


def transfer_from_row(row: aiosqlite.Row) -> Transfer:
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


def transfer_row(row: aiosqlite.Row) -> TransferRow:
    """A `transfers` row as the operator sees it (the transfer, its state and where it was seen)."""
    return TransferRow(
        transfer=transfer_from_row(row),
        state=TransferState(row["state"]),
        block_number=int(row["block_number"]),
        tx_hash=row["tx_hash"],
        detail=row["detail"],
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        batch_first=None if row["batch_first"] is None else int(row["batch_first"]),
    )


async def history(
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


async def move(
    db: aiosqlite.Connection,
    src: int,
    dst: int,
    nonces: Sequence[int],
    state: TransferState,
    detail: str,
    now: float,
    *,
    retry: bool = False,
    rekey: bool = False,
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
        if int(r["nonce"]) in wanted
        and transfer_may_move(TransferState(r["state"]), state, retry=retry, rekey=rekey)
    ]
    await db.executemany(
        "UPDATE transfers SET state=?, detail=?, updated_at=? "
        "WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
        [(state, detail, now, src, dst, n) for n in moved],
    )
    await history(db, src, dst, moved, state, detail, now)
    return moved


async def move_batch(
    db: aiosqlite.Connection,
    bid: BatchId,
    state: TransferState,
    detail: str,
    now: float,
    *,
    batch_first: bool = False,
    retry: bool = False,
    rekey: bool = False,
) -> None:
    """Move the transfers of batch `bid` to `state` (as far as each may move); `batch_first` also
    records which batch they are in (whatever their state)."""
    if batch_first:  # the batch a transfer belongs to is recorded whatever its state
        await db.execute(
            "UPDATE transfers SET batch_first=? "
            "WHERE src_chain_id=? AND dst_chain_id=? AND nonce BETWEEN ? AND ?",
            (bid.first_nonce, bid.route.src, bid.route.dst, bid.first_nonce, bid.last_nonce),
        )
    nonces = range(bid.first_nonce, bid.last_nonce + 1)
    await move(db, bid.route.src, bid.route.dst, nonces, state, detail, now, retry=retry, rekey=rekey)
