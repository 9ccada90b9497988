"""A raw eth_call's reply (relayer.adapters.chain._uint_reply) is classified the way web3's contract
call classifies it: a revert (code 3, revert data, "execution reverted") is deterministic and
raises ContractLogicError; any other error is the endpoint's (RpcReplyError: the next endpoint
is asked), even when its text contains the word "revert"."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import AsyncWeb3
from web3.exceptions import ContractLogicError

from relayer.adapters.chain import (
    ChainClient,
    RpcReplyError,
    RpcUnavailable,
    SendReads,
    _send_replies,
    _uint_reply,
)
from relayer.config import ChainConfig
from relayer.core.types import ChainId

WORD = "0x" + "00" * 31 + "07"


def test_a_word_is_read() -> None:
    assert _uint_reply({"id": 1, "result": WORD}, "x") == 7


@pytest.mark.parametrize(
    "error",
    [
        {"code": 3, "message": "execution reverted: nope", "data": "0x08c379a0" + "00" * 96},  # geth
        {"code": -32015, "message": "VM execution error.", "data": "Reverted 0x"},  # old nethermind
        {"code": -32000, "message": "call failed", "data": "0xdeadbeef"},  # a custom error, data only
        {"code": -32000, "message": "execution reverted"},
    ],
)
def test_a_revert_is_a_contract_logic_error(error: dict[str, object]) -> None:
    with pytest.raises(ContractLogicError):
        _uint_reply({"id": 1, "error": error}, "x")


@pytest.mark.parametrize(
    "reply",
    [
        {"id": 1, "error": {"code": -32000, "message": "state unavailable: snapshot reverted"}},
        {"id": 1, "error": {"code": -32603, "message": "internal error"}},
        {"id": 1, "error": "execution reverted"},
        {"id": 1, "result": "0x00"},
        {"id": 1, "result": None},
        "garbage",
    ],
)
def test_anything_else_is_the_endpoints_error(reply: object) -> None:
    with pytest.raises(RpcReplyError):
        _uint_reply(reply, "x")


# ---- the send's reads, one JSON-RPC batch (ChainClient.send_reads) ------------------------

BLOCK = {"baseFeePerGas": "0x3b9aca00", "gasLimit": "0x1c9c380", "number": "0x7"}


def send_batch(*replies: dict[str, object], first: int = 5) -> list[dict[str, object]]:
    return [{"jsonrpc": "2.0", "id": first + i} | r for i, r in enumerate(replies)]


def test_the_sends_reads_are_matched_to_their_requests() -> None:
    got = _send_replies(
        send_batch({"result": "0x"}, {"result": BLOCK}, {"result": "0x2a"}),
        nonce=True,
    )
    assert got == SendReads(None, 10**9, 30_000_000, 42)
    got = _send_replies(send_batch({"result": "0x"}, {"result": BLOCK}), nonce=False)
    assert got == SendReads(None, 10**9, 30_000_000, None)


def test_the_calls_error_is_passed_on_as_the_node_gave_it() -> None:
    revert = {"code": 3, "message": "execution reverted", "data": "0xdeadbeef"}
    got = _send_replies(send_batch({"error": revert}, {"result": BLOCK}), nonce=False)
    assert got.call_error == revert
    got = _send_replies(send_batch({"error": "boom"}, {"result": BLOCK}), nonce=False)
    assert got.call_error == {"message": "boom"}


@pytest.mark.parametrize(
    "replies",
    [
        send_batch({"result": "0x"}, {"result": BLOCK}),  # one reply short
        send_batch({"result": "0x"}, {"result": BLOCK}, {"result": "0x1"})[::-1],  # out of order
        send_batch({"result": None}, {"result": BLOCK}, {"result": "0x1"}),  # no call result
        send_batch({"result": "0x"}, {"result": None}, {"result": "0x1"}),  # no block
        send_batch({"result": "0x"}, {"result": {"baseFeePerGas": "0x1"}}, {"result": "0x1"}),  # no gas limit
        send_batch(
            {"result": "0x"}, {"result": BLOCK}, {"error": {"code": -32000, "message": "x"}}
        ),  # no nonce
    ],
)
def test_a_send_batch_reply_that_does_not_fit_is_the_endpoints_error(replies: object) -> None:
    with pytest.raises((RpcReplyError, ValueError)):
        _send_replies(replies, nonce=True)


# ---- the head and a final block's hash, raw replies checked here (ChainClient.head, block_hash) ----


class Replies:
    """A provider giving each request the next of `replies` (both endpoints of a client share it)."""

    def __init__(self, *replies: object) -> None:
        self.replies = list(replies)
        self.asked: list[tuple[str, list[object]]] = []

    async def make_request(self, method: str, params: list[object]) -> object:
        self.asked.append((method, params))
        return self.replies.pop(0)


def chain_of(node: Replies) -> ChainClient:
    cfg = ChainConfig("c", ChainId(7002), "http://127.0.0.1:1", ENDPOINT, 2, 0, 1.0, 100, rpc_timeout=2.0)
    w3: AsyncWeb3[Any] = AsyncWeb3()
    w3.provider = node  # type: ignore[assignment]
    return ChainClient(cfg, w3)


ENDPOINT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
HASH = "0x" + "ab" * 32


async def test_the_head_is_read_and_the_final_head_counted_from_it() -> None:
    node = Replies({"id": 1, "result": "0x2a"})
    chain = chain_of(node)
    head = await chain.head()
    assert head == 42
    assert await chain.final_head(head) == 40  # finality_depth 2, no second read
    assert node.asked == [("eth_blockNumber", [])]


@pytest.mark.parametrize(
    "reply",
    [
        {"id": 1, "error": {"code": -32603, "message": "internal error"}},
        {"id": 1, "result": 42},  # a JSON number, not a quantity
        {"id": 1, "result": "42"},
        {"id": 1, "result": None},
        {"id": 1, "result": "0xzz"},
        {"id": 1, "result": "0x1" + "0" * 16},  # 2**64: no block number
        "garbage",
    ],
)
async def test_a_head_that_is_not_a_quantity_is_the_endpoints_error(reply: object) -> None:
    with pytest.raises(RpcUnavailable, match=r"RpcReplyError\(.eth_blockNumber: "):
        await chain_of(Replies(reply)).head()


async def test_a_final_blocks_hash_is_read_raw() -> None:
    node = Replies({"id": 1, "result": {"number": "0x7", "hash": HASH.upper().replace("0X", "0x")}})
    assert await chain_of(node).block_hash(7) == HASH
    assert node.asked == [("eth_getBlockByNumber", ["0x7", False])]


@pytest.mark.parametrize(
    "block",
    [
        {"number": "0x7"},  # no hash
        {"number": "0x7", "hash": None},
        {"number": "0x7", "hash": "0x" + "ab" * 31},  # 31 bytes
        {"number": "0x7", "hash": "ab" * 32},  # no 0x
        {"number": "0x7", "hash": 7},
    ],
)
async def test_a_block_without_a_well_formed_hash_is_the_endpoints_error(block: dict[str, object]) -> None:
    chain = chain_of(Replies({"id": 1, "result": block}))
    with pytest.raises(RpcUnavailable, match="hash"):
        await chain.block_hash(7)
    assert chain._known_final(7) is None  # nothing remembered as final


async def test_a_block_the_endpoint_has_not_got_is_an_error_not_a_hash() -> None:
    with pytest.raises(RpcUnavailable, match="does not have block"):
        await chain_of(Replies({"id": 1, "result": None})).block_hash(7)
