"""The one lifecycle of everything the committee signs, and the one outcome of a step on it. Pure.

A signed item (relayer.core.signing) is a batch, a refund or a committee action. Each kind keeps
its own states in its own table (`BatchState`, `RefundState`, `ActionState`: what it needs to be
carried, and what its history and operators' commands name), and every one of those states is in
exactly one `Phase`, the same for every kind (`phase_of`, docs/PROTOCOL.md "Signed once, for every
kind"). Operators see items across kinds by phase (`qiao_signed_items{kind,phase}`, `relayer
status`).

Every step that submits an item, follows its transaction or settles it from the chain returns one
`Outcome` (as Hyperlane's `PendingOperation` results do for its message kinds): the submit stage's
batches and refunds (relayer.pipeline.submitter) and the action stage's submit, settle and
follow-up (relayer.pipeline.actions) alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from relayer.core.items import ActionState
from relayer.core.states import BatchState, RefundState


class ItemKind(StrEnum):
    """The kinds of signed item (a transfer is not one: it is signed as a leaf of its batch)."""

    BATCH = "batch"
    REFUND = "refund"
    ACTION = "action"  # every committee action: pause, resume, rotate, freeze, allow


class Phase(StrEnum):
    """Where a signed item is, whatever its kind. The first five are open, the last four ended
    (an ended item never moves again, except by an operator's `retry` of a failed batch)."""

    CHECKING = "checking"
    """Seen, not yet signed here: this member checks it, or waits for its operator's approval
    (a refund observed; an action proposed by another member)."""

    COLLECTING = "collecting"
    """Signed (or approved) by this member; partials are being collected until t of them combine
    (a batch pending; a refund approved; an action approved, which keeps its combined signature on
    the same row until it is sent)."""

    SIGNED = "signed"
    """t partials combined into a verified threshold signature, not sent yet (aggregated)."""

    SUBMITTED = "submitted"
    """A transaction carrying it is in flight (this node's, or another relayer's it follows)."""

    SCHEDULED = "scheduled"
    """Accepted on-chain and waiting out the endpoint's delay before it takes effect (a RESUME or
    ROTATE); the guardian may still cancel it."""

    DONE = "done"
    """Its effect is on-chain, final (executed; refunded)."""

    FAILED = "failed"
    """Refused for good, so an operator looks: the chain reverts it deterministically (a batch
    failed, a refund refused) or this member will not sign it (an action refused by its own check
    or its operator)."""

    CLOSED = "closed"
    """Ended without effect and without fault: expired, cancelled by the guardian, or superseded
    by a later decision of the consortium chain's registry."""


OPEN_PHASES = (Phase.CHECKING, Phase.COLLECTING, Phase.SIGNED, Phase.SUBMITTED, Phase.SCHEDULED)
ENDED_PHASES = (Phase.DONE, Phase.FAILED, Phase.CLOSED)

PHASES: Mapping[ItemKind, Mapping[str, Phase]] = {
    ItemKind.BATCH: {
        BatchState.PENDING: Phase.COLLECTING,
        BatchState.AGGREGATED: Phase.SIGNED,
        BatchState.SUBMITTED: Phase.SUBMITTED,
        BatchState.EXECUTED: Phase.DONE,
        BatchState.FAILED: Phase.FAILED,
    },
    ItemKind.REFUND: {
        RefundState.OBSERVED: Phase.CHECKING,
        RefundState.APPROVED: Phase.COLLECTING,
        RefundState.AGGREGATED: Phase.SIGNED,
        RefundState.SUBMITTED: Phase.SUBMITTED,
        RefundState.REFUNDED: Phase.DONE,
        RefundState.REFUSED: Phase.FAILED,
    },
    ItemKind.ACTION: {
        ActionState.PROPOSED: Phase.CHECKING,
        ActionState.APPROVED: Phase.COLLECTING,
        ActionState.SUBMITTED: Phase.SUBMITTED,
        ActionState.SCHEDULED: Phase.SCHEDULED,
        ActionState.EXECUTED: Phase.DONE,
        ActionState.REFUSED: Phase.FAILED,
        ActionState.FAILED: Phase.FAILED,
        ActionState.CANCELLED: Phase.CLOSED,
        ActionState.EXPIRED: Phase.CLOSED,
        ActionState.SUPERSEDED: Phase.CLOSED,
    },
}
STATES: Mapping[ItemKind, type[StrEnum]] = {
    ItemKind.BATCH: BatchState,
    ItemKind.REFUND: RefundState,
    ItemKind.ACTION: ActionState,
}


def phase_of(kind: ItemKind | str, state: str) -> Phase:
    """The phase of an item of `kind` in its kind's `state` (a member of the kind's state enum, or
    its value as the store keeps it). Total over every state of every kind (tests/unit/
    test_lifecycle.py checks each enum); a state that is not one of the kind's is a ValueError."""
    k = ItemKind(kind)
    try:
        return PHASES[k][STATES[k](state)]
    except ValueError:
        raise ValueError(
            f"{state!r} is not a state of a {k}; its states are {[s.value for s in STATES[k]]}"
        ) from None


def phase_counts(kind: ItemKind, by_state: Mapping[str, int]) -> dict[Phase, int]:
    """Counts per state of one kind (as the store gives them) summed per phase; every phase is
    present (0 when none), so a gauge set from it reads 0, not its last count."""
    out = dict.fromkeys(Phase, 0)
    for state, n in by_state.items():
        out[phase_of(kind, state)] += n
    return out


def item_phases(by_kind: Mapping[ItemKind, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """{kind: {phase: count}} from each kind's counts per state (`phase_counts`), as `relayer
    status` shows them and `qiao_signed_items` exports them."""
    return {kind.value: {p.value: n for p, n in phase_counts(kind, s).items()} for kind, s in by_kind.items()}


def states_of_every_kind(counts: Mapping[tuple[str, str], int]) -> dict[str, int]:
    """Counts per (action kind, state) summed per state: every committee action is one item kind."""
    out: dict[str, int] = {}
    for (_, state), n in counts.items():
        out[state] = out.get(state, 0) + n
    return out


class OutcomeKind(StrEnum):
    CONFIRMED = "confirmed"  # its effect is on-chain, final: by this relayer's transaction or another's
    SENT = "sent"  # a transaction of this relayer is in flight (sent now, or waiting for its receipt)
    SCHEDULED = "scheduled"  # accepted on-chain, waiting out the endpoint's delay (RESUME, ROTATE, UNCURSE)
    NOT_READY = "not_ready"  # not now: not this relayer's turn, paused, fees above the cap, not final yet
    RETRY = "retry"  # transient trouble (a race, a reorg, a nonce taken): decided again in a later step
    REFUSED = "refused"  # deterministic: the chain or this member refuses it for good; never retried


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one submit, follow-up or settle step did with a signed item. `detail` says why in
    words; `ours` (CONFIRMED only) is whether this relayer's own transaction took effect, as far as
    it knows (another relayer's did, or the action's effect was found on-chain: False)."""

    kind: OutcomeKind
    detail: str = ""
    ours: bool = False

    def __post_init__(self) -> None:
        if self.ours and self.kind is not OutcomeKind.CONFIRMED:
            raise ValueError(f"outcome {self.kind}: only a confirmed outcome is by our transaction or not")

    @property
    def label(self) -> str:
        """The `outcome` label of `qiao_submissions_total` and `qiao_refund_submissions_total`,
        unchanged since the submitter had its own outcome enum: `executed` (ours),
        `already_executed` (another relayer's), `sent`, `not_ready`, `retry`, `drop` (refused),
        `scheduled`."""
        if self.kind is OutcomeKind.CONFIRMED:
            return "executed" if self.ours else "already_executed"
        if self.kind is OutcomeKind.REFUSED:
            return "drop"
        return self.kind.value


def confirmed(detail: str, *, ours: bool) -> Outcome:
    return Outcome(OutcomeKind.CONFIRMED, detail, ours)


def sent(detail: str) -> Outcome:
    return Outcome(OutcomeKind.SENT, detail)


def scheduled(detail: str) -> Outcome:
    return Outcome(OutcomeKind.SCHEDULED, detail)


def not_ready(detail: str) -> Outcome:
    return Outcome(OutcomeKind.NOT_READY, detail)


def retry(detail: str) -> Outcome:
    return Outcome(OutcomeKind.RETRY, detail)


def refused(detail: str) -> Outcome:
    return Outcome(OutcomeKind.REFUSED, detail)
