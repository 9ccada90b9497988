"""The testnet profile reads every chain's logs from two endpoints that must agree, with one spare."""

from __future__ import annotations

from pathlib import Path

import pytest

from relayer.config import load_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("chain", ["consortium", "ethereum"])
def test_one_lying_endpoint_cannot_make_a_testnet_member_sign_nor_one_dead_one_stop_it(chain: str) -> None:
    cfg = load_config(ROOT / "config" / "testnet.toml", environ={}).chains[chain]
    assert cfg.quorum >= 2
    assert len(cfg.endpoints) > cfg.quorum
