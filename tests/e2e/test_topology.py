"""The committee as a multi-host deployment: each member, each broker and each chain's RPC in its
own network namespace (harness/netns.py), joined by veth links; partitions by taking links down,
WAN latency from the members' delay proxies (the kernel has no netem).

One topology serves every scenario of this module, in order: anvil x2, two independent
production-configured mosquittos (b1, b2; TLS, one credential per member, each its own CA), n = 4
member processes (t = 3) each listing both brokers. Each scenario locks its own transfers, heals
what it broke and ends with `settle`: everything locked so far executed exactly once, every
member's store agreeing, the supply backed and the reconciler content.

Skipped, with the reason, where namespaces cannot be made (not root, no iproute2).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from web3 import HTTPProvider, Web3

from harness import devnet, netns
from relayer.ops.reconciler import reconcile

UNAVAILABLE = netns.unavailable()  # at collection: the reason the module skips, if any
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(UNAVAILABLE is not None, reason=f"network namespaces: {UNAVAILABLE}"),
]
UNIT = 10**18
REPUBLISH_INTERVAL = 2.0  # committee.republish_interval of the devnet's members
BROKERS = ("b1", "b2")


@dataclass
class Bridge:
    topo: netns.Topology
    wc: Web3
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
            fn = self.vault.functions.lock(self.asset.address, devnet.ETHEREUM_CHAIN_ID, bob.address, amount)
            last_tx = devnet.send(self.wc, alice, fn, wait=False)
        self.wc.eth.wait_for_transaction_receipt(last_tx, timeout=60)
        return list(range(first, first + count))

    def executed_nonces(self) -> list[int]:
        events = self.gateway.events.TransferExecuted().get_logs(
            from_block=self.topo.deployment.ethereum_block
        )
        return sorted(int(e["args"]["nonce"]) for e in events)

    def minted(self) -> int:
        return int(self.wrapped.functions.balanceOf(devnet.dev_account(9).address).call())

    # ---- member side -----------------------------------------------------------------------

    def db(self, member: int) -> sqlite3.Connection:
        path = self.topo.run_dir / f"node-{member}" / "data" / "qiao.sqlite3"
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)

    def transfer_states(self, member: int) -> dict[str, int]:
        with self.db(member) as db:
            return dict(db.execute("SELECT state, COUNT(*) FROM transfers GROUP BY state").fetchall())

    def signed(self, member: int) -> set[tuple[str, int, int, str]]:
        """(route, first, last, root) of every batch this member signed."""
        with self.db(member) as db:
            rows = db.execute(
                "SELECT sequence, span_first, span_last, content FROM signed_items WHERE kind='batch'"
            ).fetchall()
        return {(str(s), int(a), int(b), bytes(r).hex()) for s, a, b, r in rows}

    def signed_through(self, member: int) -> int:
        with self.db(member) as db:
            (last,) = db.execute(
                "SELECT COALESCE(MAX(span_last), 0) FROM signed_items WHERE kind='batch'"
            ).fetchone()
            return int(last)

    def holds_partial(self, member: int, sender: int, first_nonce: int) -> bool:
        """Whether `member` holds `sender`'s partial for the batch starting at `first_nonce`."""
        with self.db(member) as db:
            row = db.execute(
                "SELECT 1 FROM partials WHERE member = ? AND first_nonce = ?", (sender, first_nonce)
            ).fetchone()
        return row is not None

    def metric(self, member: int, name: str, labels: dict[str, str] | None = None) -> float:
        return self.topo.metric(member, name, labels) or 0.0

    def partials_from(self, member: int, sender: int) -> float:
        """Partials of `sender` that `member` handled, whatever the outcome."""
        from prometheus_client.parser import text_string_to_metric_families

        return sum(
            sample.value
            for family in text_string_to_metric_families(self.topo.metrics_text(member))
            for sample in family.samples
            if sample.name == "qiao_partials_received_total" and sample.labels.get("member") == str(sender)
        )

    def reaches_all(self, member: int) -> bool:
        return all(self.topo.reaches(member, b) for b in BROKERS)

    # ---- the end of every scenario ---------------------------------------------------------

    def settle(self, timeout: float = 120) -> None:
        """Everything locked so far executes exactly once, every member's store agrees, the
        members are alive and the reconciler finds nothing wrong."""
        total = len(self.locked)
        devnet.wait_until(lambda: self.minted() == sum(self.locked), timeout, f"{total} locks minted")
        for m in sorted(self.topo.nodes):
            devnet.wait_until(
                lambda m=m: self.transfer_states(m) == {"executed": total},  # type: ignore[misc]
                60,
                f"member {m}'s store to show all {total} transfers executed",
            )
        assert self.executed_nonces() == list(range(1, total + 1))
        vault_balance = self.asset.functions.balanceOf(self.vault.address).call()
        assert self.wrapped.functions.totalSupply().call() == vault_balance == sum(self.locked)
        verdict = reconcile(self.topo.deployment, settled=True)
        assert verdict.ok, verdict.violations
        for m, proc in self.topo.nodes.items():
            assert proc.popen.poll() is None, f"member {m} died; see {proc.log_path}"
            assert self.metric(m, "qiao_equivocations_refused_total") == 0
        signed = {m: self.signed(m) for m in self.topo.nodes}
        assert all(s == signed[1] for s in signed.values()), signed  # nobody diverged


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    run_dir = tmp_path_factory.mktemp("topology") / "net"
    with netns.topology(run_dir, n=4, t=3, brokers=len(BROKERS), block_time=0.5) as topo:
        wc = Web3(HTTPProvider(topo.chain_url("c")))
        we = Web3(HTTPProvider(topo.chain_url("e")))
        dep = topo.deployment
        b = Bridge(
            topo,
            wc,
            wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi),
            wc.eth.contract(address=dep.asset.address, abi=dep.asset.abi),
            we.eth.contract(address=dep.gateway.address, abi=dep.gateway.abi),
            we.eth.contract(address=dep.wrapped.address, abi=dep.wrapped.abi),
        )
        admin, alice = devnet.dev_account(0), devnet.dev_account(8)
        devnet.send(wc, admin, b.asset.functions.mint(alice.address, 10_000 * UNIT))
        devnet.send(wc, alice, b.asset.functions.approve(b.vault.address, 10_000 * UNIT))
        yield b
    # the clean-up is the topology's own: nothing of it may be left, whatever the tests did
    left = [ns.name for ns in topo.fabric.namespaces.values()]
    listed = netns._run_ip("netns", "list")
    assert not left
    assert f"{netns.NS_PREFIX}{topo.fabric.tag}-" not in listed, listed
    assert all(p.popen.poll() is not None for p in topo.procs.items)


PROBE = (
    "import errno,socket,sys\n"
    "s=socket.socket(); s.settimeout(2)\n"
    "try:\n s.connect((sys.argv[1], int(sys.argv[2]))); print('connected')\n"
    "except OSError as e: print(errno.errorcode.get(e.errno, 'timeout'))\n"
)


def test_the_namespaces_really_separate_members_brokers_and_chains(bridge: Bridge) -> None:
    topo, python = bridge.topo, netns._python()

    def connect_from(role: str, host: str, port: int) -> str:
        return topo.run_in(role, [python, "-c", PROBE, host, str(port)]).stdout.strip()

    # a member has no route to another member, nor to a broker or chain but over its own link
    assert connect_from("m1", topo.address("m2"), netns.METRICS_PORT) == "ENETUNREACH"
    assert connect_from("m1", topo.address("b1"), netns.BROKER_TLS_PORT) == "ENETUNREACH"
    assert connect_from("m1", topo.fabric.links[("m2", "b1")].b_addr, netns.BROKER_TLS_PORT) == "ENETUNREACH"
    assert connect_from("m1", topo.fabric.links[("m1", "b1")].b_addr, netns.BROKER_TLS_PORT) == "connected"
    assert connect_from("m1", topo.fabric.links[("m1", "c")].b_addr, netns.ANVIL_PORT) == "connected"
    # brokers never reach each other (independent, one per institution)
    assert connect_from("b1", topo.address("b2"), netns.BROKER_TLS_PORT) == "ENETUNREACH"
    # a link taken down partitions that pair only
    with topo.partitioned([("m1", "b1")]):
        assert (
            connect_from("m1", topo.fabric.links[("m1", "b1")].b_addr, netns.BROKER_TLS_PORT) != "connected"
        )
        assert (
            connect_from("m1", topo.fabric.links[("m1", "b2")].b_addr, netns.BROKER_TLS_PORT) == "connected"
        )
    assert connect_from("m1", topo.fabric.links[("m1", "b1")].b_addr, netns.BROKER_TLS_PORT) == "connected"


def test_a_member_cut_off_from_every_broker_catches_up_once_healed(bridge: Bridge) -> None:
    b = bridge
    cut, others = 4, (1, 2, 3)
    heard = {o: b.partials_from(o, cut) for o in others}
    with b.topo.partitioned(netns.cut_off(netns.member_role(cut), BROKERS)):
        nonces = b.lock(2)
        devnet.wait_until(
            lambda: set(nonces) <= set(b.executed_nonces()),
            120,
            "the other three members to execute the locks",
        )
        # the cut member signed them too (it still sees the chains) but nobody heard it
        devnet.wait_until(lambda: b.signed_through(cut) >= nonces[-1], 60, f"member {cut} to sign")
        assert all(b.partials_from(o, cut) == heard[o] for o in others), "a partial crossed the partition"
        devnet.wait_until(
            lambda: not any(b.topo.reaches(cut, x) for x in BROKERS), 60, f"member {cut} to notice"
        )
        devnet.wait_until(lambda: b.metric(cut, "qiao_ready") == 0, 30, f"member {cut} not ready")
    devnet.wait_until(lambda: b.reaches_all(cut), 60, f"member {cut} to reach both brokers again")
    b.lock(1)
    b.settle()  # its store caught up: every transfer executed, the same batches signed
    devnet.wait_until(  # and the others hear it again (its heartbeats through the brokers)
        lambda: all(b.metric(o, "qiao_committee_members_online") == 4 for o in others),
        60,
        f"the others to see member {cut} online again",
    )
    devnet.wait_until(lambda: b.metric(cut, "qiao_ready") == 1, 60, f"member {cut} ready again")


def test_a_broker_partitioned_away_loses_nothing(bridge: Bridge) -> None:
    b = bridge
    members = sorted(b.topo.nodes)
    with b.topo.partitioned(netns.isolate_broker("b1", b.topo.members)):
        nonces = b.lock(3)
        devnet.wait_until(
            lambda: set(nonces) <= set(b.executed_nonces()), 120, "the locks executed through b2 alone"
        )
        devnet.wait_until(
            lambda: not any(b.topo.reaches(m, "b1") for m in members), 60, "every member to notice b1 gone"
        )
        assert all(b.topo.reaches(m, "b2") for m in members)
        more = b.lock(2)  # with every member on b2 only, knowingly
        devnet.wait_until(lambda: set(more) <= set(b.executed_nonces()), 120, "the later locks executed")
        for m in members:
            assert b.metric(m, "qiao_broker_connected", {"broker": "b1"}) == 0
            assert b.metric(m, "qiao_ready") == 1  # min_brokers = 1: one broker is enough
    devnet.wait_until(lambda: all(b.reaches_all(m) for m in members), 60, "every member back on b1")
    b.settle()


def test_a_two_two_split_makes_no_progress_and_no_divergence_then_completes(bridge: Bridge) -> None:
    b = bridge
    executed_before = b.executed_nonces()
    aggregated_before = {m: b.metric(m, "qiao_batches_aggregated_total") for m in b.topo.nodes}
    sides = ((["m1", "m2"], ["b1"]), (["m3", "m4"], ["b2"]))
    with b.topo.partitioned(netns.split(sides)):
        nonces = b.lock(2)
        devnet.wait_until(
            lambda: all(b.signed_through(m) >= nonces[-1] for m in b.topo.nodes),
            60,
            "every member to sign the new batches",
        )
        new = {s for s in b.signed(1) if s[2] >= nonces[0]}
        # each side exchanges its partials within itself: 2 < t = 3 on either side
        for m, other in ((1, 2), (2, 1), (3, 4), (4, 3)):
            devnet.wait_until(
                lambda m=m, other=other: all(b.holds_partial(m, other, s[1]) for s in new),  # type: ignore[misc]
                60,
                f"member {m} to hold member {other}'s partials",
            )
        time.sleep(2 * REPUBLISH_INTERVAL)  # two more re-publication rounds: still nothing crosses
        for m, far in ((1, 3), (1, 4), (2, 3), (2, 4), (3, 1), (4, 2)):
            assert not any(b.holds_partial(m, far, s[1]) for s in new), f"{far}'s partial reached {m}"
        assert b.executed_nonces() == executed_before, "executed with two members on each side"
        for m in b.topo.nodes:
            assert b.metric(m, "qiao_batches_aggregated_total") == aggregated_before[m]
        assert b.signed(1) == b.signed(2) == b.signed(3) == b.signed(4)  # the same messages, all
    b.settle()


def test_fifty_ms_one_way_between_every_pair_still_completes(bridge: Bridge) -> None:
    b = bridge
    delay = 0.05
    b.topo.set_delay(delay)
    try:
        # the latency is really there: one JSON-RPC round trip from member 1's namespace through its
        # proxy takes at least two one-way delays (plus the connection's own round trip)
        measure = (
            "import json,time,urllib.request as u\n"
            "body=json.dumps({'jsonrpc':'2.0','id':1,'method':'eth_chainId','params':[]}).encode()\n"
            "t=time.monotonic()\n"
            "r=u.urlopen(u.Request('http://127.0.0.1:%d' % netns_port, body,"
            " {'Content-Type':'application/json'}), timeout=10).read()\n"
            "print(json.dumps({'s': time.monotonic()-t, 'reply': json.loads(r)['result']}))\n"
        ).replace("netns_port", str(netns.PROXY_CHAIN_PORTS["c"]))
        reply = b.topo.run_in("m1", [netns._python(), "-c", measure])
        out = json.loads(reply.stdout)
        assert int(out["reply"], 16) == devnet.CONSORTIUM_CHAIN_ID
        assert out["s"] >= 4 * delay, out  # connect (2 delays) + request and answer (2 delays)
        for m in b.topo.nodes:
            stats = b.topo.proxy_stats(m)
            assert {r["delay"] for r in stats.values()} == {delay}, stats
        nonces = b.lock(3)
        devnet.wait_until(
            lambda: set(nonces) <= set(b.executed_nonces()), 120, "the locks executed over the slow links"
        )
        b.settle()
    finally:
        b.topo.set_delay(0.0)
