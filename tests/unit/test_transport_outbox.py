"""The transport's outbox (pure: nothing is connected): each distinct message waits once, the
oldest goes when it is full, messages leave in the order they came."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from committee.bls import get_backend
from committee.threshold import deal
from relayer import metrics
from relayer.adapters import transport
from relayer.adapters.transport import Transport
from relayer.config import BrokerConfig, MqttConfig
from relayer.core.heartbeats import HeartbeatKeys
from relayer.core.keyring import Keyring
from relayer.core.messages import HeartbeatMessage, PartialMessage, heartbeat_topic, partial_topic
from relayer.core.types import BatchId, ChainId, Nonce, Route

CFG = MqttConfig("127.0.0.1", 1, "unit", None, None)
SHARES = deal(3, 2, rng=random.Random(7))
SEQ = itertools.count(1)


def keys(member: int) -> HeartbeatKeys:
    """Member `member`'s keys in a committee of 3 (t = 2)."""
    return HeartbeatKeys(Keyring.single(SHARES[0].public, SHARES[member - 1]), get_backend("arkworks"))


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
        for topic, payload, _ in [await t.links[0].next_message() for _ in range(3)]
    ]
    assert [m.batch.first_nonce for m in sent] == [2, 3, 4]
    assert t.outbox_depth == 0


THREE = MqttConfig(
    "127.0.0.1",
    1,
    "unit",
    None,
    None,
    brokers=(
        BrokerConfig("a", "127.0.0.1", 1),
        BrokerConfig("b", "127.0.0.1", 2),
        BrokerConfig("c", "127.0.0.1", 3),
    ),
    min_brokers=2,
)


async def test_every_message_waits_in_each_brokers_own_outbox() -> None:
    t = Transport(THREE, 1, {"a": "pa", "c": "pc"})
    assert [(link.name, link.password) for link in t.links] == [("a", "pa"), ("b", None), ("c", "pc")]
    t.publish_partial(partial(1))
    t.publish_partial(partial(2))
    await t.links[0].next_message()  # broker a took one; b and c are away
    assert [len(link.outbox) for link in t.links] == [1, 2, 2]
    assert t.outbox_depth == 2  # the deepest


def test_a_single_password_is_every_brokers() -> None:
    assert [link.password for link in Transport(THREE, 1, "secret").links] == ["secret"] * 3


def beat(member: int, status: str = "online", brokers: tuple[str, ...] = ()) -> bytes:
    """A heartbeat of `member`, signed with its share, newer than every one made before."""
    signed = keys(member).sign(
        HeartbeatMessage(member, status, int(time.time()), next(SEQ), (), brokers), "unit"
    )
    assert signed is not None
    return signed.to_payload()


def test_a_member_is_online_while_any_broker_carries_its_heartbeat() -> None:
    t = Transport(THREE, 1, keys=keys(1))
    topic = heartbeat_topic("unit", 2)
    t._on_heartbeat("a", topic, beat(2, brokers=("a", "b")))
    t._on_heartbeat("b", topic, beat(2, brokers=("a", "b")))
    assert 2 in t.online_members
    assert t.member_brokers.get(2) == ("a", "b")
    t._on_heartbeat("b", topic, beat(2, "offline"))  # its last-will on broker b: it lost b only
    assert 2 in t.online_members
    t._on_heartbeat("a", topic, beat(2, brokers=("a",)))
    assert t.member_brokers.get(2) == ("a",)  # the latest beat's view
    t._on_heartbeat("a", topic, beat(2, "offline"))  # and now a as well
    assert 2 not in t.online_members
    assert 2 not in t.member_brokers


def test_what_a_lost_broker_said_about_the_members_is_forgotten() -> None:
    t = Transport(THREE, 1, keys=keys(1))
    t._on_heartbeat("b", heartbeat_topic("unit", 2), beat(2))
    t._on_heartbeat("c", heartbeat_topic("unit", 3), beat(3))
    for link in t.links:
        t._link_state(link, True)
    assert t.connected.is_set()
    assert set(t.online_members) == {2, 3}
    t._link_state(t.links[1], False)  # this node lost broker b: member 2 was seen through b only
    assert set(t.online_members) == {3}
    assert t.connected.is_set()
    assert t.brokers_connected == {"a": True, "b": False, "c": True}
    assert metrics.BROKER_CONNECTED.labels("b")._value.get() == 0
    assert metrics.BROKER_CONNECTED.labels("a")._value.get() == 1
    assert metrics.BROKER_MIN_CONNECTED._value.get() == 2
    t._link_state(t.links[0], False)
    t._link_state(t.links[2], False)
    assert not t.connected.is_set()
    assert metrics.MQTT_CONNECTED._value.get() == 0


def test_a_heartbeat_names_the_brokers_reached_only_with_several() -> None:
    many = Transport(THREE, 1, keys=keys(1))
    many._link_state(many.links[0], True)
    many._link_state(many.links[2], True)
    assert HeartbeatMessage.parse(
        heartbeat_topic("unit", 1), many._heartbeat("online") or b"", "unit"
    ).brokers == (
        "a",
        "c",
    )
    one = Transport(CFG, 1, keys=keys(1))
    one._link_state(one.links[0], True)
    assert "brokers" not in (one._heartbeat("online") or b"").decode()  # reads as before to older builds


class FakeClient:
    """What `_receive` reads of an aiomqtt client: `messages`, an async iterator."""

    def __init__(self, messages: list[tuple[str, bytes]]) -> None:
        self._messages = messages

    @property
    def messages(self) -> Any:
        async def stream() -> Any:
            for topic, payload in self._messages:
                yield SimpleNamespace(topic=SimpleNamespace(value=topic), payload=payload)

        return stream()


async def test_a_flooding_broker_takes_turns_with_the_others() -> None:
    """Messages are handled one at a time, the brokers taking turns: a broker pouring out forged
    partials (each one a pairing check for the receiver) does not hold back another's."""
    t = Transport(THREE, 1, dedup_window=60.0)
    flood = [
        (partial_topic("unit", 3), replace(partial(1000 + i), member=3).to_payload()) for i in range(500)
    ]
    honest = [(partial_topic("unit", 2), replace(partial(i), member=2).to_payload()) for i in range(1, 6)]
    handled: list[int] = []

    async def on_partial(msg: PartialMessage) -> None:
        handled.append(msg.batch.first_nonce)
        await asyncio.sleep(0)  # the work of judging it

    async with asyncio.TaskGroup() as tg:
        tg.create_task(t._receive(t.links[0], FakeClient(flood), on_partial))  # type: ignore[arg-type]
        tg.create_task(t._receive(t.links[1], FakeClient(honest), on_partial))  # type: ignore[arg-type]
    assert len(handled) == 505
    last_honest = max(handled.index(n) for n in range(1, 6))
    assert last_honest < 12, handled[:20]  # interleaved, not after the 500


async def test_copies_through_each_broker_are_handed_over_once() -> None:
    t = Transport(THREE, 1, dedup_window=60.0)
    one = [(partial_topic("unit", 2), replace(partial(i), member=2).to_payload()) for i in range(1, 4)]
    handled: list[int] = []
    dropped = {n: metrics.BROKER_COPIES_DROPPED.labels(n)._value.get() for n in ("a", "b", "c")}

    async def on_partial(msg: PartialMessage) -> None:
        handled.append(msg.batch.first_nonce)

    async with asyncio.TaskGroup() as tg:
        for link, order in zip(t.links, (one, one[::-1], one), strict=True):
            tg.create_task(t._receive(link, FakeClient(order), on_partial))  # type: ignore[arg-type]
    assert sorted(handled) == [1, 2, 3]
    assert sum(metrics.BROKER_COPIES_DROPPED.labels(n)._value.get() - dropped[n] for n in dropped) == 6


def test_a_forged_heartbeat_is_refused_and_counted_and_a_redelivery_does_not_refresh() -> None:
    t = Transport(THREE, 1, keys=keys(1))
    topic = heartbeat_topic("unit", 2)
    before = metrics.HEARTBEATS_REFUSED.labels("signature")._value.get()
    forged = HeartbeatMessage(2, "online", int(time.time()), next(SEQ), sig=b"\x01" * 48).to_payload()
    t._on_heartbeat("a", topic, forged)
    assert 2 not in t.online_members
    assert metrics.HEARTBEATS_REFUSED.labels("signature")._value.get() == before + 1
    real = beat(2)
    t._on_heartbeat("a", topic, real)
    first = t.online_members[2]
    t._on_heartbeat("a", topic, real)  # the same heartbeat again, later: not fresher
    assert t.online_members[2] == first
    t._on_heartbeat("b", topic, beat(2, "offline"))  # a last will: offline through b only
    t._on_heartbeat("a", topic, beat(2, "offline"))
    assert 2 not in t.online_members
    t._on_heartbeat("a", topic, real)  # the last online heartbeat again: stays offline
    assert 2 not in t.online_members


def test_a_transport_without_keys_makes_and_believes_no_heartbeats() -> None:
    t = Transport(THREE, 1)
    assert t._heartbeat("online") is None
    assert t._heartbeat("offline") is None
    t._on_heartbeat("a", heartbeat_topic("unit", 2), beat(2))
    assert 2 not in t.online_members


def test_a_relay_only_node_makes_no_heartbeat_but_believes_the_members() -> None:
    t = Transport(
        THREE, 1, keys=HeartbeatKeys(Keyring.single(SHARES[0].public, None), get_backend("arkworks"))
    )
    assert t._heartbeat("online") is None
    t._on_heartbeat("a", heartbeat_topic("unit", 2), beat(2))
    assert 2 in t.online_members


def test_successive_heartbeats_rise_and_those_made_together_are_one() -> None:
    t = Transport(THREE, 1, keys=keys(1))
    first = t._heartbeat("online")
    assert t._heartbeat("online") == first  # another broker's loop, at the same moment
    will = t._heartbeat("offline")
    topic = heartbeat_topic("unit", 1)
    seqs = [HeartbeatMessage.parse(topic, p or b"", "unit").seq for p in (first, will)]
    assert seqs[0] < seqs[1]
