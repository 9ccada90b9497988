"""The refund path's records: failures seen on the destination, approvals, partials, transactions.

A transfer its destination did not deliver (`TransferFailed`) is recorded by the source watcher's
scan (`observe_failures`), approved once (the signed-once rule of `relayer.core.signing`),
aggregated, sent, and finally refunded, which also moves the transfer to `refunded`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import aiosqlite

from relayer.adapters.store.connection import StoreError, rows_in_states
from relayer.adapters.store.ledger import move
from relayer.adapters.store.signed import SignedItems, sign_in
from relayer.core.signing import refund_item
from relayer.core.states import ObservedFailure, RefundState, StoredRefund, TransferState, TxRecord
from relayer.core.store_rules import failure_detail
from relayer.core.types import ChainId, Route, Transfer


async def observe_failures(db: aiosqlite.Connection, failures: Sequence[ObservedFailure], now: float) -> None:
    """Record final failures of transfers toward the scanned chain and move those transfers to
    `failed`; a failure already stored is kept as it was (the destination records it once)."""
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
        await move(db, f.route.src, f.route.dst, [f.nonce], TransferState.FAILED, why, now)


async def fail_known(db: aiosqlite.Connection, new: Sequence[Transfer], now: float) -> None:
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
                await move(db, src, dst, [int(r["nonce"])], TransferState.FAILED, why, now)


def refund_from_row(r: aiosqlite.Row) -> StoredRefund:
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


class Refunds(SignedItems):
    """The refunds of failed transfers, from approval to the refund on the source."""

    async def refund(self, route: Route, nonce: int) -> StoredRefund | None:
        rows = await self._fetchall(
            "SELECT * FROM refunds WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
            (route.src, route.dst, nonce),
        )
        return refund_from_row(rows[0]) if rows else None

    async def refunds(
        self, states: Iterable[RefundState], src: ChainId | None = None, limit: int = 100
    ) -> list[StoredRefund]:
        sql, args = rows_in_states("refunds", states, "created_at, nonce", limit, src_chain_id=src)
        return [refund_from_row(r) for r in await self._fetchall(sql, args)]

    async def approve_refund(
        self,
        route: Route,
        nonce: int,
        key_epoch: int,
        message: bytes,
        partial: bytes | None,
        *,
        contract: str = "",
        leaf: bytes = b"",
    ) -> bytes | None:
        """Record, before anything is published, that this node checked the failed transfer and
        signs (or, with no share, accepts) its REFUND `message` for the source endpoint
        `contract`. Signed once (`relayer.core.signing.refund_item`, under any key epoch): if it
        was approved before, the partial recorded then is returned and nothing changes; another
        message raises `Equivocation`."""
        now = time.time()
        async with self.transaction() as db:
            cur = await db.execute(
                "SELECT state, partial FROM refunds WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
                (route.src, route.dst, nonce),
            )
            row = await cur.fetchone()
            if row is None:
                raise StoreError(f"no failure of transfer {route}#{nonce} on record")
            approved = row["state"] != RefundState.OBSERVED
            recorded = None if row["partial"] is None else bytes(row["partial"])
            if approved and (recorded is None or partial is None):
                return recorded  # approved before with no share here, or none now: nothing to sign
            kept = partial
            if partial is not None:
                item = refund_item(route, nonce, contract, key_epoch, message, leaf)
                kept, _ = await sign_in(db, item, partial, now)
            if approved:
                return kept
            await db.execute(
                "UPDATE refunds SET state=?, key_epoch=?, message=?, partial=?, detail=?, updated_at=? "
                "WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
                (
                    RefundState.APPROVED,
                    key_epoch,
                    message,
                    kept,
                    "checked: own transfer, Failed at the destination's final head",
                    now,
                    route.src,
                    route.dst,
                    nonce,
                ),
            )
        return kept

    async def rekey_refund(
        self,
        route: Route,
        nonce: int,
        key_epoch: int,
        message: bytes,
        partial: bytes | None,
        *,
        contract: str,
        detail: str,
        leaf: bytes = b"",
    ) -> bytes | bool | None:
        """Approve an approved or combined refund (not sent) again under a later `key_epoch` (the
        source endpoint rotated: relayer.core.keyring): its REFUND `message` under that epoch and
        this member's `partial` (None: no share here), through the signed-once rule (a re-key of
        the same nonce, `relayer.core.signing.rekeyed`); its kept partials and signature dropped.
        Returns the partial to publish (None: no share), or False if the refund is in no such
        state or has that epoch already."""
        now = time.time()
        async with self.transaction() as db:
            cur = await db.execute(
                "SELECT state, key_epoch FROM refunds WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
                (route.src, route.dst, nonce),
            )
            row = await cur.fetchone()
            if (
                row is None
                or row["state"] not in (RefundState.APPROVED, RefundState.AGGREGATED)
                or row["key_epoch"] is None
                or int(row["key_epoch"]) >= key_epoch
            ):
                return False
            kept = partial
            if partial is not None:
                kept, _ = await sign_in(
                    db, refund_item(route, nonce, contract, key_epoch, message, leaf), partial, now
                )
            await db.execute(
                "UPDATE refunds SET state=?, key_epoch=?, message=?, partial=?, signature=NULL, detail=?, "
                "updated_at=? WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
                (RefundState.APPROVED, key_epoch, message, kept, detail, now, route.src, route.dst, nonce),
            )
            await db.execute(
                "DELETE FROM refund_partials WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
                (route.src, route.dst, nonce),
            )
        return kept

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
                await move(db, route.src, route.dst, [nonce], TransferState.REFUNDED, detail, now)
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
