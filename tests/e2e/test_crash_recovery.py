"""kill -9 at each point of the pipeline, then restart: every transfer executes exactly once."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3

from harness import devnet
from relayer.core.txmath import turn
from relayer.ops.reconciler import reconcile
from relayer.pipeline.crashpoints import POINTS

pytestmark = pytest.mark.e2e
UNIT = 10**18


def store_states(net: devnet.Devnet, member: int) -> dict[str, int]:
    path = net.run_dir / f"node-{member}" / "data" / "qiao.sqlite3"
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT state, COUNT(*) FROM transfers GROUP BY state").fetchall())


# a transfer's points; the committee actions' (after_action_*) are in test_committee_actions.py
TRANSFER_POINTS = sorted(p for p in POINTS if not p.startswith("after_action_"))


@pytest.mark.parametrize("point", TRANSFER_POINTS)
def test_kill_9_then_restart_executes_every_transfer_exactly_once(tmp_path: Path, point: str) -> None:
    marker = tmp_path / "crashed"
    env = {"QIAO_CRASH_AT": point, "QIAO_CRASH_MARKER": str(marker)}
    # the member first in turn for the first batch (nonce 1), so it is the one that sends it
    m = turn(devnet.CONSORTIUM_CHAIN_ID, devnet.ETHEREUM_CHAIN_ID, 1, 4) + 1
    with devnet.devnet(tmp_path / "net", block_time=0.5, node_env={m: env}) as net:
        dep = net.deployment
        wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))
        vault = wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi)
        asset = wc.eth.contract(address=dep.asset.address, abi=dep.asset.abi)
        gateway = we.eth.contract(address=dep.gateway.address, abi=dep.gateway.abi)
        wrapped = we.eth.contract(address=dep.wrapped.address, abi=dep.wrapped.abi)
        admin, alice, bob = devnet.dev_account(0), devnet.dev_account(8), devnet.dev_account(9)
        devnet.send(wc, admin, asset.functions.mint(alice.address, 100 * UNIT))
        devnet.send(wc, alice, asset.functions.approve(vault.address, 100 * UNIT))
        amounts = [1, 2, 3, 4, 5]
        for amount in amounts:
            devnet.send(
                wc,
                alice,
                vault.functions.lock(asset.address, devnet.ETHEREUM_CHAIN_ID, bob.address, amount * UNIT),
                wait=False,
            )
        devnet.wait_until(lambda: net.nodes[m].popen.poll() is not None, 90, f"member {m} killed at {point}")
        assert net.nodes[m].popen.returncode == -9
        assert marker.read_text() == point
        time.sleep(1)
        net.restart(m, env)
        devnet.wait_until(
            lambda: wrapped.functions.balanceOf(bob.address).call() == sum(amounts) * UNIT,
            120,
            "every lock minted",
        )
        devnet.wait_until(
            lambda: store_states(net, m) == {"executed": len(amounts)},
            60,
            f"member {m}'s store to show every transfer executed",
        )
        time.sleep(3)  # a second execution, if any, would land now
        executed = gateway.events.TransferExecuted().get_logs(from_block=0)
        assert sorted(e["args"]["nonce"] for e in executed) == [1, 2, 3, 4, 5]
        assert wrapped.functions.balanceOf(bob.address).call() == sum(amounts) * UNIT
        assert wrapped.functions.totalSupply().call() == asset.functions.balanceOf(vault.address).call()
        assert net.nodes[m].popen.poll() is None
        verdict = reconcile(net.deployment, settled=True)
        assert verdict.ok, verdict.violations
