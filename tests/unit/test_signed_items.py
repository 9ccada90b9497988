"""The steps every kind of signed item shares: judging an arriving partial (relayer.core.arrivals)
and combining t partials of one item (relayer.pipeline.signing.Combiner)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from committee.bls import get_backend
from committee.threshold import deal, partial_sign, verify
from relayer.core.arrivals import Facts, Judgement, PartialOutcome, judge_arrival
from relayer.pipeline.signing import Combiner, Offered

SHARES = deal(4, 3)
PUBLIC = SHARES[0].public
MESSAGE = b"\x42" * 32
OTHER = b"\x43" * 32


@dataclass(frozen=True)
class Sent:
    member: int
    key_epoch: int
    message: bytes
    partial: bytes


def sent(member: int = 2, *, signer: int | None = None, message: bytes = MESSAGE, epoch: int = 1) -> Sent:
    share = SHARES[(member if signer is None else signer) - 1]
    return Sent(member, epoch, message, partial_sign(share, message))


def judge(arrival: Sent, facts: Facts) -> PartialOutcome:
    return judge_arrival(arrival, facts, public=PUBLIC, own_member=1, backend=get_backend()).outcome


SCOPE = Judgement(PartialOutcome.UNKNOWN_ROUTE, "route 1->2 is not configured here")
SUBJECT = Judgement(PartialOutcome.UNKNOWN_ACTION, "no such action here")


@pytest.mark.parametrize(
    ("arrival", "facts", "outcome"),
    [
        (sent(), Facts(), PartialOutcome.KEPT),
        (sent(), Facts(known=False), PartialOutcome.EARLY),
        (replace(sent(), member=9), Facts(scope=SCOPE), PartialOutcome.NOT_MEMBER),
        (sent(epoch=2), Facts(scope=SCOPE), PartialOutcome.UNKNOWN_ROUTE),
        (sent(epoch=2), Facts(subject=SUBJECT), PartialOutcome.WRONG_EPOCH),
        (sent(), Facts(subject=SUBJECT, late="combined"), PartialOutcome.UNKNOWN_ACTION),
        (sent(), Facts(late="combined", duplicate=True), PartialOutcome.LATE),
        (sent(1), Facts(duplicate=True), PartialOutcome.DUPLICATE),  # an echo of this node's own
        (sent(1), Facts(mismatch="another item"), PartialOutcome.OWN),
        (sent(), Facts(mismatch="another item"), PartialOutcome.INVALID),
        (sent(2, signer=3), Facts(), PartialOutcome.INVALID),  # member 3's signature on member 2's topic
        (replace(sent(), partial=b"\x00" * 48), Facts(known=False), PartialOutcome.INVALID),
    ],
)
def test_every_kind_judges_an_arrival_by_the_same_steps_in_the_same_order(
    arrival: Sent, facts: Facts, outcome: PartialOutcome
) -> None:
    assert judge(arrival, facts) is outcome


def offered(member: int, message: bytes = MESSAGE, signer: int | None = None) -> Offered:
    p = sent(member, signer=signer, message=message)
    return Offered(p.member, p.message, p.partial)


def test_t_valid_partials_combine_into_the_group_signature_naming_the_members() -> None:
    combiner = Combiner(PUBLIC, get_backend())
    done = combiner.combine("item", MESSAGE, [offered(4), offered(2), offered(3)])
    assert done.signature is not None
    assert verify(PUBLIC.group_public_key, MESSAGE, done.signature)
    assert (done.valid, done.members, done.invalid) == ((2, 3, 4), (2, 3, 4), ())


def test_invalid_partials_are_named_with_why_and_fewer_than_t_valid_make_nothing() -> None:
    combiner = Combiner(PUBLIC, get_backend())
    done = combiner.combine(
        "item",
        MESSAGE,
        [
            offered(1),
            offered(2),
            offered(3, signer=4),
            Offered(4, MESSAGE, offered(4).partial, "signs nonces up to 9"),
        ],
    )
    assert done.signature is None
    assert done.valid == (1, 2)
    assert dict(done.invalid) == {
        3: "does not verify against member 3's public share",
        4: "signs nonces up to 9",
    }


def test_the_group_signature_is_checked_before_it_is_used() -> None:
    combiner = Combiner(PUBLIC, get_backend())
    # a partial remembered as verified that is not the member's (as a bug would) never slips through
    combiner.verified("item", 3, MESSAGE, offered(3, signer=4).partial, PUBLIC.key_epoch)
    done = combiner.combine("item", MESSAGE, [offered(1), offered(2), offered(3, signer=4)])
    assert done.signature is None
    assert done.unverified
    assert done.members == (1, 2, 3)


class CountingBackend:
    """The real backend, counting its pairing checks (`verify`: a partial's or the group's)."""

    def __init__(self) -> None:
        self.inner = get_backend()
        self.verifies = 0

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        self.verifies += 1
        return self.inner.verify(public_key, message, signature)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_unverified_partials_are_checked_together_by_the_group_signature() -> None:
    """This node's own partial and others not verified on arrival cost one pairing check in all
    when they combine into a valid signature, not one each and then the group's."""
    backend = CountingBackend()
    combiner = Combiner(PUBLIC, backend)  # type: ignore[arg-type]
    combiner.verified("item", 3, MESSAGE, offered(3).partial, PUBLIC.key_epoch)  # verified on arrival
    done = combiner.combine("item", MESSAGE, [offered(4), offered(1), offered(2), offered(3)])
    assert done.signature is not None
    assert verify(PUBLIC.group_public_key, MESSAGE, done.signature)
    assert (done.members, done.invalid) == ((1, 2, 3), ())
    assert backend.verifies == 1
    # member 4's partial was neither used nor checked: not named valid
    assert done.valid == (1, 2, 3)


def test_a_bad_unverified_partial_fails_the_group_signature_and_is_then_found_and_left_out() -> None:
    backend = CountingBackend()
    combiner = Combiner(PUBLIC, backend)  # type: ignore[arg-type]
    outside = b"\x80" + bytes(47)  # not a point of the subgroup: combining it fails outright
    for bad in (offered(1, signer=4).partial, outside):
        backend.verifies = 0
        done = combiner.combine(
            "item", MESSAGE, [Offered(1, MESSAGE, bad), offered(2), offered(3), offered(4)]
        )
        assert done.signature is not None
        assert verify(PUBLIC.group_public_key, MESSAGE, done.signature)
        assert done.members == (2, 3, 4)
        assert done.invalid == ((1, "does not verify against member 1's public share"),)
        # the optimistic group check (when the bad partial is a point), each of the four, the group
        assert backend.verifies == (1 if bad != outside else 0) + 4 + 1


def test_with_fewer_than_t_on_offer_nothing_is_combined_or_checked_and_a_mismatch_is_named() -> None:
    """A node tries to combine each batch as soon as it signs it, with its own partial alone: no
    pairing check then; the partials are checked once t are on offer."""
    backend = CountingBackend()
    combiner = Combiner(PUBLIC, backend)  # type: ignore[arg-type]
    done = combiner.combine("item", MESSAGE, [offered(1), offered(2, signer=3), offered(4, message=OTHER)])
    assert done.signature is None
    assert done.valid == ()
    assert done.invalid == ((4, "signs another message than the item this node would sign"),)
    assert backend.verifies == 0
    # with a third partial on offer, the bad one is found and named
    done = combiner.combine("item", MESSAGE, [offered(1), offered(2, signer=3), offered(3)])
    assert done.signature is None
    assert (done.valid, done.invalid) == ((1, 3), ((2, "does not verify against member 2's public share"),))
