"""The chaos soak's short version (CI): a minute of load both ways with at least one member kill,
one loss of quorum (fewer than t members up for a few seconds), one broker restart and one reorg
below finality on each chain, then the reconciler's verdict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import devnet

pytestmark = pytest.mark.e2e


def test_a_short_soak_with_every_kind_of_fault_ends_drained_with_no_violation(tmp_path: Path) -> None:
    report_path = tmp_path / "soak.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.soak",
            "--duration",
            "60",
            "--seed",
            "7",
            "--rate",
            "3",
            "--min-each-fault",
            "1",
            "--kill-every",
            "0",
            "--quorum-loss-every",
            "0",
            "--broker-every",
            "0",
            "--reorg-every",
            "0",
            "--drain-timeout",
            "120",
            "--run-dir",
            str(tmp_path / "run"),
            "--report",
            str(report_path),
        ],
        cwd=devnet.ROOT,
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert report_path.exists(), done.stdout[-4000:] + done.stderr[-4000:]
    report = json.loads(report_path.read_text())
    # the soak's reorgs replace exactly the blocks asked for (never a final one), or it says so
    assert report["faults"]["reorgs_too_deep"] == 0, done.stdout[-4000:]
    assert report["verdict"]["violations"] == [], done.stdout[-4000:]
    assert report["drain"]["drained"], done.stdout[-4000:]
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert report["seed"] == 7

    for route in ("consortium->ethereum", "ethereum->consortium"):
        row = report["transfers"][route]
        assert row["executed"] == row["initiated_on_chain"] > 0
    faults = report["faults"]
    assert faults["kills"] >= 1
    assert faults["restarts"] == faults["kills"]
    assert faults["below_threshold_episodes"] >= 1  # a few seconds with fewer than t members up
    assert faults["broker_restarts"] >= 1
    assert sum(faults["reorgs"]["consortium"].values()) >= 1
    assert sum(faults["reorgs"]["ethereum"].values()) >= 1
    assert all(
        int(depth) < report["config"]["finality_depth"] for c in faults["reorgs"].values() for depth in c
    )
    assert faults["unexpected_exits"] == []
    assert all(report["members_alive"].values())
