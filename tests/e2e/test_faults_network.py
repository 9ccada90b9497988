"""Network and broker faults on the devnet (anvil x2, the TLS mosquitto, n = 4 member processes).

One devnet serves every scenario of this module, in order; each scenario makes its own locks,
heals what it broke, and ends with the reconciler and exactly-once checks over everything locked
on this devnet so far. Every member reaches the broker through its own TCP proxy, so a test can
partition any member (the proxy cuts its connection and refuses new ones, or silently discards
every byte) and heal it.

The broker can delay, drop or duplicate, never forge: messages are replayed from what the broker
carried, never made up.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from prometheus_client.parser import text_string_to_metric_families
from web3 import HTTPProvider, Web3

from harness import devnet
from relayer.ops.reconciler import reconcile
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.e2e
UNIT = 10**18
NETWORK = "devnet"
PARTIALS = f"qiao/v1/{NETWORK}/partial/+"
REPUBLISH_INTERVAL = 2.0  # committee.republish_interval of the devnet's members


@dataclass
class Bridge:
    net: devnet.Devnet
    proxies: dict[int, TcpProxy]
    wc: Web3
    we: Web3
    vault: Any
    asset: Any
    gateway: Any
    wrapped: Any
    locked: list[int] = field(default_factory=list)  # every amount locked so far, nonce order

    # ---- chain side ------------------------------------------------------------------------

    def lock(self, count: int) -> list[int]:
        """Lock `count` transfers to bob (mined); returns their nonces."""
        alice, bob = devnet.dev_account(8), devnet.dev_account(9)
        first = len(self.locked) + 1
        last_tx: Any = None
        for _ in range(count):
            amount = (len(self.locked) + 1) * UNIT
            self.locked.append(amount)
            last_tx = devnet.send(
                self.wc,
                alice,
                self.vault.functions.lock(self.asset.address, devnet.ETHEREUM_CHAIN_ID, bob.address, amount),
                wait=False,
            )
        self.wc.eth.wait_for_transaction_receipt(last_tx, timeout=60)
        return list(range(first, first + count))

    def executed_nonces(self) -> list[int]:
        events = self.gateway.events.TransferExecuted().get_logs(
            from_block=self.net.deployment.ethereum_block
        )
        return sorted(int(e["args"]["nonce"]) for e in events)

    def minted(self) -> int:
        return int(self.wrapped.functions.balanceOf(devnet.dev_account(9).address).call())

    # ---- member side -----------------------------------------------------------------------

    def db(self, member: int) -> sqlite3.Connection:
        path = self.net.run_dir / f"node-{member}" / "data" / "qiao.sqlite3"
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)

    def transfer_states(self, member: int, from_nonce: int = 1) -> dict[str, int]:
        with self.db(member) as db:
            rows = db.execute(
                "SELECT state, COUNT(*) FROM transfers WHERE nonce >= ? GROUP BY state", (from_nonce,)
            )
            return dict(rows.fetchall())

    def signed(self, member: int) -> set[tuple[int, int, int, int, str]]:
        """(src, dst, first, last, root) of every batch this member signed (its span of the route
        `<src>:<dst>` and its content, in `signed_items`)."""
        with self.db(member) as db:
            rows = db.execute(
                "SELECT sequence, span_first, span_last, content FROM signed_items WHERE kind='batch'"
            ).fetchall()
        out = set()
        for sequence, first, last, root in rows:
            src, dst = (int(c) for c in str(sequence).split(":"))
            out.add((src, dst, int(first), int(last), bytes(root).hex()))
        return out

    def batches(self, member: int) -> set[tuple[int, int, int, int, str]]:
        """(src, dst, first, last, root) of every batch this member cut."""
        with self.db(member) as db:
            rows = db.execute("SELECT src_chain_id, dst_chain_id, first_nonce, last_nonce, root FROM batches")
            return {(a, b, c, d, bytes(r).hex()) for a, b, c, d, r in rows.fetchall()}

    def signed_through(self, member: int) -> int:
        """The last nonce this member has signed a batch for (0 if none)."""
        with self.db(member) as db:
            (last,) = db.execute(
                "SELECT COALESCE(MAX(span_last), 0) FROM signed_items WHERE kind='batch'"
            ).fetchone()
            return int(last)

    def signed_from(self, member: int, first_nonce: int) -> int:
        """How many batches from `first_nonce` on this member signed."""
        with self.db(member) as db:
            (n,) = db.execute(  # one per batch (route and first nonce), whatever key epochs signed it
                "SELECT COUNT(DISTINCT sequence || '#' || span_first) FROM signed_items "
                "WHERE kind='batch' AND span_first >= ?",
                (first_nonce,),
            ).fetchone()
            return int(n)

    def stale_partials(self, member: int) -> int:
        """Partials the member still keeps for batches it has marked executed."""
        with self.db(member) as db:
            (n,) = db.execute(
                "SELECT COUNT(*) FROM partials p JOIN batches b ON b.src_chain_id = p.src_chain_id "
                "AND b.dst_chain_id = p.dst_chain_id AND b.first_nonce = p.first_nonce "
                "WHERE b.state = 'executed'"
            ).fetchone()
            return int(n)

    def metric(self, member: int, name: str, labels: dict[str, str] | None = None) -> float:
        return self.net.metric(member, name, labels) or 0.0

    def connected(self, member: int) -> bool:
        return self.metric(member, "qiao_mqtt_connected") == 1

    def log_events(self, member: int, event: str) -> list[dict[str, Any]]:
        return self.net.nodes[member].events(event)

    # ---- the end of every scenario ---------------------------------------------------------

    def settle(self, timeout: float = 150) -> None:
        """Everything locked so far executes exactly once, every member's store agrees, the
        members are alive and the reconciler finds nothing wrong."""
        total = len(self.locked)
        devnet.wait_until(lambda: self.minted() == sum(self.locked), timeout, f"{total} locks minted")
        for m in sorted(self.net.nodes):
            devnet.wait_until(
                lambda m=m: self.transfer_states(m) == {"executed": total},  # type: ignore[misc]
                60,
                f"member {m}'s store to show all {total} transfers executed",
            )
        assert self.executed_nonces() == list(range(1, total + 1))
        assert self.minted() == sum(self.locked)
        vault_balance = self.asset.functions.balanceOf(self.vault.address).call()
        assert self.wrapped.functions.totalSupply().call() == vault_balance == sum(self.locked)
        verdict = reconcile(self.net.deployment, settled=True)
        assert verdict.ok, verdict.violations
        assert verdict.counts["executed"] == total
        for m, proc in self.net.nodes.items():
            assert proc.popen.poll() is None, f"member {m} died; see {proc.log_path}"
            assert self.metric(m, "qiao_equivocations_refused_total") == 0
        # nothing diverged: every member cut the same batches, with the same roots
        cut = {m: self.batches(m) for m in self.net.nodes}
        assert all(batches == cut[1] for batches in cut.values()), cut
        assert max(batch[3] for batch in cut[1]) == total  # they reach the last lock


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    proxies: dict[int, TcpProxy] = {}

    def through_proxy(member: int, port: int) -> int:
        proxies[member] = TcpProxy(port)
        return proxies[member].port

    run_dir = tmp_path_factory.mktemp("faults-network") / "net"
    try:
        with devnet.devnet(run_dir, block_time=0.5, metrics=True, mqtt_port_for=through_proxy) as net:
            dep = net.deployment
            wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))
            b = Bridge(
                net,
                proxies,
                wc,
                we,
                wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi),
                wc.eth.contract(address=dep.asset.address, abi=dep.asset.abi),
                we.eth.contract(address=dep.gateway.address, abi=dep.gateway.abi),
                we.eth.contract(address=dep.wrapped.address, abi=dep.wrapped.abi),
            )
            admin, alice = devnet.dev_account(0), devnet.dev_account(8)
            devnet.send(wc, admin, b.asset.functions.mint(alice.address, 10_000 * UNIT))
            devnet.send(wc, alice, b.asset.functions.approve(b.vault.address, 10_000 * UNIT))
            devnet.wait_until(
                lambda: all(b.connected(m) for m in net.nodes), 60, "every member connected to the broker"
            )
            yield b
    finally:
        for proxy in proxies.values():
            proxy.stop()


class Tap:
    """A client on the devnet's plaintext tooling listener that records every genuine partial the
    broker carries and, with `echo`, has the broker deliver each one twice more right away."""

    def __init__(self, port: int, echo: bool) -> None:
        self.echo = echo
        self.seen: list[tuple[str, bytes]] = []
        self._payloads: set[bytes] = set()
        self._lock = threading.Lock()
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        client.subscribe(PARTIALS, qos=1)
        self.ready.set()

    def _on_message(self, client: mqtt.Client, _: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            if message.payload in self._payloads:  # a re-publication (or our own echo)
                return
            self._payloads.add(message.payload)
            self.seen.append((message.topic, message.payload))
        if self.echo:
            for _ in range(2):
                client.publish(message.topic, message.payload, qos=1)

    def replay(self, messages: list[tuple[str, bytes]]) -> None:
        for topic, payload in messages:
            self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def partials_from(b: Bridge, member: int, sender: int | None = None) -> float:
    """Partials (of `sender`, or of anyone) that `member`'s node handled, whatever the outcome."""
    url = f"http://127.0.0.1:{b.net.metrics_ports[member]}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "qiao_partials_received_total"
        and (sender is None or sample.labels.get("member") == str(sender))
    )


def copies_dropped(b: Bridge, member: int) -> float:
    """Copies of a message `member`'s transport had handed over already (the same topic and payload
    within its dedup window: relayer.core.dedup), dropped before any handler."""
    url = f"http://127.0.0.1:{b.net.metrics_ports[member]}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "qiao_broker_copies_dropped_total"
    )


def test_duplicated_reordered_and_late_partials_change_nothing(bridge: Bridge) -> None:
    b = bridge
    tap = Tap(b.net.mqtt_port, echo=True)  # the broker duplicates every partial while in flight
    try:
        assert tap.ready.wait(10)
        nonces = b.lock(4)
        b.settle()
        captured = list(tap.seen)
        assert {json.loads(p)["member"] for _, p in captured} == {1, 2, 3, 4}
        assert max(json.loads(p)["last"] for _, p in captured) == nonces[-1]
        before = {m: partials_from(b, m) + copies_dropped(b, m) for m in b.net.nodes}
        minted = b.minted()
        # the same genuine partials again, late (their batches executed), in reverse order, twice:
        # each copy is judged (late) or, the same bytes again within the dedup window, dropped
        tap.replay(list(reversed(captured)) * 2)
        for m in b.net.nodes:
            devnet.wait_until(
                lambda m=m: (
                    partials_from(b, m) + copies_dropped(b, m)  # type: ignore[misc]
                    >= before[m] + 2 * len(captured)
                ),
                60,
                f"member {m} to judge or drop every replayed partial",
            )
            late = b.metric(m, "qiao_partials_received_total", {"member": "1", "outcome": "late"})
            assert late > 0, f"member {m} did not count member 1's late partials"
            assert b.stale_partials(m) == 0, f"member {m} keeps partials of executed batches"
        assert b.minted() == minted
        b.settle()
    finally:
        tap.close()


def test_a_broker_stopped_mid_flow_and_restarted_executes_everything_once(bridge: Bridge) -> None:
    b = bridge
    members = sorted(b.net.nodes)
    reconnects = {m: b.metric(m, "qiao_mqtt_reconnects_total") for m in members}
    connects = {m: len(b.log_events(m, "mqtt_connected")) for m in members}
    first = b.lock(2)[0]  # in flight when the broker goes
    b.net.stop_broker()
    devnet.wait_until(lambda: not any(b.connected(m) for m in members), 60, "every member to lose the broker")
    later = b.lock(3)  # these need partials that cannot travel
    devnet.wait_until(
        lambda: all(b.signed_through(m) >= later[-1] for m in members),
        60,
        "every member to sign the new batches",
    )
    time.sleep(2 * REPUBLISH_INTERVAL)  # the outage lasts two more re-publication rounds
    assert not set(later) & set(b.executed_nonces()), "executed without a broker"
    for m in members:
        assert b.net.nodes[m].popen.poll() is None
        assert b.metric(m, "qiao_ready_check", {"check": "broker"}) == 0
        assert b.metric(m, "qiao_ready") == 0
        # re-published every round while the broker is away, each partial still waits only once
        assert b.metric(m, "qiao_mqtt_outbox_depth") <= b.signed_from(m, first)
    b.net.start_broker()
    devnet.wait_until(lambda: all(b.connected(m) for m in members), 90, "every member to reconnect")
    devnet.wait_until(lambda: all(b.metric(m, "qiao_ready") == 1 for m in members), 60, "every member ready")
    for m in members:
        assert b.metric(m, "qiao_mqtt_reconnects_total") > reconnects[m]
        assert len(b.log_events(m, "mqtt_connected")) > connects[m]
        assert b.log_events(m, "mqtt_disconnected")
        lines = b.net.nodes[m].log_path.read_text().splitlines()
        not_json = [line for line in lines if not line.startswith("{")]
        assert not not_json, f"member {m} logged lines that are not JSON: {not_json[:3]}"
    b.settle()


def test_a_partitioned_member_catches_up_once_the_partition_heals(bridge: Bridge) -> None:
    b = bridge
    cut = 1  # if first in turn for one of these batches (core.txmath.turn), the next takes over
    b.proxies[cut].stop()
    try:
        devnet.wait_until(lambda: not b.connected(cut), 60, f"member {cut} to lose the broker")
        nonces = b.lock(3)
        devnet.wait_until(
            lambda: b.minted() == sum(b.locked), 120, "the other three members to execute the locks"
        )
        assert b.executed_nonces() == list(range(1, nonces[-1] + 1))
        assert not b.connected(cut)
    finally:
        b.proxies[cut].start()
    devnet.wait_until(lambda: b.connected(cut), 90, f"member {cut} to reconnect")
    b.settle()
    assert b.signed(cut) == b.signed(2)


def test_a_member_behind_a_silent_partition_notices_by_timeout_and_rejoins(bridge: Bridge) -> None:
    b = bridge
    cut = 2
    heard = partials_from(b, 1, cut)
    b.proxies[cut].blackhole()  # its packets vanish: no reset, no refusal
    try:
        b.lock(2)
        devnet.wait_until(
            lambda: b.minted() == sum(b.locked), 120, "the other three members to execute the locks"
        )
        devnet.wait_until(lambda: not b.connected(cut), 90, f"member {cut} to notice the dead connection")
    finally:
        b.proxies[cut].heal()
    devnet.wait_until(lambda: b.connected(cut), 90, f"member {cut} to reconnect")
    b.lock(1)
    b.settle()
    assert partials_from(b, 1, cut) > heard, f"member 1 never heard member {cut} again"


def test_two_partitioned_members_stall_the_committee_without_divergence(bridge: Bridge) -> None:
    b = bridge
    cut, connected = (3, 4), (1, 2)
    executed_before = b.executed_nonces()
    aggregated_before = {m: b.metric(m, "qiao_batches_aggregated_total") for m in b.net.nodes}
    for m in cut:
        b.proxies[m].stop()
    try:
        devnet.wait_until(
            lambda: not any(b.connected(m) for m in cut), 60, f"members {cut} to lose the broker"
        )
        devnet.wait_until(
            lambda: all(b.metric(m, "qiao_committee_margin_members") == -1 for m in connected),
            60,
            "the connected members to see the committee one member short of t",
        )
        for m in connected:  # and say so: not ready, for want of a signing margin
            assert b.metric(m, "qiao_ready_check", {"check": "signing_margin"}) == 0
            assert b.metric(m, "qiao_ready") == 0
        nonces = b.lock(3)
        devnet.wait_until(
            lambda: all(b.signed_through(m) >= nonces[-1] for m in b.net.nodes),
            60,
            "every member to sign the new batches",
        )
        new = {s for s in b.signed(1) if s[3] >= nonces[0]}
        # the two connected members hold each other's partials of the new batches: 2 < t = 3
        for m in connected:
            other = connected[1 - connected.index(m)]

            def holds_other(m: int = m, other: int = other) -> bool:
                with b.db(m) as db:
                    rows = db.execute(
                        "SELECT first_nonce FROM partials WHERE member = ? AND first_nonce >= ?",
                        (other, nonces[0]),
                    ).fetchall()
                return {r[0] for r in rows} == {s[2] for s in new}

            devnet.wait_until(holds_other, 60, f"member {m} to hold member {other}'s partials")

        def duplicates(m: int) -> float:  # the other connected member's partials it already held
            other = connected[1 - connected.index(m)]
            labels = {"member": str(other), "outcome": "duplicate"}
            return b.metric(m, "qiao_partials_received_total", labels)

        held = {m: duplicates(m) for m in connected}
        devnet.wait_until(  # a whole re-publication round passes with two partials and no more
            lambda: all(duplicates(m) > held[m] for m in connected),
            60,
            "a re-publication round between the connected members",
        )
        assert b.executed_nonces() == executed_before, "executed with 2 of 4 members connected"
        for m in b.net.nodes:
            assert b.metric(m, "qiao_batches_aggregated_total") == aggregated_before[m]
            assert b.metric(m, "qiao_equivocations_refused_total") == 0
        # nothing diverged: every member signed the same batches with the same roots
        assert b.signed(1) == b.signed(2) == b.signed(3) == b.signed(4)
    finally:
        for m in cut:
            b.proxies[m].start()
    devnet.wait_until(lambda: all(b.connected(m) for m in cut), 90, f"members {cut} to reconnect")
    devnet.wait_until(
        lambda: all(b.metric(m, "qiao_committee_members_online") == 4 for m in b.net.nodes),
        60,
        "every member to see all four online again",
    )
    devnet.wait_until(
        lambda: all(b.metric(m, "qiao_ready") == 1 for m in b.net.nodes), 60, "every member ready"
    )
    b.settle()
    assert b.signed(1) == b.signed(2) == b.signed(3) == b.signed(4)


def test_all_members_killed_at_once_then_restarted_execute_every_transfer_once(bridge: Bridge) -> None:
    b = bridge
    members = sorted(b.net.nodes)
    a = b.lock(1)
    devnet.wait_until(lambda: a[-1] in b.executed_nonces(), 60, "the first lock executed")
    first = b.lock(2)[0]

    def in_flight() -> bool:  # the second batch signed, aggregated or submitted somewhere
        return any({"signed", "aggregated", "submitted"} & set(b.transfer_states(m, first)) for m in members)

    devnet.wait_until(in_flight, 60, "the second batch in flight", interval=0.05)
    b.lock(1)  # mined, not yet observed by anyone
    for m in members:
        b.net.nodes[m].popen.send_signal(signal.SIGKILL)
    for m in members:
        assert b.net.nodes[m].popen.wait(30) == -signal.SIGKILL
    at_kill = {m: b.transfer_states(m, a[-1]) for m in members}
    executed = b.executed_nonces()
    assert a[-1] in executed, at_kill
    assert len(b.locked) not in executed, at_kill  # the last lock at least was in flight
    for m in members:
        b.net.restart(m)
    devnet.wait_until(lambda: all(b.connected(m) for m in members), 90, "every member back on the broker")
    b.settle()
