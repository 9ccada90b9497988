"""The endpoint's events and calls the sentinel reads, decoded here with eth_abi (the sentinel keeps
its own copy of the interface rather than the relayer's adapters: contracts/src/QiaoEndpoint.sol).
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from relayer.core.types import ChainId, Nonce, Transfer


def topic(signature: str) -> bytes:
    return keccak(text=signature)


TRANSFER_INITIATED = topic("TransferInitiated(uint256,uint64,address,address,address,address,uint256)")
TRANSFER_EXECUTED = topic("TransferExecuted(uint256,uint64,address,uint256)")
TRANSFER_QUEUED = topic("TransferQueued(uint256,uint64,bytes32,uint256)")
TRANSFER_FAILED = topic("TransferFailed(uint256,uint64,uint8)")
TRANSFER_HELD = topic("TransferHeld(uint256,uint64,bytes32,uint256,uint64)")
BATCH_EXECUTED = topic("BatchExecuted(uint256,uint64,uint64,bytes32,uint64)")
ALL_TOPICS = (
    TRANSFER_INITIATED,
    TRANSFER_EXECUTED,
    TRANSFER_QUEUED,
    TRANSFER_FAILED,
    TRANSFER_HELD,
    BATCH_EXECUTED,
)

_TRANSFER = "(uint256,uint256,uint64,address,address,address,address,uint256)"
_PACKED_BATCH = "(uint256,uint256,uint64,(address,address)[],bytes,(address,address,uint256)[])"
EXECUTE_BATCH = keccak(text=f"executeBatch(uint64,{_PACKED_BATCH},bytes)")[:4]
EXECUTE_TRANSFER = keccak(text=f"executeTransfer(uint64,{_TRANSFER},uint64,uint64,bytes32[],bytes)")[:4]


def _fn(name: str, inputs: list[str], outputs: list[str], view: bool = True) -> dict[str, Any]:
    return {
        "type": "function",
        "name": name,
        "stateMutability": "view" if view else "nonpayable",
        "inputs": [{"name": f"a{i}", "type": t} for i, t in enumerate(inputs)],
        "outputs": [{"name": f"r{i}", "type": t} for i, t in enumerate(outputs)],
    }


_TRANSFER_COMPONENTS = [
    {"name": n, "type": t}
    for n, t in (
        ("srcChainId", "uint256"),
        ("dstChainId", "uint256"),
        ("nonce", "uint64"),
        ("srcToken", "address"),
        ("dstToken", "address"),
        ("sender", "address"),
        ("recipient", "address"),
        ("amount", "uint256"),
    )
]

ENDPOINT_ABI: list[dict[str, Any]] = [
    _fn("nextNonce", ["uint256"], ["uint64"]),
    _fn("initiatedLeaf", ["uint256", "uint64"], ["bytes32"]),
    _fn("transferStatus", ["uint256", "uint64"], ["uint8"]),
    _fn("isSentinel", ["address"], ["bool"]),
    _fn("isCursed", ["uint256"], ["bool"]),
    _fn("curse", ["uint256"], [], view=False),
    {
        "type": "function",
        "name": "veto",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "t", "type": "tuple", "components": _TRANSFER_COMPONENTS}],
        "outputs": [],
    },
]
ERC20_ABI: list[dict[str, Any]] = [
    _fn("balanceOf", ["address"], ["uint256"]),
    _fn("totalSupply", [], ["uint256"]),
]


def word_int(data: bytes) -> int:
    return int.from_bytes(data, "big")


def word_address(data: bytes) -> str:
    return to_checksum_address(data[-20:])


def initiated(log: Any, src_chain_id: int) -> Transfer:
    """The transfer of a `TransferInitiated` log on chain `src_chain_id`."""
    topics = log["topics"]
    src_token, dst_token, recipient, amount = decode(
        ["address", "address", "address", "uint256"], bytes(log["data"])
    )
    return Transfer(
        ChainId(src_chain_id),
        ChainId(word_int(bytes(topics[1]))),
        Nonce(word_int(bytes(topics[2]))),
        to_checksum_address(src_token),
        to_checksum_address(dst_token),
        word_address(bytes(topics[3])),
        to_checksum_address(recipient),
        int(amount),
    )


def claimed_transfers(data: bytes, src_chain_id: int, dst_chain_id: int) -> dict[int, Transfer]:
    """The transfers a transaction's calldata asks the endpoint to execute, by nonce, for an
    `executeBatch` or `executeTransfer` sent straight to the endpoint; {} for anything else (a
    release, a call through another contract, calldata that does not decode)."""
    try:
        if data[:4] == EXECUTE_BATCH:
            _, batch, _ = decode(["uint64", _PACKED_BATCH, "bytes"], data[4:])
            src, dst, first, pairs, pair_of, transfers = batch
            out: dict[int, Transfer] = {}
            for i, (sender, recipient, amount) in enumerate(transfers):
                src_token, dst_token = pairs[pair_of[i]]
                t = Transfer(
                    ChainId(src), ChainId(dst), Nonce(first + i), to_checksum_address(src_token),
                    to_checksum_address(dst_token), to_checksum_address(sender),
                    to_checksum_address(recipient), int(amount),
                )  # fmt: skip
                out[t.nonce] = t
            return out if (src, dst) == (src_chain_id, dst_chain_id) else {}
        if data[:4] == EXECUTE_TRANSFER:
            _, fields, _, _, _, _ = decode(
                ["uint64", _TRANSFER, "uint64", "uint64", "bytes32[]", "bytes"], data[4:]
            )
            src, dst, nonce, src_token, dst_token, sender, recipient, amount = fields
            t = Transfer(
                ChainId(src), ChainId(dst), Nonce(nonce), to_checksum_address(src_token),
                to_checksum_address(dst_token), to_checksum_address(sender),
                to_checksum_address(recipient), int(amount),
            )  # fmt: skip
            return {int(t.nonce): t} if (src, dst) == (src_chain_id, dst_chain_id) else {}
    except Exception:  # a forged or odd calldata is judged on the events alone
        return {}
    return {}
