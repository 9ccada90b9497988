"""The bytes the committee signs, computed exactly as the contracts do (docs/PROTOCOL.md).

Pure functions: no I/O, no state.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from relayer.core.types import Batch, Transfer

VERSION = "QIAO-V1"
TRANSFER_TYPEHASH = keccak(
    b"QiaoTransfer(uint256 srcChainId,uint256 dstChainId,uint64 nonce,address srcToken,"
    b"address dstToken,address sender,address recipient,uint256 amount)"
)
BATCH_TYPEHASH = keccak(
    b"QiaoBatch(string version,uint256 srcChainId,uint256 dstChainId,address dstContract,"
    b"uint64 keyEpoch,uint64 firstNonce,uint64 lastNonce,bytes32 root)"
)


def leaf_hash(t: Transfer) -> bytes:
    """keccak(abi.encode(TRANSFER_TYPEHASH, t's eight fields)). Every field is a static type, so
    the encoding is nine 32-byte words, built here directly: eth_abi re-validated the four
    addresses with keccak each, and a catch-up hashes tens of thousands of leaves
    (`leaf_hash_reference` is the eth_abi form; a test holds them equal)."""
    return keccak(
        b"".join(
            (
                TRANSFER_TYPEHASH,
                t.src_chain_id.to_bytes(32, "big"),
                t.dst_chain_id.to_bytes(32, "big"),
                t.nonce.to_bytes(32, "big"),
                _address_word(t.src_token),
                _address_word(t.dst_token),
                _address_word(t.sender),
                _address_word(t.recipient),
                t.amount.to_bytes(32, "big"),
            )
        )
    )


def _address_word(address: str) -> bytes:
    raw = bytes.fromhex(address[2:])
    if len(raw) != 20:
        raise ValueError(f"{address!r} is not a 20-byte address")
    return bytes(12) + raw


def leaf_hash_reference(t: Transfer) -> bytes:
    """`leaf_hash` through eth_abi, kept as the reference the fast form is tested against."""
    return keccak(
        encode(
            [
                "bytes32",
                "uint256",
                "uint256",
                "uint64",
                "address",
                "address",
                "address",
                "address",
                "uint256",
            ],
            [
                TRANSFER_TYPEHASH,
                t.src_chain_id,
                t.dst_chain_id,
                t.nonce,
                t.src_token,
                t.dst_token,
                t.sender,
                t.recipient,
                t.amount,
            ],
        )
    )


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Ordered pairwise keccak; an odd last node is carried up unchanged, never duplicated."""
    if not leaves:
        raise ValueError("merkle_root: no leaves")
    level = list(leaves)
    for leaf in level:
        if len(leaf) != 32:
            raise ValueError("merkle_root: every leaf must be 32 bytes")
    while len(level) > 1:
        nxt = [keccak(level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def merkle_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Sibling hashes from leaf `index` up to the root (levels where it is carried are skipped)."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"merkle_proof: index {index} outside 0..{len(leaves) - 1}")
    proof: list[bytes] = []
    level = list(leaves)
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        nxt = [keccak(level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level, index = nxt, index // 2
    return proof


def batch_root(batch: Batch) -> bytes:
    return merkle_root([leaf_hash(t) for t in batch.transfers])


def batch_message(batch: Batch, root: bytes | None = None) -> bytes:
    """The 32-byte message every member signs for `batch` (`root`: its `batch_root`, if the
    caller has it already)."""
    bid = batch.id
    if root is None:
        root = batch_root(batch)
    return keccak(
        encode(
            [
                "bytes32",
                "string",
                "uint256",
                "uint256",
                "address",
                "uint64",
                "uint64",
                "uint64",
                "bytes32",
            ],
            [
                BATCH_TYPEHASH,
                VERSION,
                bid.route.src,
                bid.route.dst,
                batch.dst_contract,
                batch.key_epoch,
                bid.first_nonce,
                bid.last_nonce,
                root,
            ],
        )
    )


REFUND_TYPEHASH = keccak(
    b"QiaoRefund(string version,uint256 chainId,address endpoint,uint64 keyEpoch,bytes32 transferLeaf)"
)


def refund_message(t: Transfer, src_endpoint: str, key_epoch: int) -> bytes:
    """The 32-byte REFUND message for `t`, signed for its **source** endpoint `src_endpoint`
    (the contract's `refundMessage(keyEpoch, t)`; its chain id is `t.src_chain_id`)."""
    if key_epoch < 1:
        raise ValueError(f"refund_message: key epoch {key_epoch} is not a valid epoch (>= 1)")
    return keccak(
        encode(
            ["bytes32", "string", "uint256", "address", "uint64", "bytes32"],
            [REFUND_TYPEHASH, VERSION, t.src_chain_id, src_endpoint, key_epoch, leaf_hash(t)],
        )
    )
