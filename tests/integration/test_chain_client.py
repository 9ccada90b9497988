"""The chain client on real anvil: finality rules, fallback order, quorum reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3

from relayer import devnet
from relayer.chain import ChainClient, QuorumMismatch, RpcUnavailable
from relayer.config import ChainConfig
from relayer.types import ChainId

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
