"""Heartbeats against a real mosquitto: forged and replayed heartbeats are refused (security
review F6). Anyone who can publish on a broker (its operator, a client with broker credentials,
another member's account through a lax ACL) must not be able to keep a dead member "online" or
claim its routes paused."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import aiomqtt

from relayer import metrics
from relayer.adapters.transport import Transport
from relayer.config import MqttConfig
from relayer.core.messages import HeartbeatMessage, PartialMessage, heartbeat_topic
from relayer.core.types import ChainId, Route
from tests.support.heartbeat_keys import keys
from tests.support.tasks import cancel_until_done


async def ignore(msg: PartialMessage) -> None:
    return None


async def until(predicate: Callable[[], bool], what: str) -> None:
    for _ in range(150):  # 15 s
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def transport(cfg: MqttConfig, member: int) -> Transport:
    return Transport(cfg, member, members=[1, 2, 3, 4], keys=keys(member))


def refused(reason: str) -> float:
    return float(metrics.HEARTBEATS_REFUSED.labels(reason)._value.get())


async def test_a_heartbeat_forged_by_a_client_on_the_broker_is_not_counted(
    mosquitto_port: int, network: str
) -> None:
    cfg = MqttConfig("127.0.0.1", mosquitto_port, network, None, None)
    receiver, sender = transport(cfg, 2), transport(cfg, 1)
    malformed, signature = refused("malformed"), refused("signature")
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(receiver.run(ignore))]
        await asyncio.wait_for(receiver.connected.wait(), 10)
        # member 3 is dead; a client on the broker says it is online, with its routes paused
        forged = {"member": 3, "status": "online", "ts": int(time.time()), "paused": [[7001, 7002]]}
        async with aiomqtt.Client("127.0.0.1", mosquitto_port) as raw:
            await raw.publish(heartbeat_topic(network, 3), json.dumps(forged).encode(), qos=1, retain=True)
            await until(lambda: refused("malformed") > malformed, "the unsigned forgery refused")
            # member 4's account (a broker whose ACL lets it write heartbeat/3) signs it with its
            # own share, in the signed format
            now = int(time.time() * 1000)
            beat = HeartbeatMessage(4, "online", now // 1000, now, (Route(ChainId(7001), ChainId(7002)),))
            by_four = keys(4).sign(beat, network)
            assert by_four is not None
            as_three = json.loads(by_four.to_payload()) | {"member": 3}
            await raw.publish(heartbeat_topic(network, 3), json.dumps(as_three).encode(), qos=1, retain=True)
            await until(lambda: refused("signature") > signature, "the forgery with member 4's share refused")
        # a real member's heartbeat is still counted
        tasks.append(tg.create_task(sender.run(ignore)))
        await until(lambda: 1 in receiver.online_members, "member 1 online")
        await cancel_until_done(*tasks)
    assert 3 not in receiver.online_members
    assert 3 not in receiver.paused_members


async def test_a_replayed_heartbeat_of_a_member_that_left_is_not_counted(
    mosquitto_port: int, network: str
) -> None:
    cfg = MqttConfig("127.0.0.1", mosquitto_port, network, None, None)
    receiver, sender = transport(cfg, 2), transport(cfg, 1)
    captured: list[bytes] = []
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(receiver.run(ignore)), tg.create_task(sender.run(ignore))]
        async with aiomqtt.Client("127.0.0.1", mosquitto_port) as raw:
            await raw.subscribe(heartbeat_topic(network, 1), qos=1)
            async for message in raw.messages:  # member 1's real heartbeats, recorded
                assert isinstance(message.payload, bytes)
                if json.loads(message.payload)["status"] == "online":
                    captured.append(message.payload)
                    if len(captured) == 2:  # the receiver took a newer one than the first
                        break
        await until(lambda: 1 in receiver.online_members, "member 1 online")
        await cancel_until_done(tasks.pop())  # member 1 leaves (cleanly: no last will)
        await asyncio.sleep(0.5)
        last_seen = receiver.online_members[1]
        replays = refused("replay")
        async with aiomqtt.Client("127.0.0.1", mosquitto_port) as raw:  # the broker replays them
            for payload in captured:
                await raw.publish(heartbeat_topic(network, 1), payload, qos=1, retain=True)
        await until(lambda: refused("replay") > replays, "the older heartbeat refused as a replay")
        await asyncio.sleep(0.5)  # the newer one: a copy, which changes nothing
        await cancel_until_done(*tasks)
    # a replay would make member 1 fresh again: online for another 20 s (relayer.core.presence)
    assert receiver.online_members.get(1) == last_seen
