"""No single broker, with whole member processes: the devnet (anvil x2, n = 4 members) on three
production-configured mosquittos (TLS, each with its own CA and per-member passwords), every member
listing all three in `[[mqtt.brokers]]`. The first broker listed is stopped mid-flow: transfers
locked before, during and after execute exactly once, every member stays ready, and says which
brokers it reaches; when the broker is back, everything goes on."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from web3 import HTTPProvider, Web3

from harness import devnet
from relayer.ops.reconciler import reconcile

pytestmark = pytest.mark.e2e
UNIT = 10**18
BROKERS = ("main", "b2", "b3")


@dataclass
class Bridge:
    net: devnet.Devnet
    wc: Web3
    vault: Any
    asset: Any
    gateway: Any
    wrapped: Any
    locked: list[int] = field(default_factory=list)

    def lock(self, count: int) -> list[int]:
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

    def metric(self, member: int, name: str, labels: dict[str, str] | None = None) -> float:
        return self.net.metric(member, name, labels) or 0.0

    def reaches(self, member: int, broker: str) -> bool:
        return self.metric(member, "qiao_broker_connected", {"broker": broker}) == 1

    def readyz(self, member: int) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.net.metrics_ports[member]}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as exc:  # 503: not ready, the body says why
            return dict(json.loads(exc.read()))

    def executed(self, nonces: list[int], what: str, timeout: float = 150) -> None:
        devnet.wait_until(lambda: set(nonces) <= set(self.executed_nonces()), timeout, what)

    def settle(self) -> None:
        """Everything locked executed exactly once; supply backed; the reconciler agrees."""
        total = len(self.locked)
        devnet.wait_until(lambda: self.minted() == sum(self.locked), 150, f"{total} locks minted")
        assert self.executed_nonces() == list(range(1, total + 1))
        vault_balance = self.asset.functions.balanceOf(self.vault.address).call()
        assert self.wrapped.functions.totalSupply().call() == vault_balance == sum(self.locked)
        verdict = reconcile(self.net.deployment, settled=True)
        assert verdict.ok, verdict.violations
        for m, proc in self.net.nodes.items():
            assert proc.popen.poll() is None, f"member {m} died; see {proc.log_path}"
            assert self.metric(m, "qiao_equivocations_refused_total") == 0


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    run_dir = tmp_path_factory.mktemp("brokers") / "net"
    with devnet.devnet(run_dir, block_time=0.5, metrics=True, extra_brokers=2) as net:
        dep = net.deployment
        wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))
        b = Bridge(
            net,
            wc,
            wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi),
            wc.eth.contract(address=dep.asset.address, abi=dep.asset.abi),
            we.eth.contract(address=dep.gateway.address, abi=dep.gateway.abi),
            we.eth.contract(address=dep.wrapped.address, abi=dep.wrapped.abi),
        )
        admin, alice = devnet.dev_account(0), devnet.dev_account(8)
        devnet.send(wc, admin, b.asset.functions.mint(alice.address, 10_000 * UNIT))
        devnet.send(wc, alice, b.asset.functions.approve(b.vault.address, 10_000 * UNIT))
        devnet.wait_until(
            lambda: all(b.reaches(m, name) for m in net.nodes for name in BROKERS),
            90,
            "every member on every broker",
        )
        yield b


def test_the_first_broker_stopped_mid_flow_changes_nothing(bridge: Bridge) -> None:
    b = bridge
    members = sorted(b.net.nodes)
    for m in members:
        assert b.metric(m, "qiao_broker_min_connected") == 3  # the default: every broker listed
    b.executed(b.lock(3), "the first transfers, on three brokers")

    in_flight = b.lock(3)
    b.net.stop_broker()  # "main": the first listed, the one the key generation ran over
    devnet.wait_until(lambda: not any(b.reaches(m, "main") for m in members), 60, "every member to lose main")
    later = b.lock(3)  # everything from here on travels through b2 and b3 only
    b.executed(in_flight + later, "the transfers locked around the broker's loss")
    for m in members:
        assert b.metric(m, "qiao_mqtt_connected") == 1
        assert b.reaches(m, "b2")
        assert b.reaches(m, "b3")
        body = b.readyz(m)
        assert body["ready"] is True, body  # one broker lost is not unreadiness: an alert (below)
        assert body["brokers"] == {"main": False, "b2": True, "b3": True}
        assert body["min_brokers"] == 3
    # each member's heartbeats say which brokers it reaches now
    devnet.wait_until(
        lambda: all(
            b.readyz(m)["members_brokers"].get(str(other)) == ["b2", "b3"]
            for m in members
            for other in members
        ),
        30,
        "every member to see every member reaching b2 and b3",
    )

    b.net.start_broker()
    devnet.wait_until(lambda: all(b.reaches(m, "main") for m in members), 90, "every member back on main")
    b.executed(b.lock(2), "transfers after the broker came back")
    b.settle()
