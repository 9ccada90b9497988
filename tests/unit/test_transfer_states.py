"""The one rule for a transfer's state (relayer.core.states.transfer_may_move) and the words for the
destination's FailureReason (relayer.core.refunds.failure_words): pure, tables of cases."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from relayer.core.refunds import FAILURE_REASONS, FailureReason, failure_words
from relayer.core.states import TRANSFER_ORDER, TransferState, transfer_may_move

ROOT = Path(__file__).resolve().parents[2]
S = TransferState


@pytest.mark.parametrize(
    ("current", "proposed", "retry", "allowed"),
    [
        (S.FINAL, S.BATCHED, False, True),
        (S.BATCHED, S.SIGNED, False, True),
        (S.SIGNED, S.AGGREGATED, False, True),
        (S.AGGREGATED, S.SUBMITTED, False, True),
        (S.SUBMITTED, S.SUBMITTED, False, True),  # a replacement transaction, its own history line
        (S.SUBMITTED, S.EXECUTED, False, True),
        (S.AGGREGATED, S.EXECUTED, False, True),  # another relayer executed it
        (S.EXECUTED, S.FAILED, False, True),  # the destination's TransferFailed learnt after
        (S.FAILED, S.REFUNDED, False, True),
        (S.EXECUTED, S.REFUNDED, False, True),
        (S.FINAL, S.FAILED, False, True),  # a lagging source watcher stores it after the failure
        # the bug of issue 14: the refund seen final before the batch's execution
        (S.REFUNDED, S.EXECUTED, False, False),
        (S.FAILED, S.EXECUTED, False, False),
        (S.REFUNDED, S.REFUNDED, False, False),
        (S.EXECUTED, S.EXECUTED, False, False),
        (S.AGGREGATED, S.SIGNED, False, False),  # its own signer ran after the others' partials
        (S.SUBMITTED, S.AGGREGATED, False, False),  # a reverted or dropped tx puts the batch back
        (S.EXECUTED, S.BATCHED, False, False),
        (S.FAILED, S.BATCHED, False, False),  # only an operator retries
        # an operator's retry of a failed (reverted) batch
        (S.FAILED, S.AGGREGATED, True, True),
        (S.FAILED, S.BATCHED, True, True),
        (S.REFUNDED, S.AGGREGATED, True, False),
        (S.EXECUTED, S.BATCHED, True, False),
        (S.FAILED, S.SIGNED, True, False),
    ],
)
def test_a_transfer_state_only_moves_forward(
    current: TransferState, proposed: TransferState, retry: bool, allowed: bool
) -> None:
    assert transfer_may_move(current, proposed, retry=retry) is allowed


def test_the_order_names_every_state_once() -> None:
    assert sorted(TRANSFER_ORDER) == sorted(TransferState)


def test_any_arrival_order_of_the_facts_ends_in_the_same_state() -> None:
    """Members learn `executed`, `failed` and `refunded` in any order: each applies the rule and
    all end in `refunded` with a history that never goes back."""
    for order in itertools.permutations([S.EXECUTED, S.FAILED, S.REFUNDED]):
        state, history = S.SUBMITTED, [S.SUBMITTED]
        for fact in order:
            if transfer_may_move(state, fact):
                state = fact
                history.append(fact)
        assert state == S.REFUNDED, order
        ranks = [TRANSFER_ORDER.index(h) for h in history]
        assert ranks == sorted(ranks), (order, history)


@pytest.mark.parametrize(
    ("reason", "says"),
    [
        (0, "no failure (None, reason 0)"),
        (1, "recipient not allowed on the destination (RecipientNotAllowed, reason 1)"),
        (2, "token frozen on the destination (TokenFrozen, reason 2)"),
        (3, "delivery refused by the destination's token (DeliveryRefused, reason 3)"),
        (4, "token pair not registered on the destination (UnregisteredTokenPair, reason 4)"),
        (5, "amount above the destination's inbound rate-limit capacity (ExceedsCapacity, reason 5)"),
        (6, "vetoed by a sentinel during its challenge window on the destination (Vetoed, reason 6)"),
        (7, "unknown failure reason 7 (this node knows 0-6: a newer contract?)"),
        (255, "unknown failure reason 255"),
    ],
)
def test_failure_reasons_in_words(reason: int, says: str) -> None:
    assert failure_words(reason).startswith(says)


def test_the_table_matches_the_contracts_enum() -> None:
    """Every value of QiaoEndpoint.FailureReason has its words here, under the same name and number."""
    source = (ROOT / "contracts" / "src" / "QiaoEndpoint.sol").read_text()
    body = re.search(r"enum FailureReason\s*\{([^}]*)\}", source)
    assert body is not None
    names = [n.strip() for n in re.sub(r"//[^\n]*", "", body.group(1)).split(",") if n.strip()]
    assert names[:3] == ["None", "RecipientNotAllowed", "TokenFrozen"]
    for number, name in enumerate(names):
        assert FAILURE_REASONS[FailureReason(number)][0] == name
    assert len(names) == len(FAILURE_REASONS) == len(FailureReason)
    assert all(words for _, words in FAILURE_REASONS.values())
