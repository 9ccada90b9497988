"""A member's keys across a key rotation (relayer.core.keyring): which epochs it holds, which epoch
each endpoint accepts, and how partials of two epochs are judged and combined side by side."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from committee.bls import get_backend
from committee.threshold import deal, partial_sign, verify
from relayer.core.arrivals import Facts, PartialOutcome, judge_arrival
from relayer.core.keyring import EndpointEpochs, EndpointKey, EpochKey, Keyring, KeyringError
from relayer.core.signing import batch_item, refund_item, signed_once
from relayer.core.states import Equivocation, TransferState, transfer_may_move
from relayer.core.types import BatchId, ChainId, Route
from relayer.pipeline.signing import Combiner, Offered

OLD = deal(4, 3, key_epoch=1)
NEW = deal(4, 3, key_epoch=2)
MESSAGE = b"\x42" * 32
ROUTE = Route(ChainId(1), ChainId(2))
GATEWAY = "0x" + "11" * 20


def both(member: int = 1) -> Keyring:
    return Keyring([EpochKey(OLD[0].public, OLD[member - 1]), EpochKey(NEW[0].public, NEW[member - 1])])


@dataclass(frozen=True)
class Sent:
    member: int
    key_epoch: int
    message: bytes
    partial: bytes


def test_a_keyring_holds_consecutive_epochs_of_the_same_members() -> None:
    ring = both()
    assert ring.epochs == (1, 2)
    assert ring.first.epoch == 1
    assert ring.last.epoch == 2
    assert ring.share(2) == NEW[0]
    assert ring.share(3) is None
    assert ring.by_group_key(NEW[0].public.group_public_key) is not None
    assert ring.by_group_key(deal(4, 3)[0].public.group_public_key) is None
    with pytest.raises(KeyringError, match="not consecutive"):
        Keyring([EpochKey(OLD[0].public, OLD[0]), EpochKey(deal(4, 3, key_epoch=3)[0].public, None)])
    with pytest.raises(KeyringError, match="same members"):
        Keyring([EpochKey(OLD[0].public, None), EpochKey(deal(5, 3, key_epoch=2)[0].public, None)])
    with pytest.raises(KeyringError, match="share of another key"):
        Keyring([EpochKey(OLD[0].public, OLD[0]), EpochKey(NEW[0].public, deal(4, 3, key_epoch=2)[0])])
    with pytest.raises(KeyringError, match="twice"):
        Keyring([EpochKey(OLD[0].public, None), EpochKey(OLD[0].public, None)])
    with pytest.raises(KeyringError, match="at least"):
        Keyring([])


def test_an_endpoint_accepts_its_epoch_and_the_previous_one_within_the_grace_period() -> None:
    before = EndpointKey(1)
    assert before.accepts(1)
    assert not before.accepts(2)
    assert not before.accepts(0)
    rotated = EndpointKey(2, previous_valid_until=1_000, chain_time=999)
    assert rotated.accepts(2)
    assert rotated.accepts(1)
    assert rotated.accepts(1) == EndpointKey(2, 1_000, 1_000).accepts(1)  # the last valid second
    assert not EndpointKey(2, 1_000, 1_001).accepts(1)  # grace over
    assert not EndpointKey(3, 1_000, 10).accepts(1)  # two epochs back: never
    paused = EndpointKey(2, previous_valid_until=499, chain_time=500)  # rotated while paused
    assert not paused.accepts(1)


def test_new_items_are_cut_under_the_endpoint_epoch_only_with_its_key() -> None:
    epochs = EndpointEpochs(both())
    epochs.seed({ChainId(1): 1, ChainId(2): 1})
    assert epochs.cut_epoch(ChainId(2)) == 1
    assert epochs.update(ChainId(2), EndpointKey(2, 100, 50))  # changed
    assert not epochs.update(ChainId(2), EndpointKey(2, 100, 60))
    assert epochs.cut_epoch(ChainId(2)) == 2
    assert epochs.cut_epoch(ChainId(1)) == 1
    assert epochs.accepts(ChainId(2), 1)
    assert not epochs.accepts(ChainId(2), 0)
    epochs.update(ChainId(2), EndpointKey(3, 100, 60))
    assert epochs.cut_epoch(ChainId(2)) is None  # no key of epoch 3 here: nothing is cut
    assert epochs.cut_epoch(ChainId(9)) is None  # never read
    only_old = EndpointEpochs(Keyring.single(OLD[0].public, OLD[0]))
    only_old.update(ChainId(2), EndpointKey(2))
    assert only_old.cut_epoch(ChainId(2)) is None


def test_partials_are_judged_under_the_epoch_they_say() -> None:
    ring = both()
    facts = Facts()
    good_new = Sent(2, 2, MESSAGE, partial_sign(NEW[1], MESSAGE))
    good_old = Sent(2, 1, MESSAGE, partial_sign(OLD[1], MESSAGE))
    swapped = Sent(2, 1, MESSAGE, partial_sign(NEW[1], MESSAGE))  # epoch 2's share, says epoch 1
    backend = get_backend()
    assert (
        judge_arrival(good_new, facts, public=ring, own_member=1, backend=backend).outcome
        is PartialOutcome.KEPT
    )
    assert (
        judge_arrival(good_old, facts, public=ring, own_member=1, backend=backend).outcome
        is PartialOutcome.KEPT
    )
    assert (
        judge_arrival(swapped, facts, public=ring, own_member=1, backend=backend).outcome
        is PartialOutcome.INVALID
    )
    third = Sent(2, 3, MESSAGE, partial_sign(NEW[1], MESSAGE))
    judged = judge_arrival(third, facts, public=ring, own_member=1, backend=backend)
    assert judged.outcome is PartialOutcome.WRONG_EPOCH
    assert "1 and 2" in judged.why
    # a member holding only the old key refuses the new epoch's partials
    old_only = judge_arrival(good_new, facts, public=OLD[0].public, own_member=1, backend=backend)
    assert old_only.outcome is PartialOutcome.WRONG_EPOCH


def test_an_item_combines_under_its_own_epoch_only() -> None:
    combiner = Combiner(both(), get_backend())
    offered = [Offered(m, MESSAGE, partial_sign(NEW[m - 1], MESSAGE)) for m in (1, 2, 3)]
    new = combiner.combine("item", MESSAGE, offered, key_epoch=2)
    assert new.signature is not None
    assert verify(NEW[0].public.group_public_key, MESSAGE, new.signature)
    under_old = combiner.combine("item2", MESSAGE, offered, key_epoch=1)
    assert under_old.signature is None
    assert len(under_old.invalid) == 3
    unheld = combiner.combine("item3", MESSAGE, offered, key_epoch=5)
    assert unheld.signature is None
    assert all("key epoch 5" in why for _, why in unheld.invalid)


def test_attack_a_partial_checked_under_the_epoch_it_claims_is_not_taken_as_checked_under_another() -> None:
    """During a rotation a malicious member 3 signs the new epoch's item with its OLD share and
    claims epoch 1: on arrival that is its valid signature under epoch 1. Remembered as checked for
    the item whatever the epoch, it was then trusted when the item combined under epoch 2: every
    combination failed and nobody was named, so the item never combined while t valid partials were
    on offer (found by the review of the optimistic combination, older than it)."""
    ring = both()
    combiner = Combiner(ring, get_backend())
    forged = partial_sign(OLD[2], MESSAGE)
    claimed = Sent(3, 1, MESSAGE, forged)
    judged = judge_arrival(claimed, Facts(), public=ring, own_member=1, backend=get_backend())
    assert judged.outcome is PartialOutcome.KEPT  # a valid signature under the epoch it claims
    combiner.verified("item", 3, MESSAGE, forged, claimed.key_epoch)  # as the stages record it
    offered = [Offered(m, MESSAGE, partial_sign(NEW[m - 1], MESSAGE)) for m in (1, 2, 4)]
    done = combiner.combine("item", MESSAGE, [*offered, Offered(3, MESSAGE, forged)], key_epoch=2)
    assert done.invalid == ((3, "does not verify against member 3's public share"),)
    assert done.signature is not None
    assert verify(NEW[0].public.group_public_key, MESSAGE, done.signature)
    assert done.members == (1, 2, 4)


def test_a_rekey_signs_the_same_span_and_content_under_a_later_epoch_only() -> None:
    bid = BatchId(ROUTE, 1, 4)
    first = batch_item(bid, GATEWAY, 1, b"root", b"m1")
    assert signed_once(batch_item(bid, GATEWAY, 2, b"root", b"m2"), [(first, b"p")]) is None
    with pytest.raises(Equivocation):  # other content under the later epoch
        signed_once(batch_item(bid, GATEWAY, 2, b"other", b"m3"), [(first, b"p")])
    with pytest.raises(Equivocation):  # another range
        signed_once(batch_item(BatchId(ROUTE, 1, 5), GATEWAY, 2, b"root", b"m4"), [(first, b"p")])
    later = batch_item(bid, GATEWAY, 2, b"root", b"m2")
    with pytest.raises(Equivocation):  # back to an earlier epoch
        signed_once(batch_item(bid, GATEWAY, 1, b"root", b"m5"), [(later, b"p")])
    refund = refund_item(ROUTE, 3, GATEWAY, 1, b"r1")
    assert signed_once(refund_item(ROUTE, 3, GATEWAY, 2, b"r2"), [(refund, b"p")]) is None


def test_a_rekeyed_batch_transfers_go_back_to_batched_and_nothing_else_does() -> None:
    for state in (TransferState.SIGNED, TransferState.AGGREGATED, TransferState.FAILED):
        assert transfer_may_move(state, TransferState.BATCHED, rekey=True)
        assert not transfer_may_move(state, TransferState.BATCHED)
    for state in (TransferState.SUBMITTED, TransferState.EXECUTED, TransferState.REFUNDED):
        assert not transfer_may_move(state, TransferState.BATCHED, rekey=True)


def test_a_refund_rekey_refunds_the_same_transfer_only() -> None:
    leaf, other = b"\x0a" * 32, b"\x0b" * 32
    approved = refund_item(ROUTE, 3, GATEWAY, 1, b"r1", leaf)
    assert signed_once(refund_item(ROUTE, 3, GATEWAY, 2, b"r2", leaf), [(approved, b"p")]) is None
    with pytest.raises(Equivocation):  # another transfer's data under the nonce: never
        signed_once(refund_item(ROUTE, 3, GATEWAY, 2, b"r3", other), [(approved, b"p")])
    # an approval recorded before leaves were (empty content) is the same item when seen again
    legacy = refund_item(ROUTE, 3, GATEWAY, 1, b"r1")
    assert signed_once(refund_item(ROUTE, 3, GATEWAY, 1, b"r1", leaf), [(legacy, b"p")]) == b"p"
