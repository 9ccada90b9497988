"""Several brokers against real mosquittos on random ports: two plain ones and one configured as in
production (TLS, one credential per member, an ACL); every message goes to each broker a member
uses, the receiver keeps the first copy; a broker stopped mid-flow loses nothing; two members that
share only one broker still exchange partials."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import devnet
from relayer import metrics
from relayer.adapters.transport import Transport
from relayer.config import BrokerConfig, MqttConfig
from relayer.core.messages import PartialMessage
from relayer.core.types import BatchId, ChainId, Nonce, Route
from relayer.provisioning import broker as provisioning
from tests.support.heartbeat_keys import keys
from tests.support.tasks import cancel_until_done

# copies through local brokers arrive within milliseconds; a long window keeps a loaded machine
# from handing over a late copy twice (the window's own rule is tested in tests/unit/test_dedup.py)
WINDOW = 60.0


@dataclass
class Brokers:
    """Three running brokers: `plain-a`, `plain-b` (anonymous) and `secure` (TLS, per member)."""

    procs: dict[str, devnet.Process]
    ports: dict[str, int]
    files: provisioning.BrokerFiles

    def config(self, member: int, network: str, names: tuple[str, ...]) -> tuple[MqttConfig, dict[str, str]]:
        """Member `member`'s [mqtt] using the brokers `names`, and its passwords."""
        chosen: list[BrokerConfig] = []
        passwords: dict[str, str] = {}
        for name in names:
            if name == "secure":
                user = provisioning.username(member)
                password_file = self.files.passwords[user]
                chosen.append(
                    BrokerConfig(name, "127.0.0.1", self.ports[name], user, password_file, self.files.ca)
                )
                passwords[name] = password_file.read_text().strip()
            else:
                chosen.append(BrokerConfig(name, "127.0.0.1", self.ports[name]))
        first = chosen[0]
        cfg = MqttConfig(
            first.host,
            first.port,
            network,
            first.username,
            first.password_file,
            first.tls_ca_file,
            brokers=tuple(chosen),
            min_brokers=len(chosen),
        )
        return cfg, passwords

    def transport(self, member: int, network: str, names: tuple[str, ...]) -> Transport:
        cfg, passwords = self.config(member, network, names)
        return Transport(cfg, member, passwords, members=[1, 2, 3], dedup_window=WINDOW, keys=keys(member))


@pytest.fixture
def brokers(processes: devnet.Processes, tmp_path: Path, network: str) -> Brokers:
    procs: dict[str, devnet.Process] = {}
    ports: dict[str, int] = {}
    for name in ("plain-a", "plain-b"):
        directory = tmp_path / name
        directory.mkdir()
        ports[name] = devnet.start_mosquitto(processes, directory)
        procs[name] = processes.items[-1]
    files, tls_port, _ = devnet.start_secure_mosquitto(processes, tmp_path / "secure", network, [1, 2, 3])
    procs["secure"], ports["secure"] = processes.items[-1], tls_port
    return Brokers(procs, ports, files)


def partial(member: int, nonce: int) -> PartialMessage:
    return PartialMessage(
        member=member,
        batch=BatchId(Route(ChainId(7001), ChainId(7002)), Nonce(nonce), Nonce(nonce)),
        key_epoch=1,
        root=b"\x01" * 32,
        message=b"\x02" * 32,
        partial=bytes([nonce]) * 48,
    )


async def until(predicate: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    for _ in range(int(seconds * 10)):
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def copies_dropped(*names: str) -> float:
    return sum(float(metrics.BROKER_COPIES_DROPPED.labels(n)._value.get()) for n in names)


class Inbox:
    """What a transport handed to its partial handler, by (member, nonce)."""

    def __init__(self) -> None:
        self.got: Counter[tuple[int, int]] = Counter()

    async def __call__(self, msg: PartialMessage) -> None:
        self.got[(msg.member, msg.batch.first_nonce)] += 1

    def of(self, member: int) -> Counter[int]:
        return Counter({nonce: n for (m, nonce), n in self.got.items() if m == member})


ALL = ("plain-a", "plain-b", "secure")


async def test_a_message_through_three_brokers_is_handed_over_once(brokers: Brokers, network: str) -> None:
    sender, receiver = brokers.transport(1, network, ALL), brokers.transport(2, network, ALL)
    to_sender, to_receiver = Inbox(), Inbox()
    dropped = copies_dropped(*ALL)
    tasks = [asyncio.create_task(receiver.run(to_receiver)), asyncio.create_task(sender.run(to_sender))]
    try:
        await until(lambda: all(sender.brokers_connected.values()), "the sender on every broker")
        await until(lambda: all(receiver.brokers_connected.values()), "the receiver on every broker")
        for nonce in range(1, 11):
            sender.publish_partial(partial(1, nonce))
        # each transport receives three copies of each message (its own echoes too) and drops two
        await until(lambda: copies_dropped(*ALL) - dropped >= 2 * 2 * 10, "every copy through every broker")
        await until(lambda: receiver.member_brokers.get(1) == ALL, "member 1's heartbeat naming its brokers")
    finally:
        await cancel_until_done(*tasks)
    assert to_receiver.of(1) == Counter(dict.fromkeys(range(1, 11), 1))
    assert to_sender.of(1) == Counter(dict.fromkeys(range(1, 11), 1))  # its own echo, once


async def test_a_broker_stopped_mid_flow_loses_nothing(brokers: Brokers, network: str) -> None:
    sender, receiver = brokers.transport(1, network, ALL), brokers.transport(2, network, ALL)
    inbox = Inbox()

    async def ignore(msg: PartialMessage) -> None:
        return None

    async def publish(first: int, last: int) -> None:
        for nonce in range(first, last + 1):
            sender.publish_partial(partial(1, nonce))
            await asyncio.sleep(0.05)

    tasks = [asyncio.create_task(receiver.run(inbox)), asyncio.create_task(sender.run(ignore))]
    try:
        await until(lambda: all(sender.brokers_connected.values()), "the sender on every broker")
        await until(lambda: all(receiver.brokers_connected.values()), "the receiver on every broker")
        await until(lambda: 1 in receiver.online_members, "member 1 online")
        flow = asyncio.create_task(publish(1, 40))
        await until(lambda: len(inbox.of(1)) >= 5, "the first partials")
        brokers.procs["plain-a"].stop()  # the first broker listed, while partials are in flight
        await flow
        await until(lambda: not sender.brokers_connected["plain-a"], "the sender to lose plain-a")
        await until(lambda: not receiver.brokers_connected["plain-a"], "the receiver to lose plain-a")
        await publish(41, 50)  # published while plain-a is gone
        await until(lambda: len(inbox.of(1)) == 50, "every partial")
        # still online to the others: its heartbeats go through the brokers left, and say so
        await until(
            lambda: receiver.member_brokers.get(1) == ("plain-b", "secure"),
            "member 1 naming its brokers left",
        )
        assert 1 in receiver.online_members
        assert receiver.connected.is_set()
        assert metrics.BROKER_CONNECTED.labels("plain-a")._value.get() == 0
        assert metrics.BROKER_CONNECTED.labels("secure")._value.get() == 1
        assert sender.outbox_depth > 0  # what plain-a missed waits for it in its own outbox
    finally:
        await cancel_until_done(*tasks)
    assert inbox.of(1) == Counter(dict.fromkeys(range(1, 51), 1))  # nothing lost, nothing twice


async def test_two_members_sharing_only_one_broker_exchange_partials(brokers: Brokers, network: str) -> None:
    one = brokers.transport(1, network, ("plain-a", "secure"))
    two = brokers.transport(2, network, ("secure", "plain-b"))
    to_one, to_two = Inbox(), Inbox()
    tasks = [asyncio.create_task(one.run(to_one)), asyncio.create_task(two.run(to_two))]
    try:
        await until(lambda: all(one.brokers_connected.values()), "member 1 on its brokers")
        await until(lambda: all(two.brokers_connected.values()), "member 2 on its brokers")
        for nonce in range(1, 6):
            one.publish_partial(partial(1, nonce))
            two.publish_partial(partial(2, nonce))
        await until(lambda: len(to_two.of(1)) == 5 and len(to_one.of(2)) == 5, "each member's partials")
        await until(lambda: 1 in two.online_members and 2 in one.online_members, "each other online")
        # each heartbeat names the brokers its sender reached when it was sent: a member whose
        # second broker answered late names it in a later one (seen, at five workers on two cores)
        await until(lambda: two.member_brokers.get(1) == ("plain-a", "secure"), "member 1's brokers")
        await until(lambda: one.member_brokers.get(2) == ("secure", "plain-b"), "member 2's brokers")
    finally:
        await cancel_until_done(*tasks)
    assert to_two.of(1) == Counter(dict.fromkeys(range(1, 6), 1))
    assert to_one.of(2) == Counter(dict.fromkeys(range(1, 6), 1))


async def test_members_sharing_no_broker_exchange_nothing(brokers: Brokers, network: str) -> None:
    """The contrast to the test above: it is the shared broker that carries the partials."""
    one = brokers.transport(1, network, ("plain-a",))
    two = brokers.transport(2, network, ("plain-b",))
    to_two = Inbox()
    mine = Inbox()
    tasks = [asyncio.create_task(one.run(mine)), asyncio.create_task(two.run(to_two))]
    try:
        await until(lambda: one.connected.is_set() and two.connected.is_set(), "both connected")
        one.publish_partial(partial(1, 1))
        await until(lambda: mine.of(1) == Counter({1: 1}), "member 1's own echo through plain-a")
        await until(lambda: 1 in one.online_members, "member 1's own heartbeat")
    finally:
        await cancel_until_done(*tasks)
    assert not to_two.got
    assert 1 not in two.online_members


class FailsFirst(Inbox):
    """A handler whose first attempt at each message fails (a store that could not write)."""

    def __init__(self) -> None:
        super().__init__()
        self.failed: Counter[tuple[int, int]] = Counter()

    async def __call__(self, msg: PartialMessage) -> None:
        key = (msg.member, msg.batch.first_nonce)
        if not self.failed[key]:
            self.failed[key] += 1
            raise RuntimeError("database is locked")
        await super().__call__(msg)


async def test_a_message_whose_handling_failed_is_handled_from_another_brokers_copy(
    brokers: Brokers, network: str
) -> None:
    names = ("plain-a", "plain-b")
    sender, receiver = brokers.transport(1, network, names), brokers.transport(2, network, names)
    inbox = FailsFirst()
    tasks = [asyncio.create_task(receiver.run(inbox)), asyncio.create_task(sender.run(Inbox()))]
    try:
        await until(lambda: all(sender.brokers_connected.values()), "the sender on every broker")
        await until(lambda: all(receiver.brokers_connected.values()), "the receiver on every broker")
        sender.publish_partial(partial(1, 7))
        # the first copy's handling fails: the second broker's copy is handed over, not dropped
        await until(lambda: inbox.of(1)[7] == 1, "the message handled from the other broker's copy")
        assert inbox.failed[(1, 7)] == 1
        assert all(receiver.brokers_connected.values())  # the failure did not end the session
    finally:
        await cancel_until_done(*tasks)
