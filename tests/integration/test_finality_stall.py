"""A finality stall on a real anvil: a JSON-RPC proxy in front of it freezes the `finalized` answer
while blocks keep being mined. The watcher logs `finality_stalled` once (not every scan), exports
how long it has lasted, and logs `finality_resumed` once the tag moves again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address as cs
from structlog.testing import capture_logs
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
from relayer.pipeline.node import Node
from tests.support.rpc_proxy import RpcProxy

C, E = ChainId(devnet.CONSORTIUM_CHAIN_ID), ChainId(devnet.ETHEREUM_CHAIN_ID)
ENDPOINT = cs("0x" + "cd" * 20)  # no contract: no logs, the scans only move the cursor


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
        routes=(Route(E, C),),
    )


def stalled_seconds() -> float:
    return float(metrics.FINALITY_STALLED_SECONDS.labels("ethereum")._value.get())


async def test_a_frozen_finalized_tag_under_a_growing_head_is_logged_once_and_exported(
    processes: devnet.Processes, tmp_path: Path
) -> None:
    url = devnet.start_anvil(processes, "anvil", E, tmp_path, 0)
    w3 = Web3(HTTPProvider(url))
    mine = lambda n: w3.provider.make_request("anvil_mine", [hex(n)])  # type: ignore[arg-type]  # noqa: E731
    mine(100)
    frozen: dict[str, Any] = {}

    def rewrite(method: str, params: list[Any], result: Any) -> Any:
        if method == "eth_getBlockByNumber" and params[:1] == ["finalized"] and "on" in frozen:
            return frozen.setdefault("block", result)
        return result

    share = deal(1, 1)[0]
    with RpcProxy(url, rewrite=rewrite) as proxy:
        cfg = ChainConfig(
            "ethereum", E, proxy.url, ENDPOINT, 0, 0, 0.1, 1000, finality="finalized", rpc_timeout=5.0
        )
        async with Store.open(tmp_path / "node.sqlite3") as store, ChainClient.connect(cfg) as chain:
            ncfg = node_config(tmp_path, cfg)
            node = Node(
                cfg=ncfg,
                store=store,
                chains={E: chain},
                public=share.public,
                share=None,
                backend=get_backend(),
                transport=Transport(ncfg.mqtt, 1),
                finality_stall_seconds=1.0,
            )
            with capture_logs() as logs:
                await node.scan_once(chain)
                mine(10)
                await node.scan_once(chain)
                assert stalled_seconds() == 0.0  # the tag follows the head: no stall
                frozen["on"] = True
                await node.scan_once(chain)
                stuck = frozen["block"]["number"]
                for _ in range(8):  # the head grows for about 2 s, the tag stays
                    mine(5)
                    await asyncio.sleep(0.25)
                    await node.scan_once(chain)
                assert stalled_seconds() >= 1.0
                assert int(stuck, 16) == await chain.final_head()
                stalls = [e for e in logs if e["event"] == "finality_stalled"]
                assert len(stalls) == 1, stalls  # once per stall, not every scan
                assert stalls[0]["chain"] == "ethereum"
                assert stalls[0]["final"] == int(stuck, 16)
                assert stalls[0]["head"] > int(stuck, 16) + 30
                assert stalls[0]["log_level"] == "error"

                del frozen["on"]  # the tag moves again
                mine(5)
                await node.scan_once(chain)
                resumed = [e for e in logs if e["event"] == "finality_resumed"]
                assert len(resumed) == 1
                assert resumed[0]["final"] > int(stuck, 16)
                assert stalled_seconds() == 0.0
                await node.scan_once(chain)
                assert len([e for e in logs if e["event"] in ("finality_stalled", "finality_resumed")]) == 2
