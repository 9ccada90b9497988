"""The MQTT transport against a real mosquitto: delivery, malformed payloads dropped, reconnect."""

from __future__ import annotations

import asyncio
import os
import socket

import aiomqtt
from structlog.testing import capture_logs

from relayer import metrics
from relayer.adapters.transport import Transport
from relayer.config import MqttConfig
from relayer.core.messages import PartialMessage, SentMessage, partial_topic, sent_topic
from relayer.core.types import BatchId, ChainId, Nonce, Route
from tests.support.heartbeat_keys import keys
from tests.support.tasks import cancel_until_done


def sample(member: int) -> PartialMessage:
    return PartialMessage(
        member=member,
        batch=BatchId(Route(ChainId(7001), ChainId(7002)), Nonce(1), Nonce(2)),
        key_epoch=1,
        root=b"\x01" * 32,
        message=b"\x02" * 32,
        partial=b"\x03" * 48,
    )


async def test_partials_reach_other_members_and_garbage_is_dropped(mosquitto_port: int, network: str) -> None:
    cfg = MqttConfig("127.0.0.1", mosquitto_port, network, None, None)
    sender, receiver = Transport(cfg, 1, keys=keys(1)), Transport(cfg, 2, keys=keys(2))
    got: list[PartialMessage] = []
    arrived = asyncio.Event()

    async def on_partial(msg: PartialMessage) -> None:
        got.append(msg)
        if msg.member == 1:
            arrived.set()

    async def ignore(msg: PartialMessage) -> None:
        return None

    rejected_before = metrics.MQTT_MESSAGES_REJECTED._value.get()
    async with asyncio.TaskGroup() as tg:
        t1 = tg.create_task(receiver.run(on_partial))
        t2 = tg.create_task(sender.run(ignore))
        await asyncio.wait_for(receiver.connected.wait(), 10)
        await asyncio.wait_for(sender.connected.wait(), 10)
        async with aiomqtt.Client("127.0.0.1", mosquitto_port) as raw:
            await raw.publish(partial_topic(network, 3), b"{not json", qos=1)
            await raw.publish(partial_topic(network, 3), b"x" * 5000, qos=1)
        sender.publish_partial(sample(1))
        await asyncio.wait_for(arrived.wait(), 10)
        # heartbeats are retained: the receiver sees the sender online
        for _ in range(50):
            if 1 in receiver.online_members:
                break
            await asyncio.sleep(0.1)
        await cancel_until_done(t1, t2)
    assert got == [sample(1)]
    assert 1 in receiver.online_members
    assert metrics.MQTT_MESSAGES_REJECTED._value.get() - rejected_before >= 2


def sockets_to(port: int) -> list[socket.socket]:
    """This process's TCP sockets connected to 127.0.0.1:`port` (copies of their descriptors)."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                continue
            s = socket.socket(fileno=os.dup(int(fd)))
        except OSError:
            continue
        try:
            if (
                s.type == socket.SOCK_STREAM
                and s.family == socket.AF_INET
                and s.getpeername() == ("127.0.0.1", port)
            ):
                out.append(s)
                continue
        except OSError:
            pass
        s.close()
    return out


async def test_the_broker_connection_sends_each_message_at_once(mosquitto_port: int, network: str) -> None:
    """TCP_NODELAY on the member's broker socket: with Nagle's algorithm a partial written while
    the previous message waits for its ACK is held up to the broker's 40 ms delayed ACK."""
    transport = Transport(MqttConfig("127.0.0.1", mosquitto_port, network, None, None), 1, keys=keys(1))

    async def ignore(msg: PartialMessage) -> None:
        return None

    task = asyncio.create_task(transport.run(ignore))
    try:
        await asyncio.wait_for(transport.connected.wait(), 10)
        found = sockets_to(mosquitto_port)
        try:
            assert found, f"no socket of this process is connected to the broker on {mosquitto_port}"
            assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in found)
        finally:
            for s in found:
                s.close()
    finally:
        await cancel_until_done(task)


async def test_sent_notices_reach_the_others_and_malformed_ones_are_logged_and_dropped(
    mosquitto_port: int, network: str
) -> None:
    """A relayer's "sent batch X in tx H" notice reaches the other members' `on_sent`; a malformed
    one (not JSON, a short hash, a member that is not its topic's) is logged with its reason and
    never handed over."""
    cfg = MqttConfig("127.0.0.1", mosquitto_port, network, None, None)
    sender, receiver = Transport(cfg, 1, keys=keys(1)), Transport(cfg, 2, keys=keys(2))
    notice = SentMessage(1, sample(1).batch, b"\x07" * 32)
    got: list[SentMessage] = []
    arrived = asyncio.Event()

    async def on_sent(msg: SentMessage) -> None:
        got.append(msg)
        arrived.set()

    async def ignore(msg: PartialMessage) -> None:
        return None

    good = notice.to_payload()
    bad = [b"{not json", good.replace(b"07" * 32, b"07" * 31), good.replace(b'"member":1', b'"member":2')]
    with capture_logs() as logs:
        async with asyncio.TaskGroup() as tg:
            t1 = tg.create_task(receiver.run(ignore, on_sent=on_sent))
            t2 = tg.create_task(sender.run(ignore))
            await asyncio.wait_for(receiver.connected.wait(), 10)
            await asyncio.wait_for(sender.connected.wait(), 10)
            async with aiomqtt.Client("127.0.0.1", mosquitto_port) as raw:
                for payload in bad:
                    await raw.publish(sent_topic(network, 1), payload, qos=1)
            sender.publish_sent(notice)
            await asyncio.wait_for(arrived.wait(), 10)
            await cancel_until_done(t1, t2)
    assert got == [notice]
    rejected = [e for e in logs if e["event"] == "mqtt_message_rejected"]
    assert [e["topic"] for e in rejected] == [sent_topic(network, 1)] * 3
    assert "payload is not JSON" in rejected[0]["reason"]
    assert "tx: expected 32 bytes" in rejected[1]["reason"]
    assert "member 2 in payload, 1 in topic" in rejected[2]["reason"]


async def test_transport_reconnects_after_the_broker_restarts(processes, tmp_path, network: str) -> None:  # type: ignore[no-untyped-def]
    from harness import devnet

    broker_dir = tmp_path / "b1"
    broker_dir.mkdir()
    port = devnet.start_mosquitto(processes, broker_dir)
    broker = processes.items[-1]
    cfg = MqttConfig("127.0.0.1", port, network, None, None)
    transport = Transport(cfg, 1, keys=keys(1))
    received: list[PartialMessage] = []

    async def on_partial(msg: PartialMessage) -> None:
        received.append(msg)

    task = asyncio.create_task(transport.run(on_partial))
    try:
        await asyncio.wait_for(transport.connected.wait(), 10)
        broker.stop()
        for _ in range(100):
            if not transport.connected.is_set():
                break
            await asyncio.sleep(0.1)
        assert not transport.connected.is_set()
        transport.publish_partial(sample(1))  # queued while disconnected
        conf = broker_dir / "mosquitto.conf"
        processes.start("mosquitto-again", ["mosquitto", "-c", str(conf)], broker_dir)
        await asyncio.wait_for(transport.connected.wait(), 30)
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.1)
        assert received == [sample(1)]  # its own partial, published after reconnecting
    finally:
        await cancel_until_done(task)


async def test_a_local_pause_reaches_the_others_heartbeat_view_and_a_resume_clears_it(
    mosquitto_port: int, network: str
) -> None:
    cfg = MqttConfig("127.0.0.1", mosquitto_port, network, None, None)
    sender, receiver = Transport(cfg, 1, keys=keys(1)), Transport(cfg, 2, keys=keys(2))
    route = Route(ChainId(7001), ChainId(7002))
    paused: set[Route] = set()
    sender.paused_routes = lambda: paused

    async def ignore(msg: PartialMessage) -> None:
        return None

    async def until(predicate: object, what: str) -> None:
        for _ in range(100):
            if predicate():  # type: ignore[operator]
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(receiver.run(ignore)), tg.create_task(sender.run(ignore))]
        await until(lambda: 1 in receiver.online_members, "member 1 online")
        assert 1 not in receiver.paused_members
        paused.add(route)  # what `relayer pause` does to the admin's set
        await until(lambda: receiver.paused_members.get(1) == (route,), "member 1 seen paused")
        assert 1 in receiver.online_members  # connected, but not counted (relayer.core.presence)
        paused.clear()
        await until(lambda: 1 not in receiver.paused_members, "member 1 seen resumed")
        await cancel_until_done(*tasks)
