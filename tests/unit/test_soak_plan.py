"""The soak's fault schedule is a function of its seed, and --min-each-fault forces every kind."""

from __future__ import annotations

import json
import random
from pathlib import Path

from harness.soak import Planned, SoakConfig, member_alarms, plan, reorg_replaced


def kinds(events: list[Planned]) -> set[tuple[str, str]]:
    return {(e.kind, e.chain) for e in events}


def test_the_same_seed_plans_the_same_faults_and_another_seed_other_ones() -> None:
    cfg = SoakConfig(duration=600)
    assert plan(cfg, random.Random(5)) == plan(cfg, random.Random(5))
    assert plan(cfg, random.Random(5)) != plan(cfg, random.Random(6))


def test_faults_fall_after_the_warm_up_and_before_the_end_in_time_order() -> None:
    cfg = SoakConfig(duration=600, warmup=10)
    events = plan(cfg, random.Random(1))
    assert events
    assert all(cfg.warmup <= e.at < cfg.duration for e in events)
    assert [e.at for e in events] == sorted(e.at for e in events)


def test_every_reorg_is_shallower_than_finality() -> None:
    cfg = SoakConfig(duration=3000, finality_depth=3, reorg_every=5)
    reorgs = [e for e in plan(cfg, random.Random(2)) if e.kind == "reorg"]
    assert {e.depth for e in reorgs} == {1, 2}
    assert {e.chain for e in reorgs} == {"consortium", "ethereum"}


def test_min_each_forces_one_of_every_kind_when_random_faults_are_off() -> None:
    cfg = SoakConfig(
        duration=60, kill_every=0, quorum_loss_every=0, broker_every=0, reorg_every=0, min_each=1
    )
    events = plan(cfg, random.Random(3))
    assert len(events) == 5
    assert kinds(events) == {
        ("kill", ""),
        ("quorum_loss", ""),
        ("broker", ""),
        ("reorg", "consortium"),
        ("reorg", "ethereum"),
    }
    assert all(cfg.warmup < e.at <= cfg.duration - 15 for e in events)


def block(number: int, block_hash: str) -> dict[str, object]:
    return {"result": {"number": hex(number), "hash": block_hash}}


def test_a_reorg_replaced_exactly_the_blocks_whose_hash_changed() -> None:
    before = [block(10, "0xa"), block(11, "0xb"), block(12, "0xc")]
    assert reorg_replaced(before, [block(10, "0xa"), block(11, "0xb"), block(12, "0xd")]) == [12]
    assert reorg_replaced(before, [block(10, "0xa"), block(11, "0xe"), block(12, "0xd")]) == [11, 12]
    # a block gone after the reorg (the chain shorter) was replaced too; an error reply is no block
    assert reorg_replaced(before, [block(10, "0xa"), block(11, "0xb"), {"error": "x"}]) == [12]
    assert reorg_replaced(before, before) == []


def test_a_failed_soak_shows_each_members_last_alarms_and_leaves_out_the_noise(tmp_path: Path) -> None:
    lines = [
        {"event": "node_started", "level": "info", "timestamp": "t0"},
        {"event": "library_log", "level": "error", "message": "EOF", "timestamp": "t1"},
        {"event": "rpc_quarantined", "level": "warning", "chain": "ethereum", "timestamp": "t2"},
        {"event": "deep_reorg", "level": "critical", "chain": "ethereum", "timestamp": "t3"},
    ]
    (tmp_path / "member-1.log").write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    (tmp_path / "member-2.log").write_text(json.dumps(lines[0]) + "\n")
    alarms = member_alarms(tmp_path, [1, 2, 3])
    assert list(alarms) == ["1"]  # member 2 saw nothing alarming, member 3 has no log
    assert [line.split()[1] for line in alarms["1"]] == ["rpc_quarantined", "deep_reorg"]
    assert '"chain": "ethereum"' in alarms["1"][1]
    assert len(member_alarms(tmp_path, [1], keep=1)["1"]) == 1
