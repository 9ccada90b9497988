"""The submit stage for one chain: sends its aggregated batches (and the refunds it is the source of).

Relayers are staggered: for each batch the members take turns by rank (`batch_rank`: the first is
given by a hash of the batch's route and first nonce, `relayer.core.txmath.turn`; refunds rotate by
nonce, `rank`), each waiting `rank * stagger_seconds` after the batch was aggregated, and every
relayer checks the contract's executed bitmap (and the node's pending state) before it sends, so
normally one transaction lands and the others stand by, taking over only if it does not land.
Under a backlog several turns come at once: a relayer announces on the broker the batch it is
about to send and then its transaction (`announce`, relayer.core.messages.SentMessage), and one
whose turn comes later holds back on it, within the bounds relayer.core.notices sets (an
unauthenticated hint: a forged notice delays a batch by a grace at most).

The account's transactions go out through its `TxSender` (`relayer.adapters.txsender`): signed,
recorded in the store, then broadcast, with the next nonce the chain reports as pending (so a
dropped transaction's nonce is reused and no gap can form). This stage decides what to send and
when: a transaction not mined within `receipt_timeout` is replaced with the same nonce and fees
raised by `fee_bump_percent`, never above the fee cap (`relayer.core.txmath.send_fees`). If the
nonce was used by another transaction of the same account, the batch goes back to be sent with a
fresh nonce. A deterministic revert is recorded as a failure and never retried; a batch the
endpoint refuses because it is paused waits for the resume, and a revert on state that moves (a race
with another relayer, a reorg) is retried up to MAX_REVERTS times (`relayer.core.reverts`). What it
remembers per batch or refund (revert counts, pause waits, timers) is forgotten once it is no
longer in flight.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog
from eth_account.signers.local import LocalAccount

from relayer import metrics
from relayer.adapters.chain import ChainClient
from relayer.adapters.store import Store
from relayer.adapters.txsender import Quote, Receipt, Reverted, TxSender
from relayer.config import RelayerConfig
from relayer.core.calldata import execute_batch_data, refund_data
from relayer.core.clock import Elapsed
from relayer.core.lifecycle import Outcome, OutcomeKind, confirmed, not_ready, refused, retry, sent
from relayer.core.messages import SentMessage
from relayer.core.notices import Verdict, claim_holds, holds, judge
from relayer.core.reverts import (
    RevertKind,
    classify_refund_revert,
    classify_revert,
    executed_per_check,
    revert_name,
)
from relayer.core.states import AnyBatch, BatchState, RefundState, StoredBatch, StoredRefund, TxRecord
from relayer.core.txmath import batch_gas_bound, batch_rank, refund_rank
from relayer.core.types import Batch, BatchId
from relayer.pipeline.crashpoints import crashpoint

log = structlog.get_logger(__name__)

MAX_REVERTS = 3
BALANCE_SECONDS = 2.0  # the account balance is read at most this often
STEP_BATCHES = 200  # batches looked at per step; those not yet this relayer's turn cost no RPC
MAX_NOTICES = 10_000  # other relayers' "sent batch X in tx H" notices kept (the oldest go first)
# a relayer claims a batch (a notice without a transaction: CLAIM) before its estimate, and names
# the transaction once signed, just before broadcasting it: a claim, or a transaction the node does
# not know yet, holds a relayer that ranks after the claimant for at most max(this, stagger) after
# it first consulted a notice for the batch (then it is taken for forged or lost: as without one)
NOTICE_GRACE_SECONDS = 1.0
CLAIM = bytes(32)  # the tx hash of a claim: no transaction yet


@dataclass(frozen=True, slots=True)
class BatchKey:
    """A batch's revert count and pause wait are kept under its route and first nonce."""

    src: int
    dst: int
    first_nonce: int

    @staticmethod
    def of(bid: BatchId) -> BatchKey:
        return BatchKey(bid.route.src, bid.route.dst, bid.first_nonce)


@dataclass(frozen=True, slots=True)
class RefundKey:
    """A refund's (its source is this chain) under its transfer's destination and nonce."""

    dst: int
    nonce: int


class Submitter:
    def __init__(
        self,
        chain: ChainClient,
        store: Store,
        account: LocalAccount,
        cfg: RelayerConfig,
        member_index: int,
        committee_size: int,
    ) -> None:
        self.chain = chain
        self.store = store
        self.account = account
        self.cfg = cfg
        self.member_index = member_index
        self.committee_size = committee_size
        self.sender = TxSender(chain, account, cfg)
        self._lock = asyncio.Lock()
        # one sender of this account's transactions at a time (batches, refunds, actions): each
        # takes the account's pending nonce, so two sending at once would pick the same one
        self.send_lock = self._lock
        self._reverts: dict[BatchKey | RefundKey, int] = {}  # reverts seen, of those in flight
        self._waiting: set[BatchKey | RefundKey] = set()  # batches held by a pause; refunds waiting
        self._low_balance_reported = False
        # stagger and receipt timeout survive a wall-clock step; batches and refunds are kept
        # apart so each step forgets only its own events that are no longer in flight
        self._elapsed = Elapsed()
        self._refund_elapsed = Elapsed()
        self._followed: dict[BatchId, float] = {}  # when each batch in flight was last followed
        self._pending_seen: dict[BatchId, float] = {}  # another relayer's tx first seen pending
        self._balance_read = -math.inf
        self._refunds_stepped = -math.inf
        self._pending_overdue: set[BatchId] = set()  # warned once: pending elsewhere too long
        # publishes this relayer's "sent batch X in tx H" notices (the daemon points it at the
        # transport); None: no notices are published
        self.announce: Callable[[SentMessage], None] | None = None
        # other relayers' notices (relayer.core.notices): batch -> (member, tx hash), and the
        # verdict on the tx last checked
        self._notices: OrderedDict[BatchId, tuple[int, str]] = OrderedDict()
        # when this relayer first consulted a notice for each batch in flight: the hold is
        # measured from it and it is kept while the batch is in flight, so neither a notice sent
        # long before the batch was due nor one re-sent after a flood pushed the batch's entry out
        # of `_notices` restarts the clock (review N1)
        self._notice_first: dict[BatchId, float] = {}
        self._claimed: dict[BatchId, float] = {}  # when this relayer last claimed each batch
        self._notice_verdicts: dict[BatchId, tuple[str, Verdict]] = {}
        self._notice_dismissed: set[tuple[BatchId, str]] = set()  # logged once
        # the pending state of a step's batches whose turn has come, read in one JSON-RPC batch
        # at the step's start, and when; used for at most a poll interval
        self._pending_read: dict[BatchId, bool] = {}
        self._pending_read_at = -math.inf
        # batches sent with the computed gas bound (`batch_gas_bound`) whose transaction reverted
        # once mined: sent with an estimate from then on, while in flight; and the limit of each
        # transaction sent with the bound, to tell an out-of-gas revert
        self._estimate_next: set[BatchKey] = set()
        self._bounded: dict[tuple[BatchId, str], int] = {}
        self._block_gas_limit: int | None = None  # the latest block's, as last read
        self._mints: bool | None = None  # whether the endpoint delivers by minting (`_bound_applies`)
        # when the node's aggregator first kept t partials of a batch (wall clock; None: not seen):
        # the turns count from it, as the aggregation's turns do (relayer.pipeline.aggregator), so
        # a relayer that aggregated a batch only when its turn came sends it at once
        self.quorum_at: Callable[[BatchId], float | None] = lambda bid: None

    def rank(self, first_nonce: int) -> int:
        """This relayer's place in the turns of a refund of `first_nonce`: 0 sends at once."""
        return refund_rank(self.member_index, self.committee_size, first_nonce)

    def batch_rank(self, stored: AnyBatch) -> int:
        """This relayer's place in the turns of a batch (`relayer.core.txmath.turn`): 0 sends at once."""
        bid = stored.id
        return batch_rank(
            self.member_index, self.committee_size, bid.route.src, bid.route.dst, bid.first_nonce
        )

    async def step(self) -> None:
        """Handle every aggregated or submitted batch for this chain once: sends first, then the
        follow-up of transactions in flight, each at most once per `poll_interval` (the step also
        runs whenever a batch is aggregated, and following is four RPCs a batch)."""
        async with self._lock:
            batches = await self.store.batch_heads(
                [BatchState.AGGREGATED, BatchState.SUBMITTED], dst=self.chain.chain_id, limit=STEP_BATCHES
            )
            in_flight = {stored.id for stored in batches}
            self._elapsed.retain(lambda key: isinstance(key, tuple) and key[0] in in_flight)
            self._followed = {bid: t for bid, t in self._followed.items() if bid in in_flight}
            self._pending_seen = {bid: t for bid, t in self._pending_seen.items() if bid in in_flight}
            self._pending_overdue &= in_flight
            self._notice_verdicts = {b: v for b, v in self._notice_verdicts.items() if b in in_flight}
            self._notice_first = {b: t for b, t in self._notice_first.items() if b in in_flight}
            self._claimed = {b: t for b, t in self._claimed.items() if b in in_flight}
            self._notice_dismissed = {k for k in self._notice_dismissed if k[0] in in_flight}
            keys = {BatchKey.of(bid) for bid in in_flight}
            self._reverts = {k: n for k, n in self._reverts.items() if isinstance(k, RefundKey) or k in keys}
            self._waiting = {k for k in self._waiting if isinstance(k, RefundKey) or k in keys}
            self._estimate_next &= keys
            self._bounded = {k: g for k, g in self._bounded.items() if k[0] in in_flight}
            await self._read_pending_of(batches)
            now = time.monotonic()
            for stored in sorted(batches, key=lambda b: b.state != BatchState.AGGREGATED):
                if stored.state == BatchState.SUBMITTED:
                    if now - self._followed.get(stored.id, -math.inf) < self.chain.cfg.poll_interval:
                        continue
                    self._followed[stored.id] = now
                outcome = retry("the step raised")
                try:
                    outcome = await self.submit(stored)
                except Exception as exc:
                    log.warning("submit_error", batch=str(stored.id), error=repr(exc))
                finally:
                    metrics.SUBMISSIONS.labels(str(self.chain.chain_id), outcome.label).inc()
            if time.monotonic() - self._refunds_stepped >= self.chain.cfg.poll_interval:
                self._refunds_stepped = time.monotonic()  # not on every aggregation wake-up
                await self.refund_step()

    async def refund_step(self) -> None:
        """Handle every aggregated or submitted refund whose source is this chain once."""
        refunds = await self.store.refunds(
            [RefundState.AGGREGATED, RefundState.SUBMITTED], src=self.chain.chain_id, limit=50
        )
        in_flight = {(r.route.dst, r.nonce) for r in refunds}
        self._refund_elapsed.retain(lambda key: isinstance(key, tuple) and key[:2] in in_flight)
        keys = {RefundKey(dst, nonce) for dst, nonce in in_flight}
        self._reverts = {k: n for k, n in self._reverts.items() if isinstance(k, BatchKey) or k in keys}
        self._waiting = {k for k in self._waiting if isinstance(k, BatchKey) or k in keys}
        for r in refunds:
            outcome = retry("the step raised")
            try:
                outcome = await self.submit_refund(r)
            except Exception as exc:
                log.warning("refund_submit_error", route=str(r.route), nonce=r.nonce, error=repr(exc))
            finally:
                metrics.REFUND_SUBMISSIONS.labels(str(self.chain.chain_id), outcome.label).inc()

    async def submit_refund(self, r: StoredRefund) -> Outcome:
        """Send `refund(keyEpoch, transfer, signature)` on the source, once it is this relayer's
        turn, unless the source already refunded it; a refund is recorded refunded only once the
        block that refunded it is final."""
        dst, nonce = r.route.dst, r.nonce
        if await self.chain.is_refunded(dst, nonce):
            if await self.store.set_refund_state(
                r.route, nonce, RefundState.REFUNDED, "refunded on the source (final)"
            ):
                metrics.REFUNDS_REFUNDED.labels(str(self.chain.chain_id)).inc()
                log.info("transfer_refunded", route=str(r.route), nonce=nonce)
            return confirmed("refunded on the source (final)", ours=r.state == RefundState.SUBMITTED)
        if await self.chain.is_refunded(dst, nonce, final=False):
            return sent("refunded in a block not final yet")  # wait for it
        transfer = await self.store.transfer(r.route, nonce)
        if transfer is None or r.signature is None or r.key_epoch is None:
            # cannot happen: a refund is aggregated only from its own transfer
            return refused("no stored transfer, signature or key epoch for it")
        previous: TxRecord | None = None
        tx_nonce: int | None = None
        if r.state == RefundState.SUBMITTED and r.tx is not None:
            previous = r.tx
            receipt = await self.sender.receipt(r.tx.tx_hash)
            if receipt is not None and receipt.status == 1:
                return sent(f"tx {r.tx.tx_hash} mined; refunded once final")  # checked above
            if receipt is not None:
                log.warning("refund_tx_reverted", route=str(r.route), nonce=nonce, tx=r.tx.tx_hash)
                previous = None  # a fresh transaction, a fresh nonce
            elif not await self.sender.known(r.tx.tx_hash):
                metrics.TXS_DROPPED.labels(str(self.chain.chain_id)).inc()
                previous = None
            else:
                waited = self._refund_elapsed.since((dst, nonce, r.tx.tx_hash), r.tx.sent_at)
                if waited < self.cfg.receipt_timeout:
                    return sent(f"tx {r.tx.tx_hash} waits for its receipt")
                tx_nonce = r.tx.nonce  # replace it, same nonce, fees bumped
        else:
            waited = self._refund_elapsed.since((dst, nonce, "aggregated"), r.updated_at)
            if waited < self.rank(nonce) * self.cfg.stagger_seconds:
                return not_ready("not this relayer's turn yet")
        data = refund_data(self.chain.endpoint, r.key_epoch, transfer, r.signature)
        what = {"refund": f"{r.route}#{nonce}"}
        key = RefundKey(dst, nonce)
        try:
            gas = await self.sender.estimate(data)
        except Reverted as exc:
            if await self.chain.is_refunded(dst, nonce, final=False):
                return sent("refunded in a block not final yet")
            kind = classify_refund_revert(exc.data)
            if kind is RevertKind.WAIT:  # the source cannot pay it now (bucket, KYC, freeze, pause)
                if key not in self._waiting:
                    self._waiting.add(key)
                    log.warning("refund_waits", **what, reason=str(exc))
                return not_ready(f"the source cannot pay it now: {revert_name(exc.data)}")
            self._waiting.discard(key)
            self._reverts[key] = self._reverts.get(key, 0) + 1
            if kind is RevertKind.TRANSIENT and self._reverts[key] < MAX_REVERTS:
                log.warning("refund_estimate_reverted", **what, error=str(exc))
                return retry(f"estimate reverts {revert_name(exc.data)}")
            if revert_name(exc.data).startswith("KeyEpochExpired"):
                # signed under an epoch the source no longer accepts: approved again under its
                # current one (Refunder.rekey), never refused for it
                await self.store.set_refund_state(
                    r.route, nonce, RefundState.AGGREGATED, f"refund reverts {revert_name(exc.data)}: re-key"
                )
                return refused(f"refund reverts {revert_name(exc.data)}: re-key")
            await self.store.set_refund_state(r.route, nonce, RefundState.REFUSED, f"refund reverts: {exc}")
            log.error("refund_reverts", **what, error=str(exc), kind=kind.value)
            return refused(f"refund reverts: {exc}")
        self._waiting.discard(key)

        async def record(tx: TxRecord) -> None:
            await self.store.record_refund_tx(r.route, nonce, tx)

        tx = await self.sender.send(data, gas, tx_nonce, previous, record, what)
        if tx is None:
            return not_ready("fees above the cap")
        metrics.REFUNDS_SUBMITTED.labels(str(self.chain.chain_id)).inc()
        log.info("refund_submitted", **what, tx=tx.tx_hash, nonce=tx.nonce, replaces=previous is not None)
        return sent(f"tx {tx.tx_hash}")

    async def submit(self, stored: AnyBatch) -> Outcome:
        bid = stored.id
        ours = stored.state == BatchState.SUBMITTED
        if ours:
            outcome = await self._follow(stored)
            if outcome is not None:
                return outcome
            # our own transaction did not land: send again at once
            done = await self._executed_elsewhere(stored)
            if done is not None:
                return done
            return await self._send(stored, nonce=None, previous=None)
        # wait for our turn (no RPC before it: the bitmap is read once the turn comes)
        if not self._turn_came(stored):
            return not_ready("not this relayer's turn yet")
        # the pending state comes first: a batch not executed there is not executed in the latest
        # block either (the bitmap only fills), so the latest block is read only if it is. It is
        # the step's read if fresh, or read apart when another relayer's notice must be judged on
        # it before this one claims the batch; otherwise it is read with the send's own reads
        # (`_send`, one round trip)
        pending = self._pending_read.pop(bid, None)
        if pending is None or time.monotonic() - self._pending_read_at >= self.chain.cfg.poll_interval:
            if bid not in self._notices:
                return await self._send(stored, nonce=None, previous=None, defer=True)
            pending = await self._read_pending(stored)
        held = await self._held(stored, pending)
        if held is not None:
            return held
        return await self._send(stored, nonce=None, previous=None, defer=True)

    async def _held(self, stored: AnyBatch, pending: bool | None) -> Outcome | None:
        """The outcome if the batch, given its pending state, is executed elsewhere or another
        relayer's transaction for it is pending (noticed, or seen in the pending state); None
        if this relayer may send it."""
        if pending is not False:
            done = await self._executed_elsewhere(stored)
            if done is not None:
                return done
        if await self._noticed(stored, pending) or self._holds_for_pending(stored, pending is True):
            return not_ready("another relayer's transaction for it is pending")
        return None

    def _turn_came(self, stored: AnyBatch) -> bool:
        quorum = self.quorum_at(stored.id)
        start = stored.updated_at if quorum is None else min(quorum, stored.updated_at)
        waited = self._elapsed.since((stored.id, "aggregated"), start)
        return waited >= self.batch_rank(stored) * self.cfg.stagger_seconds

    async def _read_pending_of(self, batches: Sequence[AnyBatch]) -> None:
        """Read the pending state of every aggregated batch whose turn has come, in one JSON-RPC
        batch (`submit` reads a batch's own if this one is older than a poll interval)."""
        due = [b.id for b in batches if b.state == BatchState.AGGREGATED and self._turn_came(b)]
        self._pending_read = {}
        if len(due) < 2:
            return
        try:
            read = await self.chain.batches_pending([(b.route.src, b.first_nonce, b.last_nonce) for b in due])
        except Exception as exc:  # each batch's own read, as without it
            log.warning("pending_state_unavailable", batches=len(due), error=repr(exc))
            return
        self._pending_read = dict(zip(due, read, strict=True))
        self._pending_read_at = time.monotonic()

    def on_sent(self, msg: SentMessage) -> None:
        """Take another relayer's notice that it sent a batch to this chain (a hint: `_noticed`)."""
        if msg.member == self.member_index or msg.batch.route.dst != self.chain.chain_id:
            return
        tx_hash = "0x" + msg.tx_hash.hex()
        earlier = self._notices.get(msg.batch)
        # a claim never replaces a transaction's notice, nor a claim by an earlier turn (a forged
        # claim by a late turn would free the relayers the earlier claim holds back)
        if (
            earlier is not None
            and msg.tx_hash == CLAIM
            and (
                earlier[1] != "0x" + CLAIM.hex()
                or self._rank_of(earlier[0], msg.batch) <= self._rank_of(msg.member, msg.batch)
            )
        ):
            return
        self._notices.pop(msg.batch, None)
        self._notices[msg.batch] = (msg.member, tx_hash)
        while len(self._notices) > MAX_NOTICES:
            self._notices.popitem(last=False)

    async def _noticed(self, stored: AnyBatch, pending: bool | None) -> bool:
        """True while another relayer's notice says it sent the batch in a transaction the node
        holds pending (`pending`: the pending state just read), with exactly this batch's
        calldata, for at most `receipt_timeout` from when this relayer first consulted a notice
        for it (`_notice_first`, kept while the batch is in flight: relayer.core.notices); a claim
        (no transaction yet), or a transaction the node does not know yet, by a relayer whose turn
        comes first, within the grace (NOTICE_GRACE_SECONDS, or the stagger if longer) of that
        moment: a forged or stale notice holds nothing back for longer. The transaction is looked
        up once per hash (one RPC); a mined or dropped one shows in the pending state at once."""
        bid = stored.id
        notice = self._notices.get(bid)
        if notice is None:
            return False
        member, tx_hash = notice
        now = time.monotonic()
        first = self._notice_first.setdefault(bid, now)  # never restarted while in flight
        if not holds(first, now, self.cfg.receipt_timeout):
            self._dismiss(bid, member, tx_hash, "the notice is older than the receipt timeout")
            return False
        claimant = self._rank_of(member, bid)
        grace = max(NOTICE_GRACE_SECONDS, self.cfg.stagger_seconds)
        claim_held = claim_holds(claimant, self.batch_rank(stored), first, now, grace)
        if tx_hash == "0x" + CLAIM.hex():  # claimed, not sent yet: the earlier turn goes first
            return claim_held
        checked = self._notice_verdicts.get(bid)
        if checked is not None and checked[0] == tx_hash:
            verdict = checked[1]
        else:
            try:
                view = await self.sender.view(tx_hash)
            except Exception as exc:
                log.warning("sent_notice_unchecked", batch=str(bid), tx=tx_hash, error=repr(exc))
                return False
            verdict = judge(view, self.chain.endpoint.address, await self._calldata(stored))
            if verdict is Verdict.UNKNOWN and claim_held:
                return True  # announced just before its broadcast: looked up again next time
            self._notice_verdicts[bid] = (tx_hash, verdict)
        if verdict is Verdict.PENDING:
            return pending is not False  # still pending: not mined (reverted) or dropped since
        if verdict is not Verdict.MINED:
            self._dismiss(bid, member, tx_hash, verdict.value)
        return False

    def _claim_due(self, bid: BatchId) -> bool:
        """Whether to claim the batch now: not while the endpoint refuses it for a wait (a pause,
        a curse, a suspension: every relayer would claim every due batch on every step), and at
        most once per grace (a claim holds for a grace from the first one; more add only
        traffic) (review N3)."""
        if BatchKey.of(bid) in self._waiting:
            return False
        now = time.monotonic()
        if now - self._claimed.get(bid, -math.inf) < max(NOTICE_GRACE_SECONDS, self.cfg.stagger_seconds):
            return False
        self._claimed[bid] = now
        return True

    def _rank_of(self, member: int, bid: BatchId) -> int:
        return batch_rank(member, self.committee_size, bid.route.src, bid.route.dst, bid.first_nonce)

    def _dismiss(self, bid: BatchId, member: int, tx_hash: str, reason: str) -> None:
        if (bid, tx_hash) not in self._notice_dismissed:
            self._notice_dismissed.add((bid, tx_hash))
            metrics.SENT_NOTICES_DISMISSED.labels(str(self.chain.chain_id)).inc()
            log.warning("sent_notice_dismissed", batch=str(bid), member=member, tx=tx_hash, reason=reason)

    async def _read_pending(self, stored: AnyBatch) -> bool | None:
        """Whether the node's pending state has the batch executed; None if the node cannot say."""
        bid = stored.id
        try:
            return await self.chain.is_batch_pending(bid.route.src, bid.first_nonce, bid.last_nonce)
        except Exception as exc:  # a node without a pending state may refuse the tag: send as before
            log.warning("pending_state_unavailable", batch=str(bid), error=repr(exc))
            return None

    def _holds_for_pending(self, stored: AnyBatch, pending: bool) -> bool:
        """True while another relayer's transaction executing the batch waits in the mempool,
        for at most `receipt_timeout` from when this relayer first saw it: under a backlog the
        relayer whose turn it was may send late, and a second copy would only revert and burn
        gas. After the timeout (a transaction stuck underpriced, its sender gone) this relayer
        sends its own."""
        bid = stored.id
        if not pending:
            self._pending_seen.pop(bid, None)
            return False
        seen = self._pending_seen.setdefault(bid, time.monotonic())
        if time.monotonic() - seen < self.cfg.receipt_timeout:
            return True
        if bid not in self._pending_overdue:  # once per batch (it is asked before and after the estimate)
            self._pending_overdue.add(bid)
            log.warning(
                "pending_elsewhere_too_long", batch=str(bid), waited_s=round(time.monotonic() - seen, 1)
            )
        return False

    # ---- sending ---------------------------------------------------------------------------

    async def _batch(self, stored: AnyBatch) -> Batch:
        """The batch with its transfers, loaded only now, for a batch being sent."""
        if isinstance(stored, StoredBatch):
            return stored.batch
        full = await self.store.batch(stored.id.route, stored.id.first_nonce)
        assert full is not None  # batches are never deleted
        return full.batch

    async def _calldata(self, stored: AnyBatch) -> bytes:
        """The `executeBatch` calldata."""
        assert stored.signature is not None
        return execute_batch_data(await self._batch(stored), stored.signature)

    async def _send(
        self, stored: AnyBatch, nonce: int | None, previous: TxRecord | None, defer: bool = False
    ) -> Outcome:
        """Check, sign and send the batch, in two round trips: one JSON-RPC batch of reads, then
        the broadcast. The reads: the transaction itself run once by `eth_call` at the pending
        state with the gas limit it is sent with (`batch_gas_bound`, computed from the batch: no
        estimate), the fees and (a new transaction) the pending nonce. The call's outcome also
        gives the batch's pending state (`executed_per_check`: it ran, or it reverted with
        BatchAlreadyExecuted; read apart only after another revert). With `defer`, hold back
        (NOT_READY) if another relayer sent it (its notice is read, then the pending state) or it
        is executed already. If the call does
        not run through (a revert, a bound that would not suffice, a bound over the block's gas
        limit), or a transaction of the batch sent with the bound reverted once mined, the batch
        is estimated instead (`_send_estimated`: the estimate decides, as it always did), so no
        transaction is broadcast that the node saw revert."""
        bid = stored.id
        key = BatchKey.of(bid)
        if defer and self.announce is not None and self._claim_due(bid):
            self.announce(SentMessage(self.member_index, bid, CLAIM))  # a relayer of a later turn holds back
        assert stored.signature is not None
        batch = await self._batch(stored)
        data = execute_batch_data(batch, stored.signature)
        # a replacement is estimated: at the pending state its own transaction, still pending,
        # has executed the batch, so the bound's check would always fail
        if previous is not None or key in self._estimate_next or not await self._bound_applies():
            if defer:
                held = await self._held(stored, await self._read_pending(stored))
                if held is not None:
                    return held
            return await self._send_estimated(stored, data, nonce, previous)
        pairs = len({(t.src_token, t.dst_token) for t in batch.transfers})
        limit = self._block_gas_limit if self._block_gas_limit is not None else 2**63
        bound = batch_gas_bound(len(batch.transfers), pairs, data, limit)
        reads, quote = await self.sender.checked_quote(data, bound, nonce is None)
        self._block_gas_limit = reads.block_gas_limit
        if defer:
            # the check says whether the pending state has the batch executed, unless it
            # reverted before the endpoint looked (a pause, a curse): then it is read apart
            pending = executed_per_check(reads.call_error, bid.route.src, bid.first_nonce, bid.last_nonce)
            if pending is None:
                pending = await self._read_pending(stored)
            held = await self._held(stored, pending)
            if held is not None:
                return held
        if reads.call_error is not None or bound > reads.block_gas_limit:
            return await self._send_estimated(stored, data, nonce, previous, quote, bound)
        self._waiting.discard(key)
        tx = await self._broadcast(stored, data, bound, nonce, previous, quote, exact=True)
        if tx is not None:
            self._bounded[(bid, tx.tx_hash)] = bound
        return self._sent(stored, tx, previous)

    async def _bound_applies(self) -> bool:
        """Whether batches to this endpoint may go with the computed gas bound: only where its
        deliveries are mints (the gateway). A vault delivers by calling the asset with its
        DELIVERY_GAS and checks that much is left before each delivery, so a batch whose check
        passed down a cheaper branch (recipient not allowed yet, bucket empty) could revert for
        gas once the state changed: its batches are estimated. Asked of the endpoint once; not
        known (an RPC failure): estimated this time."""
        if self._mints is None:
            try:
                self._mints = await self.chain.delivery_gas() is None
            except Exception as exc:
                log.warning("delivery_gas_unknown", chain=self.chain.cfg.name, error=repr(exc))
                return False
        return self._mints

    async def _send_estimated(
        self,
        stored: AnyBatch,
        data: bytes,
        nonce: int | None,
        previous: TxRecord | None,
        quote: Quote | None = None,
        failed_bound: int | None = None,
    ) -> Outcome:
        """Send the batch with a gas limit from `eth_estimateGas` (`relayer.core.txmath.gas_limit`);
        a revert of the estimate decides the batch's outcome (`_estimate_reverted`). The fees and
        the nonce are read while the estimate runs, unless `quote` has them. `failed_bound`: the
        computed limit whose check failed (logged if the estimate then succeeds: the bound was
        short for this batch)."""
        quoting = None if quote is not None else asyncio.ensure_future(self.sender.quote(nonce is None))
        try:
            gas = await self.sender.estimate(data)
        except BaseException as exc:
            if quoting is not None:
                quoting.cancel()
            if not isinstance(exc, Reverted):
                raise
            done = await self._executed_elsewhere(stored)
            if done is not None:
                return done
            return await self._estimate_reverted(stored, exc)
        if quoting is not None:
            try:
                quote = await quoting
            finally:
                quoting.cancel()
        self._waiting.discard(BatchKey.of(stored.id))
        if failed_bound is not None:
            log.warning("batch_gas_bound_short", batch=str(stored.id), bound=failed_bound, estimate=gas)
        tx = await self._broadcast(stored, data, gas, nonce, previous, quote)
        return self._sent(stored, tx, previous)

    async def _broadcast(
        self,
        stored: AnyBatch,
        data: bytes,
        gas: int,
        nonce: int | None,
        previous: TxRecord | None,
        quote: Quote | None,
        exact: bool = False,
    ) -> TxRecord | None:
        """Sign, record (announcing it first) and broadcast; None if the fees are above the cap."""
        bid = stored.id

        async def record(tx: TxRecord) -> None:
            if self.announce is not None:  # first: the others hold back while it is recorded and sent
                self.announce(SentMessage(self.member_index, bid, bytes.fromhex(tx.tx_hash[2:])))
            await self.store.record_tx(bid, tx)

        return await self.sender.send(data, gas, nonce, previous, record, {"batch": str(bid)}, quote, exact)

    def _sent(self, stored: AnyBatch, tx: TxRecord | None, previous: TxRecord | None) -> Outcome:
        if tx is None:
            return not_ready("fees above the cap")
        crashpoint("after_send")
        event = "batch_resubmitted" if previous is not None else "batch_submitted"
        log.info(
            event,
            batch=str(stored.id),
            tx=tx.tx_hash,
            nonce=tx.nonce,
            max_fee=tx.max_fee,
            priority_fee=tx.priority_fee,
        )
        return sent(f"tx {tx.tx_hash}")

    async def _estimate_reverted(self, stored: AnyBatch, exc: Reverted) -> Outcome:
        """The outcome of an estimate that reverted on a batch not executed elsewhere."""
        bid = stored.id
        kind = classify_revert(exc.data)
        key = BatchKey.of(bid)
        if kind is RevertKind.WAIT:  # paused on-chain: send once the committee resumes it
            if key not in self._waiting:
                self._waiting.add(key)
                log.warning("batch_waits_for_endpoint", batch=str(bid), reason=str(exc))
            return not_ready(f"the endpoint refuses it for now: {revert_name(exc.data)}")
        if kind is RevertKind.TRANSIENT:
            self._reverts[key] = self._reverts.get(key, 0) + 1
            if self._reverts[key] < MAX_REVERTS:
                log.warning("batch_estimate_reverted", batch=str(bid), error=str(exc))
                return retry(f"estimate reverts {revert_name(exc.data)}")
        await self.store.set_batch_state(bid, BatchState.FAILED, f"reverts {revert_name(exc.data)}: {exc}")
        log.error("batch_reverts", batch=str(bid), error=str(exc), kind=kind.value)
        return refused(f"reverts {revert_name(exc.data)}")

    # ---- following a sent transaction ----------------------------------------------------

    async def _follow(self, stored: AnyBatch) -> Outcome | None:
        """Check the batch's transactions; None means 'not landed, decide again'."""
        bid = stored.id
        records = await self.store.txs_for(bid)
        if not records:
            await self.store.set_batch_state(bid, BatchState.AGGREGATED, "no transaction on record")
            return None
        outcome = await self._receipts(stored, records)
        if outcome is not None:
            return outcome
        latest = records[-1]
        confirmed = await self.sender.confirmed_nonce()
        if confirmed > latest.nonce:
            # the nonce is used; look again in case ours was mined since the receipts were read
            outcome = await self._receipts(stored, records)
            if outcome is not None:
                return outcome
            # none of our transactions was mined, yet the nonce is used: another sender took it
            metrics.NONCE_RESYNCS.labels(str(self.chain.chain_id)).inc()
            log.warning("nonce_used_elsewhere", batch=str(bid), nonce=latest.nonce)
            await self.store.set_batch_state(
                bid, BatchState.AGGREGATED, f"nonce {latest.nonce} used elsewhere"
            )
            return None
        if not await self.sender.known(latest.tx_hash):
            metrics.TXS_DROPPED.labels(str(self.chain.chain_id)).inc()
            log.warning("tx_dropped", batch=str(bid), tx=latest.tx_hash, nonce=latest.nonce)
            await self.store.set_batch_state(bid, BatchState.AGGREGATED, f"tx {latest.tx_hash} dropped")
            return None
        if self._elapsed.since((bid, latest.tx_hash), latest.sent_at) < self.cfg.receipt_timeout:
            return sent(f"tx {latest.tx_hash} waits for its receipt")
        if await self.chain.is_batch_executed(bid.route.src, bid.first_nonce, bid.last_nonce, final=False):
            return None  # the caller records it; our transaction will revert or be replaced later
        return await self._send(stored, nonce=latest.nonce, previous=latest)

    async def _receipts(self, stored: AnyBatch, records: list[TxRecord]) -> Outcome | None:
        """The outcome if one of the batch's transactions was mined, else None.

        A reverted transaction followed by one with another nonce was dealt with when it was
        seen (the batch was sent again since, with a fresh nonce): it is passed over, so each
        revert counts once and a batch sent again is not sent a third time while its new
        transaction is pending."""
        bid = stored.id
        for i, record in enumerate(records):
            receipt = await self.sender.receipt(record.tx_hash)
            if receipt is None:
                continue
            if receipt.status != 1 and any(r.nonce != record.nonce for r in records[i + 1 :]):
                continue  # an earlier revert, counted already
            if receipt.status == 1 and receipt.block_number > await self.chain.final_head():
                # mined, not final: a reorg below finality can still drop it (and then the
                # transaction is gone, so it is sent again); executed once its block is final
                return sent(f"tx {record.tx_hash} mined in a block not final yet")
            self._count_fees(receipt)
            if receipt.status == 1:
                await self._executed(stored, f"executed by tx {record.tx_hash}")
                log.info("batch_executed", batch=str(bid), tx=record.tx_hash, gas=receipt.gas_used)
                crashpoint("after_receipt")
                return confirmed(f"executed by tx {record.tx_hash}", ours=True)
            done = await self._executed_elsewhere(stored)
            if done is not None:
                if done.kind is OutcomeKind.CONFIRMED:  # ours reverted: another executed it first
                    metrics.DUPLICATE_SENDS.labels(str(self.chain.chain_id)).inc()
                    log.info("batch_sent_twice", batch=str(bid), tx=record.tx_hash)
                return done
            key = BatchKey.of(bid)
            # reverted, not executed elsewhere: from now on the batch is sent with an estimate,
            # whether or not its gas bound ran out (all of it used: out of gas; or one of the
            # contracts' gas guards, InsufficientGasForDelivery or BLSInsufficientGas)
            self._estimate_next.add(key)
            bound = self._bounded.get((bid, record.tx_hash))
            if bound is not None and receipt.gas_used is not None and receipt.gas_used >= bound:
                log.error("batch_out_of_gas", batch=str(bid), tx=record.tx_hash, gas_limit=bound)
            self._reverts[key] = self._reverts.get(key, 0) + 1
            if self._reverts[key] >= MAX_REVERTS:
                await self.store.set_batch_state(bid, BatchState.FAILED, f"tx {record.tx_hash} reverted")
                log.error("batch_failed", batch=str(bid), tx=record.tx_hash)
                return refused(f"tx {record.tx_hash} reverted, {MAX_REVERTS} reverts")
            log.warning("batch_tx_reverted", batch=str(bid), tx=record.tx_hash)
            await self.store.set_batch_state(bid, BatchState.AGGREGATED, f"tx {record.tx_hash} reverted")
            return retry(f"tx {record.tx_hash} reverted")
        return None

    def _count_fees(self, receipt: Receipt) -> None:
        """Count the gas and the fee of a mined transaction, each only if the receipt has it."""
        if receipt.gas_used is None:
            return
        metrics.GAS_USED.labels(str(self.chain.chain_id)).inc(receipt.gas_used)
        if receipt.effective_gas_price is not None:
            metrics.FEE_PAID_WEI.labels(str(self.chain.chain_id)).inc(
                receipt.gas_used * receipt.effective_gas_price
            )

    async def _executed_elsewhere(self, stored: AnyBatch) -> Outcome | None:
        """CONFIRMED, not ours (recorded), if another transaction executed the batch and its block
        is final; NOT_READY while that block is not final yet (nothing is sent meanwhile: if a
        reorg drops that transaction, the batch is sent again); None if it is not executed."""
        bid = stored.id
        if not await self.chain.is_batch_executed(
            bid.route.src, bid.first_nonce, bid.last_nonce, final=False
        ):
            return None
        if await self.chain.is_batch_executed(bid.route.src, bid.first_nonce, bid.last_nonce):
            await self._executed(stored, "executed on-chain by another relayer")
            return confirmed("executed on-chain by another relayer", ours=False)
        return not_ready("executed in a block not final yet")

    async def _executed(self, stored: AnyBatch, detail: str) -> None:
        await self.store.set_batch_state(stored.id, BatchState.EXECUTED, detail)
        metrics.TRANSFER_LATENCY.observe(max(0.0, time.time() - stored.created_at))

    async def report_balance(self) -> None:
        """Export the account's balance (read at most every BALANCE_SECONDS) and log a low one."""
        if time.monotonic() - self._balance_read < BALANCE_SECONDS:
            return
        self._balance_read = time.monotonic()
        balance = await self.sender.balance()
        metrics.ACCOUNT_BALANCE_WEI.labels(self.chain.cfg.name).set(balance)
        low = balance < int(self.cfg.low_balance_eth * 10**18)
        if low and not self._low_balance_reported:
            log.warning(
                "low_balance",
                chain=self.chain.cfg.name,
                account=self.account.address,
                balance_wei=balance,
                threshold_eth=self.cfg.low_balance_eth,
            )
        self._low_balance_reported = low
