"""How a node judges a received partial: a table of cases, the adversarial ones included."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace

import pytest

from committee.bls import get_backend
from committee.threshold import KeyShare, deal, partial_sign
from relayer.core.messages import PartialMessage
from relayer.core.partials import (
    PENDING_HORIZON,
    Judgement,
    MemberPartial,
    OwnBatch,
    PartialOutcome,
    PartialStatus,
    Received,
    Rejection,
    StoredPartial,
    classify_partial,
    combined_members,
    judge_partial,
    member_partials,
)
from relayer.core.types import BatchId, ChainId, Nonce, Route

ROUTE = Route(ChainId(7001), ChainId(7002))
OTHER_ROUTE = Route(ChainId(7001), ChainId(7003))
MESSAGE = b"\x11" * 32
OTHER = b"\x22" * 32
SHARES: list[KeyShare] = deal(4, 3, rng=random.Random(7))
PUBLIC = SHARES[0].public
OWN = 1
BID = BatchId(ROUTE, Nonce(5), Nonce(7))


def partial(member: int, message: bytes = MESSAGE, *, signer: int | None = None) -> PartialMessage:
    share = SHARES[(signer or member) - 1]
    return PartialMessage(member, BID, 1, b"\x00" * 32, message, partial_sign(share, message))


def with_bytes(member: int, raw: bytes) -> PartialMessage:
    return replace(partial(member), partial=raw)


PENDING = OwnBatch(BID.last_nonce, MESSAGE, pending=True)
DONE = OwnBatch(BID.last_nonce, MESSAGE, pending=False)


def stored(msg: PartialMessage) -> StoredPartial:
    return StoredPartial(msg.batch.last_nonce, msg.message, msg.partial)


GOOD = partial(2)
G1_GENERATOR = bytes.fromhex(
    "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
)
OFF_CURVE = (0x80 << 376 | 1).to_bytes(48, "big")  # x = 1: x^3 + 4 = 5 has no square root mod p

Case = tuple[str, PartialMessage, OwnBatch | None, StoredPartial | None, PartialOutcome]
CASES: list[Case] = [
    ("valid-for-our-batch", GOOD, PENDING, None, PartialOutcome.KEPT),
    ("valid-before-we-cut-it", GOOD, None, None, PartialOutcome.EARLY),
    ("re-publication", GOOD, PENDING, stored(GOOD), PartialOutcome.DUPLICATE),
    ("after-aggregation", GOOD, DONE, None, PartialOutcome.LATE),
    ("garbage-bytes", with_bytes(2, bytes(range(48))), PENDING, None, PartialOutcome.INVALID),
    ("off-the-curve", with_bytes(2, OFF_CURVE), None, None, PartialOutcome.INVALID),
    ("identity", with_bytes(2, b"\xc0" + bytes(47)), None, None, PartialOutcome.INVALID),
    ("outside-the-subgroup", with_bytes(2, b"\x80" + bytes(47)), None, None, PartialOutcome.INVALID),
    ("a-valid-point-not-a-signature", with_bytes(2, G1_GENERATOR), None, None, PartialOutcome.INVALID),
    ("another-members-share", partial(2, signer=3), None, None, PartialOutcome.INVALID),
    ("another-message-for-our-batch", partial(2, OTHER), PENDING, None, PartialOutcome.INVALID),
    (
        "another-last-nonce",
        replace(GOOD, batch=BatchId(ROUTE, Nonce(5), Nonce(9))),
        PENDING,
        None,
        PartialOutcome.INVALID,
    ),
    ("valid-replaces-an-earlier-other", GOOD, PENDING, stored(partial(2, OTHER)), PartialOutcome.KEPT),
    ("early-replaces-an-earlier-early", GOOD, None, stored(partial(2, OTHER)), PartialOutcome.EARLY),
    ("garbage-never-replaces", with_bytes(2, OFF_CURVE), None, stored(GOOD), PartialOutcome.INVALID),
    ("under-our-own-index", partial(OWN, OTHER), None, None, PartialOutcome.OWN),
    ("our-own-echo", partial(OWN), PENDING, stored(partial(OWN)), PartialOutcome.DUPLICATE),
    ("member-9", replace(GOOD, member=9), PENDING, None, PartialOutcome.NOT_MEMBER),
    (
        "unknown-route",
        replace(GOOD, batch=BatchId(OTHER_ROUTE, Nonce(5), Nonce(7))),
        None,
        None,
        PartialOutcome.UNKNOWN_ROUTE,
    ),
    ("wrong-key-epoch", replace(GOOD, key_epoch=2), PENDING, None, PartialOutcome.WRONG_EPOCH),
    (
        "too-far-ahead",
        replace(GOOD, batch=BatchId(ROUTE, Nonce(PENDING_HORIZON + 2), Nonce(PENDING_HORIZON + 2))),
        None,
        None,
        PartialOutcome.TOO_FAR_AHEAD,
    ),
]


@pytest.mark.parametrize(("case", "msg", "ours", "kept", "expected"), CASES, ids=[c[0] for c in CASES])
def test_a_partial_is_judged_by_the_table(
    case: str,
    msg: PartialMessage,
    ours: OwnBatch | None,
    kept: StoredPartial | None,
    expected: PartialOutcome,
) -> None:
    outcome = classify_partial(
        msg,
        public=PUBLIC,
        routes=(ROUTE,),
        own_member=OWN,
        next_nonce=1,
        ours=ours,
        stored=kept,
        backend=get_backend("arkworks"),
    )
    assert outcome == expected


def test_only_kept_and_early_partials_take_a_place_in_the_store() -> None:
    assert {o for o in PartialOutcome if o.stored} == {PartialOutcome.KEPT, PartialOutcome.EARLY}


def run(ours: OwnBatch | None) -> Callable[[PartialMessage, StoredPartial | None], PartialOutcome]:
    def judge(msg: PartialMessage, kept: StoredPartial | None) -> PartialOutcome:
        return classify_partial(
            msg, public=PUBLIC, routes=(ROUTE,), own_member=OWN, next_nonce=1, ours=ours, stored=kept
        )

    return judge


def test_an_invalid_partial_first_never_blocks_the_members_valid_one_later() -> None:
    """The place the store keeps per member: whatever came first, the member's valid partial on
    the batch this node cuts ends up in it."""
    fabricated = partial(4, OTHER)  # member 4's real signature, on a batch with a made-up transfer
    for ours in (None, PENDING):
        judge = run(ours)
        place: StoredPartial | None = None
        for msg in (with_bytes(4, OFF_CURVE), fabricated, with_bytes(4, b"\xc0" + bytes(47)), partial(4)):
            outcome = judge(msg, place)
            if outcome.stored:
                place = stored(msg)
        assert place == stored(partial(4))


# ---- the reason in words, and the operator's per-member view of a batch -------------------------

WHY: list[tuple[str, PartialMessage, OwnBatch | None, str]] = [
    ("another-members-share", partial(2, signer=3), None, "does not verify against member 2's public share"),
    ("another-message", partial(2, OTHER), PENDING, "signs another message than the batch this node cut"),
    (
        "another-last-nonce",
        replace(GOOD, batch=BatchId(ROUTE, Nonce(5), Nonce(9))),
        PENDING,
        "signs nonces up to 9, the batch this node cut ends at 7",
    ),
    (
        "wrong-key-epoch",
        replace(GOOD, key_epoch=2),
        PENDING,
        "signed under key epoch 2; the committee key here",
    ),
    ("under-our-own-index", partial(OWN, OTHER), None, "claims this node's member index"),
    ("after-aggregation", GOOD, DONE, "arrived after this node's batch was aggregated"),
]


@pytest.mark.parametrize(("case", "msg", "ours", "why"), WHY, ids=[c[0] for c in WHY])
def test_a_refused_partial_says_why_in_words(
    case: str, msg: PartialMessage, ours: OwnBatch | None, why: str
) -> None:
    judged = judge_partial(
        msg, public=PUBLIC, routes=(ROUTE,), own_member=OWN, next_nonce=1, ours=ours, stored=None
    )
    assert why in judged.why


def test_a_taken_partial_has_no_reason() -> None:
    judged = judge_partial(
        GOOD, public=PUBLIC, routes=(ROUTE,), own_member=OWN, next_nonce=1, ours=PENDING, stored=None
    )
    assert judged == Judgement(PartialOutcome.KEPT)


def test_the_batch_view_lists_each_member_valid_invalid_or_none() -> None:
    view = member_partials(
        [1, 2, 3, 4],
        last_nonce=7,
        message=MESSAGE,
        received=[Received(1, 7, MESSAGE, 10.0), Received(3, 9, MESSAGE, 11.0)],
        rejected={
            3: Rejection(PartialOutcome.INVALID, "older word", 5.0),
            4: Rejection(PartialOutcome.INVALID, "does not verify against member 4's public share", 12.0),
        },
    )
    assert view == [
        MemberPartial(1, PartialStatus.VALID, 10.0, ""),
        MemberPartial(2, PartialStatus.NONE, None, ""),
        # stored before this node cut the batch, on another range: dropped when aggregating
        MemberPartial(
            3, PartialStatus.INVALID, 11.0, "signs nonces up to 9, the batch this node cut ends at 7"
        ),
        MemberPartial(
            4, PartialStatus.INVALID, 12.0, "invalid: does not verify against member 4's public share"
        ),
    ]


def test_after_execution_the_combined_members_are_shown_valid() -> None:
    combined = combined_members(["signed by [1, 2, 4]"])
    assert combined == [1, 2, 4]
    view = member_partials(
        [1, 2, 3, 4], last_nonce=7, message=MESSAGE, received=[], rejected={}, combined=combined
    )
    assert [v.partial for v in view] == [
        PartialStatus.VALID,
        PartialStatus.VALID,
        PartialStatus.NONE,
        PartialStatus.VALID,
    ]
    assert combined_members(["aggregated", "executed"]) == []
