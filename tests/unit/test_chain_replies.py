"""A raw eth_call's reply (relayer.adapters.chain._uint_reply) is classified the way web3's contract
call classifies it: a revert (code 3, revert data, "execution reverted") is deterministic and
raises ContractLogicError; any other error is the endpoint's (RpcReplyError: the next endpoint
is asked), even when its text contains the word "revert"."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode
from web3 import AsyncWeb3, Web3
from web3.exceptions import ContractLogicError

from relayer.adapters.abi import ENDPOINT_ABI
from relayer.adapters.chain import (
    ENDPOINT_VIEWS,
    INBOUND,
    ChainClient,
    RpcReplyError,
    RpcUnavailable,
    SendReads,
    _send_replies,
    _uint_reply,
    _view_reply,
)
from relayer.config import ChainConfig
from relayer.core.keyring import EndpointKey
from relayer.core.onchain import CurseView, EndpointState
from relayer.core.types import ChainId, Nonce, Transfer

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

    async def make_batch_request(self, requests: list[tuple[str, list[object]]]) -> object:
        self.asked.append(("batch", [list(r) for r in requests]))
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


# ---- the endpoint's view functions, raw eth_calls in one batch (ChainClient._views) -------------------


def word(*values: tuple[str, object]) -> str:
    return "0x" + encode([t for t, _ in values], [v for _, v in values]).hex()


def batch(*results: object, first_id: int = 1) -> list[dict[str, object]]:
    """A batch's replies: each result (or an error reply as given), numbered from `first_id`."""
    out = []
    for i, r in enumerate(results):
        reply = r if isinstance(r, dict) and ("error" in r or "result" in r) else {"result": r}
        out.append({"id": first_id + i, **reply})
    return out


def header(number: int, timestamp: int = 1_700_000_000) -> dict[str, object]:
    return {"number": hex(number), "timestamp": hex(timestamp), "hash": HASH}


# an endpoint's state as its four views encode it: not paused, action nonce 5, key epoch 2, pause count 3
STATE = (word(("bool", False)), word(("uint64", 5)), word(("uint64", 2)), word(("uint64", 3)))
WEB3_ENDPOINT = Web3().eth.contract(address=ENDPOINT, abi=ENDPOINT_ABI)  # encodes only: no provider call


def test_the_views_are_the_endpoints_own_and_encode_as_web3_does() -> None:
    token = "0x" + "11" * 20
    for name, args in [
        ("transferStatus", (7001, 9)),
        ("isCursed", (7001,)),
        ("rateLimit", (Web3.to_checksum_address(token), INBOUND)),
        ("paused", ()),
    ]:
        assert ENDPOINT_VIEWS[name].data(args) == WEB3_ENDPOINT.encode_abi(name, args)
    assert "registry" not in ENDPOINT_VIEWS  # returns an address: web3 checksums it, eth_abi does not


async def test_an_endpoints_state_is_one_batch_at_one_block() -> None:
    node = Replies(
        {"id": 1, "result": "0x2a"},  # the head
        batch(
            word(("bool", True)), word(("uint64", 5)), word(("uint64", 2)), word(("uint64", 3)), header(42)
        ),
    )
    state = await chain_of(node).endpoint_state()
    assert state == EndpointState(True, 5, 2, 3)
    assert node.asked[0] == ("eth_blockNumber", [])
    method, requests = node.asked[1]
    assert method == "batch"
    calls = [params for m, params in requests if m == "eth_call"]
    assert [c[0]["data"] for c in calls] == [  # type: ignore[index]
        WEB3_ENDPOINT.encode_abi(name) for name in ("paused", "actionNonce", "currentKeyEpoch", "pauseCount")
    ]
    assert {c[1] for c in calls} == {"0x2a"}  # type: ignore[index]
    assert requests[-1] == ["eth_getBlockByNumber", ["0x2a", False]]


async def test_a_queued_transfers_release_facts_read_its_tokens_queue_and_the_blocks_time() -> None:
    token = Web3.to_checksum_address("0x" + "22" * 20)
    t = Transfer(ChainId(7001), ChainId(7002), Nonce(4), token, token, token, token, 500)
    leaf = b"\x01" * 32
    node = Replies(
        {"id": 1, "result": "0x10"},
        batch(
            word(("uint8", 2)),
            word(("uint64", 0)),
            word(("bool", False)),
            word(("bool", False)),
            header(16, 99),
        ),
        batch(
            word(("bytes32", leaf), ("uint256", 3)),
            word(("uint256", 400)),
            word(("(uint128,uint128,uint128,uint64)", (1000, 400, 10, 77))),
            header(16, 99),
            first_id=7,
        ),
    )
    facts = await chain_of(node).release_facts(t, leaf)
    assert (facts.status, facts.held_until, facts.paused, facts.cursed) == (2, 0, False, False)
    assert (facts.head_leaf, facts.available, facts.capacity, facts.now) == (leaf, 400, 1000, 99)


async def test_a_revert_of_a_view_is_the_contracts_answer_not_the_endpoints() -> None:
    revert = {"error": {"code": 3, "message": "execution reverted", "data": "0x"}}
    node = Replies({"id": 1, "result": "0x2a"}, batch(revert, *STATE[1:], header(42)))
    with pytest.raises(ContractLogicError):
        await chain_of(node).endpoint_state()


@pytest.mark.parametrize(
    ("replies", "said"),
    [
        # no code at the address (or a node not synced): an empty result
        (batch("0x", *STATE[1:], header(42)), "address"),
        # the header of another block than the one the calls were asked at
        (batch(*STATE, header(41)), "42"),
        # no header at all
        (batch(*STATE, None), "42"),
        # a reply missing
        (batch(*STATE[:3], header(42)), "replies expected"),
        # replies out of order (web3 sorts a batch's replies by id itself: this guards a provider
        # that does not)
        (batch(*STATE, header(42))[::-1], "ids"),
        # a node's own error
        (batch({"error": {"code": -32603, "message": "internal"}}, *STATE[1:], header(42)), "internal"),
    ],
)
async def test_a_view_batch_that_does_not_fit_is_the_endpoints_error(replies: object, said: str) -> None:
    with pytest.raises(RpcUnavailable, match=said):
        await chain_of(Replies({"id": 1, "result": "0x2a"}, replies)).endpoint_state()


def test_a_views_reply_is_decoded_as_web3_returns_it() -> None:
    leaf = b"\x07" * 32
    assert _view_reply(ENDPOINT_VIEWS["paused"], {"result": word(("bool", True))}, "x") is True
    assert _view_reply(
        ENDPOINT_VIEWS["queueHead"], {"result": word(("bytes32", leaf), ("uint256", 2))}, "x"
    ) == (
        leaf,
        2,
    )
    with pytest.raises(RpcReplyError, match="not paused's"):
        _view_reply(ENDPOINT_VIEWS["paused"], {"result": "0x" + "00" * 31}, "x")  # 31 bytes
    with pytest.raises(RpcReplyError):
        _view_reply(ENDPOINT_VIEWS["paused"], {"result": "0x" + "00" * 31 + "02"}, "x")  # a bool of 2


async def test_the_key_epoch_is_read_at_the_final_head_with_that_blocks_time() -> None:
    node = Replies(
        {"id": 1, "result": "0x2a"},  # the head: 42, final 40 (finality depth 2)
        batch(word(("uint64", 3)), word(("uint64", 1_700_000_100)), header(40, 1_700_000_050)),
    )
    assert await chain_of(node).endpoint_key() == EndpointKey(3, 1_700_000_100, 1_700_000_050)
    _, requests = node.asked[1]
    assert {r[1][1] for r in requests if r[0] == "eth_call"} == {"0x28"}  # type: ignore[index]


async def test_a_routes_curse_and_a_transfers_final_status_are_read_raw() -> None:
    node = Replies({"id": 1, "result": "0x2a"}, batch(word(("bool", True)), word(("uint64", 4)), header(42)))
    assert await chain_of(node).route_curse(7001) == CurseView(True, 4)
    node = Replies({"id": 1, "result": "0x2a"}, batch(word(("uint8", 2)), header(40)))
    assert await chain_of(node).transfer_status(ChainId(7001), 9) == 2


def two_endpoints(first: Replies, second: Replies) -> ChainClient:
    cfg = ChainConfig(
        "c",
        ChainId(7002),
        "http://a",
        ENDPOINT,
        2,
        0,
        1.0,
        100,
        rpcs=("http://a", "http://b"),
        rpc_timeout=2.0,
    )
    w3s: list[AsyncWeb3[Any]] = [AsyncWeb3(), AsyncWeb3()]
    w3s[0].provider, w3s[1].provider = first, second  # type: ignore[assignment]
    return ChainClient(cfg, w3s)


async def test_a_revert_is_not_asked_again_elsewhere_but_another_blocks_answer_is() -> None:
    revert = {"error": {"code": 3, "message": "execution reverted", "data": "0x"}}
    first = Replies({"id": 1, "result": "0x2a"}, batch(revert, *STATE[1:], header(42)))
    second = Replies()
    with pytest.raises(ContractLogicError):
        await two_endpoints(first, second).endpoint_state()
    assert second.asked == []  # deterministic: every endpoint would say the same
    # the first endpoint answers for block 41 (a revert among its calls too): the second is asked
    first = Replies({"id": 1, "result": "0x2a"}, batch(revert, *STATE[1:], header(41)))
    second = Replies(batch(*STATE, header(42)))
    assert await two_endpoints(first, second).endpoint_state() == EndpointState(False, 5, 2, 3)
    assert [m for m, _ in second.asked] == ["batch"]


@pytest.mark.parametrize(
    "error",
    [
        {"message": "execution reverted", "data": None},  # no code: not a JSON-RPC error object
        {"code": True, "message": "execution reverted"},
        "execution reverted",
    ],
)
async def test_an_error_that_is_not_json_rpcs_is_the_endpoints_not_a_revert(error: object) -> None:
    first = Replies({"id": 1, "result": "0x2a"}, batch({"error": error}, *STATE[1:], header(42)))
    second = Replies(batch(*STATE, header(42)))
    assert await two_endpoints(first, second).endpoint_state() == EndpointState(False, 5, 2, 3)
