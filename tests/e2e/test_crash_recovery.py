"""kill -9 at each point of the pipeline, then restart: every transfer executes exactly once.

One devnet for the module: each point's test restarts the member first in turn for its first batch
with that crash point armed, locks five transfers, and checks that everything locked so far on the
route executed exactly once (a duplicate execution of an earlier point's transfers fails a later
point too)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass
class Bridge:
    net: devnet.Devnet
    vault: Any
    asset: Any
    gateway: Any
    wrapped: Any
    wc: Web3


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    with devnet.devnet(tmp_path_factory.mktemp("crash") / "net", block_time=0.5) as net:
        dep = net.deployment
        wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))
        vault = wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi)
        asset = wc.eth.contract(address=dep.asset.address, abi=dep.asset.abi)
        admin, alice = devnet.dev_account(0), devnet.dev_account(8)
        devnet.send(wc, admin, asset.functions.mint(alice.address, 1000 * UNIT))
        devnet.send(wc, alice, asset.functions.approve(vault.address, 1000 * UNIT))
        yield Bridge(
            net,
            vault,
            asset,
            we.eth.contract(address=dep.gateway.address, abi=dep.gateway.abi),
            we.eth.contract(address=dep.wrapped.address, abi=dep.wrapped.abi),
            wc,
        )


# a transfer's points; the committee actions' (after_action_*) are in test_committee_actions.py
TRANSFER_POINTS = sorted(p for p in POINTS if not p.startswith("after_action_"))


@pytest.mark.parametrize("point", TRANSFER_POINTS)
def test_kill_9_then_restart_executes_every_transfer_exactly_once(
    bridge: Bridge, tmp_path: Path, point: str
) -> None:
    net, wrapped = bridge.net, bridge.wrapped
    marker = tmp_path / "crashed"
    env = {"QIAO_CRASH_AT": point, "QIAO_CRASH_MARKER": str(marker)}
    first = bridge.vault.functions.nextNonce(devnet.ETHEREUM_CHAIN_ID).call()
    # the member first in turn for this point's first batch (its first transfer's nonce), so it
    # is the one that sends it; restarted with the crash point armed
    m = turn(devnet.CONSORTIUM_CHAIN_ID, devnet.ETHEREUM_CHAIN_ID, first, 4) + 1
    net.restart(m, env)
    if point != "after_observe":  # that one kills it at its first scan, before it is ready
        net.wait_ready(m)  # so that it is up to take its turn (else the next in turn sends)
    alice, bob = devnet.dev_account(8), devnet.dev_account(9)
    before = wrapped.functions.balanceOf(bob.address).call()
    amounts = [1, 2, 3, 4, 5]
    for amount in amounts:
        devnet.send(
            bridge.wc,
            alice,
            bridge.vault.functions.lock(
                bridge.asset.address, devnet.ETHEREUM_CHAIN_ID, bob.address, amount * UNIT
            ),
            wait=False,
        )
    devnet.wait_until(lambda: net.nodes[m].popen.poll() is not None, 90, f"member {m} killed at {point}")
    assert net.nodes[m].popen.returncode == -9
    assert marker.read_text() == point
    time.sleep(1)
    net.restart(m, env)
    locked = first - 1 + len(amounts)  # every transfer on the route so far
    devnet.wait_until(
        lambda: wrapped.functions.balanceOf(bob.address).call() == before + sum(amounts) * UNIT,
        120,
        "every lock minted",
    )
    devnet.wait_until(
        lambda: store_states(net, m) == {"executed": locked},
        60,
        f"member {m}'s store to show every transfer executed",
    )
    time.sleep(3)  # a second execution, if any, would land now
    executed = bridge.gateway.events.TransferExecuted().get_logs(from_block=0)
    assert sorted(e["args"]["nonce"] for e in executed) == list(range(1, locked + 1))
    assert wrapped.functions.balanceOf(bob.address).call() == before + sum(amounts) * UNIT
    assert (
        wrapped.functions.totalSupply().call()
        == bridge.asset.functions.balanceOf(bridge.vault.address).call()
    )
    assert net.nodes[m].popen.poll() is None
    verdict = reconcile(net.deployment, settled=True)
    assert verdict.ok, verdict.violations
