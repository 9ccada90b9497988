"""Adversaries on the devnet (anvil x2, the TLS mosquitto with per-member credentials and ACL,
member processes 1..3): a byzantine member, strangers on the broker, malformed payloads, forged
and replayed batches sent straight to the destination contracts.

One devnet serves every scenario of this module, in order. Member 4 is not started: the test
plays it, over the members' TLS listener with member 4's real credentials and real key share.
Every scenario makes its own locks and ends with `settle`: every real lock executed exactly once,
nothing else minted, supply equal, the reconciler's verdict clean, the members alive.
"""

from __future__ import annotations

import json
import random
import sqlite3
import ssl
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from eth_account import Account
from eth_utils.crypto import keccak
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD

from committee.bls import CURVE_ORDER, g1_to_eip2537, get_backend
from committee.keyfile import load_key_file
from committee.threshold import KeyShare, combine, partial_sign
from harness import devnet
from relayer.core.calldata import execute_batch_call
from relayer.core.encoding import batch_message, batch_root, leaf_hash, merkle_proof
from relayer.core.messages import (
    MAX_PAYLOAD_BYTES,
    PartialMessage,
    heartbeat_topic,
    partial_topic,
    topic_root,
)
from relayer.core.signing import route_sequence
from relayer.core.types import Batch, BatchId, ChainId, Nonce, Route, Transfer
from relayer.ops.reconciler import reconcile
from relayer.provisioning import broker

pytestmark = pytest.mark.e2e
UNIT = 10**18
NETWORK = "devnet"
BYZANTINE = 4
C, E = ChainId(devnet.CONSORTIUM_CHAIN_ID), ChainId(devnet.ETHEREUM_CHAIN_ID)
C_TO_E = Route(C, E)
ARK = get_backend("arkworks")
IDENTITY_G1 = b"\xc0" + bytes(47)
OFF_CURVE_G1 = (0x80 << 376 | 1).to_bytes(48, "big")  # x = 1: x^3 + 4 has no square root mod p
OUTSIDE_SUBGROUP_G1 = b"\x80" + bytes(47)  # x = 0, y = 2: a point of order 3


# ---- the devnet, seen from outside -----------------------------------------------------------


@dataclass
class Bridge:
    net: devnet.Devnet
    wc: Web3
    we: Web3
    vault: Any
    asset: Any
    gateway: Any
    wrapped: Any
    amounts: dict[int, int] = field(default_factory=dict)  # nonce -> amount of every real lock
    transfers: dict[int, Transfer] = field(default_factory=dict)  # nonce -> transfer, from its event

    @property
    def honest(self) -> list[int]:
        return sorted(self.net.nodes)

    def next_transfer(self, amount: int) -> Transfer:
        """The transfer the next lock of `amount` will be (known before it is made)."""
        nonce = int(self.vault.functions.nextNonce(E).call())
        return Transfer(
            C,
            E,
            Nonce(nonce),
            self.asset.address,
            self.wrapped.address,
            devnet.dev_account(8).address,
            devnet.dev_account(9).address,
            amount,
        )

    def lock(self, amount: int) -> Transfer:
        """One lock of `amount` from alice to bob, mined; the transfer as its event says."""
        expected = self.next_transfer(amount)
        alice, bob = devnet.dev_account(8), devnet.dev_account(9)
        receipt = devnet.send(
            self.wc, alice, self.vault.functions.lock(self.asset.address, E, bob.address, amount)
        )
        [event] = self.vault.events.TransferInitiated().process_receipt(receipt, errors=DISCARD)
        seen = Transfer(
            C,
            ChainId(event["args"]["dstChainId"]),
            Nonce(event["args"]["nonce"]),
            event["args"]["srcToken"],
            event["args"]["dstToken"],
            event["args"]["sender"],
            event["args"]["recipient"],
            event["args"]["amount"],
        )
        assert seen == expected
        self.amounts[seen.nonce] = amount
        self.transfers[seen.nonce] = seen
        return seen

    def lock_many(self, amounts: list[int]) -> list[Transfer]:
        """Locks sent back to back (the same block or the next ones), all mined."""
        alice, bob = devnet.dev_account(8), devnet.dev_account(9)
        first = self.next_transfer(amounts[0])
        hashes = [
            devnet.send(
                self.wc, alice, self.vault.functions.lock(self.asset.address, E, bob.address, a), wait=False
            )
            for a in amounts
        ]
        transfers = []
        for offset, (tx_hash, amount) in enumerate(zip(hashes, amounts, strict=True)):
            receipt = self.wc.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
            assert receipt["status"] == 1
            [event] = self.vault.events.TransferInitiated().process_receipt(receipt, errors=DISCARD)
            t = Transfer(
                C,
                E,
                Nonce(first.nonce + offset),
                first.src_token,
                first.dst_token,
                first.sender,
                first.recipient,
                amount,
            )
            assert (event["args"]["nonce"], event["args"]["amount"]) == (t.nonce, t.amount)
            self.amounts[t.nonce] = amount
            self.transfers[t.nonce] = t
            transfers.append(t)
        return transfers

    def executed(self, nonce: int) -> bool:
        return bool(self.gateway.functions.isExecuted(C, nonce).call())

    def wait_executed(self, nonce: int, timeout: float = 60) -> None:
        devnet.wait_until(lambda: self.executed(nonce), timeout, f"lock {nonce} executed on Ethereum")

    def minted(self) -> int:
        return int(self.wrapped.functions.balanceOf(devnet.dev_account(9).address).call())

    def balances(self) -> tuple[int, int, int]:
        """(wrapped supply, bob's wrapped balance, the vault's locked balance)."""
        return (
            int(self.wrapped.functions.totalSupply().call()),
            self.minted(),
            int(self.asset.functions.balanceOf(self.vault.address).call()),
        )

    def executed_events(self) -> list[tuple[int, int]]:
        logs = self.gateway.events.TransferExecuted().get_logs(from_block=self.net.deployment.ethereum_block)
        return sorted((int(e["args"]["nonce"]), int(e["args"]["amount"])) for e in logs)

    # ---- members ---------------------------------------------------------------------------

    def db(self, member: int) -> sqlite3.Connection:
        path = self.net.run_dir / f"node-{member}" / "data" / "qiao.sqlite3"
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)

    def signed_roots(self, member: int) -> dict[tuple[int, int], bytes]:
        """(first, last) -> root of every C->E batch the member signed."""
        with self.db(member) as db:
            rows = db.execute(
                "SELECT span_first, span_last, content FROM signed_items WHERE kind='batch' AND sequence=?",
                (route_sequence(Route(C, E)),),
            ).fetchall()
        return {(int(f), int(la)): bytes(r) for f, la, r in rows}

    def aggregated(self, member: int) -> list[tuple[int, int, bytes]]:
        """(first, last, signature) of the C->E batches the member combined a signature for."""
        with self.db(member) as db:
            rows = db.execute(
                "SELECT first_nonce, last_nonce, signature FROM batches WHERE src_chain_id=? "
                "AND dst_chain_id=? AND signature IS NOT NULL ORDER BY first_nonce",
                (C, E),
            ).fetchall()
        return [(int(f), int(la), bytes(s)) for f, la, s in rows]

    def metric(self, member: int, name: str, labels: dict[str, str] | None = None) -> float:
        return self.net.metric(member, name, labels) or 0.0

    def partials(self, member: int, sender: int | str, outcome: str) -> float:
        labels = {"member": str(sender), "outcome": outcome}
        return self.metric(member, "qiao_partials_received_total", labels)

    def rejected(self, member: int) -> float:
        return self.metric(member, "qiao_mqtt_messages_rejected_total")

    def log_events(self, member: int, event: str) -> list[dict[str, Any]]:
        return self.net.nodes[member].events(event)

    def share(self, member: int) -> KeyShare:
        return load_key_file(self.net.run_dir / "keys" / f"member-{member}.json")

    def group_sign(self, message: bytes) -> bytes:
        """A threshold signature of the committee's key on `message` (from t members' key files): what
        a signature the committee made for another domain looks like."""
        shares = [self.share(m) for m in (1, 2, 3)]
        return combine(shares[0].public, {s.index: partial_sign(s, message, ARK) for s in shares}, ARK)

    # ---- the end of every scenario ---------------------------------------------------------

    def settle(self, timeout: float = 90) -> None:
        """Every real lock executed exactly once, nothing else minted, supply equal, the
        reconciler's verdict clean, the honest members alive and agreeing on what they signed."""
        total = sum(self.amounts.values())
        devnet.wait_until(lambda: self.minted() == total, timeout, f"{len(self.amounts)} locks minted")
        assert self.executed_events() == sorted(self.amounts.items())
        supply, minted, locked = self.balances()
        assert supply == minted == locked == total
        verdict = reconcile(self.net.deployment, settled=True)
        assert verdict.ok, verdict.violations
        assert verdict.counts.get("executed", 0) == len(self.amounts)
        for m, proc in self.net.nodes.items():
            assert proc.popen.poll() is None, f"member {m} died; see {proc.log_path}"
            assert self.metric(m, "qiao_equivocations_refused_total") == 0
            assert not self.log_events(m, "pipeline_error"), f"member {m} logged a pipeline error"


def node_config(net: devnet.Devnet, member: int) -> dict[str, Any]:
    return tomllib.loads(net.configs[member].read_text())


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    run_dir = tmp_path_factory.mktemp("adversarial") / "net"
    with devnet.devnet(run_dir, down=(BYZANTINE,), block_time=0.5, metrics=True) as net:
        dep = net.deployment
        wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))
        b = Bridge(
            net,
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
            lambda: all(b.metric(m, "qiao_mqtt_connected") == 1 for m in net.nodes),
            60,
            "every member connected to the broker",
        )
        yield b


# ---- MQTT clients ------------------------------------------------------------------------------


class Client:
    """A paho client on the devnet's broker that records what it receives on the committee's topics.

    `tls=True` is the members' listener (`credentials` = (user, password) or None); otherwise the
    plaintext tooling listener, where anyone is let in (the devnet's, not production's)."""

    def __init__(
        self, b: Bridge, *, tls: bool, credentials: tuple[str, str] | None = None, subscribe: bool = True
    ) -> None:
        self.connected = threading.Event()
        self.refused = threading.Event()
        self.disconnected = threading.Event()
        self.reason: str = ""
        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribe = subscribe
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *_: self.disconnected.set()
        if tls:
            port = int(node_config(b.net, 1)["mqtt"]["port"])
            self.client.tls_set(
                ca_certs=str(b.net.run_dir / "broker" / "ca.crt"), cert_reqs=ssl.CERT_REQUIRED
            )
        else:
            port = b.net.mqtt_port
        if credentials is not None:
            self.client.username_pw_set(*credentials)
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.reason = str(reason)
        if reason.is_failure:
            self.refused.set()
            return
        if self._subscribe:
            client.subscribe(f"{topic_root(NETWORK)}/#", qos=1)
        self.connected.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((message.topic, bytes(message.payload)))

    def wait_connected(self) -> None:
        assert self.connected.wait(20), f"not connected: {self.reason}"

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)

    def got(self, topic: str, payload: bytes) -> bool:
        with self._lock:
            return (topic, payload) in self.received

    def partials_of(self, member: int, first: int) -> list[PartialMessage]:
        topic = partial_topic(NETWORK, member)
        with self._lock:
            payloads = [p for t, p in self.received if t == topic]
        found = [PartialMessage.parse(topic, p, NETWORK) for p in payloads]
        return [m for m in found if m.batch.first_nonce == first]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def byzantine_client(b: Bridge) -> Client:
    password = (b.net.run_dir / "broker" / f"{broker.username(BYZANTINE)}.password").read_text().strip()
    client = Client(b, tls=True, credentials=(broker.username(BYZANTINE), password))
    client.wait_connected()
    return client


def partial_payload(
    bid: BatchId, message: bytes, partial: bytes, *, member: int = BYZANTINE, epoch: int = 1
) -> bytes:
    return PartialMessage(member, bid, epoch, b"\x00" * 32, message, partial).to_payload()


# ---- 1. strangers on the broker --------------------------------------------------------------


def test_the_tls_listener_refuses_non_members_and_the_acl_keeps_a_member_to_its_own_topics(
    bridge: Bridge,
) -> None:
    b = bridge
    password = (b.net.run_dir / "broker" / f"{broker.username(BYZANTINE)}.password").read_text().strip()
    for credentials in [None, (broker.username(BYZANTINE), password + "x"), ("member-9", password), ("", "")]:
        client = Client(b, tls=True, credentials=credentials, subscribe=False)
        try:
            assert client.refused.wait(20), f"{credentials!r} was not refused"
            assert not client.connected.is_set()
        finally:
            client.close()
    # a member's credentials: refused anything but its own topics (the ACL drops the rest)
    tap = Client(b, tls=False)
    m4 = byzantine_client(b)
    try:
        tap.wait_connected()
        forged = [
            (partial_topic(NETWORK, 1), b'{"forged": "partial of member 1"}'),
            (heartbeat_topic(NETWORK, 2), b'{"forged": "heartbeat of member 2"}'),
            (heartbeat_topic(NETWORK, 9), b'{"forged": "heartbeat of member 9"}'),
        ]
        for topic, payload in forged:
            m4.publish(topic, payload)
        marker = (partial_topic(NETWORK, BYZANTINE), b'{"marker": "member 4 on its own topic"}')
        m4.publish(*marker)
        devnet.wait_until(lambda: tap.got(*marker), 20, "member 4's message on its own topic")
        for topic, payload in forged:
            assert not tap.got(topic, payload), f"the broker let member 4 publish on {topic}"
            assert not m4.got(topic, payload)
    finally:
        tap.close()
        m4.close()
    b.settle()


def test_a_stranger_on_the_tooling_listener_is_refused_by_content_checks(bridge: Bridge) -> None:
    b = bridge
    transfer = b.next_transfer(5 * UNIT)
    batch = gateway_batch(b, transfer)
    message = batch_message(batch)
    stranger_sig = ARK.sign(random.Random(9).randrange(1, CURVE_ORDER), message)
    invalid = {m: {s: b.partials(m, s, "invalid") for s in (1, 2, 3)} for m in b.honest}
    own = {m: b.partials(m, m, "own") for m in b.honest}
    not_member = {m: b.partials(m, "unknown", "not_member") for m in b.honest}
    rejected = {m: b.rejected(m) for m in b.honest}
    fake_beats = [
        (heartbeat_topic(NETWORK, 9), {"member": 9, "status": "online", "ts": 1}),
        (heartbeat_topic(NETWORK, 5), {"member": 5, "status": "online", "ts": 1}),
        (f"{topic_root(NETWORK)}/heartbeat/0", {"member": 0, "status": "online", "ts": 1}),
        (heartbeat_topic(NETWORK, 1), {"member": 7, "status": "offline", "ts": 1}),
    ]
    stranger = Client(b, tls=False)
    try:
        stranger.wait_connected()
        # before the lock: partials under each honest member's id, signed by the stranger's own key
        for member in (1, 2, 3):
            payload = partial_payload(batch.id, message, stranger_sig, member=member)
            stranger.publish(partial_topic(NETWORK, member), payload)
        stranger.publish(
            partial_topic(NETWORK, 9), partial_payload(batch.id, message, stranger_sig, member=9)
        )
        for topic, beat in fake_beats:
            stranger.publish(topic, json.dumps(beat).encode(), retain=True)
        b.lock(transfer.amount)  # needs all three honest partials: the stranger's took no place
        b.wait_executed(transfer.nonce)
        for m in b.honest:
            devnet.wait_until(
                lambda m=m: b.rejected(m) >= rejected[m] + len(fake_beats),  # type: ignore[misc]
                20,
                f"member {m} to reject the fake heartbeats",
            )
            for s in (1, 2, 3):
                outcome, count = ("own", own[m]) if s == m else ("invalid", invalid[m][s])
                devnet.wait_until(
                    lambda m=m, s=s, o=outcome, c=count: b.partials(m, s, o) == c + 1,  # type: ignore[misc]
                    20,
                    f"member {m} to count the stranger's partial under member {s} as {outcome}",
                )
            assert b.partials(m, "unknown", "not_member") == not_member[m] + 1
            devnet.wait_until(
                lambda m=m: b.metric(m, "qiao_committee_members_online") == 3,  # type: ignore[misc]
                20,
                f"member {m} to count the three running members online",
            )
            assert b.metric(m, "qiao_committee_margin_members") == 0
    finally:
        for topic, _ in fake_beats:
            stranger.publish(topic, b"", retain=True)  # clear the retained fakes
        stranger.close()
    b.settle()


# ---- 2. malformed and oversized payloads -------------------------------------------------------


def malformed() -> list[tuple[str, bytes]]:
    """(topic, payload) pairs every node must reject, count and survive."""
    good = json.loads(partial_payload(BatchId(C_TO_E, Nonce(1), Nonce(1)), b"\x01" * 32, b"\x02" * 48))

    def mutated(**changes: Any) -> bytes:
        return json.dumps({**good, **changes}).encode()

    partial_4 = partial_topic(NETWORK, BYZANTINE)
    heartbeat_4 = heartbeat_topic(NETWORK, BYZANTINE)
    return [
        (partial_4, b"[" * 2000),
        (partial_4, b'{"v":' * 300 + b"1" + b"}" * 300),
        (partial_4, mutated(member="4")),
        (partial_4, mutated(first=1.5)),
        (partial_4, mutated(partial=12345)),
        (partial_4, mutated(root=None)),
        (partial_4, mutated(message=["0x" + "01" * 32])),
        (partial_4, mutated(first=10**600)),
        (partial_4, mutated(epoch=2**64)),
        (partial_4, mutated(last=-1)),
        (partial_4, b'{"v": 1, "type": "partial", "member": NaN}'),
        (partial_4, b'{"v": 1, "type": "partial\xe9", "member": 4}'),
        (partial_4, b"\xff\xfe" + json.dumps(good).encode()),
        (partial_4, json.dumps(good).encode() + b" " * MAX_PAYLOAD_BYTES),
        (partial_4, mutated(extra={"nested": [1, 2, 3]})),
        (partial_4, b""),
        (f"{topic_root(NETWORK)}/partial/\u00b2", json.dumps({**good, "member": 2}).encode()),
        (f"{topic_root(NETWORK)}/partial/\u0664", json.dumps(good).encode()),
        (heartbeat_4, b"[" * 60_000),  # heartbeats are bounded too, before they are parsed
        (heartbeat_4, b'{"status": "online"}'),
        (heartbeat_4, json.dumps({"member": 4, "status": "online", "ts": 1, "extra": 1}).encode()),
        (heartbeat_4, json.dumps({"member": 4, "status": "online", "ts": "x" * 1000}).encode()),
        (heartbeat_4, b"\xc3\x28"),
    ]


def test_malformed_and_oversized_payloads_are_rejected_counted_and_survived(bridge: Bridge) -> None:
    b = bridge
    rejected = {m: b.rejected(m) for m in b.honest}
    payloads = malformed()
    # beyond the broker's max_packet_size: the broker drops the sender, no member sees it
    huge = Client(b, tls=False, subscribe=False)
    huge.wait_connected()
    huge.client.publish(partial_topic(NETWORK, BYZANTINE), b"x" * 70_000, qos=0)
    assert huge.disconnected.wait(20), "the broker did not drop the oversized sender"
    huge.close()
    stranger = Client(b, tls=False)
    m4 = byzantine_client(b)
    try:
        stranger.wait_connected()
        for topic, payload in payloads:
            stranger.publish(topic, payload)
        # a member's credentials too (other bytes than the stranger's: the same topic and payload
        # again within the dedup window is a copy, dropped before it is parsed or counted)
        m4.publish(partial_topic(NETWORK, BYZANTINE), b"[" * 1999)
        expected = len(payloads) + 1
        for m in b.honest:
            devnet.wait_until(
                lambda m=m: b.rejected(m) >= rejected[m] + expected,  # type: ignore[misc]
                20,
                f"member {m} to reject {expected} malformed messages",
            )
            assert b.rejected(m) == rejected[m] + expected  # each counted once, nothing else
            reasons = [e["reason"] for e in b.log_events(m, "mqtt_message_rejected")]
            assert any("exceeds" in r for r in reasons)
            assert any("does not end in a member index" in r for r in reasons)
    finally:
        stranger.close()
        m4.close()
    transfer = b.lock(6 * UNIT)  # and they go on
    b.wait_executed(transfer.nonce)
    b.settle()


# ---- 3. a byzantine member ---------------------------------------------------------------------


def bad_partials(b: Bridge, share: KeyShare, batch: Batch, other: bytes) -> list[tuple[str, bytes]]:
    """(kind, payload) of everything a byzantine member 4 can send for `batch` that must not count:
    `other` is the message of another, real batch (member 4's valid partial on it is replayed)."""
    bid = batch.id
    message = batch_message(batch)
    rng = random.Random(bid.first_nonce)
    fabricated = Transfer(
        C,
        E,
        Nonce(bid.last_nonce + 1),
        b.asset.address,
        b.wrapped.address,
        devnet.dev_account(8).address,
        devnet.dev_account(7).address,
        1_000_000 * UNIT,
    )
    with_fabricated = Batch((*batch.transfers, fabricated), batch.dst_contract, 1)
    alone = Batch((fabricated,), batch.dst_contract, 1)
    epoch_2 = Batch(batch.transfers, batch.dst_contract, 2)
    return [
        ("random-bytes", partial_payload(bid, message, rng.randbytes(48))),
        ("not-on-the-curve", partial_payload(bid, message, OFF_CURVE_G1)),
        ("not-in-the-subgroup", partial_payload(bid, message, OUTSIDE_SUBGROUP_G1)),
        ("identity", partial_payload(bid, message, IDENTITY_G1)),
        (
            "a-valid-point-not-a-signature",
            partial_payload(bid, message, ARK.sign(rng.randrange(1, CURVE_ORDER), message)),
        ),
        ("another-batch", partial_payload(bid, other, partial_sign(share, other, ARK))),
        (
            "another-batchs-partial-as-this-one",
            partial_payload(bid, message, partial_sign(share, other, ARK)),
        ),
        (
            "wrong-key-epoch",
            partial_payload(
                bid, batch_message(epoch_2), partial_sign(share, batch_message(epoch_2), ARK), epoch=2
            ),
        ),
        (
            "epoch-2-message-as-epoch-1",
            partial_payload(bid, batch_message(epoch_2), partial_sign(share, batch_message(epoch_2), ARK)),
        ),
        (
            "fabricated-lock-in-the-batch",
            partial_payload(
                with_fabricated.id,
                batch_message(with_fabricated),
                partial_sign(share, batch_message(with_fabricated), ARK),
            ),
        ),
        (
            "fabricated-lock-alone",
            partial_payload(alone.id, batch_message(alone), partial_sign(share, batch_message(alone), ARK)),
        ),
    ]


def gateway_batch(b: Bridge, *transfers: Transfer) -> Batch:
    return Batch(tuple(transfers), b.gateway.address, 1)


def test_a_byzantine_member_gets_nothing_executed_and_never_stalls_the_honest_members(bridge: Bridge) -> None:
    b = bridge
    share = b.share(BYZANTINE)
    m4 = byzantine_client(b)
    try:
        warmup = b.lock(1 * UNIT)  # a real batch whose message member 4 replays below
        b.wait_executed(warmup.nonce)
        other = batch_message(gateway_batch(b, warmup))
        before = {m: b.partials(m, BYZANTINE, "invalid") for m in b.honest}
        epoch_before = {m: b.partials(m, BYZANTINE, "wrong_epoch") for m in b.honest}
        for _ in range(2):
            transfer = b.next_transfer(2 * UNIT)
            batch = gateway_batch(b, transfer)
            bad = bad_partials(b, share, batch, other)
            for _, payload in bad:  # before the lock happened, so before any honest partial
                m4.publish(partial_topic(NETWORK, BYZANTINE), payload)
            b.lock(transfer.amount)
            devnet.wait_until(
                lambda t=transfer: bool(m4.partials_of(1, t.nonce)),  # type: ignore[misc]
                30,
                "member 1's partial on the real batch",
            )
            for _, payload in bad:  # interleaved with the honest partials
                m4.publish(partial_topic(NETWORK, BYZANTINE), payload)
            b.wait_executed(transfer.nonce)
        # the fabricated locks never execute, and every real one did, exactly once
        last = max(b.amounts)
        assert not any(b.executed(n) for n in range(last + 1, last + 3))
        b.settle()
        for m in b.honest:
            # kept out at once or when the batch was cut; never aggregated with
            devnet.wait_until(
                lambda m=m: b.partials(m, BYZANTINE, "invalid") >= before[m] + 2 * 7,  # type: ignore[misc]
                20,
                f"member {m} to count member 4's invalid partials",
            )
            # the wrong-epoch partial of each round is counted at least once: its second publication
            # is byte-identical, so within the brokers' dedup window (2 s) it is a copy, dropped uncounted
            assert b.partials(m, BYZANTINE, "wrong_epoch") >= epoch_before[m] + 2
            assert b.log_events(m, "partial_invalid")
            # what the honest members signed is exactly the real batches
            roots = b.signed_roots(m)
            for (first, last_nonce), root in roots.items():
                real = [b.transfers[n] for n in range(first, last_nonce + 1)]
                assert root == batch_root(gateway_batch(b, *real))
            assert max(la for _, la in roots) <= max(b.amounts)
            for _, last_nonce, _ in b.aggregated(m):
                assert last_nonce <= max(b.amounts)
    finally:
        m4.close()


def test_invalid_partials_before_or_between_never_block_the_same_members_valid_one(bridge: Bridge) -> None:
    """With member 3 stopped, members 1 and 2 need member 4's partial: whatever member 4 sent for
    the batch first or in between, its valid partial sent later is used."""
    b = bridge
    share = b.share(BYZANTINE)
    other = keccak(b"the message of some other batch")
    m4 = byzantine_client(b)
    b.net.nodes[3].stop()
    try:
        # everything bad, then the valid partial, all before the lock (before anyone cut the batch)
        first = b.next_transfer(3 * UNIT)
        batch = gateway_batch(b, first)
        for _, payload in bad_partials(b, share, batch, other):
            m4.publish(partial_topic(NETWORK, BYZANTINE), payload)
        valid = partial_payload(
            batch.id, batch_message(batch), partial_sign(share, batch_message(batch), ARK)
        )
        m4.publish(partial_topic(NETWORK, BYZANTINE), valid)
        b.lock(first.amount)
        b.wait_executed(first.nonce)

        # bad before the lock and again between the honest partials; the valid one last
        second = b.next_transfer(4 * UNIT)
        batch = gateway_batch(b, second)
        bad = bad_partials(b, share, batch, other)
        for _, payload in bad:
            m4.publish(partial_topic(NETWORK, BYZANTINE), payload)
        b.lock(second.amount)
        devnet.wait_until(
            lambda: all(m4.partials_of(m, second.nonce) for m in (1, 2)),
            30,
            "members 1 and 2 to sign the real batch",
        )
        for _, payload in bad:
            m4.publish(partial_topic(NETWORK, BYZANTINE), payload)
        assert not b.executed(second.nonce)  # two valid partials cannot sign it
        valid = partial_payload(
            batch.id, batch_message(batch), partial_sign(share, batch_message(batch), ARK)
        )
        m4.publish(partial_topic(NETWORK, BYZANTINE), valid)
        b.wait_executed(second.nonce)
        # aggregation goes by turn (relayer.pipeline.aggregator): the first of members 1 and 2 in
        # the batch's turns combines it, the other only if it is not sent when its own turn comes
        combined = [
            e
            for m in (1, 2)
            for e in b.log_events(m, "batch_aggregated")
            if e.get("batch", "").endswith(f"#{second.nonce}-{second.nonce}")
        ]
        assert combined, f"neither member 1 nor 2 combined a signature for lock {second.nonce}"
        assert all(e["members"] == [1, 2, BYZANTINE] for e in combined)
    finally:
        m4.close()
        b.net.restart(3)
    devnet.wait_until(lambda: b.metric(3, "qiao_mqtt_connected") == 1, 60, "member 3 back on the broker")
    b.settle()


# ---- 4. forged and replayed batches sent straight to the contracts -----------------------------


def selector(signature: str) -> str:
    return "0x" + keccak(signature.encode())[:4].hex()


INVALID_SIGNATURE = selector("InvalidSignature()")
IDENTITY_SIGNATURE = selector("IdentitySignature()")
UNKNOWN_KEY_EPOCH = selector("UnknownKeyEpoch(uint64)")
BATCH_ALREADY_EXECUTED = selector("BatchAlreadyExecuted(uint256,uint64,uint64)")
ALREADY_EXECUTED = selector("AlreadyExecuted(uint256,uint64)")
WRONG_DESTINATION_CHAIN = selector("WrongDestinationChain(uint256,uint256)")


@dataclass(frozen=True)
class Attempt:
    """One transaction an attacker sends: `batch` with `signature` to the endpoint on `chain`
    (48-byte compressed, or passed unchanged, e.g. the 128-byte EIP-2537 identity)."""

    what: str
    chain: str  # "ethereum" or "consortium"
    batch: Batch
    signature: bytes
    error: str


def send_attempts(b: Bridge, attacker: Any, attempts: list[Attempt]) -> list[tuple[str, str | None, int]]:
    """Each attempt built by the relayer's own `execute_batch_call` and sent as a transaction (fixed
    gas, no estimate); returns (what, the revert selector of an eth_call, the receipt's status)."""
    results: list[tuple[str, str | None, int]] = []
    for name, w3, endpoint in (("ethereum", b.we, b.gateway), ("consortium", b.wc, b.vault)):
        nonce = w3.eth.get_transaction_count(attacker.address, "pending")
        base = int(w3.eth.get_block("latest")["baseFeePerGas"])
        sent = []
        for attempt in (a for a in attempts if a.chain == name):
            fn = execute_batch_call(endpoint, attempt.batch, attempt.signature)
            error: str | None = None
            try:
                fn.call({"from": attacker.address})
            except ContractCustomError as exc:
                error = str(exc.data)[:10]
            tx = fn.build_transaction(
                {
                    "from": attacker.address,
                    "nonce": nonce,
                    "gas": 2_000_000,
                    "maxFeePerGas": 2 * base + 10**9,
                    "maxPriorityFeePerGas": 10**9,
                    "chainId": w3.eth.chain_id,
                }
            )
            nonce += 1
            sent.append(
                (
                    attempt.what,
                    error,
                    w3.eth.send_raw_transaction(attacker.sign_transaction(tx).raw_transaction),
                )
            )
        for what, error, tx_hash in sent:
            receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
            results.append((what, error, int(receipt["status"])))
    return results


def test_forged_and_replayed_batches_revert_on_the_destination_and_change_nothing(bridge: Bridge) -> None:
    b = bridge
    attacker = Account.from_key(devnet.dev_account(10).key)
    # real locks, executed by the committee: one alone, then two sent back to back (one batch, or two)
    alone = b.lock(6 * UNIT)
    b.wait_executed(alone.nonce)
    lead, _ = b.lock_many([7 * UNIT, 8 * UNIT])
    b.wait_executed(lead.nonce)  # both: in two batches, the second may execute first
    b.wait_executed(lead.nonce + 1)
    batches = {(f, la): sig for m in b.honest for f, la, sig in b.aggregated(m)}
    (f, la), signature = max(
        ((k, s) for k, s in batches.items() if k[0] <= lead.nonce <= k[1]), key=lambda kv: kv[0][0]
    )
    real = gateway_batch(b, *(b.transfers[n] for n in range(f, la + 1)))
    assert ARK.verify(b.share(1).public.group_public_key, batch_message(real), signature)
    other_signature = batches[(alone.nonce, alone.nonce)]

    # a lock that never happened, to the attacker, far ahead of the real nonces
    fake = Transfer(
        C,
        E,
        Nonce(max(b.amounts) + 100),
        b.asset.address,
        b.wrapped.address,
        devnet.dev_account(8).address,
        attacker.address,
        10**6 * UNIT,
    )
    fabricated = gateway_batch(b, fake)
    epoch_2 = Batch(fabricated.transfers, b.gateway.address, 2)
    other_contract = Batch(fabricated.transfers, b.wrapped.address, 1)
    random_point = ARK.sign(random.Random(11).randrange(1, CURVE_ORDER), b"not the batch")
    # the real batch relabelled as consortium-bound, for the vault
    relabelled = Batch(
        tuple(
            Transfer(E, C, t.nonce, t.dst_token, t.src_token, t.recipient, t.sender, t.amount)
            for t in real.transfers
        ),
        b.vault.address,
        1,
    )
    attempts = [
        Attempt("random valid G1 point", "ethereum", fabricated, random_point, INVALID_SIGNATURE),
        Attempt("another batch's signature", "ethereum", fabricated, other_signature, INVALID_SIGNATURE),
        Attempt(
            "signed under key epoch 2, sent as 1",
            "ethereum",
            fabricated,
            b.group_sign(batch_message(epoch_2)),
            INVALID_SIGNATURE,
        ),
        Attempt(
            "signed and sent under key epoch 2",
            "ethereum",
            epoch_2,
            b.group_sign(batch_message(epoch_2)),
            UNKNOWN_KEY_EPOCH,
        ),
        Attempt(
            "signed for another contract",
            "ethereum",
            fabricated,
            b.group_sign(batch_message(other_contract)),
            INVALID_SIGNATURE,
        ),
        Attempt("the identity", "ethereum", fabricated, bytes(128), IDENTITY_SIGNATURE),
        Attempt("replay of an executed batch", "ethereum", real, signature, BATCH_ALREADY_EXECUTED),
        Attempt("a C->E batch replayed on the vault", "consortium", real, signature, WRONG_DESTINATION_CHAIN),
        Attempt(
            "its signature on the batch relabelled E->C",
            "consortium",
            relabelled,
            signature,
            INVALID_SIGNATURE,
        ),
    ]
    before = b.balances()
    executed_before = b.executed_events()
    results = send_attempts(b, attacker, attempts)
    assert [(w, e) for w, e, _ in results] == [
        (a.what, a.error) for a in attempts if a.chain == "ethereum"
    ] + [(a.what, a.error) for a in attempts if a.chain == "consortium"]
    assert all(status == 0 for _, _, status in results)

    # one transfer with its Merkle proof: of the executed batch (consumed already), and the
    # fabricated one under a forged signature
    leaves = [leaf_hash(t) for t in real.transfers]
    index = lead.nonce - f
    single = [
        (real.transfers[index], f, la, merkle_proof(leaves, index), signature, ALREADY_EXECUTED),
        (fake, fake.nonce, fake.nonce, [], random_point, INVALID_SIGNATURE),
    ]
    for transfer, first, last, proof, sig, expected in single:
        call = b.gateway.functions.executeTransfer(
            1, transfer.as_abi_tuple(), first, last, proof, g1_to_eip2537(sig)
        )
        with pytest.raises(ContractCustomError) as exc:
            call.call({"from": attacker.address})
        assert str(exc.value.data).startswith(expected)
        tx = call.build_transaction(
            {
                "from": attacker.address,
                "gas": 1_000_000,
                "nonce": b.we.eth.get_transaction_count(attacker.address),
            }
        )
        receipt = b.we.eth.wait_for_transaction_receipt(
            b.we.eth.send_raw_transaction(attacker.sign_transaction(tx).raw_transaction), timeout=60
        )
        assert receipt["status"] == 0

    assert b.balances() == before
    assert b.executed_events() == executed_before
    assert b.wrapped.functions.balanceOf(attacker.address).call() == 0
    assert not b.executed(fake.nonce)
    # the honest members keep executing new locks
    transfer = b.lock(9 * UNIT)
    b.wait_executed(transfer.nonce)
    b.settle()
