"""The benchmark's committee sizes, repetitions and per-member CPU and memory (benchmarks/run.py,
benchmarks/report.py): which devnets a run starts, in what order, how a report with repeated runs
is judged (on the median) and rendered. No figure is measured against a target here."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import pytest

from benchmarks import report as render
from benchmarks import run
from harness import devnet


def sizes(**overrides: Any) -> run.Sizes:
    return run.Sizes(**(run.FULL.__dict__ | overrides))


def test_each_configuration_runs_k_times_interleaved_and_other_sizes_drain_on_devnets_of_their_own() -> None:
    plan = run.devnet_plan(
        sizes(
            latency_members=(4, 7, 16), drain_members=(4, 16, 31), repeat=2, throughput_max_batches=(100, 400)
        ),
        ["latency", "throughput"],
    )
    once = [
        ("devnets", 4, 100, 120, 20_000),  # n = 4 drains on its latency devnet
        ("devnets", 7, 100, 120, 0),  # latency only
        ("devnets", 16, 100, 120, 20_000),
        ("throughput_runs", 31, 100, 10, 20_000),  # not a latency size: a devnet of its own
        ("throughput_runs", 4, 400, 10, 20_000),  # a further max_batch: a fresh n = 4 devnet
    ]
    assert plan == [(1, c) for c in once] + [(2, c) for c in once]


def test_without_the_throughput_section_no_backlog_is_made() -> None:
    plan = run.devnet_plan(sizes(latency_members=(4, 16), drain_members=(4, 16)), ["latency"])
    assert [c for _, c in plan] == [("devnets", 4, 100, 120, 0), ("devnets", 16, 100, 120, 0)]


@pytest.mark.parametrize(
    ("text", "ok"), [("4", True), ("7", True), ("16", True), ("31", True), ("5", False), ("1", False)]
)
def test_a_committee_size_is_3f_plus_1(text: str, ok: bool) -> None:
    if ok:
        assert run.committee_size(text) == int(text)
    else:
        with pytest.raises(argparse.ArgumentTypeError):
            run.committee_size(text)


def test_members_from_8_on_relay_with_accounts_of_their_own() -> None:
    """Members 8, 9 and 10 would otherwise sign with alice's, bob's and the guardian's keys, and
    anvil funds no account past index 11."""
    accounts = [devnet.relayer_account(m).address for m in range(1, 32)]
    assert len(set(accounts)) == 31
    taken = {devnet.dev_account(i).address for i in (0, *devnet.ACCOUNTS.values())}
    assert not taken & set(accounts)
    assert accounts[:7] == [devnet.dev_account(m).address for m in range(1, 8)]  # n <= 7 as before


def test_the_sampler_reads_a_processs_cpu_and_memory() -> None:
    pid = os.getpid()
    with run.ProcessSampler({1: pid}, {"self": pid}) as sampler:
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
    figures = sampler.summary()
    member = figures["members"]["1"]
    assert member["cpu_s"] >= 0.2
    assert 0 < member["cpu_pct"] <= 100 * (os.cpu_count() or 1)
    assert member["vmhwm_mb"] >= member["rss_end_mb"] > 0
    assert figures["per_member"]["cpu_s"]["min"] == figures["per_member"]["cpu_s"]["max"] == member["cpu_s"]
    assert figures["others"]["self"]["cpu_s"] == member["cpu_s"]
    assert set(figures["load_1min"]) == {"start", "end"}


def usage(cpu_pct: float, hwm: float) -> dict[str, Any]:
    member = {"cpu_s": cpu_pct / 10, "cpu_pct": cpu_pct, "vmhwm_mb": hwm, "rss_end_mb": hwm - 10}
    return {
        "window_s": 10.0,
        "members": {"1": member, "2": member | {"vmhwm_mb": hwm - 20}},
        "others": {"anvil-consortium": {"cpu_pct": 5.0}, "mosquitto": {"cpu_pct": 1.0}},
    }


def latency_run(n: int, run_no: int, p50: float, hwm: float = 150.0) -> dict[str, Any]:
    ms = {"count": 10, "p50": p50, "p95": p50 * 2, "p99": p50 * 3}
    return {
        "n": n,
        "t": 2 * ((n - 1) // 3) + 1,
        "run": run_no,
        "max_batch": 100,
        "load_1min": {"start": 1.0, "end": 2.0},
        "latency": {"lock_to_mint_ms": ms, "relayer_overhead_ms": ms, "stages_ms": {}},
        "resources": {"latency": usage(20.0, hwm)},
    }


def drain_run(n: int, run_no: int, tps: float, hwm: float = 150.0) -> dict[str, Any]:
    d = latency_run(n, run_no, 100.0, hwm)
    d["drain"] = {
        "backlog": 1000,
        "drained": 1000,
        "created_seconds": 1.0,
        "seconds_from_start": 10.0,
        "tps_from_start": tps / 2,
        "tps_10_to_90": tps,
        "timeline": [[0, 0], [10, 1000]],
    }
    d["resources"]["drain"] = usage(90.0, hwm)
    return d


def a_report(devnets: list[dict[str, Any]], throughput_runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "when": "2026-12-03T00:00:00Z",
        "cpus": 2,
        "machine": "x86_64",
        "python": "3.11",
        "load_average_at_start": [1.0],
        "load_average_at_end": [2.0],
        "seconds": 60,
        "sections": ["latency", "throughput"],
        "targets": run.TARGETS,
        "devnets": devnets,
        "throughput_runs": throughput_runs,
    }


def target_row(page: str, figure: str) -> str:
    return next(line for line in page.splitlines() if line.startswith(f"| {figure}"))


def test_a_target_is_judged_on_the_median_of_the_runs_with_min_and_max_beside_it() -> None:
    limit = run.TARGETS["overhead_p50_ms"]
    # the first run misses, the median meets
    devnets = [latency_run(4, 1, limit + 50), latency_run(4, 2, limit - 20), latency_run(4, 3, limit - 10)]
    drains = [drain_run(4, k, tps, hwm=150.0 + k) for k, tps in ((1, 900.0), (2, 1100.0), (3, 1200.0))]
    for d in drains:
        d["max_batch"] = 400
    page = render.markdown(a_report(devnets, drains), [])
    row = target_row(page, "relayer overhead p50, n = 4")
    assert f"{limit - 10:,.0f} ms (min {limit - 20:,.0f}, max {limit + 50:,.0f}, 3 runs)" in row
    assert row.endswith("| met |")
    drain = target_row(page, "backlog drain, n = 4")
    assert "1,100/s (min 900, max 1,200, 3 runs) at max_batch 400" in drain
    assert "| met" in drain
    rss = target_row(page, "peak RSS per member (VmHWM), n = 4")
    assert "(min 150, max 153, 6 runs)" in rss  # every devnet of n = 4: the latency ones and the drains


def test_the_median_missing_is_a_miss_even_when_one_run_meets() -> None:
    limit = run.TARGETS["overhead_p50_ms"]
    devnets = [latency_run(4, 1, limit - 50), latency_run(4, 2, limit + 20), latency_run(4, 3, limit + 10)]
    page = render.markdown(a_report(devnets, []), [])
    assert target_row(page, "relayer overhead p50, n = 4").endswith("| **missed** |")


def test_each_committee_size_gets_its_drain_and_a_table_of_cpu_and_memory_per_member() -> None:
    devnets = [
        latency_run(4, 1, 90.0),
        drain_run(16, 1, 300.0, hwm=180.0),
        drain_run(16, 2, 320.0, hwm=210.0),
    ]
    page = render.markdown(a_report(devnets, [drain_run(31, 1, 100.0)]), [])
    assert "310/s (min 300, max 320, 2 runs)" in target_row(page, "backlog drain, n = 16")
    assert "100/s" in target_row(page, "backlog drain, n = 31")
    assert "100 ms (min 100, max 100, 2 runs) / 300 ms" in target_row(
        page, "relayer overhead p50 / p99, n = 16"
    )
    # the median of the largest members (180, 210) is over 200: missed, whatever the better run
    assert target_row(page, "peak RSS per member (VmHWM), n = 16").startswith(
        "| peak RSS per member (VmHWM), n = 16, largest member of a run | 195 MB"
    )
    assert "## CPU and memory per member" in page
    section = page.split("### n = 16", 1)[1].split("###", 1)[0]
    assert "| anvil-consortium | mosquitto |" in section
    # min / median / max over the members of both runs: VmHWM 160, 180, 190, 210
    assert (
        "| backlog drain | 2 | 10 s | 9.0 / 9.0 / 9.0 | 90 / 90 / 90 | 160 / 185 / 210 | 170 / 185 / 200 | 5 % | 1 % |"
        in section
    )
    assert "### max_batch = 100, n = 31" in page


def test_merging_reports_keeps_each_run_apart() -> None:
    merged = render.merge(
        [
            a_report([latency_run(4, 1, 90.0), latency_run(4, 2, 95.0)], []),
            a_report([latency_run(7, 1, 200.0)], [drain_run(16, 1, 300.0), drain_run(16, 2, 310.0)]),
        ]
    )
    assert [(d["n"], d["run"]) for d in merged["devnets"]] == [(4, 1), (4, 2), (7, 1)]
    assert [(d["n"], d["run"]) for d in merged["throughput_runs"]] == [(16, 1), (16, 2)]


def test_a_latency_part_that_timed_out_says_how_many_were_minted() -> None:
    d = latency_run(31, 1, 90_000.0)
    d["latency"]["locks"] = 10
    d["latency"]["timed_out"] = {"seconds": 790, "minted": 4}
    page = render.markdown(a_report([d], []), [])
    assert "(**only 4 of 10 minted in 790 s**)" in page


def test_a_report_saved_before_its_run_ended_renders() -> None:
    """The report is written after each devnet: a run stopped midway (n = 31 on a loaded machine)
    leaves one without its end."""
    partial = a_report([latency_run(31, 1, 90_000.0)], [])
    del partial["load_average_at_end"], partial["seconds"]
    page = render.markdown(render.merge([partial, a_report([latency_run(4, 1, 90.0)], [])]), [])
    assert "- (the run was interrupted)" in page
