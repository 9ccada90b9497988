"""A burst of 1,000 locks in one block, then a member's store deleted and rebuilt from the chains."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3

from harness import devnet
from relayer.ops.reconciler import reconcile

pytestmark = pytest.mark.e2e
LOCKS = 1000


def batches_of(net: devnet.Devnet, member: int) -> list[tuple[int, int, bytes]]:
    path = net.run_dir / f"node-{member}" / "data" / "qiao.sqlite3"
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT first_nonce, last_nonce, root FROM batches WHERE src_chain_id=? ORDER BY first_nonce",
            (devnet.CONSORTIUM_CHAIN_ID,),
        ).fetchall()


def executed_count(net: devnet.Devnet, member: int) -> int:
    path = net.run_dir / f"node-{member}" / "data" / "qiao.sqlite3"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM transfers WHERE state='executed'").fetchone()[0])


def test_a_burst_of_1000_locks_in_one_block_gives_every_member_the_same_batches_and_a_lost_store_rebuilds(
    tmp_path: Path,
) -> None:
    with devnet.devnet(tmp_path / "net", block_time=1.0, anvil_args=("--gas-limit", "200000000")) as net:
        dep = net.deployment
        wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))
        vault = wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi)
        asset = wc.eth.contract(address=dep.asset.address, abi=dep.asset.abi)
        gateway = we.eth.contract(address=dep.gateway.address, abi=dep.gateway.abi)
        wrapped = we.eth.contract(address=dep.wrapped.address, abi=dep.wrapped.abi)
        admin, alice, bob = devnet.dev_account(0), devnet.dev_account(8), devnet.dev_account(9)
        total = LOCKS * (LOCKS + 1) // 2
        devnet.send(wc, admin, asset.functions.mint(alice.address, total))
        devnet.send(wc, alice, asset.functions.approve(vault.address, total))

        wc.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
        wc.provider.make_request("anvil_setIntervalMining", [0])  # type: ignore[arg-type]
        nonce = wc.eth.get_transaction_count(alice.address)
        template = vault.functions.lock(
            asset.address, devnet.ETHEREUM_CHAIN_ID, bob.address, 1
        ).build_transaction(
            {
                "from": alice.address,
                "nonce": nonce,
                "gas": 200_000,
                "chainId": devnet.CONSORTIUM_CHAIN_ID,
                "maxFeePerGas": 10**10,
                "maxPriorityFeePerGas": 10**9,
            }
        )
        for i in range(LOCKS):
            data = vault.functions.lock(
                asset.address, devnet.ETHEREUM_CHAIN_ID, bob.address, i + 1
            )._encode_transaction_data()
            tx = {**template, "nonce": nonce + i, "data": data}
            wc.eth.send_raw_transaction(alice.sign_transaction(tx).raw_transaction)
        wc.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        wc.provider.make_request("anvil_setIntervalMining", [1])  # type: ignore[arg-type]
        block = wc.eth.get_block("latest")
        assert len(block["transactions"]) == LOCKS, "the burst did not fit in one block"
        assert vault.functions.nextNonce(devnet.ETHEREUM_CHAIN_ID).call() == LOCKS + 1  # none reverted
        devnet.wait_until(
            lambda: wrapped.functions.balanceOf(bob.address).call() == total, 240, "all 1,000 locks minted"
        )

        reference = batches_of(net, 1)
        assert len(reference) == LOCKS // 100  # one window, chunks of max_batch = 100
        for member in (2, 3, 4):
            assert batches_of(net, member) == reference, f"member {member} cut different batches"
        assert len(gateway.events.TransferExecuted().get_logs(from_block=0)) == LOCKS

        # member 2 loses its store: it rebuilds from the chains and re-executes nothing
        relayer2 = devnet.dev_account(2).address
        sent_before = (wc.eth.get_transaction_count(relayer2), we.eth.get_transaction_count(relayer2))
        net.nodes[2].stop()
        for f in (net.run_dir / "node-2" / "data").glob("qiao.sqlite3*"):
            f.unlink()
        net.restart(2)
        devnet.wait_until(
            lambda: executed_count(net, 2) == LOCKS, 180, "member 2's rebuilt store to catch up"
        )
        assert batches_of(net, 2) == reference
        time.sleep(3)
        assert (wc.eth.get_transaction_count(relayer2), we.eth.get_transaction_count(relayer2)) == sent_before
        assert len(gateway.events.TransferExecuted().get_logs(from_block=0)) == LOCKS
        assert wrapped.functions.totalSupply().call() == asset.functions.balanceOf(vault.address).call()
        verdict = reconcile(net.deployment, settled=True)
        assert verdict.ok, verdict.violations
        assert verdict.counts["executed"] == LOCKS
