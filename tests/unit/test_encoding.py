"""The signed-message encoding and the Merkle rule (docs/PROTOCOL.md)."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from relayer.core.encoding import (
    BATCH_TYPEHASH,
    REFUND_TYPEHASH,
    TRANSFER_TYPEHASH,
    batch_message,
    batch_root,
    leaf_hash,
    leaf_hash_reference,
    merkle_proof,
    merkle_root,
    refund_message,
)
from relayer.core.types import Batch, ChainId, Nonce, Transfer

A = "0x" + "11" * 20
B = "0x" + "22" * 20
C = "0x" + "33" * 20
D = "0x" + "44" * 20
GW = "0x" + "55" * 20


def transfer(nonce: int, amount: int = 5) -> Transfer:
    from eth_utils.address import to_checksum_address as cs

    return Transfer(ChainId(7001), ChainId(7002), Nonce(nonce), cs(A), cs(B), cs(C), cs(D), amount)


def h(a: bytes, b: bytes) -> bytes:
    return keccak(a + b)


def test_typehashes_are_the_documented_strings() -> None:
    assert (
        keccak(
            text="QiaoTransfer(uint256 srcChainId,uint256 dstChainId,uint64 nonce,address srcToken,"
            "address dstToken,address sender,address recipient,uint256 amount)"
        )
        == TRANSFER_TYPEHASH
    )
    assert (
        keccak(
            text="QiaoBatch(string version,uint256 srcChainId,uint256 dstChainId,address dstContract,"
            "uint64 keyEpoch,uint64 firstNonce,uint64 lastNonce,bytes32 root)"
        )
        == BATCH_TYPEHASH
    )


def test_leaf_is_keccak_of_the_abi_encoded_fields() -> None:
    t = transfer(3, 1000)
    expected = keccak(
        TRANSFER_TYPEHASH
        + (7001).to_bytes(32, "big")
        + (7002).to_bytes(32, "big")
        + (3).to_bytes(32, "big")
        + b"\0" * 12
        + bytes.fromhex("11" * 20)
        + b"\0" * 12
        + bytes.fromhex("22" * 20)
        + b"\0" * 12
        + bytes.fromhex("33" * 20)
        + b"\0" * 12
        + bytes.fromhex("44" * 20)
        + (1000).to_bytes(32, "big")
    )
    assert leaf_hash(t) == expected


@pytest.mark.parametrize(
    ("count", "shape"),
    [
        (1, lambda x: x[0]),
        (2, lambda x: h(x[0], x[1])),
        (3, lambda x: h(h(x[0], x[1]), x[2])),
        (5, lambda x: h(h(h(x[0], x[1]), h(x[2], x[3])), x[4])),
        (6, lambda x: h(h(h(x[0], x[1]), h(x[2], x[3])), h(x[4], x[5]))),
    ],
)
def test_merkle_root_carries_the_odd_node_up_unchanged(count: int, shape: object) -> None:
    leaves = [keccak(bytes([i])) for i in range(count)]
    assert merkle_root(leaves) == shape(leaves)  # type: ignore[operator]


def test_merkle_root_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no leaves"):
        merkle_root([])


def test_merkle_root_refuses_leaves_that_are_not_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        merkle_root([b"short"])


@given(st.integers(min_value=1, max_value=40), st.data())
def test_every_merkle_proof_leads_to_the_root(count: int, data: st.DataObject) -> None:
    leaves = [keccak(i.to_bytes(4, "big")) for i in range(count)]
    index = data.draw(st.integers(min_value=0, max_value=count - 1))
    node, i, size = leaves[index], index, count
    proof = iter(merkle_proof(leaves, index))
    while size > 1:
        if i ^ 1 < size:
            sibling = next(proof)
            node = h(node, sibling) if i % 2 == 0 else h(sibling, node)
        i, size = i // 2, (size + 1) // 2
    assert node == merkle_root(leaves)


def test_batch_message_binds_every_domain_field() -> None:
    from eth_utils.address import to_checksum_address as cs

    batch = Batch((transfer(1), transfer(2)), cs(GW), 1)
    root = merkle_root([leaf_hash(transfer(1)), leaf_hash(transfer(2))])
    expected = keccak(
        encode(
            ["bytes32", "string", "uint256", "uint256", "address", "uint64", "uint64", "uint64", "bytes32"],
            [BATCH_TYPEHASH, "QIAO-V1", 7001, 7002, cs(GW), 1, 1, 2, root],
        )
    )
    assert batch_message(batch) == expected
    assert batch_message(Batch(batch.transfers, cs(GW), 2)) != expected
    assert batch_message(Batch(batch.transfers, cs(A), 1)) != expected


def test_a_batch_with_a_nonce_gap_cannot_exist() -> None:
    from eth_utils.address import to_checksum_address as cs

    with pytest.raises(ValueError, match="not contiguous"):
        Batch((transfer(1), transfer(3)), cs(GW), 1)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("amount", 0, "amount"),
        ("nonce", 0, "nonce"),
        ("recipient", "0x" + "00" * 20, "zero address"),
        ("recipient", "0xnot-an-address", "checksummed"),
    ],
)
def test_invalid_transfers_cannot_exist(field: str, value: object, message: str) -> None:
    fields = {
        "src_chain_id": 7001,
        "dst_chain_id": 7002,
        "nonce": 1,
        "src_token": transfer(1).src_token,
        "dst_token": transfer(1).dst_token,
        "sender": transfer(1).sender,
        "recipient": transfer(1).recipient,
        "amount": 1,
    }
    fields[field] = value
    with pytest.raises(ValueError, match=message):
        Transfer(**fields)  # type: ignore[arg-type]


def test_the_refund_typehash_is_the_documented_string() -> None:
    assert (
        keccak(
            text="QiaoRefund(string version,uint256 chainId,address endpoint,uint64 keyEpoch,"
            "bytes32 transferLeaf)"
        )
        == REFUND_TYPEHASH
    )


def test_the_refund_message_is_keccak_of_the_abi_encoded_domain_and_leaf() -> None:
    t = transfer(9, 250)
    expected = keccak(
        encode(
            ["bytes32", "string", "uint256", "address", "uint64", "bytes32"],
            [REFUND_TYPEHASH, "QIAO-V1", 7001, GW, 2, leaf_hash(t)],
        )
    )
    assert refund_message(t, GW, 2) == expected


def test_the_refund_message_binds_the_source_endpoint_the_epoch_and_every_transfer_field() -> None:
    t = transfer(9, 250)
    base = refund_message(t, GW, 1)
    assert refund_message(t, A, 1) != base
    assert refund_message(t, GW, 2) != base
    assert refund_message(transfer(10, 250), GW, 1) != base
    assert refund_message(transfer(9, 251), GW, 1) != base


def test_a_refund_message_is_never_a_batch_message_of_the_same_transfer() -> None:
    t = transfer(4)
    assert refund_message(t, GW, 1) != batch_message(Batch((t,), GW, 1))


def test_a_refund_message_under_epoch_zero_is_an_error() -> None:
    with pytest.raises(ValueError, match="key epoch 0"):
        refund_message(transfer(1), GW, 0)


_ADDRESSES = st.binary(min_size=20, max_size=20).filter(any)


@given(
    src=st.integers(1, 2**256 - 1),
    dst=st.integers(1, 2**256 - 1),
    nonce=st.integers(1, 2**64 - 1),
    addresses=st.lists(_ADDRESSES, min_size=4, max_size=4),
    amount=st.integers(1, 2**256 - 1),
)
def test_the_fast_leaf_hash_is_the_abi_encoded_one(
    src: int, dst: int, nonce: int, addresses: list[bytes], amount: int
) -> None:
    from eth_utils.address import to_checksum_address as cs

    if src == dst:
        dst = src + 1 if src < 2**256 - 1 else src - 1
    t = Transfer(ChainId(src), ChainId(dst), Nonce(nonce), *(cs(a) for a in addresses), amount)
    assert leaf_hash(t) == leaf_hash_reference(t)


def test_batch_message_with_the_root_given_is_the_same_message() -> None:
    batch = Batch((transfer(1), transfer(2), transfer(3)), GW, 4)
    assert batch_message(batch, batch_root(batch)) == batch_message(batch)
    assert batch_message(batch, b"\x00" * 32) != batch_message(batch)
