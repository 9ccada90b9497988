"""Many batches' `unexecutedCount` in one call (relayer.adapters.chain `_all_executed_at`): the
UnexecutedCounts reader's creation code, kept in the package, is forge's; its call carries the
endpoint and the ranges; its reply is taken only when it holds exactly one count per range."""

from __future__ import annotations

import json

import pytest
from eth_abi.abi import decode

from relayer.adapters.abi import UNEXECUTED_COUNTS_CODE
from relayer.adapters.chain import RpcReplyError, _batch_replies, _counts_reply, unexecuted_counts_call
from relayer.provisioning.deploy import ARTIFACTS


def test_the_packaged_creation_code_is_the_one_forge_compiles() -> None:
    """contracts/src/reader/UnexecutedCounts.sol changed: copy its `bytecode.object` from
    contracts/out/UnexecutedCounts.sol/UnexecutedCounts.json into relayer/adapters/abi.py."""
    compiled = json.loads((ARTIFACTS / "UnexecutedCounts.sol" / "UnexecutedCounts.json").read_text())
    assert UNEXECUTED_COUNTS_CODE.hex() == compiled["bytecode"]["object"].removeprefix("0x")


def test_a_pending_read_refuses_replies_it_cannot_match_to_its_requests() -> None:
    """The counts of many batches come back from one call of the UnexecutedCounts reader as
    `abi.encode(uint256[])`: a reply with another number of counts, another offset, a short word,
    odd hex or an error is refused, never matched to the wrong batch (review N5); so is a JSON-RPC
    batch whose reply ids do not match its requests."""

    def counts(*values: int, offset: int = 32, length: int | None = None) -> str:
        words = [offset, len(values) if length is None else length, *values]
        return "0x" + "".join(f"{w:064x}" for w in words)

    what = "unexecutedCount(pending) read"
    assert _counts_reply({"id": 7, "result": counts(0, 5)}, 2, what) == [0, 5]
    assert _counts_reply({"id": 7, "result": counts()}, 0, what) == []
    for reply in (
        {"id": 7, "result": counts(0)},  # one count short
        {"id": 7, "result": counts(0, 5, 1)},  # one too many
        {"id": 7, "result": counts(0, 5, length=3)},  # a length that is not the reply's
        {"id": 7, "result": counts(0, 5, offset=0)},  # another offset
        {"id": 7, "result": counts(0, 5)[:-2]},  # a short word
        {"id": 7, "result": counts(0, 5)[:-1] + "g"},  # not hex
        {"id": 7, "result": counts(0, 5)[2:] + "00"},  # no 0x
        {"id": 7, "result": None},
        {"id": 7, "error": {"code": 3, "message": "execution reverted"}},
    ):
        with pytest.raises(RpcReplyError):
            _counts_reply(reply, 2, what)
    for replies in (
        [{"id": 7, "result": counts(0)}, {"id": 7, "result": counts(1)}],  # repeated
        [{"id": 7, "result": counts(0)}, {"id": 9, "result": counts(1)}],  # one missing, one invented
        [{"result": counts(0)}, {"id": 8, "result": counts(1)}],  # no id: the order is the RPC's word
        [{"id": 7, "result": counts(0)}],
    ):
        with pytest.raises(RpcReplyError):
            _batch_replies(replies, 2, what)


def test_the_readers_call_is_its_creation_code_with_the_endpoint_and_the_ranges() -> None:
    endpoint = "0x" + "ab" * 20
    data = unexecuted_counts_call(endpoint, [(7001, 1, 100), (7002, 101, 101)])
    assert data.startswith(UNEXECUTED_COUNTS_CODE)
    args = decode(["address", "(uint256,uint64,uint64)[]"], data[len(UNEXECUTED_COUNTS_CODE) :])
    assert (args[0].lower(), args[1]) == (endpoint, ((7001, 1, 100), (7002, 101, 101)))
