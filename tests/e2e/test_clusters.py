"""Brokers that replicate, with whole member processes: the devnet (anvil x2, n = 4 members) with
every member listing the three nodes of a NATS cluster (deploy/nats/nats-server.conf: TLS, a user
per member), or both of two bridged mosquittos (deploy/mosquitto/bridge.conf), as its
`[[mqtt.brokers]]`. A node (the bridging broker) is stopped mid-flow: transfers locked before,
during and after execute exactly once, every member stays ready through the others; when it is
back, everything goes on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import HTTPProvider, Web3

from harness import devnet
from tests.e2e.test_brokers import UNIT, Bridge

pytestmark = pytest.mark.e2e
# the deployment -> the broker stopped mid-flow (of the bridged pair: the one holding the bridge)
LOST = {"nats": "nats-1", "bridged": "bridge-b"}


@pytest.fixture(scope="module", params=sorted(LOST))
def bridge(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Bridge]:
    run_dir = tmp_path_factory.mktemp(request.param) / "net"
    with devnet.devnet(run_dir, block_time=0.5, metrics=True, cluster=request.param) as net:
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
        assert net.cluster is not None
        names = tuple(net.cluster.servers)
        devnet.wait_until(
            lambda: all(b.reaches(m, name) for m in net.nodes for name in names),
            120,
            "every member on every broker",
        )
        yield b


def test_a_broker_stopped_mid_flow_changes_nothing(bridge: Bridge) -> None:
    b = bridge
    assert b.net.cluster is not None
    servers = b.net.cluster.servers
    members = sorted(b.net.nodes)
    lost = next(name for name in LOST.values() if name in servers)
    left = [name for name in servers if name != lost]
    b.executed(b.lock(3), "the first transfers, through every broker")

    in_flight = b.lock(3)
    servers[lost].stop()
    devnet.wait_until(
        lambda: not any(b.reaches(m, lost) for m in members), 60, f"every member to lose {lost}"
    )
    later = b.lock(3)  # everything from here on travels through the others only
    b.executed(in_flight + later, f"the transfers locked around the loss of {lost}")
    for m in members:
        assert b.metric(m, "qiao_mqtt_connected") == 1
        body = b.readyz(m)
        assert body["ready"] is True, body
        assert body["brokers"] == {name: name != lost for name in servers}
    # what the brokers replicate to each other arrives again through every broker, and is dropped
    assert all(b.metric(m, "qiao_broker_copies_dropped_total", {"broker": left[0]}) > 0 for m in members)

    servers[lost].start()
    devnet.wait_until(lambda: all(b.reaches(m, lost) for m in members), 120, f"every member back on {lost}")
    b.executed(b.lock(2), f"transfers after {lost} came back")
    b.settle()
