"""A raw eth_call's reply (relayer.adapters.chain._uint_reply) is classified the way web3's contract
call classifies it: a revert (code 3, revert data, "execution reverted") is deterministic and
raises ContractLogicError; any other error is the endpoint's (RpcReplyError: the next endpoint
is asked), even when its text contains the word "revert"."""

from __future__ import annotations

import pytest
from web3.exceptions import ContractLogicError

from relayer.adapters.chain import RpcReplyError, SendReads, _send_replies, _uint_reply

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
