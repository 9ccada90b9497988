"""Linking external libraries into a forge artifact's bytecode (relayer/provisioning/deploy.py, pure)."""

from __future__ import annotations

import pytest

from relayer.provisioning.deploy import LinkError, link_bytecode

LIB_A = "0x" + "ab" * 20
LIB_B = "0x00000000000000000000000000000000000000B2"
PLACEHOLDER_A = "__$" + "1" * 34 + "$__"
PLACEHOLDER_B = "__$" + "2" * 34 + "$__"


def artifact_bytecode() -> dict[str, object]:
    # 0x60 0x01 | A (20 bytes) | 0x73 | B (20 bytes) | 0x73 | A again | 0x00
    code = "6001" + PLACEHOLDER_A + "73" + PLACEHOLDER_B + "73" + PLACEHOLDER_A + "00"
    return {
        "object": "0x" + code,
        "linkReferences": {
            "contracts/src/endpoint/A.sol": {"A": [{"start": 2, "length": 20}, {"start": 44, "length": 20}]},
            "contracts/src/endpoint/B.sol": {"B": [{"start": 23, "length": 20}]},
        },
    }


def test_every_placeholder_becomes_its_library_address() -> None:
    linked = link_bytecode(artifact_bytecode(), {"A": LIB_A, "B": LIB_B})
    assert linked == "0x6001" + "ab" * 20 + "73" + LIB_B[2:].lower() + "73" + "ab" * 20 + "00"
    assert "__$" not in linked


def test_a_library_can_be_named_with_its_path() -> None:
    linked = link_bytecode(artifact_bytecode(), {"contracts/src/endpoint/A.sol:A": LIB_A, "B": LIB_B})
    assert linked.count("ab" * 20) == 2


def test_bytecode_without_libraries_is_unchanged() -> None:
    assert link_bytecode({"object": "0x6080", "linkReferences": {}}, {}) == "0x6080"
    assert link_bytecode({"object": "6080"}, {"A": LIB_A}) == "6080"


def test_a_missing_library_address_is_a_clear_error() -> None:
    with pytest.raises(LinkError, match=r"library B \(contracts/src/endpoint/B.sol\) has no address"):
        link_bytecode(artifact_bytecode(), {"A": LIB_A})


@pytest.mark.parametrize("bad", ["0x1234", "0x" + "zz" * 20, "ab" * 21])
def test_a_malformed_library_address_is_refused(bad: str) -> None:
    with pytest.raises(LinkError, match="not a 20-byte hex address"):
        link_bytecode(artifact_bytecode(), {"A": bad, "B": LIB_B})


def test_an_offset_without_a_placeholder_is_refused() -> None:
    bytecode = artifact_bytecode()
    bytecode["linkReferences"] = {"x.sol": {"A": [{"start": 1, "length": 20}]}, "y.sol": {"B": []}}
    with pytest.raises(LinkError, match="no placeholder at byte 1"):
        link_bytecode(bytecode, {"A": LIB_A, "B": LIB_B})


def test_a_placeholder_the_references_do_not_list_is_refused() -> None:
    bytecode = artifact_bytecode()
    bytecode["linkReferences"] = {"contracts/src/endpoint/A.sol": {"A": [{"start": 2, "length": 20}]}}
    with pytest.raises(LinkError, match="still holds a library placeholder"):
        link_bytecode(bytecode, {"A": LIB_A})
