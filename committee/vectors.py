"""Cross-language BLS test vectors for the contracts (contracts/test/CrossLanguage.t.sol).

    python -m committee.vectors --out contracts/vectors/bls_vectors.json
    python -m committee.vectors --check contracts/vectors/bls_vectors.json

Every secret and message is derived from a fixed label with SHA-256, so the output is the same
bytes on every run. Points are in EIP-2537 form (hex, 0x-prefixed):

    {"dst": "<DST>", "cases": [{"message": "0x<32 bytes>", "hashToG1": "0x<128 bytes>",
      "publicKey": "0x<256 bytes>", "signature": "0x<128 bytes>", "valid": true}, ...]}

`valid` is whether e(signature, G2) == e(hashToG1, publicKey), with hashToG1 = H(message).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from committee.bls import CURVE_ORDER, DST, BlsBackend, default_backend
from committee.threshold import combine, deal_from_coefficients, partial_sign

__all__ = ["DEFAULT_PATH", "build_vectors", "render_vectors"]

DEFAULT_PATH: Final = Path("contracts/vectors/bls_vectors.json")
_LABEL: Final = b"qiao-bls-vectors-v1/"


def _scalar(label: str) -> int:
    value = int.from_bytes(hashlib.sha256(_LABEL + label.encode()).digest(), "big") % CURVE_ORDER
    if value == 0:  # pragma: no cover - probability 2^-255
        raise ValueError(f"label {label!r} gives a zero scalar; choose another")
    return value


def _message(label: str) -> bytes:
    return hashlib.sha256(_LABEL + b"message/" + label.encode()).digest()


def build_vectors(backend: BlsBackend | None = None, *, check: bool = True) -> dict[str, Any]:
    """The vectors as a JSON-ready dict; with `check`, each case's validity is verified."""
    bls = default_backend(backend)
    cases: list[dict[str, Any]] = []

    def add(message: bytes, public_key: bytes, signature: bytes, valid: bool) -> None:
        if check and bls.verify(public_key, message, signature) != valid:
            raise AssertionError(f"vector for message 0x{message.hex()} is not valid={valid}")
        cases.append(
            {
                "message": "0x" + message.hex(),
                "hashToG1": "0x" + bls.g1_to_eip2537(bls.hash_to_g1(message)).hex(),
                "publicKey": "0x" + bls.g2_to_eip2537(public_key).hex(),
                "signature": "0x" + bls.g1_to_eip2537(signature).hex(),
                "valid": valid,
            }
        )

    # Valid single-key signatures.
    singles = [(_scalar(f"single/{i}"), _message(f"single/{i}")) for i in range(3)]
    for secret, message in singles:
        add(message, bls.public_key(secret), bls.sign(secret, message), True)

    # Valid threshold signatures: a 3-of-4 committee; members {1,2,3} and {2,3,4} agree.
    shares = deal_from_coefficients([_scalar(f"threshold/coefficient/{k}") for k in range(3)], 4, backend=bls)
    public = shares[0].public
    first_partial = b""
    for i in range(2):
        message = _message(f"threshold/{i}")
        partials = {int(s.index): partial_sign(s, message, bls) for s in shares}
        low = combine(public, {j: partials[j] for j in (1, 2, 3)}, bls)
        high = combine(public, {j: partials[j] for j in (2, 3, 4)}, bls)
        if low != high:
            raise AssertionError("members {1,2,3} and {2,3,4} combined to different signatures")
        add(message, public.group_public_key, low, True)
        first_partial = first_partial or partials[1]

    # Invalid cases.
    (secret_a, message_a), (secret_b, message_b) = singles[0], singles[1]
    # A valid signature presented with another message.
    add(message_b, bls.public_key(secret_a), bls.sign(secret_a, message_a), False)
    # A signature on the right message under another key.
    add(message_a, bls.public_key(secret_a), bls.sign(secret_b, message_a), False)
    # A partial signature (member 1) checked against the group key.
    add(_message("threshold/0"), public.group_public_key, first_partial, False)

    return {"dst": DST.decode("ascii"), "cases": cases}


def render_vectors(vectors: dict[str, Any]) -> str:
    """The exact text of the vectors file."""
    return json.dumps(vectors, indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m committee.vectors", description="Write or check the BLS test vectors."
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--out", type=Path, help=f"write the vectors here (default {DEFAULT_PATH})")
    group.add_argument("--check", type=Path, help="exit 1 unless this file is up to date")
    args = parser.parse_args(argv)
    text = render_vectors(build_vectors())
    if args.check is not None:
        if not args.check.exists() or args.check.read_text() != text:
            print(
                f"{args.check} is stale; run `python -m committee.vectors --out {args.check}`",
                file=sys.stderr,
            )
            return 1
        print(f"{args.check} is up to date")
        return 0
    out: Path = args.out or DEFAULT_PATH
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {len(json.loads(text)['cases'])} cases to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
