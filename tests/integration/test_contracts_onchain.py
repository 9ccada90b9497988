"""Python-made threshold signatures against the contracts deployed on a real anvil chain."""

from __future__ import annotations

import pytest
from eth_utils.address import to_checksum_address as cs
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError

from committee.bls import g1_to_eip2537
from committee.threshold import NotEnoughPartials, combine, deal, partial_sign, verify_partial
from relayer import devnet
from relayer.encoding import batch_message
from relayer.types import Batch, ChainId, Nonce, Transfer


@pytest.fixture
def bridge(chains: tuple[str, str]):  # type: ignore[no-untyped-def]
    shares = deal(4, 3)
    dep = devnet.deploy_bridge(chains[0], chains[1], shares[0].public.group_public_key)
    return shares, dep


def lock_transfers(dep: devnet.Deployment, count: int) -> list[Transfer]:
    wc = Web3(HTTPProvider(dep.consortium_url))
    admin, alice, bob = devnet.dev_account(0), devnet.dev_account(8), devnet.dev_account(9)
    devnet.send(wc, admin, dep.asset.functions.mint(alice.address, 10**21))
    devnet.send(wc, alice, dep.asset.functions.approve(dep.vault.address, 10**21))
    first = dep.vault.functions.nextNonce(devnet.ETHEREUM_CHAIN_ID).call()
    out = []
    for i in range(count):
        devnet.send(
            wc,
            alice,
            dep.vault.functions.lock(dep.asset.address, devnet.ETHEREUM_CHAIN_ID, bob.address, 10 + i),
        )
        out.append(
            Transfer(
                ChainId(devnet.CONSORTIUM_CHAIN_ID),
                ChainId(devnet.ETHEREUM_CHAIN_ID),
                Nonce(first + i),
                cs(dep.asset.address),
                cs(dep.wrapped.address),
                alice.address,
                bob.address,
                10 + i,
            )
        )
    return out


def threshold_sign(shares, message: bytes, members: tuple[int, ...]) -> bytes:  # type: ignore[no-untyped-def]
    partials = {s.index: partial_sign(s, message) for s in shares if s.index in members}
    return combine(shares[0].public, partials)


def execute(dep: devnet.Deployment, batch: Batch, sig48: bytes) -> dict:  # type: ignore[type-arg]
    we = Web3(HTTPProvider(dep.ethereum_url))
    fn = dep.gateway.functions.executeBatch(
        batch.key_epoch, [t.as_abi_tuple() for t in batch.transfers], g1_to_eip2537(sig48)
    )
    return devnet.send(we, devnet.dev_account(1), fn)  # type: ignore[no-any-return]


def test_any_three_of_four_partials_make_a_signature_the_gateway_accepts(bridge) -> None:  # type: ignore[no-untyped-def]
    shares, dep = bridge
    transfers = lock_transfers(dep, 3)
    batch = Batch(tuple(transfers), cs(dep.gateway.address), 1)
    message = batch_message(batch)
    assert dep.gateway.functions.batchMessage(1, [t.as_abi_tuple() for t in transfers]).call() == message
    sig = threshold_sign(shares, message, (2, 3, 4))
    assert sig == threshold_sign(shares, message, (1, 2, 4))
    receipt = execute(dep, batch, sig)
    assert receipt["status"] == 1
    bob = devnet.dev_account(9).address
    assert dep.wrapped.functions.balanceOf(bob).call() == 10 + 11 + 12
    assert all(
        dep.gateway.functions.isExecuted(devnet.CONSORTIUM_CHAIN_ID, t.nonce).call() for t in transfers
    )
    # the same batch again reverts and mints nothing more
    with pytest.raises(ContractLogicError):
        execute(dep, batch, sig)
    assert dep.wrapped.functions.balanceOf(bob).call() == 33


def test_two_partials_cannot_make_a_signature(bridge) -> None:  # type: ignore[no-untyped-def]
    shares, _ = bridge
    message = b"\x42" * 32
    partials = {s.index: partial_sign(s, message) for s in shares[:2]}
    with pytest.raises(NotEnoughPartials):
        combine(shares[0].public, partials)


def test_a_partial_from_a_wrong_share_is_detected(bridge) -> None:  # type: ignore[no-untyped-def]
    shares, _ = bridge
    message = b"\x42" * 32
    forged = partial_sign(shares[0], message)  # member 1's share, claimed as member 2's
    assert verify_partial(shares[0].public, 1, message, forged)
    assert not verify_partial(shares[0].public, 2, message, forged)


@pytest.mark.parametrize("mismatch", ["chain id", "contract", "key epoch"])
def test_a_signature_for_another_domain_is_rejected_on_chain(bridge, mismatch: str) -> None:  # type: ignore[no-untyped-def]
    shares, dep = bridge
    transfers = lock_transfers(dep, 1)
    real = Batch(tuple(transfers), cs(dep.gateway.address), 1)
    if mismatch == "chain id":
        other = [
            Transfer(
                t.src_chain_id, ChainId(1), t.nonce, t.src_token, t.dst_token, t.sender, t.recipient, t.amount
            )
            for t in transfers
        ]
        signed = Batch(tuple(other), cs(dep.gateway.address), 1)
    elif mismatch == "contract":
        signed = Batch(real.transfers, cs(dep.vault.address), 1)
    else:
        signed = Batch(real.transfers, cs(dep.gateway.address), 2)
    sig = threshold_sign(shares, batch_message(signed), (1, 2, 3))
    with pytest.raises(ContractLogicError):
        execute(dep, real, sig)
    assert not dep.gateway.functions.isExecuted(devnet.CONSORTIUM_CHAIN_ID, transfers[0].nonce).call()
