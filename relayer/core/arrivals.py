"""How a node judges a partial signature arriving from the broker, for every kind of signed item.

Anyone who can reach the broker can send anything, and a member of the committee can be malicious,
so a partial is judged before it takes a place in the store. Every kind (a batch, a refund, a
committee action) is judged by the same steps, in the same order, cheap checks first and the
pairing check last; what differs is what each kind finds out on its own beforehand (`Facts`):

1. `not_member`: the sender is not in the committee;
2. the kind's scope (a batch's or refund's route not configured here: `unknown_route`);
3. `wrong_epoch`: signed under another key epoch than the committee key here;
4. the kind's subject (a batch too far ahead, a transfer or an action this node does not hold);
5. `late`: the item is combined here already;
6. `duplicate`: exactly the partial the store keeps for that member (a re-publication, an echo);
7. `own`: claims this node's own member index (it never takes anyone's word for its own partial);
8. `invalid`: not on the item this node would sign (the kind says why), or not the member's valid
   signature on the message it claims (pairing check against its public share);
9. `kept`, or `early` when this node does not know the item yet (checked again when it does).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from committee.bls import BlsBackend
from committee.threshold import CommitteePublic, verify_partial
from relayer.core.keyring import Keyring, as_keyring


class PartialOutcome(StrEnum):
    KEPT = "kept"  # a valid partial on the item this node would sign: stored for combining
    EARLY = "early"  # a valid signature for an item this node does not know yet: stored, checked later
    DUPLICATE = "duplicate"  # exactly the partial already stored (a re-publication, an echo)
    LATE = "late"  # the item is combined (or closed) here already
    OWN = "own"  # claims this node's own member index but is not the partial it signed
    INVALID = "invalid"  # not the member's signature on what it claims, or not the item this node knows
    NOT_MEMBER = "not_member"
    UNKNOWN_ROUTE = "unknown_route"
    WRONG_EPOCH = "wrong_epoch"
    TOO_FAR_AHEAD = "too_far_ahead"  # a batch: nonces too far ahead of this node's
    UNKNOWN_TRANSFER = "unknown_transfer"  # a refund: this node holds no such transfer (yet)
    UNKNOWN_ACTION = "unknown_action"  # an action this node does not know (yet)

    @property
    def stored(self) -> bool:
        """Whether the partial takes (or replaces) the member's place in the store."""
        return self in (PartialOutcome.KEPT, PartialOutcome.EARLY)


@dataclass(frozen=True, slots=True)
class Judgement:
    """A partial's outcome and, when it is not taken, why in words (for the operator's views)."""

    outcome: PartialOutcome
    why: str = ""


@dataclass(frozen=True, slots=True)
class Facts:
    """What a kind found out about an arriving partial on its own, before the common steps."""

    scope: Judgement | None = None  # refused before the key epoch is looked at (step 2)
    subject: Judgement | None = None  # refused after it (step 4)
    late: str | None = None  # why it arrives after the item was combined here, if it does
    duplicate: bool = False  # exactly the partial the store keeps for the member
    mismatch: str | None = None  # why it is not on the item this node would sign, if it is not
    known: bool = True  # this node knows the item (`kept`); False: `early`


class Arrival(Protocol):
    """What every kind's partial message says: who claims to have signed what, how."""

    @property
    def member(self) -> int: ...

    @property
    def key_epoch(self) -> int: ...

    @property
    def message(self) -> bytes: ...

    @property
    def partial(self) -> bytes: ...


def judge_arrival(
    arrival: Arrival,
    facts: Facts,
    *,
    public: CommitteePublic | Keyring,
    own_member: int,
    backend: BlsBackend | None = None,
) -> Judgement:
    """The outcome of an arriving partial, and why in words (the steps of this module).
    `public`: the committee of one key epoch, or the member's keyring (during a rotation it holds
    two: a partial is checked against the key epoch it says it was signed under)."""
    keyring = as_keyring(public)
    member = arrival.member
    if not keyring.is_member(member):
        return Judgement(PartialOutcome.NOT_MEMBER, f"member {member} is not in the committee")
    if facts.scope is not None:
        return facts.scope
    committee = keyring.public(arrival.key_epoch)
    if committee is None:
        held = " and ".join(str(e) for e in keyring.epochs)
        return Judgement(
            PartialOutcome.WRONG_EPOCH,
            f"signed under key epoch {arrival.key_epoch}; the committee key here is epoch {held}",
        )
    if facts.subject is not None:
        return facts.subject
    if facts.late is not None:
        return Judgement(PartialOutcome.LATE, facts.late)
    if facts.duplicate:
        return Judgement(PartialOutcome.DUPLICATE)
    if member == own_member:
        return Judgement(
            PartialOutcome.OWN, "claims this node's member index but is not the partial it signed"
        )
    if facts.mismatch is not None:
        return Judgement(PartialOutcome.INVALID, facts.mismatch)
    if not verify_partial(committee, member, arrival.message, arrival.partial, backend):
        why = f"does not verify against member {member}'s public share"
        return Judgement(PartialOutcome.INVALID, why)
    return Judgement(PartialOutcome.KEPT if facts.known else PartialOutcome.EARLY)
