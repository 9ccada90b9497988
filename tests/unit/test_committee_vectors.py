"""committee.vectors: the committed vectors file is current, well-formed and correct."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from committee.bls import DST, ArkworksBackend
from committee.bls_reference import PyEccBackend
from committee.vectors import build_vectors, main, render_vectors

VECTORS_FILE = Path(__file__).resolve().parents[2] / "contracts" / "vectors" / "bls_vectors.json"
ARK = ArkworksBackend()


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    return build_vectors()


def test_committed_vectors_equal_a_fresh_generation_byte_for_byte(
    vectors: dict[str, Any],
) -> None:
    assert VECTORS_FILE.read_text() == render_vectors(vectors), (
        "contracts/vectors/bls_vectors.json is stale; regenerate it with"
        " `python -m committee.vectors --out contracts/vectors/bls_vectors.json`"
    )


def test_vectors_are_the_same_from_the_reference_backend(vectors: dict[str, Any]) -> None:
    assert build_vectors(PyEccBackend(), check=False) == vectors


def test_vectors_have_the_shape_the_solidity_test_reads(vectors: dict[str, Any]) -> None:
    assert list(vectors) == ["dst", "cases"]
    assert vectors["dst"] == DST.decode()
    for case in vectors["cases"]:
        assert list(case) == ["message", "hashToG1", "publicKey", "signature", "valid"]
        sizes = {"message": 32, "hashToG1": 128, "publicKey": 256, "signature": 128}
        for key, size in sizes.items():
            assert case[key].startswith("0x")
            assert len(bytes.fromhex(case[key][2:])) == size
        assert isinstance(case["valid"], bool)


def test_vectors_cover_single_threshold_and_invalid_cases(vectors: dict[str, Any]) -> None:
    valid = [c for c in vectors["cases"] if c["valid"]]
    invalid = [c for c in vectors["cases"] if not c["valid"]]
    assert len(valid) >= 5
    assert len(invalid) >= 3
    keys = {c["publicKey"] for c in valid}
    assert len(keys) == 4  # three single keys and one group key


def test_each_vector_verifies_exactly_when_marked_valid(vectors: dict[str, Any]) -> None:
    for case in vectors["cases"]:
        message = bytes.fromhex(case["message"][2:])
        public_key = ARK.eip2537_to_g2(bytes.fromhex(case["publicKey"][2:]))
        signature = ARK.eip2537_to_g1(bytes.fromhex(case["signature"][2:]))
        hashed = ARK.eip2537_to_g1(bytes.fromhex(case["hashToG1"][2:]))
        assert hashed == ARK.hash_to_g1(message)
        assert ARK.verify(public_key, message, signature) is case["valid"]


def test_vectors_cli_check_reports_a_stale_file(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "v.json"
    assert main(["--out", str(path)]) == 0
    assert main(["--check", str(path)]) == 0
    path.write_text(path.read_text().replace('"valid": true', '"valid": false', 1))
    assert main(["--check", str(path)]) == 1
    assert "is stale" in capsys.readouterr().err
