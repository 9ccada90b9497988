"""Smoke run of the benchmark command with tiny sizes: the report has its shape and its numbers are
positive. No figure is compared with a target here (benchmarks are never timed tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import devnet

pytestmark = pytest.mark.e2e


def positive(x: object) -> bool:
    return isinstance(x, int | float) and x > 0


def test_the_benchmark_command_with_tiny_sizes_writes_a_report_of_positive_figures(tmp_path: Path) -> None:
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(out)],
        cwd=devnet.ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())

    assert {r["operation"] for r in report["crypto"]} == {"partial_sign", "partial_verify", "combine"}
    assert all(positive(r["median_ms"]) for r in report["crypto"])
    assert [r["n"] for r in report["dkg"]] == [4]
    assert all(positive(r["wall_seconds"]) and positive(r["messages_published"]) for r in report["dkg"])
    gas = report["gas"]
    assert [b["size"] for b in gas["batches"]] == [1, 2]
    assert all(positive(b["gas_used"]) and positive(b["per_transfer"]) for b in gas["batches"])
    assert all(positive(v["gas"]) for v in gas["verification"])
    # the m-of-n ECDSA reference is measured in the same run: one ecrecover per signature
    multisig = gas["multisig_reference"]
    assert [r["signers"] for r in multisig] == ["4-of-7", "13-of-19", "21-of-31"]
    assert all(positive(r["gas"]) and r["deliver_gas"] > r["gas"] for r in multisig)
    assert multisig[0]["gas"] < multisig[1]["gas"] < multisig[2]["gas"]

    (net,) = report["devnets"]
    assert net["n"] == 4
    assert net["max_batch"] == 100  # the quick sizes drain at the devnet's max_batch only
    assert report["sizes"]["throughput_max_batches"] == [100]
    assert "throughput_runs" not in report
    latency = net["latency"]
    assert latency["lock_to_mint_ms"]["count"] == 4
    for key in ("lock_to_mint_ms", "relayer_overhead_ms"):
        assert all(positive(latency[key][p]) for p in ("p50", "p95", "p99"))
    drain = net["drain"]
    assert drain["drained"] == drain["backlog"] == 40
    assert positive(drain["tps_from_start"])
    assert net["sustained"]["executed"] == net["sustained"]["sent"] > 0
    assert positive(net["sustained"]["delivered_tps"])
    assert sorted(net["memory"]["vmhwm_mb"]) == ["1", "2", "3", "4"]
    assert all(positive(v) for v in net["memory"]["vmhwm_mb"].values())
    # CPU and memory of every member in each part, the chains and the broker apart, and the load
    assert net["run"] == 1
    assert set(net["load_1min"]) == {"start", "end"}
    assert set(net["resources"]) == {"latency", "drain", "throughput"}
    for part in net["resources"].values():
        assert sorted(part["members"]) == ["1", "2", "3", "4"]
        # (the quick drain lasts a second or less: a member may not have used a clock tick in it)
        assert all(m["cpu_s"] >= 0 and positive(m["vmhwm_mb"]) for m in part["members"].values())
        assert part["per_member"]["cpu_pct"]["min"] <= part["per_member"]["cpu_pct"]["median"]
        assert {"anvil-consortium", "anvil-ethereum", "mosquitto"} <= set(part["others"])
    assert all(positive(m["cpu_s"]) for m in net["resources"]["latency"]["members"].values())

    # the report renders without further throughput runs (into tmp_path, never docs/)
    from benchmarks import report as render

    images = render.plots(report, tmp_path / "images")
    page = render.markdown(report, images)
    assert "throughput.png" in images
    assert "### max_batch = 100" in page
    assert "at max_batch 100" in page
    assert "## CPU and memory per member" in page
    assert "### n = 4" in page
