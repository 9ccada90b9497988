"""The committee's transport over MQTT (aiomqtt, QoS 1): one or several brokers, each with its own
connection, reconnects and bounded outbox.

A broker can delay, drop, duplicate or reorder, never forge what counts: every partial is verified
by its receiver against the sender's public share, and everything a member published is
re-published from its store until the batch executes, so a lost message only delays
(docs/PROTOCOL.md, "Brokers").

With several brokers (`[[mqtt.brokers]]`), every message goes to each of them and the receiver keeps
the first copy (relayer.core.dedup); losing a broker loses nothing while another carries the
messages. Heartbeats are tracked per broker: a member whose last-will says "offline" on one broker
is still online while another carries its heartbeats. Heartbeats are signed with the member's key
share and judged by relayer.core.heartbeats (signature, order per broker, delay); a transport
without the committee's keys (`keys=None`) takes no part in heartbeats. The brokers may replicate
to each other (the nodes of a NATS cluster, bridged mosquittos): each is then listed as its own
broker, and what they replicate is more copies, dropped the same way; each broker gets its own
client identifier.

Each broker's outbox holds each distinct message once: while the broker is away, the periodic
re-publication of the same partials does not fill it with copies (which would push out other
messages and flood the committee with duplicates on reconnecting).
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import structlog

from relayer import metrics
from relayer.config import BrokerConfig, MqttConfig
from relayer.core.dedup import Dedup, content_key
from relayer.core.heartbeats import Baseline, HeartbeatKeys, Verdict, first_baseline, judge
from relayer.core.messages import (
    MAX_PAUSED_ROUTES,
    ActionPartialMessage,
    BadMessage,
    HeartbeatMessage,
    PartialMessage,
    ProposalMessage,
    RefundPartialMessage,
    SentMessage,
    action_topic,
    heartbeat_topic,
    partial_topic,
    proposal_topic,
    refund_topic,
    sent_topic,
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
# copies of one message through several brokers within this long are handed over once; shorter than
# the re-publication interval (the daemon passes the smaller), see relayer.core.dedup
DEDUP_WINDOW_SECONDS = 2.0
# Each message goes out at once (no Nagle): a partial written while the previous one waits for its
# ACK would otherwise wait for it, up to the broker's 40 ms delayed ACK (deploy/mosquitto).
NO_DELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)


def _honour_cancel() -> None:
    """Raise the cancellation a library call swallowed. aiomqtt waits for each acknowledgement with
    asyncio.wait_for, which on Python 3.11 returns the result when it arrives together with a
    cancellation and drops the cancellation; the loop would then wait for its next message, and a
    stop (whose TaskGroup cancels each child once) would hang. The task still counts the request."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@dataclass(slots=True)
class _Beat:
    """A member's last heartbeat through one broker, timed on arrival (our own clock)."""

    online: bool
    at: float
    paused: tuple[Route, ...]
    brokers: tuple[str, ...]


NOTICES_QUEUED = 256  # sent-batch notices waiting in a broker client's queue; more are dropped
NOTICES_IN_A_ROW = 4  # notices handed over ahead of a waiting partial or heartbeat, then one of those


class NoticesFirst(asyncio.Queue[aiomqtt.Message]):
    """The incoming queue of a broker's client: sent-batch notices are handed over ahead of the
    messages waiting (under a backlog hundreds of partials wait, each judged in turn, and a notice
    behind them would arrive after the relayer it should hold back has sent). The size bound
    counts both.

    A notice is only a hint and anyone who can publish can send one, so notices never starve the
    rest: at most NOTICES_IN_A_ROW go ahead of a waiting message, and at most NOTICES_QUEUED wait
    (a notice beyond that is dropped, never a partial: a flood of notices costs only notices)."""

    def _init(self, maxsize: int) -> None:
        self._queue: deque[aiomqtt.Message] = deque()
        self._notices: deque[aiomqtt.Message] = deque()
        self._in_a_row = 0
        self.notices_dropped = 0

    def qsize(self) -> int:
        return len(self._queue) + len(self._notices)

    def empty(self) -> bool:
        return not self._queue and not self._notices

    def put_nowait(self, item: aiomqtt.Message) -> None:
        if _is_notice(item) and len(self._notices) >= NOTICES_QUEUED:
            self.notices_dropped += 1  # a flood of notices: drop this one, keep the queue for the rest
            return
        super().put_nowait(item)

    def _put(self, item: aiomqtt.Message) -> None:
        (self._notices if _is_notice(item) else self._queue).append(item)

    def _get(self) -> aiomqtt.Message:
        if self._notices and (not self._queue or self._in_a_row < NOTICES_IN_A_ROW):
            self._in_a_row += 1
            return self._notices.popleft()
        self._in_a_row = 0
        return self._queue.popleft()


def _is_notice(item: aiomqtt.Message) -> bool:
    return "/sent/" in item.topic.value


@dataclass(eq=False)
class BrokerLink:
    """One broker: its configuration and credential, its own outbox, whether it is connected."""

    cfg: BrokerConfig
    password: str | None = None
    outbox: OrderedDict[tuple[str, bytes], bool] = field(default_factory=OrderedDict)  # -> retain
    queued: asyncio.Event = field(default_factory=asyncio.Event)  # set while the outbox is not empty
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def name(self) -> str:
        return self.cfg.name

    def enqueue(self, topic: str, payload: bytes, retain: bool, *, first: bool = False) -> None:
        """Queue a message unless the same one is already waiting; `first` puts it at the head
        (a message whose publication failed goes out first on the next connection)."""
        key = (topic, payload)
        if key not in self.outbox:
            if len(self.outbox) >= OUTBOX_SIZE:
                self.outbox.popitem(last=False)
                metrics.MQTT_OUTBOX_DROPPED.inc()
            self.outbox[key] = retain
        if first:
            self.outbox.move_to_end(key, last=False)
        self.queued.set()

    async def next_message(self) -> tuple[str, bytes, bool]:
        while not self.outbox:
            self.queued.clear()
            await self.queued.wait()
        (topic, payload), retain = self.outbox.popitem(last=False)
        return topic, payload, retain


class Transport:
    def __init__(
        self,
        cfg: MqttConfig,
        member: int,
        passwords: Mapping[str, str] | str | None = None,
        members: Collection[int] | None = None,
        dedup_window: float = DEDUP_WINDOW_SECONDS,
        keys: HeartbeatKeys | None = None,
        run: int = 0,
    ) -> None:
        """`passwords`: broker name -> this member's password there (a single string: the
        password of every broker, as with one broker). `keys`: the committee's keys, to sign this
        member's heartbeats (with its share, if it holds one) and verify the others'; without
        them the transport neither publishes nor subscribes to heartbeats. `run`: this start's run
        number (relayer.adapters.instance.next_run), in its heartbeats."""
        self.cfg = cfg
        self.member = member
        self.keys = keys
        self._run = run
        self._seq = 0  # the last heartbeat's seq (relayer.core.heartbeats)
        # this member's clock for its heartbeats: the wall clock at start, advanced by the
        # monotonic clock (a wall-clock step while running changes nothing)
        self._clock_anchor = (time.time(), time.monotonic())
        self._last_online: tuple[float, tuple[object, ...], bytes] | None = None
        self._members = frozenset(members) if members is not None else None  # None: not checked

        def password(b: BrokerConfig) -> str | None:
            return passwords if isinstance(passwords, str) or passwords is None else passwords.get(b.name)

        self.links = tuple(BrokerLink(b, password(b)) for b in cfg.endpoints)
        self._dedup = Dedup(dedup_window)
        self._handling = asyncio.Lock()  # one message handled at a time, whichever broker brought it
        self.connected = asyncio.Event()  # set while at least one broker is connected
        self.online_members: dict[int, float] = {}  # member -> time.monotonic() of its last beat
        self.paused_members: dict[int, tuple[Route, ...]] = {}  # member -> routes its beat says paused
        # member -> the brokers its last heartbeat says it reaches (members using several brokers)
        self.member_brokers: dict[int, tuple[str, ...]] = {}
        self._beats: dict[int, dict[str, _Beat]] = {}  # member -> broker -> its last beat there
        # (member, broker) -> seq of the last online heartbeat accepted: kept when the broker is
        # lost, so a broker that reconnects cannot replay what it carried before
        self._seqs: dict[tuple[int, str], int] = {}
        self._baselines: dict[int, Baseline] = {}  # member -> smallest delay of its heartbeats
        self._runs: dict[int, int] = {}  # member -> its latest run accepted
        for link in self.links:
            metrics.BROKER_CONNECTED.labels(link.name).set(0)
        metrics.BROKER_MIN_CONNECTED.set(cfg.min_brokers)
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

    def publish_sent(self, msg: SentMessage) -> None:
        """Queue a notice that this member's relayer sent a batch (a hint, published once), ahead of
        the partials waiting: it is worth something only if it arrives before the next relayer
        sends. Only to the brokers connected now: by the time one that is away is back the notice
        is stale, and it would sit in that broker's outbox beside the partials it waits to send
        (and count in its depth)."""
        topic, payload = sent_topic(self.cfg.network, self.member), msg.to_payload()
        for link in self.links:
            if link.connected.is_set():
                link.enqueue(topic, payload, False, first=True)
        metrics.MQTT_OUTBOX_DEPTH.set(self.outbox_depth)

    @property
    def outbox_depth(self) -> int:
        """The deepest broker outbox (each broker has its own; one that is away holds the most)."""
        return max(len(link.outbox) for link in self.links)

    @property
    def brokers_connected(self) -> dict[str, bool]:
        """Broker name -> connected now, in the configured order."""
        return {link.name: link.connected.is_set() for link in self.links}

    def _enqueue(self, topic: str, payload: bytes, retain: bool, *, first: bool = False) -> None:
        """Queue a message for every broker (`first`: ahead of what waits)."""
        for link in self.links:
            link.enqueue(topic, payload, retain, first=first)
        metrics.MQTT_OUTBOX_DEPTH.set(self.outbox_depth)

    def _heartbeat(self, status: str, paused: Collection[Route] = ()) -> bytes | None:
        """This member's heartbeat, signed (None without a key share: nothing to publish). An
        online heartbeat made less than HEARTBEAT_CHECK_SECONDS ago with the same content is
        reused, so the heartbeats each broker's loop publishes at the same time are one (same
        `seq`): copies crossing between replicating brokers are then copies, not older beats."""
        if self.keys is None:
            return None
        routes = tuple(sorted(paused, key=lambda r: (r.src, r.dst)))[:MAX_PAUSED_ROUTES]
        reached = self._reached() if status == "online" else ()
        content = (status, routes, reached)
        now = time.monotonic()
        last = self._last_online
        if (
            status == "online"
            and last is not None
            and last[1] == content
            and now - last[0] < HEARTBEAT_CHECK_SECONDS
        ):
            return last[2]
        wall0, mono0 = self._clock_anchor
        self._seq = max(self._seq + 1, int((wall0 + time.monotonic() - mono0) * 1000))
        beat = HeartbeatMessage(
            self.member, status, self._seq // 1000, self._seq, routes, reached, run=self._run
        )
        signed = self.keys.sign(beat, self.cfg.network)
        if signed is None:
            return None
        payload = signed.to_payload()
        if status == "online":
            self._last_online = (now, content, payload)
        return payload

    def _reached(self) -> tuple[str, ...]:
        """The brokers this member reaches, for its heartbeat: named only when it uses several
        (a single-broker heartbeat reads as before to older builds)."""
        if len(self.links) < 2:
            return ()
        return tuple(link.name for link in self.links if link.connected.is_set())

    def _client_id(self, link: BrokerLink) -> str:
        """The MQTT client identifier on `link`: with several brokers, one per broker. Nodes of one
        cluster (NATS) hold a session by its identifier cluster-wide: a second connection with
        the same identifier through another node is refused while the first lives."""
        base = f"qiao-{self.cfg.network}-member-{self.member}"
        return base if len(self.links) < 2 else f"{base}-{link.name}"

    def _link_state(self, link: BrokerLink, up: bool) -> None:
        if up:
            link.connected.set()
        else:
            link.connected.clear()
            self._forget_beats_via(link.name)
            # the sent-batch notices waiting for it are stale by the time it is back
            for key in [k for k in link.outbox if "/sent/" in k[0]]:
                del link.outbox[key]
            metrics.MQTT_OUTBOX_DEPTH.set(self.outbox_depth)
        metrics.BROKER_CONNECTED.labels(link.name).set(1 if up else 0)
        if any(other.connected.is_set() for other in self.links):
            self.connected.set()
        else:
            self.connected.clear()
        metrics.MQTT_CONNECTED.set(1 if self.connected.is_set() else 0)

    async def run(
        self,
        on_partial: Callable[[PartialMessage], Awaitable[None]],
        on_refund: Callable[[RefundPartialMessage], Awaitable[None]] | None = None,
        on_action: Callable[[ActionPartialMessage], Awaitable[None]] | None = None,
        on_proposal: Callable[[ProposalMessage], Awaitable[None]] | None = None,
        on_sent: Callable[[SentMessage], Awaitable[None]] | None = None,
    ) -> None:
        """Connect to every broker, subscribe and pump messages until cancelled, each broker
        reconnecting on its own. Refund partials go to `on_refund`, action partials to
        `on_action`, proposals to `on_proposal`, sent-batch notices to `on_sent` (each not
        subscribed without its handler)."""
        handlers = (on_partial, on_refund, on_action, on_proposal, on_sent)
        async with asyncio.TaskGroup() as tg:
            for link in self.links:
                tg.create_task(self._run_link(link, *handlers), name=f"broker:{link.name}")

    async def _run_link(
        self,
        link: BrokerLink,
        on_partial: Callable[[PartialMessage], Awaitable[None]],
        on_refund: Callable[[RefundPartialMessage], Awaitable[None]] | None,
        on_action: Callable[[ActionPartialMessage], Awaitable[None]] | None,
        on_proposal: Callable[[ProposalMessage], Awaitable[None]] | None,
        on_sent: Callable[[SentMessage], Awaitable[None]] | None = None,
    ) -> None:
        """One broker's session loop, reconnecting with jittered backoff.

        The backoff (0.5 s doubling to 10 s, times 0.5..1.5) starts again after every connection
        that succeeded: a session never returns, so a retry library's "until the call succeeds"
        would need this same counter kept beside it."""
        delay = 0.5
        hb_topic = heartbeat_topic(self.cfg.network, self.member)
        cfg = link.cfg
        root = topic_root(self.cfg.network)
        while True:
            offline = self._heartbeat("offline")  # signed now: relayer.core.heartbeats on wills
            will = None if offline is None else aiomqtt.Will(hb_topic, offline, qos=1, retain=True)
            try:
                async with aiomqtt.Client(
                    hostname=cfg.host,
                    port=cfg.port,
                    identifier=self._client_id(link),
                    username=cfg.username,
                    password=link.password,
                    keepalive=10,
                    max_queued_incoming_messages=INBOX_SIZE,
                    queue_type=NoticesFirst,
                    socket_options=NO_DELAY,
                    will=will,
                    tls_params=(
                        aiomqtt.TLSParameters(ca_certs=str(cfg.tls_ca_file))
                        if cfg.tls_ca_file is not None
                        else None
                    ),
                ) as client:
                    await client.subscribe(f"{root}/partial/+", qos=1)
                    if self.keys is not None:
                        await client.subscribe(f"{root}/heartbeat/+", qos=1)
                    if on_refund is not None:
                        await client.subscribe(f"{root}/refund/+", qos=1)
                    if on_action is not None:
                        await client.subscribe(f"{root}/action/+", qos=1)
                    if on_proposal is not None:
                        await client.subscribe(f"{root}/proposal/+", qos=1)
                    if on_sent is not None:
                        await client.subscribe(f"{root}/sent/+", qos=1)
                    _honour_cancel()
                    self._link_state(link, True)
                    log.info("mqtt_connected", broker=link.name, host=cfg.host, port=cfg.port)
                    delay = 0.5
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self._pump_outbox(link, client))
                        tg.create_task(self._heartbeats(client, hb_topic))
                        await self._receive(
                            link, client, on_partial, on_refund, on_action, on_proposal, on_sent
                        )
            except* aiomqtt.MqttError as group:
                self._link_state(link, False)
                metrics.MQTT_RECONNECTS.inc()
                log.warning(
                    "mqtt_disconnected",
                    broker=link.name,
                    error=str(group.exceptions[0]),
                    retry_in=delay,
                    brokers_connected=sum(self.brokers_connected.values()),
                )
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 10.0)

    async def _pump_outbox(self, link: BrokerLink, client: aiomqtt.Client) -> None:
        while True:
            topic, payload, retain = await link.next_message()
            metrics.MQTT_OUTBOX_DEPTH.set(self.outbox_depth)
            try:
                await client.publish(topic, payload, qos=1, retain=retain)
            except (aiomqtt.MqttError, asyncio.CancelledError):
                # not acknowledged (the connection broke, or went while waiting for the ack):
                # keep it for the next connection
                link.enqueue(topic, payload, retain, first=True)
                metrics.MQTT_OUTBOX_DEPTH.set(self.outbox_depth)
                raise
            _honour_cancel()  # acknowledged, but a stop asked meanwhile

    async def _heartbeats(self, client: aiomqtt.Client, topic: str) -> None:
        """Every HEARTBEAT_SECONDS, and at once when this node's paused routes or the brokers it
        reaches change."""
        while True:
            paused = frozenset(self.paused_routes())
            reached = self._reached()
            payload = self._heartbeat("online", paused)
            if payload is None:
                return  # no key share: this node makes no heartbeats
            await client.publish(topic, payload, qos=1, retain=True)
            _honour_cancel()
            for _ in range(round(HEARTBEAT_SECONDS / HEARTBEAT_CHECK_SECONDS)):
                await asyncio.sleep(HEARTBEAT_CHECK_SECONDS)
                if frozenset(self.paused_routes()) != paused or self._reached() != reached:
                    break

    async def _receive(
        self,
        link: BrokerLink,
        client: aiomqtt.Client,
        on_partial: Callable[[PartialMessage], Awaitable[None]],
        on_refund: Callable[[RefundPartialMessage], Awaitable[None]] | None = None,
        on_action: Callable[[ActionPartialMessage], Awaitable[None]] | None = None,
        on_proposal: Callable[[ProposalMessage], Awaitable[None]] | None = None,
        on_sent: Callable[[SentMessage], Awaitable[None]] | None = None,
    ) -> None:
        root = topic_root(self.cfg.network)
        heartbeat_prefix = f"{root}/heartbeat/"
        # each kind a member signs (and the proposals): its topic, how it is parsed, who takes it;
        # anything else under the root is a batch partial
        kinds: list[tuple[str, Callable[[str, bytes, str], Any], Callable[[Any], Awaitable[None]] | None]] = [
            (f"{root}/refund/", RefundPartialMessage.parse, on_refund),
            (f"{root}/action/", ActionPartialMessage.parse, on_action),
            (f"{root}/proposal/", ProposalMessage.parse, on_proposal),
            (f"{root}/sent/", SentMessage.parse, on_sent),
        ]
        async for message in client.messages:
            topic = message.topic.value
            payload = message.payload if isinstance(message.payload, bytes) else b""
            if topic.startswith(heartbeat_prefix):
                self._on_heartbeat(link.name, topic, payload)
                continue
            key = content_key(topic, payload)
            # judged inside the lock: a copy from another broker waits for the first one's handling,
            # and is dropped only if that succeeded; a failed handling forgets the first copy, so the
            # next copy is handed over (a message is lost only if every broker's copy fails)
            async with self._handling:
                if not self._dedup.first(key, time.monotonic()):
                    metrics.BROKER_COPIES_DROPPED.labels(link.name).inc()
                    continue
                try:
                    await self._handle(topic, payload, kinds, on_partial)
                except Exception as exc:
                    self._dedup.forget(key)
                    log.error("mqtt_message_handling_failed", topic=topic, broker=link.name, error=repr(exc))

    async def _handle(
        self,
        topic: str,
        payload: bytes,
        kinds: list[tuple[str, Callable[[str, bytes, str], Any], Callable[[Any], Awaitable[None]] | None]],
        on_partial: Callable[[PartialMessage], Awaitable[None]],
    ) -> None:
        """Parse one message (the first copy) and hand it to its kind's handler."""
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
            return
        if handle is not None:
            await handle(parsed)

    def _on_heartbeat(self, broker: str, topic: str, payload: bytes) -> None:
        """Judge one heartbeat (relayer.core.heartbeats) and, if accepted, record it as this
        broker's word on its member; a refused one is logged (`heartbeat_refused`) and counted."""
        keys = self.keys
        if keys is None:
            return
        try:
            beat = HeartbeatMessage.parse(topic, payload, self.cfg.network)
        except BadMessage as exc:  # a malformed message, like any other (an unsigned heartbeat too)
            metrics.MQTT_MESSAGES_REJECTED.inc()
            metrics.HEARTBEATS_REFUSED.labels("malformed").inc()
            log.warning("mqtt_message_rejected", topic=topic, reason=str(exc), broker=broker)
            return
        members = self._members if self._members is not None else keys.keyring.members
        now = time.monotonic()  # arrival, on our own clock
        verdict, why = judge(
            beat,
            member_known=beat.member in members and keys.keyring.is_member(beat.member),
            last_run=self._runs.get(beat.member),
            last_seq=self._seqs.get((beat.member, broker)),
            baseline=self._baselines.get(beat.member),
            arrival=now,
            verifies=lambda: keys.verifies(beat, self.cfg.network),
        )
        if verdict.refused:
            metrics.HEARTBEATS_REFUSED.labels(verdict.value).inc()
            # an older heartbeat is also what replicating brokers (a NATS cluster, a bridge) and a
            # retained message after a reconnect deliver in good faith: worth less than a warning
            (log.info if verdict is Verdict.REPLAY else log.warning)(
                "heartbeat_refused",
                member=beat.member,
                reason=verdict.value,
                why=why,
                broker=broker,
                seq=beat.seq,
            )
            return
        if verdict is Verdict.COPY:
            return  # the same heartbeat again: its arrival time stays the first one's
        online = beat.status == "online"
        if online:
            if beat.run != self._runs.get(beat.member):  # a new run of the member: afresh
                self._runs[beat.member] = beat.run
                self._baselines.pop(beat.member, None)
                for key in [k for k in self._seqs if k[0] == beat.member]:
                    del self._seqs[key]
            self._seqs[(beat.member, broker)] = beat.seq
            base = self._baselines.get(beat.member)
            self._baselines[beat.member] = (
                first_baseline(beat, now) if base is None else base.lowered(beat, now)
            )
        seen = self._beats.setdefault(beat.member, {})
        seen[broker] = _Beat(online, now, beat.paused, beat.brokers)
        self._member_view(beat.member)

    def _forget_beats_via(self, broker: str) -> None:
        """This node lost `broker`: what it said about the members is no longer kept up to date."""
        for member, seen in list(self._beats.items()):
            if seen.pop(broker, None) is not None:
                self._member_view(member)

    def _member_view(self, member: int) -> None:
        """A member is online while its last heartbeat through any broker says so (its last-will
        on one broker it lost says nothing about the others); its paused routes and brokers are
        those of its latest online beat."""
        online = [b for b in self._beats.get(member, {}).values() if b.online]
        if not online:
            self.online_members.pop(member, None)
            self.paused_members.pop(member, None)
            self.member_brokers.pop(member, None)
            return
        latest = max(online, key=lambda b: b.at)
        self.online_members[member] = latest.at
        if latest.paused:
            self.paused_members[member] = latest.paused
        else:
            self.paused_members.pop(member, None)
        if latest.brokers:
            self.member_brokers[member] = latest.brokers
        else:
            self.member_brokers.pop(member, None)
        # qiao_committee_members_online/_paused: set by the health probe (freshness, this node's routes)
