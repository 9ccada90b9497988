"""The endpoint's events and calls the sentinel reads, decoded here with eth_abi (the sentinel keeps
its own copy of the interface rather than the relayer's adapters: contracts/src/QiaoEndpoint.sol).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi.abi import decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from relayer.core.types import ChainId, Nonce, Transfer
from sentinel.checks import BatchExecuted, Executed, Queued, Record, Refunded


def topic(signature: str) -> bytes:
    return keccak(text=signature)


TRANSFER_INITIATED = topic("TransferInitiated(uint256,uint64,address,address,address,address,uint256)")
TRANSFER_EXECUTED = topic("TransferExecuted(uint256,uint64,address,uint256)")
TRANSFER_QUEUED = topic("TransferQueued(uint256,uint64,bytes32,uint256)")
TRANSFER_FAILED = topic("TransferFailed(uint256,uint64,uint8)")
TRANSFER_HELD = topic("TransferHeld(uint256,uint64,bytes32,uint256,uint64)")
BATCH_EXECUTED = topic("BatchExecuted(uint256,uint64,uint64,bytes32,uint64)")
TRANSFER_REFUNDED = topic("TransferRefunded(uint256,uint64,address,uint256)")
ALL_TOPICS = (
    TRANSFER_INITIATED,
    TRANSFER_EXECUTED,
    TRANSFER_QUEUED,
    TRANSFER_FAILED,
    TRANSFER_HELD,
    BATCH_EXECUTED,
    TRANSFER_REFUNDED,
)

_TRANSFER = "(uint256,uint256,uint64,address,address,address,address,uint256)"
_PACKED_BATCH = "(uint256,uint256,uint64,(address,address)[],bytes,(address,address,uint256)[])"
EXECUTE_BATCH = keccak(text=f"executeBatch(uint64,{_PACKED_BATCH},bytes)")[:4]
EXECUTE_TRANSFER = keccak(text=f"executeTransfer(uint64,{_TRANSFER},uint64,uint64,bytes32[],bytes)")[:4]
RELEASE_QUEUED = keccak(text=f"releaseQueued({_TRANSFER})")[:4]


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
    _fn("heldUntil", ["uint256", "uint64"], ["uint64"]),
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


def _transfer(fields: Any) -> Transfer:
    src, dst, nonce, src_token, dst_token, sender, recipient, amount = fields
    return Transfer(
        ChainId(src), ChainId(dst), Nonce(nonce), to_checksum_address(src_token),
        to_checksum_address(dst_token), to_checksum_address(sender),
        to_checksum_address(recipient), int(amount),
    )  # fmt: skip


def claimed_transfers(data: bytes, src_chain_id: int, dst_chain_id: int) -> dict[int, Transfer]:
    """The transfers a call's calldata asks the endpoint to execute or release, by nonce, for an
    `executeBatch`, `executeTransfer` or `releaseQueued` of the route; {} for anything else
    (calldata that does not decode, another route)."""
    try:
        if data[:4] == RELEASE_QUEUED:
            (fields,) = decode([_TRANSFER], data[4:])
            t = _transfer(fields)
            return (
                {int(t.nonce): t} if (t.src_chain_id, t.dst_chain_id) == (src_chain_id, dst_chain_id) else {}
            )
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


def claims_from_trace(trace: Any, endpoint: str, src_chain_id: int, dst_chain_id: int) -> dict[int, Transfer]:
    """The transfers every call to `endpoint` in a call tracer's frame tree (`debug_traceTransaction`
    with `{"tracer": "callTracer"}`) asks it to execute or release: for a batch sent through another
    contract (a multicall, a proxy). A frame that reverted is skipped (its effects are undone)."""
    out: dict[int, Transfer] = {}
    frames = [trace] if isinstance(trace, dict) else []
    want = endpoint.lower()
    while frames:
        frame = frames.pop()
        if frame.get("error"):
            continue
        if str(frame.get("to") or "").lower() == want and str(frame.get("type", "CALL")).upper() == "CALL":
            try:
                data = bytes.fromhex(str(frame.get("input", "0x"))[2:])
            except ValueError:
                data = b""
            out.update(claimed_transfers(data, src_chain_id, dst_chain_id))
        frames.extend(f for f in frame.get("calls") or [] if isinstance(f, dict))
    return out


def decode_log(
    lg: Any, here: int, tx_logs: Sequence[Any] = (), claims: dict[int, Transfer] | None = None
) -> Transfer | Record | None:
    """A log of the endpoint on chain `here`: the source transfer of a `TransferInitiated`, the
    record of a destination event or of a refund, None for the rest. `tx_logs`: the endpoint's logs
    of the same transaction (a `BatchExecuted` there covers a `TransferExecuted`); `claims`: the
    transfers rebuilt from the transaction, by nonce (`claimed_transfers`, `claims_from_trace`)."""
    topics = [bytes(t) for t in lg["topics"]]
    data = bytes(lg["data"])
    claims = claims or {}
    if not topics:
        return None
    if topics[0] == TRANSFER_INITIATED:
        return initiated(lg, here)
    if topics[0] == TRANSFER_FAILED:
        return None  # nothing delivered; the refund pays only the source's own leaf
    if topics[0] == TRANSFER_REFUNDED:
        return Refunded(here, word_int(topics[1]), word_int(topics[2]), word_address(data[0:32]),
                        word_int(data[32:64]))  # fmt: skip
    if len(topics) < 2:
        return None
    src = word_int(topics[1])
    if topics[0] == BATCH_EXECUTED:
        first, last, root, epoch = (word_int(data[0:32]), word_int(data[32:64]), data[64:96],
                                    word_int(data[96:128]))  # fmt: skip
        return BatchExecuted(src, here, first, last, root, epoch)
    if topics[0] == TRANSFER_EXECUTED:
        nonce = word_int(topics[2])
        batched = False
        for other in tx_logs:
            o_topics = [bytes(t) for t in other["topics"]]
            if len(o_topics) > 1 and o_topics[0] == BATCH_EXECUTED and word_int(o_topics[1]) == src:
                o_data = bytes(other["data"])
                batched = batched or word_int(o_data[0:32]) <= nonce <= word_int(o_data[32:64])
        return Executed(src, here, nonce, word_address(data[0:32]), word_int(data[32:64]), claims.get(nonce),
                        batched)  # fmt: skip
    if topics[0] == TRANSFER_QUEUED:
        nonce = word_int(topics[2])
        return Queued(src, here, nonce, data[0:32], word_int(data[32:64]), claimed=claims.get(nonce))
    if topics[0] == TRANSFER_HELD:
        # TransferHeld(uint256 indexed srcChainId, uint64 nonce, bytes32 leaf, uint256 amount,
        # uint64 releaseAfter); a nonce indexed as well is read from the topics
        words = [data[i : i + 32] for i in range(0, len(data), 32)]
        if len(topics) > 2:
            words.insert(0, topics[2])
        nonce, leaf, amount, release = word_int(words[0]), words[1], word_int(words[2]), word_int(words[3])
        return Queued(
            src, here, nonce, leaf, amount, held=True, release_after=release, claimed=claims.get(nonce)
        )
    return None
