"""One Qiao node: watcher per chain, batcher, signer (member), aggregator and submitter (relayer).

The stages share nothing but the store: each loop reads durable state, does one step and writes the
result in one transaction, so a crash anywhere resumes from the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import OrderedDict
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog

from committee.bls import BlsBackend
from committee.threshold import (
    CommitteePublic,
    KeyShare,
    NotEnoughPartials,
    combine,
    partial_sign,
    verify,
    verify_partial,
)
from relayer import metrics
from relayer.adapters.aio import within
from relayer.adapters.chain import ChainClient, FinalBlockChanged, MalformedEvent, Untrusted
from relayer.adapters.store import Store, StoreError, StoreUnwritable
from relayer.adapters.transport import Transport
from relayer.config import NodeConfig
from relayer.core.batching import NonceGap, plan_batches
from relayer.core.encoding import batch_message, batch_root, refund_message
from relayer.core.finality import FinalityEvent, FinalityWatch, observe_finality
from relayer.core.messages import PartialMessage, RefundPartialMessage
from relayer.core.partials import (
    REMEMBERED,
    Judgement,
    OwnBatch,
    PartialOutcome,
    Rejection,
    StoredPartial,
    judge_partial,
    mismatch,
)
from relayer.core.refunds import (
    RefundDecision,
    RefundPartialOutcome,
    classify_refund_partial,
    decide_refund,
    failure_words,
)
from relayer.core.states import AnyBatch, BatchState, Equivocation, RefundState, StoredRefund, TransferState
from relayer.core.types import Batch, BatchId, ChainId, Route
from relayer.pipeline.crashpoints import crashpoint
from relayer.pipeline.submitter import Submitter

log = structlog.get_logger(__name__)

IDLE_TICK_SECONDS = 0.3  # the pipeline's and the submitters' loop period when nothing wakes them
GAUGE_SECONDS = 1.0  # how often the per-state gauges are recomputed
SCAN_STALL_SECONDS = 60.0  # a watcher scan taking longer is cancelled (and logged) and started again
# the final head standing still this long while the head grows is a finality stall (Ethereum
# finalizes every epoch, 6.4 min; one missed epoch is 12.8 min): logged once, and alerted on
FINALITY_STALL_SECONDS = 1200.0
REJECTIONS_KEPT = 10_000  # refused partials remembered for the operator's batch view (oldest go first)


class DeepReorg(Exception):
    """A block already treated as final was replaced: the route must stop for an operator."""


@dataclass
class Node:
    cfg: NodeConfig
    store: Store
    chains: dict[ChainId, ChainClient]
    public: CommitteePublic
    share: KeyShare | None
    backend: BlsBackend
    transport: Transport
    submitters: dict[ChainId, Submitter] = field(default_factory=dict)
    halted: dict[Route, str] = field(default_factory=dict)
    _verified: dict[tuple[BatchId, int], bytes] = field(default_factory=dict)
    _verified_refunds: dict[tuple[Route, int, int], bytes] = field(default_factory=dict)
    _last_republish: float = 0.0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _fresh: set[BatchId] = field(default_factory=set)
    _aggregating: asyncio.Lock = field(default_factory=asyncio.Lock)
    _submit_wake: dict[ChainId, asyncio.Event] = field(default_factory=dict)
    _last_gauges: float = -math.inf
    finality_stall_seconds: float = FINALITY_STALL_SECONDS
    _finality: dict[ChainId, FinalityWatch] = field(default_factory=dict)
    # the last partial refused per (route, first nonce, member), why and when: in memory only, so a
    # flood of bad partials costs no disk and a restart forgets them (relayer.core.partials.Rejection)
    rejections: OrderedDict[tuple[Route, int, int], Rejection] = field(default_factory=OrderedDict)

    # ---- watcher -------------------------------------------------------------------------

    async def watch(self, chain: ChainClient) -> None:
        """Scan final blocks for transfer events from the durable cursor, forever."""
        name = chain.cfg.name
        limit = max(SCAN_STALL_SECONDS, 6 * chain.cfg.rpc_timeout)
        while True:
            try:
                advanced = await within(limit, self.scan_once(chain))
            except TimeoutError:  # every RPC has its own timeout: a scan this long is stuck somewhere
                metrics.RPC_ERRORS.labels(name).inc()
                log.error(
                    "watcher_scan_stalled", chain=name, seconds=limit, effect="cancelled; scanning again"
                )
                advanced = False
            except FinalBlockChanged as exc:  # the endpoint is quarantined (rpc_quarantined)
                if exc.trusted_left:
                    advanced = False  # read again from another endpoint
                else:
                    self._deep_reorg(chain, exc)
                    return
            except DeepReorg as exc:
                self._deep_reorg(chain, exc)
                return
            except (MalformedEvent, StoreError) as exc:
                metrics.MALFORMED_EVENTS.labels(name).inc()
                self._halt_source(chain, str(exc))
                log.error("watcher_halted", chain=name, error=str(exc))
                return
            except Untrusted as exc:  # every endpoint quarantined (rpc_quarantined, logs_refused)
                self._halt_source(chain, f"no trustworthy RPC endpoint left: {exc}")
                log.critical("logs_refused_halt", chain=name, error=str(exc))
                return
            except StoreUnwritable:  # the store said so once; the cursor stays, try again later
                advanced = False
            except Exception as exc:  # RPC trouble: count, back off, go on from the cursor
                log.warning("watcher_rpc_error", chain=name, error=repr(exc))
                advanced = False
            if not advanced:
                await asyncio.sleep(chain.cfg.poll_interval)

    def _deep_reorg(self, chain: ChainClient, exc: Exception) -> None:
        metrics.DEEP_REORGS.labels(chain.cfg.name).inc()
        self._halt_source(chain, f"deep reorg: {exc}")
        log.critical("deep_reorg", chain=chain.cfg.name, error=str(exc))

    def _halt_source(self, chain: ChainClient, reason: str) -> None:
        for route in self.cfg.routes:
            if route.src == chain.chain_id:
                self._halt(route, reason)

    async def scan_once(self, chain: ChainClient) -> bool:
        """Scan one range of final blocks; True if the cursor moved.

        The hash of the last scanned block is kept with the cursor: if the chain no longer has it,
        a block this node treated as final was replaced (a reorg deeper than finality) and
        `DeepReorg` is raised. The range's last block hash is read before the logs, must be the
        one the log reply's block-hash batch holds, and is read again after: a final block that
        changes is evidence against the endpoint that answered (quarantined; with none left,
        `DeepReorg`). Every log read must be the endpoint's, inside the range and from the block
        the chain has at its number (`relayer.adapters.chain`; the endpoint is quarantined otherwise and,
        with no trustworthy endpoint left, `Untrusted` halts the routes).
        """
        head = await chain.head()
        final = await chain.final_head()
        metrics.CHAIN_HEAD.labels(chain.cfg.name).set(head)
        metrics.CHAIN_FINAL.labels(chain.cfg.name).set(final)
        self._observe_finality(chain, head, final)
        cursor = await self.store.cursor(chain.chain_id)
        start = chain.cfg.start_block if cursor is None else cursor
        if start > final:
            return False
        if cursor is not None and cursor > 0:
            known = await self.store.cursor_hash(chain.chain_id)
            now_hash = await chain.block_hash(cursor - 1) if known else known
            if now_hash != known:
                detail = (
                    f"block {cursor - 1} of chain {chain.cfg.name} was {known} when final, {now_hash} now"
                )
                if not chain.quarantine_active("final_block_changed", detail):
                    raise DeepReorg(detail)
                return False
        end = min(final, start + chain.cfg.max_block_range - 1)
        end_hash = await chain.block_hash(end)
        observed = await chain.transfers(start, end, end_hash=end_hash)
        # failures of transfers toward this chain whose source this node watches itself
        sources = {r.src for r in self.cfg.routes if r.dst == chain.chain_id and r.src in self.chains}
        failures = (
            [f for f in await chain.failures(start, end, end_hash=end_hash) if f.route.src in sources]
            if sources
            else []
        )
        # the blocks the logs came from are still the chain's once everything is read (a reorg,
        # or a balancer answering from another node, shows here and quarantines the endpoint)
        blocks = {o.located.block_number: o.block_hash for o in observed}
        blocks.update({f.block_number: f.block_hash for f in failures})
        await chain.recheck_final(blocks)
        crashpoint("after_observe")
        after = await chain.block_hash(end)
        if after != end_hash:  # a final block changed: evidence against the endpoint, not a retry
            detail = f"block {end} of chain {chain.cfg.name} was {end_hash} before the logs, {after} after"
            if not chain.quarantine_active("final_block_changed", detail):
                raise DeepReorg(f"{detail} (a reorg deeper than finality, or an endpoint serving two views)")
            return False
        wanted = {r.dst for r in self.cfg.routes if r.src == chain.chain_id}
        events = [
            (o.located, o.block_hash, o.tx_hash, o.log_index)
            for o in observed
            if o.located.transfer.dst_chain_id in wanted
        ]
        new = await self.store.record_scan(chain.chain_id, end + 1, events, end_hash, failures)
        for f in failures:
            log.info(
                "transfer_failed_final",
                route=str(f.route),
                nonce=f.nonce,
                reason=f.reason,
                why=failure_words(f.reason),
            )
        if new:
            crashpoint("after_store")
        per_route: dict[Route, int] = {}
        for t in new:
            per_route[t.route] = per_route.get(t.route, 0) + 1
            log.info("transfer_final", route=str(t.route), nonce=t.nonce, amount=str(t.amount))
        for route, count in per_route.items():
            metrics.TRANSFERS_OBSERVED.labels(str(route.src), str(route.dst)).inc(count)
        metrics.CHAIN_SCANNED.labels(chain.cfg.name).set(end)
        self._wake.set()
        return True

    def _observe_finality(self, chain: ChainClient, head: int, final: int) -> None:
        """Export how long the final head has stood still under a growing head, and log a finality
        stall once when it reaches `finality_stall_seconds` (and once when it ends)."""
        name, now = chain.cfg.name, time.monotonic()
        previous = self._finality.get(chain.chain_id)
        watch, event = observe_finality(
            previous, head=head, final=final, now=now, stall_after=self.finality_stall_seconds
        )
        self._finality[chain.chain_id] = watch
        metrics.FINALITY_STALLED_SECONDS.labels(name).set(watch.stalled_seconds(head, now))
        if event is FinalityEvent.STALLED:
            log.error(
                "finality_stalled",
                chain=name,
                finality=chain.cfg.finality,
                final=watch.final,
                head=head,
                seconds=round(watch.stalled_seconds(head, now), 1),
                effect="nothing from this chain becomes final; its transfers wait",
            )
        elif event is FinalityEvent.RESUMED and previous is not None:
            log.warning(
                "finality_resumed",
                chain=name,
                final=final,
                head=head,
                stalled_from=previous.final,
                seconds=round(now - previous.since, 1),
            )

    # ---- batching and signing ------------------------------------------------------------

    async def cut_batches(self, route: Route) -> int:
        """Cut batches from windows that are complete; returns how many were cut."""
        if route in self.halted:
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
            self._halt(route, f"nonce gap: {exc}")
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
            self._fresh.add(batch.id)
            metrics.BATCHES_CUT.labels(str(route.src), str(route.dst)).inc()
            metrics.BATCH_SIZE.observe(len(batch.transfers))
            log.info("batch_cut", batch=str(batch.id), root="0x" + root.hex())
        return len(batches)

    async def sign(self, stored: AnyBatch) -> bool:
        """Sign a batch this node cut itself, once.

        The signed-once guard records the partial before it is published; a batch signed before a
        restart is not signed again (the periodic re-publication sends the recorded partial).
        Returns True if a new partial was made.
        """
        if self.share is None:
            return False
        bid = stored.id
        if await self.store.signed_partial(bid) is not None:
            return False
        partial = partial_sign(self.share, stored.message, self.backend)
        try:
            kept = await self.store.record_signature(
                bid, stored.key_epoch, stored.root, stored.message, partial
            )
        except Equivocation as exc:
            metrics.EQUIVOCATIONS_REFUSED.inc()
            log.error("equivocation_refused", batch=str(bid), error=str(exc))
            return False
        metrics.PARTIALS_SIGNED.inc()
        log.info("batch_signed", batch=str(bid))
        await self.store.add_partial(bid, self.cfg.member_index, stored.message, kept)
        self._publish(stored, kept)
        crashpoint("after_publish")
        return True

    def _publish(self, stored: AnyBatch, partial: bytes) -> None:
        msg = PartialMessage(
            member=self.cfg.member_index,
            batch=stored.id,
            key_epoch=stored.key_epoch,
            root=stored.root,
            message=stored.message,
            partial=partial,
        )
        self.transport.publish_partial(msg)

    async def republish(self) -> None:
        """Re-publish this member's partials for batches not yet executed (lost messages heal)."""
        if self.share is None:
            return
        for stored in await self.store.batch_heads(
            [BatchState.PENDING, BatchState.AGGREGATED, BatchState.SUBMITTED], limit=200
        ):
            partial = await self.store.signed_partial(stored.id)
            if partial is not None:
                self._publish(stored, partial)

    # ---- aggregation ---------------------------------------------------------------------

    async def on_partial(self, msg: PartialMessage) -> None:
        """Judge a partial from the broker (relayer.core.partials), store it if it earns a place, and
        aggregate when it completes a batch this node cut. Counted once under its outcome."""
        judged = Judgement(PartialOutcome.INVALID, "the node failed while judging it")
        try:
            async with self._aggregating:
                judged = await self._judge_partial(msg)
        finally:
            outcome = judged.outcome
            member = str(msg.member) if outcome != PartialOutcome.NOT_MEMBER else "unknown"
            metrics.PARTIALS_RECEIVED.labels(member, outcome.value).inc()
        if outcome in REMEMBERED:
            self._remember_rejection(msg.batch, msg.member, judged)
        if outcome == PartialOutcome.INVALID:
            log.warning(
                "partial_invalid", batch=str(msg.batch), member=msg.member, on="arrival", why=judged.why
            )
        elif outcome in (PartialOutcome.NOT_MEMBER, PartialOutcome.OWN):
            log.warning("partial_refused", batch=str(msg.batch), member=msg.member, outcome=outcome.value)
        if outcome == PartialOutcome.KEPT:
            await self.try_aggregate(msg.batch)

    def _remember_rejection(self, bid: BatchId, member: int, judged: Judgement) -> None:
        key = (bid.route, bid.first_nonce, member)
        self.rejections.pop(key, None)
        self.rejections[key] = Rejection(judged.outcome, judged.why, time.time())
        while len(self.rejections) > REJECTIONS_KEPT:
            self.rejections.popitem(last=False)

    def rejected_partials(self, route: Route, first_nonce: int) -> dict[int, Rejection]:
        """Member -> the last partial this node refused from it for the batch (since it started)."""
        return {m: r for (rt, first, m), r in self.rejections.items() if rt == route and first == first_nonce}

    async def _judge_partial(self, msg: PartialMessage) -> Judgement:
        ours: OwnBatch | None = None
        stored: StoredPartial | None = None
        next_nonce = 1
        if msg.member in self.public.public_shares and msg.batch.route in self.cfg.routes:
            _, next_nonce = await self.store.route_progress(msg.batch.route)
            batch = await self.store.batch_head(msg.batch.route, msg.batch.first_nonce)
            if batch is not None:
                ours = OwnBatch(batch.id.last_nonce, batch.message, batch.state == BatchState.PENDING)
            for member, last, message, partial in await self.store.partials_for(msg.batch):
                if member == msg.member:
                    stored = StoredPartial(last, message, partial)
        judged = judge_partial(
            msg,
            public=self.public,
            routes=self.cfg.routes,
            own_member=self.cfg.member_index,
            next_nonce=next_nonce,
            ours=ours,
            stored=stored,
            backend=self.backend,
        )
        if judged.outcome.stored:
            if stored is not None:  # the member's latest valid word replaces its earlier one
                await self.store.drop_partial(msg.batch, msg.member)
            await self.store.add_partial(msg.batch, msg.member, msg.message, msg.partial)
            self.rejections.pop((msg.batch.route, msg.batch.first_nonce, msg.member), None)
            if judged.outcome == PartialOutcome.KEPT:
                self._verified[(msg.batch, msg.member)] = msg.partial
        return judged

    async def try_aggregate(self, bid: BatchId) -> bool:
        """Combine t verified partials for a batch this node cut itself; True once aggregated."""
        async with self._aggregating:  # the transport and the pipeline both call this
            return await self._try_aggregate(bid)

    async def _try_aggregate(self, bid: BatchId) -> bool:
        stored = await self.store.batch_head(bid.route, bid.first_nonce)
        if stored is None or stored.state != BatchState.PENDING:
            return False
        valid: dict[int, bytes] = {}
        for member, last, message, partial in await self.store.partials_for(bid):
            key = (stored.id, member)
            if self._verified.get(key) == partial:
                valid[member] = partial
                continue
            ok = (
                last == stored.id.last_nonce
                and message == stored.message
                and verify_partial(self.public, member, stored.message, partial, self.backend)
            )
            if ok:
                self._verified[key] = partial
                valid[member] = partial
            else:
                why = mismatch(stored.id.last_nonce, stored.message, last, message) or (
                    f"does not verify against member {member}'s public share"
                )
                metrics.PARTIALS_RECEIVED.labels(str(member), "invalid").inc()
                log.warning("partial_invalid", batch=str(bid), member=member, on="aggregation", why=why)
                self._remember_rejection(stored.id, member, Judgement(PartialOutcome.INVALID, why))
                await self.store.drop_partial(bid, member)
        if len(valid) < self.public.threshold:
            return False
        try:
            signature = combine(self.public, valid, self.backend)
        except NotEnoughPartials:
            return False
        if not verify(self.public.group_public_key, stored.message, signature, self.backend):
            log.error("combined_signature_invalid", batch=str(bid), members=sorted(valid))
            return False
        await self.store.set_batch_state(
            stored.id,
            BatchState.AGGREGATED,
            f"signed by {sorted(valid)[: self.public.threshold]}",
            signature=signature,
        )
        for member in valid:
            self._verified.pop((stored.id, member), None)
        metrics.BATCHES_AGGREGATED.inc()
        log.info("batch_aggregated", batch=str(stored.id), members=sorted(valid))
        self._wake_submitter(stored.id.route.dst)
        crashpoint("after_combine")
        return True

    # ---- refunds -------------------------------------------------------------------------

    async def approve_refunds(self) -> None:
        """Check every failure seen final and sign (record, then publish) its refund once."""
        for r in await self.store.refunds([RefundState.OBSERVED], limit=100):
            chain = self.chains.get(r.route.dst)
            if chain is None or r.route in self.halted:
                continue
            own = await self.store.transfer(r.route, r.nonce)
            try:
                status = await chain.transfer_status(r.route.src, r.nonce)
            except Exception as exc:
                log.warning("refund_status_check_failed", route=str(r.route), nonce=r.nonce, error=repr(exc))
                continue
            verdict = decide_refund(own, status)
            if verdict.decision is RefundDecision.REFUSE:
                await self.store.set_refund_state(r.route, r.nonce, RefundState.REFUSED, verdict.why)
                log.critical("refund_refused", route=str(r.route), nonce=r.nonce, why=verdict.why)
                continue
            if verdict.decision is RefundDecision.WAIT or own is None:
                continue
            src_endpoint = self.cfg.chain_by_id(r.route.src).endpoint
            message = refund_message(own, src_endpoint, self.public.key_epoch)
            partial = partial_sign(self.share, message, self.backend) if self.share is not None else None
            try:
                kept = await self.store.approve_refund(
                    r.route, r.nonce, self.public.key_epoch, message, partial
                )
            except Equivocation as exc:
                metrics.EQUIVOCATIONS_REFUSED.inc()
                log.error("equivocation_refused", route=str(r.route), nonce=r.nonce, error=str(exc))
                continue
            log.info("refund_approved", route=str(r.route), nonce=r.nonce, signer=kept is not None)
            if kept is not None:
                metrics.REFUNDS_SIGNED.inc()
                await self.store.put_refund_partial(r.route, r.nonce, self.cfg.member_index, message, kept)
                self._publish_refund(r.route, r.nonce, self.public.key_epoch, message, kept)
            await self.try_aggregate_refund(r.route, r.nonce)

    def _publish_refund(self, route: Route, nonce: int, epoch: int, message: bytes, partial: bytes) -> None:
        self.transport.publish_refund(
            RefundPartialMessage(self.cfg.member_index, route, nonce, epoch, message, partial)
        )

    async def republish_refunds(self) -> None:
        """Re-publish this member's refund partials until the refund is final on the source."""
        states = [RefundState.APPROVED, RefundState.AGGREGATED, RefundState.SUBMITTED]
        for r in await self.store.refunds(states, limit=200):
            if r.partial is not None and r.message is not None and r.key_epoch is not None:
                self._publish_refund(r.route, r.nonce, r.key_epoch, r.message, r.partial)

    async def sweep_refunded(self) -> None:
        """Mark refunds that are final on their source (another relayer sent it, or this node
        relays nothing), so nothing is re-published for them any longer."""
        states = [RefundState.APPROVED, RefundState.AGGREGATED, RefundState.SUBMITTED]
        for r in await self.store.refunds(states, limit=100):
            chain = self.chains.get(r.route.src)
            if chain is None:
                continue
            try:
                done = await chain.is_refunded(r.route.dst, r.nonce)
            except Exception as exc:
                log.warning("refunded_check_failed", route=str(r.route), nonce=r.nonce, error=repr(exc))
                continue
            if done and await self.store.set_refund_state(
                r.route, r.nonce, RefundState.REFUNDED, "refunded on the source (final)"
            ):
                metrics.REFUNDS_REFUNDED.labels(str(r.route.src)).inc()
                log.info("transfer_refunded", route=str(r.route), nonce=r.nonce)

    async def on_refund_partial(self, msg: RefundPartialMessage) -> None:
        """Judge a refund partial from the broker (relayer.core.refunds), keep it if it earns a place,
        and aggregate when it completes a refund this node approved."""
        outcome = RefundPartialOutcome.INVALID
        try:
            async with self._aggregating:
                outcome = await self._judge_refund_partial(msg)
        finally:
            member = str(msg.member) if outcome != RefundPartialOutcome.NOT_MEMBER else "unknown"
            metrics.REFUND_PARTIALS_RECEIVED.labels(member, outcome.value).inc()
        if outcome in (
            RefundPartialOutcome.INVALID,
            RefundPartialOutcome.NOT_MEMBER,
            RefundPartialOutcome.OWN,
        ):
            log.warning(
                "refund_partial_refused",
                route=str(msg.route),
                nonce=msg.nonce,
                member=msg.member,
                outcome=outcome.value,
            )
        if outcome == RefundPartialOutcome.KEPT:
            await self.try_aggregate_refund(msg.route, msg.nonce)

    async def _judge_refund_partial(self, msg: RefundPartialMessage) -> RefundPartialOutcome:
        holds = False
        expected: bytes | None = None
        late = False
        stored: tuple[bytes, bytes] | None = None
        if msg.member in self.public.public_shares and msg.route in self.cfg.routes:
            holds = await self.store.transfer(msg.route, msg.nonce) is not None
            r = await self.store.refund(msg.route, msg.nonce)
            if r is not None:
                late = r.state not in (RefundState.OBSERVED, RefundState.APPROVED)
                expected = r.message if r.state == RefundState.APPROVED else None
            for member, message, partial in await self.store.refund_partials_for(msg.route, msg.nonce):
                if member == msg.member:
                    stored = (message, partial)
        outcome = classify_refund_partial(
            msg,
            public=self.public,
            routes=self.cfg.routes,
            own_member=self.cfg.member_index,
            holds_transfer=holds,
            expected_message=expected,
            late=late,
            stored=stored,
            backend=self.backend,
        )
        if outcome.stored:
            await self.store.put_refund_partial(msg.route, msg.nonce, msg.member, msg.message, msg.partial)
            self._verified_refunds[(msg.route, msg.nonce, msg.member)] = msg.partial
        return outcome

    async def try_aggregate_refund(self, route: Route, nonce: int) -> bool:
        async with self._aggregating:
            r = await self.store.refund(route, nonce)
            if r is None or r.state != RefundState.APPROVED or r.message is None:
                return False
            return await self._aggregate_refund(r, r.message)

    async def _aggregate_refund(self, r: StoredRefund, message: bytes) -> bool:
        valid: dict[int, bytes] = {}
        for member, their_message, partial in await self.store.refund_partials_for(r.route, r.nonce):
            key = (r.route, r.nonce, member)
            if their_message == message and (
                self._verified_refunds.get(key) == partial
                or verify_partial(self.public, member, message, partial, self.backend)
            ):
                self._verified_refunds[key] = partial
                valid[member] = partial
            else:  # an early partial on another message, or one that does not verify
                metrics.REFUND_PARTIALS_RECEIVED.labels(str(member), "invalid").inc()
                log.warning("refund_partial_invalid", route=str(r.route), nonce=r.nonce, member=member)
                await self.store.drop_refund_partial(r.route, r.nonce, member)
                self._verified_refunds.pop(key, None)
        if len(valid) < self.public.threshold:
            return False
        try:
            signature = combine(self.public, valid, self.backend)
        except NotEnoughPartials:
            return False
        if not verify(self.public.group_public_key, message, signature, self.backend):
            log.error("combined_refund_signature_invalid", route=str(r.route), nonce=r.nonce)
            return False
        await self.store.set_refund_state(
            r.route,
            r.nonce,
            RefundState.AGGREGATED,
            f"refund signed by {sorted(valid)[: self.public.threshold]}",
            signature=signature,
        )
        for member in valid:
            self._verified_refunds.pop((r.route, r.nonce, member), None)
        log.info("refund_aggregated", route=str(r.route), nonce=r.nonce, members=sorted(valid))
        return True

    # ---- the main loop -------------------------------------------------------------------

    async def tick(self) -> None:
        """One pass of batching, signing and aggregation over every route."""
        for route in self.cfg.routes:
            await self.cut_batches(route)
        periodic = time.monotonic() - self._last_republish >= self.cfg.committee.republish_interval
        for stored in await self.store.batch_heads([BatchState.PENDING], limit=500):
            if stored.id.route in self.halted:
                continue
            signed_now = await self.sign(stored)
            if signed_now or periodic or stored.id in self._fresh:
                await self.try_aggregate(stored.id)
        self._fresh.clear()
        await self.approve_refunds()
        if periodic:
            self._last_republish = time.monotonic()
            await self.republish()
            await self.sweep_refunded()
            await self.republish_refunds()
            for r in await self.store.refunds([RefundState.APPROVED], limit=100):
                await self.try_aggregate_refund(r.route, r.nonce)
            await self.sweep_executed()
        if time.monotonic() - self._last_gauges >= GAUGE_SECONDS:  # two table scans: not every tick
            self._last_gauges = time.monotonic()
            counts = await self.store.counts_by_state()
            for ts in TransferState:  # a state with none left reads 0, not its last count
                metrics.TRANSFERS_BY_STATE.labels(ts.value).set(counts.get(ts.value, 0))
            for batch_state in BatchState:
                metrics.BATCHES_BY_STATE.labels(batch_state.value).set(0)
            for state, n in (await self.store.batch_counts_by_state()).items():
                metrics.BATCHES_BY_STATE.labels(state).set(n)

    async def sweep_executed(self) -> None:
        """Mark batches that someone else executed (this node may relay nothing)."""
        for stored in await self.store.batch_heads([BatchState.PENDING], limit=100):
            bid = stored.id
            chain = self.chains.get(bid.route.dst)
            if chain is None:
                continue
            try:
                done = await chain.is_batch_executed(bid.route.src, bid.first_nonce, bid.last_nonce)
            except Exception as exc:
                metrics.RPC_ERRORS.labels(chain.cfg.name).inc()
                log.warning("executed_check_failed", batch=str(bid), error=repr(exc))
                continue
            if done:
                await self.store.set_batch_state(bid, BatchState.EXECUTED, "executed by another relayer")
                for member in self.public.members:  # verified partials it no longer needs
                    self._verified.pop((bid, member), None)
                self._observe_latency(stored)

    @staticmethod
    def _observe_latency(stored: AnyBatch) -> None:
        metrics.TRANSFER_LATENCY.observe(max(0.0, time.time() - stored.created_at))

    async def run_pipeline(self, stop: asyncio.Event) -> None:
        """Tick when a watcher stored something new (it wakes the pipeline), else every
        `poll_interval`, but not more often than every IDLE_TICK_SECONDS: the idle tick only keeps
        the books (re-publication, sweeps, gauges), and polling a chain every 0.1 s must not make
        the pipeline query its store ten times a second."""
        interval = max(IDLE_TICK_SECONDS, min(c.cfg.poll_interval for c in self.chains.values()))
        while not stop.is_set():
            try:
                await self.tick()
            except StoreUnwritable:
                pass  # nothing recorded, so nothing published; the store logged it, next pass retries
            except Exception as exc:
                log.exception("pipeline_error", error=repr(exc))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await within(interval, self._wake.wait())

    def _wake_submitter(self, dst: ChainId) -> None:
        self._submit_wake.setdefault(dst, asyncio.Event()).set()

    async def run_submitter(self, submitter: Submitter, stop: asyncio.Event) -> None:
        """Submit aggregated batches to one destination chain until asked to stop: every
        `poll_interval` (to follow sent transactions) and at once when a batch is aggregated."""
        wake = self._submit_wake.setdefault(submitter.chain.chain_id, asyncio.Event())
        interval = max(IDLE_TICK_SECONDS, submitter.chain.cfg.poll_interval)
        while not stop.is_set():
            wake.clear()
            try:
                await submitter.step()
                await submitter.report_balance()
            except Exception as exc:
                log.exception("submitter_error", chain=submitter.chain.cfg.name, error=repr(exc))
            if wake.is_set():
                continue  # aggregated while this step ran
            with contextlib.suppress(TimeoutError):
                await within(interval, _first(stop.wait(), wake.wait()))

    def _halt(self, route: Route, reason: str) -> None:
        if route not in self.halted:
            self.halted[route] = reason
            metrics.ROUTE_HALTED.labels(str(route.src), str(route.dst)).set(1)
            log.error("route_halted", route=str(route), reason=reason)

    def status(self) -> dict[str, Any]:
        return {
            "member": self.cfg.member_index,
            "threshold": self.public.threshold,
            "members_online": sorted(self.transport.online_members),
            "halted": {str(r): why for r, why in self.halted.items()},
        }


async def _first(*waits: Coroutine[Any, Any, Any]) -> None:
    """Return when the first of `waits` returns; the others are cancelled."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
