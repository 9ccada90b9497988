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

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum

from committee.bls import BlsBackend
from committee.threshold import CommitteePublic, verify_partial
from relayer.core.messages import PartialMessage
from relayer.core.types import Route

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


@dataclass(frozen=True, slots=True)
class Judgement:
    """A partial's outcome and, when it is not taken, why in words (for the operator's batch view)."""

    outcome: PartialOutcome
    why: str = ""


def mismatch(ours_last: int, ours_message: bytes, last: int, message: bytes) -> str | None:
    """Why a partial is not on the batch this node cut (None: it is)."""
    if ours_last != last:
        return f"signs nonces up to {last}, the batch this node cut ends at {ours_last}"
    if ours_message != message:
        return "signs another message than the batch this node cut (another root, endpoint or key epoch)"
    return None


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
    return judge_partial(
        msg,
        public=public,
        routes=routes,
        own_member=own_member,
        next_nonce=next_nonce,
        ours=ours,
        stored=stored,
        backend=backend,
    ).outcome


def judge_partial(
    msg: PartialMessage,
    *,
    public: CommitteePublic,
    routes: Collection[Route],
    own_member: int,
    next_nonce: int,
    ours: OwnBatch | None,
    stored: StoredPartial | None,
    backend: BlsBackend | None = None,
) -> Judgement:
    """`classify_partial` with the reason in words."""
    if msg.member not in public.public_shares:
        return Judgement(PartialOutcome.NOT_MEMBER, f"member {msg.member} is not in the committee")
    if msg.batch.route not in routes:
        return Judgement(PartialOutcome.UNKNOWN_ROUTE, f"route {msg.batch.route} is not configured here")
    if msg.key_epoch != public.key_epoch:
        return Judgement(
            PartialOutcome.WRONG_EPOCH,
            f"signed under key epoch {msg.key_epoch}; the committee key here is epoch {public.key_epoch}",
        )
    if msg.batch.first_nonce > next_nonce + PENDING_HORIZON:
        return Judgement(PartialOutcome.TOO_FAR_AHEAD, f"nonce {msg.batch.first_nonce} is too far ahead")
    if ours is not None and not ours.pending:
        return Judgement(PartialOutcome.LATE, "arrived after this node's batch was aggregated")
    if stored == StoredPartial(msg.batch.last_nonce, msg.message, msg.partial):
        return Judgement(PartialOutcome.DUPLICATE)
    if msg.member == own_member:
        # this node never takes anyone's word for its own partial
        return Judgement(
            PartialOutcome.OWN, "claims this node's member index but is not the partial it signed"
        )
    if ours is not None:
        wrong = mismatch(ours.last_nonce, ours.message, msg.batch.last_nonce, msg.message)
        if wrong is not None:
            return Judgement(PartialOutcome.INVALID, wrong)
    if not verify_partial(public, msg.member, msg.message, msg.partial, backend):
        return Judgement(
            PartialOutcome.INVALID, f"does not verify against member {msg.member}'s public share"
        )
    return Judgement(PartialOutcome.KEPT if ours is not None else PartialOutcome.EARLY)


# ---- the operator's view of one batch: who sent a valid partial, who an invalid one, who none ----


class PartialStatus(StrEnum):
    VALID = "valid"  # a partial that verified, on exactly the batch this node cut
    INVALID = "invalid"  # the member's last word did not verify or was not this batch (see why)
    NONE = "none"  # nothing received from the member (or nothing remembered: see `Rejection`)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A partial this node refused from a member for a batch: kept in the daemon's memory only
    (anyone may send anything, so refused partials never take room in the store)."""

    outcome: PartialOutcome
    why: str
    at: float


@dataclass(frozen=True, slots=True)
class Received:
    """A partial the store keeps for a member (it passed the pairing check on arrival)."""

    member: int
    last_nonce: int
    message: bytes
    at: float


@dataclass(frozen=True, slots=True)
class MemberPartial:
    member: int
    partial: PartialStatus
    at: float | None
    why: str


REMEMBERED = (PartialOutcome.INVALID, PartialOutcome.OWN, PartialOutcome.WRONG_EPOCH)


def member_partials(
    members: Collection[int],
    *,
    last_nonce: int,
    message: bytes,
    received: Collection[Received],
    rejected: Mapping[int, Rejection],
    combined: Collection[int] = (),
) -> list[MemberPartial]:
    """Per member, for a batch this node cut (`last_nonce`, `message`): the partial the store holds
    (valid if it is on this batch), else the last one refused and why, else none. `combined`: the
    members whose partials the threshold signature was made of (their partials are dropped once the
    batch executes)."""
    kept = {r.member: r for r in received}
    out = []
    for member in sorted(members):
        r = kept.get(member)
        no = rejected.get(member)
        if r is not None:
            wrong = mismatch(last_nonce, message, r.last_nonce, r.message)
            if wrong is None:
                out.append(MemberPartial(member, PartialStatus.VALID, r.at, ""))
            else:
                out.append(MemberPartial(member, PartialStatus.INVALID, r.at, wrong))
        elif member in combined:
            out.append(MemberPartial(member, PartialStatus.VALID, None, "combined into the signature"))
        elif no is not None:
            out.append(MemberPartial(member, PartialStatus.INVALID, no.at, f"{no.outcome.value}: {no.why}"))
        else:
            out.append(MemberPartial(member, PartialStatus.NONE, None, ""))
    return out


SIGNED_BY = re.compile(r"signed by \[([0-9, ]*)\]")


def combined_members(details: Collection[str]) -> list[int]:
    """The members an `aggregated` history entry ("signed by [1, 2, 3]") names, else []."""
    for detail in details:
        m = SIGNED_BY.search(detail)
        if m is not None:
            return [int(x) for x in m.group(1).split(",") if x.strip()]
    return []
