"""Reorgs on a real anvil chain under 4 member processes (finality depth 3).

A reorg shallower than finality: the dropped lock is never executed, the re-included one once.
A reorg deeper than finality: the route from that chain halts with an alert metric, the other
route keeps running.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3

from harness import devnet
from relayer.ops.reconciler import reconcile

pytestmark = pytest.mark.e2e
UNIT = 10**18
C, E = str(devnet.CONSORTIUM_CHAIN_ID), str(devnet.ETHEREUM_CHAIN_ID)


def executed_events(net: devnet.Devnet) -> int:
    we = Web3(HTTPProvider(net.deployment.ethereum_url))
    gateway = we.eth.contract(address=net.deployment.gateway.address, abi=net.deployment.gateway.abi)
    return len(gateway.events.TransferExecuted().get_logs(from_block=0))


def test_shallow_reorg_executes_the_reincluded_lock_once_and_the_dropped_one_never_then_a_deep_reorg_halts(
    tmp_path: Path,
) -> None:
    with devnet.devnet(
        tmp_path / "net", block_time=1.0, metrics=True, node_options={"finality_depth": 3, "window_blocks": 1}
    ) as net:
        dep = net.deployment
        wc = Web3(HTTPProvider(dep.consortium_url))
        admin, alice, bob = devnet.dev_account(0), devnet.dev_account(8), devnet.dev_account(9)
        vault = wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi)
        asset = wc.eth.contract(address=dep.asset.address, abi=dep.asset.abi)
        wrapped = Web3(HTTPProvider(dep.ethereum_url)).eth.contract(
            address=dep.wrapped.address, abi=dep.wrapped.abi
        )
        devnet.send(wc, admin, asset.functions.mint(alice.address, 100 * UNIT))
        devnet.send(wc, alice, asset.functions.approve(vault.address, 100 * UNIT))

        # --- shallow: lock A and lock B, then reorg them out before they are final; B comes back
        lock = lambda amount: vault.functions.lock(  # noqa: E731
            asset.address, devnet.ETHEREUM_CHAIN_ID, bob.address, amount
        )
        # the consortium chain's mining held from the locks to the reorg: both locks land in one
        # block, the head, and the reorg drops it one block deep, however slow the machine (with
        # the chain mining meanwhile, a loaded machine could see the locks final before the reorg)
        with devnet.mining_held(dep.consortium_url) as mine:
            tx_a = devnet.send(wc, alice, lock(1 * UNIT), wait=False)
            tx_b0 = devnet.send(wc, alice, lock(2 * UNIT), wait=False)
            first = mine()
            landed = {wc.eth.wait_for_transaction_receipt(tx)["blockNumber"] for tx in (tx_a, tx_b0)}
            assert landed == {first}
            depth = wc.eth.block_number - first + 1
            assert depth == 1  # not final: finality depth 3
            tx_b = lock(2 * UNIT).build_transaction({"from": alice.address, "gas": 300_000})
            request = {"from": alice.address, "to": tx_b["to"], "data": tx_b["data"], "gas": hex(300_000)}
            result = wc.provider.make_request("anvil_reorg", [depth, [[request, 0]]])  # type: ignore[arg-type]
            assert "error" not in result, result
        assert vault.functions.nextNonce(devnet.ETHEREUM_CHAIN_ID).call() == 2  # only B exists now
        devnet.wait_until(lambda: wrapped.functions.balanceOf(bob.address).call() == 2 * UNIT, 90, "B minted")
        time.sleep(6)  # long enough for a wrong second mint to show up
        assert wrapped.functions.balanceOf(bob.address).call() == 2 * UNIT
        assert executed_events(net) == 1
        assert reconcile(net.deployment, settled=True).ok
        assert wrapped.functions.totalSupply().call() == asset.functions.balanceOf(vault.address).call()

        # --- deep: a lock is minted (so it was final), then the chain drops it
        receipt = devnet.send(wc, alice, lock(5 * UNIT))
        devnet.wait_until(lambda: wrapped.functions.balanceOf(bob.address).call() == 7 * UNIT, 90, "C minted")
        deep = wc.eth.block_number - receipt["blockNumber"] + 1
        assert deep > 3
        result = wc.provider.make_request("anvil_reorg", [deep, []])  # type: ignore[arg-type]
        assert "error" not in result, result

        def halted() -> bool:
            return net.metric(1, "qiao_route_halted", {"src": C, "dst": E}) == 1.0

        devnet.wait_until(halted, 60, "route consortium->ethereum halted on member 1")
        assert (net.metric(1, "qiao_deep_reorgs_total", {"chain": "consortium"}) or 0) >= 1
        # the halted route signs nothing more ...
        devnet.send(wc, alice, lock(3 * UNIT))
        # ... while the other route keeps running: a burn on Ethereum is unlocked on the consortium chain
        we = Web3(HTTPProvider(dep.ethereum_url))
        gateway = we.eth.contract(address=dep.gateway.address, abi=dep.gateway.abi)
        before = asset.functions.balanceOf(alice.address).call()
        devnet.send(
            we, bob, gateway.functions.burn(wrapped.address, devnet.CONSORTIUM_CHAIN_ID, alice.address, UNIT)
        )
        devnet.wait_until(
            lambda: asset.functions.balanceOf(alice.address).call() == before + UNIT, 90, "unlock"
        )
        assert wrapped.functions.balanceOf(bob.address).call() == 6 * UNIT  # the 3-unit lock was not minted
        assert net.metric(1, "qiao_route_halted", {"src": E, "dst": C}) in (None, 0.0)
        # the reconciler sees what the deep reorg did: a mint whose lock is no longer on the chain
        verdict = reconcile(net.deployment, settled=False)
        assert {v.invariant for v in verdict.violations} == {"S2", "S3"}
