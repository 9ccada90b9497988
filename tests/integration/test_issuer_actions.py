"""Issue 19 on real anvil chains: the issuer's decisions recorded in IssuerRegistry on C, read by
the chain client as the members read them (`issuer_events`, `local_token_of`), carried as ISSUER
actions signed by three of four shares and sent with `action_call_data`, applied to the wrapped
token on E by the gateway's IssuerModule in C's order; the asset status and NAV reads that the
stale-NAV and C/E-difference checks use; and a suspended asset's mint queued by its batch, its
release reverting with `AssetSuspended` (classified WAIT: retried, never failed) until C lifts
the suspension."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from eth_utils.address import to_checksum_address as cs
from prometheus_client import REGISTRY
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from harness import devnet
from relayer.adapters.abi import GATEWAY_ABI, ISSUER_MODULE_ABI, ISSUER_REGISTRY_ABI, TOKEN_ASSET_ABI
from relayer.core.calldata import action_call_data, execute_batch_data, execute_issuer_data, release_data
from relayer.core.encoding import ACTION_TYPEHASHES, action_message, batch_message, issuer_params
from relayer.core.items import asset_difference, nav_age
from relayer.core.onchain import IssuerEvent, IssuerScheduleStatus
from relayer.core.refunds import STATUS_DELIVERED, STATUS_QUEUED
from relayer.core.releases import ReleaseDecision, classify_release_revert
from relayer.core.types import Batch, ChainId, Nonce, Transfer
from relayer.ops.endpoints import PendingActionWatch
from tests.integration.test_action_bindings import (
    ADMIN,
    DELAY,
    GUARDIAN,
    Bridge,
    deployed,  # noqa: F401  (the fixture `bound` uses)
)
from tests.integration.test_action_bindings import bridge as bound  # noqa: F401  (a fixture)
from tests.integration.test_contracts_onchain import _abi_signature, threshold_sign

pytestmark = pytest.mark.integration

ALICE, BOB = devnet.dev_account(8), devnet.dev_account(9)  # allow-listed on both chains


@pytest.mark.parametrize(
    ("contract", "abi"),
    [
        ("IssuerModule", ISSUER_MODULE_ABI),
        ("IssuerRegistry", ISSUER_REGISTRY_ABI),
        ("WrappedToken", TOKEN_ASSET_ABI),
        ("QiaoGateway", GATEWAY_ABI),
    ],
)
def test_the_issuer_fragments_are_in_the_compiled_contracts(contract: str, abi: Any) -> None:
    compiled = {_abi_signature(i) for i in devnet.artifact(contract)["abi"] if "name" in i}
    for item in abi:
        assert _abi_signature(item) in compiled, item["name"]


def _carry(bridge: Bridge, e: IssuerEvent, token: str) -> Any:
    """What the members do with one final IssuerAction: the params, three partials, the call."""
    params = issuer_params(
        token=token,
        sequence=e.sequence,
        op=e.op,
        account=e.account,
        to=e.to,
        amount=e.amount,
        as_of=e.as_of,
    )
    return bridge.submit(action_call_data("issuer", 1, params, bridge.sign("issuer", params)))


async def test_issuer_decisions_on_c_are_read_carried_and_applied_on_e_in_order(bound: Bridge) -> None:  # noqa: F811 (the fixture)
    bridge = bound
    dep, wc, we = bridge.dep, bridge.wc, bridge.we
    issuer, wrapped, gateway = dep.issuer, dep.wrapped, dep.gateway
    assert issuer is not None
    admin = devnet.dev_account(ADMIN)
    # the deployment made the gateway an agent of the token
    assert wrapped.functions.isAgent(gateway.address).call()
    # bob gets 50 on E: locked on C, a batch signed by three shares delivered on E
    devnet.send(wc, admin, dep.asset.functions.mint(ALICE.address, 100 * 10**18))
    devnet.send(wc, ALICE, dep.asset.functions.approve(dep.vault.address, 2**255))
    devnet.send(
        wc,
        ALICE,
        dep.vault.functions.lock(dep.asset.address, devnet.ETHEREUM_CHAIN_ID, BOB.address, 50 * 10**18),
    )
    transfer = Transfer(
        ChainId(devnet.CONSORTIUM_CHAIN_ID),
        ChainId(devnet.ETHEREUM_CHAIN_ID),
        Nonce(1),
        cs(dep.asset.address),
        cs(wrapped.address),
        cs(ALICE.address),
        cs(BOB.address),
        50 * 10**18,
    )
    batch = Batch((transfer,), cs(gateway.address), 1)
    sig = threshold_sign(bridge.shares, batch_message(batch), (1, 2, 3))
    bridge.submit(execute_batch_data(batch, sig))
    assert wrapped.functions.balanceOf(BOB.address).call() == 50 * 10**18

    # the issuer on C: a partial freeze, a forced transfer, a suspension, a NAV
    first = wc.eth.block_number + 1
    nav_at = wc.eth.get_block("latest")["timestamp"]
    devnet.send(wc, admin, issuer.functions.freezePartialTokens(dep.asset.address, BOB.address, 10 * 10**18))
    devnet.send(
        wc, admin, issuer.functions.forcedTransfer(dep.asset.address, BOB.address, ALICE.address, 45 * 10**18)
    )
    devnet.send(wc, admin, issuer.functions.setAssetStatus(dep.asset.address, 1))
    devnet.send(wc, admin, issuer.functions.setNav(dep.asset.address, 1_020_000_000_000_000_000, nav_at))
    events = await bridge.c.issuer_events(issuer.address, first, wc.eth.block_number)
    assert [(ev.sequence, ev.op, ev.account, ev.to, ev.amount, ev.as_of) for ev in events] == [
        (1, 3, cs(BOB.address), "0x" + "00" * 20, 10 * 10**18, 0),
        (2, 5, cs(BOB.address), cs(ALICE.address), 45 * 10**18, 0),
        (3, 7, "0x" + "00" * 20, "0x" + "00" * 20, 1, 0),
        (4, 8, "0x" + "00" * 20, "0x" + "00" * 20, 1_020_000_000_000_000_000, nav_at),
    ]
    assert all(ev.asset == cs(dep.asset.address) and ev.by == admin.address for ev in events)
    token = await bridge.e.local_token_of(devnet.CONSORTIUM_CHAIN_ID, events[0].asset)
    assert token == cs(wrapped.address)

    # the contract's message is the relayer's for an ISSUER action
    params = issuer_params(
        token=token, sequence=1, op=3, account=BOB.address, to="0x" + "00" * 20, amount=1, as_of=0
    )
    nonce = gateway.functions.actionNonce().call()
    ours = action_message("issuer", devnet.ETHEREUM_CHAIN_ID, cs(gateway.address), 1, nonce, params)
    assert ours == bytes(gateway.functions.actionMessage(ACTION_TYPEHASHES["issuer"], 1, params).call())
    assert bytes(gateway.functions.ISSUER_TYPEHASH().call()) == ACTION_TYPEHASHES["issuer"]

    # in C's order: the first (a token's first decision may have any number), then the third is
    # refused before the second
    _carry(bridge, events[0], token)
    assert wrapped.functions.getFrozenTokens(BOB.address).call() == 10 * 10**18
    assert await bridge.e.issuer_sequence(token) == 1
    with pytest.raises(ContractLogicError):
        _carry(bridge, events[2], token)
    # the forced transfer (45 of bob's 50) is only scheduled: its number is consumed, the 40 of
    # bob's 50 not frozen yet are frozen at once (the 10 the issuer froze cover the rest), nothing
    # moves before the endpoint's delay
    _carry(bridge, events[1], token)
    assert await bridge.e.issuer_sequence(token) == 2
    scheduled = await bridge.e.issuer_scheduled(token, 2)
    assert scheduled.status is IssuerScheduleStatus.PENDING
    assert (scheduled.account, scheduled.to) == (cs(BOB.address), cs(ALICE.address))
    assert (scheduled.amount, scheduled.held) == (45 * 10**18, 40 * 10**18)
    assert scheduled.executable_at >= await bridge.e.chain_time() + DELAY - 5
    assert wrapped.functions.balanceOf(ALICE.address).call() == 0
    assert wrapped.functions.getFrozenTokens(BOB.address).call() == 50 * 10**18
    # bob cannot move them away meanwhile, nor burn them toward C
    assert not wrapped.functions.canTransfer(BOB.address, ALICE.address, 1).call()
    with pytest.raises(ContractLogicError):
        bridge.submit(execute_issuer_data(token, 2))  # not before the delay
    bridge.we.provider.make_request("evm_increaseTime", [DELAY])  # type: ignore[arg-type]
    bridge.we.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    bridge.submit(execute_issuer_data(token, 2))  # anyone; 5 of the issuer's frozen 10 released
    assert wrapped.functions.balanceOf(ALICE.address).call() == 45 * 10**18
    assert wrapped.functions.getFrozenTokens(BOB.address).call() == 5 * 10**18
    assert (await bridge.e.issuer_scheduled(token, 2)).status is IssuerScheduleStatus.EXECUTED
    assert not await bridge.e.issuer_action_failed(token, 2)
    with pytest.raises(ContractLogicError):
        bridge.submit(execute_issuer_data(token, 2))  # once

    # C suspended the asset; E does not know yet: the statuses differ
    c_state = await bridge.c.issuer_asset_state(issuer.address, dep.asset.address)
    e_state = await bridge.e.token_asset_state(token)
    assert (c_state.status, e_state.status) == (1, 0)
    assert asset_difference(token, c_state, e_state) is not None
    assert nav_age(e_state, 0.0) is None  # no NAV on E yet: stale by definition
    _carry(bridge, events[2], token)
    _carry(bridge, events[3], token)
    e_state = await bridge.e.token_asset_state(token)
    c_state = await bridge.c.issuer_asset_state(issuer.address, dep.asset.address)
    assert e_state == c_state
    assert asset_difference(token, c_state, e_state) is None
    assert nav_age(e_state, nav_at + 100.0) == 100.0

    # suspended: the batch executes, its mint waits in the token's release queue (nothing charged),
    # and releasing it reverts with AssetSuspended, which the releaser waits on
    devnet.send(
        wc,
        ALICE,
        dep.vault.functions.lock(dep.asset.address, devnet.ETHEREUM_CHAIN_ID, BOB.address, 7 * 10**18),
    )
    second = dataclasses.replace(transfer, nonce=Nonce(2), amount=7 * 10**18)
    batch2 = Batch((second,), cs(gateway.address), 1)
    sig2 = threshold_sign(bridge.shares, batch_message(batch2), (1, 2, 3))
    receipt = bridge.submit(execute_batch_data(batch2, sig2))
    queued = gateway.events.TransferQueued().process_receipt(receipt, errors=DISCARD)
    assert [(ev["args"]["nonce"], ev["args"]["amount"]) for ev in queued] == [(2, 7 * 10**18)]
    assert gateway.functions.transferStatus(devnet.CONSORTIUM_CHAIN_ID, 2).call() == STATUS_QUEUED
    release = release_data(second)
    with pytest.raises(ContractLogicError) as caught:
        bridge.submit(release)
    assert classify_release_revert(caught.value.data).decision is ReleaseDecision.WAIT
    assert classify_release_revert(caught.value.data).name == "AssetSuspended"
    assert gateway.functions.transferStatus(devnet.CONSORTIUM_CHAIN_ID, 2).call() == STATUS_QUEUED

    # C lifts the suspension; once carried, the queued transfer is released
    first = wc.eth.block_number + 1
    devnet.send(wc, admin, issuer.functions.setAssetStatus(dep.asset.address, 0))
    (lift,) = await bridge.c.issuer_events(issuer.address, first, wc.eth.block_number)
    assert lift.sequence == 5
    _carry(bridge, lift, token)
    bridge.submit(release)
    assert wrapped.functions.balanceOf(BOB.address).call() == 5 * 10**18 + 7 * 10**18
    assert gateway.functions.transferStatus(devnet.CONSORTIUM_CHAIN_ID, 2).call() == STATUS_DELIVERED
    assert we.eth.block_number > 0


async def test_a_decision_the_token_refuses_is_recorded_failed_and_the_next_applies(
    bound: Bridge,  # noqa: F811 (the fixture)
) -> None:
    bridge = bound
    dep = bridge.dep
    issuer = dep.issuer
    assert issuer is not None
    admin = devnet.dev_account(ADMIN)
    first = bridge.wc.eth.block_number + 1
    # nobody holds anything on E: a forced transfer cannot be applied there
    devnet.send(
        bridge.wc, admin, issuer.functions.forcedTransfer(dep.asset.address, BOB.address, ALICE.address, 1)
    )
    devnet.send(bridge.wc, admin, issuer.functions.setAddressFrozen(dep.asset.address, BOB.address, True))
    forced, freeze = await bridge.c.issuer_events(issuer.address, first, bridge.wc.eth.block_number)
    token = cs(dep.wrapped.address)
    receipt = _carry(bridge, forced, token)
    failed = dep.gateway.events.IssuerActionFailed().process_receipt(receipt, errors=DISCARD)
    assert [(ev["args"]["sequence"], ev["args"]["op"]) for ev in failed] == [(1, 5)]
    assert await bridge.e.issuer_action_failed(token, 1)
    assert await bridge.e.issuer_sequence(token) == 1
    assert (await bridge.e.issuer_scheduled(token, 1)).status is IssuerScheduleStatus.NONE  # refused at once
    _carry(bridge, freeze, token)
    assert dep.wrapped.functions.isFrozen(BOB.address).call()
    assert not await bridge.e.issuer_action_failed(token, 2)


def _mint_on_e(bridge: Bridge, holder: str, amount: int, nonce: int = 1) -> None:
    """`amount` locked on C by alice for `holder`, delivered on E by a batch three shares signed."""
    dep, wc = bridge.dep, bridge.wc
    devnet.send(wc, devnet.dev_account(ADMIN), dep.asset.functions.mint(ALICE.address, amount))
    devnet.send(wc, ALICE, dep.asset.functions.approve(dep.vault.address, amount))
    devnet.send(
        wc, ALICE, dep.vault.functions.lock(dep.asset.address, devnet.ETHEREUM_CHAIN_ID, holder, amount)
    )
    transfer = Transfer(
        ChainId(devnet.CONSORTIUM_CHAIN_ID),
        ChainId(devnet.ETHEREUM_CHAIN_ID),
        Nonce(nonce),
        cs(dep.asset.address),
        cs(dep.wrapped.address),
        cs(ALICE.address),
        cs(holder),
        amount,
    )
    batch = Batch((transfer,), cs(dep.gateway.address), 1)
    bridge.submit(execute_batch_data(batch, threshold_sign(bridge.shares, batch_message(batch), (1, 2, 3))))


async def test_a_forced_transfer_submitted_by_hand_is_seen_pending_by_the_endpoint_watch_until_cancelled(
    bound: Bridge,  # noqa: F811 (the fixture)
) -> None:
    """A stolen key's forced transfer, submitted straight to the gateway (no member's pipeline
    carried it): every node's endpoint watch counts it as a pending action of kind issuer (what
    pages QiaoSignedActionPending), with its time left; the guardian's cancelIssuerAction releases
    the hold and the watch sees nothing pending any more."""
    bridge = bound
    dep = bridge.dep
    issuer, wrapped, gateway = dep.issuer, dep.wrapped, dep.gateway
    assert issuer is not None
    _mint_on_e(bridge, BOB.address, 20 * 10**18)
    first = bridge.wc.eth.block_number + 1
    devnet.send(
        bridge.wc,
        devnet.dev_account(ADMIN),
        issuer.functions.forcedTransfer(dep.asset.address, BOB.address, ALICE.address, 20 * 10**18),
    )
    (order,) = await bridge.c.issuer_events(issuer.address, first, bridge.wc.eth.block_number)
    token = cs(wrapped.address)
    _carry(bridge, order, token)
    assert wrapped.functions.getFrozenTokens(BOB.address).call() == 20 * 10**18
    chains = {ChainId(devnet.ETHEREUM_CHAIN_ID): bridge.e}
    name = bridge.e.cfg.name

    def gauge(metric: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(metric, {"chain": name, **labels})

    seen = (await PendingActionWatch().read(chains))[name]
    assert [(a.kind.value if a.kind else None, a.nonce) for a in seen.actions] == [("issuer", 0)]
    assert gauge("qiao_endpoint_pending_actions", kind="issuer") == 1
    assert gauge("qiao_endpoint_pending_actions", kind="resume") == 0
    left = gauge("qiao_endpoint_pending_action_executable_seconds")
    assert left is not None
    assert DELAY - 60 < left <= DELAY
    # not the guardian: refused; the guardian: released, recorded failed, seen no more
    with pytest.raises(ContractLogicError):
        gateway.functions.cancelIssuerAction(token, order.sequence).call({"from": ALICE.address})
    devnet.send(
        bridge.we, devnet.dev_account(GUARDIAN), gateway.functions.cancelIssuerAction(token, order.sequence)
    )
    assert (await bridge.e.issuer_scheduled(token, order.sequence)).status is IssuerScheduleStatus.CANCELLED
    assert await bridge.e.issuer_action_failed(token, order.sequence)
    assert wrapped.functions.getFrozenTokens(BOB.address).call() == 0
    assert (await PendingActionWatch().read(chains))[name].actions == ()
    assert gauge("qiao_endpoint_pending_actions", kind="issuer") == 0
    assert gauge("qiao_endpoint_pending_action_executable_seconds") is None
