"""Whole member processes on the devnet: anvil x2, mosquitto, 4 members, real round trips."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import paho.mqtt.publish as mqtt_publish
import pytest

from harness import devnet
from relayer.core.messages import partial_topic
from relayer.ops.reconciler import reconcile

pytestmark = pytest.mark.e2e


def node_log_events(net: devnet.Devnet, member: int) -> list[dict]:  # type: ignore[type-arg]
    return net.nodes[member].events()


def test_round_trip_completes_with_one_member_stopped_and_garbage_on_the_broker(tmp_path: Path) -> None:
    with devnet.devnet(tmp_path / "net", down=(4,), block_time=0.5) as net:
        devnet.wait_until(
            lambda: all(
                any(e.get("event") == "mqtt_connected" for e in node_log_events(net, m)) for m in net.nodes
            ),
            60,
            "every member connected to the broker",
        )
        # a stranger publishes malformed and oversized payloads on committee topics
        for payload in [
            b"{",
            b"[]",
            b"x" * 10_000,
            json.dumps({"v": 1, "type": "partial", "member": 4}).encode(),
        ]:
            mqtt_publish.single(
                partial_topic("devnet", 4), payload, qos=1, hostname="127.0.0.1", port=net.mqtt_port
            )
        result = devnet.round_trip(net, locks=20, burns=10, timeout=150, say=lambda s: None)
        assert result.recipient_wrapped == result.locked_total - result.burned_total
        assert result.wrapped_supply == result.vault_balance
        assert result.supply_ok
        verdict = reconcile(net.deployment, settled=True)
        assert verdict.ok, verdict.violations
        assert verdict.counts["executed"] == 30
        for member, proc in net.nodes.items():
            assert proc.popen.poll() is None, f"member {member} died; see {proc.log_path}"
        rejected = [e for e in node_log_events(net, 1) if e.get("event") == "mqtt_message_rejected"]
        assert len(rejected) >= 3
        # aggregation goes by turn: each batch is combined by the first member in its turns (or,
        # with that one down, the next), so the combinations are counted over the members
        aggregated = [
            e for m in (1, 2, 3) for e in node_log_events(net, m) if e.get("event") == "batch_aggregated"
        ]
        assert len(aggregated) >= 2
        # SIGTERM stops a member cleanly
        net.nodes[1].stop(signal.SIGTERM, timeout=30)
        assert net.nodes[1].popen.returncode == 0
        assert any(e.get("event") == "node_stopped" for e in node_log_events(net, 1))


def test_the_demo_command_completes_and_reports_the_supply_check(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.devnet",
            "--locks",
            "20",
            "--burns",
            "10",
            "--run-dir",
            str(tmp_path / "demo"),
        ],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
        cwd=devnet.ROOT,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "supply check (wrapped == locked) : true" in out.stdout
    assert "bob (ethereum) wTBILL balance    : 155" in out.stdout  # 1+..+20 minted, 1+..+10 burned


def test_a_malformed_config_stops_the_daemon_with_every_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[node]\nmember_index = "one"\n[chains.c]\nchain_id = -1\n')
    out = subprocess.run(
        [sys.executable, "-m", "relayer.cli", "run", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    for expected in [
        "node.member_index: expected int",
        "node.data_dir: missing",
        "chains.c.chain_id: -1 must be positive",
        "chains.c.rpc: missing",
        "routes: missing",
    ]:
        assert expected in out.stderr
    assert "Traceback" not in out.stderr
