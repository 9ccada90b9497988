"""MQTT payloads are parsed strictly: anything malformed is rejected with a reason."""

from __future__ import annotations

import json

import pytest

from relayer.messages import MAX_PAYLOAD_BYTES, BadMessage, PartialMessage, partial_topic
from relayer.types import BatchId, ChainId, Nonce, Route

NET = "testnet"


def sample() -> PartialMessage:
    return PartialMessage(
        member=2,
        batch=BatchId(Route(ChainId(7001), ChainId(7002)), Nonce(1), Nonce(4)),
        key_epoch=1,
        root=b"\x01" * 32,
        message=b"\x02" * 32,
        partial=b"\x03" * 48,
    )


def test_a_partial_round_trips_through_its_payload() -> None:
    msg = sample()
    assert PartialMessage.parse(partial_topic(NET, 2), msg.to_payload(), NET) == msg


def mutate(**changes: object) -> bytes:
    data = json.loads(sample().to_payload())
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("topic_member", "payload", "reason"),
    [
        (2, b"not json", "not JSON"),
        (2, b"[1, 2]", "not a JSON object"),
        (2, b"\xff\xfe", "not JSON"),
        (2, b"x" * (MAX_PAYLOAD_BYTES + 1), "exceeds"),
        (3, sample().to_payload(), "member 2 in payload, 3 in topic"),
        (2, mutate(v=2), "unsupported version"),
        (2, mutate(partial="0x" + "03" * 47), "partial: expected 48 bytes"),
        (2, mutate(partial="0xzz"), "partial: not hex"),
        (2, mutate(root=None), "root: expected 0x-prefixed hex"),
        (2, mutate(first=5, last=4), "first <= last"),
        (2, mutate(first=0), "first: expected an integer"),
        (2, mutate(member=True), "member: expected an integer"),
        (2, mutate(extra=1), "unknown fields"),
        (2, mutate(src=7002), "source and destination are the same"),
    ],
)
def test_malformed_partials_are_rejected_with_a_reason(
    topic_member: int, payload: bytes, reason: str
) -> None:
    with pytest.raises(BadMessage, match=reason):
        PartialMessage.parse(partial_topic(NET, topic_member), payload, NET)


def test_a_partial_on_another_network_is_rejected() -> None:
    with pytest.raises(BadMessage, match="not under"):
        PartialMessage.parse(partial_topic("other", 2), sample().to_payload(), NET)
