"""The release stage for one destination chain: delivers the transfers its endpoint keeps.

A destination endpoint holds a transfer at or above its token's challenge threshold for the
challenge period (`TransferHeld`), and queues one its token's inbound bucket cannot take now
(`TransferQueued`); either is delivered only by `releaseQueued(t)` with the signed fields
(docs/PROTOCOL.md). The watcher records those final events (the transfer moves to `held` or
`queued`); this stage sends `releaseQueued` for each once it can pass (`relayer.core.releases`:
held, after its window and while the route is not cursed; queued, at its token's queue head
with room in the bucket; never while the endpoint is paused), and records `released` once the
destination delivered it at its final head. A transfer failed instead (a sentinel's veto inside
the window, or a failure at its release) goes the refund path (`relayer.pipeline.refunder`).
Nothing is released on a route halted or paused on this node (a deep reorg of its source, an
operator's pause).

Relayers take turns as for refunds: member m's rank for transfer nonce k is (m - k) mod n and it
sends `rank * stagger_seconds` after it first saw the release possible, unless the transfer was
released meanwhile (read at the latest block, then with the node's pending state: another
relayer's transaction on its way). Every revert the endpoint gives a release (NotQueued: done
already; not the queue head, bucket short, window open, cursed, paused: later) is a reason to
wait, never an alarm: a transfer of an asset the issuer suspended is queued by its batch and its
release reverts `AssetSuspended` until the suspension is lifted, then passes at the next step.
What it remembers (when each release became possible, the transaction it
sent) is in memory: after a restart it decides again from the chain, and a second release the
endpoint refuses (NotQueued), so a transfer is released at most once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import structlog

from relayer import metrics
from relayer.adapters.txsender import Reverted
from relayer.core.calldata import release_data
from relayer.core.encoding import leaf_hash
from relayer.core.lifecycle import Outcome, confirmed, not_ready, refused, retry, sent
from relayer.core.refunds import STATUS_DELIVERED, STATUS_FAILED, STATUS_QUEUED
from relayer.core.releases import ReleaseDecision, classify_release_revert, decide_release, release_rank
from relayer.core.states import TxRecord
from relayer.core.types import ChainId, Route, Transfer
from relayer.pipeline.halts import Halts
from relayer.pipeline.ports import ReleaseChain, ReleaseStore
from relayer.pipeline.submitter import Submitter

log = structlog.get_logger(__name__)

STEP_RELEASES = 100  # kept transfers looked at per step, every group's head first (Store.waiting)
# a held transfer inside its window is read again at most this often (and at its end): a window
# lasts hours on a real network; a chain whose clock jumps (a devnet moved forward) is followed
# within this time
WINDOW_RECHECK_SECONDS = 30.0
# a release transaction that reverted (mined, status 0) is sent again after a backoff per transfer:
# the first wait, doubled at each further revert up to the cap; reset once one is mined or delivered
REVERT_BACKOFF_SECONDS = 5.0
REVERT_BACKOFF_MAX_SECONDS = 600.0
Key = tuple[Route, int]


@dataclass
class Releaser:
    """Releases what one destination chain's endpoint keeps; sends through that chain's submitter
    (`submitters` is the node's map, filled when the relayer role starts: none, and this stage
    only records what others released)."""

    chain: ReleaseChain
    store: ReleaseStore
    submitters: Mapping[ChainId, Submitter]
    member_index: int
    committee_size: int
    stagger_seconds: float
    receipt_timeout: float
    poll_interval: float
    chain_name: str = ""  # the `chain` label of its metrics (the configured name)
    halts: Halts = field(default_factory=Halts)  # a route halted or paused here is left alone
    window_recheck: float = WINDOW_RECHECK_SECONDS
    _ready_since: dict[Key, float] = field(default_factory=dict)  # first seen releasable
    _sent: dict[Key, TxRecord] = field(default_factory=dict)  # this relayer's last release tx
    # a held transfer whose window is open is not read again before its end (monotonic time; a
    # window lasts hours on a real network, and a veto inside it reaches the store as a failure)
    _window_ends: dict[Key, float] = field(default_factory=dict)
    _reverts: dict[Key, int] = field(default_factory=dict)  # this relayer's release txs that reverted
    _retry_at: dict[Key, float] = field(default_factory=dict)  # not sent again before (clock())
    clock: Callable[[], float] = time.monotonic  # the backoff's clock
    _stepped: float = -math.inf

    @property
    def name(self) -> str:
        return self.chain_name or str(self.chain.chain_id)

    def rank(self, nonce: int) -> int:
        """This relayer's place in the turns of releasing transfer `nonce`: 0 sends at once."""
        return release_rank(self.member_index, self.committee_size, nonce)

    async def step(self, *, force: bool = False) -> None:
        """Look at every transfer the destination keeps, at most once per `poll_interval`."""
        if not force and time.monotonic() - self._stepped < self.poll_interval:
            return
        self._stepped = time.monotonic()
        rows = await self.store.waiting(self.chain.chain_id, limit=STEP_RELEASES)
        keys = {(r.transfer.route, r.transfer.nonce) for r in rows}
        self._ready_since = {k: t for k, t in self._ready_since.items() if k in keys}
        self._sent = {k: tx for k, tx in self._sent.items() if k in keys}
        self._window_ends = {k: t for k, t in self._window_ends.items() if k in keys}
        self._reverts = {k: n for k, n in self._reverts.items() if k in keys}
        self._retry_at = {k: t for k, t in self._retry_at.items() if k in keys}
        for row in rows:
            t = row.transfer
            try:
                outcome = await self.release(t)
            except Exception as exc:  # an RPC that failed: the next step decides again
                outcome = retry(repr(exc))
                log.warning("release_step_failed", route=str(t.route), nonce=t.nonce, error=repr(exc))
            log.debug("release_step", route=str(t.route), nonce=t.nonce, outcome=outcome.label)
        now = time.monotonic()
        overdue = max((now - since for since in self._ready_since.values()), default=0.0)
        metrics.RELEASE_OVERDUE_SECONDS.labels(self.name).set(overdue)

    async def release(self, t: Transfer) -> Outcome:
        """One step on kept transfer `t`: record it released once delivered at the final head;
        otherwise decide from the latest block whether `releaseQueued` passes, and send it on
        this relayer's turn."""
        key = (t.route, t.nonce)
        if self.halts.stopped(t.route):  # a deep reorg of its source, an operator's pause
            self._ready_since.pop(key, None)
            return not_ready(f"route {t.route} is halted or paused on this node")
        if time.monotonic() < self._window_ends.get(key, -math.inf):
            return not_ready("held: its challenge window is open")
        final = await self.chain.transfer_status(t.src_chain_id, t.nonce)
        if final == STATUS_DELIVERED:
            ours = key in self._sent
            tx = self._sent.get(key)
            detail = "delivered on the destination by releaseQueued (final)" + (
                f", tx {tx.tx_hash}" if tx is not None else ""
            )
            if await self.store.mark_released(t.route, t.nonce, detail):
                metrics.TRANSFERS_RELEASED.labels(str(t.src_chain_id), str(t.dst_chain_id)).inc()
                log.info("transfer_released", route=str(t.route), nonce=t.nonce, ours=ours)
            self._forget(key)
            return confirmed("delivered on the destination (final)", ours=ours)
        if final == STATUS_FAILED:
            # vetoed, or failed at its release: the watcher records TransferFailed, the refund follows
            self._forget(key)
            return refused("failed on the destination; refunded on its source")
        leaf = leaf_hash(t)
        facts = await self.chain.release_facts(t, leaf)
        verdict = decide_release(facts)
        if verdict.decision is not ReleaseDecision.SEND:
            self._ready_since.pop(key, None)
            if facts.held_until > facts.now and verdict.decision is ReleaseDecision.WAIT:
                wait = min(facts.held_until - facts.now, self.window_recheck)
                self._window_ends[key] = time.monotonic() + wait
            return not_ready(verdict.why)
        since = self._ready_since.setdefault(key, time.monotonic())
        submitter = self.submitters.get(self.chain.chain_id)
        if submitter is None:
            return not_ready("no relayer account for this chain here")
        previous = self._sent.get(key)
        if previous is not None:
            receipt = await submitter.sender.receipt(previous.tx_hash)
            if receipt is None and time.time() - previous.sent_at < self.receipt_timeout:
                return sent(f"tx {previous.tx_hash} waits for its receipt")
            if receipt is not None:  # mined (a held one may have joined the queue) or reverted
                self._sent.pop(key, None)
                if receipt.status == 1:
                    self._reverts.pop(key, None)
                    self._retry_at.pop(key, None)
                else:
                    self._reverted(key, t, previous.tx_hash)
                previous = None
        if previous is None:
            wait = self._retry_at.get(key, -math.inf) - self.clock()
            if wait > 0:
                n = self._reverts.get(key, 0)
                return not_ready(f"its release transaction reverted {n} time(s); next try in {wait:.0f} s")
            if time.monotonic() - since < self.rank(t.nonce) * self.stagger_seconds:
                return not_ready("not this relayer's turn yet")
            status, held = await self.chain.kept_at(t.src_chain_id, t.nonce, "pending")
            if status != STATUS_QUEUED or (facts.held_until and not held):
                return not_ready("released by a transaction pending on the node")
        return await self._send(submitter, t, previous, verdict.reason.value if verdict.reason else "")

    async def _send(
        self, submitter: Submitter, t: Transfer, previous: TxRecord | None, reason: str
    ) -> Outcome:
        """Estimate and send `releaseQueued(t)` through the chain's submitter (one sender of the
        account at a time); a replacement of `previous` (same nonce, fees bumped) if it is unmined."""
        key = (t.route, t.nonce)
        what = {"release": f"{t.route}#{t.nonce}"}
        data = release_data(t)
        async with submitter.send_lock:
            if previous is not None and await submitter.sender.confirmed_nonce() > previous.nonce:
                previous = None  # its nonce is used (by it or another): not a replacement
            try:
                gas = await submitter.sender.estimate(data)
            except Reverted as exc:
                r = classify_release_revert(exc.data)
                if not r.expected:
                    log.warning("release_estimate_reverted", **what, error=r.name, detail=str(exc))
                if r.decision is ReleaseDecision.DONE:
                    self._forget(key)
                    why = f"releaseQueued reverts {r.name}: released or failed already"
                    return confirmed(why, ours=False)
                # not releasable after all (its asset suspended by the issuer, a race for the
                # queue head...): the turns start again when it is, and it is tried every step
                self._ready_since.pop(key, None)
                return not_ready(f"releaseQueued reverts {r.name}")

            async def record(tx: TxRecord) -> None:
                return None  # kept in memory: a second release after a restart reverts NotQueued

            tx = await submitter.sender.send(
                data, gas, None if previous is None else previous.nonce, previous, record, what
            )
        if tx is None:
            return not_ready("fees above the cap")
        self._sent[key] = tx
        metrics.RELEASES_SENT.labels(self.name, reason).inc()
        log.info("release_sent", **what, reason=reason, tx=tx.tx_hash, replaces=previous is not None)
        return sent(f"tx {tx.tx_hash}")

    def _reverted(self, key: Key, t: Transfer, tx_hash: str) -> None:
        """This relayer's release transaction of `t` reverted: not sent again before a backoff,
        doubled at each revert in a row (REVERT_BACKOFF_SECONDS .. REVERT_BACKOFF_MAX_SECONDS)."""
        n = self._reverts.get(key, 0) + 1
        self._reverts[key] = n
        wait = min(REVERT_BACKOFF_MAX_SECONDS, REVERT_BACKOFF_SECONDS * 2 ** min(n - 1, 30))
        self._retry_at[key] = self.clock() + wait
        log.warning(
            "release_reverted", route=str(t.route), nonce=t.nonce, tx=tx_hash, reverts=n, retry_in=wait
        )

    def _forget(self, key: Key) -> None:
        self._ready_since.pop(key, None)
        self._sent.pop(key, None)
        self._reverts.pop(key, None)
        self._retry_at.pop(key, None)
