"""Refunds: the refund partial's strict parsing, the decision to sign and how a partial is judged."""

from __future__ import annotations

import json

import pytest
from eth_utils.address import to_checksum_address as cs

from committee.threshold import deal, partial_sign
from relayer.core.encoding import refund_message
from relayer.core.messages import BadMessage, RefundPartialMessage, partial_topic, refund_topic
from relayer.core.refunds import (
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_NONE,
    STATUS_QUEUED,
    RefundDecision,
    RefundPartialOutcome,
    classify_refund_partial,
    decide_refund,
)
from relayer.core.types import ChainId, Nonce, Route, Transfer

NET = "testnet"
ROUTE = Route(ChainId(7001), ChainId(7002))
VAULT = cs("0x" + "55" * 20)


def transfer(nonce: int = 3) -> Transfer:
    return Transfer(
        ChainId(7001),
        ChainId(7002),
        Nonce(nonce),
        cs("0x" + "11" * 20),
        cs("0x" + "22" * 20),
        cs("0x" + "33" * 20),
        cs("0x" + "44" * 20),
        100,
    )


def sample() -> RefundPartialMessage:
    return RefundPartialMessage(2, ROUTE, 3, 1, b"\x02" * 32, b"\x03" * 48)


def mutate(**changes: object) -> bytes:
    data = json.loads(sample().to_payload())
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    return json.dumps(data).encode()


def test_a_refund_partial_round_trips_through_its_payload() -> None:
    msg = sample()
    assert refund_topic(NET, 2) == "qiao/v1/testnet/refund/2"
    assert RefundPartialMessage.parse(refund_topic(NET, 2), msg.to_payload(), NET) == msg


@pytest.mark.parametrize(
    ("topic", "payload", "says"),
    [
        (refund_topic(NET, 3), sample().to_payload(), "member 2 in payload, 3 in topic"),
        (partial_topic(NET, 2), sample().to_payload(), "is not under"),
        (refund_topic("other", 2), sample().to_payload(), "is not under"),
        (refund_topic(NET, 2), mutate(type="partial"), "unsupported version/type"),
        (refund_topic(NET, 2), mutate(v=2), "unsupported version/type"),
        (refund_topic(NET, 2), mutate(extra=1), "unknown fields ['extra']"),
        (refund_topic(NET, 2), mutate(nonce=0), "nonce: expected an integer"),
        (refund_topic(NET, 2), mutate(nonce=True), "nonce: expected an integer"),
        (refund_topic(NET, 2), mutate(nonce=None), "nonce: expected an integer"),
        (refund_topic(NET, 2), mutate(epoch=0), "epoch: expected an integer"),
        (refund_topic(NET, 2), mutate(src=7002), "source and destination are the same"),
        (refund_topic(NET, 2), mutate(message="0x" + "00" * 31), "message: expected 32 bytes"),
        (refund_topic(NET, 2), mutate(partial="0x" + "zz" * 48), "partial: not hex"),
        (refund_topic(NET, 2), mutate(partial="03" * 48), "partial: expected 0x-prefixed hex"),
        (refund_topic(NET, 2), b"{", "payload is not JSON"),
        (refund_topic(NET, 2), b"[]", "not a JSON object"),
        (refund_topic(NET, 2), b"x" * 5000, "exceeds"),
    ],
)
def test_a_malformed_refund_partial_is_rejected_with_a_reason(topic: str, payload: bytes, says: str) -> None:
    with pytest.raises(BadMessage) as info:
        RefundPartialMessage.parse(topic, payload, NET)
    assert says in str(info.value)


@pytest.mark.parametrize(
    ("own", "status", "decision"),
    [
        (True, STATUS_FAILED, RefundDecision.SIGN),
        (False, STATUS_FAILED, RefundDecision.WAIT),  # its own source watcher has not stored it
        (True, STATUS_NONE, RefundDecision.WAIT),  # not final at the destination yet
        (True, None, RefundDecision.WAIT),
        (True, STATUS_QUEUED, RefundDecision.WAIT),  # may still be delivered
        (True, STATUS_DELIVERED, RefundDecision.REFUSE),
        (False, STATUS_DELIVERED, RefundDecision.REFUSE),
    ],
)
def test_a_refund_is_signed_only_for_an_own_transfer_failed_at_the_final_head(
    own: bool, status: int | None, decision: RefundDecision
) -> None:
    verdict = decide_refund(transfer() if own else None, status)
    assert verdict.decision is decision
    assert verdict.why


SHARES = deal(4, 3)
PUBLIC = SHARES[0].public


def signed_by(member: int, message: bytes, *, nonce: int = 3) -> RefundPartialMessage:
    share = SHARES[member - 1]
    return RefundPartialMessage(member, ROUTE, nonce, PUBLIC.key_epoch, message, partial_sign(share, message))


def judge(msg: RefundPartialMessage, **kw: object) -> RefundPartialOutcome:
    args: dict[str, object] = {
        "public": PUBLIC,
        "routes": [ROUTE],
        "own_member": 1,
        "holds_transfer": True,
        "expected_message": refund_message(transfer(), VAULT, 1),
        "late": False,
        "stored": None,
    }
    args.update(kw)
    return classify_refund_partial(msg, **args)  # type: ignore[arg-type]


def test_a_valid_partial_on_the_message_this_node_computed_is_kept() -> None:
    assert judge(signed_by(2, refund_message(transfer(), VAULT, 1))) is RefundPartialOutcome.KEPT


def test_a_valid_partial_before_this_node_approved_is_early_and_checked_later() -> None:
    msg = signed_by(2, refund_message(transfer(), VAULT, 1))
    assert judge(msg, expected_message=None) is RefundPartialOutcome.EARLY
    assert RefundPartialOutcome.EARLY.stored


def test_a_valid_signature_on_another_transfer_is_invalid() -> None:
    other = refund_message(transfer(4), VAULT, 1)  # a member signing a refund of a different transfer
    assert judge(signed_by(2, other)) is RefundPartialOutcome.INVALID


def test_a_partial_that_is_not_the_members_signature_is_invalid() -> None:
    message = refund_message(transfer(), VAULT, 1)
    forged = RefundPartialMessage(3, ROUTE, 3, 1, message, signed_by(2, message).partial)
    assert judge(forged) is RefundPartialOutcome.INVALID


@pytest.mark.parametrize(
    ("change", "outcome"),
    [
        ({"holds_transfer": False}, RefundPartialOutcome.UNKNOWN_TRANSFER),
        ({"late": True}, RefundPartialOutcome.LATE),
        ({"routes": [Route(ChainId(7002), ChainId(7001))]}, RefundPartialOutcome.UNKNOWN_ROUTE),
        ({"own_member": 2}, RefundPartialOutcome.OWN),
    ],
)
def test_cheap_checks_decide_before_the_pairing(
    change: dict[str, object], outcome: RefundPartialOutcome
) -> None:
    assert judge(signed_by(2, refund_message(transfer(), VAULT, 1)), **change) is outcome
    assert not outcome.stored


def test_a_stranger_and_another_epoch_are_refused() -> None:
    message = refund_message(transfer(), VAULT, 1)
    good = signed_by(2, message)
    stranger = RefundPartialMessage(9, ROUTE, 3, 1, message, good.partial)
    assert judge(stranger) is RefundPartialOutcome.NOT_MEMBER
    other_epoch = RefundPartialMessage(2, ROUTE, 3, 2, message, good.partial)
    assert judge(other_epoch) is RefundPartialOutcome.WRONG_EPOCH


def test_the_same_partial_again_is_a_duplicate() -> None:
    msg = signed_by(2, refund_message(transfer(), VAULT, 1))
    assert judge(msg, stored=(msg.message, msg.partial)) is RefundPartialOutcome.DUPLICATE
