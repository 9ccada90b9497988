"""Rotation: a fresh DKG, the new key scheduled on-chain by a signature of the current key and
installed once the action delay has passed."""

from __future__ import annotations

import pytest
from eth_utils.address import to_checksum_address as cs
from web3 import HTTPProvider, Web3

from committee.bls import g1_to_eip2537, g2_to_eip2537
from committee.dkg_runner import local_dkg
from committee.rotation import rotation_message, sign_rotation
from committee.threshold import combine, partial_sign
from harness import devnet
from relayer.core.calldata import execute_batch_call
from relayer.core.encoding import batch_message
from relayer.core.types import Batch
from relayer.provisioning.deploy import DEVNET_ACTION_DELAY
from tests.integration.test_contracts_onchain import lock_transfers
from tests.support.actions import execute_when_due, scheduled

pytestmark = pytest.mark.integration


async def test_a_fresh_dkg_key_is_installed_by_the_current_key_and_then_signs(
    chains: tuple[str, str], mosquitto_port: int, network: str
) -> None:
    assert any(f.get("name") == "rotateKey" for f in devnet.artifact("QiaoGateway")["abi"])
    current = await local_dkg(4, 3, host="127.0.0.1", port=mosquitto_port, network=network)
    dep = devnet.deploy_bridge(chains[0], chains[1], current[0].public.group_public_key)
    fresh = await local_dkg(4, 3, host="127.0.0.1", port=mosquitto_port, network=network, key_epoch=2)
    new_key = fresh[0].public.group_public_key
    gateway = dep.gateway
    nonce = gateway.functions.actionNonce().call()
    message = rotation_message(devnet.ETHEREUM_CHAIN_ID, cs(gateway.address), 1, nonce, new_key)
    assert (
        gateway.functions.actionMessage(
            gateway.functions.ROTATE_TYPEHASH().call(),
            1,
            Web3.to_bytes(hexstr="0x" + Web3.keccak(g2_to_eip2537(new_key)).hex()).rjust(32, b"\0"),
        ).call()
        == message
    )
    shares = [r.share for r in current if r.share is not None]
    signature = sign_rotation(shares[1:], devnet.ETHEREUM_CHAIN_ID, cs(gateway.address), nonce, new_key)
    we = Web3(HTTPProvider(dep.ethereum_url))
    receipt = devnet.send(
        we,
        devnet.dev_account(1),
        gateway.functions.rotateKey(1, g2_to_eip2537(new_key), g1_to_eip2537(signature)),
    )
    # scheduled, not installed: the guardian may cancel it during the delay
    pending_nonce, executable_at = scheduled(gateway, receipt)
    assert pending_nonce == nonce
    assert executable_at == we.eth.get_block(receipt["blockNumber"])["timestamp"] + devnet_delay(gateway)
    assert gateway.functions.currentKeyEpoch().call() == 1
    execute_when_due(we, devnet.dev_account(2), gateway, receipt)
    assert gateway.functions.currentKeyEpoch().call() == 2
    assert gateway.functions.groupKey(2).call() == g2_to_eip2537(new_key)
    # the new committee signs a batch under epoch 2
    transfers = lock_transfers(dep, 1)
    batch = Batch(tuple(transfers), cs(gateway.address), 2)
    new_shares = [r.share for r in fresh if r.share is not None]
    partials = {s.index: partial_sign(s, batch_message(batch)) for s in new_shares[:3]}
    we_batch = execute_batch_call(gateway, batch, combine(fresh[0].public, partials))
    assert devnet.send(we, devnet.dev_account(2), we_batch)["status"] == 1


def devnet_delay(gateway) -> int:  # type: ignore[no-untyped-def]
    delay = int(gateway.functions.actionDelay().call())
    assert delay == DEVNET_ACTION_DELAY
    return delay
