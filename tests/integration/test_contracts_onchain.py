"""Python-made threshold signatures against the contracts deployed on a real anvil chain."""

from __future__ import annotations

import pytest
from eth_utils.address import to_checksum_address as cs
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from committee.bls import g1_to_eip2537
from committee.threshold import NotEnoughPartials, combine, deal, partial_sign, verify_partial
from harness import devnet
from relayer.core.calldata import execute_batch_call
from relayer.core.encoding import batch_message
from relayer.core.types import Batch, ChainId, Nonce, Transfer, packed_batch
from tests.support.snapshots import Snapshots


@pytest.fixture(scope="module")
def deployed(module_chains: tuple[str, str]):  # type: ignore[no-untyped-def]
    """The bridge with a 3-of-4 committee, deployed once for the module."""
    shares = deal(4, 3)
    dep = devnet.deploy_bridge(module_chains[0], module_chains[1], shares[0].public.group_public_key)
    return shares, dep, Snapshots(*module_chains)


@pytest.fixture
def bridge(deployed):  # type: ignore[no-untyped-def]
    """The module's bridge as deployed: the chains reverted to it before each test."""
    shares, dep, snapshots = deployed
    snapshots.fresh()
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
    fn = execute_batch_call(dep.gateway, batch, sig48)
    return devnet.send(we, devnet.dev_account(1), fn)  # type: ignore[no-any-return]


def test_any_three_of_four_partials_make_a_signature_the_gateway_accepts(bridge) -> None:  # type: ignore[no-untyped-def]
    shares, dep = bridge
    transfers = lock_transfers(dep, 3)
    batch = Batch(tuple(transfers), cs(dep.gateway.address), 1)
    message = batch_message(batch)
    assert dep.gateway.functions.batchMessage(1, packed_batch(batch)).call() == message
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


# ---- the deployment path, the ABI the relayer uses, and the flows beyond a plain batch -------------


def _abi_signature(item: dict) -> tuple:  # type: ignore[type-arg]
    def typ(p: dict) -> str:  # type: ignore[type-arg]
        if p["type"].startswith("tuple"):
            return "(" + ",".join(typ(c) for c in p["components"]) + ")" + p["type"][5:]
        return str(p["type"])

    return (item["type"], item["name"], tuple(typ(p) for p in item["inputs"]))


@pytest.mark.parametrize("contract", ["QiaoVault", "QiaoGateway"])
def test_the_relayer_abi_is_part_of_both_compiled_endpoints(contract: str) -> None:
    from relayer.adapters.abi import ENDPOINT_ABI
    from relayer.provisioning.deploy import endpoint_abi

    # the endpoint's own ABI and its SentinelModule's functions, which it runs from its fallback
    compiled = {_abi_signature(i) for i in endpoint_abi(contract) if "name" in i}
    for item in ENDPOINT_ABI:
        assert _abi_signature(item) in compiled, item["name"]


def test_deploy_writes_a_deployment_file_the_python_side_can_load(chains: tuple[str, str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    from relayer.provisioning.deploy import (
        DEVNET_ACTION_DELAY,
        DEVNET_CHALLENGE_PERIOD,
        deploy_bridge,
        load_deployment,
    )

    out = tmp_path / "deployment.json"
    shares = deal(4, 3)
    dep = deploy_bridge(chains[0], chains[1], shares[0].public.group_public_key, out=out)
    loaded = load_deployment(out)
    assert loaded.vault.address == dep.vault.address
    assert loaded.gateway.functions.currentKeyEpoch().call() == 1
    # the sentinels' functions (the endpoints' SentinelModule) are in the file's ABI, and the
    # profile's challenge period is set on both endpoints
    for endpoint in (loaded.vault, loaded.gateway):
        assert endpoint.functions.challengePeriod().call() == DEVNET_CHALLENGE_PERIOD
        assert endpoint.functions.curseQuorum().call() == 1
        assert not endpoint.functions.isCursed(12345).call()
    assert loaded.registry_e is not None
    for i in (1, 2, 3, 4, 8, 9):  # relayers and the demo accounts are allow-listed on both chains
        who = devnet.dev_account(i).address
        assert dep.registry_c.functions.isAllowed(who).call()  # type: ignore[union-attr]
        assert loaded.registry_e.functions.isAllowed(who).call()
    assert dep.gateway.functions.availableCapacity(dep.wrapped.address, 1).call() >= 10**9 * 10**18
    # the endpoints' external libraries: deployed once per chain, recorded, and linked into the code
    for chain, endpoint in (("consortium", loaded.vault), ("ethereum", loaded.gateway)):
        libraries = loaded.libraries[chain]
        assert {"SignedActions", "Refunds", "RateLimiter", "TokenPairs", "Views"} <= set(libraries)
        w3 = endpoint.w3
        code = w3.eth.get_code(endpoint.address).hex()
        for address in libraries.values():
            assert len(w3.eth.get_code(address)) > 0
            assert address[2:].lower() in code
        assert "__$" not in code
    # the devnet's action delay, as the deployed endpoints report it: seconds (tests fast-forward past it)
    assert loaded.vault.functions.actionDelay().call() == DEVNET_ACTION_DELAY
    assert loaded.gateway.functions.actionDelay().call() == DEVNET_ACTION_DELAY


def test_manual_execution_with_a_python_merkle_proof(bridge) -> None:  # type: ignore[no-untyped-def]
    from relayer.core.encoding import leaf_hash, merkle_proof

    shares, dep = bridge
    transfers = lock_transfers(dep, 5)
    batch = Batch(tuple(transfers), cs(dep.gateway.address), 1)
    sig = g1_to_eip2537(threshold_sign(shares, batch_message(batch), (1, 2, 3)))
    leaves = [leaf_hash(t) for t in transfers]
    we = Web3(HTTPProvider(dep.ethereum_url))
    anyone = devnet.dev_account(5)
    for index in (4, 1):
        t = transfers[index]
        fn = dep.gateway.functions.executeTransfer(
            1, t.as_abi_tuple(), transfers[0].nonce, transfers[-1].nonce, merkle_proof(leaves, index), sig
        )
        devnet.send(we, anyone, fn)
        assert dep.gateway.functions.transferStatus(devnet.CONSORTIUM_CHAIN_ID, t.nonce).call() == 1
    # the relayer's whole batch still lands: it skips the two already executed
    devnet.send(
        we,
        devnet.dev_account(1),
        execute_batch_call(dep.gateway, batch, sig),
    )
    assert dep.wrapped.functions.balanceOf(devnet.dev_account(9).address).call() == sum(
        10 + i for i in range(5)
    )


def test_a_transfer_to_a_recipient_not_allowed_fails_and_is_refunded_once(bridge) -> None:  # type: ignore[no-untyped-def]
    from relayer.core.encoding import refund_message

    shares, dep = bridge
    wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))
    admin, alice = devnet.dev_account(0), devnet.dev_account(8)
    stranger = cs("0x" + "5a" * 20)  # never allow-listed on Ethereum
    devnet.send(wc, admin, dep.asset.functions.mint(alice.address, 100))
    devnet.send(wc, alice, dep.asset.functions.approve(dep.vault.address, 100))
    nonce = dep.vault.functions.nextNonce(devnet.ETHEREUM_CHAIN_ID).call()
    devnet.send(
        wc, alice, dep.vault.functions.lock(dep.asset.address, devnet.ETHEREUM_CHAIN_ID, stranger, 100)
    )
    t = Transfer(
        ChainId(devnet.CONSORTIUM_CHAIN_ID),
        ChainId(devnet.ETHEREUM_CHAIN_ID),
        Nonce(nonce),
        cs(dep.asset.address),
        cs(dep.wrapped.address),
        alice.address,
        stranger,
        100,
    )
    batch = Batch((t,), cs(dep.gateway.address), 1)
    sig = g1_to_eip2537(threshold_sign(shares, batch_message(batch), (1, 2, 3)))
    receipt = devnet.send(we, devnet.dev_account(1), execute_batch_call(dep.gateway, batch, sig))
    failed = dep.gateway.events.TransferFailed().process_receipt(receipt, errors=DISCARD)
    assert [(e.args.nonce, e.args.reason) for e in failed] == [(nonce, 1)]
    assert dep.gateway.functions.isExecuted(devnet.CONSORTIUM_CHAIN_ID, nonce).call()
    assert dep.wrapped.functions.totalSupply().call() == 0

    # the refund message, computed in Python (relayer.core.encoding.refund_message), matches the contract's
    message = refund_message(t, dep.vault.address, 1)
    assert dep.vault.functions.refundMessage(1, t.as_abi_tuple()).call() == message
    refund_sig = g1_to_eip2537(threshold_sign(shares, message, (2, 3, 4)))
    before = dep.asset.functions.balanceOf(alice.address).call()
    devnet.send(wc, devnet.dev_account(2), dep.vault.functions.refund(1, t.as_abi_tuple(), refund_sig))
    assert dep.asset.functions.balanceOf(alice.address).call() == before + 100
    with pytest.raises(ContractLogicError):
        devnet.send(wc, devnet.dev_account(2), dep.vault.functions.refund(1, t.as_abi_tuple(), refund_sig))


def test_refund_message_matches_the_contracts_refund_message_view_on_both_endpoints(bridge) -> None:  # type: ignore[no-untyped-def]
    from relayer.core.encoding import refund_message

    _, dep = bridge
    c2e = Transfer(
        ChainId(devnet.CONSORTIUM_CHAIN_ID),
        ChainId(devnet.ETHEREUM_CHAIN_ID),
        Nonce(7),
        cs(dep.asset.address),
        cs(dep.wrapped.address),
        devnet.dev_account(8).address,
        cs("0x" + "5b" * 20),
        12345,
    )
    e2c = Transfer(
        ChainId(devnet.ETHEREUM_CHAIN_ID),
        ChainId(devnet.CONSORTIUM_CHAIN_ID),
        Nonce(3),
        cs(dep.wrapped.address),
        cs(dep.asset.address),
        devnet.dev_account(9).address,
        devnet.dev_account(8).address,
        2**200,
    )
    for endpoint, t in ((dep.vault, c2e), (dep.gateway, e2c)):
        for epoch in (1, 2, 2**64 - 1):
            ours = refund_message(t, endpoint.address, epoch)
            assert endpoint.functions.refundMessage(epoch, t.as_abi_tuple()).call() == ours
    # the view binds its own endpoint: the vault's message is not the gateway's for the same transfer
    assert dep.gateway.functions.refundMessage(1, c2e.as_abi_tuple()).call() != refund_message(
        c2e, dep.vault.address, 1
    )


def test_the_deploy_command_with_the_testnet_profile(chains: tuple[str, str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from committee.keyfile import write_public_file
    from relayer.provisioning.deploy import main

    shares = deal(4, 3)
    public = tmp_path / "committee.json"
    write_public_file(public, shares[0].public)
    key_file = tmp_path / "admin.key"
    key_file.write_text("0x" + bytes(devnet.dev_account(3).key).hex() + "\n")
    guardian = devnet.dev_account(6).address
    out = tmp_path / "testnet.json"
    argv = ["--consortium-rpc", chains[0], "--ethereum-rpc", chains[1], "--committee", str(public)]
    argv += ["--admin-key-file", str(key_file), "--profile", "testnet", "--guardian", guardian]
    argv += ["--allow", devnet.dev_account(7).address, "--out", str(out)]
    # a testnet brake that a stolen key could release within a minute is refused, before any deployment
    assert main([*argv, "--action-delay", "60"]) == 1
    assert not out.exists()
    assert main(argv) == 0
    data = json.loads(out.read_text())
    gateway = Web3(HTTPProvider(chains[1])).eth.contract(
        address=data["chains"]["ethereum"]["contracts"]["gateway"]["address"],
        abi=data["chains"]["ethereum"]["contracts"]["gateway"]["abi"],
    )
    assert gateway.functions.guardian().call() == guardian
    assert gateway.functions.owner().call() == devnet.dev_account(3).address
    # a committee-signed RESUME or ROTATE waits a day on the testnet profile
    assert gateway.functions.actionDelay().call() == 86_400
    vault = Web3(HTTPProvider(chains[0])).eth.contract(
        address=data["chains"]["consortium"]["contracts"]["vault"]["address"],
        abi=data["chains"]["consortium"]["contracts"]["vault"]["abi"],
    )
    assert vault.functions.actionDelay().call() == 86_400
    assert data["chains"]["consortium"]["chain_id"] == devnet.CONSORTIUM_CHAIN_ID


def test_a_refund_the_source_cannot_pay_now_reverts_in_a_way_the_relayer_waits_on(bridge) -> None:  # type: ignore[no-untyped-def]
    """On a real chain: a forged amount is refused for good (NotRefundable); a frozen sender and
    an Inbound bucket too small give reverts the submitter waits on, and the same signed refund
    pays once they are lifted (issue 13)."""
    import dataclasses

    from relayer.core.encoding import refund_message
    from relayer.core.reverts import RevertKind, classify_refund_revert

    shares, dep = bridge
    wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))
    admin, alice = devnet.dev_account(0), devnet.dev_account(8)
    stranger = cs("0x" + "5b" * 20)  # never allow-listed on Ethereum
    devnet.send(wc, admin, dep.asset.functions.mint(alice.address, 300))
    devnet.send(wc, alice, dep.asset.functions.approve(dep.vault.address, 300))
    nonce = dep.vault.functions.nextNonce(devnet.ETHEREUM_CHAIN_ID).call()
    devnet.send(
        wc, alice, dep.vault.functions.lock(dep.asset.address, devnet.ETHEREUM_CHAIN_ID, stranger, 300)
    )
    t = Transfer(
        ChainId(devnet.CONSORTIUM_CHAIN_ID),
        ChainId(devnet.ETHEREUM_CHAIN_ID),
        Nonce(nonce),
        cs(dep.asset.address),
        cs(dep.wrapped.address),
        alice.address,
        stranger,
        300,
    )
    batch = Batch((t,), cs(dep.gateway.address), 1)
    sig = g1_to_eip2537(threshold_sign(shares, batch_message(batch), (1, 2, 3)))
    devnet.send(we, devnet.dev_account(1), execute_batch_call(dep.gateway, batch, sig))
    assert dep.gateway.functions.transferStatus(devnet.CONSORTIUM_CHAIN_ID, nonce).call() == 3

    def revert_kind(transfer: Transfer) -> RevertKind:
        signed = g1_to_eip2537(
            threshold_sign(shares, refund_message(transfer, dep.vault.address, 1), (1, 2, 3))
        )
        with pytest.raises(ContractLogicError) as info:
            dep.vault.functions.refund(1, transfer.as_abi_tuple(), signed).estimate_gas(
                {"from": admin.address}
            )
        return classify_refund_revert(info.value.data)

    # signed by the committee's key, but not the transfer that was locked: refused for good
    assert revert_kind(dataclasses.replace(t, amount=3000)) is RevertKind.PERMANENT
    # the sender frozen on C: wait
    devnet.send(wc, admin, dep.registry_c.functions.setFrozen(alice.address, True))  # type: ignore[union-attr]
    assert revert_kind(t) is RevertKind.WAIT
    devnet.send(wc, admin, dep.registry_c.functions.setFrozen(alice.address, False))  # type: ignore[union-attr]
    # the Inbound bucket smaller than the refund: wait
    devnet.send(wc, admin, dep.vault.functions.setRateLimit(dep.asset.address, 1, 100, 0))
    assert revert_kind(t) is RevertKind.WAIT
    # a larger capacity alone does not refill the bucket (setRateLimit keeps its level, issue 13
    # point 4): remove the limit, then set a new one, which starts full
    devnet.send(wc, admin, dep.vault.functions.setRateLimit(dep.asset.address, 1, 1000, 0))
    assert revert_kind(t) is RevertKind.WAIT
    devnet.send(wc, admin, dep.vault.functions.setRateLimit(dep.asset.address, 1, 0, 0))
    devnet.send(wc, admin, dep.vault.functions.setRateLimit(dep.asset.address, 1, 1000, 0))
    before = dep.asset.functions.balanceOf(alice.address).call()
    refund_sig = g1_to_eip2537(threshold_sign(shares, refund_message(t, dep.vault.address, 1), (2, 3, 4)))
    devnet.send(wc, devnet.dev_account(2), dep.vault.functions.refund(1, t.as_abi_tuple(), refund_sig))
    assert dep.asset.functions.balanceOf(alice.address).call() == before + 300
