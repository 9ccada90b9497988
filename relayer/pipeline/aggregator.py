"""The aggregator stage: judges the members' partials for batches this node cut and combines t of them.

Each partial from the broker is judged (relayer.core.partials) and kept only if it earns a place;
when t verified partials agree on a batch, their combined signature is checked and recorded and
the submitter of the batch's destination is woken. Refused partials are remembered in memory for
the operator's batch view (bounded; a restart forgets them).

Aggregation goes by turn (issue 20): a relayer combines a batch at once only if it is the first in
the batch's turns (`relayer.core.txmath.batch_rank`, the submitter's); a relayer of rank r waits
r * stagger from the moment t partials were kept here (the quorum, not its own aggregation: the
submitter counts its stagger from the same moment, `quorum_at`), and then combines only if the
batch is not sent or executed by then (the node reads the pending state first, `Node.tick`). So
under a backlog one member in n combines and verifies each batch, not all n. Partials are still
judged on arrival by every member, so what the store keeps is what it kept before.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from committee.bls import BlsBackend
from relayer import metrics
from relayer.config import NodeConfig
from relayer.core.arrivals import Facts, Judgement, PartialOutcome
from relayer.core.keyring import Keyring
from relayer.core.messages import PartialMessage
from relayer.core.partials import (
    PENDING_HORIZON,
    REMEMBERED,
    OwnBatch,
    Rejection,
    StoredPartial,
    batch_facts,
    mismatch,
)
from relayer.core.states import BatchHead, BatchState
from relayer.core.types import BatchId, ChainId, Route
from relayer.pipeline.crashpoints import crashpoint
from relayer.pipeline.ports import AggregateStore
from relayer.pipeline.signing import Offered, Partials

log = structlog.get_logger(__name__)

KEPT_REMEMBERED = 20_000  # partials (and aggregated batches) the store keeps, mirrored in memory
REJECTIONS_KEPT = 10_000  # refused partials remembered for the operator's batch view (oldest go first)


@dataclass
class Aggregator:
    """Judges and combines partials; `lock` is shared with the refund stage (one judge at a time:
    the transport and the pipeline both call in), `wake_submitter` is told a batch's destination."""

    cfg: NodeConfig
    store: AggregateStore
    public: Keyring  # the key epochs this member holds (relayer.core.keyring)
    backend: BlsBackend
    lock: asyncio.Lock
    wake_submitter: Callable[[ChainId], None]
    # seconds after the quorum that this node's turn to aggregate a batch comes (rank * stagger of
    # the batch's turns, relayer.core.txmath.batch_rank); 0: at once (a node that relays nothing
    # to the batch's destination aggregates as soon as it can, as it always did)
    turn_delay: Callable[[BatchId], float] = lambda bid: 0.0
    wake: Callable[[], None] | None = None  # the pipeline's tick, run when a turn comes
    partials: Partials = field(init=False)
    # the last partial refused per (route, first nonce, member), why and when: in memory only, so a
    # flood of bad partials costs no disk and a restart forgets them (relayer.core.partials.Rejection)
    rejections: OrderedDict[tuple[Route, int, int], Rejection] = field(default_factory=OrderedDict)
    _next_nonces: dict[Route, int] = field(default_factory=dict)  # per route, as last read (`_next_nonce`)
    # what the store keeps per (route, first nonce, member), as this node last read or wrote it, and
    # the batches it aggregated: a re-published partial it holds already is answered from memory
    # (`_known_again`); bounded, the oldest go first (a miss only costs the store's read)
    _kept: OrderedDict[tuple[Route, int, int], StoredPartial] = field(default_factory=OrderedDict)
    _aggregated: OrderedDict[tuple[Route, int], None] = field(default_factory=OrderedDict)
    # when t partials were first kept here for a batch: (wall clock, monotonic clock); the turns
    # count from the monotonic one (a clock stepped back must not hold a batch back), the
    # submitter's stagger from the wall one (`quorum_at`, beside the store's wall-clock times)
    _quorum: OrderedDict[tuple[Route, int], tuple[float, float]] = field(default_factory=OrderedDict)
    # batches waiting for this node's turn to aggregate them: when it comes (monotonic clock)
    _turns: dict[tuple[Route, int], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.partials = Partials(
            self.public, self.backend, self.cfg.member_index, self.lock, metrics.PARTIALS_RECEIVED
        )

    def forget(self, bid: BatchId) -> None:
        """Drop the verified partials of a batch that no longer needs them (executed elsewhere)."""
        self.partials.forget(bid)
        for member in self.public.members:
            self._kept.pop((bid.route, bid.first_nonce, int(member)), None)
        self._aggregated.pop((bid.route, bid.first_nonce), None)
        self._quorum.pop((bid.route, bid.first_nonce), None)
        self._turns.pop((bid.route, bid.first_nonce), None)

    # ---- turns ---------------------------------------------------------------------------

    def quorum_at(self, bid: BatchId) -> float | None:
        """When t partials were first kept here for the batch (wall clock), or None if not seen
        since this node started: the submitter counts its stagger from it."""
        seen = self._quorum.get((bid.route, bid.first_nonce))
        return None if seen is None else seen[0]

    def _quorum_mono(self, bid: BatchId) -> float | None:
        seen = self._quorum.get((bid.route, bid.first_nonce))
        return None if seen is None else seen[1]

    def _note_quorum(self, bid: BatchId) -> float:
        """Note the batch's quorum (the first time only); the seconds until this node's turn."""
        key = (bid.route, bid.first_nonce)
        seen = self._quorum.get(key)
        if seen is None:
            seen = self._quorum[key] = (time.time(), time.monotonic())
            while len(self._quorum) > KEPT_REMEMBERED:
                self._quorum.popitem(last=False)
        at = seen[1]
        delay = self.turn_delay(bid)
        left = at + delay - time.monotonic()
        if left > 0:
            if key not in self._turns and self.wake is not None:
                asyncio.get_running_loop().call_later(left, self.wake)
            self._turns[key] = at + delay
        return left

    def turns_come(self) -> set[tuple[Route, int]]:
        """The batches (route, first nonce) whose turn to aggregate came here since last asked,
        and forgets them: the tick tries each once (then the periodic pass, as any other)."""
        now = time.monotonic()
        come = {key for key, due in self._turns.items() if due <= now}
        for key in come:
            del self._turns[key]
        return come

    def waits_for_turn(self, bid: BatchId) -> bool:
        """Whether the batch has its quorum here and this node's turn to aggregate it is still to
        come (nothing to try before: `turns_come` names it when it comes)."""
        at = self._quorum_mono(bid)
        return at is not None and at + self.turn_delay(bid) > time.monotonic()

    def turn_came_later(self, bid: BatchId) -> bool:
        """Whether this node's turn to aggregate the batch came after another relayer's (its rank
        is not first, and its quorum was seen here): the batch may be sent already."""
        delay = self.turn_delay(bid)
        at = self._quorum_mono(bid)
        return delay > 0 and at is not None and at + delay <= time.monotonic()

    def _note_kept(self, bid: BatchId, member: int, stored: StoredPartial | None) -> None:
        key = (bid.route, bid.first_nonce, member)
        self._kept.pop(key, None)
        if stored is not None:
            self._kept[key] = stored
            while len(self._kept) > KEPT_REMEMBERED:
                self._kept.popitem(last=False)

    def _reconcile(
        self, bid: BatchId, stored: BatchHead | None, partials: list[tuple[int, int, bytes, bytes]]
    ) -> None:
        """Make what is remembered of a batch what the store says (each aggregation attempt, and
        the tick tries every pending batch every re-publication interval): a partial the store
        dropped by any path is taken again at its next re-publication."""
        held = {m: StoredPartial(last, message, partial) for m, last, message, partial in partials}
        for member in self.public.members:
            self._note_kept(bid, int(member), held.get(int(member)))
        if stored is not None and stored.state == BatchState.PENDING:
            self._aggregated.pop((bid.route, bid.first_nonce), None)

    def _known_again(self, msg: PartialMessage) -> Facts | None:
        """The facts of a partial exactly like the one the store keeps for its member (a
        re-publication, an echo), from memory: a duplicate, or late if this node aggregated the
        batch. None: not known so (the store is read). Only ever an answer that keeps nothing: the
        store holds these very bytes already (or dropped them with a batch that executed or was
        re-keyed, which no longer needs them)."""
        bid = msg.batch
        if self._kept.get((bid.route, bid.first_nonce, msg.member)) != StoredPartial(
            bid.last_nonce, msg.message, msg.partial
        ):
            return None
        late = "arrived after this node's batch was aggregated"
        aggregated = (bid.route, bid.first_nonce) in self._aggregated
        return Facts(late=late if aggregated else None, duplicate=True)

    async def on_partial(self, msg: PartialMessage) -> None:
        """Judge a partial from the broker (relayer.core.partials), store it if it earns a place, and
        aggregate when it completes a batch this node cut. Counted once under its outcome."""
        kept: set[int] = set()  # the members whose partials the store keeps for the batch, this one too
        judged = await self.partials.judge(
            msg, lambda: self._facts(msg, kept), lambda j: self._keep(msg, j, kept)
        )
        outcome = judged.outcome
        if outcome in REMEMBERED:
            self._remember_rejection(msg.batch, msg.member, judged)
        if outcome == PartialOutcome.INVALID:
            log.warning(
                "partial_invalid", batch=str(msg.batch), member=msg.member, on="arrival", why=judged.why
            )
        elif outcome in (PartialOutcome.NOT_MEMBER, PartialOutcome.OWN):
            log.warning("partial_refused", batch=str(msg.batch), member=msg.member, outcome=outcome.value)
        if (
            outcome == PartialOutcome.KEPT
            and self._may_complete(msg, kept)
            and self._note_quorum(msg.batch) <= 0  # this node's turn (or it relays nothing there)
        ):
            await self.try_aggregate(msg.batch)

    def _may_complete(self, msg: PartialMessage, kept: set[int]) -> bool:
        """Whether the store may now keep t partials for the batch (fewer cannot combine: the
        aggregation's reads are skipped; the tick tries again whenever this node signs a batch)."""
        committee = self.public.public(msg.key_epoch)
        return committee is None or len(kept) >= committee.threshold

    def _remember_rejection(self, bid: BatchId, member: int, judged: Judgement) -> None:
        key = (bid.route, bid.first_nonce, member)
        self.rejections.pop(key, None)
        self.rejections[key] = Rejection(judged.outcome, judged.why, time.time())
        while len(self.rejections) > REJECTIONS_KEPT:
            self.rejections.popitem(last=False)

    def rejected_partials(self, route: Route, first_nonce: int) -> dict[int, Rejection]:
        """Member -> the last partial this node refused from it for the batch (since it started)."""
        return {m: r for (rt, first, m), r in self.rejections.items() if rt == route and first == first_nonce}

    async def _next_nonce(self, route: Route, first_nonce: int) -> int:
        """The route's next nonce to batch, as far as judging `first_nonce` needs it: it only grows,
        so the last one read answers until a partial is further ahead than it allows."""
        known = self._next_nonces.get(route, 1)
        if first_nonce > known + PENDING_HORIZON:
            _, known = await self.store.route_progress(route)
            self._next_nonces[route] = known
        return known

    async def _facts(self, msg: PartialMessage, kept: set[int]) -> Facts:
        ours: OwnBatch | None = None
        stored: StoredPartial | None = None
        next_nonce = 1
        if self.public.is_member(msg.member) and msg.batch.route in self.cfg.routes:
            again = self._known_again(msg)
            if again is not None:
                return again
            next_nonce = await self._next_nonce(msg.batch.route, msg.batch.first_nonce)
            batch, partials = await self.store.batch_and_partials(msg.batch)
            if batch is not None:
                ours = OwnBatch(batch.id.last_nonce, batch.message, batch.state == BatchState.PENDING)
            for member, last, message, partial in partials:
                kept.add(member)
                if member == msg.member:
                    stored = StoredPartial(last, message, partial)
            self._note_kept(msg.batch, msg.member, stored)
        return batch_facts(msg, self.cfg.routes, next_nonce, ours, stored)

    async def _keep(self, msg: PartialMessage, judged: Judgement, kept: set[int]) -> None:
        # the member's latest valid word replaces its earlier one
        await self.store.put_partial(msg.batch, msg.member, msg.message, msg.partial)
        kept.add(msg.member)
        self._note_kept(msg.batch, msg.member, StoredPartial(msg.batch.last_nonce, msg.message, msg.partial))
        self.rejections.pop((msg.batch.route, msg.batch.first_nonce, msg.member), None)
        if judged.outcome == PartialOutcome.KEPT:
            self.partials.verified(msg.batch, msg.member, msg.message, msg.partial, msg.key_epoch)

    async def try_aggregate(self, bid: BatchId) -> bool:
        """Combine t verified partials for a batch this node cut itself; True once aggregated."""
        async with self.lock:  # the transport and the pipeline both call this
            return await self._try_aggregate(bid)

    async def _try_aggregate(self, bid: BatchId) -> bool:
        stored, partials = await self.store.batch_and_partials(bid)
        self._reconcile(bid, stored, partials)
        if stored is None or stored.state != BatchState.PENDING:
            return False
        committee = self.public.public(stored.key_epoch)
        if (
            committee is not None
            and len(partials) >= committee.threshold
            and self._note_quorum(stored.id) > 0
        ):
            return False  # not this node's turn yet: the relayer whose turn it is combines it
        last = stored.id.last_nonce
        offered = [
            Offered(member, message, partial, mismatch(last, stored.message, their_last, message))
            for member, their_last, message, partial in partials
        ]
        combined = self.partials.combine(stored.id, stored.message, offered, stored.key_epoch)
        for member, why in combined.invalid:
            metrics.PARTIALS_RECEIVED.labels(str(member), "invalid").inc()
            log.warning("partial_invalid", batch=str(bid), member=member, on="aggregation", why=why)
            self._remember_rejection(stored.id, member, Judgement(PartialOutcome.INVALID, why))
            await self.store.drop_partial(bid, member)
            self._note_kept(bid, member, None)
        if combined.unverified:
            log.error("combined_signature_invalid", batch=str(bid), members=list(combined.valid))
        if combined.signature is None:
            return False
        await self.store.set_batch_state(
            stored.id,
            BatchState.AGGREGATED,
            f"signed by {list(combined.members)}",
            signature=combined.signature,
        )
        metrics.BATCHES_AGGREGATED.inc()
        self._aggregated[(bid.route, bid.first_nonce)] = None
        while len(self._aggregated) > KEPT_REMEMBERED:
            self._aggregated.popitem(last=False)
        log.info("batch_aggregated", batch=str(stored.id), members=list(combined.valid))
        self.wake_submitter(stored.id.route.dst)
        crashpoint("after_combine")
        return True
