"""committee.bls: both backends give the same bytes, and every bad point is refused."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from py_ecc.bls.point_compression import compress_G1, compress_G2, modular_squareroot_in_FQ2
from py_ecc.fields import optimized_bls12_381_FQ as FQ
from py_ecc.fields import optimized_bls12_381_FQ2 as FQ2
from py_ecc.optimized_bls12_381.optimized_curve import (
    G1,
    G2,
    b2,
    curve_order,
    field_modulus,
    is_inf,
    is_on_curve,
    multiply,
    normalize,
)

from committee.bls import (
    CURVE_ORDER,
    DST,
    FIELD_MODULUS,
    ArkworksBackend,
    BlsBackend,
    InvalidPoint,
    eip2537_to_g1,
    eip2537_to_g2,
    g1_to_eip2537,
    g2_to_eip2537,
    get_backend,
)
from committee.bls_reference import PyEccBackend

ARK = ArkworksBackend()
PY = PyEccBackend()
BACKENDS = [pytest.param(ARK, id="arkworks"), pytest.param(PY, id="py-ecc")]

# RFC 9380 appendix J.9.1, suite BLS12381G1_XMD:SHA-256_SSWU_RO_ (uncompressed x || y).
RFC_DST = b"QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_"
RFC_VECTORS = {
    b"": (
        "052926add2207b76ca4fa57a8734416c8dc95e24501772c814278700eed6d1e4e8cf62d9c09db0fac349612b759e79a1",
        "08ba738453bfed09cb546dbb0783dbb3a5f1f566ed67bb6be0e8c67e2e81a4cc68ee29813bb7994998f3eae0c9c6a265",
    ),
    b"abc": (
        "03567bc5ef9c690c2ab2ecdf6a96ef1c139cc0b2f284dca0a9a7943388a49a3aee664ba5379a7655d3c68900be2f6903",
        "0b9c15f3fe6e5cf4211f346271d7b01c8f3b28be689c8429c85b67af215533311f0b8dfaaa154fa6b88176c229f2885d",
    ),
}

SECRET = 0x2A5F_0000_1111_2222_3333_4444_5555_6666_7777_8888_9999_AAAA_BBBB_CCCC_DDDD
MESSAGE = hashlib.sha256(b"qiao test message").digest()

secrets = st.integers(min_value=1, max_value=CURVE_ORDER - 1)
messages = st.binary(min_size=0, max_size=64)
slow = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def g1_bytes(point: object) -> bytes:
    return int(compress_G1(point)).to_bytes(48, "big")  # type: ignore[arg-type]


def g2_bytes(point: object) -> bytes:
    z1, z2 = compress_G2(point)  # type: ignore[arg-type]
    return int(z1).to_bytes(48, "big") + int(z2).to_bytes(48, "big")


def g1_outside_subgroup() -> tuple[FQ, FQ]:
    """A point on y^2 = x^3 + 4 that is not in the order-r subgroup."""
    x = 1
    while True:
        rhs = FQ(x) ** 3 + FQ(4)
        y = rhs ** ((FIELD_MODULUS + 1) // 4)
        if y * y == rhs:
            point = (FQ(x), y, FQ.one())
            if not is_inf(multiply(point, CURVE_ORDER)):
                return FQ(x), y
        x += 1


def g2_outside_subgroup() -> tuple[FQ2, FQ2]:
    """A point on the twist that is not in the order-r subgroup."""
    k = 1
    while True:
        x = FQ2([k, 1])
        y = modular_squareroot_in_FQ2(x**3 + b2)
        if y is not None:
            point = (x, y, FQ2.one())
            assert is_on_curve(point, b2)
            if not is_inf(multiply(point, CURVE_ORDER)):
                return x, y
        k += 1


def g1_x_off_curve() -> int:
    x = 1
    while True:
        rhs = FQ(x) ** 3 + FQ(4)
        y = rhs ** ((FIELD_MODULUS + 1) // 4)
        if y * y != rhs:
            return x
        x += 1


def g2_x_off_curve() -> FQ2:
    k = 1
    while True:
        x = FQ2([k, 1])
        if modular_squareroot_in_FQ2(x**3 + b2) is None:
            return x
        k += 1


def eip_fp(value: int) -> bytes:
    return bytes(16) + value.to_bytes(48, "big")


# --- backend equality ------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("message", sorted(RFC_VECTORS))
def test_hash_to_g1_matches_rfc9380_vectors(backend: BlsBackend, message: bytes) -> None:
    x, y = RFC_VECTORS[message]
    compressed = backend.hash_to_g1(message, RFC_DST)
    assert backend.g1_to_eip2537(compressed) == eip_fp(int(x, 16)) + eip_fp(int(y, 16))


@pytest.mark.parametrize("message", [b"", b"abc", bytes(32), b"\xff" * 32, b"x" * 200])
def test_hash_to_g1_is_the_same_in_both_backends(message: bytes) -> None:
    assert ARK.hash_to_g1(message) == PY.hash_to_g1(message)


def test_default_dst_is_the_protocol_tag() -> None:
    assert DST == b"QIAO-V1_BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"
    assert ARK.hash_to_g1(MESSAGE) != ARK.hash_to_g1(MESSAGE, RFC_DST)


def test_generators_encode_the_same_in_both_backends() -> None:
    assert ARK.public_key(1) == PY.public_key(1) == g2_bytes(G2)
    assert ARK.g1_mul(g1_bytes(G1), 7) == PY.g1_mul(g1_bytes(G1), 7) == g1_bytes(multiply(G1, 7))


@pytest.mark.parametrize("secret", [1, 2, SECRET, CURVE_ORDER - 1], ids=["1", "2", "fixed", "r-1"])
def test_public_key_and_signature_are_the_same_in_both_backends(secret: int) -> None:
    assert ARK.public_key(secret) == PY.public_key(secret)
    assert ARK.sign(secret, MESSAGE) == PY.sign(secret, MESSAGE)


@slow
@given(secret=secrets, message=messages)
def test_backends_agree_on_random_secrets_and_messages(secret: int, message: bytes) -> None:
    assert ARK.public_key(secret) == PY.public_key(secret)
    signature = ARK.sign(secret, message)
    assert signature == PY.sign(secret, message)
    assert ARK.g1_to_eip2537(signature) == PY.g1_to_eip2537(signature)
    assert ARK.g2_to_eip2537(ARK.public_key(secret)) == PY.g2_to_eip2537(PY.public_key(secret))


@slow
@given(scalars=st.lists(st.integers(0, CURVE_ORDER - 1), min_size=1, max_size=4))
def test_weighted_sums_are_the_same_in_both_backends(scalars: list[int]) -> None:
    g1_points = [ARK.sign(i + 1, MESSAGE) for i in range(len(scalars))]
    g2_points = [ARK.public_key(i + 1) for i in range(len(scalars))]
    assert ARK.g1_weighted_sum(g1_points, scalars) == PY.g1_weighted_sum(g1_points, scalars)
    assert ARK.g2_weighted_sum(g2_points, scalars) == PY.g2_weighted_sum(g2_points, scalars)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("x", [0, 1, 2, 64, CURVE_ORDER - 1])
def test_a_committed_polynomial_at_x_is_the_weighted_sum_of_powers(backend: BlsBackend, x: int) -> None:
    coefficients = [ARK.public_key(k + 3) for k in range(5)]
    powers = [pow(x, k, CURVE_ORDER) for k in range(5)]
    assert backend.g2_polynomial_at(coefficients, x) == ARK.g2_weighted_sum(coefficients, powers)
    # (k + 3)·G2 evaluated: the public key of the scalar polynomial at x
    assert backend.g2_polynomial_at(coefficients, x) == ARK.public_key(
        sum((k + 3) * p for k, p in enumerate(powers)) % CURVE_ORDER
    )


@pytest.mark.parametrize(
    "secret", [1, 2, 15, 16, 17, 255, 256, 2**128 - 1, 2**252, CURVE_ORDER - 2, CURVE_ORDER - 1]
)
def test_the_comb_public_key_is_the_generic_product(secret: int) -> None:
    """arkworks' public key comes from a fixed-base table of G2's multiples (digit boundaries,
    the largest scalars); the multiexp path multiplies G2 generically."""
    g2 = ARK.public_key(1)
    assert ARK.public_key(secret) == ARK.g2_weighted_sum([g2], [secret])


@pytest.mark.parametrize(("t", "n"), [(1, 1), (1, 4), (3, 2), (3, 3), (3, 4), (4, 10), (43, 64)])
def test_a_committed_polynomials_values_at_1_to_n_are_its_values_one_by_one(t: int, n: int) -> None:
    """arkworks extends the first t values by forward differences: the same bytes as Horner's
    rule at every x, with n below, at and above t (the reference backend is Horner's rule)."""
    coefficients = [ARK.public_key(7 * k + 2) for k in range(t)]
    expected = [ARK.g2_polynomial_at(coefficients, x) for x in range(1, n + 1)]
    assert ARK.g2_polynomial_values(coefficients, n) == expected
    if (t, n) == (3, 2):  # the reference is slow (a subgroup check per coefficient and value)
        assert PY.g2_polynomial_values(coefficients, n) == expected


@pytest.mark.parametrize("backend", BACKENDS)
def test_polynomial_values_keep_an_identity_and_need_a_positive_n(backend: BlsBackend) -> None:
    vanishing = [ARK.public_key(CURVE_ORDER - 12), ARK.public_key(5), ARK.public_key(7)]  # P(1) = O
    for n in (0, -1, True):
        with pytest.raises(ValueError, match="positive int"):
            backend.g2_polynomial_values(vanishing, n)
    if backend is ARK:
        values = ARK.g2_polynomial_values(vanishing, 5)
        assert values[0] == bytes([0xC0]) + bytes(95)
        assert values == [ARK.g2_polynomial_at(vanishing, x) for x in range(1, 6)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_combination_of_committed_polynomials_is_the_weighted_sum_of_their_values(
    backend: BlsBackend,
) -> None:
    polynomials = [[ARK.public_key(k + 3 + 10 * i) for k in range(2)] for i in range(3)]
    xs, weights = [1, 7, 64], [5, CURVE_ORDER - 2, 1 << 127]
    values = [backend.g2_polynomial_at(p, x) for p, x in zip(polynomials, xs, strict=True)]
    assert backend.g2_polynomials_combined(polynomials, xs, weights) == ARK.g2_weighted_sum(values, weights)
    g = ARK.public_key(1)
    with pytest.raises(ValueError, match="2 polynomials, 1 points"):
        backend.g2_polynomials_combined([[g], [g]], [1], [1, 1])
    with pytest.raises(ValueError, match="no polynomials"):
        backend.g2_polynomials_combined([], [], [])
    with pytest.raises(ValueError, match="scalar out of range"):
        backend.g2_polynomials_combined([[g]], [1], [CURVE_ORDER])
    if backend is not ARK:
        return  # the reference is slow; the cases below are arkworks' (multiexp) edge cases
    # the sum cancels: P(1) - P(1) is the identity, not an error
    cancel = backend.g2_polynomials_combined([polynomials[0]] * 2, [1, 1], [1, CURVE_ORDER - 1])
    assert cancel == bytes([0xC0]) + bytes(95)
    # a polynomial that vanishes at 1 (-12 + 5 + 7 = 0): its value adds nothing
    vanishing = [ARK.public_key(CURVE_ORDER - 12), ARK.public_key(5), ARK.public_key(7)]
    assert backend.g2_polynomials_combined([vanishing, [g]], [1, 0], [9, 3]) == ARK.public_key(3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_polynomial_needs_a_coefficient_and_a_scalar_in_range(backend: BlsBackend) -> None:
    with pytest.raises(ValueError, match="at least one coefficient"):
        backend.g2_polynomial_at([], 1)
    with pytest.raises(ValueError, match="scalar out of range"):
        backend.g2_polynomial_at([ARK.public_key(1)], CURVE_ORDER)


def test_weighted_sum_is_the_sum_of_multiples() -> None:
    p, q = ARK.sign(3, MESSAGE), ARK.sign(5, MESSAGE)
    assert ARK.g1_weighted_sum([p, q], [2, 1]) == ARK.sign(11, MESSAGE)


# --- sign and verify -------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_signature_verifies_under_its_key_and_message_only(backend: BlsBackend) -> None:
    public_key = backend.public_key(SECRET)
    signature = backend.sign(SECRET, MESSAGE)
    assert backend.verify(public_key, MESSAGE, signature)
    assert not backend.verify(public_key, MESSAGE[::-1], signature)
    assert not backend.verify(backend.public_key(SECRET + 1), MESSAGE, signature)
    assert not backend.verify(public_key, MESSAGE, backend.sign(SECRET + 1, MESSAGE))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("public_key", "signature"),
    [
        (b"", b""),
        (ARK.public_key(SECRET)[:-1], ARK.sign(SECRET, MESSAGE)),
        (ARK.public_key(SECRET), ARK.sign(SECRET, MESSAGE) + b"\x00"),
        (ARK.public_key(SECRET), b"\xc0" + bytes(47)),
        (b"\xc0" + bytes(95), ARK.sign(SECRET, MESSAGE)),
        (ARK.sign(SECRET, MESSAGE), ARK.public_key(SECRET)),
    ],
    ids=["empty", "short-key", "long-signature", "identity-signature", "identity-key", "swapped"],
)
def test_verify_returns_false_for_malformed_input(
    backend: BlsBackend, public_key: bytes, signature: bytes
) -> None:
    assert backend.verify(public_key, MESSAGE, signature) is False


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("secret", [0, CURVE_ORDER, -1])
def test_secret_out_of_range_is_refused(backend: BlsBackend, secret: int) -> None:
    with pytest.raises(ValueError, match="secret key out of range"):
        backend.sign(secret, MESSAGE)
    with pytest.raises(ValueError, match="secret key out of range"):
        backend.public_key(secret)


def test_get_backend_knows_both_backends_and_refuses_others() -> None:
    assert get_backend().name == "arkworks"
    assert get_backend("py-ecc").name == "py-ecc"
    with pytest.raises(ValueError, match=r"unknown BLS backend 'blst'; choose one of: arkworks"):
        get_backend("blst")


def test_both_backends_satisfy_the_protocol() -> None:
    assert isinstance(ARK, BlsBackend)
    assert isinstance(PY, BlsBackend)


# --- invalid points --------------------------------------------------------------------------

_SIG = ARK.sign(SECRET, MESSAGE)
_PK = ARK.public_key(SECRET)


def _bad_g1() -> list[tuple[str, bytes, str]]:
    x, y = g1_outside_subgroup()
    outside = g1_bytes((x, y, FQ.one()))
    return [
        ("short", _SIG[:47], "expected 48 bytes, got 47"),
        ("long", _SIG + b"\x00", "expected 48 bytes, got 49"),
        ("uncompressed-flag", bytes([_SIG[0] & 0x7F]) + _SIG[1:], "compression flag"),
        ("identity", b"\xc0" + bytes(47), "identity"),
        ("infinity-with-bits", b"\xff" * 48, "infinity flag set with nonzero bits"),
        ("infinity-with-sign", b"\xe0" + bytes(47), "infinity flag set with nonzero bits"),
        ("x-not-in-field", (0x80 << 376 | FIELD_MODULUS).to_bytes(48, "big"), ">= p"),
        ("not-on-curve", (0x80 << 376 | g1_x_off_curve()).to_bytes(48, "big"), "not on the curve"),
        ("x-zero-order-3", b"\x80" + bytes(47), "not in the prime-order subgroup"),
        ("outside-subgroup", outside, "not in the prime-order subgroup"),
    ]


def _bad_g2() -> list[tuple[str, bytes, str]]:
    x, y = g2_outside_subgroup()
    outside = g2_bytes((x, y, FQ2.one()))
    off = g2_x_off_curve()
    x0, x1 = (int(c) for c in off.coeffs)
    return [
        ("short", _PK[:95], "expected 96 bytes, got 95"),
        ("g1-size", _SIG, "expected 96 bytes, got 48"),
        ("uncompressed-flag", bytes([_PK[0] & 0x7F]) + _PK[1:], "compression flag"),
        ("identity", b"\xc0" + bytes(95), "identity"),
        ("infinity-with-bits", b"\xc0" + bytes(94) + b"\x01", "infinity flag set with nonzero"),
        ("flags-in-second-half", _PK[:48] + bytes([_PK[48] | 0x80]) + _PK[49:], "second field"),
        (
            "x-c0-not-in-field",
            _PK[:48] + FIELD_MODULUS.to_bytes(48, "big"),
            ">= p",
        ),
        (
            "not-on-curve",
            (0x80 << 376 | x1).to_bytes(48, "big") + x0.to_bytes(48, "big"),
            "not on the curve",
        ),
        ("outside-subgroup", outside, "not in the prime-order subgroup"),
    ]


BAD_G1 = _bad_g1()
BAD_G2 = _bad_g2()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("case", "data", "reason"), BAD_G1, ids=[c[0] for c in BAD_G1])
def test_invalid_g1_point_is_rejected_with_its_reason(
    backend: BlsBackend, case: str, data: bytes, reason: str
) -> None:
    with pytest.raises(InvalidPoint, match=reason):
        backend.check_g1(data)
    with pytest.raises(InvalidPoint, match=reason):
        backend.g1_to_eip2537(data)
    assert not backend.verify(_PK, MESSAGE, data)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("case", "data", "reason"), BAD_G2, ids=[c[0] for c in BAD_G2])
def test_invalid_g2_point_is_rejected_with_its_reason(
    backend: BlsBackend, case: str, data: bytes, reason: str
) -> None:
    with pytest.raises(InvalidPoint, match=reason):
        backend.check_g2(data)
    with pytest.raises(InvalidPoint, match=reason):
        backend.g2_to_eip2537(data)
    assert not backend.verify(data, MESSAGE, _SIG)


@pytest.mark.parametrize("backend", BACKENDS)
def test_invalid_point_in_a_weighted_sum_is_rejected(backend: BlsBackend) -> None:
    with pytest.raises(InvalidPoint, match="identity"):
        backend.g1_weighted_sum([_SIG, b"\xc0" + bytes(47)], [1, 2])
    with pytest.raises(InvalidPoint, match="expected 96 bytes"):
        backend.g2_weighted_sum([_PK, _SIG], [1, 2])


def test_invalid_point_is_a_value_error() -> None:
    assert issubclass(InvalidPoint, ValueError)


# --- EIP-2537 --------------------------------------------------------------------------------


def test_eip2537_g1_layout_is_padded_x_then_y() -> None:
    x, y = normalize(G1)
    assert g1_to_eip2537(g1_bytes(G1)) == eip_fp(int(x.n)) + eip_fp(int(y.n))


def test_eip2537_g2_layout_is_x_c0_x_c1_y_c0_y_c1() -> None:
    x, y = normalize(G2)
    expected = b"".join(eip_fp(int(c)) for c in (*x.coeffs, *y.coeffs))
    # x.c0 of the G2 generator, as in EIP-2537 and RFC 9380.
    assert expected[16:64].hex().startswith("024aa2b2f08f0a91")
    assert g2_to_eip2537(g2_bytes(G2)) == expected
    assert PY.g2_to_eip2537(g2_bytes(G2)) == expected


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("secret", [1, SECRET], ids=["one", "fixed"])
def test_eip2537_round_trips(backend: BlsBackend, secret: int) -> None:
    sig = backend.sign(secret, MESSAGE)
    pk = backend.public_key(secret)
    assert len(backend.g1_to_eip2537(sig)) == 128
    assert len(backend.g2_to_eip2537(pk)) == 256
    assert backend.eip2537_to_g1(backend.g1_to_eip2537(sig)) == sig
    assert backend.eip2537_to_g2(backend.g2_to_eip2537(pk)) == pk
    assert eip2537_to_g1(ARK.g1_to_eip2537(sig), backend) == sig
    assert eip2537_to_g2(PY.g2_to_eip2537(pk), backend) == pk


def _bad_eip_g1() -> list[tuple[str, bytes, str]]:
    good = ARK.g1_to_eip2537(_SIG)
    x, y = g1_outside_subgroup()
    return [
        ("short", good[:127], "expected 128 bytes"),
        ("identity", bytes(128), "identity"),
        ("padding", b"\x01" + good[1:], "lacks 16 zero bytes"),
        ("x-not-in-field", eip_fp(FIELD_MODULUS) + good[64:], ">= p"),
        ("not-on-curve", eip_fp(1) + eip_fp(1), "not on the curve"),
        ("outside-subgroup", eip_fp(int(x.n)) + eip_fp(int(y.n)), "not in the prime-order"),
    ]


def _bad_eip_g2() -> list[tuple[str, bytes, str]]:
    good = ARK.g2_to_eip2537(_PK)
    x, y = g2_outside_subgroup()
    outside = b"".join(eip_fp(int(c)) for c in (*x.coeffs, *y.coeffs))
    swapped = good[64:128] + good[:64] + good[192:] + good[128:192]
    return [
        ("g1-size", ARK.g1_to_eip2537(_SIG), "expected 256 bytes"),
        ("identity", bytes(256), "identity"),
        ("padding", good[:64] + b"\x01" + good[65:], "lacks 16 zero bytes"),
        ("y-not-in-field", good[:192] + eip_fp(FIELD_MODULUS), ">= p"),
        ("c0-c1-swapped", swapped, "not on the curve"),
        ("outside-subgroup", outside, "not in the prime-order"),
    ]


BAD_EIP_G1 = _bad_eip_g1()
BAD_EIP_G2 = _bad_eip_g2()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("case", "data", "reason"), BAD_EIP_G1, ids=[c[0] for c in BAD_EIP_G1])
def test_invalid_eip2537_g1_is_rejected(backend: BlsBackend, case: str, data: bytes, reason: str) -> None:
    with pytest.raises(InvalidPoint, match=reason):
        backend.eip2537_to_g1(data)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("case", "data", "reason"), BAD_EIP_G2, ids=[c[0] for c in BAD_EIP_G2])
def test_invalid_eip2537_g2_is_rejected(backend: BlsBackend, case: str, data: bytes, reason: str) -> None:
    with pytest.raises(InvalidPoint, match=reason):
        backend.eip2537_to_g2(data)


def test_the_constants_written_as_literals_are_py_eccs() -> None:
    assert curve_order == CURVE_ORDER
    assert field_modulus == FIELD_MODULUS


def test_importing_the_relayer_does_not_import_py_ecc() -> None:
    # py_ecc's import computes tables for seconds: every CLI call paid for it. (A member process
    # still does: eth_account imports eth_keyfile, which imports py_ecc for BLS keystores.)
    import subprocess
    import sys

    code = "import sys, relayer.cli; print(sorted(m for m in sys.modules if m.startswith('py_ecc')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    reference = "import sys, committee.bls as b; b.get_backend('py-ecc'); print('py_ecc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", reference], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
