"""A consortium asset that refuses one recipient, end to end on the devnet (issue 13, point 2).

A restricted asset (ERC-3643 style: `RestrictedTestAsset`, whose transfer to a blocked address
reverts) is bridged to Ethereum, then ten burns come back to ten recipients that the consortium
chain's registry allows; the asset blocks one of them. The vault delivers the nine, records the
tenth as failed with `DeliveryRefused` instead of reverting the batch, and the committee refunds
it on Ethereum: the sender gets the wrapped tokens back, and wrapped supply stays equal to what
the vault holds.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from eth_utils.address import to_checksum_address as cs
from web3 import HTTPProvider, Web3

from harness import devnet

pytestmark = pytest.mark.e2e

DELIVERY_REFUSED = 3  # QiaoEndpoint.FailureReason.DeliveryRefused
STATUS_DELIVERED, STATUS_FAILED = 1, 3


def test_one_recipient_refused_by_the_asset_fails_alone_and_is_refunded_on_ethereum(tmp_path: Path) -> None:
    with devnet.devnet(tmp_path / "net", block_time=0.5) as net:
        dep = net.deployment
        wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))
        admin, alice, bob = devnet.dev_account(0), devnet.dev_account(8), devnet.dev_account(9)
        c_id, e_id = devnet.CONSORTIUM_CHAIN_ID, devnet.ETHEREUM_CHAIN_ID
        vault = wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi)
        gateway = we.eth.contract(address=dep.gateway.address, abi=dep.gateway.abi)
        registry_c = wc.eth.contract(address=dep.registry_c.address, abi=dep.registry_c.abi)  # type: ignore[union-attr]

        # a restricted asset on C and its wrapped token on E, registered both ways by the owner
        rasset = devnet.deploy(wc, admin, "RestrictedTestAsset", "Restricted Bond", "RBOND", admin.address)
        rwrapped = devnet.deploy(
            we,
            admin,
            "WrappedToken",
            "Wrapped Restricted Bond",
            "wRBOND",
            gateway.address,
            dep.registry_e.address,
            admin.address,  # type: ignore[union-attr]
        )
        devnet.send(wc, admin, vault.functions.registerToken(e_id, rasset.address, rwrapped.address))
        devnet.send(we, admin, gateway.functions.registerToken(c_id, rwrapped.address, rasset.address))

        # C -> E: ten units locked for bob
        unit = devnet.UNIT
        devnet.send(wc, admin, rasset.functions.mint(alice.address, 10 * unit))
        devnet.send(wc, alice, rasset.functions.approve(vault.address, 10 * unit))
        devnet.send(wc, alice, vault.functions.lock(rasset.address, e_id, bob.address, 10 * unit))
        devnet.wait_until(
            lambda: rwrapped.functions.balanceOf(bob.address).call() == 10 * unit, 60, "the lock minted on E"
        )

        # E -> C: ten burns to ten recipients allowed on C; the asset blocks the fourth
        recipients = [cs("0x" + secrets.token_hex(20)) for _ in range(10)]
        devnet.send(wc, admin, registry_c.functions.setAllowedBatch(recipients, True))
        blocked = recipients[3]
        devnet.send(wc, admin, rasset.functions.setBlocked(blocked, True))
        first = gateway.functions.nextNonce(c_id).call()
        for to in recipients:
            devnet.send(we, bob, gateway.functions.burn(rwrapped.address, c_id, to, unit))
        refused_nonce = first + 3
        # every unit burnt; on a fast devnet the refused burn may already be refunded (read the
        # balance first: isRefunded never goes back)
        left = rwrapped.functions.balanceOf(bob.address).call()
        assert left == 0 or (left == unit and gateway.functions.isRefunded(c_id, refused_nonce).call()), left

        devnet.wait_until(
            lambda: all(rasset.functions.balanceOf(to).call() == unit for to in recipients if to != blocked),
            90,
            "the nine deliverable burns unlocked on C",
        )
        devnet.wait_until(
            lambda: vault.functions.transferStatus(e_id, refused_nonce).call() == STATUS_FAILED,
            30,
            "the refused one recorded as failed on C",
        )
        for i in range(10):
            expected = STATUS_FAILED if i == 3 else STATUS_DELIVERED
            assert vault.functions.transferStatus(e_id, first + i).call() == expected
        assert rasset.functions.balanceOf(blocked).call() == 0
        failed = [
            e.args
            for e in vault.events.TransferFailed().get_logs(from_block=dep.consortium_block)
            if e.args.srcChainId == e_id
        ]
        assert [(e.nonce, e.reason) for e in failed] == [(refused_nonce, DELIVERY_REFUSED)]

        # the committee refunds it on E: bob gets his unit back, once
        devnet.wait_until(
            lambda: gateway.functions.isRefunded(c_id, refused_nonce).call(),
            90,
            "the refused burn refunded on Ethereum",
        )
        assert rwrapped.functions.balanceOf(bob.address).call() == unit
        refunds = gateway.events.TransferRefunded().get_logs(from_block=dep.ethereum_block)
        assert [(e.args.nonce, e.args.sender, e.args.amount) for e in refunds] == [
            (refused_nonce, bob.address, unit)
        ]
        # supply backed: wrapped on E == held by the vault on C
        assert rwrapped.functions.totalSupply().call() == rasset.functions.balanceOf(vault.address).call()
        for member, proc in net.nodes.items():
            assert proc.popen.poll() is None, f"member {member} died; see {proc.log_path}"
