"""The committee's transport over MQTT (aiomqtt, QoS 1), with reconnects and a bounded outbox.

The broker can delay or drop, never forge: every partial is verified by its receiver against the
sender's public share, and everything a member published is re-published from its store until the
batch executes, so a lost message only delays.

The outbox holds each distinct message once: while the broker is away, the periodic
re-publication of the same partials does not fill it with copies (which would push out other
messages and flood the committee with duplicates on reconnecting).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import aiomqtt
import structlog

from relayer import metrics
from relayer.config import MqttConfig
from relayer.core.messages import (
    MAX_PAUSED_ROUTES,
    ActionPartialMessage,
    BadMessage,
    HeartbeatMessage,
    PartialMessage,
    ProposalMessage,
    RefundPartialMessage,
    action_topic,
    heartbeat_topic,
    partial_topic,
    proposal_topic,
    refund_topic,
    topic_root,
)
from relayer.core.types import Route

log = structlog.get_logger(__name__)

OUTBOX_SIZE = 1000
# Received messages waiting to be handled; beyond this the client discards them (a flood from the
# broker cannot grow memory without bound; a dropped partial comes again with the next
# re-publication round).
INBOX_SIZE = 10_000
HEARTBEAT_SECONDS = 5.0
HEARTBEAT_CHECK_SECONDS = 0.5  # how soon a local pause or resume reaches the others' heartbeat view


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
        self._outbox: OrderedDict[tuple[str, bytes], bool] = OrderedDict()  # (topic, payload) -> retain
        self._queued = asyncio.Event()  # set while the outbox is not empty
        self.connected = asyncio.Event()
        self.online_members: dict[int, float] = {}  # member -> time.monotonic() of its last beat
        self.paused_members: dict[int, tuple[Route, ...]] = {}  # member -> routes its beat says paused
        # the routes this node paused locally, put in its heartbeats (the daemon points it at the
        # admin's pause set); a change is announced within HEARTBEAT_CHECK_SECONDS
        self.paused_routes: Callable[[], Collection[Route]] = tuple

    def publish_partial(self, msg: PartialMessage) -> None:
        """Queue a partial for publication; if the outbox is full the oldest is dropped (it will be
        re-published from the store)."""
        self._enqueue(partial_topic(self.cfg.network, self.member), msg.to_payload(), False)

    def publish_refund(self, msg: RefundPartialMessage) -> None:
        """Queue a refund partial (re-published from the store until the refund is final)."""
        self._enqueue(refund_topic(self.cfg.network, self.member), msg.to_payload(), False)

    def publish_action(self, msg: ActionPartialMessage) -> None:
        """Queue an action partial (re-published from the store while the action is open)."""
        self._enqueue(action_topic(self.cfg.network, self.member), msg.to_payload(), False)

    def publish_proposal(self, msg: ProposalMessage) -> None:
        """Queue a proposal of this member's operator (re-published until it is settled or expires)."""
        self._enqueue(proposal_topic(self.cfg.network, self.member), msg.to_payload(), False)

    @property
    def outbox_depth(self) -> int:
        return len(self._outbox)

    def _enqueue(self, topic: str, payload: bytes, retain: bool, *, first: bool = False) -> None:
        """Queue a message unless the same one is already waiting; `first` puts it at the head
        (a message whose publication failed goes out first on the next connection)."""
        key = (topic, payload)
        if key not in self._outbox:
            if len(self._outbox) >= OUTBOX_SIZE:
                self._outbox.popitem(last=False)
                metrics.MQTT_OUTBOX_DROPPED.inc()
            self._outbox[key] = retain
        if first:
            self._outbox.move_to_end(key, last=False)
        self._queued.set()
        metrics.MQTT_OUTBOX_DEPTH.set(len(self._outbox))

    async def _next_message(self) -> tuple[str, bytes, bool]:
        while not self._outbox:
            self._queued.clear()
            await self._queued.wait()
        (topic, payload), retain = self._outbox.popitem(last=False)
        metrics.MQTT_OUTBOX_DEPTH.set(len(self._outbox))
        return topic, payload, retain

    def _heartbeat(self, status: str, paused: Collection[Route] = ()) -> bytes:
        routes = tuple(sorted(paused, key=lambda r: (r.src, r.dst)))[:MAX_PAUSED_ROUTES]
        return HeartbeatMessage(self.member, status, int(time.time()), routes).to_payload()

    async def run(
        self,
        on_partial: Callable[[PartialMessage], Awaitable[None]],
        on_refund: Callable[[RefundPartialMessage], Awaitable[None]] | None = None,
        on_action: Callable[[ActionPartialMessage], Awaitable[None]] | None = None,
        on_proposal: Callable[[ProposalMessage], Awaitable[None]] | None = None,
    ) -> None:
        """Connect, subscribe and pump messages until cancelled, reconnecting with jittered backoff.
        Refund partials go to `on_refund`, action partials to `on_action`, proposals to
        `on_proposal` (each not subscribed without its handler).

        The backoff (0.5 s doubling to 10 s, times 0.5..1.5) starts again after every connection
        that succeeded: a session never returns, so a retry library's "until the call succeeds"
        would need this same counter kept beside it."""
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
                    max_queued_incoming_messages=INBOX_SIZE,
                    will=aiomqtt.Will(hb_topic, self._heartbeat("offline"), qos=1, retain=True),
                    tls_params=(
                        aiomqtt.TLSParameters(ca_certs=str(self.cfg.tls_ca_file))
                        if self.cfg.tls_ca_file is not None
                        else None
                    ),
                ) as client:
                    await client.subscribe(f"{topic_root(self.cfg.network)}/partial/+", qos=1)
                    await client.subscribe(f"{topic_root(self.cfg.network)}/heartbeat/+", qos=1)
                    if on_refund is not None:
                        await client.subscribe(f"{topic_root(self.cfg.network)}/refund/+", qos=1)
                    if on_action is not None:
                        await client.subscribe(f"{topic_root(self.cfg.network)}/action/+", qos=1)
                    if on_proposal is not None:
                        await client.subscribe(f"{topic_root(self.cfg.network)}/proposal/+", qos=1)
                    self.connected.set()
                    metrics.MQTT_CONNECTED.set(1)
                    log.info("mqtt_connected", host=self.cfg.host, port=self.cfg.port)
                    delay = 0.5
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self._pump_outbox(client))
                        tg.create_task(self._heartbeats(client, hb_topic))
                        await self._receive(client, on_partial, on_refund, on_action, on_proposal)
            except* aiomqtt.MqttError as group:
                self.connected.clear()
                metrics.MQTT_CONNECTED.set(0)
                metrics.MQTT_RECONNECTS.inc()
                log.warning("mqtt_disconnected", error=str(group.exceptions[0]), retry_in=delay)
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 10.0)

    async def _pump_outbox(self, client: aiomqtt.Client) -> None:
        while True:
            topic, payload, retain = await self._next_message()
            try:
                await client.publish(topic, payload, qos=1, retain=retain)
            except (aiomqtt.MqttError, asyncio.CancelledError):
                # not acknowledged (the connection broke, or went while waiting for the ack):
                # keep it for the next connection
                self._enqueue(topic, payload, retain, first=True)
                raise

    async def _heartbeats(self, client: aiomqtt.Client, topic: str) -> None:
        """Every HEARTBEAT_SECONDS, and at once when this node's paused routes change."""
        while True:
            paused = frozenset(self.paused_routes())
            await client.publish(topic, self._heartbeat("online", paused), qos=1, retain=True)
            for _ in range(round(HEARTBEAT_SECONDS / HEARTBEAT_CHECK_SECONDS)):
                await asyncio.sleep(HEARTBEAT_CHECK_SECONDS)
                if frozenset(self.paused_routes()) != paused:
                    break

    async def _receive(
        self,
        client: aiomqtt.Client,
        on_partial: Callable[[PartialMessage], Awaitable[None]],
        on_refund: Callable[[RefundPartialMessage], Awaitable[None]] | None = None,
        on_action: Callable[[ActionPartialMessage], Awaitable[None]] | None = None,
        on_proposal: Callable[[ProposalMessage], Awaitable[None]] | None = None,
    ) -> None:
        root = topic_root(self.cfg.network)
        heartbeat_prefix = f"{root}/heartbeat/"
        # each kind a member signs (and the proposals): its topic, how it is parsed, who takes it;
        # anything else under the root is a batch partial
        kinds: list[tuple[str, Callable[[str, bytes, str], Any], Callable[[Any], Awaitable[None]] | None]] = [
            (f"{root}/refund/", RefundPartialMessage.parse, on_refund),
            (f"{root}/action/", ActionPartialMessage.parse, on_action),
            (f"{root}/proposal/", ProposalMessage.parse, on_proposal),
        ]
        async for message in client.messages:
            topic = message.topic.value
            payload = message.payload if isinstance(message.payload, bytes) else b""
            if topic.startswith(heartbeat_prefix):
                self._on_heartbeat(topic, payload)
                continue
            parse: Callable[[str, bytes, str], Any] = PartialMessage.parse
            handle: Callable[[Any], Awaitable[None]] | None = on_partial
            for prefix, kind_parse, kind_handle in kinds:
                if topic.startswith(prefix):
                    parse, handle = kind_parse, kind_handle
                    break
            try:
                parsed = parse(topic, payload, self.cfg.network)
            except BadMessage as exc:
                metrics.MQTT_MESSAGES_REJECTED.inc()
                log.warning("mqtt_message_rejected", topic=topic, reason=str(exc))
                continue
            if handle is not None:
                await handle(parsed)

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
            self.online_members[beat.member] = time.monotonic()  # arrival, on our own clock
            if beat.paused:
                self.paused_members[beat.member] = beat.paused
            else:
                self.paused_members.pop(beat.member, None)
        else:
            self.online_members.pop(beat.member, None)
            self.paused_members.pop(beat.member, None)
        # qiao_committee_members_online/_paused: set by the health probe (freshness, this node's routes)
