"""The soak's fault schedule is a function of its seed, and --min-each-fault forces every kind."""

from __future__ import annotations

import random

from harness.soak import Planned, SoakConfig, plan


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
