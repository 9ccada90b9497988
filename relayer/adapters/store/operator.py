"""What operators and the health probes read: pauses, transfers, counts and the status queries.

The admin socket (`relayer.ops.admin`), the health probes (`relayer.ops.health`) and the soak
harness read the store only through these (usually on a read-only `Store.open_readonly`).
"""

from __future__ import annotations

from collections.abc import Iterable

from relayer.adapters.store.connection import StoreBase, rows_in_states
from relayer.adapters.store.ledger import transfer_row
from relayer.core.states import BatchState, TransferBatch, TransferRow, TransferState
from relayer.core.types import ChainId, Route

# the states of a transfer still in this node's pipeline (`pending_by_route`): not yet executed on
# its destination, nor failed or refunded
_OUT_OF_THE_PIPELINE = ("executed", "held", "queued", "released", "failed", "refunded")
PIPELINE_STATES = tuple(s.value for s in TransferState if s.value not in _OUT_OF_THE_PIPELINE)
# The health probe's two reads, every 2 s (`pending_by_route`, `latency_marks`): each finds its rows
# by an index (the transfers in the pipeline by their state, the history since the last look by its
# time), where a scan of every transfer and state change ever stored would grow with them
PENDING_BY_ROUTE = (
    "SELECT src_chain_id, dst_chain_id, COUNT(*) AS n, MIN(created_at) AS oldest FROM transfers "  # noqa: S608
    f"WHERE state IN ({','.join('?' for _ in PIPELINE_STATES)}) GROUP BY src_chain_id, dst_chain_id"
)
LATENCY_MARKS = (
    "SELECT h.state AS state, h.at AS at, t.created_at AS created, "
    "(SELECT MAX(a.at) FROM transfer_history a WHERE a.src_chain_id=h.src_chain_id AND "
    "a.dst_chain_id=h.dst_chain_id AND a.nonce=h.nonce AND a.state='aggregated') AS aggregated "
    "FROM transfer_history h JOIN transfers t ON t.src_chain_id=h.src_chain_id AND "
    "t.dst_chain_id=h.dst_chain_id AND t.nonce=h.nonce "
    "WHERE h.at > ? AND h.state IN ('aggregated', 'executed') ORDER BY h.at"
)


class Operator(StoreBase):
    """The operator's and the health probes' reads, and the pauses an operator records."""

    async def pauses(self) -> dict[Route, float]:
        """The routes an operator paused on this node, with when (unix time)."""
        rows = await self._fetchall("SELECT src_chain_id, dst_chain_id, paused_at FROM pauses")
        return {
            Route(ChainId(r["src_chain_id"]), ChainId(r["dst_chain_id"])): float(r["paused_at"]) for r in rows
        }

    async def pause_routes(self, routes: Iterable[Route], at: float) -> None:
        """Record routes paused (a route paused already keeps its first time)."""
        async with self.transaction() as db:
            await db.executemany(
                "INSERT OR IGNORE INTO pauses (src_chain_id, dst_chain_id, paused_at) VALUES (?, ?, ?)",
                [(r.src, r.dst, at) for r in routes],
            )

    async def resume_routes(self, routes: Iterable[Route]) -> None:
        async with self.transaction() as db:
            await db.executemany(
                "DELETE FROM pauses WHERE src_chain_id=? AND dst_chain_id=?", [(r.src, r.dst) for r in routes]
            )

    async def transfers(self, state: TransferState | None = None, limit: int = 100) -> list[TransferRow]:
        states = None if state is None else [state]
        sql, args = rows_in_states("transfers", states, "created_at DESC, nonce DESC", limit)
        return [transfer_row(r) for r in await self._fetchall(sql, args)]

    async def history(self, route: Route, nonce: int) -> list[tuple[str, str, float]]:
        rows = await self._fetchall(
            "SELECT state, detail, at FROM transfer_history WHERE src_chain_id=? AND "
            "dst_chain_id=? AND nonce=? ORDER BY at, rowid",
            (route.src, route.dst, nonce),
        )
        return [(r["state"], r["detail"], float(r["at"])) for r in rows]

    async def batch_counts_by_state(self) -> dict[str, int]:
        rows = await self._fetchall("SELECT state, COUNT(*) AS n FROM batches GROUP BY state")
        return {r["state"]: int(r["n"]) for r in rows}

    async def refund_counts_by_state(self) -> dict[str, int]:
        rows = await self._fetchall("SELECT state, COUNT(*) AS n FROM refunds GROUP BY state")
        return {r["state"]: int(r["n"]) for r in rows}

    async def counts_by_state(self) -> dict[str, int]:
        rows = await self._fetchall("SELECT state, COUNT(*) AS n FROM transfers GROUP BY state")
        return {r["state"]: int(r["n"]) for r in rows}

    async def state_counts(self) -> dict[str, dict[str, int]]:
        """Transfers and batches per state: {"transfers": {...}, "batches": {...}}."""
        return {"transfers": await self.counts_by_state(), "batches": await self.batch_counts_by_state()}

    async def transfer_row(self, route: Route, nonce: int) -> TransferRow | None:
        """One stored transfer with its state and batch, if stored."""
        rows = await self._fetchall(
            "SELECT * FROM transfers WHERE src_chain_id=? AND dst_chain_id=? AND nonce=?",
            (route.src, route.dst, nonce),
        )
        return transfer_row(rows[0]) if rows else None

    async def pending_by_route(self) -> dict[Route, tuple[int, float | None]]:
        """Per route: (transfers not yet executed, failed or refunded, when the oldest of them was
        stored). One the destination executed and holds or queues is not pending here: it waits
        on the destination, not in the pipeline (`waiting_counts`, `relayer status`)."""
        rows = await self._fetchall(PENDING_BY_ROUTE, PIPELINE_STATES)
        out: dict[Route, tuple[int, float | None]] = {}
        for r in rows:
            out[Route(ChainId(r["src_chain_id"]), ChainId(r["dst_chain_id"]))] = (int(r["n"]), r["oldest"])
        return out

    async def cursors(self) -> dict[ChainId, int]:
        """Every chain's watch cursor (the next block to scan)."""
        rows = await self._fetchall("SELECT chain_id, next_block FROM cursors")
        return {ChainId(r["chain_id"]): int(r["next_block"]) for r in rows}

    async def transfer_batch(self, route: Route, nonce: int) -> TransferBatch | None:
        """The batch a stored transfer is in, its state and whether it carries a combined signature
        (None: no such transfer)."""
        rows = await self._fetchall(
            "SELECT t.batch_first, b.state, b.signature IS NOT NULL AS signed FROM transfers t "
            "LEFT JOIN batches b ON b.src_chain_id=t.src_chain_id AND b.dst_chain_id=t.dst_chain_id "
            "AND b.first_nonce=t.batch_first WHERE t.src_chain_id=? AND t.dst_chain_id=? AND t.nonce=?",
            (route.src, route.dst, nonce),
        )
        if not rows:
            return None
        r = rows[0]
        return TransferBatch(
            batch_first=None if r["batch_first"] is None else int(r["batch_first"]),
            state=None if r["state"] is None else BatchState(r["state"]),
            signed=bool(r["signed"]),
        )

    async def stored_nonces(self, route: Route) -> list[int]:
        """The nonces of every transfer stored on `route`, ascending."""
        rows = await self._fetchall(
            "SELECT nonce FROM transfers WHERE src_chain_id=? AND dst_chain_id=? ORDER BY nonce",
            (route.src, route.dst),
        )
        return [int(r["nonce"]) for r in rows]

    async def token_pairs(self) -> list[tuple[int, str, int, str]]:
        """(src chain, src token, dst chain, dst token) of every token pair a stored transfer used."""
        rows = await self._fetchall(
            "SELECT DISTINCT src_chain_id, dst_chain_id, src_token, dst_token FROM transfers"
        )
        return [
            (int(r["src_chain_id"]), str(r["src_token"]), int(r["dst_chain_id"]), str(r["dst_token"]))
            for r in rows
        ]

    async def latency_marks(self, since: float) -> list[tuple[str, float, float, float | None]]:
        """Transfers that reached `aggregated` or `executed` after `since`, oldest first: (state,
        at, when the transfer was stored, when it was last aggregated or None)."""
        rows = await self._fetchall(LATENCY_MARKS, (since,))
        return [
            (
                str(r["state"]),
                float(r["at"]),
                float(r["created"]),
                None if r["aggregated"] is None else float(r["aggregated"]),
            )
            for r in rows
        ]
