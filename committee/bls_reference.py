"""The reference BLS backend, on py_ecc (pure Python; slow, about a second per verify).

Same interface and the same bytes as `committee.bls.ArkworksBackend` (the tests prove them equal);
kept apart so that importing `committee.bls` does not import py_ecc, whose import takes seconds.
`committee.bls.get_backend("py-ecc")` returns one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from py_ecc.bls.hash_to_curve import hash_to_G1
from py_ecc.bls.point_compression import (
    compress_G1,
    compress_G2,
    modular_squareroot_in_FQ2,
)
from py_ecc.fields import optimized_bls12_381_FQ as FQ
from py_ecc.fields import optimized_bls12_381_FQ2 as FQ2
from py_ecc.fields import optimized_bls12_381_FQ12 as FQ12
from py_ecc.optimized_bls12_381.optimized_curve import (
    G2,
    Z1,
    Z2,
    add,
    b,
    b2,
    is_inf,
    is_on_curve,
    multiply,
    neg,
    normalize,
)
from py_ecc.optimized_bls12_381.optimized_pairing import final_exponentiate, pairing

from committee.bls import (
    _FLAG_SIGN,
    _FP_LEN,
    _VALUE_BITS,
    CURVE_ORDER,
    DST,
    EIP2537_G1_LEN,
    EIP2537_G2_LEN,
    FIELD_MODULUS,
    G1_LEN,
    InvalidPoint,
    _check_combination,
    _check_polynomial,
    _check_scalar,
    _check_weights,
    _eip2537_fp,
    _precheck_g1,
    _precheck_g2,
    _split_eip2537,
)

__all__ = ["PyEccBackend"]


def _sqrt_fq(value: Any) -> Any:
    """A square root in Fp (p = 3 mod 4), or None."""
    root = value ** ((FIELD_MODULUS + 1) // 4)
    return root if root * root == value else None


def _sign_fq(value: Any) -> bool:
    """The ZCash sign bit: set when the value is the larger of the two roots."""
    return bool((int(value.n) * 2) // FIELD_MODULUS)


class PyEccBackend:
    """Reference backend on py_ecc (pure Python; slow, about a second per verify)."""

    @property
    def name(self) -> str:
        return "py-ecc"

    # py_ecc's own decompression reads x = 0 as the identity, so this backend decompresses
    # by itself: x = 0 must be rejected as "not in the subgroup", the same as arkworks says.

    def _parse_g1(self, data: object) -> Any:
        raw = _precheck_g1(data)
        x = FQ(int.from_bytes(raw, "big") & _VALUE_BITS)
        y = _sqrt_fq(x**3 + b)
        if y is None:
            raise InvalidPoint("G1 point: not on the curve (x^3 + 4 has no square root)")
        if _sign_fq(y) != bool(raw[0] & _FLAG_SIGN):
            y = -y
        point = (x, y, FQ.one())
        return self._finish_g1(point, raw)

    def _finish_g1(self, point: Any, raw: bytes | None) -> Any:
        if not is_on_curve(point, b):
            raise InvalidPoint("G1 point: not on the curve")
        if is_inf(point):
            raise InvalidPoint("G1 point: the identity (point at infinity) is never accepted")
        if not is_inf(multiply(point, CURVE_ORDER)):
            raise InvalidPoint("G1 point: not in the prime-order subgroup")
        if raw is not None and self._g1_bytes(point) != raw:
            raise InvalidPoint("G1 point: non-canonical encoding")
        return point

    def _parse_g2(self, data: object) -> Any:
        raw = _precheck_g2(data)
        x1 = int.from_bytes(raw[:_FP_LEN], "big") & _VALUE_BITS
        x0 = int.from_bytes(raw[_FP_LEN:], "big")
        x = FQ2([x0, x1])
        y = modular_squareroot_in_FQ2(x**3 + b2)
        if y is None:
            raise InvalidPoint("G2 point: not on the curve (x^3 + 4(1 + i) has no square root)")
        y0, y1 = (int(c) for c in y.coeffs)
        y_sign = (y1 * 2) // FIELD_MODULUS if y1 else (y0 * 2) // FIELD_MODULUS
        if bool(y_sign) != bool(raw[0] & _FLAG_SIGN):
            y = -y
        point = (x, y, FQ2.one())
        return self._finish_g2(point, raw)

    def _finish_g2(self, point: Any, raw: bytes | None) -> Any:
        if not is_on_curve(point, b2):
            raise InvalidPoint("G2 point: not on the curve")
        if is_inf(point):
            raise InvalidPoint("G2 point: the identity (point at infinity) is never accepted")
        if not is_inf(multiply(point, CURVE_ORDER)):
            raise InvalidPoint("G2 point: not in the prime-order subgroup")
        if raw is not None and self._g2_bytes(point) != raw:
            raise InvalidPoint("G2 point: non-canonical encoding")
        return point

    @staticmethod
    def _g1_bytes(point: Any) -> bytes:
        return int(compress_G1(point)).to_bytes(G1_LEN, "big")

    @staticmethod
    def _g2_bytes(point: Any) -> bytes:
        z1, z2 = compress_G2(point)
        return int(z1).to_bytes(_FP_LEN, "big") + int(z2).to_bytes(_FP_LEN, "big")

    def _hash(self, message: bytes, dst: bytes = DST) -> Any:
        # py_ecc annotates the hash function as a hashlib object; it is called as a constructor.
        return hash_to_G1(bytes(message), dst, hashlib.sha256)  # type: ignore[arg-type]

    # operations

    def check_g1(self, point: bytes) -> None:
        self._parse_g1(point)

    def check_g2(self, point: bytes) -> None:
        self._parse_g2(point)

    def hash_to_g1(self, message: bytes, dst: bytes = DST) -> bytes:
        return self._g1_bytes(self._hash(message, dst))

    def public_key(self, secret: int) -> bytes:
        return self._g2_bytes(multiply(G2, _check_scalar(secret, secret=True)))

    def sign(self, secret: int, message: bytes) -> bytes:
        return self._g1_bytes(multiply(self._hash(message), _check_scalar(secret, secret=True)))

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        try:
            pk = self._parse_g2(public_key)
            sig = self._parse_g1(signature)
        except InvalidPoint:
            return False
        product = pairing(neg(G2), sig, final_exponentiate=False) * pairing(
            pk, self._hash(message), final_exponentiate=False
        )
        return bool(final_exponentiate(product) == FQ12.one())

    def g1_mul(self, point: bytes, scalar: int) -> bytes:
        return self._g1_bytes(multiply(self._parse_g1(point), _check_scalar(scalar, secret=False)))

    def g1_weighted_sum(self, points: Sequence[bytes], scalars: Sequence[int]) -> bytes:
        _check_weights(points, scalars)
        return self._g1_bytes(self._weighted_sum(self._parse_g1, Z1, points, scalars))

    def g2_weighted_sum(self, points: Sequence[bytes], scalars: Sequence[int]) -> bytes:
        _check_weights(points, scalars)
        return self._g2_bytes(self._weighted_sum(self._parse_g2, Z2, points, scalars))

    def g2_polynomial_at(self, coefficients: Sequence[bytes], x: int) -> bytes:
        _check_polynomial(coefficients, x)
        total = Z2
        for c in reversed(coefficients):
            total = add(multiply(total, x), self._parse_g2(c))
        return self._g2_bytes(total)

    def g2_polynomial_values(self, coefficients: Sequence[bytes], n: int) -> list[bytes]:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        return [self.g2_polynomial_at(coefficients, x) for x in range(1, n + 1)]

    def g2_polynomials_combined(
        self, polynomials: Sequence[Sequence[bytes]], xs: Sequence[int], weights: Sequence[int]
    ) -> bytes:
        _check_combination(polynomials, xs, weights)
        total = Z2
        for coefficients, x, weight in zip(polynomials, xs, weights, strict=True):
            value = Z2
            for c in reversed(coefficients):
                value = add(multiply(value, x), self._parse_g2(c))
            total = add(total, multiply(value, weight))
        return self._g2_bytes(total)

    @staticmethod
    def _weighted_sum(
        parse: Callable[[object], Any], zero: Any, points: Sequence[bytes], scalars: Sequence[int]
    ) -> Any:
        total = zero
        for point, scalar in zip(points, scalars, strict=True):
            total = add(total, multiply(parse(point), scalar))
        return total

    def g1_to_eip2537(self, point: bytes) -> bytes:
        x, y = normalize(self._parse_g1(point))
        return _eip2537_fp(int(x.n)) + _eip2537_fp(int(y.n))

    def g2_to_eip2537(self, point: bytes) -> bytes:
        x, y = normalize(self._parse_g2(point))
        return b"".join(_eip2537_fp(int(c)) for c in (*x.coeffs, *y.coeffs))

    def eip2537_to_g1(self, data: bytes) -> bytes:
        x, y = _split_eip2537(data, EIP2537_G1_LEN, "EIP-2537 G1 point")
        point = (FQ(x), FQ(y), FQ.one())
        return self._g1_bytes(self._finish_g1(point, None))

    def eip2537_to_g2(self, data: bytes) -> bytes:
        x0, x1, y0, y1 = _split_eip2537(data, EIP2537_G2_LEN, "EIP-2537 G2 point")
        point = (FQ2([x0, x1]), FQ2([y0, y1]), FQ2.one())
        return self._g2_bytes(self._finish_g2(point, None))
