"""A chain read with quorum 1 outside the devnet is warned about; the evidence counters start at 0."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from relayer import metrics
from relayer.config import load_config, quorum_warnings
from relayer.core.logcheck import LogFault

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("network", "quorums", "warned"),
    [
        ("testnet", {"consortium": 2, "ethereum": 2}, []),
        ("testnet", {"consortium": 1, "ethereum": 2}, ["consortium"]),
        ("mainnet", {"consortium": 1, "ethereum": 1}, ["consortium", "ethereum"]),
        ("devnet", {"consortium": 1, "ethereum": 1}, []),
    ],
)
def test_a_chain_trusting_one_endpoint_outside_the_devnet_is_warned_about(
    network: str, quorums: dict[str, int], warned: list[str]
) -> None:
    cfg = load_config(ROOT / "config" / "testnet.toml", environ={})
    chains = {n: dataclasses.replace(c, quorum=quorums[n]) for n, c in cfg.chains.items()}
    cfg = dataclasses.replace(cfg, chains=chains, mqtt=dataclasses.replace(cfg.mqtt, network=network))
    warnings = quorum_warnings(cfg)
    assert [w.split(":")[0] for w in warnings] == [f"chains.{n}" for n in warned]
    for w in warnings:
        assert "quorum = 1" in w
        assert "quorum >= 2" in w


def test_the_evidence_counters_exist_at_zero_before_the_first_refusal() -> None:
    chain = "zero-check"
    metrics.zero_chain_counters(chain)
    for fault in LogFault:
        labels = {"chain": chain, "reason": fault.value}
        assert REGISTRY.get_sample_value("qiao_logs_refused_total", labels) == 0.0, fault
    for reason in ("quorum_dissent", "final_block_changed", "not_canonical"):
        labels = {"chain": chain, "reason": reason}
        assert REGISTRY.get_sample_value("qiao_rpc_quarantines_total", labels) == 0.0, reason
    assert REGISTRY.get_sample_value("qiao_deep_reorgs_total", {"chain": chain}) == 0.0
    assert REGISTRY.get_sample_value("qiao_rpc_quorum_mismatches_total", {"chain": chain}) == 0.0
