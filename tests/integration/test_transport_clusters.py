"""The same transport against brokers that replicate to each other: a three-node NATS cluster
through its MQTT listeners, and two mosquittos bridged to each other, each configured as in
deploy/ (TLS, a user per member, what each may publish). Real servers on random ports.

A member lists every node (or both bridged brokers) as its own `[[mqtt.brokers]]`: it receives
each message once per node it reaches and per node it was published to, and keeps the first copy.
One node or broker stopped mid-flow loses nothing; members that each reach a different node (or
broker) still exchange partials, through the cluster's routes (or the bridge)."""

from __future__ import annotations

import asyncio
from collections import Counter
from functools import partial as partial_fn
from pathlib import Path

import pytest

from harness import devnet
from relayer import metrics
from relayer.adapters.transport import Transport
from relayer.config import BrokerConfig, MqttConfig
from relayer.core.messages import PartialMessage
from relayer.provisioning import broker as provisioning
from tests.integration.test_transport_brokers import WINDOW, Inbox, copies_dropped, partial, until
from tests.support.heartbeat_keys import keys
from tests.support.tasks import cancel_until_done

NODES = ("nats-1", "nats-2", "nats-3")
BRIDGED = ("bridge-a", "bridge-b")


def transport(brokers: devnet.BrokerSet, member: int, network: str, names: tuple[str, ...]) -> Transport:
    user = provisioning.username(member)
    chosen = tuple(
        BrokerConfig(
            name,
            "127.0.0.1",
            brokers.servers[name].port,
            user,
            brokers.passwords[name][user],
            brokers.ca[name],
        )
        for name in names
    )
    first = chosen[0]
    cfg = MqttConfig(
        first.host,
        first.port,
        network,
        first.username,
        first.password_file,
        first.tls_ca_file,
        brokers=chosen,
        min_brokers=1,
    )
    passwords = {name: brokers.passwords[name][user].read_text().strip() for name in names}
    return Transport(cfg, member, passwords, members=[1, 2, 3], dedup_window=WINDOW, keys=keys(member))


@pytest.fixture
def nats(processes: devnet.Processes, tmp_path: Path, network: str) -> devnet.BrokerSet:
    return devnet.start_nats_cluster(processes, tmp_path / "nats", network, [1, 2, 3])


@pytest.fixture
def bridged(processes: devnet.Processes, tmp_path: Path, network: str) -> devnet.BrokerSet:
    return devnet.start_bridged_mosquittos(processes, tmp_path, network, [1, 2, 3])


def reconnections() -> float:
    return float(metrics.MQTT_RECONNECTS._value.get())


async def copies_settled(quiet: float = 3.0, seconds: float = 60.0) -> None:
    """Until no copy has been dropped for `quiet` seconds."""
    last, since = copies_dropped(*NODES), asyncio.get_running_loop().time()
    for _ in range(int(seconds * 10)):
        await asyncio.sleep(0.1)
        now = copies_dropped(*NODES)
        if now != last:
            last, since = now, asyncio.get_running_loop().time()
        elif asyncio.get_running_loop().time() - since >= quiet:
            return
    raise AssertionError(f"copies still dropped after {seconds} s")


def counted_or_lost(partials: int, dropped: float, reconnects: float) -> bool:
    """Every copy of `partials` partials dropped since `dropped` (8 of each 9, by the sender and by
    the receiver), or a session lost since `reconnects`."""
    return copies_dropped(*NODES) - dropped >= 2 * 8 * partials or reconnections() > reconnects


async def ignore(msg: PartialMessage) -> None:
    return None


async def stop_one_mid_flow(
    brokers: devnet.BrokerSet, network: str, names: tuple[str, ...], victim: str
) -> None:
    """Member 1 publishes 50 partials to every broker of `names`, member 2 receives them through
    every one; `victim` is stopped after the first few arrived, and started again at the end."""
    sender, receiver = transport(brokers, 1, network, names), transport(brokers, 2, network, names)
    inbox = Inbox()

    async def publish(first: int, last: int) -> None:
        for nonce in range(first, last + 1):
            sender.publish_partial(partial(1, nonce))
            await asyncio.sleep(0.05)

    tasks = [asyncio.create_task(receiver.run(inbox)), asyncio.create_task(sender.run(ignore))]
    try:
        await until(lambda: all(sender.brokers_connected.values()), "the sender on every node")
        await until(lambda: all(receiver.brokers_connected.values()), "the receiver on every node")
        await until(lambda: 1 in receiver.online_members, "member 1 online")
        flow = asyncio.create_task(publish(1, 40))
        await until(lambda: len(inbox.of(1)) >= 5, "the first partials")
        brokers.servers[victim].stop()  # while partials are in flight
        await flow
        await until(lambda: not sender.brokers_connected[victim], f"the sender to lose {victim}")
        await until(lambda: not receiver.brokers_connected[victim], f"the receiver to lose {victim}")
        await publish(41, 50)  # published while the victim is gone
        await until(lambda: len(inbox.of(1)) == 50, "every partial")
        left = tuple(n for n in names if n != victim)
        await until(lambda: receiver.member_brokers.get(1) == left, "member 1 naming the brokers left")
        assert 1 in receiver.online_members
        brokers.servers[victim].start()
        await until(lambda: all(sender.brokers_connected.values()), f"the sender back on {victim}")
        await until(lambda: all(receiver.brokers_connected.values()), f"the receiver back on {victim}")
        await until(lambda: receiver.member_brokers.get(1) == names, "member 1 naming every broker again")
    finally:
        await cancel_until_done(*tasks)
    assert inbox.of(1) == Counter(dict.fromkeys(range(1, 51), 1))  # nothing lost, nothing twice


async def crossing(brokers: devnet.BrokerSet, network: str, one: str, two: str) -> None:
    """Member 1 only on `one`, member 2 only on `two`: what each publishes reaches the other."""
    a, b = transport(brokers, 1, network, (one,)), transport(brokers, 2, network, (two,))
    to_a, to_b = Inbox(), Inbox()
    tasks = [asyncio.create_task(a.run(to_a)), asyncio.create_task(b.run(to_b))]
    try:
        await until(lambda: a.connected.is_set() and b.connected.is_set(), "both connected")
        await until(lambda: 1 in b.online_members and 2 in a.online_members, "each other's heartbeats")
        for nonce in range(1, 11):
            a.publish_partial(partial(1, nonce))
            b.publish_partial(partial(2, nonce))
        await until(lambda: len(to_b.of(1)) == 10 and len(to_a.of(2)) == 10, "each member's partials")
    finally:
        await cancel_until_done(*tasks)
    assert to_b.of(1) == Counter(dict.fromkeys(range(1, 11), 1))
    assert to_a.of(2) == Counter(dict.fromkeys(range(1, 11), 1))


# ---- a NATS cluster ------------------------------------------------------------------------------


async def test_members_on_different_nats_nodes_exchange_partials(
    nats: devnet.BrokerSet, network: str
) -> None:
    await crossing(nats, network, "nats-1", "nats-3")


async def test_a_member_listing_every_nats_node_reaches_them_all_and_keeps_one_copy(
    nats: devnet.BrokerSet, network: str
) -> None:
    """Every node of the cluster at once (one MQTT session each: a client identifier shared by
    two nodes would be refused by the second, the cluster holding it as one session).

    Published to 3 nodes, each copy replicated to each of the 3 sessions of the receiver (and of
    the sender, its own echoes): 9 copies of each partial, 8 dropped, by each of the two. The count
    holds only while no session is lost: on a loaded machine a node once took more than aiomqtt's
    10 s to acknowledge a QoS 1 publish, the link reconnected (a clean session) and the copies
    sent meanwhile never came. Such a round is not counted: once its copies stop coming, the next
    round publishes new partials, up to three rounds. The counted round's partials arrive exactly
    once; a lost round's may not arrive at all (the aggregator re-publishes what matters), never
    twice."""
    sender, receiver = transport(nats, 1, network, NODES), transport(nats, 2, network, NODES)
    inbox = Inbox()
    tasks = [asyncio.create_task(receiver.run(inbox)), asyncio.create_task(sender.run(ignore))]
    counted: list[int] = []
    try:
        for round_ in range(3):
            await until(lambda: all(sender.brokers_connected.values()), "the sender on every node")
            await until(lambda: all(receiver.brokers_connected.values()), "the receiver on every node")
            if round_ > 0:
                await copies_settled()  # a lost round's late copies counted in neither round
            dropped, reconnects = copies_dropped(*NODES), reconnections()
            nonces = list(range(5 * round_ + 1, 5 * round_ + 6))
            for nonce in nonces:
                sender.publish_partial(partial(1, nonce))
            # up to a minute: a copy the cluster hands a session that did not acknowledge it in
            # time is sent again after NATS's ack_wait, 30 s in deploy/nats
            await until(
                partial_fn(counted_or_lost, len(nonces), dropped, reconnects),
                "every copy through every node",
                seconds=60,
            )
            if reconnections() == reconnects:
                counted = nonces
                break
        assert counted, "a session was lost in each of three rounds: the copies were never counted whole"
        await until(lambda: all(inbox.of(1)[n] for n in counted), "every partial of the counted round")
    finally:
        await cancel_until_done(*tasks)
    got = inbox.of(1)
    assert {n: got[n] for n in counted} == dict.fromkeys(counted, 1)
    assert all(times == 1 for times in got.values()), got  # nothing handed over twice


async def test_a_nats_node_stopped_mid_flow_loses_nothing(nats: devnet.BrokerSet, network: str) -> None:
    await stop_one_mid_flow(nats, network, NODES, "nats-1")


async def test_a_member_may_not_publish_as_another_through_nats(nats: devnet.BrokerSet, network: str) -> None:
    """The node's permissions (users.conf) drop a partial published under another member's id."""
    forger = transport(nats, 1, network, ("nats-1",))
    receiver = transport(nats, 2, network, ("nats-2",))
    inbox = Inbox()
    forged_topic = f"qiao/v1/{network}/partial/3"
    tasks = [asyncio.create_task(receiver.run(inbox)), asyncio.create_task(forger.run(ignore))]
    try:
        await until(lambda: forger.connected.is_set() and receiver.connected.is_set(), "both connected")
        await until(lambda: 1 in receiver.online_members, "member 1's heartbeat")
        for link in forger.links:  # what a compromised member 1 could try: member 3's topic
            link.enqueue(forged_topic, partial(3, 1).to_payload(), False)
        forger.publish_partial(partial(1, 2))  # after it: once this arrived, the forgery had its turn
        await until(lambda: inbox.of(1) == Counter({2: 1}), "member 1's own partial")
    finally:
        await cancel_until_done(*tasks)
    assert not inbox.of(3)


# ---- two bridged mosquittos --------------------------------------------------------------------


async def test_members_on_bridged_brokers_exchange_partials(bridged: devnet.BrokerSet, network: str) -> None:
    await crossing(bridged, network, "bridge-a", "bridge-b")


async def test_a_bridged_broker_stopped_mid_flow_loses_nothing(
    bridged: devnet.BrokerSet, network: str
) -> None:
    await stop_one_mid_flow(bridged, network, BRIDGED, "bridge-a")  # the one the bridge connects to


async def test_the_bridging_broker_stopped_mid_flow_loses_nothing(
    bridged: devnet.BrokerSet, network: str
) -> None:
    await stop_one_mid_flow(bridged, network, BRIDGED, "bridge-b")  # the one holding the bridge
