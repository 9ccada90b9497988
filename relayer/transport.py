"""The committee's transport over MQTT (aiomqtt, QoS 1), with reconnects and a bounded outbox.

The broker can delay or drop, never forge: every partial is verified by its receiver against the
sender's public share, and everything a member published is re-published from its store until the
batch executes, so a lost message only delays.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Collection

import aiomqtt
import structlog

from relayer import metrics
from relayer.config import MqttConfig
from relayer.messages import (
    BadMessage,
    HeartbeatMessage,
    PartialMessage,
    heartbeat_topic,
    partial_topic,
    topic_root,
)

log = structlog.get_logger(__name__)

OUTBOX_SIZE = 1000


class Transport:
    def __init__(
        self,
        cfg: MqttConfig,
        member: int,
        password: str | None = None,
        members: Collection[int] | None = None,
    ) -> None:
        self.cfg = cfg
        self.member = member
        self._password = password
        self._members = frozenset(members) if members is not None else None  # None: not checked
        self._outbox: asyncio.Queue[tuple[str, bytes, bool]] = asyncio.Queue(maxsize=OUTBOX_SIZE)
        self.connected = asyncio.Event()
        self.online_members: dict[int, float] = {}

    def publish_partial(self, msg: PartialMessage) -> None:
        """Queue a partial for publication; if the outbox is full the oldest is dropped (it will be
        re-published from the store)."""
        self._enqueue(partial_topic(self.cfg.network, self.member), msg.to_payload(), False)

    def _enqueue(self, topic: str, payload: bytes, retain: bool) -> None:
        if self._outbox.full():
            self._outbox.get_nowait()
            metrics.MQTT_OUTBOX_DROPPED.inc()
        self._outbox.put_nowait((topic, payload, retain))
        metrics.MQTT_OUTBOX_DEPTH.set(self._outbox.qsize())

    def _heartbeat(self, status: str) -> bytes:
        return json.dumps({"member": self.member, "status": status, "ts": int(time.time())}).encode()

    async def run(self, on_partial: Callable[[PartialMessage], Awaitable[None]]) -> None:
        """Connect, subscribe and pump messages until cancelled, reconnecting with jittered backoff."""
        delay = 0.5
        hb_topic = heartbeat_topic(self.cfg.network, self.member)
        while True:
            try:
                async with aiomqtt.Client(
                    hostname=self.cfg.host,
                    port=self.cfg.port,
                    identifier=f"qiao-{self.cfg.network}-member-{self.member}",
                    username=self.cfg.username,
                    password=self._password,
                    keepalive=10,
                    will=aiomqtt.Will(hb_topic, self._heartbeat("offline"), qos=1, retain=True),
                    tls_params=(
                        aiomqtt.TLSParameters(ca_certs=str(self.cfg.tls_ca_file))
                        if self.cfg.tls_ca_file is not None
                        else None
                    ),
                ) as client:
                    await client.subscribe(f"{topic_root(self.cfg.network)}/partial/+", qos=1)
                    await client.subscribe(f"{topic_root(self.cfg.network)}/heartbeat/+", qos=1)
                    self.connected.set()
                    metrics.MQTT_CONNECTED.set(1)
                    log.info("mqtt_connected", host=self.cfg.host, port=self.cfg.port)
                    delay = 0.5
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self._pump_outbox(client))
                        tg.create_task(self._heartbeats(client, hb_topic))
                        await self._receive(client, on_partial)
            except* aiomqtt.MqttError as group:
                self.connected.clear()
                metrics.MQTT_CONNECTED.set(0)
                metrics.MQTT_RECONNECTS.inc()
                log.warning("mqtt_disconnected", error=str(group.exceptions[0]), retry_in=delay)
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 10.0)

    async def _pump_outbox(self, client: aiomqtt.Client) -> None:
        while True:
            topic, payload, retain = await self._outbox.get()
            metrics.MQTT_OUTBOX_DEPTH.set(self._outbox.qsize())
            try:
                await client.publish(topic, payload, qos=1, retain=retain)
            except aiomqtt.MqttError:
                self._enqueue(topic, payload, retain)  # keep it for the next connection
                raise

    async def _heartbeats(self, client: aiomqtt.Client, topic: str) -> None:
        while True:
            await client.publish(topic, self._heartbeat("online"), qos=1, retain=True)
            await asyncio.sleep(5)

    async def _receive(
        self, client: aiomqtt.Client, on_partial: Callable[[PartialMessage], Awaitable[None]]
    ) -> None:
        heartbeat_prefix = f"{topic_root(self.cfg.network)}/heartbeat/"
        async for message in client.messages:
            topic = message.topic.value
            payload = message.payload if isinstance(message.payload, bytes) else b""
            if topic.startswith(heartbeat_prefix):
                self._on_heartbeat(topic, payload)
                continue
            try:
                parsed = PartialMessage.parse(topic, payload, self.cfg.network)
            except BadMessage as exc:
                metrics.MQTT_MESSAGES_REJECTED.inc()
                log.warning("mqtt_message_rejected", topic=topic, reason=str(exc))
                continue
            await on_partial(parsed)

    def _on_heartbeat(self, topic: str, payload: bytes) -> None:
        try:
            beat = HeartbeatMessage.parse(topic, payload, self.cfg.network)
            if self._members is not None and beat.member not in self._members:
                raise BadMessage(f"heartbeat of {beat.member}, not a member of the committee")
        except BadMessage as exc:
            metrics.MQTT_MESSAGES_REJECTED.inc()
            log.warning("mqtt_message_rejected", topic=topic, reason=str(exc))
            return
        if beat.status == "online":
            self.online_members[beat.member] = time.time()
        else:
            self.online_members.pop(beat.member, None)
        metrics.MEMBERS_ONLINE.set(len(self.online_members))
