"""What a node does with a batch partial received from the broker: the batch's own checks.

A batch partial is judged by the steps every kind shares (`relayer.core.arrivals`); what a batch
adds is what it finds out on its own. The store keeps one partial per member and batch; these
rules make sure that place can never be taken by something that would keep a later valid partial
of the same member out:

- once this node has cut the batch itself, only a partial on exactly that batch (same last nonce,
  same message) is `KEPT`; a valid signature on anything else (another batch, a fabricated
  transfer, another key epoch) is `INVALID`;
- before this node has cut the batch, a valid signature is kept as `EARLY` and checked again when
  the batch is cut; a later `EARLY` or `KEPT` partial of the same member replaces it (its latest
  word wins, so an earlier bad one never blocks a good one);
- after the batch is aggregated or executed, a partial is `LATE` and not kept; one for nonces too
  far ahead of this node's is `TOO_FAR_AHEAD`, one on a route not configured here `UNKNOWN_ROUTE`.

Every received partial is counted once under its outcome (`qiao_partials_received_total`); an
`EARLY` partial found not to match when the batch is cut is counted `invalid` then too.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum

from committee.bls import BlsBackend
from committee.threshold import CommitteePublic
from relayer.core.arrivals import Facts, Judgement, PartialOutcome, judge_arrival
from relayer.core.messages import PartialMessage
from relayer.core.types import Route

PENDING_HORIZON = 100_000  # partials for nonces further ahead than this are dropped


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
    facts = batch_facts(msg, routes, next_nonce, ours, stored)
    return judge_arrival(msg, facts, public=public, own_member=own_member, backend=backend)


def batch_facts(
    msg: PartialMessage,
    routes: Collection[Route],
    next_nonce: int,
    ours: OwnBatch | None,
    stored: StoredPartial | None,
) -> Facts:
    """What a batch partial is, as this node finds out on its own (`relayer.core.arrivals`)."""
    bid = msg.batch
    unknown_route = Judgement(PartialOutcome.UNKNOWN_ROUTE, f"route {bid.route} is not configured here")
    too_far = Judgement(PartialOutcome.TOO_FAR_AHEAD, f"nonce {bid.first_nonce} is too far ahead")
    wrong = None if ours is None else mismatch(ours.last_nonce, ours.message, bid.last_nonce, msg.message)
    return Facts(
        scope=None if bid.route in routes else unknown_route,
        subject=None if bid.first_nonce <= next_nonce + PENDING_HORIZON else too_far,
        late=None if ours is None or ours.pending else "arrived after this node's batch was aggregated",
        duplicate=stored == StoredPartial(bid.last_nonce, msg.message, msg.partial),
        mismatch=wrong,
        known=ours is not None,
    )


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
    """A partial the store keeps for a member: another member's passed the pairing check on
    arrival (under the key epoch it claims); this node's own is the signature it made, checked
    with the others when they combine (`relayer.pipeline.signing.Combiner`)."""

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
