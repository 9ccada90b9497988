"""The one lifecycle of signed items (relayer.core.lifecycle): every state of every kind is in
exactly one phase, and the one outcome type keeps the submitters' metric labels."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from relayer.core.items import CLOSED, OPEN, ActionState
from relayer.core.lifecycle import (
    ENDED_PHASES,
    OPEN_PHASES,
    PHASES,
    STATES,
    ItemKind,
    Outcome,
    OutcomeKind,
    Phase,
    confirmed,
    item_phases,
    not_ready,
    phase_counts,
    phase_of,
    refused,
    retry,
    scheduled,
    sent,
    states_of_every_kind,
)
from relayer.core.states import BatchState, RefundState

KIND_STATES = [(ItemKind.BATCH, BatchState), (ItemKind.REFUND, RefundState), (ItemKind.ACTION, ActionState)]


@pytest.mark.parametrize(("kind", "states"), KIND_STATES)
def test_every_state_of_every_kind_has_a_phase(kind: ItemKind, states: type) -> None:
    # a state added to a kind's enum without a phase fails here (and in phase_of, with its name)
    assert STATES[kind] is states
    assert set(PHASES[kind]) == set(states), f"{kind}: states without a phase or phases of no state"
    for state in states:
        assert isinstance(phase_of(kind, state), Phase)
        assert phase_of(kind, state.value) is phase_of(kind, state)  # as the store keeps it


def test_every_kind_is_mapped() -> None:
    assert set(PHASES) == set(ItemKind) == set(STATES)


def test_phases_are_open_or_ended_never_both() -> None:
    assert set(OPEN_PHASES) | set(ENDED_PHASES) == set(Phase)
    assert not set(OPEN_PHASES) & set(ENDED_PHASES)


def test_the_mapping_table() -> None:
    # the table of docs/PROTOCOL.md, "The lifecycle of a signed item"
    expected = {
        ItemKind.BATCH: {
            "pending": Phase.COLLECTING,
            "aggregated": Phase.SIGNED,
            "submitted": Phase.SUBMITTED,
            "executed": Phase.DONE,
            "failed": Phase.FAILED,
        },
        ItemKind.REFUND: {
            "observed": Phase.CHECKING,
            "approved": Phase.COLLECTING,
            "aggregated": Phase.SIGNED,
            "submitted": Phase.SUBMITTED,
            "refunded": Phase.DONE,
            "refused": Phase.FAILED,
        },
        ItemKind.ACTION: {
            "proposed": Phase.CHECKING,
            "approved": Phase.COLLECTING,
            "submitted": Phase.SUBMITTED,
            "scheduled": Phase.SCHEDULED,
            "executed": Phase.DONE,
            "refused": Phase.FAILED,
            "cancelled": Phase.CLOSED,
            "expired": Phase.CLOSED,
            "superseded": Phase.CLOSED,
            "failed": Phase.FAILED,
        },
    }
    got = {kind: {str(s): phase_of(kind, s) for s in STATES[kind]} for kind in ItemKind}
    assert got == expected


def test_protocol_md_shows_the_mapping() -> None:
    # docs/PROTOCOL.md's table: one row per phase, the states of each kind in backquotes (a state
    # in parentheses is a note, not the mapping)
    text = (Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md").read_text()
    section = text.split("### The lifecycle of a signed item", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    shown: dict[ItemKind, dict[str, Phase]] = {kind: {} for kind in ItemKind}
    for row in rows[: len(Phase)]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        phase = Phase(cells[0].strip("`"))
        for kind, cell in zip((ItemKind.BATCH, ItemKind.REFUND, ItemKind.ACTION), cells[2:5], strict=True):
            if cell.startswith("("):
                continue
            for state in re.findall(r"`([a-z_]+)`", cell):
                shown[kind][state] = phase
    assert [Phase(r.split("`")[1]) for r in rows[: len(Phase)]] == list(Phase)
    assert shown == {kind: {str(s): p for s, p in PHASES[kind].items()} for kind in ItemKind}


def test_an_actions_open_and_closed_states_agree_with_the_phases() -> None:
    for state in OPEN:
        assert phase_of(ItemKind.ACTION, state) in OPEN_PHASES, state
    for state in CLOSED:
        assert phase_of(ItemKind.ACTION, state) in ENDED_PHASES, state


def test_a_state_of_another_kind_is_refused_with_the_kinds_states() -> None:
    with pytest.raises(ValueError, match="'scheduled' is not a state of a batch.*'pending'"):
        phase_of(ItemKind.BATCH, "scheduled")
    with pytest.raises(ValueError, match="'observed' is not a state of a action"):
        phase_of("action", "observed")
    with pytest.raises(ValueError):
        phase_of("transfer", "final")  # a transfer is not a signed item


def test_phase_counts_sum_states_and_name_every_phase() -> None:
    counts = phase_counts(ItemKind.ACTION, {"cancelled": 2, "expired": 3, "approved": 1})
    assert counts[Phase.CLOSED] == 5
    assert counts[Phase.COLLECTING] == 1
    assert set(counts) == set(Phase)
    assert counts[Phase.DONE] == 0
    assert phase_counts(ItemKind.BATCH, {}) == dict.fromkeys(Phase, 0)
    with pytest.raises(ValueError):
        phase_counts(ItemKind.REFUND, {"pending": 1})


def test_item_phases_name_every_kind_and_phase_and_sum_the_action_kinds() -> None:
    actions = states_of_every_kind(
        {("resume", "scheduled"): 1, ("rotate", "scheduled"): 1, ("freeze", "executed"): 4}
    )
    assert actions == {"scheduled": 2, "executed": 4}
    items = item_phases(
        {ItemKind.BATCH: {"pending": 2, "aggregated": 1}, ItemKind.REFUND: {}, ItemKind.ACTION: actions}
    )
    assert items["batch"]["collecting"] == 2
    assert items["batch"]["signed"] == 1
    assert items["action"]["scheduled"] == 2
    assert items["action"]["done"] == 4
    assert items["refund"] == {p.value: 0 for p in Phase}
    assert all(set(phases) == {p.value for p in Phase} for phases in items.values())


def test_outcome_labels_are_the_submitters_metric_labels() -> None:
    assert confirmed("executed by tx 0x1", ours=True).label == "executed"
    assert confirmed("executed on-chain by another relayer", ours=False).label == "already_executed"
    assert sent("tx 0x1").label == "sent"
    assert not_ready("turn").label == "not_ready"
    assert retry("reverted").label == "retry"
    assert refused("reverts").label == "drop"
    assert scheduled("delay").label == "scheduled"


def test_outcome_is_frozen_and_only_a_confirmation_is_ours() -> None:
    o = sent("tx 0x1")
    assert o == Outcome(OutcomeKind.SENT, "tx 0x1")
    assert o.kind is OutcomeKind.SENT
    assert o.detail == "tx 0x1"
    assert not o.ours
    with pytest.raises(AttributeError):
        o.kind = OutcomeKind.RETRY  # type: ignore[misc]
    with pytest.raises(ValueError, match="only a confirmed outcome"):
        Outcome(OutcomeKind.SENT, "x", ours=True)
    assert confirmed("x", ours=True) != confirmed("x", ours=False)
