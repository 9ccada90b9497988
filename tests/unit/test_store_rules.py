"""The store's rules, now pure (relayer.core.signing, relayer.core.states): the signed-once
rule's decision for a batch and a refund, and the state a batch moves its transfers to."""

from __future__ import annotations

import pytest

from relayer.core.signing import SignedItem, batch_item, refund_item, signed_once
from relayer.core.states import BatchState, Equivocation, TransferState, transfer_state_for
from relayer.core.store_rules import failure_detail
from relayer.core.types import BatchId, ChainId, Nonce, Route

ROUTE = Route(ChainId(1), ChainId(2))
BID = BatchId(ROUTE, Nonce(5), Nonce(8))
GATEWAY = "0x" + "cd" * 20


def signed(
    first: int = 5, last: int = 8, epoch: int = 1, root: bytes = b"r", message: bytes = b"m"
) -> tuple[SignedItem, bytes]:
    bid = BatchId(ROUTE, Nonce(first), Nonce(last))
    return batch_item(bid, GATEWAY, epoch, root, message), b"p-" + root


def test_nothing_signed_on_the_range_means_sign() -> None:
    assert signed_once(batch_item(BID, GATEWAY, 1, b"r", b"m"), []) is None


def test_the_same_batch_signed_before_gives_back_its_partial() -> None:
    assert signed_once(batch_item(BID, GATEWAY, 1, b"r", b"m"), [signed()]) == b"p-r"


@pytest.mark.parametrize(
    "earlier",
    [signed(root=b"x"), signed(message=b"x"), signed(epoch=2), signed(first=3, last=6), signed(last=9)],
)
def test_anything_else_signed_on_an_overlapping_range_is_equivocation(
    earlier: tuple[SignedItem, bytes],
) -> None:
    span = earlier[0].span
    assert span is not None
    with pytest.raises(Equivocation, match=f"overlaps {span.first}-{span.last}"):
        signed_once(batch_item(BID, GATEWAY, 1, b"r", b"m"), [earlier])


def test_a_refund_is_approved_with_one_message() -> None:
    approved = refund_item(ROUTE, 3, GATEWAY, 1, b"m")
    assert signed_once(approved, []) is None
    assert signed_once(refund_item(ROUTE, 3, GATEWAY, 1, b"m"), [(approved, b"p")]) == b"p"
    with pytest.raises(Equivocation, match="message 0x6d; refusing to sign content 0x, message 0x78"):
        signed_once(refund_item(ROUTE, 3, GATEWAY, 1, b"x"), [(approved, b"p")])
    # under a later key epoch it is a re-key (the source rotated): one nonce, refunded once on-chain
    assert signed_once(refund_item(ROUTE, 3, GATEWAY, 2, b"x"), [(approved, b"p")]) is None
    with pytest.raises(Equivocation):  # never back to an earlier epoch
        signed_once(
            refund_item(ROUTE, 3, GATEWAY, 1, b"y"), [(refund_item(ROUTE, 3, GATEWAY, 2, b"x"), b"p")]
        )
    with pytest.raises(Equivocation):  # nor another nonce's refund on another contract
        signed_once(refund_item(ROUTE, 3, "0x" + "22" * 20, 2, b"x"), [(approved, b"p")])


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
