"""The submitter's transaction math: turns, ranks and EIP-1559 fees, replacements included."""

from __future__ import annotations

from collections import Counter

import pytest

from relayer.core.states import TxRecord
from relayer.core.txmath import (
    GWEI,
    FeeRefusal,
    Fees,
    batch_rank,
    fees,
    refund_rank,
    send_fees,
    transaction,
    turn,
)

CAP = 100 * GWEI


def sent(max_fee: int, priority_fee: int) -> TxRecord:
    return TxRecord("0x" + "aa" * 32, 31337, "0x" + "11" * 20, 4, max_fee, priority_fee, 0.0)


@pytest.mark.parametrize("n", [1, 2, 4, 7])
def test_every_batch_has_exactly_one_relayer_of_rank_zero_and_the_ranks_are_a_permutation(n: int) -> None:
    for first in range(1, 60, 7):
        ranks = [batch_rank(member, n, 1, 2, first) for member in range(1, n + 1)]
        assert sorted(ranks) == list(range(n))
        assert ranks.index(0) == turn(1, 2, first, n)  # member turn + 1 goes first


def test_turns_spread_batches_of_a_hundred_over_the_committee() -> None:
    firsts = Counter(turn(1, 2, first, 4) for first in range(1, 100 * 400, 100))
    assert set(firsts) == {0, 1, 2, 3}
    assert min(firsts.values()) > 50  # 400 batches; `first mod 4` put every one on the same relayer


@pytest.mark.parametrize(("member", "nonce", "rank"), [(1, 1, 0), (2, 1, 1), (1, 2, 3), (4, 4, 0), (3, 9, 2)])
def test_refunds_rotate_by_nonce(member: int, nonce: int, rank: int) -> None:
    assert refund_rank(member, 4, nonce) == rank


@pytest.mark.parametrize(
    ("base_fee", "priority", "expected"),
    [
        (10 * GWEI, 1 * GWEI, Fees(10 * GWEI, 21 * GWEI, 1 * GWEI)),
        (60 * GWEI, 1 * GWEI, Fees(60 * GWEI, CAP, 1 * GWEI)),  # clamped to the cap
        (0, 2 * GWEI, Fees(0, 2 * GWEI, 2 * GWEI)),
        (0, 200 * GWEI, Fees(0, CAP, CAP)),  # the priority fee never above the max fee
    ],
)
def test_a_new_transactions_fees(base_fee: int, priority: int, expected: Fees) -> None:
    assert fees(base_fee, priority, CAP) == expected


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [
        # a new transaction takes the current fees
        (Fees(10 * GWEI, 21 * GWEI, GWEI), None, Fees(10 * GWEI, 21 * GWEI, GWEI)),
        # a base fee above the cap: nothing is sent
        (Fees(120 * GWEI, CAP, GWEI), None, FeeRefusal.BASE_FEE_ABOVE_CAP),
        # a replacement is bumped by 20 % over what it replaces
        (
            Fees(10 * GWEI, 21 * GWEI, GWEI),
            sent(30 * GWEI, 2 * GWEI),
            Fees(10 * GWEI, 36 * GWEI, 2_400_000_000),
        ),
        # ... unless the current fees are higher already
        (Fees(40 * GWEI, 81 * GWEI, GWEI), sent(30 * GWEI, GWEI), Fees(40 * GWEI, 81 * GWEI, 1_200_000_000)),
        # clamped to the cap while the cap still beats the previous fee by 10 %
        (Fees(10 * GWEI, 21 * GWEI, GWEI), sent(90 * GWEI, GWEI), Fees(10 * GWEI, CAP, 1_200_000_000)),
        # refused when it does not (a node would refuse the replacement)
        (Fees(10 * GWEI, 21 * GWEI, GWEI), sent(91 * GWEI, GWEI), FeeRefusal.CAP_REACHED),
        (Fees(10 * GWEI, 21 * GWEI, GWEI), sent(CAP, GWEI), FeeRefusal.CAP_REACHED),
        # the bumped priority fee is kept under the max fee
        (Fees(10 * GWEI, 21 * GWEI, GWEI), sent(90 * GWEI, 90 * GWEI), Fees(10 * GWEI, CAP, CAP)),
    ],
)
def test_send_fees(current: Fees, previous: TxRecord | None, expected: Fees | FeeRefusal) -> None:
    assert send_fees(current, CAP, previous, 20) == expected


def test_the_transaction_carries_the_fees_and_a_padded_gas_limit() -> None:
    tx = transaction(31337, 4, "0x" + "55" * 20, b"\x01", 100_000, Fees(1, 30, 2))
    assert tx == {
        "type": 2,
        "chainId": 31337,
        "nonce": 4,
        "to": "0x" + "55" * 20,
        "value": 0,
        "data": b"\x01",
        "gas": 130_000,
        "maxFeePerGas": 30,
        "maxPriorityFeePerGas": 2,
    }
