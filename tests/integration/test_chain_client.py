"""The chain client on real anvil: finality rules, fallback order, quorum reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from web3 import HTTPProvider, Web3

from harness import devnet
from relayer import metrics
from relayer.adapters.chain import ChainClient, LogsRefused, QuorumMismatch, RpcUnavailable
from relayer.config import ChainConfig
from relayer.core.types import ChainId
from tests.support.proxy import TcpProxy
from tests.support.rpc_proxy import RpcProxy

ENDPOINT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def config(rpcs: tuple[str, ...], **kw: object) -> ChainConfig:
    return ChainConfig(
        "c",
        ChainId(devnet.CONSORTIUM_CHAIN_ID),
        rpcs[0],
        ENDPOINT,
        5,
        0,
        0.1,
        100,
        rpcs=rpcs,
        rpc_timeout=2.0,
        **kw,
    )  # type: ignore[arg-type]


@pytest.fixture
def anvil(processes: devnet.Processes, tmp_path: Path) -> str:
    url = devnet.start_anvil(processes, "anvil", devnet.CONSORTIUM_CHAIN_ID, tmp_path, 0)
    Web3(HTTPProvider(url)).provider.make_request("anvil_mine", [hex(100)])  # type: ignore[arg-type]
    return url


async def test_depth_finality_is_head_minus_depth(anvil: str) -> None:
    async with ChainClient.connect(config((anvil,))) as chain:
        assert await chain.final_head() == await chain.head() - 5


async def test_finalized_finality_follows_the_chains_finalized_tag(anvil: str) -> None:
    tag = Web3(HTTPProvider(anvil)).eth.get_block("finalized")["number"]
    async with ChainClient.connect(config((anvil,), finality="finalized")) as chain:
        assert await chain.final_head() == tag
        assert await chain.final_head() < await chain.head()


async def test_reads_reuse_one_kept_alive_connection_and_survive_the_server_closing_it(anvil: str) -> None:
    # web3's own session opens a TCP connection per call; ours keeps them alive
    proxy = TcpProxy(int(anvil.rsplit(":", 1)[1]))
    try:
        async with ChainClient.connect(config((proxy.url,))) as chain:
            for _ in range(20):
                assert await chain.head() == 100
            assert proxy.accepted == 1
            proxy.stop()  # the server side closes every open connection
            proxy.start()
            heads = []
            for _ in range(3):  # the call on the closed connection may fail once, never more
                try:
                    heads.append(await chain.head())
                except RpcUnavailable:
                    continue
            assert heads
            assert heads[-1] == 100
            assert proxy.accepted == 2
    finally:
        proxy.stop()


async def test_a_dead_first_endpoint_falls_back_to_the_next(anvil: str) -> None:
    dead = f"http://127.0.0.1:{devnet.free_port()}"
    async with ChainClient.connect(config((dead, anvil))) as chain:
        assert await chain.head() == 100
        assert chain.active_url == anvil


async def test_no_live_endpoint_is_a_clear_error() -> None:
    dead = f"http://127.0.0.1:{devnet.free_port()}"
    async with ChainClient.connect(config((dead,))) as chain:
        with pytest.raises(RpcUnavailable, match="failed on every endpoint"):
            await chain.head()


async def test_a_quorum_read_refuses_endpoints_that_disagree(
    processes: devnet.Processes, tmp_path: Path
) -> None:
    # two independent chains with the same id and the same contract address, different logs
    from committee.threshold import deal

    key = deal(1, 1)[0].public.group_public_key
    ethereum = devnet.start_anvil(processes, "anvil-e", devnet.ETHEREUM_CHAIN_ID, tmp_path, 0)
    urls = [
        devnet.start_anvil(processes, f"anvil-{n}", devnet.CONSORTIUM_CHAIN_ID, tmp_path, 0) for n in "ab"
    ]
    deps = [devnet.deploy_bridge(url, ethereum, key) for url in urls]
    assert deps[0].vault.address == deps[1].vault.address
    w3 = Web3(HTTPProvider(urls[0]))
    admin, alice = devnet.dev_account(0), devnet.dev_account(8)
    dep = deps[0]
    devnet.send(w3, admin, dep.asset.functions.mint(alice.address, 10))
    devnet.send(w3, alice, dep.asset.functions.approve(dep.vault.address, 10))
    devnet.send(
        w3, alice, dep.vault.functions.lock(dep.asset.address, devnet.ETHEREUM_CHAIN_ID, alice.address, 5)
    )
    Web3(HTTPProvider(urls[1])).provider.make_request("anvil_mine", [hex(5)])  # type: ignore[arg-type]
    head = w3.eth.block_number
    cfg = ChainConfig(
        "c",
        ChainId(devnet.CONSORTIUM_CHAIN_ID),
        urls[0],
        dep.vault.address,
        0,
        0,
        0.1,
        100,
        rpcs=tuple(urls),
        quorum=2,
        rpc_timeout=2.0,
    )
    async with ChainClient.connect(cfg) as chain:
        with pytest.raises(QuorumMismatch, match="disagree"):
            await chain.transfers(0, head)
    single = ChainConfig("c", ChainId(devnet.CONSORTIUM_CHAIN_ID), urls[0], dep.vault.address, 0, 0, 0.1, 100)
    async with ChainClient.connect(single) as chain:
        assert len(await chain.transfers(0, head)) == 1


@pytest.fixture
def bridge_with_locks(processes: devnet.Processes, tmp_path: Path) -> tuple[str, str, int]:
    """A consortium anvil with the bridge and three locks in two blocks: (url, vault, head)."""
    from committee.threshold import deal

    key = deal(1, 1)[0].public.group_public_key
    c = devnet.start_anvil(processes, "anvil-c", devnet.CONSORTIUM_CHAIN_ID, tmp_path, 0)
    e = devnet.start_anvil(processes, "anvil-e", devnet.ETHEREUM_CHAIN_ID, tmp_path, 0)
    dep = devnet.deploy_bridge(c, e, key)
    w3 = Web3(HTTPProvider(c))
    admin, alice = devnet.dev_account(0), devnet.dev_account(8)
    devnet.send(w3, admin, dep.asset.functions.mint(alice.address, 10))
    devnet.send(w3, alice, dep.asset.functions.approve(dep.vault.address, 10))
    for amount in (1, 2, 3):
        devnet.send(
            w3,
            alice,
            dep.vault.functions.lock(dep.asset.address, devnet.ETHEREUM_CHAIN_ID, alice.address, amount),
        )
    w3.provider.make_request("anvil_mine", [hex(3)])  # type: ignore[arg-type]
    return c, dep.vault.address, w3.eth.block_number


def rewriting_block_hash(method: str, params: list[Any], result: Any) -> Any:
    if method == "eth_getLogs" and isinstance(result, list):
        for entry in result:
            entry["blockHash"] = "0x" + "ee" * 32
    return result


def chain_config(urls: tuple[str, ...], vault: str, **kw: Any) -> ChainConfig:
    return ChainConfig(
        "c",
        ChainId(devnet.CONSORTIUM_CHAIN_ID),
        urls[0],
        vault,
        0,
        0,
        0.1,
        100,
        rpcs=urls,
        rpc_timeout=5.0,
        **kw,
    )


def refused(reason: str) -> float:
    return float(metrics.LOGS_REFUSED.labels("c", reason)._value.get())


async def test_an_endpoint_rewriting_block_hashes_is_refused_and_the_next_one_read(
    bridge_with_locks: tuple[str, str, int],
) -> None:
    url, vault, head = bridge_with_locks
    before = refused("not_canonical")
    with RpcProxy(url, rewrite=rewriting_block_hash) as liar:
        async with ChainClient.connect(chain_config((liar.url, url), vault)) as chain:
            observed = await chain.transfers(0, head)
            assert [o.located.transfer.amount for o in observed] == [1, 2, 3]
            assert chain.active_url == url  # the lying endpoint is left
        assert refused("not_canonical") == before + 1
        async with ChainClient.connect(chain_config((liar.url,), vault)) as chain:
            with pytest.raises(LogsRefused, match="not canonical|the chain's block"):
                await chain.transfers(0, head)


async def test_a_range_without_logs_costs_no_block_hash_and_logs_cost_one_batch(
    bridge_with_locks: tuple[str, str, int],
) -> None:
    url, vault, head = bridge_with_locks
    with RpcProxy(url) as proxy:
        async with ChainClient.connect(chain_config((proxy.url,), vault)) as chain:
            assert await chain.transfers(head, head) == []
            assert proxy.calls.get("eth_getBlockByNumber", 0) == 0
            observed = await chain.transfers(0, head)
            blocks = {o.located.block_number for o in observed}
            assert len(blocks) == 3  # each lock in its own block (automine)
            assert proxy.calls.get("eth_getBlockByNumber", 0) == len(blocks)
            assert proxy.batches == 1


async def test_a_log_outside_the_range_asked_or_of_another_contract_is_refused(
    bridge_with_locks: tuple[str, str, int],
) -> None:
    url, vault, head = bridge_with_locks

    def moving(field: str, value: Any) -> Any:
        def rewrite(method: str, params: list[Any], result: Any) -> Any:
            if method == "eth_getLogs" and isinstance(result, list):
                for entry in result:
                    entry[field] = value
            return result

        return rewrite

    cases = [
        ("blockNumber", hex(head + 50), "out_of_range"),
        ("address", "0x" + "11" * 20, "wrong_address"),
        ("removed", True, "removed"),
        ("transactionHash", "0x" + "ab" * 31, "bad_hash"),
    ]
    for field, value, reason in cases:
        before = refused(reason)
        with RpcProxy(url, rewrite=moving(field, value)) as liar:
            async with ChainClient.connect(chain_config((liar.url,), vault)) as chain:
                with pytest.raises(LogsRefused):
                    await chain.transfers(0, head)
        assert refused(reason) == before + 1, reason
