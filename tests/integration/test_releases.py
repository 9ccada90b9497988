"""The relayers release what a destination keeps, on real anvil chains with the bridge deployed:
one node of a 1-of-1 committee (its real store, watcher, batcher, signer, aggregator, refunder,
submitters and release stage, driven step by step) carries alice's locks to Ethereum.

- A lock at the challenge threshold is held for its challenge window: the node records it `held`
  (until when), `relayer status` counts it held, it is not released while the window is open, and
  once it is over the relayer whose turn it is releases it, the other (30 s later in the turns)
  sends nothing; bob receives it and the transfer is `released`.
- A sentinel's false veto of a REAL held transfer: it is never delivered, the destination records
  it failed (Vetoed, reason 6), and the committee refunds it on the source: alice has every unit
  back, the transfer is `refunded`.
- A transfer the inbound rate limit queued is released once the bucket has room (not while an
  operator paused the route on the node), and the one behind it in the queue after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from web3 import HTTPProvider, Web3

from committee.bls import get_backend
from committee.threshold import deal
from harness import devnet
from relayer.adapters.chain import ChainClient
from relayer.adapters.store import Store
from relayer.adapters.transport import Transport
from relayer.config import load_config
from relayer.core.states import TransferState
from relayer.core.types import ChainId, Route
from relayer.ops.admin import Ops
from relayer.pipeline import releaser as release_stage
from relayer.pipeline.node import Node
from relayer.pipeline.releaser import Releaser
from relayer.pipeline.submitter import Submitter
from relayer.provisioning.deploy import Deployment, devnet_profile

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "devnet.example.toml"
ROUTE = Route(ChainId(devnet.CONSORTIUM_CHAIN_ID), ChainId(devnet.ETHEREUM_CHAIN_ID))
THRESHOLD = 10**6  # transfers of at least this many units are held for the challenge period
PERIOD = 600  # seconds; the test moves the chain's clock past it
INBOUND = 1  # QiaoEndpoint.Direction.Inbound
SENTINEL = 6


@dataclasses.dataclass
class Bridge:
    dep: Deployment
    node: Node
    store: Store
    clients: list[ChainClient]
    wc: Web3
    we: Web3
    others: list[Releaser] = dataclasses.field(default_factory=list)  # other members' stages

    async def step(self) -> None:
        """One pass of every stage, as the daemon's loops run them."""
        for client in self.clients:
            await self.node.scan_once(client)
        await self.node.tick()
        for sub in self.node.submitters.values():
            await sub.step()
        for releaser in [*self.node.releasers.values(), *self.others]:
            await releaser.step(force=True)

    async def until(self, done: Callable[[], Any], what: str, rounds: int = 300) -> None:
        for _ in range(rounds):
            await self.step()
            if await done():
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{what}: not reached after {rounds} rounds")

    async def state(self, nonce: int) -> TransferState | None:
        row = await self.store.transfer_row(ROUTE, nonce)
        return None if row is None else row.state

    def lock(self, amount: int) -> None:
        alice, bob = devnet.dev_account(8), devnet.dev_account(9)
        devnet.send(
            self.wc,
            alice,
            self.dep.vault.functions.lock(self.dep.asset.address, ROUTE.dst, bob.address, amount),
        )

    def wrapped_of_bob(self) -> int:
        return int(self.dep.wrapped.functions.balanceOf(devnet.dev_account(9).address).call())

    def asset_of_alice(self) -> int:
        return int(self.dep.asset.functions.balanceOf(devnet.dev_account(8).address).call())

    def pass_time(self, seconds: int) -> None:
        self.we.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.we.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def turns(b: Bridge, member: int, submitters: dict[ChainId, Submitter]) -> Releaser:
    """A release stage of member `member` of a committee of 2, relayers 30 s apart."""
    chain = b.clients[1]
    return Releaser(chain, b.store, submitters, member, 2, 30.0, 30.0, 0.1, "ethereum", window_recheck=0.0)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@contextlib.asynccontextmanager
async def bridge(tmp_path: Path, chains: tuple[str, str]) -> AsyncIterator[Bridge]:
    share = deal(1, 1)[0]
    profile = dataclasses.replace(devnet_profile(), challenge_period=PERIOD, challenge_threshold=THRESHOLD)
    dep = devnet.deploy_bridge(chains[0], chains[1], share.public.group_public_key, profile=profile)
    wc, we = Web3(HTTPProvider(dep.consortium_url)), Web3(HTTPProvider(dep.ethereum_url))
    admin, alice = devnet.dev_account(0), devnet.dev_account(8)
    devnet.send(wc, admin, dep.asset.functions.mint(alice.address, 10**20))
    devnet.send(wc, alice, dep.asset.functions.approve(dep.vault.address, 10**20))
    cfg = load_config(EXAMPLE, environ={"QIAO_NODE__DATA_DIR": str(tmp_path / "data")})
    c_cfg = dataclasses.replace(
        cfg.chains["consortium"],
        rpc=dep.consortium_url,
        rpcs=(dep.consortium_url,),
        endpoint=dep.vault.address,
        start_block=dep.consortium_block,
        poll_interval=0.1,
    )
    e_cfg = dataclasses.replace(
        cfg.chains["ethereum"],
        rpc=dep.ethereum_url,
        rpcs=(dep.ethereum_url,),
        endpoint=dep.gateway.address,
        start_block=dep.ethereum_block,
        poll_interval=0.1,
    )
    cfg = dataclasses.replace(
        cfg,
        member_index=1,
        chains={"consortium": c_cfg, "ethereum": e_cfg},
        relayer=dataclasses.replace(cfg.relayer, stagger_seconds=0.0),
    )
    cfg.data_dir.mkdir(parents=True)
    async with (
        Store.open(cfg.store_path) as store,
        ChainClient.connect(c_cfg) as c_client,
        ChainClient.connect(e_cfg) as e_client,
    ):
        clients = [c_client, e_client]
        node = Node(
            cfg=cfg,
            store=store,
            chains={c.chain_id: c for c in clients},
            public=share.public,
            share=share,
            backend=get_backend(),
            transport=Transport(cfg.mqtt, 1),
        )
        for client in clients:
            node.submitters[client.chain_id] = Submitter(
                client, store, devnet.dev_account(1), cfg.relayer, 1, 1
            )
        for releaser in node.releasers.values():
            releaser.window_recheck = 0.0  # the test moves the chain's clock past a window at once
        yield Bridge(dep, node, store, clients, wc, we)


async def test_a_held_transfer_is_released_after_its_window_and_a_false_veto_is_refunded(
    tmp_path: Path, chains: tuple[str, str]
) -> None:
    async with bridge(tmp_path, chains) as b:
        gateway = b.dep.gateway
        # 1. held: recorded as such, not released while its window is open
        b.lock(THRESHOLD)
        await b.until(lambda: _is(b, 1, TransferState.HELD), "transfer 1 held")
        row = await b.store.transfer_row(ROUTE, 1)
        assert row is not None
        assert "held for its challenge window until" in row.detail, row.detail
        held_until = int(gateway.functions.heldUntil(ROUTE.src, 1).call())
        assert f"heldUntil {held_until}" in row.detail
        # what operators see: `relayer status` counts it held on its route, `transfers list` shows it
        async with Ops(b.node).opened() as ops:
            (route,) = [r for r in (await ops.status())["routes"] if r["route"] == str(ROUTE)]
            assert (route["held"], route["queued"], route["pending"]) == (1, 0, 0)
            (listed,) = await ops.transfers_list("held", 10)
            assert (listed["nonce"], listed["state"]) == (1, "held")
            assert f"heldUntil {held_until}" in listed["detail"]
        sent = metric("qiao_releases_sent_total", chain="ethereum", reason="held")
        for _ in range(5):
            await b.step()
        assert await b.state(1) == TransferState.HELD
        assert b.wrapped_of_bob() == 0
        assert gateway.functions.transferStatus(ROUTE.src, 1).call() == 2  # queued (held)
        assert metric("qiao_releases_sent_total", chain="ethereum", reason="held") == sent
        # two relayers take turns (members 1 and 2 of 2, 30 s apart): for nonce 1 member 1 goes first
        e_client = b.clients[1]
        second = Submitter(e_client, b.store, devnet.dev_account(2), b.node.cfg.relayer, 2, 2)
        b.node.releasers = {ROUTE.dst: turns(b, 1, b.node.submitters)}
        b.others = [turns(b, 2, {ROUTE.dst: second})]
        sent_by_second = b.we.eth.get_transaction_count(devnet.dev_account(2).address)
        # its window over: the first relayer releases it, bob has it, the transfer is released
        b.pass_time(PERIOD + 1)
        await b.until(lambda: _is(b, 1, TransferState.RELEASED), "transfer 1 released")
        assert b.wrapped_of_bob() == THRESHOLD
        assert gateway.functions.transferStatus(ROUTE.src, 1).call() == 1  # delivered
        assert metric("qiao_releases_sent_total", chain="ethereum", reason="held") == sent + 1
        # the second relayer, whose turn had not come, sent nothing
        assert b.we.eth.get_transaction_count(devnet.dev_account(2).address) == sent_by_second
        history = [s for s, _, _ in await b.store.history(ROUTE, 1)]
        # (`executed` is recorded only if the batch's execution is learnt before its TransferHeld)
        assert history[-2:] == ["held", "released"], history

        # 2. a sentinel's false veto of a real held transfer: refunded on the source, to the unit
        sentinel = devnet.dev_account(SENTINEL)
        devnet.send(b.we, devnet.dev_account(0), gateway.functions.setSentinel(sentinel.address, True))
        before = b.asset_of_alice()
        b.lock(2 * THRESHOLD)
        assert b.asset_of_alice() == before - 2 * THRESHOLD
        await b.until(lambda: _is(b, 2, TransferState.HELD), "transfer 2 held")
        t = await b.store.transfer(ROUTE, 2)
        assert t is not None
        devnet.send(b.we, sentinel, gateway.functions.veto(t.as_abi_tuple()))
        assert gateway.functions.transferStatus(ROUTE.src, 2).call() == 3  # failed (Vetoed)
        await b.until(lambda: _is(b, 2, TransferState.REFUNDED), "transfer 2 refunded", rounds=600)
        assert b.asset_of_alice() == before
        assert b.wrapped_of_bob() == THRESHOLD  # nothing of transfer 2 was ever delivered
        assert b.dep.vault.functions.isRefunded(ROUTE.dst, 2).call()
        history2 = await b.store.history(ROUTE, 2)
        assert [s for s, _, _ in history2][-3:] == ["held", "failed", "refunded"], history2
        assert "Vetoed, reason 6" in history2[-2][1]
        # the window is long over: the stage never released the vetoed transfer
        b.pass_time(PERIOD + 1)
        for _ in range(3):
            await b.step()
        assert metric("qiao_releases_sent_total", chain="ethereum", reason="held") == sent + 1
        assert b.wrapped_of_bob() == THRESHOLD


async def test_queued_transfers_are_released_in_order_once_the_bucket_has_room(
    tmp_path: Path, chains: tuple[str, str]
) -> None:
    async with bridge(tmp_path, chains) as b:
        gateway = b.dep.gateway
        # a bucket of 1000 units refilled at 1 unit a second (the test moves the clock)
        devnet.send(
            b.we,
            devnet.dev_account(0),
            gateway.functions.setRateLimit(b.dep.wrapped.address, INBOUND, 1000, 1),
        )
        b.lock(900)
        await b.until(lambda: _is(b, 1, TransferState.EXECUTED), "transfer 1 executed")
        assert b.wrapped_of_bob() == 900
        b.lock(600)
        b.lock(700)
        await b.until(lambda: _both(b, (2, 3), TransferState.QUEUED), "transfers 2 and 3 queued", rounds=400)
        sent = metric("qiao_releases_sent_total", chain="ethereum", reason="queued")
        for _ in range(3):  # no room yet: nothing is sent
            await b.step()
        assert metric("qiao_releases_sent_total", chain="ethereum", reason="queued") == sent
        assert b.wrapped_of_bob() == 900
        b.pass_time(2000)  # the bucket is full again: 2 passes, then 3 once refilled
        b.node.pause(ROUTE, time.time())  # but not while an operator paused the route here
        for _ in range(3):
            await b.step()
        assert metric("qiao_releases_sent_total", chain="ethereum", reason="queued") == sent
        assert await b.state(2) == TransferState.QUEUED
        assert b.node.resume(ROUTE)
        await b.until(lambda: _is(b, 2, TransferState.RELEASED), "transfer 2 released")
        assert b.wrapped_of_bob() >= 1500
        b.pass_time(2000)
        await b.until(lambda: _is(b, 3, TransferState.RELEASED), "transfer 3 released")
        assert b.wrapped_of_bob() == 2200
        assert metric("qiao_releases_sent_total", chain="ethereum", reason="queued") == sent + 2
        assert gateway.functions.queueHead(b.dep.wrapped.address).call()[1] == 0


async def test_a_backlog_of_held_transfers_does_not_starve_a_releasable_one_behind_them(
    tmp_path: Path, chains: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """More held transfers than the release stage looks at in one step (STEP_RELEASES, 3 here
    instead of 100 to keep the test short), their windows open for days, come before (by nonce)
    a queued transfer of the route whose bucket has room again: it is released all the same
    (each group of kept transfers, by source, token and reason, is looked at from its head every
    step, whatever another group's backlog)."""
    monkeypatch.setattr(release_stage, "STEP_RELEASES", 3)
    async with bridge(tmp_path, chains) as b:
        gateway, admin = b.dep.gateway, devnet.dev_account(0)
        devnet.send(b.we, admin, gateway.functions.setChallengePeriod(30 * 86400))
        devnet.send(b.we, admin, gateway.functions.setRateLimit(b.dep.wrapped.address, INBOUND, 1000, 1))
        backlog = 5
        for _ in range(backlog):
            b.lock(THRESHOLD)
        b.lock(900)  # executed: the bucket holds 100 after it
        b.lock(600)  # queued
        queued = backlog + 2
        await b.until(lambda: _is(b, queued, TransferState.QUEUED), f"transfer {queued} queued", rounds=400)
        assert await b.state(backlog) == TransferState.HELD
        assert await b.state(backlog + 1) == TransferState.EXECUTED
        b.pass_time(2000)  # the bucket is full again; the held transfers' windows are open for days
        await b.until(
            lambda: _is(b, queued, TransferState.RELEASED), f"transfer {queued} released", rounds=30
        )
        assert b.wrapped_of_bob() == 1500
        assert await b.state(1) == TransferState.HELD


async def _is(b: Bridge, nonce: int, state: TransferState) -> bool:
    return await b.state(nonce) == state


async def _both(b: Bridge, nonces: tuple[int, ...], state: TransferState) -> bool:
    return all([await b.state(n) == state for n in nonces])
