"""The batches: cut from final transfers, signed once, their partials, states and transactions.

A batch moves its transfers with it (`relayer.core.states.transfer_state_for`); what this member
signs is recorded before it is published and never contradicted (`relayer.core.signing`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

from relayer.adapters.store.connection import rows_in_states
from relayer.adapters.store.ledger import move_batch, transfer_from_row
from relayer.adapters.store.signed import SignedItems, sign_in
from relayer.core.batching import Located
from relayer.core.signing import batch_item, route_sequence
from relayer.core.states import (
    BatchHead,
    BatchState,
    Equivocation,
    StoredBatch,
    TransferState,
    TxRecord,
    transfer_state_for,
)
from relayer.core.types import Batch, BatchId, ChainId, Nonce, Route


class Batches(SignedItems):
    """The batches of every route, from cut to executed (or failed)."""

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
        return [Located(transfer_from_row(r), int(r["block_number"])) for r in rows]

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
                await move_batch(db, bid, TransferState.BATCHED, f"batch {bid}", now, batch_first=True)
            await db.execute(
                "INSERT INTO routes (src_chain_id, dst_chain_id, batched_through_block, "
                "next_nonce) VALUES (?, ?, ?, ?) ON CONFLICT (src_chain_id, dst_chain_id) DO "
                "UPDATE SET batched_through_block=excluded.batched_through_block, "
                "next_nonce=excluded.next_nonce",
                (route.src, route.dst, batched_through_block, next_nonce),
            )

    async def _batch_from_row(self, row: aiosqlite.Row) -> StoredBatch:
        head = self._head_from_row(row)
        bid = head.id
        trows = await self._fetchall(
            "SELECT * FROM transfers WHERE src_chain_id=? AND dst_chain_id=? "
            "AND nonce BETWEEN ? AND ? ORDER BY nonce",
            (bid.route.src, bid.route.dst, bid.first_nonce, bid.last_nonce),
        )
        batch = Batch(
            transfers=tuple(transfer_from_row(r) for r in trows),
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
        return rows_in_states("batches", states, "created_at, first_nonce", limit, dst_chain_id=dst)

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

    # ---- signing (the signed-once rule, relayer.core.signing) -----------------------------

    async def record_signature(
        self, bid: BatchId, key_epoch: int, root: bytes, message: bytes, partial: bytes
    ) -> bytes:
        """Record that this member signs `bid` with `root`, before the partial is published.

        Returns the partial to publish: the one recorded earlier if this exact batch was already
        signed (a restart re-publishes, never re-signs). Raises `Equivocation` if any overlapping
        nonce range on the route was signed with anything else, under any key epoch (the batch is
        a signed item: `relayer.core.signing.batch_item`).
        """
        now = time.time()
        async with self.transaction() as db:
            cur = await db.execute(
                "SELECT dst_contract FROM batches WHERE src_chain_id=? AND dst_chain_id=? AND first_nonce=?",
                (bid.route.src, bid.route.dst, bid.first_nonce),
            )
            row = await cur.fetchone()
            contract = "" if row is None else str(row["dst_contract"])
            item = batch_item(bid, contract, key_epoch, root, message)
            kept, new = await sign_in(db, item, partial, now)
            if not new:
                return kept
            # a batch this node already saw aggregated or executed (from the others' partials,
            # before its own signer ran) keeps its transfers' later state (transfer_may_move)
            await move_batch(db, bid, TransferState.SIGNED, f"signed {bid}", now)
        return partial

    async def record_signatures(
        self, member: int, signed: Sequence[tuple[BatchId, int, bytes, bytes, bytes]]
    ) -> list[tuple[bytes, bool] | Equivocation]:
        """`record_signature` of each (batch, key epoch, root, message, partial) and `add_partial` of
        what is to be published as `member`'s, all in one transaction: a tick's signatures cost one
        commit instead of two each. Per item, in order: (the partial to publish, whether it is new),
        or the `Equivocation` that refused it (nothing of that item is recorded; the others are)."""
        now = time.time()
        out: list[tuple[bytes, bool] | Equivocation] = []
        async with self.transaction() as db:
            contracts: dict[tuple[int, int, int], str] = {}
            for route in {bid.route for bid, *_ in signed}:
                firsts = [bid.first_nonce for bid, *_ in signed if bid.route == route]
                cur = await db.execute(
                    "SELECT first_nonce, dst_contract FROM batches WHERE src_chain_id=? AND dst_chain_id=? "  # noqa: S608
                    f"AND first_nonce IN ({','.join('?' for _ in firsts)})",
                    (route.src, route.dst, *firsts),
                )
                for r in await cur.fetchall():
                    contracts[(route.src, route.dst, int(r["first_nonce"]))] = str(r["dst_contract"])
            for bid, key_epoch, root, message, partial in signed:
                contract = contracts.get((bid.route.src, bid.route.dst, bid.first_nonce), "")
                item = batch_item(bid, contract, key_epoch, root, message)
                try:
                    kept, new = await sign_in(db, item, partial, now)  # raises before writing anything
                except Equivocation as exc:
                    out.append(exc)
                    continue
                if new:
                    await move_batch(db, bid, TransferState.SIGNED, f"signed {bid}", now)
                await db.execute(
                    "INSERT OR IGNORE INTO partials (src_chain_id, dst_chain_id, first_nonce, "
                    "last_nonce, member, message, partial, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        bid.route.src,
                        bid.route.dst,
                        bid.first_nonce,
                        bid.last_nonce,
                        member,
                        message,
                        kept,
                        now,
                    ),
                )
                out.append((kept, new))
        return out

    async def signed_partial(self, bid: BatchId, key_epoch: int | None = None) -> bytes | None:
        """The partial this member signed for exactly `bid` (under `key_epoch`, if given), if it did."""
        return await self.signed_on_span(
            "batch", route_sequence(bid.route), bid.first_nonce, bid.last_nonce, key_epoch
        )

    async def rekey_batch(self, bid: BatchId, key_epoch: int, message: bytes, detail: str) -> bool:
        """Give batch `bid` (not executed, not in flight) a new key epoch and its message under it:
        same transfers, range and root; the batch back to pending, its kept partials (of the old
        message) dropped, its transfers back to batched (relayer.core.keyring: the destination no
        longer accepts the epoch it was signed under). Only a pending or aggregated batch, or one
        that failed because the destination refused its key epoch (KeyEpochExpired). False if the
        batch is anything else or unknown, or has that epoch already."""
        now = time.time()
        async with self.transaction() as db:
            cur = await db.execute(
                "UPDATE batches SET key_epoch=?, message=?, state=?, signature=NULL, detail=?, updated_at=? "
                "WHERE src_chain_id=? AND dst_chain_id=? AND first_nonce=? AND key_epoch<? "
                "AND (state IN (?, ?) OR (state=? AND detail LIKE '%KeyEpochExpired%'))",
                (
                    key_epoch,
                    message,
                    BatchState.PENDING,
                    detail,
                    now,
                    bid.route.src,
                    bid.route.dst,
                    bid.first_nonce,
                    key_epoch,
                    BatchState.PENDING,
                    BatchState.AGGREGATED,
                    BatchState.FAILED,
                ),
            )
            if not cur.rowcount:
                return False
            await db.execute(
                "DELETE FROM partials WHERE src_chain_id=? AND dst_chain_id=? AND first_nonce=?",
                (bid.route.src, bid.route.dst, bid.first_nonce),
            )
            await move_batch(db, bid, TransferState.BATCHED, detail, now, rekey=True)
        return True

    # ---- aggregation ---------------------------------------------------------------------

    async def add_partial(self, bid: BatchId, member: int, message: bytes, partial: bytes) -> bool:
        """Keep a received partial (one per member and batch). False if one was already kept."""
        return await self._keep_partial("IGNORE", bid, member, message, partial)

    async def put_partial(self, bid: BatchId, member: int, message: bytes, partial: bytes) -> None:
        """Keep a member's partial for the batch's range (its latest word replaces an earlier one)."""
        await self._keep_partial("REPLACE", bid, member, message, partial)

    async def _keep_partial(
        self, conflict: str, bid: BatchId, member: int, message: bytes, partial: bytes
    ) -> bool:
        changed = await self.write_one(
            f"INSERT OR {conflict} INTO partials (src_chain_id, dst_chain_id, first_nonce, "  # noqa: S608
            "last_nonce, member, message, partial, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
        return bool(changed)

    async def drop_partial(self, bid: BatchId, member: int) -> None:
        await self.write_one(
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

    async def batch_and_partials(
        self, bid: BatchId
    ) -> tuple[BatchHead | None, list[tuple[int, int, bytes, bytes]]]:
        """`batch_head` of the batch starting at `bid`'s first nonce and its `partials_for`, read in
        one query (the aggregator asks both for every partial it judges)."""
        rows = await self._fetchall(
            "SELECT b.*, p.member AS p_member, p.last_nonce AS p_last, p.message AS p_message, "
            "p.partial AS p_partial FROM (SELECT ? AS s, ? AS d, ? AS f) k "
            "LEFT JOIN batches b ON b.src_chain_id=k.s AND b.dst_chain_id=k.d AND b.first_nonce=k.f "
            "LEFT JOIN partials p ON p.src_chain_id=k.s AND p.dst_chain_id=k.d AND p.first_nonce=k.f "
            "ORDER BY p.member",
            (bid.route.src, bid.route.dst, bid.first_nonce),
        )
        head = self._head_from_row(rows[0]) if rows[0]["src_chain_id"] is not None else None
        partials = [
            (int(r["p_member"]), int(r["p_last"]), bytes(r["p_message"]), bytes(r["p_partial"]))
            for r in rows
            if r["p_member"] is not None
        ]
        return head, partials

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
        transfer_state = transfer_state_for(state)
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
            await move_batch(db, bid, transfer_state, detail or str(state), now, retry=retry)
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
            # a batch re-keyed meanwhile (its signature dropped: Batcher.rekey) stays pending: the
            # transaction carries the old epoch's signature, which the endpoint no longer accepts
            cur = await db.execute(
                "UPDATE batches SET state=?, tx_hash=?, detail=?, updated_at=? "
                "WHERE src_chain_id=? AND dst_chain_id=? AND first_nonce=? AND signature IS NOT NULL",
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
            if cur.rowcount:
                await move_batch(db, bid, TransferState.SUBMITTED, f"tx {tx.tx_hash} nonce {tx.nonce}", now)

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
