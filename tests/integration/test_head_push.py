"""Pushed heads on a real anvil (`eth_subscribe("newHeads")` over its WebSocket): they wake the
watcher at once; a dropped subscription loses no transfer (the watcher polls and its ranged log
reads start from the durable cursor) and comes back; a ws endpoint of another chain is refused."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from web3 import HTTPProvider, Web3

from committee.threshold import deal
from harness import devnet
from relayer import metrics
from relayer.adapters.chain import ChainClient
from relayer.adapters.heads import HeadFeed
from relayer.adapters.store import Store
from relayer.config import ChainConfig, CommitteeConfig, MqttConfig, NodeConfig, RelayerConfig
from relayer.core.batching import BatchRule
from relayer.core.types import ChainId, Route
from relayer.pipeline.halts import Halts
from relayer.pipeline.watcher import PUSHED_POLL_SECONDS, Watcher
from tests.support.proxy import TcpProxy

C, E = ChainId(devnet.CONSORTIUM_CHAIN_ID), ChainId(devnet.ETHEREUM_CHAIN_ID)
GUARD = 60.0  # seconds a wait may take before the test fails (a hang guard, not a speed limit)


@dataclass
class Bridge:
    url: str  # the consortium anvil (automine: a block per transaction, else when mined by hand)
    w3: Web3
    dep: Any
    alice: Any

    def lock(self, amount: int) -> None:
        """One lock, mined in a block of its own (not final yet at finality depth 1)."""
        vault, asset = self.dep.vault, self.dep.asset
        devnet.send(self.w3, self.alice, vault.functions.lock(asset.address, E, self.alice.address, amount))

    def mine(self, blocks: int = 1) -> None:
        self.w3.provider.make_request("anvil_mine", [hex(blocks)])  # type: ignore[arg-type]


@pytest.fixture
def bridge(processes: devnet.Processes, tmp_path: Path) -> Bridge:
    key = deal(1, 1)[0].public.group_public_key
    c = devnet.start_anvil(processes, "anvil-c", C, tmp_path, 0)
    e = devnet.start_anvil(processes, "anvil-e", E, tmp_path, 0)
    dep = devnet.deploy_bridge(c, e, key)
    w3 = Web3(HTTPProvider(c))
    admin, alice = devnet.dev_account(0), devnet.dev_account(8)
    devnet.send(w3, admin, dep.asset.functions.mint(alice.address, 10**6))
    devnet.send(w3, alice, dep.asset.functions.approve(dep.vault.address, 10**6))
    return Bridge(c, w3, dep, alice)


def ws_of(http_url: str) -> str:
    return "ws" + http_url.removeprefix("http")


def chain_config(bridge: Bridge, ws: str | None, poll_interval: float) -> ChainConfig:
    return ChainConfig(
        "consortium",
        C,
        bridge.url,
        bridge.dep.vault.address,
        1,  # finality depth: a lock is final once the next block is mined
        bridge.dep.consortium_block,
        poll_interval,
        500,
        rpc_timeout=5.0,
        ws=ws,
    )


def node_config(tmp_path: Path, chain: ChainConfig) -> NodeConfig:
    return NodeConfig(
        source="test",
        member_index=1,
        data_dir=tmp_path,
        log_level="info",
        metrics_host="127.0.0.1",
        metrics_port=0,
        committee=CommitteeConfig(tmp_path / "c.json", None, BatchRule(1, 10), 1.0),
        mqtt=MqttConfig("127.0.0.1", 1, "t", None, None),
        relayer=RelayerConfig(False, None, 1.0, 100.0, 1.0, 10.0),
        chains={chain.name: chain},
        routes=(Route(C, E),),
    )


@dataclass
class Watching:
    store: Store
    watcher: Watcher
    feed: HeadFeed
    scans: list[int]  # the cursor after each scan that moved it
    polls: list[float]  # the loop time of every scan, moved or not


@contextlib.asynccontextmanager
async def watching(tmp_path: Path, cfg: ChainConfig) -> AsyncIterator[Watching]:
    """The watcher of `cfg`'s chain and its head feed, running as the daemon runs them."""
    async with Store.open(tmp_path / "node.sqlite3") as store, ChainClient.connect(cfg) as chain:
        scans: list[int] = []
        polls: list[float] = []
        watcher = Watcher(node_config(tmp_path, cfg), store, {C: chain}, Halts(), wake=lambda: None)
        scan_once = watcher.scan_once

        async def counted(c: ChainClient) -> bool:
            polls.append(asyncio.get_running_loop().time())
            moved = await scan_once(c)
            if moved:
                scans.append(int(await store.cursor(C) or 0))
            return moved

        watcher.scan_once = counted  # type: ignore[method-assign]
        # wired as the daemon wires them: heads wake the watcher, the subscription's state sets its poll
        feed = HeadFeed(cfg, lambda _number: watcher.head_pushed(C), lambda up: watcher.push_state(C, up))
        tasks = [asyncio.create_task(watcher.watch(chain)), asyncio.create_task(feed.run())]
        try:
            yield Watching(store, watcher, feed, scans, polls)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def until(predicate: Callable[[], Any], what: str) -> None:
    """Wait for `predicate` (a function, or a coroutine function) to hold."""
    deadline = asyncio.get_running_loop().time() + GUARD
    while True:
        held = predicate()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {GUARD} s: {what}")
        await asyncio.sleep(0.05)


async def stored_amounts(store: Store) -> dict[int, int]:
    return {row.transfer.nonce: row.transfer.amount for row in await store.transfers(limit=1000)}


def subscription_up() -> float:
    return float(metrics.CHAIN_SUBSCRIPTION_UP.labels("consortium")._value.get())


async def test_a_pushed_head_wakes_the_watcher_at_once(bridge: Bridge, tmp_path: Path) -> None:
    # a poll interval of an hour: every scan after the first is one a pushed head woke
    cfg = chain_config(bridge, ws_of(bridge.url), poll_interval=3600.0)
    async with watching(tmp_path, cfg) as w:
        await until(lambda: w.feed.up, "the subscription is up")
        assert subscription_up() == 1.0
        await until(lambda: len(w.scans) >= 1, "the first scan")
        for amount in (11, 12, 13):
            await asyncio.to_thread(bridge.lock, amount)
            await asyncio.to_thread(bridge.mine)  # the block that makes the lock final

            async def stored(amount: int = amount) -> bool:
                return amount in (await stored_amounts(w.store)).values()

            await until(stored, f"the lock of {amount} stored (woken by a pushed head, not a poll)")
        assert sorted((await stored_amounts(w.store)).values()) == [11, 12, 13]
        assert w.feed.heads >= 6  # every block was pushed: a lock's and the one making it final
        assert len(w.scans) >= 4  # the first scan, then at least one per final lock
        assert w.scans == sorted(w.scans)


async def test_a_dropped_subscription_misses_no_transfer_and_comes_back(
    bridge: Bridge, tmp_path: Path
) -> None:
    ws_port = int(bridge.url.rsplit(":", 1)[1])
    proxy = TcpProxy(ws_port)  # the WebSocket goes through it: the test cuts it and lets it back
    cfg = chain_config(bridge, f"ws://127.0.0.1:{proxy.port}", poll_interval=0.5)
    expected: dict[int, int] = {}
    amount = 100
    try:
        with capture_logs() as logs:
            async with watching(tmp_path, cfg) as w:

                async def lock(final: bool = True) -> None:
                    nonlocal amount
                    amount += 1
                    await asyncio.to_thread(bridge.lock, amount)
                    expected[len(expected) + 1] = amount
                    if final:
                        await asyncio.to_thread(bridge.mine)

                async def all_stored() -> bool:
                    return await stored_amounts(w.store) == expected

                await until(lambda: w.feed.up, "the subscription is up")
                for _ in range(3):  # pushed
                    await lock()
                await until(all_stored, "the first locks stored")

                await lock(final=False)  # mined; the block that makes it final comes after the cut
                proxy.stop()
                await until(lambda: not w.feed.up, "the subscription noticed the cut")
                assert subscription_up() == 0.0
                await asyncio.to_thread(bridge.mine)
                for _ in range(3):  # while the subscription is down
                    await lock()
                await until(all_stored, "the locks made final while the subscription was down")
                assert not proxy.running  # polling stored them: no push came
                assert not w.feed.up
                assert w.feed.subscriptions == 1

                proxy.start()
                await until(lambda: w.feed.up and w.feed.subscriptions == 2, "the subscription is back")
                assert subscription_up() == 1.0
                heads_before = w.feed.heads
                for _ in range(3):
                    await lock()
                await until(all_stored, "the locks after the subscription came back")
                assert w.feed.heads >= heads_before + 6  # pushed again, every block
                stored = await stored_amounts(w.store)
    finally:
        proxy.stop()
    assert stored == expected  # every lock, nonces 1..10 in order, none missed and none twice
    assert sorted(stored) == list(range(1, 11))
    downs = [e for e in logs if e["event"] == "chain_subscription_down"]
    ups = [e for e in logs if e["event"] == "chain_subscription_up"]
    assert downs
    assert downs[0]["chain"] == "consortium"
    assert downs[0]["url"] == cfg.ws
    assert "polls every 0.5 s" in downs[0]["effect"]
    assert len(ups) == 2


async def test_while_the_subscription_is_up_polling_is_only_the_safety_net(
    bridge: Bridge, tmp_path: Path
) -> None:
    """With heads pushed, the watcher does not also poll every `poll_interval` (0.1 s here): it
    polls at most every PUSHED_POLL_SECONDS; once the subscription drops it polls every
    `poll_interval` again, and it is back to the safety net when the subscription is."""
    ws_port = int(bridge.url.rsplit(":", 1)[1])
    proxy = TcpProxy(ws_port)
    cfg = chain_config(bridge, f"ws://127.0.0.1:{proxy.port}", poll_interval=0.1)
    try:
        async with watching(tmp_path, cfg) as w:
            chain = w.watcher.chains[C]
            await until(lambda: w.feed.up, "the subscription is up")
            assert w.watcher.poll_wait(chain) == PUSHED_POLL_SECONDS
            await until(lambda: len(w.polls) >= 1, "the first scan")
            # no block is mined (automine, no transaction): nothing is pushed, so every scan in
            # this window is a poll; at 0.1 s that would be ~40 of them
            start = asyncio.get_running_loop().time()
            before = len(w.polls)
            await asyncio.sleep(2 * PUSHED_POLL_SECONDS)
            window = asyncio.get_running_loop().time() - start
            polled = len(w.polls) - before
            assert polled <= window / PUSHED_POLL_SECONDS + 1, (polled, window)

            proxy.stop()
            await until(lambda: not w.feed.up, "the subscription noticed the cut")
            assert w.watcher.poll_wait(chain) == 0.1
            before = len(w.polls)
            await until(lambda: len(w.polls) >= before + 5, "polls every poll_interval again")

            proxy.start()
            await until(lambda: w.feed.up, "the subscription is back")
            assert w.watcher.poll_wait(chain) == PUSHED_POLL_SECONDS
    finally:
        proxy.stop()


async def test_a_flood_of_pushed_heads_scans_no_more_often_than_polling_would(
    bridge: Bridge, tmp_path: Path
) -> None:
    """A ws node that pushes heads as fast as it can (a lying or broken node: the feed passes each
    one on) wakes the watcher at most once per `poll_interval`: it cannot make the watcher read the
    chain's RPCs harder than polling without a subscription does. Pushed heads still scan at once."""
    cfg = chain_config(bridge, ws_of(bridge.url), poll_interval=0.25)
    async with watching(tmp_path, cfg) as w:
        await until(lambda: w.feed.up, "the subscription is up")
        await until(lambda: len(w.polls) >= 1, "the first scan")
        loop = asyncio.get_running_loop()
        start, before = loop.time(), len(w.polls)
        while loop.time() - start < 2.0:  # a push every millisecond, as the feed would pass them on
            w.watcher.head_pushed(C)
            await asyncio.sleep(0.001)
        window = loop.time() - start
        flooded = len(w.polls) - before
        assert flooded <= window / 0.25 + 2, (flooded, window)
        assert flooded >= 2  # the pushes did wake it (the safety-net poll alone is every 2 s)

        await asyncio.sleep(0.3)  # past the last push-woken scan's poll_interval
        amount_before = len(w.scans)
        await asyncio.to_thread(bridge.lock, 5)
        await asyncio.to_thread(bridge.mine)  # the lock's block made final: pushed, scanned
        await until(lambda: len(w.scans) > amount_before, "the pushed head scanned")


async def test_a_ws_endpoint_of_another_chain_is_refused(
    bridge: Bridge, processes: devnet.Processes, tmp_path: Path
) -> None:
    other = devnet.start_anvil(processes, "anvil-other", 7999, tmp_path, 0)
    cfg = chain_config(bridge, ws_of(other), poll_interval=0.5)
    with capture_logs() as logs:
        async with watching(tmp_path, cfg) as w:
            await until(
                lambda: len([e for e in logs if e["event"] == "chain_subscription_down"]) >= 2, "retries"
            )
            assert w.feed.subscriptions == 0
            assert not w.feed.up
            assert subscription_up() == 0.0
            await asyncio.to_thread(bridge.lock, 7)
            await asyncio.to_thread(bridge.mine)

            async def stored() -> bool:
                return list((await stored_amounts(w.store)).values()) == [7]

            await until(stored, "the lock stored by polling")  # the watcher does not depend on it
    down = next(e for e in logs if e["event"] == "chain_subscription_down")
    assert "WrongChain" in down["reason"]
    assert "chain id 7999" in down["reason"]
    assert "fix its ws URL" in down["reason"]
