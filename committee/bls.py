"""BLS12-381 signatures, minimal-signature-size variant (signatures in G1, public keys in G2).

Every function takes and returns bytes: compressed ZCash encodings (G1 48 bytes, G2 96 bytes) or
the EIP-2537 uncompressed form used by the contracts (G1 128 bytes, G2 256 bytes); see
docs/PROTOCOL.md. Two interchangeable backends give identical bytes: `ArkworksBackend` (native, the
default) and `PyEccBackend` (pure Python, the reference, in `committee.bls_reference`, imported only
when asked for). The tests prove them equal.

Every point that comes from outside goes through one parser per group and per backend, which
checks, in this order: length, encoding (flag bits, field elements below p), on the curve, in the
prime-order subgroup, not the identity. Anything else raises `InvalidPoint` saying what was wrong.
`verify` never raises for malformed input: it returns False.

The checks both backends share (lengths, flags, field elements, scalars) are here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any, Final, Protocol, runtime_checkable

import py_arkworks_bls12381 as ark

__all__ = [
    "CURVE_ORDER",
    "DST",
    "EIP2537_G1_LEN",
    "EIP2537_G2_LEN",
    "FIELD_MODULUS",
    "G1_LEN",
    "G2_LEN",
    "ArkworksBackend",
    "BlsBackend",
    "InvalidPoint",
    "default_backend",
    "eip2537_to_g1",
    "eip2537_to_g2",
    "g1_to_eip2537",
    "g2_to_eip2537",
    "get_backend",
]

DST: Final = b"QIAO-V1_BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"
"""Domain separation tag of the hash to G1 (RFC 9380 suite BLS12381G1_XMD:SHA-256_SSWU_RO_)."""

# Literals, so that importing this module (every relayer process and CLI call) does not import
# py_ecc, whose import computes tables for seconds; tests/unit/test_committee_bls.py checks them
# against py_ecc's.
CURVE_ORDER: Final[int] = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
"""r, the order of G1, G2 and of the scalar field."""
FIELD_MODULUS: Final[int] = int(
    "1A0111EA397FE69A4B1BA7B6434BACD764774B84F38512BF6730D2A0F6B0F6241EABFFFEB153FFFFB9FEFFFFFFFFAAAB", 16
)
"""p, the base field modulus."""

G1_LEN: Final = 48
G2_LEN: Final = 96
# The identity of G2, compressed (infinity flag set): what a weighted sum that cancels returns.
G2_IDENTITY: Final = bytes([0xC0]) + bytes(G2_LEN - 1)
EIP2537_G1_LEN: Final = 128
EIP2537_G2_LEN: Final = 256
_FP_LEN: Final = 48
_EIP_FP_LEN: Final = 64
_EIP_PAD: Final = bytes(_EIP_FP_LEN - _FP_LEN)

_FLAG_COMPRESSED: Final = 0x80
_FLAG_INFINITY: Final = 0x40
_FLAG_SIGN: Final = 0x20
_FLAGS_MASK: Final = 0xE0
_VALUE_MASK: Final = 0x1F
_VALUE_BITS: Final = (1 << 381) - 1


class InvalidPoint(ValueError):
    """An encoded curve point from outside was rejected; the message says why."""


@runtime_checkable
class BlsBackend(Protocol):
    """The BLS operations the committee needs, bytes in and bytes out.

    Scalars are ints: secrets in [1, r), other scalars in [0, r). Points given to any method are
    parsed and fully checked (see the module docstring); points returned are compressed.
    """

    @property
    def name(self) -> str: ...

    def hash_to_g1(self, message: bytes, dst: bytes = DST) -> bytes:
        """RFC 9380 hash of `message` to G1 (`dst` only differs in conformance tests)."""
        ...

    def public_key(self, secret: int) -> bytes:
        """secret·G2, compressed (96 bytes)."""
        ...

    def sign(self, secret: int, message: bytes) -> bytes:
        """secret·H(message), compressed (48 bytes)."""
        ...

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """e(signature, G2) == e(H(message), public_key); False for any malformed input."""
        ...

    def check_g1(self, point: bytes) -> None:
        """Raise `InvalidPoint` unless `point` is a valid, non-identity compressed G1 point."""
        ...

    def check_g2(self, point: bytes) -> None:
        """Raise `InvalidPoint` unless `point` is a valid, non-identity compressed G2 point."""
        ...

    def g1_mul(self, point: bytes, scalar: int) -> bytes:
        """scalar·point in G1."""
        ...

    def g1_weighted_sum(self, points: Sequence[bytes], scalars: Sequence[int]) -> bytes:
        """Σ scalars[i]·points[i] in G1 (Lagrange combination of partial signatures).

        Every input point is checked; the sum itself may be the identity (encoded 0xc0 00..).
        """
        ...

    def g2_weighted_sum(self, points: Sequence[bytes], scalars: Sequence[int]) -> bytes:
        """Σ scalars[i]·points[i] in G2 (interpolation of public shares)."""
        ...

    def g2_polynomial_at(self, coefficients: Sequence[bytes], x: int) -> bytes:
        """Σ_k x^k·coefficients[k] in G2: a committed polynomial at member index `x` (a public
        share). Same value as `g2_weighted_sum(coefficients, [x^k mod r])`, computed by Horner's
        rule: with a member index of a few bits each step is a few doublings, not a full-size
        scalar, about eight times faster than the weighted sum at t = 43 (benchmarks: DKG)."""
        ...

    def g2_polynomial_values(self, coefficients: Sequence[bytes], n: int) -> list[bytes]:
        """[P(1), P(2), ..., P(n)] for the committed polynomial P (every member's public share),
        each value as `g2_polynomial_at` gives it (the identity included)."""
        ...

    def g2_polynomials_combined(
        self, polynomials: Sequence[Sequence[bytes]], xs: Sequence[int], weights: Sequence[int]
    ) -> bytes:
        """Σ_i weights[i]·P_i(xs[i]) in G2, each committed polynomial P_i evaluated as by
        `g2_polynomial_at`; the sum may be the identity. The DKG's batched share check: the
        evaluations stay points inside the backend (no compression and no second parse and
        subgroup check of each one)."""
        ...

    def g1_to_eip2537(self, point: bytes) -> bytes:
        """Compressed G1 (48 bytes) to EIP-2537 form (128 bytes)."""
        ...

    def g2_to_eip2537(self, point: bytes) -> bytes:
        """Compressed G2 (96 bytes) to EIP-2537 form (256 bytes)."""
        ...

    def eip2537_to_g1(self, data: bytes) -> bytes:
        """EIP-2537 G1 (128 bytes) to compressed form, with every check of `check_g1`."""
        ...

    def eip2537_to_g2(self, data: bytes) -> bytes:
        """EIP-2537 G2 (256 bytes) to compressed form, with every check of `check_g2`."""
        ...


# --- checks on the bytes, shared by both backends -------------------------------------------


def _check_bytes(data: object, length: int, what: str) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidPoint(f"{what}: expected bytes, got {type(data).__name__}")
    raw = bytes(data)
    if len(raw) != length:
        raise InvalidPoint(f"{what}: expected {length} bytes, got {len(raw)}")
    return raw


def _check_compressed_flags(raw: bytes, what: str) -> None:
    """Check the three flag bits of a compressed encoding and reject the identity."""
    flags = raw[0] & _FLAGS_MASK
    if not flags & _FLAG_COMPRESSED:
        raise InvalidPoint(f"{what}: compression flag (top bit) not set; not a compressed point")
    if flags & _FLAG_INFINITY:
        if flags & _FLAG_SIGN or raw[0] & _VALUE_MASK or any(raw[1:]):
            raise InvalidPoint(f"{what}: infinity flag set with nonzero bits; invalid encoding")
        raise InvalidPoint(f"{what}: the identity (point at infinity) is never accepted")


def _field_element(chunk: bytes, what: str) -> int:
    value = int.from_bytes(chunk, "big")
    if value >= FIELD_MODULUS:
        raise InvalidPoint(f"{what}: coordinate is not a field element (>= p)")
    return value


def _precheck_g1(data: object) -> bytes:
    raw = _check_bytes(data, G1_LEN, "G1 point")
    _check_compressed_flags(raw, "G1 point")
    _field_element(bytes([raw[0] & _VALUE_MASK]) + raw[1:], "G1 point")
    return raw


def _precheck_g2(data: object) -> bytes:
    raw = _check_bytes(data, G2_LEN, "G2 point")
    _check_compressed_flags(raw, "G2 point")
    if raw[_FP_LEN] & _FLAGS_MASK:
        raise InvalidPoint("G2 point: flag bits set in the second field element")
    _field_element(bytes([raw[0] & _VALUE_MASK]) + raw[1:_FP_LEN], "G2 point (x.c1)")
    _field_element(raw[_FP_LEN:], "G2 point (x.c0)")
    return raw


def _split_eip2537(data: object, length: int, what: str) -> list[int]:
    """EIP-2537 bytes to field elements; rejects bad padding, values >= p and the identity."""
    raw = _check_bytes(data, length, what)
    if not any(raw):
        raise InvalidPoint(f"{what}: the identity (all zeros) is never accepted")
    values = []
    for offset in range(0, length, _EIP_FP_LEN):
        chunk = raw[offset : offset + _EIP_FP_LEN]
        if chunk[: len(_EIP_PAD)] != _EIP_PAD:
            raise InvalidPoint(f"{what}: field element at byte {offset} lacks 16 zero bytes")
        values.append(_field_element(chunk[len(_EIP_PAD) :], what))
    return values


def _eip2537_fp(value: int) -> bytes:
    return _EIP_PAD + value.to_bytes(_FP_LEN, "big")


def _check_scalar(scalar: int, *, secret: bool) -> int:
    if isinstance(scalar, bool) or not isinstance(scalar, int):
        raise TypeError(f"scalar must be an int, got {type(scalar).__name__}")
    low = 1 if secret else 0
    if not low <= scalar < CURVE_ORDER:
        what = "secret key" if secret else "scalar"
        raise ValueError(f"{what} out of range: must satisfy {low} <= value < r")
    return scalar


def _check_polynomial(coefficients: Sequence[bytes], x: int) -> None:
    if not coefficients:
        raise ValueError("a polynomial needs at least one coefficient")
    _check_scalar(x, secret=False)


def _check_combination(
    polynomials: Sequence[Sequence[bytes]], xs: Sequence[int], weights: Sequence[int]
) -> None:
    if not len(polynomials) == len(xs) == len(weights):
        raise ValueError(f"{len(polynomials)} polynomials, {len(xs)} points and {len(weights)} weights")
    if not polynomials:
        raise ValueError("combination of no polynomials")
    for coefficients, x in zip(polynomials, xs, strict=True):
        _check_polynomial(coefficients, x)
    for w in weights:
        _check_scalar(w, secret=False)


def _check_weights(points: Sequence[bytes], scalars: Sequence[int]) -> None:
    if len(points) != len(scalars):
        raise ValueError(f"{len(points)} points but {len(scalars)} scalars")
    if not points:
        raise ValueError("weighted sum of no points")
    for s in scalars:
        _check_scalar(s, secret=False)


# --- arkworks: the fast native backend ------------------------------------------------------


_G2_CHECKED: dict[bytes, Any] = {}
_G2_CHECKED_MAX: Final = 1 << 14


def _parse_g2_cached(raw: bytes) -> Any:
    """A checked G2 point; validated points are remembered by their bytes.

    Checking a G2 point (decompression and the subgroup check) costs about 0.3 ms, and the DKG
    meets the same commitments again and again; an arkworks point is immutable, so sharing it
    is safe, and only points that passed every check are remembered (a failure raises). The
    memory is bounded: when full it is cleared.
    """
    try:
        point = ark.G2Point.from_compressed_bytes_unchecked(raw)
    except ValueError as exc:
        raise InvalidPoint(f"G2 point: not on the curve ({exc})") from exc
    ArkworksBackend._finish(point, ark.G2Point, raw, "G2 point")
    _remember_g2(raw, point)
    return point


def _remember_g2(raw: bytes, point: Any) -> None:
    """Remember a point known valid: parsed and checked, or computed here from valid points
    (a public key, a committed polynomial's value that is not the identity; `raw` is then the
    point's own canonical encoding), so that a later parse of the same bytes is a lookup."""
    if len(_G2_CHECKED) >= _G2_CHECKED_MAX:
        _G2_CHECKED.clear()
    _G2_CHECKED[raw] = point


_COMB_BITS: Final = 4
_G2_COMB: list[tuple[Any, ...]] = []


def _g2_comb() -> list[tuple[Any, ...]]:
    """The comb's table, built once (built whole, then published in one step: threads that
    race to build it each build a complete one)."""
    if not _G2_COMB:
        rows = []
        base = ark.G2Point()
        for _ in range((CURVE_ORDER.bit_length() + _COMB_BITS - 1) // _COMB_BITS):
            row = [base]
            for _ in range((1 << _COMB_BITS) - 2):
                row.append(row[-1] + base)
            base = row[-1] + base
            rows.append(tuple(row))
        _G2_COMB[:] = rows
    return _G2_COMB


def _g2_generator_times(scalar: int) -> Any:
    """scalar·G2 for 0 < scalar < r by a fixed-base comb: a table of b·2^(4i)·G2 (64 rows of 15
    points, 0.4 MB, built on first use in a few ms) turns the product into at most 63 additions,
    several times faster than the generic scalar multiplication (about 1 ms), which a DKG dealer
    does once per coefficient (t of them). Same point, so the same bytes. Like arkworks' own
    multiplication (and Python's integers) it is not constant-time: the table row read depends
    on the secret's digits, as the generic double-and-add's additions do on its bits."""
    mask = (1 << _COMB_BITS) - 1
    total = None
    for row in _g2_comb():
        digit = scalar & mask
        if digit:
            total = row[digit - 1] if total is None else total + row[digit - 1]
        scalar >>= _COMB_BITS
        if not scalar:
            break
    if total is None:
        raise ValueError("the comb multiplies only 0 < scalar < r")
    return total


def _ark_scalar(value: int) -> Any:
    return ark.Scalar.from_be_bytes(value.to_bytes(32, "big"))


class ArkworksBackend:
    """Fast backend on py_arkworks_bls12381 (Rust); the default."""

    @property
    def name(self) -> str:
        return "arkworks"

    def _parse_g1(self, data: object) -> Any:
        raw = _precheck_g1(data)
        try:
            point = ark.G1Point.from_compressed_bytes_unchecked(raw)
        except ValueError as exc:
            raise InvalidPoint(f"G1 point: not on the curve ({exc})") from exc
        self._finish(point, ark.G1Point, raw, "G1 point")
        return point

    def _parse_g2(self, data: object) -> Any:
        if type(data) is bytes and data in _G2_CHECKED:  # fast path: checked before, same bytes
            return _G2_CHECKED[data]
        return _parse_g2_cached(_precheck_g2(data))

    @staticmethod
    def _finish(point: Any, group: Any, raw: bytes | None, what: str) -> None:
        if point == group.identity():
            raise InvalidPoint(f"{what}: the identity (point at infinity) is never accepted")
        if not point.is_in_subgroup():
            raise InvalidPoint(f"{what}: not in the prime-order subgroup")
        if raw is not None and bytes(point.to_compressed_bytes()) != raw:
            raise InvalidPoint(f"{what}: non-canonical encoding")

    def _hash(self, message: bytes, dst: bytes = DST) -> Any:
        return ark.G1Point.hash_to_curve(bytes(message), dst)

    def check_g1(self, point: bytes) -> None:
        self._parse_g1(point)

    def check_g2(self, point: bytes) -> None:
        self._parse_g2(point)

    def hash_to_g1(self, message: bytes, dst: bytes = DST) -> bytes:
        return bytes(self._hash(message, dst).to_compressed_bytes())

    def public_key(self, secret: int) -> bytes:
        point = _g2_generator_times(_check_scalar(secret, secret=True))
        raw = bytes(point.to_compressed_bytes())
        _remember_g2(raw, point)  # secret·G2 with 0 < secret < r: in the subgroup, not the identity
        return raw

    def sign(self, secret: int, message: bytes) -> bytes:
        point = self._hash(message) * _ark_scalar(_check_scalar(secret, secret=True))
        return bytes(point.to_compressed_bytes())

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        try:
            pk = self._parse_g2(public_key)
            sig = self._parse_g1(signature)
        except InvalidPoint:
            return False
        return bool(ark.GT.pairing_check([sig, self._hash(message)], [-ark.G2Point(), pk]))

    def g1_mul(self, point: bytes, scalar: int) -> bytes:
        result = self._parse_g1(point) * _ark_scalar(_check_scalar(scalar, secret=False))
        return bytes(result.to_compressed_bytes())

    def g1_weighted_sum(self, points: Sequence[bytes], scalars: Sequence[int]) -> bytes:
        _check_weights(points, scalars)
        parsed = [self._parse_g1(p) for p in points]
        total = ark.G1Point.multiexp_unchecked(parsed, [_ark_scalar(s) for s in scalars])
        return bytes(total.to_compressed_bytes())

    def g2_weighted_sum(self, points: Sequence[bytes], scalars: Sequence[int]) -> bytes:
        _check_weights(points, scalars)
        parsed = [self._parse_g2(p) for p in points]
        total = ark.G2Point.multiexp_unchecked(parsed, [_ark_scalar(s) for s in scalars])
        return bytes(total.to_compressed_bytes())

    def g2_polynomial_at(self, coefficients: Sequence[bytes], x: int) -> bytes:
        _check_polynomial(coefficients, x)
        point = self._horner(coefficients, x)
        raw = bytes(point.to_compressed_bytes())
        if raw != G2_IDENTITY:  # a sum of checked points: in the subgroup
            _remember_g2(raw, point)
        return raw

    def g2_polynomial_values(self, coefficients: Sequence[bytes], n: int) -> list[bytes]:
        """By Horner's rule at 1..t (t = len(coefficients)), then by forward differences: the
        (t-1)-th difference of a polynomial of degree t-1 is constant, so each further value is
        t - 1 additions instead of t - 1 multiplications by x and additions (at n = 64, t = 43
        a quarter less time than Horner's rule at every x: 21 ms instead of 28)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        _check_polynomial(coefficients, n)
        t = len(coefficients)
        values = [self._horner(coefficients, x) for x in range(1, min(n, t) + 1)]
        if n > t:
            # last[k] = the k-th difference at x = t - k (the last of its row)
            row = values
            last = [row[-1]]
            for _ in range(t - 1):
                row = [b - a for a, b in pairwise(row)]
                last.append(row[-1])
            for _ in range(n - t):
                for k in range(t - 2, -1, -1):
                    last[k] = last[k] + last[k + 1]
                values.append(last[0])
        out = []
        for point in values:
            raw = bytes(point.to_compressed_bytes())
            if raw != G2_IDENTITY:  # a sum of checked points: in the subgroup
                _remember_g2(raw, point)
            out.append(raw)
        return out

    def g2_polynomials_combined(
        self, polynomials: Sequence[Sequence[bytes]], xs: Sequence[int], weights: Sequence[int]
    ) -> bytes:
        _check_combination(polynomials, xs, weights)
        evaluations = [self._horner(c, x) for c, x in zip(polynomials, xs, strict=True)]
        total = ark.G2Point.multiexp_unchecked(evaluations, [_ark_scalar(w) for w in weights])
        return bytes(total.to_compressed_bytes())

    def _horner(self, coefficients: Sequence[bytes], x: int) -> Any:
        step = _ark_scalar(x)
        parsed = [self._parse_g2(c) for c in coefficients]
        total = parsed[-1]
        for c in reversed(parsed[:-1]):
            total = total * step + c
        return total

    def g1_to_eip2537(self, point: bytes) -> bytes:
        xy = bytes(self._parse_g1(point).to_xy_bytes_be())
        return _eip2537_fp_bytes(xy)

    def g2_to_eip2537(self, point: bytes) -> bytes:
        # to_xy_bytes_be is x.c0 || x.c1 || y.c0 || y.c1, the EIP-2537 order.
        xy = bytes(self._parse_g2(point).to_xy_bytes_be())
        return _eip2537_fp_bytes(xy)

    def eip2537_to_g1(self, data: bytes) -> bytes:
        values = _split_eip2537(data, EIP2537_G1_LEN, "EIP-2537 G1 point")
        return self._from_xy(values, ark.G1Point, "EIP-2537 G1 point")

    def eip2537_to_g2(self, data: bytes) -> bytes:
        values = _split_eip2537(data, EIP2537_G2_LEN, "EIP-2537 G2 point")
        return self._from_xy(values, ark.G2Point, "EIP-2537 G2 point")

    def _from_xy(self, values: list[int], group: Any, what: str) -> bytes:
        xy = b"".join(v.to_bytes(_FP_LEN, "big") for v in values)
        try:
            point = group.from_xy_bytes_unchecked_be(xy)
        except ValueError as exc:
            raise InvalidPoint(f"{what}: not on the curve ({exc})") from exc
        self._finish(point, group, None, what)
        return bytes(point.to_compressed_bytes())


def _eip2537_fp_bytes(xy: bytes) -> bytes:
    """48-byte big-endian field elements to 64-byte EIP-2537 ones."""
    return b"".join(_EIP_PAD + xy[offset : offset + _FP_LEN] for offset in range(0, len(xy), _FP_LEN))


# --- selection and module-level helpers -----------------------------------------------------


def _reference() -> BlsBackend:
    from committee.bls_reference import PyEccBackend  # imported on demand: see CURVE_ORDER

    return PyEccBackend()


_BACKENDS: Final[dict[str, Callable[[], BlsBackend]]] = {
    "arkworks": ArkworksBackend,
    "py-ecc": _reference,
}
_DEFAULT: Final[BlsBackend] = ArkworksBackend()


def get_backend(name: str = "arkworks") -> BlsBackend:
    """The backend called `name`: "arkworks" (fast, default) or "py-ecc" (reference)."""
    try:
        factory = _BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(_BACKENDS))
        raise ValueError(f"unknown BLS backend {name!r}; choose one of: {known}") from None
    return _DEFAULT if name == _DEFAULT.name else factory()


def default_backend(backend: BlsBackend | None = None) -> BlsBackend:
    """`backend` if given, else the default (arkworks)."""
    return _DEFAULT if backend is None else backend


def g1_to_eip2537(point: bytes, backend: BlsBackend | None = None) -> bytes:
    """Compressed G1 (48 bytes) to the 128-byte EIP-2537 form; raises `InvalidPoint`."""
    return default_backend(backend).g1_to_eip2537(point)


def g2_to_eip2537(point: bytes, backend: BlsBackend | None = None) -> bytes:
    """Compressed G2 (96 bytes) to the 256-byte EIP-2537 form; raises `InvalidPoint`."""
    return default_backend(backend).g2_to_eip2537(point)


def eip2537_to_g1(data: bytes, backend: BlsBackend | None = None) -> bytes:
    """128-byte EIP-2537 G1 to compressed (48 bytes); raises `InvalidPoint`."""
    return default_backend(backend).eip2537_to_g1(data)


def eip2537_to_g2(data: bytes, backend: BlsBackend | None = None) -> bytes:
    """256-byte EIP-2537 G2 to compressed (96 bytes); raises `InvalidPoint`."""
    return default_backend(backend).eip2537_to_g2(data)
