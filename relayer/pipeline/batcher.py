"""The batcher stage: cuts each route's final transfers into batches once their block window is complete.

Batches are cut deterministically from the source chain's blocks (relayer.core.batching), so every
member cuts the same batches; a hole in the source's nonces halts the route (HaltKind.NONCE_GAP)
until an operator's `reobserve` fills it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from relayer import metrics
from relayer.config import NodeConfig
from relayer.core.batching import NonceGap, plan_batches
from relayer.core.encoding import batch_message, batch_root
from relayer.core.keyring import EndpointEpochs
from relayer.core.states import BatchHead, BatchState
from relayer.core.types import Batch, BatchId, Route
from relayer.pipeline.halts import Halt, HaltKind, Halts
from relayer.pipeline.ports import BatchStore

log = structlog.get_logger(__name__)


@dataclass
class Batcher:
    """Cuts batches route by route; `fresh` holds the batches cut since the pipeline last looked."""

    cfg: NodeConfig
    store: BatchStore
    epochs: EndpointEpochs  # the key epoch each destination is at: a batch is cut under it
    halts: Halts
    fresh: set[BatchId] = field(default_factory=set)
    _unheld_seen: set[tuple[Route, int | None]] = field(default_factory=set)

    def _unheld(self, route: Route) -> None:
        current = self.epochs.current(route.dst)
        if (route, current) not in self._unheld_seen:
            self._unheld_seen.add((route, current))
            log.error(
                "no_key_for_endpoint_epoch",
                route=str(route),
                endpoint_epoch=current,
                held=list(self.epochs.keyring.epochs),
                fix="configure this key epoch's committee file and share ([committee] or [committee.next]) "
                "and restart; until then this member cuts no batch for the route",
            )

    def _stale(self, head: BatchHead) -> bool:
        """Whether a batch under an older epoch than its destination's is signed anew: one not yet
        combined always (every member moves to the epoch the endpoint is at, so the members that cut
        it just before and just after the rotation agree again on one message), one combined or
        refused only once the endpoint no longer accepts its epoch (its signature still executes
        within the grace period)."""
        if head.state == BatchState.PENDING:
            return True
        return not self.epochs.accepts(head.id.route.dst, head.key_epoch)

    async def rekey(self, route: Route) -> int:
        """Re-key the route's batches cut under an older key epoch than its destination's (`_stale`):
        same transfers, range and root, signed anew under the destination's current epoch
        (relayer.core.keyring). Returns how many were re-keyed."""
        epoch = self.epochs.cut_epoch(route.dst)
        if epoch is None:
            return 0
        states = [BatchState.PENDING, BatchState.AGGREGATED, BatchState.FAILED]
        stale = [
            h
            for h in await self.store.batch_heads(states, dst=route.dst, limit=1000)
            if h.id.route == route and h.key_epoch < epoch and self._stale(h)
        ]
        done = 0
        for head in stale:
            stored = await self.store.batch(route, head.id.first_nonce)
            if stored is None:
                continue
            batch = Batch(stored.batch.transfers, stored.batch.dst_contract, epoch)
            detail = f"re-keyed from key epoch {head.key_epoch} to {epoch}, the destination's"
            if await self.store.rekey_batch(head.id, epoch, batch_message(batch, stored.root), detail):
                done += 1
                self.fresh.add(head.id)
                metrics.BATCHES_REKEYED.inc()
                log.warning("batch_rekeyed", batch=str(head.id), old_epoch=head.key_epoch, new_epoch=epoch)
        return done

    async def cut_batches(self, route: Route) -> int:
        """Cut batches from windows that are complete; returns how many were cut."""
        if self.halts.stopped(route):
            return 0
        epoch = self.epochs.cut_epoch(route.dst)
        if epoch is None:  # the destination is at a key epoch this member holds no key of
            self._unheld(route)
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
            batch = Batch(transfers, dst_chain.endpoint, epoch)
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
