"""Refunds of transfers that failed on their destination: the pure decisions (docs/PROTOCOL.md).

A member signs the REFUND message of a transfer only if

- it holds the transfer itself, stored final by its own source-chain watcher (the message is
  computed from those fields, never from anything received), and
- the destination's `transferStatus(src, nonce)` is Failed as of the destination's final head.

A transfer the destination reports Delivered is never refunded (executed or refunded, never both);
Queued may still become either, so it waits.

A received refund partial is judged by the steps every kind shares (`relayer.core.arrivals`): cheap
checks first, the pairing check against the member's public share last, and it is kept only if it
signs the REFUND message this node computes from its own transfer.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from committee.bls import BlsBackend
from committee.threshold import CommitteePublic
from relayer.core.arrivals import Facts, Judgement, PartialOutcome, judge_arrival
from relayer.core.messages import RefundPartialMessage
from relayer.core.types import Route, Transfer

STATUS_NONE, STATUS_DELIVERED, STATUS_QUEUED, STATUS_FAILED = 0, 1, 2, 3


class FailureReason(IntEnum):
    """`QiaoEndpoint.FailureReason`, the `reason` of a `TransferFailed` event (same numbers)."""

    NONE = 0
    RECIPIENT_NOT_ALLOWED = 1
    TOKEN_FROZEN = 2
    DELIVERY_REFUSED = 3
    UNREGISTERED_TOKEN_PAIR = 4
    EXCEEDS_CAPACITY = 5
    VETOED = 6


# the one table of why a destination did not deliver: (the contract's name, words for operators)
FAILURE_REASONS: dict[FailureReason, tuple[str, str]] = {
    FailureReason.NONE: ("None", "no failure"),
    FailureReason.RECIPIENT_NOT_ALLOWED: ("RecipientNotAllowed", "recipient not allowed on the destination"),
    FailureReason.TOKEN_FROZEN: ("TokenFrozen", "token frozen on the destination"),
    FailureReason.DELIVERY_REFUSED: ("DeliveryRefused", "delivery refused by the destination's token"),
    FailureReason.UNREGISTERED_TOKEN_PAIR: (
        "UnregisteredTokenPair",
        "token pair not registered on the destination",
    ),
    FailureReason.EXCEEDS_CAPACITY: (
        "ExceedsCapacity",
        "amount above the destination's inbound rate-limit capacity",
    ),
    FailureReason.VETOED: (
        "Vetoed",
        "vetoed by a sentinel during its challenge window on the destination",
    ),
}


def failure_words(reason: int) -> str:
    """Why the destination did not deliver a transfer, in words, with the contract's name and code:
    'recipient not allowed on the destination (RecipientNotAllowed, reason 1)'."""
    try:
        name, words = FAILURE_REASONS[FailureReason(reason)]
    except ValueError:
        return f"unknown failure reason {reason} (this node knows 0-{max(FailureReason)}: a newer contract?)"
    return f"{words} ({name}, reason {reason})"


class RefundDecision(StrEnum):
    SIGN = "sign"
    WAIT = "wait"  # not yet: ask again later
    REFUSE = "refuse"  # never: the destination delivered it


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: RefundDecision
    why: str


def decide_refund(own: Transfer | None, status: int | None) -> Verdict:
    """Whether to sign the refund of a transfer, from this node's own copy of it (None if its
    source watcher has not stored it) and the destination's status at its final head (None if
    the final head is before the endpoint was deployed)."""
    if status == STATUS_DELIVERED:
        return Verdict(RefundDecision.REFUSE, "the destination reports it Delivered at its final head")
    if own is None:
        return Verdict(RefundDecision.WAIT, "this node's source watcher has not stored the transfer")
    if status != STATUS_FAILED:
        return Verdict(RefundDecision.WAIT, f"the destination's status at its final head is {status}")
    return Verdict(RefundDecision.SIGN, "own final transfer, Failed at the destination's final head")


RefundPartialOutcome = PartialOutcome  # a refund partial's outcomes are every kind's (relayer.core.arrivals)


def classify_refund_partial(
    msg: RefundPartialMessage,
    *,
    public: CommitteePublic,
    routes: Collection[Route],
    own_member: int,
    holds_transfer: bool,
    expected_message: bytes | None,
    late: bool,
    stored: tuple[bytes, bytes] | None,
    backend: BlsBackend | None = None,
) -> RefundPartialOutcome:
    """The outcome for `msg`. `expected_message` is the REFUND message this node approved (None
    before it approved), `stored` the (message, partial) already kept for this member."""
    facts = refund_facts(msg, routes, holds_transfer, expected_message, late, stored)
    return judge_arrival(msg, facts, public=public, own_member=own_member, backend=backend).outcome


def refund_facts(
    msg: RefundPartialMessage,
    routes: Collection[Route],
    holds_transfer: bool,
    expected_message: bytes | None,
    late: bool,
    stored: tuple[bytes, bytes] | None,
) -> Facts:
    """What a refund partial is, as this node finds out on its own (`relayer.core.arrivals`)."""
    unknown_route = Judgement(PartialOutcome.UNKNOWN_ROUTE, f"route {msg.route} is not configured here")
    unknown_transfer = Judgement(
        PartialOutcome.UNKNOWN_TRANSFER, f"this node holds no transfer {msg.route}#{msg.nonce} (yet)"
    )
    wrong = None
    if expected_message is not None and msg.message != expected_message:
        wrong = "signs another message than the refund this node approved"
    return Facts(
        scope=None if msg.route in routes else unknown_route,
        subject=None if holds_transfer else unknown_transfer,
        late="the refund is aggregated, submitted, refunded or refused here" if late else None,
        duplicate=stored == (msg.message, msg.partial),
        mismatch=wrong,
        known=expected_message is not None,
    )
