"""One Qiao node: builds the stages, wires them together and runs their loops.

The stages keep their state in the store and read the route halts (relayer.pipeline.halts); each
loop reads durable state, does one step and writes the result in one transaction, so a crash
anywhere resumes from the file. Beside those they share what this module wires: the aggregator
and the refunder hold one lock (the transport and the pipeline both judge partials, one at a
time), the watcher wakes the pipeline when it stored something new, the aggregator wakes the
submitter of a batch's destination chain when it aggregated one, and the tick signs and
aggregates at once the batches the batcher just cut. The stages live in their own modules; this
one builds them, ticks them in order and owns the events that wake the loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from committee.bls import BlsBackend
from committee.threshold import CommitteePublic, KeyShare
from relayer import metrics
from relayer.adapters.aio import within
from relayer.adapters.chain import ChainClient
from relayer.adapters.store import Store, StoreUnwritable
from relayer.adapters.transport import Transport
from relayer.config import NodeConfig
from relayer.core.keyring import EndpointEpochs, Keyring
from relayer.core.lifecycle import ItemKind, item_phases
from relayer.core.messages import PartialMessage, RefundPartialMessage, SentMessage
from relayer.core.partials import Rejection
from relayer.core.states import AnyBatch, BatchHead, BatchState, RefundState, TransferState
from relayer.core.txmath import batch_rank
from relayer.core.types import BatchId, ChainId, Route
from relayer.pipeline.actions import ActionStage
from relayer.pipeline.aggregator import Aggregator
from relayer.pipeline.batcher import Batcher
from relayer.pipeline.halts import Halt, Halts
from relayer.pipeline.refunder import Refunder
from relayer.pipeline.releaser import Releaser
from relayer.pipeline.signer import Signer
from relayer.pipeline.submitter import Submitter
from relayer.pipeline.watcher import FINALITY_STALL_SECONDS, Watcher

log = structlog.get_logger(__name__)

IDLE_TICK_SECONDS = 0.3  # the pipeline's and the submitters' loop period when nothing wakes them
GAUGE_SECONDS = 1.0  # how often the per-state gauges are recomputed
REGISTRY_CHECK_SECONDS = 30.0  # how often the follower registries are compared with the source
EPOCH_CHECK_SECONDS = 5.0  # how often each endpoint's key epoch is read (a rotation switches live)
# a batch a later turn holds back for another relayer's pending transaction is read at the pending
# state again this long after it was last read so, not at every pass (`Node._still_held`)
HELD_REREAD_SECONDS = 10.0


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
    halts: Halts = field(default_factory=Halts)
    finality_stall_seconds: float = FINALITY_STALL_SECONDS
    # the key epochs this member holds (None: `public` and `share`, one epoch); with the next
    # key's files configured ([committee.next]) it switches live at a rotation (relayer.core.keyring)
    keyring: Keyring | None = None
    epochs: EndpointEpochs = field(init=False)
    watcher: Watcher = field(init=False)
    batcher: Batcher = field(init=False)
    signer: Signer = field(init=False)
    aggregator: Aggregator = field(init=False)
    refunder: Refunder = field(init=False)
    actions: ActionStage = field(init=False)
    releasers: dict[ChainId, Releaser] = field(init=False)  # one per destination chain
    _last_republish: float = 0.0
    _last_gauges: float = -math.inf
    _last_registry_check: float = -math.inf
    _last_epoch_check: float = -math.inf
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _submit_wake: dict[ChainId, asyncio.Event] = field(default_factory=dict)
    # batches whose turn to aggregate came here while the pending state had them executed: when
    # first seen so and when last read so (monotonic; read again only HELD_REREAD_SECONDS later);
    # forgotten once aggregated or seen unexecuted (`_not_sent_yet`)
    _sent_seen: dict[BatchId, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        lock = self._lock  # the transport and the pipeline both judge and aggregate
        if self.keyring is None:
            self.keyring = Keyring.single(self.public, self.share)
        keyring = self.keyring
        self.epochs = EndpointEpochs(keyring)
        # until each endpoint is read (`refresh_epochs`): the epoch the configuration calls current
        self.epochs.seed({c.chain_id: keyring.first.epoch for c in self.cfg.chains.values()})
        self.watcher = Watcher(
            self.cfg, self.store, self.chains, self.halts, self.wake, self.finality_stall_seconds
        )
        self.batcher = Batcher(self.cfg, self.store, self.epochs, self.halts)
        self.signer = Signer(self.cfg.member_index, self.store, keyring, self.backend, self.transport)
        self.aggregator = Aggregator(
            self.cfg,
            self.store,
            keyring,
            self.backend,
            lock,
            self._wake_submitter,
            turn_delay=self._turn_delay,
            wake=self.wake,
        )
        self.refunder = Refunder(
            self.cfg,
            self.store,
            self.chains,
            keyring,
            self.epochs,
            self.backend,
            self.transport,
            self.halts,
            lock,
        )
        destinations = {r.dst for r in self.cfg.routes if r.dst in self.chains}
        self.releasers = {
            dst: Releaser(
                self.chains[dst],
                self.store,
                self.submitters,
                self.cfg.member_index,
                len(keyring.members),
                self.cfg.relayer.stagger_seconds,
                self.cfg.relayer.receipt_timeout,
                self.chains[dst].cfg.poll_interval,
                self.chains[dst].cfg.name,
                self.halts,
            )
            for dst in sorted(destinations)
        }
        self.actions = ActionStage(
            self.cfg,
            self.store,
            self.chains,
            keyring,
            self.epochs,
            self.backend,
            self.transport,
            self.submitters,
            lock,
        )

    # ---- what operations see and do (relayer.ops) ----------------------------------------

    @property
    def halted(self) -> dict[Route, str]:
        """Route -> why it is stopped, as the operator reads it (halted or paused)."""
        return self.halts.texts()

    def halt_of(self, route: Route) -> Halt | None:
        return self.halts.halt_of(route)

    def clear_halt(self, route: Route) -> Halt | None:
        """Clear an error halt on `route` (the operator's retry or reobserve)."""
        return self.halts.clear(route)

    def pause(self, route: Route, at: float) -> None:
        self.halts.pause(route, at)

    def resume(self, route: Route) -> bool:
        return self.halts.resume(route)

    @property
    def paused(self) -> frozenset[Route]:
        return self.halts.paused

    @property
    def paused_at(self) -> Mapping[Route, float]:
        return self.halts.paused_at

    def wake(self) -> None:
        """Run the pipeline's next tick now (something new was stored, or an operator acted)."""
        self._wake.set()

    def rejected_partials(self, route: Route, first_nonce: int) -> dict[int, Rejection]:
        """Member -> the last partial this node refused from it for the batch (since it started)."""
        return self.aggregator.rejected_partials(route, first_nonce)

    def _turn_delay(self, bid: BatchId) -> float:
        """Seconds after a batch's quorum that this node's turn to aggregate it comes: its rank in
        the batch's turns (the submitter's, relayer.core.txmath.batch_rank) times the stagger, if
        it relays to the batch's destination; else 0 (it aggregates as soon as it can)."""
        submitter = self.submitters.get(bid.route.dst)
        if submitter is None:
            return 0.0
        rank = batch_rank(
            submitter.member_index, submitter.committee_size, bid.route.src, bid.route.dst, bid.first_nonce
        )
        return rank * submitter.cfg.stagger_seconds

    # ---- the stages, as the daemon and the tests drive them ------------------------------

    async def watch(self, chain: ChainClient) -> None:
        await self.watcher.watch(chain)

    def head_pushed(self, chain_id: ChainId) -> None:
        """A new head of `chain_id` was pushed over its ws subscription: its watcher scans now."""
        self.watcher.head_pushed(chain_id)

    def push_state(self, chain_id: ChainId, up: bool) -> None:
        """`chain_id`'s head subscription went up or down: its watcher polls less or more."""
        self.watcher.push_state(chain_id, up)

    async def scan_once(self, chain: ChainClient) -> bool:
        return await self.watcher.scan_once(chain)

    async def cut_batches(self, route: Route) -> int:
        return await self.batcher.cut_batches(route)

    async def sign(self, stored: AnyBatch) -> bool:
        return await self.signer.sign(stored)

    async def on_partial(self, msg: PartialMessage) -> None:
        await self.aggregator.on_partial(msg)

    async def on_refund_partial(self, msg: RefundPartialMessage) -> None:
        await self.refunder.on_refund_partial(msg)

    async def on_sent(self, msg: SentMessage) -> None:
        """Another relayer's "sent batch X in tx H" notice, to the submitter of X's destination."""
        submitter = self.submitters.get(msg.batch.route.dst)
        if submitter is not None:
            submitter.on_sent(msg)

    # ---- the main loop -------------------------------------------------------------------

    async def refresh_epochs(self, *, force: bool = False) -> None:
        """Read each endpoint's key epoch (at most every EPOCH_CHECK_SECONDS): a rotation executed
        on an endpoint moves what this member signs there to the new epoch at once, if it holds
        that key; then re-key the batches an endpoint no longer accepts."""
        if not force and time.monotonic() - self._last_epoch_check < EPOCH_CHECK_SECONDS:
            return
        self._last_epoch_check = time.monotonic()
        for chain_id, chain in self.chains.items():
            try:
                key = await chain.endpoint_key()
            except Exception as exc:  # the next check reads again; until then the last read holds
                metrics.RPC_ERRORS.labels(chain.cfg.name).inc()
                log.warning("key_epoch_read_failed", chain=chain.cfg.name, error=repr(exc))
                continue
            before = self.epochs.current(chain_id)
            if self.epochs.update(chain_id, key) and before is not None:
                log.warning(
                    "endpoint_key_epoch_changed",
                    chain=chain.cfg.name,
                    old_epoch=before,
                    new_epoch=key.current,
                    held=list(self.epochs.keyring.epochs),
                    signing=self.epochs.cut_epoch(chain_id),
                )
            signing = self.epochs.cut_epoch(chain_id)
            metrics.ENDPOINT_KEY_EPOCH.labels(chain.cfg.name).set(key.current)
            metrics.MEMBER_SIGNING_EPOCH.labels(chain.cfg.name).set(-1 if signing is None else signing)
        # under the aggregators' lock: a batch or refund is never re-keyed between an aggregator's
        # read of it and its write of the combined signature
        async with self._lock:
            for route in self.cfg.routes:
                if not self.halts.stopped(route):
                    await self.batcher.rekey(route)
            await self.refunder.rekey()

    async def tick(self) -> None:
        """One pass of batching, signing and aggregation over every route."""
        await self.refresh_epochs()
        for route in self.cfg.routes:
            await self.batcher.cut_batches(route)
        periodic = time.monotonic() - self._last_republish >= self.cfg.committee.republish_interval
        pending = [
            b
            for b in await self.store.batch_heads([BatchState.PENDING], limit=500)
            if not self.halts.stopped(b.id.route)
        ]
        signed_now = await self.signer.sign_all(pending)  # one store transaction for all of them
        turns = self.aggregator.turns_come()
        tries = [
            stored
            for stored in pending
            if (
                stored.id in signed_now
                or periodic
                or stored.id in self.batcher.fresh
                or (stored.id.route, stored.id.first_nonce) in turns
            )
            and not self.aggregator.waits_for_turn(stored.id)  # asked again when it comes
        ]
        for stored in await self._not_sent_yet(tries):
            await self.aggregator.try_aggregate(stored.id)
        if periodic:  # only batches still pending here are held back
            held = {b.id for b in pending}
            self._sent_seen = {b: t for b, t in self._sent_seen.items() if b in held}
        self.batcher.fresh.clear()
        await self.refunder.approve_refunds()
        try:
            await self.actions.step()
        except Exception as exc:  # the actions' trouble never stops batches and refunds
            log.warning("action_stage_failed", error=repr(exc))
        if periodic:
            self._last_republish = time.monotonic()
            await self.signer.republish()
            await self.refunder.sweep_refunded()
            await self.refunder.republish_refunds()
            await self.actions.republish()
            for r in await self.store.refunds([RefundState.APPROVED], limit=100):
                await self.refunder.try_aggregate_refund(r.route, r.nonce)
            await self.sweep_executed()
            for dst, releaser in self.releasers.items():
                if dst not in self.submitters:  # a relayer's submit loop runs its own (run_submitter)
                    await self._release_step(releaser)
        if time.monotonic() - self._last_gauges >= GAUGE_SECONDS:  # four table scans: not every tick
            self._last_gauges = time.monotonic()
            counts = await self.store.counts_by_state()
            for ts in TransferState:  # a state with none left reads 0, not its last count
                metrics.TRANSFERS_BY_STATE.labels(ts.value).set(counts.get(ts.value, 0))
            for batch_state in BatchState:
                metrics.BATCHES_BY_STATE.labels(batch_state.value).set(0)
            batches = await self.store.batch_counts_by_state()
            for state, n in batches.items():
                metrics.BATCHES_BY_STATE.labels(state).set(n)
            refunds = await self.store.refund_counts_by_state()
            actions = await self.actions.gauges()
            by_kind = {ItemKind.BATCH: batches, ItemKind.REFUND: refunds, ItemKind.ACTION: actions}
            try:
                phases_by_kind = item_phases(by_kind)
            except ValueError as exc:  # a state this build has no phase for: the other gauges stand
                log.warning("signed_items_gauge_failed", error=str(exc))
                phases_by_kind = {}
            for kind, phases in phases_by_kind.items():  # every phase, 0 when none
                for phase, n in phases.items():
                    metrics.SIGNED_ITEMS.labels(kind, phase).set(n)
        if time.monotonic() - self._last_registry_check >= REGISTRY_CHECK_SECONDS:
            self._last_registry_check = time.monotonic()
            try:
                await self.actions.registry_mismatches()
                await self.actions.asset_mismatches()
            except Exception as exc:  # a chain that does not answer: the next check reads again
                log.warning("registry_check_failed", error=repr(exc))

    async def _not_sent_yet(self, batches: list[BatchHead]) -> list[BatchHead]:
        """`batches` less those whose turn to aggregate came here (not first in their turns)
        while the destination's pending state has them executed: another relayer sent them (or
        they executed), so this one does not combine them (the sweep records them executed once
        final; if that transaction is dropped, the next periodic pass finds them unexecuted). The
        pending states are read in one JSON-RPC batch per destination; a node that cannot say
        leaves them to be aggregated, as before. A batch is held back so for at most
        `receipt_timeout` from the first sight (as the submitter holds back for another relayer's
        pending transaction) unless the latest block has it executed (mined, only not final yet):
        then it is aggregated and the submitter's own rules apply. A held batch is read again
        HELD_REREAD_SECONDS after its last read, not at every pass (`_still_held`)."""
        late: dict[ChainId, list[BatchHead]] = {}
        skip: set[BatchId] = set()
        now = time.monotonic()
        for stored in batches:
            bid = stored.id
            if bid.route.dst in self.chains and self.aggregator.turn_came_later(bid):
                if self._still_held(bid, now):
                    skip.add(bid)  # read executed at the pending state a moment ago: still held
                else:
                    late.setdefault(bid.route.dst, []).append(stored)
        if not late:
            return [b for b in batches if b.id not in skip]
        for dst, group in late.items():
            chain = self.chains[dst]
            try:
                done = await chain.batches_pending(
                    [(b.id.route.src, b.id.first_nonce, b.id.last_nonce) for b in group]
                )
            except Exception as exc:  # aggregated as without the check
                metrics.RPC_ERRORS.labels(chain.cfg.name).inc()
                log.warning("pending_state_unavailable", batches=len(group), error=repr(exc))
                continue
            now = time.monotonic()
            expired: list[BatchHead] = []
            for b, executed in zip(group, done, strict=True):
                if not executed:
                    self._sent_seen.pop(b.id, None)
                    continue
                # held back for at most the receipt timeout from the first sight (a transaction
                # kept pending underpriced, its sender gone, must not hold the batch for ever)
                seen = self._sent_seen.get(b.id, (now, now))[0]
                self._sent_seen[b.id] = (seen, now)
                if now - seen < self.cfg.relayer.receipt_timeout:
                    skip.add(b.id)
                else:
                    expired.append(b)
            skip |= await self._mined(chain, expired)
        return [b for b in batches if b.id not in skip]

    def _still_held(self, bid: BatchId, now: float) -> bool:
        """Whether the batch was read executed at the pending state (another relayer's
        transaction waiting) less than HELD_REREAD_SECONDS ago, inside its hold: it is not read
        again at every pass. A node re-reading every held batch every pass made one `eth_call`
        at the pending tag per batch every 2 s, and an anvil builds its pending block afresh,
        executing every waiting transaction, for each (benchmarks/notes.md, fifth round); a
        transaction dropped meanwhile is taken over at most HELD_REREAD_SECONDS later."""
        if bid not in self._sent_seen:
            return False
        seen, read = self._sent_seen[bid]
        return now - read < HELD_REREAD_SECONDS and now - seen < self.cfg.relayer.receipt_timeout

    @staticmethod
    async def _mined(chain: ChainClient, group: list[BatchHead]) -> set[BatchId]:
        """Those of `group` executed in the latest block: mined, waiting for finality (the sweep
        marks them executed once final), not a transaction pending for ever; one JSON-RPC batch.
        A node that cannot say lets their hold lapse."""
        if not group:
            return set()
        try:
            ranges: list[tuple[ChainId, int, int]] = [
                (b.id.route.src, b.id.first_nonce, b.id.last_nonce) for b in group
            ]
            mined = await chain.batches_mined(ranges)
        except Exception as exc:
            metrics.RPC_ERRORS.labels(chain.cfg.name).inc()
            log.warning("executed_check_failed", batches=len(group), error=repr(exc))
            return set()
        return {b.id for b, m in zip(group, mined, strict=True) if m}

    async def sweep_executed(self) -> None:
        """Mark batches that someone else executed (this node may relay nothing)."""
        by_dst: dict[ChainId, list[BatchHead]] = {}
        for stored in await self.store.batch_heads([BatchState.PENDING], limit=100):
            if stored.id.route.dst in self.chains:
                by_dst.setdefault(stored.id.route.dst, []).append(stored)
        for dst, group in by_dst.items():  # one JSON-RPC batch per destination
            chain = self.chains[dst]
            try:
                done = await chain.batches_executed(
                    [(b.id.route.src, b.id.first_nonce, b.id.last_nonce) for b in group]
                )
            except Exception as exc:
                metrics.RPC_ERRORS.labels(chain.cfg.name).inc()
                log.warning("executed_check_failed", batches=len(group), error=repr(exc))
                continue
            for stored, executed in zip(group, done, strict=True):
                if executed:
                    bid = stored.id
                    await self.store.set_batch_state(bid, BatchState.EXECUTED, "executed by another relayer")
                    self.aggregator.forget(bid)  # verified partials it no longer needs
                    self._observe_latency(stored)

    @staticmethod
    async def _release_step(releaser: Releaser) -> None:
        """One step of a destination's release stage; its trouble never stops the loop it runs in."""
        try:
            await releaser.step()
        except Exception as exc:
            log.warning("release_stage_failed", chain=releaser.name, error=repr(exc))

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
            # cleared before the tick: a wake-up during it (a scan that completed a window, sent
            # once) runs the next tick at once instead of being lost until the interval ends
            self._wake.clear()
            try:
                await self.tick()
            except StoreUnwritable:
                pass  # nothing recorded, so nothing published; the store logged it, next pass retries
            except Exception as exc:
                log.exception("pipeline_error", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await within(interval, self._wake.wait())

    def _wake_submitter(self, dst: ChainId) -> None:
        self._submit_wake.setdefault(dst, asyncio.Event()).set()

    async def run_submitter(self, submitter: Submitter, stop: asyncio.Event) -> None:
        """Submit aggregated batches to one destination chain until asked to stop: every
        `poll_interval` (to follow sent transactions) and at once when a batch is aggregated.
        While an operator paused a route into the chain, the submitter stands by (its balance is
        still reported)."""
        wake = self._submit_wake.setdefault(submitter.chain.chain_id, asyncio.Event())
        submitter.quorum_at = self.aggregator.quorum_at  # its stagger counts from the quorum too
        interval = max(IDLE_TICK_SECONDS, submitter.chain.cfg.poll_interval)
        while not stop.is_set():
            wake.clear()
            try:
                if not self.halts.dst_paused(submitter.chain.chain_id):  # stands by while paused
                    await submitter.step()
                    releaser = self.releasers.get(submitter.chain.chain_id)
                    if releaser is not None:
                        await self._release_step(releaser)
                await submitter.report_balance()
            except Exception as exc:
                log.exception("submitter_error", chain=submitter.chain.cfg.name, error=repr(exc))
            if wake.is_set():
                continue  # aggregated while this step ran
            with contextlib.suppress(TimeoutError):
                await within(interval, _first(stop.wait(), wake.wait()))


async def _first(*waits: Coroutine[Any, Any, Any]) -> None:
    """Return when the first of `waits` returns; the others are cancelled."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
