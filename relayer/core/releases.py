"""Releases of transfers a destination keeps after executing them: the pure decisions.

A destination endpoint does not always deliver a transfer when its batch executes (docs/PROTOCOL.md,
"Rate limits and the release queue" and "Sentinels: curse, veto and the challenge window"): one
at or above its token's challenge threshold is *held* for the challenge period (`TransferHeld`,
until `heldUntil`), one its token's inbound bucket cannot take now is *queued*, first in, first
out (`TransferQueued`). Either is delivered by `releaseQueued(t)` with the signed fields, which
anyone may send: a held one once its window is over (unless the route is cursed: a sentinel's
veto inside the window fails it instead, refunded on its source), a queued one when it is its
token's queue head and the bucket holds its amount (or it can never pass: then the endpoint
fails it, refundable). The relayers send it so users need not.

`decide_release` says from what the destination reports now whether a release can pass
(SEND), cannot yet (WAIT, and why), or is no longer needed (DONE: delivered or failed).
`classify_release_revert` says the same of a gas estimate that reverts: every error the endpoint
gives a release is a reason to wait or a sign it is done, never an alarm.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from eth_utils.crypto import keccak

from relayer.core.refunds import STATUS_DELIVERED, STATUS_FAILED, STATUS_QUEUED
from relayer.core.states import WaitReason


class ReleaseDecision(StrEnum):
    SEND = "send"  # releaseQueued passes now: send it (on this relayer's turn)
    WAIT = "wait"  # not yet (window open, behind the queue head, bucket short, cursed, paused)
    DONE = "done"  # nothing to release: delivered, failed (vetoed, or at release), or not queued


@dataclass(frozen=True, slots=True)
class ReleaseFacts:
    """What the destination endpoint reports of one kept transfer, at one block.

    `status` is `transferStatus(src, nonce)` (0 none, 1 delivered, 2 queued, 3 failed);
    `held_until` is `heldUntil(src, nonce)` (0: not held, so queued); `leaf` the transfer's own
    leaf and `head_leaf` its token's queue head (`queueHead(token)`; None when not read);
    `available` what the token's inbound bucket holds now and `capacity` its capacity (0: no
    limit); `now` the block's timestamp."""

    status: int
    held_until: int
    paused: bool
    cursed: bool
    leaf: bytes
    amount: int
    head_leaf: bytes | None
    available: int
    capacity: int
    now: int


@dataclass(frozen=True, slots=True)
class ReleaseVerdict:
    decision: ReleaseDecision
    why: str
    reason: WaitReason | None = None  # which wait a SEND ends


def decide_release(f: ReleaseFacts) -> ReleaseVerdict:
    """Whether `releaseQueued` of the transfer passes now, from the endpoint's state (pure)."""
    if f.status == STATUS_DELIVERED:
        return ReleaseVerdict(ReleaseDecision.DONE, "delivered on the destination")
    if f.status == STATUS_FAILED:
        return ReleaseVerdict(ReleaseDecision.DONE, "failed on the destination (its refund follows)")
    if f.status != STATUS_QUEUED:
        # a TransferHeld / TransferQueued seen final, yet not queued at this block: a node behind
        return ReleaseVerdict(ReleaseDecision.WAIT, f"the destination's status is {f.status}, not queued")
    if f.paused:
        return ReleaseVerdict(ReleaseDecision.WAIT, "the destination endpoint is paused")
    if f.cursed:
        return ReleaseVerdict(ReleaseDecision.WAIT, "the route is cursed by the sentinels")
    if f.held_until:
        if f.now < f.held_until:
            return ReleaseVerdict(
                ReleaseDecision.WAIT, f"held for its challenge window until {f.held_until} (now {f.now})"
            )
        return ReleaseVerdict(ReleaseDecision.SEND, "its challenge window is over", WaitReason.HELD)
    if f.head_leaf is None or f.head_leaf != f.leaf:
        return ReleaseVerdict(ReleaseDecision.WAIT, "another transfer of its token is ahead in the queue")
    if f.capacity and f.amount > f.capacity:
        # it can never pass: the release takes it out of the queue, failed (refundable on its source)
        return ReleaseVerdict(
            ReleaseDecision.SEND, "queue head above the capacity: leaves as failed", WaitReason.QUEUED
        )
    if f.capacity and f.available < f.amount:
        return ReleaseVerdict(
            ReleaseDecision.WAIT, f"queue head; the inbound bucket holds {f.available} of its {f.amount}"
        )
    return ReleaseVerdict(ReleaseDecision.SEND, "queue head, the inbound bucket has room", WaitReason.QUEUED)


def release_rank(member_index: int, committee_size: int, nonce: int) -> int:
    """Member `member_index`'s (1-based) place in the turns of releasing transfer `nonce`: 0 sends
    as soon as it can pass, rank r `r * stagger_seconds` later if it is still not released (the
    refunds' rotation by nonce)."""
    return (member_index - nonce) % committee_size


def _selector(signature: str) -> str:
    return keccak(text=signature)[:4].hex()


# what each error `releaseQueued` reverts with means for the relayers
RELEASE_ERRORS: dict[str, tuple[str, ReleaseDecision]] = {
    _selector(sig): (sig.split("(")[0], decision)
    for sig, decision in (
        # released already (by another relayer or a user), vetoed, or failed: nothing left to do
        ("NotQueued(uint256,uint64)", ReleaseDecision.DONE),
        ("NotQueueHead(uint256,uint64,bytes32)", ReleaseDecision.WAIT),
        ("RateLimited(address,uint8,uint256,uint256)", ReleaseDecision.WAIT),
        ("ChallengeWindowOpen(uint256,uint64,uint64)", ReleaseDecision.WAIT),
        ("RouteIsCursed(uint256)", ReleaseDecision.WAIT),
        ("EnforcedPause()", ReleaseDecision.WAIT),
        ("ReentrancyGuardReentrantCall()", ReleaseDecision.WAIT),
        # the issuer suspended the asset on C: the mint waits for the suspension's end
        ("AssetSuspended()", ReleaseDecision.WAIT),
    )
}


@dataclass(frozen=True, slots=True)
class ReleaseRevert:
    decision: ReleaseDecision
    name: str  # the error's name, or what the node gave
    expected: bool  # one of the endpoint's release errors (False: log it, still wait)


def classify_release_revert(data: object) -> ReleaseRevert:
    """What a reverted `releaseQueued` estimate means, from its revert data: DONE for NotQueued
    (released, vetoed or failed meanwhile), WAIT for the others the endpoint gives (not the queue
    head, bucket short, window open, route cursed, paused). Anything else (no data, a panic, an
    unknown error) waits too, not `expected`: a transfer is never given up on a revert."""
    if not isinstance(data, str) or not data.startswith("0x") or len(data) < 10:
        return ReleaseRevert(ReleaseDecision.WAIT, f"revert data {data!r}", False)
    known = RELEASE_ERRORS.get(data[2:10].lower())
    if known is None:
        return ReleaseRevert(ReleaseDecision.WAIT, f"revert data {data[:74]}", False)
    return ReleaseRevert(known[1], known[0], True)
