"""Threshold BLS: Shamir sharing over the scalar field of BLS12-381 (order r).

Member i (1-based) holds s_i = f(i) for a polynomial f of degree t - 1 with f(0) the group
secret; its public share is s_i·G2 and the group public key is f(0)·G2. A partial signature is
sig_i = s_i·H(m); any t partials give sig = Σ λ_i sig_i = f(0)·H(m), where λ_i are the Lagrange
coefficients at 0 of the chosen indices.

The Lagrange math is pure functions on ints (mod r). The curve work goes through a `BlsBackend`
(`backend=None` means the default, arkworks).

`deal` is a trusted dealer: it knows the group secret. It is temporary, until the DKG of
DESIGN.md section 3 replaces it; the public data it produces has the same shape.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import NewType, TypeVar

from committee.bls import (
    CURVE_ORDER,
    G2_IDENTITY,
    BlsBackend,
    InvalidPoint,
    default_backend,
)

__all__ = [
    "MAX_KEY_EPOCH",
    "CommitteePublic",
    "KeyEpoch",
    "KeyShare",
    "MemberIndex",
    "NotEnoughPartials",
    "combine",
    "deal",
    "deal_from_coefficients",
    "evaluate_polynomial",
    "interpolate",
    "lagrange_coefficients",
    "partial_sign",
    "verify",
    "verify_partial",
]

MemberIndex = NewType("MemberIndex", int)
"""A member's 1-based index; also the x at which its share of the polynomial is evaluated."""
KeyEpoch = NewType("KeyEpoch", int)
_Index = TypeVar("_Index", bound=int)
"""The key epoch a group key is registered under on-chain (uint64)."""

MAX_KEY_EPOCH = 2**64 - 1


class NotEnoughPartials(ValueError):
    """Fewer than t distinct partial signatures from known members were given to `combine`."""

    def __init__(self, have: Sequence[int], threshold: int) -> None:
        self.have = tuple(have)
        self.threshold = threshold
        super().__init__(
            f"need partial signatures from {threshold} distinct members, have {len(have)}"
            f" (members {list(self.have)})"
        )


# --- pure math mod r -------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def evaluate_polynomial(coefficients: Sequence[int], x: int) -> int:
    """f(x) mod r for f = coefficients[0] + coefficients[1]·x + ... (Horner)."""
    if not coefficients:
        raise ValueError("a polynomial needs at least one coefficient")
    result = 0
    for coefficient in reversed(coefficients):
        result = (result * x + coefficient) % CURVE_ORDER
    return result


def lagrange_coefficients(indices: Iterable[int], at: int = 0) -> dict[int, int]:
    """λ_i(at) = Π_{j≠i} (at - j) / (i - j) mod r, for each i of `indices`.

    With f of degree < len(indices), f(at) = Σ λ_i(at)·f(i). Indices must be distinct and
    in [1, r).
    """
    chosen = list(indices)
    if not chosen:
        raise ValueError("Lagrange interpolation needs at least one index")
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"Lagrange indices must be distinct, got {chosen}")
    for i in chosen:
        if not _is_int(i) or not 1 <= i < CURVE_ORDER:
            raise ValueError(f"Lagrange index {i!r} must be an int in [1, r)")
    coefficients: dict[int, int] = {}
    for i in chosen:
        numerator = 1
        denominator = 1
        for j in chosen:
            if j != i:
                numerator = numerator * (at - j) % CURVE_ORDER
                denominator = denominator * (i - j) % CURVE_ORDER
        coefficients[i] = numerator * pow(denominator, -1, CURVE_ORDER) % CURVE_ORDER
    return coefficients


def interpolate(points: Mapping[int, int], at: int = 0) -> int:
    """The value at `at` of the polynomial of degree < len(points) through `points` (mod r)."""
    weights = lagrange_coefficients(points, at)
    return sum(weights[i] * points[i] for i in points) % CURVE_ORDER


# --- committee values ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommitteePublic:
    """What everyone knows about a committee for one key epoch.

    Validated on construction: 1 <= threshold <= len(members); members distinct, >= 1, sorted;
    one valid G2 public share per member; a valid group key; and the shares lie on one
    polynomial of degree < threshold whose value at 0 is the group key.
    """

    threshold: int
    members: tuple[MemberIndex, ...]
    public_shares: Mapping[MemberIndex, bytes]
    group_public_key: bytes
    key_epoch: KeyEpoch

    def __post_init__(self) -> None:
        members = tuple(self.members)
        if not members:
            raise ValueError("a committee needs at least one member")
        for m in members:
            if not _is_int(m) or m < 1:
                raise ValueError(f"member index {m!r} must be an int >= 1")
        if list(members) != sorted(set(members)):
            raise ValueError(f"member indices must be distinct and sorted, got {list(members)}")
        if not _is_int(self.threshold) or not 1 <= self.threshold <= len(members):
            raise ValueError(
                f"threshold {self.threshold!r} must be an int in [1, {len(members)}] (the number of members)"
            )
        if not _is_int(self.key_epoch) or not 0 <= self.key_epoch <= MAX_KEY_EPOCH:
            raise ValueError(f"key epoch {self.key_epoch!r} must be an int in [0, 2^64)")
        shares = dict(self.public_shares)
        if set(shares) != set(members):
            raise ValueError(f"public shares are for members {sorted(shares)}, expected {list(members)}")
        backend = default_backend()
        for m in members:
            share = bytes(shares[m])
            try:
                backend.check_g2(share)
            except InvalidPoint as exc:
                raise InvalidPoint(f"public share of member {m}: {exc}") from exc
            shares[m] = share
        group_key = bytes(self.group_public_key)
        try:
            backend.check_g2(group_key)
        except InvalidPoint as exc:
            raise InvalidPoint(f"group public key: {exc}") from exc
        _check_consistent(members, shares, group_key, self.threshold, backend)
        object.__setattr__(self, "members", members)
        object.__setattr__(self, "public_shares", MappingProxyType(shares))
        object.__setattr__(self, "group_public_key", group_key)

    def __hash__(self) -> int:
        return hash(
            (
                self.threshold,
                self.members,
                tuple(self.public_shares.items()),
                self.group_public_key,
                self.key_epoch,
            )
        )

    @property
    def size(self) -> int:
        """n, the number of members."""
        return len(self.members)


def _check_consistent(
    members: tuple[MemberIndex, ...],
    shares: Mapping[MemberIndex, bytes],
    group_key: bytes,
    threshold: int,
    backend: BlsBackend,
) -> None:
    """The public shares interpolate (in the exponent) to the group key and to each other.

    All at once by the dual-code test (as in SCRAPE): the values (group key at 0, share of
    member i at i) are the evaluations of one polynomial of degree < t exactly when
    Σ_i v_i·g(x_i)·P_i = O for every polynomial g of degree <= n - t, where
    v_i = 1 / Π_{j≠i}(x_i - x_j); one random g decides it (a false pass has probability 1/r) with
    one weighted sum of n + 1 points and n + 1 inversions, instead of n - t + 1 interpolations.
    Only when it fails are the targets interpolated one by one, to name one."""
    basis = members[:threshold]
    points = [shares[i] for i in basis]
    targets = [(at, group_key if at == 0 else shares[MemberIndex(at)]) for at in (0, *members[threshold:])]
    xs = [0, *members]
    values = [group_key, *(shares[i] for i in members)]
    g = [secrets.randbelow(CURVE_ORDER) for _ in range(len(members) - threshold + 1)]
    weights: list[int] = []
    for i, x in enumerate(xs):
        denominator = 1
        for j, other in enumerate(xs):
            if j != i:
                denominator = denominator * (x - other) % CURVE_ORDER
        weights.append(evaluate_polynomial(g, x) * pow(denominator, -1, CURVE_ORDER) % CURVE_ORDER)
    total = backend.g2_weighted_sum(values, weights)
    if total == G2_IDENTITY:
        return
    for at, expected in targets:
        lagrange = lagrange_coefficients(basis, at)
        if backend.g2_weighted_sum(points, [lagrange[i] for i in basis]) != expected:
            what = "the group public key" if at == 0 else f"the public share of member {at}"
            raise ValueError(
                f"public shares are inconsistent: members {list(basis)} do not interpolate"
                f" to {what} with threshold {threshold}"
            )
    raise ValueError("public shares are inconsistent (the combined check failed; no single target did)")


@dataclass(frozen=True, slots=True, repr=False)
class KeyShare:
    """One member's secret share, with the committee's public data.

    Validated on construction: the index is a member, 1 <= secret < r, and secret·G2 equals
    the member's published public share. `repr` never shows the secret.
    """

    index: MemberIndex
    secret: int
    public: CommitteePublic

    def __post_init__(self) -> None:
        if not isinstance(self.public, CommitteePublic):
            raise TypeError("public must be a CommitteePublic")
        if self.index not in self.public.members:
            raise ValueError(
                f"index {self.index!r} is not a member of the committee {list(self.public.members)}"
            )
        if not _is_int(self.secret) or not 1 <= self.secret < CURVE_ORDER:
            raise ValueError(f"secret share of member {self.index} out of range [1, r)")
        if default_backend().public_key(self.secret) != self.public.public_shares[self.index]:
            raise ValueError(f"secret share of member {self.index} does not match its published public share")

    def __repr__(self) -> str:
        return (
            f"KeyShare(index={self.index}, secret=<redacted>,"
            f" threshold={self.public.threshold}, members={len(self.public.members)},"
            f" key_epoch={self.public.key_epoch})"
        )

    __str__ = __repr__

    @property
    def public_share(self) -> bytes:
        """This member's public share, secret·G2 (96 bytes)."""
        return self.public.public_shares[self.index]


# --- dealing ---------------------------------------------------------------------------------


def deal(
    n: int,
    t: int,
    *,
    key_epoch: int = 1,
    rng: random.Random | None = None,
    backend: BlsBackend | None = None,
) -> list[KeyShare]:
    """Trusted-dealer key generation: shares of a fresh random secret for members 1..n.

    Temporary, until the DKG replaces it: the dealer sees the group secret. Any 1 <= t <= n is
    accepted; the default committee is n = 3f + 1, t = 2f + 1. `rng` defaults to
    `random.SystemRandom()`; pass a seeded `random.Random` only in tests.
    """
    _check_size(n, t)
    source = random.SystemRandom() if rng is None else rng
    while True:
        coefficients = [source.randrange(1, CURVE_ORDER)]
        coefficients += [source.randrange(CURVE_ORDER) for _ in range(t - 1)]
        if all(evaluate_polynomial(coefficients, i) for i in range(1, n + 1)):
            return deal_from_coefficients(coefficients, n, key_epoch=key_epoch, backend=backend)


def deal_from_coefficients(
    coefficients: Sequence[int],
    n: int,
    *,
    key_epoch: int = 1,
    backend: BlsBackend | None = None,
) -> list[KeyShare]:
    """Shares for members 1..n of the polynomial with these coefficients (t = len(coefficients)).

    Deterministic: used by `deal` and by the test vectors. coefficients[0] is the group secret.
    """
    t = len(coefficients)
    _check_size(n, t)
    for c in coefficients:
        if not _is_int(c) or not 0 <= c < CURVE_ORDER:
            raise ValueError("polynomial coefficients must be ints in [0, r)")
    bls = default_backend(backend)
    secrets = {MemberIndex(i): evaluate_polynomial(coefficients, i) for i in range(1, n + 1)}
    if not coefficients[0] or not all(secrets.values()):
        raise ValueError("the group secret and every share must be nonzero")
    public = CommitteePublic(
        threshold=t,
        members=tuple(secrets),
        public_shares={i: bls.public_key(s) for i, s in secrets.items()},
        group_public_key=bls.public_key(coefficients[0]),
        key_epoch=KeyEpoch(key_epoch),
    )
    return [KeyShare(index=i, secret=s, public=public) for i, s in secrets.items()]


def _check_size(n: int, t: int) -> None:
    if not _is_int(n) or not _is_int(t) or not 1 <= t <= n:
        raise ValueError(f"need ints with 1 <= t <= n, got n={n!r}, t={t!r}")


# --- signing ---------------------------------------------------------------------------------


def partial_sign(share: KeyShare, message: bytes, backend: BlsBackend | None = None) -> bytes:
    """This member's partial signature s_i·H(message) (48 bytes)."""
    return default_backend(backend).sign(share.secret, message)


def verify_partial(
    public: CommitteePublic,
    index: int,
    message: bytes,
    partial: bytes,
    backend: BlsBackend | None = None,
) -> bool:
    """Whether `partial` is member `index`'s signature on `message`.

    Checked against that member's public share; False for an unknown index or a malformed
    partial.
    """
    share = public.public_shares.get(MemberIndex(index)) if _is_int(index) else None
    if share is None:
        return False
    return default_backend(backend).verify(share, message, partial)


def combine(
    public: CommitteePublic,
    partials: Mapping[_Index, bytes],
    backend: BlsBackend | None = None,
) -> bytes:
    """The group signature (48 bytes) from partial signatures keyed by member index.

    Uses exactly t partials, those of the lowest known indices, so the output is deterministic;
    indices that are not members are ignored. Raises `NotEnoughPartials` with fewer than t
    known indices, and `InvalidPoint` if a chosen partial is not a valid G1 point.

    It does not check the partials against the public shares: the caller checks each one with
    `verify_partial` first, or checks the result with `verify` (a bad partial yields a signature
    that fails it, and then each partial is checked to find the bad one).
    """
    available = {MemberIndex(i): partial for i, partial in partials.items() if i in public.public_shares}
    known = sorted(available)
    if len(known) < public.threshold:
        raise NotEnoughPartials(known, public.threshold)
    chosen = known[: public.threshold]
    weights = lagrange_coefficients(chosen)
    bls = default_backend(backend)
    points = [available[i] for i in chosen]
    try:
        return bls.g1_weighted_sum(points, [weights[i] for i in chosen])
    except InvalidPoint:
        for i, point in zip(chosen, points, strict=True):
            try:
                bls.check_g1(point)
            except InvalidPoint as exc:
                raise InvalidPoint(f"partial signature of member {i}: {exc}") from exc
        raise


def verify(
    group_public_key: bytes,
    message: bytes,
    signature: bytes,
    backend: BlsBackend | None = None,
) -> bool:
    """Whether `signature` is the group's signature on `message`; False if anything is malformed."""
    return default_backend(backend).verify(group_public_key, message, signature)
