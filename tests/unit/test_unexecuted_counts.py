"""Many batches' `unexecutedCount` in one call (relayer.adapters.chain `_all_executed_at`): the
UnexecutedCounts reader's creation code, kept in the package, is forge's; its call carries the
endpoint and the ranges; its reply is taken only when it holds exactly one count per range."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from eth_abi.abi import decode
from structlog.testing import capture_logs
from web3 import AsyncWeb3

from relayer.adapters.abi import UNEXECUTED_COUNTS_CODE
from relayer.adapters.chain import (
    RANGES_PER_READ,
    ChainClient,
    RpcReplyError,
    RpcUnavailable,
    _batch_replies,
    _counts_reply,
    _ReaderUnsupported,
    _word_reply,
    unexecuted_counts_call,
)
from relayer.config import ChainConfig
from relayer.core.reverts import selector
from relayer.core.types import ChainId
from relayer.provisioning.deploy import ARTIFACTS


def test_the_packaged_creation_code_is_the_one_forge_compiles() -> None:
    """contracts/src/reader/UnexecutedCounts.sol changed: copy its `bytecode.object` from
    contracts/out/UnexecutedCounts.sol/UnexecutedCounts.json into relayer/adapters/abi.py."""
    compiled = json.loads((ARTIFACTS / "UnexecutedCounts.sol" / "UnexecutedCounts.json").read_text())
    assert UNEXECUTED_COUNTS_CODE.hex() == compiled["bytecode"]["object"].removeprefix("0x")


def counts(*values: int, offset: int = 32, length: int | None = None) -> str:
    words = [offset, len(values) if length is None else length, *values]
    return "0x" + "".join(f"{w:064x}" for w in words)


WHAT = "unexecutedCount(pending) read"


def test_a_pending_read_refuses_replies_it_cannot_match_to_its_requests() -> None:
    """The counts of many batches come back from one call of the UnexecutedCounts reader as
    `abi.encode(uint256[])`: a reply with another number of counts, another offset, a short word,
    a word that is not plain hex (a sign, an underscore) or an error is refused, never matched to
    the wrong batch (review N5); so is a JSON-RPC batch whose reply ids do not match its
    requests."""
    assert _counts_reply({"id": 7, "result": counts(0, 5)}, 2, WHAT) == [0, 5]
    assert _counts_reply({"id": 7, "result": counts()}, 0, WHAT) == []
    word = "0" * 63 + "1"
    for reply in (
        {"id": 7, "result": counts(0)},  # one count short
        {"id": 7, "result": counts(0, 5, 1)},  # one too many
        {"id": 7, "result": counts(0, 5, length=3)},  # a length that is not the reply's
        {"id": 7, "result": counts(0, 5, offset=0)},  # another offset
        {"id": 7, "result": counts(0, 5)[:-2]},  # a short word
        {"id": 7, "result": counts(0, 5)[:-1] + "g"},  # not hex
        {"id": 7, "result": counts(0, 5)[:-64] + "-" + word[1:]},  # int() would take it as -1
        {"id": 7, "result": counts(0, 5)[:-64] + "0_" + word[2:]},  # and this as 1
        {"id": 7, "result": counts(0, 5)[:-64] + "  " + word[2:]},  # fromhex skips spaces: a byte short
        {"id": 7, "result": counts(0, 5)[2:] + "00"},  # no 0x
        {"id": 7, "result": "0x"},  # a node that does not run creation code by eth_call
        {"id": 7, "result": "0x" + "ab" * 20},  # one that answers with an address
        {"id": 7, "result": None},
        {"id": 7, "error": {"code": -32602, "message": "missing to"}},
        {"id": 7, "error": {"code": 3, "message": "execution reverted"}},  # no data: not the endpoint's
        {"id": 7, "error": {"code": 3, "message": "execution reverted", "data": "0x"}},  # geth's empty revert
        {
            "id": 7,
            "error": {"code": -32015, "message": "VM execution error.", "data": "err: OutOfGas (gas 1)"},
        },
        {
            "id": 7,
            "error": {"code": -32602, "message": "invalid params", "data": "missing 'to' field 0xdeadbeef"},
        },
    ):
        with pytest.raises(_ReaderUnsupported):
            _counts_reply(reply, 2, WHAT)
    for replies in (
        [{"id": 7, "result": counts(0)}, {"id": 7, "result": counts(1)}],  # repeated
        [{"id": 7, "result": counts(0)}, {"id": 9, "result": counts(1)}],  # one missing, one invented
        [{"result": counts(0)}, {"id": 8, "result": counts(1)}],  # no id: the order is the RPC's word
        [{"id": 7, "result": counts(0)}],
    ):
        with pytest.raises(RpcReplyError):
            _batch_replies(replies, 2, WHAT)


def test_a_revert_with_data_is_the_endpoints_answer_not_a_node_without_the_reader() -> None:
    """A range the endpoint refuses (InvalidNonceRange) reverts the reader's call with data: the
    read fails as one `unexecutedCount` call of that range would, and the node is not taken for
    one that cannot run the reader."""
    revert = {
        "code": 3,
        "message": "execution reverted",
        "data": "0x" + selector("InvalidNonceRange(uint64,uint64)"),
    }
    with pytest.raises(RpcReplyError) as refused:
        _counts_reply({"id": 7, "error": revert}, 2, WHAT)
    assert not isinstance(refused.value, _ReaderUnsupported)


def test_one_calls_ranges_fit_the_limits_on_creation_code_and_returned_code() -> None:
    """EIP-3860 bounds the call's input (creation code and arguments) to 49,152 bytes, EIP-170 the
    reply (returned as code) to 24,576 (shown on anvil in test_submitter_notices)."""
    call = unexecuted_counts_call("0x" + "ab" * 20, [(2**255, 2**64 - 1, 2**64 - 1)] * RANGES_PER_READ)
    assert len(call) <= 49_152
    assert 64 + 32 * RANGES_PER_READ <= 24_576


def test_a_word_of_one_unexecuted_count_is_plain_hex() -> None:
    assert _word_reply({"id": 1, "result": "0x" + "0" * 63 + "5"}, WHAT) == 5
    for result in ("0x-" + "0" * 62 + "1", "0x  " + "0" * 62, "0x" + "0" * 63, "0x" + "0" * 63 + "g", None):
        with pytest.raises(RpcReplyError):
            _word_reply({"id": 1, "result": result}, WHAT)


def test_the_readers_call_is_its_creation_code_with_the_endpoint_and_the_ranges() -> None:
    endpoint = "0x" + "ab" * 20
    data = unexecuted_counts_call(endpoint, [(7001, 1, 100), (7002, 101, 101)])
    assert data.startswith(UNEXECUTED_COUNTS_CODE)
    args = decode(["address", "(uint256,uint64,uint64)[]"], data[len(UNEXECUTED_COUNTS_CODE) :])
    assert (args[0].lower(), args[1]) == (endpoint, ((7001, 1, 100), (7002, 101, 101)))


# ---- the reader set aside, for a while, where the node does not run it (ChainClient._all_executed_at) ----

ENDPOINT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
RANGES = [(ChainId(7002), 1, 5), (ChainId(7002), 6, 9)]
ONE_EACH = [{"id": i + 1, "result": "0x" + "00" * 31 + n} for i, n in enumerate(("00", "02"))]


class Node:
    """A provider answering the reader's call (no `to`) with `reader` and each one-range call
    (with a `to`) with `one_each`; the calls of each JSON-RPC batch are recorded as "reader" or
    "one"."""

    def __init__(self, reader: dict[str, object], one_each: list[dict[str, object]] | None = None) -> None:
        self.reader = reader
        self.one_each = ONE_EACH if one_each is None else one_each
        self.batches: list[list[str]] = []

    async def make_batch_request(self, calls: list[tuple[str, list[dict[str, object]]]]) -> object:
        kinds = ["one" if "to" in params[0] else "reader" for _, params in calls]
        self.batches.append(kinds)
        if kinds[0] == "reader":
            return [{"id": i + 1} | self.reader for i in range(len(calls))]
        return self.one_each


def client(node: Node) -> ChainClient:
    cfg = ChainConfig("c", ChainId(7002), "http://127.0.0.1:1", ENDPOINT, 0, 0, 1.0, 100, rpc_timeout=2.0)
    w3: AsyncWeb3[Any] = AsyncWeb3()
    w3.provider = node  # type: ignore[assignment]
    return ChainClient(cfg, w3)


async def test_a_node_that_does_not_run_the_reader_is_asked_one_call_per_range_for_a_while() -> None:
    node = Node({"result": "0x"})  # a node that runs no creation code by eth_call
    chain = client(node)
    with capture_logs() as logs:
        assert await chain.batches_pending(RANGES) == [True, False]
        assert await chain.batches_mined(RANGES) == [True, False]
    assert node.batches == [["reader"], ["one", "one"], ["one", "one"]]  # tried once, then set aside
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["counts_reader_unsupported"]
    chain._endpoints[0].reader_aside_until = time.monotonic() - 1  # READER_RETRY_SECONDS later
    assert await chain.batches_pending(RANGES) == [True, False]
    assert node.batches[3:] == [["reader"], ["one", "one"]]  # tried again


async def test_a_node_that_fails_both_ways_keeps_the_reader_and_the_read_fails() -> None:
    """A tag the node refuses, a rate limit, a header it has not got yet: one call per range fails
    too, so the fault is the node's, not the reader's: raised, the reader kept for next time."""
    refused = [{"id": i + 1, "error": {"code": -32000, "message": "header not found"}} for i in range(2)]
    node = Node({"error": {"code": -32000, "message": "header not found"}}, one_each=refused)
    chain = client(node)
    with capture_logs() as logs, pytest.raises(RpcUnavailable, match="header not found"):
        await chain.batches_pending(RANGES)
    assert node.batches == [["reader"], ["one", "one"]]
    assert [e for e in logs if e["event"] == "counts_reader_unsupported"] == []
    assert chain._endpoints[0].reader_aside_until < time.monotonic()
    with pytest.raises(RpcUnavailable):
        await chain.batches_pending(RANGES)
    assert node.batches[2] == ["reader"]


async def test_a_revert_of_the_readers_call_is_raised_without_asking_one_call_per_range() -> None:
    revert = {
        "code": 3,
        "message": "execution reverted",
        "data": "0x" + selector("InvalidNonceRange(uint64,uint64)"),
    }
    node = Node({"error": revert})
    chain = client(node)
    with pytest.raises(RpcUnavailable, match="the endpoint reverted"):
        await chain.batches_pending(RANGES)
    assert node.batches == [["reader"]]
    assert chain._endpoints[0].reader_aside_until < time.monotonic()
