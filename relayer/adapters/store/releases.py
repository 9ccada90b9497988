"""Transfers their destination keeps after executing them: held for a challenge window, or queued.

The destination watcher's scan records a final `TransferHeld` or `TransferQueued` by moving the
transfer to `held` (with its release time in the detail) or `queued` (`observe_waits`); the
release stage (relayer.pipeline.releaser) reads those (`waiting`) and records `released` once the
destination delivered it at its final head (`mark_released`). A transfer failed instead (vetoed,
or at its release) moves to `failed` through the refund path (relayer.adapters.store.refunds).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import aiosqlite

from relayer.adapters.store.connection import StoreBase
from relayer.adapters.store.ledger import move, transfer_row
from relayer.core.states import WAITING_STATES, ObservedWait, TransferRow, TransferState, WaitReason
from relayer.core.types import ChainId, Route


def wait_detail(w: ObservedWait) -> str:
    """A `held` or `queued` transfer's history line: why the destination keeps it, and where."""
    where = f"block {w.block_number}, tx {w.tx_hash}"
    if w.reason is WaitReason.HELD:
        until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(w.release_after))
        return (
            f"held for its challenge window until {until} (heldUntil {w.release_after}); a sentinel may "
            f"veto it before, anyone may release it after: TransferHeld in {where}"
        )
    return f"queued by the destination's inbound rate limit, first in, first out: TransferQueued in {where}"


async def observe_waits(db: aiosqlite.Connection, waits: Sequence[ObservedWait], now: float) -> None:
    """Move the transfers of final TransferHeld / TransferQueued events to `held` / `queued` (as
    far as each may move: a transfer already released, failed or refunded stays so)."""
    for w in waits:
        state = TransferState.HELD if w.reason is WaitReason.HELD else TransferState.QUEUED
        await move(db, w.route.src, w.route.dst, [w.nonce], state, wait_detail(w), now)


class Releases(StoreBase):
    """The transfers kept on their destination, as the release stage reads and settles them."""

    async def waiting(self, dst: int, limit: int = 100) -> list[TransferRow]:
        """Transfers toward chain `dst` that its endpoint holds or queues, at most `limit`, taken
        from every group of them by its head: a group is one source chain, destination token and
        state (held or queued), in nonce order; every group's first, then every group's second,
        and so on. A group whose transfers cannot pass (a cursed route, a token at its rate limit,
        windows open) does not hide another group's behind its backlog."""
        states = [str(s) for s in WAITING_STATES]
        sql = (
            "SELECT * FROM (SELECT *, ROW_NUMBER() OVER ("  # noqa: S608 (constants only)
            "PARTITION BY src_chain_id, dst_token, state ORDER BY nonce) AS place "
            f"FROM transfers WHERE dst_chain_id=? AND state IN ({','.join('?' for _ in states)})) "
            "ORDER BY place, src_chain_id, dst_token, state LIMIT ?"
        )
        return [transfer_row(r) for r in await self._fetchall(sql, [dst, *states, limit])]

    async def mark_released(self, route: Route, nonce: int, detail: str) -> bool:
        """Record that the destination delivered a held or queued transfer (final); False if it
        was not waiting (recorded already, or failed)."""
        now = time.time()
        async with self.transaction() as db:
            cur = await db.execute(
                "SELECT state FROM transfers WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
                (route.src, route.dst, nonce),
            )
            row = await cur.fetchone()
            if row is None or TransferState(row["state"]) not in WAITING_STATES:
                return False
            moved = await move(db, route.src, route.dst, [nonce], TransferState.RELEASED, detail, now)
        return bool(moved)

    async def waiting_counts(self) -> dict[Route, dict[str, int]]:
        """Per route: how many transfers are held and queued on their destination."""
        rows = await self._fetchall(
            "SELECT src_chain_id, dst_chain_id, state, COUNT(*) AS n FROM transfers "
            "WHERE state IN ('held', 'queued') GROUP BY src_chain_id, dst_chain_id, state"
        )
        out: dict[Route, dict[str, int]] = {}
        for r in rows:
            route = Route(ChainId(r["src_chain_id"]), ChainId(r["dst_chain_id"]))
            out.setdefault(route, {})[str(r["state"])] = int(r["n"])
        return out
