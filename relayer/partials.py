"""What a node does with a partial signature received from the broker: one pure decision.

Anyone who can reach the broker can send anything, and a member of the committee can be malicious,
so a partial is judged before it takes a place in the store. The store keeps one partial per
member and batch; the rules below make sure that place can never be taken by something that would
keep a later valid partial of the same member out:

- a partial that is not the member's valid signature (pairing check against its public share) on
  the message it claims is `INVALID` at once: garbage, points off the curve or outside the
  subgroup, the identity, another member's signature;
- once this node has cut the batch itself, only a partial on exactly that batch (same last nonce,
  same message) is `KEPT`; a valid signature on anything else (another batch, a fabricated
  transfer, another key epoch) is `INVALID`;
- before this node has cut the batch, a valid signature is kept as `EARLY` and checked again when
  the batch is cut; a later `EARLY` or `KEPT` partial of the same member replaces it (its latest
  word wins, so an earlier bad one never blocks a good one);
- after the batch is aggregated or executed, a partial is `LATE` and not kept.

Every received partial is counted once under its outcome (`qiao_partials_received_total`); an
`EARLY` partial found not to match when the batch is cut is counted `invalid` then too.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from committee.bls import BlsBackend
from committee.threshold import CommitteePublic, verify_partial
from relayer.messages import PartialMessage
from relayer.types import Route

PENDING_HORIZON = 100_000  # partials for nonces further ahead than this are dropped


class PartialOutcome(StrEnum):
    KEPT = "kept"  # a valid partial on the batch this node cut: stored for aggregation
    EARLY = "early"  # a valid signature for a batch this node has not cut yet: stored, checked later
    DUPLICATE = "duplicate"  # exactly the partial already stored (a re-publication, an echo)
    LATE = "late"  # this node's batch is already aggregated, submitted, executed or failed
    OWN = "own"  # claims this node's own member index but is not the partial it signed
    INVALID = "invalid"  # not the member's signature on what it claims, or not the batch this node cut
    NOT_MEMBER = "not_member"
    UNKNOWN_ROUTE = "unknown_route"
    WRONG_EPOCH = "wrong_epoch"
    TOO_FAR_AHEAD = "too_far_ahead"

    @property
    def stored(self) -> bool:
        """Whether the partial takes (or replaces) the member's place in the store."""
        return self in (PartialOutcome.KEPT, PartialOutcome.EARLY)


@dataclass(frozen=True, slots=True)
class OwnBatch:
    """This node's batch starting at the partial's first nonce, if it cut one."""

    last_nonce: int
    message: bytes
    pending: bool  # still collecting partials


@dataclass(frozen=True, slots=True)
class StoredPartial:
    """The partial the store already holds for this member and first nonce."""

    last_nonce: int
    message: bytes
    partial: bytes


def classify_partial(
    msg: PartialMessage,
    *,
    public: CommitteePublic,
    routes: Collection[Route],
    own_member: int,
    next_nonce: int,
    ours: OwnBatch | None,
    stored: StoredPartial | None,
    backend: BlsBackend | None = None,
) -> PartialOutcome:
    """The outcome for `msg`; cheap checks first, the pairing check last."""
    if msg.member not in public.public_shares:
        return PartialOutcome.NOT_MEMBER
    if msg.batch.route not in routes:
        return PartialOutcome.UNKNOWN_ROUTE
    if msg.key_epoch != public.key_epoch:
        return PartialOutcome.WRONG_EPOCH
    if msg.batch.first_nonce > next_nonce + PENDING_HORIZON:
        return PartialOutcome.TOO_FAR_AHEAD
    if ours is not None and not ours.pending:
        return PartialOutcome.LATE
    if stored == StoredPartial(msg.batch.last_nonce, msg.message, msg.partial):
        return PartialOutcome.DUPLICATE
    if msg.member == own_member:
        return PartialOutcome.OWN  # this node never takes anyone's word for its own partial
    if ours is not None and (ours.last_nonce != msg.batch.last_nonce or ours.message != msg.message):
        return PartialOutcome.INVALID
    if not verify_partial(public, msg.member, msg.message, msg.partial, backend):
        return PartialOutcome.INVALID
    return PartialOutcome.KEPT if ours is not None else PartialOutcome.EARLY
