"""committee.threshold: Shamir math, dealing, partial signatures and their combination."""

from __future__ import annotations

import hashlib
import itertools
import random
from dataclasses import FrozenInstanceError, replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from committee.bls import CURVE_ORDER, ArkworksBackend, InvalidPoint
from committee.bls_reference import PyEccBackend
from committee.threshold import (
    KeyEpoch,
    KeyShare,
    MemberIndex,
    NotEnoughPartials,
    combine,
    deal,
    deal_from_coefficients,
    evaluate_polynomial,
    interpolate,
    lagrange_coefficients,
    partial_sign,
    verify,
    verify_partial,
)

MESSAGE = hashlib.sha256(b"qiao threshold test").digest()
OTHER_MESSAGE = hashlib.sha256(b"another batch").digest()
ARK = ArkworksBackend()
PY = PyEccBackend()


@pytest.fixture(scope="module")
def shares() -> list[KeyShare]:
    return deal(4, 3, rng=random.Random(7))


@pytest.fixture(scope="module")
def partials(shares: list[KeyShare]) -> dict[int, bytes]:
    return {s.index: partial_sign(s, MESSAGE) for s in shares}


# --- pure math -------------------------------------------------------------------------------


def test_evaluate_polynomial_uses_horner_mod_r() -> None:
    assert evaluate_polynomial([5], 100) == 5
    assert evaluate_polynomial([1, 2, 3], 2) == 1 + 4 + 12
    assert evaluate_polynomial([CURVE_ORDER - 1, 1], 1) == 0
    with pytest.raises(ValueError, match="at least one coefficient"):
        evaluate_polynomial([], 1)


@pytest.mark.parametrize(
    ("indices", "expected"),
    [
        ([1], {1: 1}),
        ([1, 2], {1: 2, 2: CURVE_ORDER - 1}),
        ([1, 2, 3], {1: 3, 2: CURVE_ORDER - 3, 3: 1}),
        ([2, 4], {2: 2, 4: CURVE_ORDER - 1}),
    ],
)
def test_lagrange_coefficients_at_zero_match_hand_computed_values(
    indices: list[int], expected: dict[int, int]
) -> None:
    assert lagrange_coefficients(indices) == expected


def test_lagrange_coefficients_at_zero_sum_to_one() -> None:
    assert sum(lagrange_coefficients([3, 5, 8, 13]).values()) % CURVE_ORDER == 1


@pytest.mark.parametrize(
    ("indices", "message"),
    [
        ([], "at least one index"),
        ([1, 1], "distinct"),
        ([0, 1], r"\[1, r\)"),
        ([CURVE_ORDER], r"\[1, r\)"),
        ([True, 2], r"\[1, r\)"),
    ],
)
def test_lagrange_coefficients_refuse_bad_indices(indices: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lagrange_coefficients(indices)


@given(
    coefficients=st.lists(st.integers(0, CURVE_ORDER - 1), min_size=1, max_size=6),
    data=st.data(),
)
def test_interpolation_of_any_t_points_recovers_the_polynomial(
    coefficients: list[int], data: st.DataObject
) -> None:
    t = len(coefficients)
    xs = data.draw(st.lists(st.integers(1, 50), min_size=t, max_size=t, unique=True))
    points = {x: evaluate_polynomial(coefficients, x) for x in xs}
    assert interpolate(points) == coefficients[0]
    at = data.draw(st.integers(0, 60))
    assert interpolate(points, at) == evaluate_polynomial(coefficients, at)


# --- dealing ---------------------------------------------------------------------------------


def test_deal_gives_n_consistent_shares(shares: list[KeyShare]) -> None:
    public = shares[0].public
    assert [s.index for s in shares] == [1, 2, 3, 4]
    assert all(s.public == public for s in shares)
    assert public.threshold == 3
    assert public.members == (1, 2, 3, 4)
    assert public.key_epoch == 1
    assert public.size == 4
    points = {s.index: s.secret for s in shares}
    group_secret = interpolate(dict(itertools.islice(points.items(), 3)))
    assert ARK.public_key(group_secret) == public.group_public_key
    for share in shares:
        assert ARK.public_key(share.secret) == share.public_share


@pytest.mark.parametrize(("n", "t"), [(1, 1), (4, 1), (4, 4), (7, 5)])
def test_deal_accepts_any_threshold_up_to_n(n: int, t: int) -> None:
    dealt = deal(n, t, key_epoch=9)
    assert len(dealt) == n
    assert dealt[0].public.threshold == t
    assert dealt[0].public.key_epoch == 9


@pytest.mark.parametrize(("n", "t"), [(4, 0), (3, 4), (0, 0), (4, -1)])
def test_deal_refuses_threshold_outside_one_to_n(n: int, t: int) -> None:
    with pytest.raises(ValueError, match="1 <= t <= n"):
        deal(n, t)


def test_deal_is_random_by_default() -> None:
    assert deal(2, 2)[0].public.group_public_key != deal(2, 2)[0].public.group_public_key


def test_deal_from_coefficients_is_deterministic() -> None:
    first = deal_from_coefficients([11, 22, 33], 4)
    second = deal_from_coefficients([11, 22, 33], 4, backend=PY)
    assert first == second
    assert first[0].public.group_public_key == ARK.public_key(11)


def test_key_share_repr_hides_the_secret(shares: list[KeyShare]) -> None:
    share = shares[0]
    for text in (repr(share), str(share), repr([share])):
        assert str(share.secret) not in text
        assert hex(share.secret)[2:] not in text
        assert "redacted" in text


def test_committee_public_is_hashable_and_compares_by_value(shares: list[KeyShare]) -> None:
    public = shares[0].public
    copy = replace(public)
    assert copy == public
    assert {public: 1}[copy] == 1


def test_committee_values_are_immutable(shares: list[KeyShare]) -> None:
    with pytest.raises(FrozenInstanceError):
        shares[0].secret = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        shares[0].public.public_shares[MemberIndex(1)] = b""  # type: ignore[index]


# --- invalid committee values cannot be built ------------------------------------------------


def test_committee_public_refuses_inconsistent_public_shares(shares: list[KeyShare]) -> None:
    public = shares[0].public
    tampered = dict(public.public_shares)
    tampered[MemberIndex(4)] = ARK.public_key(12345)
    with pytest.raises(ValueError, match=r"inconsistent.*member 4"):
        replace(public, public_shares=tampered)
    with pytest.raises(ValueError, match=r"inconsistent.*group public key"):
        replace(public, group_public_key=ARK.public_key(12345))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"threshold": 0}, "threshold 0"),
        ({"threshold": 5}, "threshold 5"),
        ({"members": (1, 2, 3)}, "public shares are for members"),
        ({"members": (2, 1, 3, 4)}, "distinct and sorted"),
        ({"members": ()}, "at least one member"),
        ({"key_epoch": -1}, "key epoch"),
        ({"key_epoch": 2**64}, "key epoch"),
    ],
)
def test_committee_public_refuses_invalid_fields(
    shares: list[KeyShare], changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        replace(shares[0].public, **changes)  # type: ignore[arg-type]


def test_committee_public_refuses_an_invalid_point(shares: list[KeyShare]) -> None:
    public = shares[0].public
    bad = dict(public.public_shares)
    bad[MemberIndex(2)] = b"\xc0" + bytes(95)
    with pytest.raises(InvalidPoint, match=r"public share of member 2: .*identity"):
        replace(public, public_shares=bad)
    with pytest.raises(InvalidPoint, match="group public key: G2 point: expected 96 bytes"):
        replace(public, group_public_key=b"\x01")


@pytest.mark.parametrize(
    ("index", "secret", "message"),
    [
        (5, None, "not a member"),
        (1, 0, "out of range"),
        (1, CURVE_ORDER, "out of range"),
        (1, 424242, "does not match its published public share"),
    ],
)
def test_key_share_refuses_a_bad_index_or_secret(
    shares: list[KeyShare], index: int, secret: int | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        KeyShare(
            index=MemberIndex(index),
            secret=shares[0].secret if secret is None else secret,
            public=shares[0].public,
        )


# --- partial signatures ----------------------------------------------------------------------


def test_each_partial_verifies_against_its_own_public_share(
    shares: list[KeyShare], partials: dict[int, bytes]
) -> None:
    public = shares[0].public
    for index, partial in partials.items():
        assert verify_partial(public, index, MESSAGE, partial)
        assert not verify_partial(public, index, OTHER_MESSAGE, partial)


def test_partial_from_another_members_share_fails_verification(
    shares: list[KeyShare], partials: dict[int, bytes]
) -> None:
    public = shares[0].public
    assert not verify_partial(public, 1, MESSAGE, partials[2])
    assert not verify_partial(public, 2, MESSAGE, partials[1])


def test_partial_from_a_random_scalar_fails_verification(shares: list[KeyShare]) -> None:
    forged = ARK.sign(random.Random(3).randrange(1, CURVE_ORDER), MESSAGE)
    assert not verify_partial(shares[0].public, 1, MESSAGE, forged)


def test_partial_for_unknown_member_or_malformed_fails_verification(
    shares: list[KeyShare], partials: dict[int, bytes]
) -> None:
    public = shares[0].public
    assert not verify_partial(public, 5, MESSAGE, partials[1])
    assert not verify_partial(public, 0, MESSAGE, partials[1])
    assert not verify_partial(public, 1, MESSAGE, partials[1][:-1])
    assert not verify_partial(public, 1, MESSAGE, b"\xc0" + bytes(47))


def test_partial_signature_is_not_a_group_signature(
    shares: list[KeyShare], partials: dict[int, bytes]
) -> None:
    assert not verify(shares[0].public.group_public_key, MESSAGE, partials[1])


# --- combination -----------------------------------------------------------------------------


def test_any_t_of_n_partials_combine_to_one_signature_that_verifies(
    shares: list[KeyShare], partials: dict[int, bytes]
) -> None:
    public = shares[0].public
    signatures = {
        combine(public, {i: partials[i] for i in subset})
        for subset in itertools.combinations(public.members, public.threshold)
    }
    assert len(signatures) == 1
    signature = signatures.pop()
    assert verify(public.group_public_key, MESSAGE, signature)
    assert not verify(public.group_public_key, OTHER_MESSAGE, signature)


def test_combined_signature_equals_the_group_secret_signature(
    shares: list[KeyShare], partials: dict[int, bytes]
) -> None:
    group_secret = interpolate({s.index: s.secret for s in shares[:3]})
    assert combine(shares[0].public, partials) == ARK.sign(group_secret, MESSAGE)


def test_combine_is_the_same_in_both_backends(shares: list[KeyShare], partials: dict[int, bytes]) -> None:
    public = shares[0].public
    subset = {i: partials[i] for i in (1, 3, 4)}
    assert combine(public, subset, ARK) == combine(public, subset, PY)


def test_combine_uses_the_lowest_t_indices(shares: list[KeyShare], partials: dict[int, bytes]) -> None:
    public = shares[0].public
    garbage = ARK.sign(99, MESSAGE)
    # Member 4's partial is wrong but is not among the lowest three, so it is not used.
    signature = combine(public, {**partials, 4: garbage})
    assert verify(public.group_public_key, MESSAGE, signature)


def test_t_minus_one_partials_raise_not_enough_partials(
    shares: list[KeyShare], partials: dict[int, bytes]
) -> None:
    public = shares[0].public
    with pytest.raises(NotEnoughPartials, match="need partial signatures from 3 distinct") as err:
        combine(public, {1: partials[1], 2: partials[2]})
    assert err.value.have == (1, 2)
    assert err.value.threshold == 3


def test_unknown_indices_do_not_count_towards_the_threshold(
    shares: list[KeyShare], partials: dict[int, bytes]
) -> None:
    public = shares[0].public
    with pytest.raises(NotEnoughPartials):
        combine(public, {1: partials[1], 2: partials[2], 7: partials[3], 0: partials[4]})


def test_combine_names_the_member_whose_partial_is_malformed(
    shares: list[KeyShare], partials: dict[int, bytes]
) -> None:
    public = shares[0].public
    with pytest.raises(InvalidPoint, match=r"partial signature of member 2: .*identity"):
        combine(public, {1: partials[1], 2: b"\xc0" + bytes(47), 3: partials[3]})


def test_combine_accepts_member_index_keys(shares: list[KeyShare], partials: dict[int, bytes]) -> None:
    public = shares[0].public
    typed = {MemberIndex(i): p for i, p in partials.items()}
    assert combine(public, typed) == combine(public, partials)
    assert public.key_epoch == KeyEpoch(1)


def test_partials_of_different_messages_do_not_combine_to_a_valid_signature(
    shares: list[KeyShare], partials: dict[int, bytes]
) -> None:
    public = shares[0].public
    mixed = {1: partials[1], 2: partials[2], 3: partial_sign(shares[2], OTHER_MESSAGE)}
    assert not verify(public.group_public_key, MESSAGE, combine(public, mixed))


# --- properties ------------------------------------------------------------------------------

_committee = st.integers(1, 7).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=_committee, seed=st.integers(0, 2**32), data=st.data())
def test_any_t_subset_reconstructs_the_same_signature_and_t_minus_one_never_does(
    size: tuple[int, int], seed: int, data: st.DataObject
) -> None:
    n, t = size
    dealt = deal(n, t, rng=random.Random(seed))
    public = dealt[0].public
    all_partials = {s.index: partial_sign(s, MESSAGE) for s in dealt}
    reference = combine(public, all_partials)
    assert verify(public.group_public_key, MESSAGE, reference)

    subset = data.draw(st.lists(st.sampled_from(public.members), min_size=t, unique=True))
    assert combine(public, {i: all_partials[i] for i in subset}) == reference

    fewer = data.draw(st.lists(st.sampled_from(public.members), max_size=t - 1, unique=True))
    with pytest.raises(NotEnoughPartials):
        combine(public, {i: all_partials[i] for i in fewer})
