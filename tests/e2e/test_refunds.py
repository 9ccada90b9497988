"""Refunds end to end: a lock that cannot be delivered is refunded on its source, once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from eth_utils.address import to_checksum_address as cs
from web3 import HTTPProvider, Web3

from harness import devnet
from relayer.ops.reconciler import reconcile

pytestmark = pytest.mark.e2e


def test_a_lock_to_a_recipient_not_allowed_on_ethereum_is_refunded_once_on_the_consortium_chain(
    tmp_path: Path,
) -> None:
    with devnet.devnet(tmp_path / "net", block_time=0.5, metrics=True) as net:
        dep = net.deployment
        wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))
        vault = wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi)
        asset = wc.eth.contract(address=dep.asset.address, abi=dep.asset.abi)
        wrapped = we.eth.contract(address=dep.wrapped.address, abi=dep.wrapped.abi)
        admin, alice, bob = devnet.dev_account(0), devnet.dev_account(8), devnet.dev_account(9)
        stranger = cs("0x" + "5c" * 20)  # a fresh address, never allow-listed on Ethereum
        assert not dep.registry_e.functions.isAllowed(stranger).call()  # type: ignore[union-attr]
        stuck, fine = 7 * devnet.UNIT, 5 * devnet.UNIT
        devnet.send(wc, admin, asset.functions.mint(alice.address, stuck + fine))
        devnet.send(wc, alice, asset.functions.approve(vault.address, stuck + fine))
        before = asset.functions.balanceOf(alice.address).call()
        failed_nonce = vault.functions.nextNonce(devnet.ETHEREUM_CHAIN_ID).call()
        devnet.send(wc, alice, vault.functions.lock(asset.address, devnet.ETHEREUM_CHAIN_ID, stranger, stuck))
        devnet.send(
            wc, alice, vault.functions.lock(asset.address, devnet.ETHEREUM_CHAIN_ID, bob.address, fine)
        )
        assert asset.functions.balanceOf(alice.address).call() == before - stuck - fine

        devnet.wait_until(
            lambda: wrapped.functions.balanceOf(bob.address).call() == fine, 60, "the allowed lock minted"
        )
        devnet.wait_until(
            lambda: vault.functions.isRefunded(devnet.ETHEREUM_CHAIN_ID, failed_nonce).call(),
            60,
            "the failed lock refunded on the consortium chain",
        )
        # every member's store settles on `refunded` (each one's submitter sees it final on C)
        devnet.wait_until(
            lambda: all(
                any(
                    e.get("event") == "transfer_refunded" and e.get("nonce") == failed_nonce
                    for e in net.nodes[m].events()
                )
                for m in net.nodes
            ),
            40,
            "every member recorded the refund",
        )
        assert asset.functions.balanceOf(alice.address).call() == before - fine  # restored exactly once
        assert wrapped.functions.balanceOf(stranger).call() == 0
        refunds = vault.events.TransferRefunded().get_logs(from_block=dep.consortium_block)
        assert [(e.args.nonce, e.args.sender, e.args.amount) for e in refunds] == [
            (failed_nonce, alice.address, stuck)
        ]

        verdict = reconcile(dep, settled=True)
        assert verdict.ok, verdict.violations
        assert verdict.counts["executed"] == 1
        assert verdict.counts["refunded"] == 1
        assert verdict.counts["failed"] == 1
        assert verdict.counts["pending"] == 0

        signed = sum(net.metric(m, "qiao_refunds_signed_total") or 0 for m in net.nodes)
        assert signed >= net.t
        assert sum(net.metric(m, "qiao_refunds_refunded_total", {"src": "7001"}) or 0 for m in net.nodes) == 4
        cli = [sys.executable, "-m", "relayer.cli", "transfers", "list", "--config", str(net.configs[1])]
        out = subprocess.run(
            [*cli, "--state", "refunded", "--json"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        rows = json.loads(out.stdout)
        assert [(r["nonce"], r["state"], r["recipient"]) for r in rows] == [
            (failed_nonce, "refunded", stranger)
        ]
        for member, proc in net.nodes.items():
            assert proc.popen.poll() is None, f"member {member} died; see {proc.log_path}"
