"""The store's rules, now pure (relayer.core.store_rules, relayer.core.states): the signed-once
guard's decision, the refund approval's, and the state a batch moves its transfers to."""

from __future__ import annotations

import pytest

from relayer.core.states import BatchState, Equivocation, SignedRange, TransferState, transfer_state_for
from relayer.core.store_rules import check_refund_message, failure_detail, signed_before
from relayer.core.types import BatchId, ChainId, Nonce, Route

ROUTE = Route(ChainId(1), ChainId(2))
BID = BatchId(ROUTE, Nonce(5), Nonce(8))


def signed(
    first: int = 5, last: int = 8, epoch: int = 1, root: bytes = b"r", message: bytes = b"m"
) -> SignedRange:
    return SignedRange(first, last, epoch, root, message, partial=b"p-" + root)


def test_nothing_signed_on_the_range_means_sign() -> None:
    assert signed_before(BID, 1, b"r", b"m", []) is None


def test_the_same_batch_signed_before_gives_back_its_partial() -> None:
    assert signed_before(BID, 1, b"r", b"m", [signed()]) == b"p-r"


@pytest.mark.parametrize(
    "earlier",
    [signed(root=b"x"), signed(message=b"x"), signed(epoch=2), signed(first=3, last=6), signed(last=9)],
)
def test_anything_else_signed_on_an_overlapping_range_is_equivocation(earlier: SignedRange) -> None:
    with pytest.raises(Equivocation, match=f"overlaps {earlier.first_nonce}-{earlier.last_nonce}"):
        signed_before(BID, 1, b"r", b"m", [earlier])


def test_a_refund_is_approved_with_one_message() -> None:
    check_refund_message(ROUTE, 3, None, b"m")
    check_refund_message(ROUTE, 3, b"m", b"m")
    with pytest.raises(Equivocation, match="approved with message 0x6d; refusing 0x78"):
        check_refund_message(ROUTE, 3, b"m", b"x")


@pytest.mark.parametrize(
    ("batch", "transfer"),
    [
        (BatchState.PENDING, TransferState.BATCHED),
        (BatchState.AGGREGATED, TransferState.AGGREGATED),
        (BatchState.SUBMITTED, TransferState.SUBMITTED),
        (BatchState.EXECUTED, TransferState.EXECUTED),
        (BatchState.FAILED, TransferState.FAILED),
    ],
)
def test_a_batch_moves_its_transfers_to_the_matching_state(
    batch: BatchState, transfer: TransferState
) -> None:
    assert transfer_state_for(batch) == transfer


def test_a_failed_transfer_history_line_names_the_reason_and_where() -> None:
    line = failure_detail(1, 42, "0xabc")
    assert line.endswith(": TransferFailed in block 42, tx 0xabc")
    assert "reason 1" in line
