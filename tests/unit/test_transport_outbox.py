"""The transport's outbox (pure: nothing is connected): each distinct message waits once, the
oldest goes when it is full, messages leave in the order they came."""

from __future__ import annotations

import pytest

from relayer import metrics
from relayer.adapters import transport
from relayer.adapters.transport import Transport
from relayer.config import MqttConfig
from relayer.core.messages import PartialMessage
from relayer.core.types import BatchId, ChainId, Nonce, Route

CFG = MqttConfig("127.0.0.1", 1, "unit", None, None)


def partial(first: int) -> PartialMessage:
    return PartialMessage(
        member=1,
        batch=BatchId(Route(ChainId(7001), ChainId(7002)), Nonce(first), Nonce(first)),
        key_epoch=1,
        root=b"\x01" * 32,
        message=b"\x02" * 32,
        partial=b"\x03" * 48,
    )


def test_a_partial_republished_while_the_broker_is_away_waits_in_the_outbox_once() -> None:
    t = Transport(CFG, 1)
    for _ in range(5):  # five re-publication rounds during an outage
        t.publish_partial(partial(1))
        t.publish_partial(partial(2))
    assert t.outbox_depth == 2


async def test_the_outbox_sends_in_order_and_drops_the_oldest_distinct_message_when_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transport, "OUTBOX_SIZE", 3)
    t = Transport(CFG, 1)
    dropped = metrics.MQTT_OUTBOX_DROPPED._value.get()
    for first in (1, 2, 3, 2, 4):  # the second 2 is a copy; 4 pushes out 1
        t.publish_partial(partial(first))
    assert t.outbox_depth == 3
    assert metrics.MQTT_OUTBOX_DROPPED._value.get() - dropped == 1
    sent = [
        PartialMessage.parse(topic, payload, "unit")
        for topic, payload, _ in [await t._next_message() for _ in range(3)]
    ]
    assert [m.batch.first_nonce for m in sent] == [2, 3, 4]
    assert t.outbox_depth == 0
