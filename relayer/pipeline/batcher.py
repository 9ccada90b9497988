"""The batcher stage: cuts each route's final transfers into batches once their block window is complete.

Batches are cut deterministically from the source chain's blocks (relayer.core.batching), so every
member cuts the same batches; a hole in the source's nonces halts the route (HaltKind.NONCE_GAP)
until an operator's `reobserve` fills it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from committee.threshold import CommitteePublic
from relayer import metrics
from relayer.config import NodeConfig
from relayer.core.batching import NonceGap, plan_batches
from relayer.core.encoding import batch_message, batch_root
from relayer.core.types import Batch, BatchId, Route
from relayer.pipeline.halts import Halt, HaltKind, Halts
from relayer.pipeline.ports import BatchStore

log = structlog.get_logger(__name__)


@dataclass
class Batcher:
    """Cuts batches route by route; `fresh` holds the batches cut since the pipeline last looked."""

    cfg: NodeConfig
    store: BatchStore
    public: CommitteePublic
    halts: Halts
    fresh: set[BatchId] = field(default_factory=set)

    async def cut_batches(self, route: Route) -> int:
        """Cut batches from windows that are complete; returns how many were cut."""
        if self.halts.stopped(route):
            return 0
        scanned_next = await self.store.cursor(route.src)
        if scanned_next is None:
            return 0
        rule = self.cfg.committee.rule
        complete_through = rule.last_complete_block(scanned_next - 1)
        batched_through, next_nonce = await self.store.route_progress(route)
        if complete_through <= batched_through:
            return 0
        located = await self.store.transfers_in_blocks(route, batched_through + 1, complete_through)
        try:
            planned = plan_batches(rule, located, next_nonce)
        except NonceGap as exc:
            self.halts.halt(route, Halt(HaltKind.NONCE_GAP, str(exc)))
            return 0
        dst_chain = self.cfg.chain_by_id(route.dst)
        batches: list[tuple[Batch, bytes, bytes]] = []
        for transfers in planned:
            batch = Batch(transfers, dst_chain.endpoint, self.public.key_epoch)
            root = batch_root(batch)
            batches.append((batch, root, batch_message(batch, root)))
        new_next = planned[-1][-1].nonce + 1 if planned else next_nonce
        await self.store.record_batches(route, batches, complete_through, new_next)
        for batch, root, _ in batches:
            self.fresh.add(batch.id)
            metrics.BATCHES_CUT.labels(str(route.src), str(route.dst)).inc()
            metrics.BATCH_SIZE.observe(len(batch.transfers))
            log.info("batch_cut", batch=str(batch.id), root="0x" + root.hex())
        return len(batches)
