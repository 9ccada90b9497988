"""Which reverts of executeBatch fail a batch for good, hold it, or let it be tried again."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode

from relayer.core.reverts import (
    RevertKind,
    classify_refund_revert,
    classify_revert,
    executed_per_check,
    revert_data,
    selector,
)


def data(signature: str, types: list[str] | None = None, values: list[object] | None = None) -> str:
    return "0x" + selector(signature) + (encode(types, values).hex() if types else "")


@pytest.mark.parametrize(
    ("revert", "kind"),
    [
        (data("EnforcedPause()"), RevertKind.WAIT),
        (data("EnforcedPause()").upper().replace("0X", "0x"), RevertKind.WAIT),
        # the sentinels cursed the route: the batch waits for the committee's UNCURSE, like a pause
        (data("RouteIsCursed(uint256)", ["uint256"], [4242]), RevertKind.WAIT),
        # the issuer suspended the asset on C: a refund mint waits for the suspension's end, never
        # failed (the gateway queues a batch's transfers of it; a FAILED item would strand them)
        (data("AssetSuspended()"), RevertKind.WAIT),
        (
            data(
                "BatchAlreadyExecuted(uint256,uint64,uint64)", ["uint256", "uint64", "uint64"], [7001, 1, 5]
            ),
            RevertKind.TRANSIENT,
        ),
        (data("Panic(uint256)", ["uint256"], [0x11]), RevertKind.TRANSIENT),
        (data("ReentrancyGuardReentrantCall()"), RevertKind.TRANSIENT),
        (None, RevertKind.TRANSIENT),
        ("", RevertKind.TRANSIENT),
        ("0x", RevertKind.TRANSIENT),
        ("0x1234", RevertKind.TRANSIENT),
        ({"message": "execution reverted"}, RevertKind.TRANSIENT),
        (data("InvalidSignature()"), RevertKind.PERMANENT),
        (data("IdentitySignature()"), RevertKind.PERMANENT),
        (data("KeyEpochExpired(uint64)", ["uint64"], [1]), RevertKind.PERMANENT),
        (
            data("WrongDestinationChain(uint256,uint256)", ["uint256", "uint256"], [0, 1]),
            RevertKind.PERMANENT,
        ),
        (data("Error(string)", ["string"], ["nope"]), RevertKind.PERMANENT),
        ("0xdeadbeef", RevertKind.PERMANENT),
    ],
)
def test_a_revert_is_classified_by_its_selector(revert: object, kind: RevertKind) -> None:
    assert classify_revert(revert) is kind


def test_selectors_are_the_solidity_ones() -> None:
    assert selector("Panic(uint256)") == "4e487b71"
    assert selector("Error(string)") == "08c379a0"


@pytest.mark.parametrize(
    ("revert", "kind"),
    [
        # the source cannot pay it now: wait, never refused
        (
            data(
                "RateLimited(address,uint8,uint256,uint256)",
                ["address", "uint8", "uint256", "uint256"],
                ["0x" + "11" * 20, 1, 10, 1000],
            ),
            RevertKind.WAIT,
        ),
        (data("NotAllowed(address)", ["address"], ["0x" + "22" * 20]), RevertKind.WAIT),
        (data("TokenIsFrozen()"), RevertKind.WAIT),
        # the sender's wallet frozen on the ERC-3643 token (an agent's setAddressFrozen)
        (data("AddressIsFrozen(address)", ["address"], ["0x" + "44" * 20]), RevertKind.WAIT),
        (data("EnforcedPause()"), RevertKind.WAIT),
        (data("RouteIsCursed(uint256)", ["uint256"], [11155111]), RevertKind.WAIT),
        (
            data("RecipientBlocked(address)", ["address"], ["0x" + "33" * 20]),
            RevertKind.WAIT,
        ),  # an asset's own
        (data("Error(string)", ["string"], ["paused by issuer"]), RevertKind.WAIT),
        # no data (an asset's message-less require, a node dropping revert data), a panic, an
        # asset re-entering, a key epoch this chain does not know yet: wait, never given up
        (None, RevertKind.WAIT),
        ("0x", RevertKind.WAIT),
        (data("Panic(uint256)", ["uint256"], [0x11]), RevertKind.WAIT),
        (data("ReentrancyGuardReentrantCall()"), RevertKind.WAIT),
        (data("UnknownKeyEpoch(uint64)", ["uint64"], [9]), RevertKind.WAIT),
        # the signed refund itself is wrong
        (data("NotRefundable(uint256,uint64)", ["uint256", "uint64"], [7002, 3]), RevertKind.PERMANENT),
        (data("InvalidSignature()"), RevertKind.PERMANENT),
        (data("InvalidSignatureLength(uint256)", ["uint256"], [96]), RevertKind.PERMANENT),
        (data("IdentitySignature()"), RevertKind.PERMANENT),
        (data("KeyEpochExpired(uint64)", ["uint64"], [1]), RevertKind.PERMANENT),
        (data("AlreadyRefunded(uint256,uint64)", ["uint256", "uint64"], [7002, 3]), RevertKind.PERMANENT),
    ],
)
def test_a_refund_revert_waits_unless_the_signed_refund_itself_is_wrong(
    revert: object, kind: RevertKind
) -> None:
    assert classify_refund_revert(revert) is kind


def test_the_batch_rule_is_unchanged_for_the_reverts_a_refund_waits_on() -> None:
    # a batch meets neither RateLimited (queued instead) nor NotAllowed (failed instead): an
    # unknown error stays permanent for a batch
    assert (
        classify_revert(data("RecipientBlocked(address)", ["address"], ["0x" + "33" * 20]))
        is RevertKind.PERMANENT
    )


ALREADY = data("BatchAlreadyExecuted(uint256,uint64,uint64)", ["uint256", "uint64", "uint64"], [7001, 1, 5])
OTHER = data("BatchAlreadyExecuted(uint256,uint64,uint64)", ["uint256", "uint64", "uint64"], [7001, 6, 9])


@pytest.mark.parametrize(
    ("call_error", "executed"),
    [
        (None, False),  # the check ran through: a transfer is still to be consumed
        ({"code": 3, "message": "execution reverted", "data": ALREADY}, True),
        ({"code": 3, "message": "execution reverted", "data": ALREADY.upper().replace("0X", "0x")}, True),
        ({"code": -32000, "message": "reverted", "data": {"data": ALREADY}}, True),  # nested
        # the same error naming another batch (no contract of Qiao's says that; a lying node may)
        ({"code": 3, "message": "execution reverted", "data": OTHER}, None),
        ({"code": 3, "message": "execution reverted", "data": ALREADY[:10]}, None),  # the selector alone
        ({"code": 3, "message": "execution reverted", "data": ALREADY + "00"}, None),
        # reverted before the endpoint looked at the batch's consumption: nothing said
        ({"code": 3, "message": "execution reverted", "data": data("EnforcedPause()")}, None),
        (
            {
                "code": 3,
                "message": "execution reverted",
                "data": data("RouteIsCursed(uint256)", ["uint256"], [1]),
            },
            None,
        ),
        ({"code": 3, "message": "execution reverted"}, None),  # no data
        ({"code": -32000, "message": "out of gas"}, None),
        ({"message": "x", "data": "0x"}, None),
        ({"message": "x", "data": 7}, None),
        ("not an error object", None),
    ],
)
def test_a_checks_outcome_says_whether_the_batch_is_executed_where_it_ran(
    call_error: object, executed: bool | None
) -> None:
    assert executed_per_check(call_error, 7001, 1, 5) is executed


def test_the_revert_data_of_an_rpc_error_is_its_data_or_the_data_nested_in_it() -> None:
    assert revert_data({"data": "0xab"}) == "0xab"
    assert revert_data({"data": {"data": "0xab"}}) == "0xab"
    assert revert_data({"message": "x"}) is None
    assert revert_data(None) is None
