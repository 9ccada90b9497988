"""Review of issue 19, findings #5, #6 and #9, on real anvil chains with two members' real action
stages (each its own SQLite store and chain clients): the issuer decides on C about an asset whose
token pair is not registered on E yet; member 1 scans once E's final head has the pair, member 2
while its E endpoint's final head does not (a lagging RPC). Before the fix member 2 dropped those
decisions for good and member 1 carried them: no threshold for them, and the token's queue on E
stalled (or, had a later decision been signed first, the earlier ones were skipped for ever).
Now member 2 keeps them waiting and carries them, in C's order, once its endpoint sees the pair:
both members hold the same ISSUER actions (ids, params), every decision from #1. Applied on E in
that order, the token ends in C's state; the forced transfer C recorded before the token existed
on E is refused by the token in its turn and closed as `failed`, not `executed` (#9)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address as cs
from web3 import HTTPProvider, Web3

from committee.bls import get_backend
from committee.threshold import deal
from harness import devnet
from relayer.adapters.chain import ChainClient
from relayer.adapters.store import Store
from relayer.adapters.transport import Transport
from relayer.config import NodeConfig, load_config
from relayer.core.calldata import action_call_data
from relayer.core.encoding import action_message
from relayer.core.items import ActionKind, ActionState, IssuerView, decide_issuer
from relayer.ops.reconciler import reconcile
from relayer.pipeline.node import Node
from relayer.provisioning.deploy import deploy, send
from tests.integration.test_action_bindings import send_data
from tests.integration.test_contracts_onchain import threshold_sign

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "devnet.example.toml"
ADMIN, RELAYER = 0, 4
BOB, ALICE = devnet.dev_account(9), devnet.dev_account(8)
E_ID = devnet.ETHEREUM_CHAIN_ID


def member_config(tmp_path: Path, member: int, dep: Any) -> NodeConfig:
    data = tmp_path / f"node-{member}"
    data.mkdir()
    cfg = load_config(EXAMPLE, environ={"QIAO_NODE__DATA_DIR": str(data)})
    chains = dict(cfg.chains)
    chains["consortium"] = dataclasses.replace(
        chains["consortium"], rpc=dep.consortium_url, rpcs=(dep.consortium_url,), endpoint=dep.vault.address
    )
    chains["ethereum"] = dataclasses.replace(
        chains["ethereum"], rpc=dep.ethereum_url, rpcs=(dep.ethereum_url,), endpoint=dep.gateway.address
    )
    actions = dataclasses.replace(cfg.actions, issuer_registry=dep.issuer.address)
    return dataclasses.replace(cfg, member_index=member, chains=chains, actions=actions)


@dataclasses.dataclass
class Member:
    node: Node
    stack: AsyncExitStack

    async def use_ethereum(self, depth: int) -> None:
        """Read E through an endpoint whose final head is `depth` blocks below its head."""
        e_cfg = dataclasses.replace(self.node.cfg.chains["ethereum"], finality_depth=depth)
        client = await self.stack.enter_async_context(ChainClient.connect(e_cfg))
        self.node.chains[client.chain_id] = client  # the stage reads the same dict

    async def issuer_actions(self) -> list[tuple[str, bytes, str]]:
        records = await self.node.store.action_records(list(ActionState), limit=100)
        return sorted(
            (r.action.id, r.action.params, r.state.value)
            for r in records
            if r.action.kind is ActionKind.ISSUER
        )


@pytest.fixture
async def members(chains: tuple[str, str], tmp_path: Path) -> AsyncIterator[tuple[Any, Any, list[Member]]]:
    shares = deal(4, 3)
    dep = devnet.deploy_bridge(chains[0], chains[1], shares[0].public.group_public_key)
    out = []
    async with AsyncExitStack() as stack:
        for member in (1, 2):
            cfg = member_config(tmp_path, member, dep)
            store = await stack.enter_async_context(Store.open(cfg.store_path))
            c = await stack.enter_async_context(ChainClient.connect(cfg.chains["consortium"]))
            e = await stack.enter_async_context(ChainClient.connect(cfg.chains["ethereum"]))
            node = Node(
                cfg=cfg,
                store=store,
                chains={c.chain_id: c, e.chain_id: e},
                public=shares[member - 1].public,
                share=shares[member - 1],
                backend=get_backend(),
                transport=Transport(cfg.mqtt, cfg.member_index),
            )
            out.append(Member(node, stack))
        yield dep, shares, out


def wait_blocks(w3: Web3, n: int) -> None:
    target = w3.eth.block_number + n
    deadline = time.monotonic() + 30
    while w3.eth.block_number < target:
        assert time.monotonic() < deadline, "the chain stopped mining"
        time.sleep(0.2)


async def test_members_that_see_the_pair_at_different_scans_carry_every_decision_from_the_first(
    members: tuple[Any, Any, list[Member]],
) -> None:
    dep, shares, (one, two) = members
    wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))
    admin = devnet.dev_account(ADMIN)
    issuer = dep.issuer
    # a second asset on C, not bridged yet; the issuer decides about it: a wallet freeze, a forced
    # transfer (nobody holds the token on E: the token will refuse it) and a suspension
    asset = deploy(wc, admin, "TestAsset", "Fund Two", "F2", admin.address)
    send(wc, admin, issuer.functions.setAddressFrozen(asset.address, BOB.address, True))
    send(wc, admin, issuer.functions.forcedTransfer(asset.address, BOB.address, ALICE.address, 5))
    send(wc, admin, issuer.functions.setAssetStatus(asset.address, 1))
    # E: the wrapped token and its pair, registered after some blocks
    wrapped = deploy(we, admin, "WrappedToken", "Wrapped Fund Two", "wF2", dep.gateway.address, dep.registry_e.address, admin.address)  # fmt: skip
    send(we, admin, wrapped.functions.addAgent(dep.gateway.address))
    before = we.eth.block_number
    we.provider.make_request("anvil_mine", [20])  # type: ignore[arg-type]
    send(
        we,
        admin,
        dep.gateway.functions.registerToken(devnet.CONSORTIUM_CHAIN_ID, wrapped.address, asset.address),
    )
    wait_blocks(wc, 2)
    wait_blocks(we, 2)

    # member 2's endpoint lags: its final head is before the registration
    await two.use_ethereum(we.eth.block_number - before)
    await two.node.actions.scan_registry()
    assert await two.issuer_actions() == []  # nothing carried: no token to name yet ...
    waiting = await two.node.store.issuer_waiting(devnet.CONSORTIUM_CHAIN_ID)
    assert [w.event.sequence for w in waiting] == [1, 2, 3]  # ... and nothing dropped

    # the issuer sets the NAV once the pair is registered; member 1 sees everything at once
    nav_at = wc.eth.get_block("latest")["timestamp"]
    send(wc, admin, issuer.functions.setNav(asset.address, 10**18, nav_at))
    wait_blocks(wc, 2)
    await one.node.actions.scan_registry()
    carried = await one.issuer_actions()
    assert len(carried) == 4
    # member 2's endpoint catches up: the waiting decisions and the new one, same ids and params
    await two.use_ethereum(1)
    await two.node.actions.scan_registry()
    assert await two.issuer_actions() == carried
    assert await two.node.store.issuer_waiting(devnet.CONSORTIUM_CHAIN_ID) == []

    # the members sign them in C's order from #1 (each member's own check), and they apply on E
    e = one.node.chains[E_ID]
    records = sorted(
        (
            r
            for r in await one.node.store.action_records(list(ActionState))
            if r.action.kind is ActionKind.ISSUER
        ),
        key=lambda r: r.action.position,
    )
    for r in records:
        f = r.action.issuer
        assert f is not None
        assert cs(f.token) == cs(wrapped.address)
        for later in records:  # only the next one is signable
            view = await one.node.actions._issuer_of(e, later.action, final=False)  # as the stage reads it
            verdict = decide_issuer(later.action, view)
            signable = later.action.issuer is not None and later.action.issuer.sequence == f.sequence
            assert (verdict.decision.value == "sign") == signable, verdict.why
        nonce = dep.gateway.functions.actionNonce().call()
        message = action_message("issuer", E_ID, cs(dep.gateway.address), 1, nonce, r.action.params)
        signature = threshold_sign(shares, message, (1, 2, 3))
        send_data(we, devnet.dev_account(RELAYER), dep.gateway.address, action_call_data("issuer", 1, r.action.params, signature))  # fmt: skip
    assert wrapped.functions.isFrozen(BOB.address).call()
    assert wrapped.functions.assetStatus().call() == 1
    assert await e.issuer_sequence(cs(wrapped.address)) == 4

    # settled by member 1 at E's final head: the forced transfer as refused (failed), not applied
    wait_blocks(we, 2)
    for r in records:
        await one.node.actions._settle(e, dataclasses.replace(r, action_nonce=0))
    got = {
        rec.action.issuer.sequence: rec.state.value
        for rec in await one.node.store.action_records(list(ActionState))
        if rec.action.issuer is not None
    }
    assert got == {1: "executed", 2: "failed", 3: "executed", 4: "executed"}
    failed = [rec for rec in await one.node.store.action_records([ActionState.FAILED])]
    assert len(failed) == 1
    assert "REFUSED by the token, not applied" in failed[0].detail

    # the reconciler's comparison covers every registered pair: E follows C for both assets
    mismatches = await one.node.actions.asset_mismatches()
    assert mismatches == {"ethereum": []}
    # the issuer suspends the first asset, whose token no carried decision ever named; not carried
    # (no scan): the difference is reported for that token, status and numbers
    send(wc, admin, issuer.functions.setAssetStatus(dep.asset.address, 1))
    wait_blocks(wc, 2)
    (why,) = (await one.node.actions.asset_mismatches())["ethereum"]
    assert why.startswith(f"{cs(dep.wrapped.address)}: status suspended on the source, active here"), why
    assert "#1 on the source, #0 is the last consumed here" in why
    # the deployment's reconciler (A1) reads every registered pair too: the second asset's pair
    # (registered after the deployment) agrees, the first one differs
    pending = reconcile(dep, settled=False)
    assert pending.ok
    assert pending.counts["pending_status"] == 1
    settled = reconcile(dep, settled=True)
    assert [v.detail for v in settled.violations if v.invariant == "A1"] == [
        f"token {cs(dep.wrapped.address)} of {E_ID}: asset status 1 on the consortium chain, 0 here; "
        "the issuer's last decision is #1 on the consortium chain, #0 the last consumed here"
    ]

    # #9, skipped: the issuer records #2 (a NAV) for the first asset, and someone gets #2 applied on
    # E first (the module takes a token's first decision at any number; no honest member signs it,
    # `decide_issuer`): #1's turn is gone. Carried and settled, #1 is `failed` (skipped), never
    # `executed`; #2 is executed
    send(
        wc,
        admin,
        issuer.functions.setNav(dep.asset.address, 2 * 10**18, wc.eth.get_block("latest")["timestamp"]),
    )
    wait_blocks(wc, 2)
    await one.node.actions.scan_registry()
    mine = sorted(
        (
            r
            for r in await one.node.store.action_records(list(ActionState))
            if r.action.issuer is not None and cs(r.action.issuer.token) == cs(dep.wrapped.address)
        ),
        key=lambda r: r.action.position,
    )
    assert [r.action.issuer.sequence for r in mine if r.action.issuer] == [1, 2]
    second = mine[1]
    view = await one.node.actions._issuer_of(e, second.action, final=False)
    assert view == IssuerView(0, 1)  # #1 is held open here, so it goes first
    assert decide_issuer(second.action, view).decision.value == "wait"  # a member does not sign #2
    nonce = dep.gateway.functions.actionNonce().call()
    message = action_message("issuer", E_ID, cs(dep.gateway.address), 1, nonce, second.action.params)
    signature = threshold_sign(shares, message, (1, 2, 3))
    send_data(we, devnet.dev_account(RELAYER), dep.gateway.address, action_call_data("issuer", 1, second.action.params, signature))  # fmt: skip
    wait_blocks(we, 2)
    for r in mine:
        await one.node.actions._settle(e, dataclasses.replace(r, action_nonce=0))
    closed = {
        rec.action.issuer.sequence: (rec.state.value, rec.detail)
        for rec in await one.node.store.action_records(list(ActionState))
        if rec.action.issuer is not None and cs(rec.action.issuer.token) == cs(dep.wrapped.address)
    }
    assert closed[2][0] == "executed"
    assert closed[1][0] == "failed"
    assert "SKIPPED, not applied" in closed[1][1]
