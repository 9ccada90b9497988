"""A raw eth_call's reply (relayer.adapters.chain._uint_reply) is classified the way web3's contract
call classifies it: a revert (code 3, revert data, "execution reverted") is deterministic and
raises ContractLogicError; any other error is the endpoint's (RpcReplyError: the next endpoint
is asked), even when its text contains the word "revert"."""

from __future__ import annotations

import pytest
from web3.exceptions import ContractLogicError

from relayer.adapters.chain import RpcReplyError, _uint_reply

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
