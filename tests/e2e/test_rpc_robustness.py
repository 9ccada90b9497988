"""RPC trouble under 4 member processes: an outage with a head jump, a dead and a stalled endpoint."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import pytest
from web3 import HTTPProvider, Web3

from harness import devnet
from relayer.ops.reconciler import reconcile
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.e2e
UNIT = 10**18


def contracts(net: devnet.Devnet):  # type: ignore[no-untyped-def]
    dep = net.deployment
    wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))
    return (
        wc,
        we,
        wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi),
        wc.eth.contract(address=dep.asset.address, abi=dep.asset.abi),
        we.eth.contract(address=dep.gateway.address, abi=dep.gateway.abi),
        we.eth.contract(address=dep.wrapped.address, abi=dep.wrapped.abi),
    )


def events(net: devnet.Devnet, member: int, name: str) -> list[dict]:  # type: ignore[type-arg]
    return net.nodes[member].events(name)


def test_an_rpc_outage_with_a_head_jump_leaves_no_gap(tmp_path: Path) -> None:
    proxies: list[TcpProxy] = []

    def through_proxy(chain: str, url: str) -> str:
        if chain != "consortium":
            return f'"{url}"'
        proxies.append(TcpProxy(urlparse(url).port or 0))
        return f'"{proxies[-1].url}"'

    with devnet.devnet(
        tmp_path / "net",
        block_time=0.5,
        rpc_for=through_proxy,
        node_options={"chain_extra": "max_block_range = 100\nrpc_timeout = 2.0"},
    ) as net:
        wc, _, vault, asset, _, wrapped = contracts(net)
        admin, alice, bob = devnet.dev_account(0), devnet.dev_account(8), devnet.dev_account(9)
        devnet.send(wc, admin, asset.functions.mint(alice.address, 100 * UNIT))
        devnet.send(wc, alice, asset.functions.approve(vault.address, 100 * UNIT))
        lock = lambda amount: vault.functions.lock(  # noqa: E731
            asset.address, devnet.ETHEREUM_CHAIN_ID, bob.address, amount
        )
        devnet.send(wc, alice, lock(1 * UNIT))
        devnet.wait_until(lambda: wrapped.functions.balanceOf(bob.address).call() == UNIT, 90, "first mint")

        proxies[0].stop()  # every member loses the consortium chain
        for amount in (2, 3):
            devnet.send(wc, alice, lock(amount * UNIT))
        wc.provider.make_request("anvil_mine", [hex(450)])  # type: ignore[arg-type]  # head jump
        devnet.send(wc, alice, lock(4 * UNIT))
        wc.provider.make_request("anvil_mine", [hex(20)])  # type: ignore[arg-type]
        devnet.wait_until(
            lambda: any(events(net, m, "watcher_rpc_error") for m in net.nodes), 30, "an outage seen"
        )
        proxies[0].start()  # back, on the same port

        devnet.wait_until(
            lambda: wrapped.functions.balanceOf(bob.address).call() == 10 * UNIT,
            120,
            "every lock minted after the outage",
        )
        assert wrapped.functions.totalSupply().call() == asset.functions.balanceOf(vault.address).call()
        for proc in net.nodes.values():
            assert proc.popen.poll() is None
        verdict = reconcile(net.deployment, settled=True)
        assert verdict.ok, verdict.violations
        assert verdict.counts["executed"] == 4


def test_a_dead_and_a_stalled_endpoint_are_left_for_a_live_one(
    tmp_path: Path, processes: devnet.Processes
) -> None:
    stalled: list[str] = []

    def with_bad_endpoints(chain: str, url: str) -> str:
        if chain != "ethereum":
            return f'"{url}"'
        # a fork of the chain that never mines: connected and answering, its head frozen
        stalled.append(
            devnet.start_anvil(
                processes,
                "anvil-stalled",
                devnet.ETHEREUM_CHAIN_ID,
                tmp_path,
                0,
                ("--fork-url", url, "--no-mining"),
            )
        )
        dead = f"http://127.0.0.1:{devnet.free_port()}"
        return json.dumps([stalled[0], dead, url])

    with devnet.devnet(
        tmp_path / "net",
        block_time=0.5,
        rpc_for=with_bad_endpoints,
        node_options={"chain_extra": "stall_after = 3.0\nrpc_timeout = 2.0"},
    ) as net:
        devnet.wait_until(
            lambda: all(events(net, m, "rpc_stalled") for m in net.nodes),
            60,
            "every member to leave the stalled endpoint",
        )
        result = devnet.round_trip(net, locks=3, burns=2, timeout=120, say=lambda s: None)
        assert result.supply_ok
        verdict = reconcile(net.deployment, settled=True)
        assert verdict.ok, verdict.violations
        assert verdict.counts["executed"] == 5
        assert result.recipient_wrapped == result.locked_total - result.burned_total
        stalled_w3 = Web3(HTTPProvider(stalled[0]))
        assert stalled_w3.eth.block_number < Web3(HTTPProvider(net.deployment.ethereum_url)).eth.block_number
