"""Attacks on the watcher's log reads through RPC endpoints that serve another fork or lie (issue 13
point 8, and the independent review of its first fix). Each test failed on b3c71a2 and passes since
the watcher treats an inconsistency as evidence (the endpoint quarantined, the route halted when no
trustworthy endpoint is left). Real anvil chains, a real SQLite store, a real HTTP load balancer in
front of them (no mocks).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address as cs
from web3 import HTTPProvider, Web3

from committee.bls import get_backend
from committee.threshold import deal
from harness import devnet
from relayer import metrics
from relayer.adapters.chain import ChainClient
from relayer.adapters.store import Store
from relayer.adapters.transport import Transport
from relayer.config import ChainConfig, CommitteeConfig, MqttConfig, NodeConfig, RelayerConfig
from relayer.core.batching import BatchRule
from relayer.core.types import ChainId, Route
from relayer.ops.admin import AdminError, Ops
from relayer.pipeline.node import Node
from tests.support.rpc_proxy import RpcProxy

pytestmark = pytest.mark.integration
C, E = ChainId(devnet.CONSORTIUM_CHAIN_ID), ChainId(devnet.ETHEREUM_CHAIN_ID)


class LoadBalancer:
    """An HTTP JSON-RPC load balancer: `pick(body)` chooses the backend of each HTTP request (a
    JSON-RPC batch goes to one backend as a whole, as most balancers do)."""

    def __init__(self, pick: Callable[[Any], str]) -> None:
        lb = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as tests/support/rpc_proxy.py: no 40 ms a reply

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                target = lb.pick(json.loads(body))
                req = urllib.request.Request(target, body, {"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=30) as response:
                    out = response.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.pick = pick
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def node_for(tmp_path: Path, chain_cfg: ChainConfig, store: Store, chain: ChainClient) -> Node:
    ncfg = NodeConfig(
        source="test",
        member_index=1,
        data_dir=tmp_path,
        log_level="info",
        metrics_host="127.0.0.1",
        metrics_port=0,
        committee=CommitteeConfig(tmp_path / "c.json", None, BatchRule(1, 10), 1.0),
        mqtt=MqttConfig("127.0.0.1", 1, "t", None, None),
        relayer=RelayerConfig(False, None, 1.0, 100.0, 1.0, 10.0),
        chains={chain_cfg.name: chain_cfg},
        routes=(Route(C, E),),
    )
    share = deal(1, 1)[0]
    return Node(
        cfg=ncfg,
        store=store,
        chains={C: chain},
        public=share.public,
        share=None,
        backend=get_backend(),
        transport=Transport(ncfg.mqtt, 1),
    )


def consortium_cfg(url: str | tuple[str, ...], vault: str, **kw: Any) -> ChainConfig:
    urls = (url,) if isinstance(url, str) else url
    return ChainConfig("consortium", C, urls[0], vault, 0, 0, 0.1, 1000, rpcs=urls, rpc_timeout=5.0, **kw)


@pytest.fixture
def bridge(processes: devnet.Processes, tmp_path: Path) -> tuple[str, Any]:
    """A consortium anvil (automine) with the bridge deployed and alice funded and approved."""
    key = deal(1, 1)[0].public.group_public_key
    c = devnet.start_anvil(processes, "anvil-c", C, tmp_path, 0)
    e = devnet.start_anvil(processes, "anvil-e", E, tmp_path, 0)
    dep = devnet.deploy_bridge(c, e, key)
    w3 = Web3(HTTPProvider(c))
    admin, alice = devnet.dev_account(0), devnet.dev_account(8)
    devnet.send(w3, admin, dep.asset.functions.mint(alice.address, 100))
    devnet.send(w3, alice, dep.asset.functions.approve(dep.vault.address, 100))
    return c, dep


def lock(url: str, dep: Any, amount: int) -> None:
    w3 = Web3(HTTPProvider(url))
    alice = devnet.dev_account(8)
    vault = w3.eth.contract(address=dep.vault.address, abi=dep.vault.abi)
    devnet.send(w3, alice, vault.functions.lock(dep.asset.address, E, alice.address, amount))


def mine(url: str, n: int) -> None:
    Web3(HTTPProvider(url)).provider.make_request("anvil_mine", [hex(n)])  # type: ignore[arg-type]


async def stored_amounts(store: Store) -> list[int]:
    return [r.transfer.amount for r in await store.transfers(None, 100)]


def forked(bridge: tuple[str, Any], processes: devnet.Processes, tmp_path: Path) -> tuple[str, str, Any]:
    """A fork node of the bridge's chain (anvil --fork-url) and the chain itself, each with two
    locks of the same nonces in two blocks (so the hashes are asked in one JSON-RPC batch): 9
    units on the fork, 1 on the real chain; the fork then 20 blocks further, the real chain 5.
    Returns (the real chain's URL, the fork's, the deployment)."""
    canonical, dep = bridge
    fork = devnet.start_anvil(processes, "anvil-fork", C, tmp_path, 0, ("--fork-url", canonical))
    for _ in range(2):
        lock(fork, dep, 9)
        lock(canonical, dep, 1)
    mine(fork, 20)
    mine(canonical, 5)
    return canonical, fork, dep


# ---- 1. the log's block hash is checked against a hash that is not tied to the range's end hash


async def test_a_balancer_sending_getlogs_and_the_hash_batch_to_a_fork_node_stores_no_forked_amount(
    bridge: tuple[str, Any], processes: devnet.Processes, tmp_path: Path
) -> None:
    """A load balancer with one node on another fork (the scenario of issue 13 point 8). The node
    reads the range's end hash (before and after) from the canonical node, but its eth_getLogs and
    its eth_getBlockByNumber batch land on the fork node: the fork's log (9 units instead of 1) is
    judged "canonical" against the fork's own hash and stored, though the end hash the watcher
    double-checked is the canonical chain's. Stopped: nothing of the fork is stored (e.g. put `end`
    in the hash batch and require it equals end_hash)."""
    canonical, fork, dep = forked(bridge, processes, tmp_path)

    def pick(body: Any) -> str:
        if isinstance(body, list) or body.get("method") == "eth_getLogs":
            return fork
        return canonical

    lb = LoadBalancer(pick)
    try:
        cfg = consortium_cfg(lb.url, dep.vault.address)
        async with Store.open(tmp_path / "n.sqlite3") as store, ChainClient.connect(cfg) as chain:
            node = node_for(tmp_path, cfg, store, chain)
            # a failed scan (refused) returns False or raises; give it a few tries like the watcher
            for _ in range(3):
                try:
                    if await node.scan_once(chain):
                        break
                except Exception:  # refused or RPC error: try again, as the watcher does
                    continue
            amounts = await stored_amounts(store)
            assert 9 not in amounts, f"the fork's 9-unit lock was stored as final: {amounts}"
    finally:
        lb.close()


async def test_a_random_balancer_with_one_fork_node_halts_every_member_that_stores_the_forked_amount(
    bridge: tuple[str, Any], processes: devnet.Processes, tmp_path: Path
) -> None:
    """The same load balancer, but choosing the backend of each HTTP request at random (seeded),
    like a plain round-robin/random balancer. A refused scan is simply retried, on the same
    balancer, so the watcher keeps drawing until one draw is self-consistent. Twelve fresh members
    (seeds 0..11) scan with the watcher's own loop.

    No client check can tell a scan whose every request landed on the fork node from the real
    chain (docs/RELIABILITY.md, "What no check in the client can catch": about 1 in 30 per member;
    over seeds 0..59, 2 members stored the fork's lock at 074b88d and 4 since the watcher reads the
    head once a scan: the same odds, other draws). What holds, and is asserted: most members halt
    on the first inconsistency they see, and a member that stored the fork's lock halts once its
    scans see the real chain (each re-reads the hash of the last block it stored; the next test
    shows it without the dice). In a whole member the scan that stored it also cut a batch and
    signed it: one partial, of no use without t members that drew the same fork. Only `quorum`
    over independent endpoints keeps the lock out of the store."""
    import random

    canonical, fork, dep = forked(bridge, processes, tmp_path)
    outcomes: dict[int, str] = {}
    stopped_after_fork: dict[int, bool] = {}
    for seed in range(12):
        rng = random.Random(seed)
        lb = LoadBalancer(lambda body: fork if rng.random() < 0.5 else canonical)  # noqa: B023
        try:
            cfg = consortium_cfg(lb.url, dep.vault.address)
            path = tmp_path / f"n{seed}.sqlite3"
            async with Store.open(path) as store, ChainClient.connect(cfg) as chain:
                node = node_for(tmp_path, cfg, store, chain)
                task = asyncio.ensure_future(node.watch(chain))
                for _ in range(100):  # until something is stored or the route halts
                    if node.halted or await stored_amounts(store) or task.done():
                        break
                    await asyncio.sleep(0.05)
                amounts = await stored_amounts(store)
                if 9 in amounts:  # the fork's view drawn whole: its next scans must stop it
                    snapshot = rpc(canonical, "evm_snapshot")  # the next seeds see the same chains
                    stopped_after_fork[seed] = await halted_as_canonical_grows(node, canonical)
                    rpc(canonical, "evm_revert", snapshot)
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                outcomes[seed] = "halted" if node.halted else str(amounts)
        finally:
            lb.close()
    assert all(stopped_after_fork.values()), f"members that stored the fork's lock and went on: {outcomes}"
    halted_clean = [s for s, o in outcomes.items() if o == "halted" and s not in stopped_after_fork]
    assert len(halted_clean) >= 8, f"most members halt before storing anything: {outcomes}"
    assert len(stopped_after_fork) <= 2, f"the fork's view drawn whole by more than 2 of 12: {outcomes}"


async def test_a_member_that_read_a_fork_whole_halts_once_it_reads_the_real_chain(
    bridge: tuple[str, Any], processes: devnet.Processes, tmp_path: Path
) -> None:
    """The balancer's worst draw, without the dice: every request goes to the fork node until the
    member has stored the fork's lock (it cannot tell), then every one to the real node. Its
    scans re-read the hash of the last block it stored, which the real chain does not have:
    the route halts (deep reorg) once the real chain's final head passes that block, and nothing
    of the real chain's locks is stored after the fork's."""
    canonical, fork, dep = forked(bridge, processes, tmp_path)
    backend = {"url": fork}
    lb = LoadBalancer(lambda body: backend["url"])
    try:
        cfg = consortium_cfg(lb.url, dep.vault.address)
        async with Store.open(tmp_path / "n.sqlite3") as store, ChainClient.connect(cfg) as chain:
            node = node_for(tmp_path, cfg, store, chain)
            task = asyncio.ensure_future(node.watch(chain))
            try:
                for _ in range(200):
                    if await stored_amounts(store) or task.done():
                        break
                    await asyncio.sleep(0.05)
                assert sorted(await stored_amounts(store)) == [9, 9]  # the fork's view, stored
                backend["url"] = canonical
                assert await halted_as_canonical_grows(node, canonical), "the member went on"
                assert "deep reorg" in str(next(iter(node.halted.values())))
                assert sorted(await stored_amounts(store)) == [9, 9]  # nothing more stored
            finally:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
    finally:
        lb.close()


def rpc(url: str, method: str, *params: Any) -> Any:
    reply = Web3(HTTPProvider(url)).provider.make_request(method, list(params))  # type: ignore[arg-type]
    return reply["result"]


async def halted_as_canonical_grows(node: Node, canonical: str, blocks: int = 60) -> bool:
    """Mine the real chain a block at a time (the member scans each new final block) until the
    member's route halts; False if it has not after `blocks` blocks."""
    for _ in range(blocks):
        if node.halted:
            return True
        mine(canonical, 1)
        for _ in range(4):
            await asyncio.sleep(0.05)
            if node.halted:
                return True
    return bool(node.halted)


# ---- 2. one lying endpoint of several halts the route (decode runs before the canonical check)


async def test_one_lying_endpoint_of_two_cannot_halt_the_route_with_a_malformed_forked_log(
    bridge: tuple[str, Any],
) -> None:
    """Endpoints [liar, honest]. The liar serves the real log with another block hash (not
    canonical) AND a `data` one byte short. `_events.read` decodes before the canonical check and
    `ChainClient.call` re-raises MalformedEvent without trying the next endpoint, so the watcher
    halts the route at the first scan ("malformed event": the runbook says escalate to the
    developers), though the second endpoint is honest. Stopped: refused like any other lie, the
    honest endpoint read."""
    url, dep = bridge
    for amount in (1, 2):
        lock(url, dep, amount)
    mine(url, 2)
    head = Web3(HTTPProvider(url)).eth.block_number

    def rewrite(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getLogs" and isinstance(result, list):
            for entry in result:
                entry["blockHash"] = "0x" + "ee" * 32
                entry["data"] = entry["data"][:-2]
        return result

    with RpcProxy(url, rewrite=rewrite) as liar:
        async with ChainClient.connect(consortium_cfg((liar.url, url), dep.vault.address)) as chain:
            observed = await chain.transfers(0, head)  # MalformedEvent on b3c71a2
            assert [o.located.transfer.amount for o in observed] == [1, 2]


# ---- 3. a block the endpoint does not have (yet) counts as a lie and halts an honest member


async def test_a_lagging_backend_that_lacks_the_log_block_does_not_halt_the_route(
    bridge: tuple[str, Any], processes: devnet.Processes, tmp_path: Path
) -> None:
    """A consortium chain (`instant`: the final head is the head) behind a load balancer whose
    second node lags: it has every block up to before the lock, none after. eth_getLogs and the
    single calls reach the up-to-date node, the block-hash batch the lagging one, which answers
    `null` for the lock's block. On b3c71a2 `_block_hashes` left it out, `judge_log` called it
    NOT_CANONICAL, `qiao_logs_refused_total{reason="not_canonical"}` and the critical "serves
    another fork or lies" alert fired, and after 3 scans the honest member halted its routes.
    Stopped: a block the endpoint does not know is an RPC error to retry, not a lie."""
    url, dep = bridge
    lagging = devnet.start_anvil(processes, "anvil-lagging", C, tmp_path, 0, ("--fork-url", url))
    lock(url, dep, 1)

    def pick(body: Any) -> str:
        return lagging if isinstance(body, list) else url

    lb = LoadBalancer(pick)
    try:
        # one log block: a batch only starts with two; lock once more in another block
        lock(url, dep, 2)
        cfg = consortium_cfg(lb.url, dep.vault.address)
        async with Store.open(tmp_path / "n.sqlite3") as store, ChainClient.connect(cfg) as chain:
            node = node_for(tmp_path, cfg, store, chain)
            with contextlib.suppress(TimeoutError):  # watch() returns only on a halt
                await asyncio.wait_for(node.watch(chain), 5.0)
            assert not node.halted, f"an honest member halted: {node.halted}"
    finally:
        lb.close()


# ---- 5. quorum 2 of 3 (the testnet profile): one forked endpoint, listed first, stops the member


async def test_quorum_two_of_three_reads_the_two_agreeing_endpoints_past_a_forked_first_one(
    bridge: tuple[str, Any], processes: devnet.Processes, tmp_path: Path
) -> None:
    """config/testnet.toml's consortium chain: quorum = 2 of three endpoints, "one lying or forked
    endpoint cannot make this member sign, one down cannot stop it". A forked endpoint is
    self-consistent, so `fetch_canonical` accepts it as `first`; the quorum loop then raises
    QuorumMismatch at the first honest endpoint instead of looking for two that agree, and the
    forked endpoint stays active (call() succeeded on it). Every scan fails the same way: the
    member's watcher never advances, with no alert (no rule on qiao_rpc_quorum_mismatches_total or
    on qiao_chain_lag_blocks). Stopped: the two honest endpoints agree, their logs are used."""
    url, dep = bridge
    fork = devnet.start_anvil(processes, "anvil-fork", C, tmp_path, 0, ("--fork-url", url))
    lock(fork, dep, 9)
    lock(url, dep, 1)
    mine(fork, 20)
    mine(url, 5)
    head = Web3(HTTPProvider(url)).eth.block_number
    with RpcProxy(url) as second_honest:
        cfg = consortium_cfg((fork, url, second_honest.url), dep.vault.address, quorum=2)
        async with ChainClient.connect(cfg) as chain:
            before = metrics.QUORUM_MISMATCHES.labels("consortium")._value.get()
            observed = await chain.transfers(0, head)  # QuorumMismatch on b3c71a2, every time
            assert [o.located.transfer.amount for o in observed] == [1]
            # the forked endpoint dissented: counted, quarantined, and no longer the active one
            assert metrics.QUORUM_MISMATCHES.labels("consortium")._value.get() == before + 1
            assert chain.active_url != fork
            again = await chain.transfers(0, head)
            assert [o.located.transfer.amount for o in again] == [1]


# ---- 4. `relayer reobserve` stores a transfer that is not final under finality = "finalized"


async def test_reobserve_refuses_a_transfer_above_the_finalized_tag(
    bridge: tuple[str, Any], tmp_path: Path
) -> None:
    """With `finality = "finalized"`, `finality_depth` is 0, and `Ops._reobserve_receipt` judges
    finality as `block <= head - finality_depth`: a lock in the newest block (far above the
    `finalized` tag) is stored, and once the watcher's cursor passes its block number it is
    batched and signed even if a reorg removed it. The receipt's blockHash is never checked
    against the canonical block either. Stopped: refused as not final (AdminError)."""
    url, dep = bridge
    mine(url, 100)
    lock(url, dep, 7)
    receipt_block = Web3(HTTPProvider(url)).eth.block_number
    cfg = consortium_cfg(url, dep.vault.address, finality="finalized")
    async with Store.open(tmp_path / "n.sqlite3") as store, ChainClient.connect(cfg) as chain:
        final = await chain.final_head()
        assert final < receipt_block, (final, receipt_block)  # the lock is not final
        node = node_for(tmp_path, cfg, store, chain)
        logs = await chain.transfers(receipt_block, receipt_block)
        tx = logs[0].tx_hash
        with pytest.raises(AdminError, match="not final yet"):
            await Ops(node).reobserve(tx)
        assert 7 not in await stored_amounts(store), "a transfer above the finalized tag was stored"


_ = cs  # (kept for symmetry with the other integration tests)
