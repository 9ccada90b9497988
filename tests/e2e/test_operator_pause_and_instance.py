"""Operators against real member processes: one instance per member, the CLI saying when it reads
the store file, a pause that survives SIGTERM and a restart, `pause --on-chain` that changes
nothing with a wrong or unreadable guardian key, and an on-chain pause shown on every route."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3

from harness import devnet
from relayer.config import load_config
from tests.support import member_cli

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
C, E = devnet.CONSORTIUM_CHAIN_ID, devnet.ETHEREUM_CHAIN_ID
CE, EC = f"{C}->{E}", f"{E}->{C}"


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devnet.Devnet]:
    run_dir = tmp_path_factory.mktemp("ops")
    with devnet.devnet(run_dir / "n", block_time=0.5, metrics=True) as running:
        devnet.round_trip(running, locks=1, burns=1, timeout=150, say=lambda s: None)
        yield running


def cli(net: devnet.Devnet, *argv: str, member: int = 1) -> subprocess.CompletedProcess[str]:
    return member_cli.cli(net, *argv, member=member)


def ok(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 0, f"rc {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out.stdout


def status(net: devnet.Devnet, member: int = 1) -> dict[str, dict[str, object]]:
    data = json.loads(ok(cli(net, "status", "--json", member=member)))
    return {r["route"]: r for r in data["routes"]}


def test_a_second_instance_of_a_member_is_refused_naming_the_holder_and_the_first_stays_reachable(
    net: devnet.Devnet,
) -> None:
    first = net.nodes[1]
    data_dir = load_config(net.configs[1]).data_dir
    sock = data_dir / "admin.sock"
    inode = sock.stat().st_ino
    env = {**os.environ, "QIAO_METRICS__PORT": str(devnet.free_port())}  # not what stops it
    second = subprocess.Popen(
        [sys.executable, "-m", "relayer.cli", "run", "--config", str(net.configs[1])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        _, err = second.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        second.kill()
        second.communicate()
        pytest.fail("a second `relayer run` on member 1's configuration kept running")
    assert second.returncode == 3, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert f"PID {first.popen.pid}" in lines[0]
    assert "stop it first" in lines[0]
    # the holder's socket was neither unlinked nor taken over; the CLI still reaches member 1
    assert sock.stat().st_ino == inode
    keys = json.loads(ok(cli(net, "keys", "show", "--json")))
    assert keys["member"] == 1
    assert (data_dir / "qiao.lock").read_text().strip() == str(first.popen.pid)
    assert first.popen.poll() is None


def test_a_damaged_run_file_stops_the_start_with_one_line_before_anything_is_opened(
    net: devnet.Devnet, tmp_path: Path
) -> None:
    """`qiao.run` (the start counter signed into heartbeats) holding garbage: `relayer run` exits 2
    with one line naming the file and the remedy, before it opens the store, a chain or a broker."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "qiao.run").write_text("garbage\n")
    own = f'data_dir = "{load_config(net.configs[1]).data_dir}"'
    assert own in net.configs[1].read_text()
    config = tmp_path / "node.toml"
    config.write_text(net.configs[1].read_text().replace(own, f'data_dir = "{data}"'))
    env = {**os.environ, "QIAO_METRICS__PORT": str(devnet.free_port())}
    out = subprocess.run(
        [sys.executable, "-m", "relayer.cli", "run", "--config", str(config)],
        capture_output=True, text=True, timeout=120, check=False, env=env, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, out.stderr
    assert f"{data / 'qiao.run'}: expected the last run number, found 'garbage'" in errors[0]
    assert "run_file_damaged" in out.stdout + out.stderr  # the log says it too
    for never in ("node_started", "mqtt_connected"):
        assert never not in out.stdout + out.stderr
    assert sorted(p.name for p in data.iterdir()) == ["qiao.lock", "qiao.run"]  # no store was made
    assert (data / "qiao.run").read_text() == "garbage\n"  # left for the operator


def test_the_cli_says_when_it_reads_the_store_file_instead_of_the_daemon(net: devnet.Devnet) -> None:
    from_daemon = cli(net, "transfers", "list", "--json", member=4)
    rows = json.loads(ok(from_daemon))
    assert rows
    assert {r["read_from"] for r in rows} == {"daemon"}
    assert "store file" not in from_daemon.stderr
    net.nodes[4].stop()
    try:
        from_file = cli(net, "transfers", "list", "--json", member=4)
        rows = json.loads(ok(from_file))
        assert rows
        assert {r["read_from"] for r in rows} == {"store_file"}
        assert "the daemon is not running" in from_file.stderr
        assert "reading the store file" in from_file.stderr
        table = cli(net, "transfers", "list", member=4)
        assert "reading the store file" in table.stderr
        shown = cli(net, "transfers", "show", str(C), str(E), "1", "--json", member=4)
        assert json.loads(ok(shown))["read_from"] == "store_file"
        assert "reading the store file" in shown.stderr
    finally:
        net.restart(4)
    devnet.wait_until(lambda: cli(net, "keys", "show", member=4).returncode == 0, 60, "member 4 back")


def test_a_pause_survives_sigterm_and_a_restart_and_resume_says_what_it_resumed(net: devnet.Devnet) -> None:
    out = ok(cli(net, "pause", "--src", str(C), "--dst", str(E), member=2))
    net.nodes[2].stop()  # SIGTERM
    net.restart(2)
    devnet.wait_until(lambda: cli(net, "status", member=2).returncode == 0, 60, "member 2 back")
    routes = status(net, 2)
    assert routes[CE]["paused"] is True, routes
    assert routes[CE]["paused_since"] is not None
    assert routes[EC]["paused"] is False
    assert "kept across restarts" in out
    assert "local" in ok(cli(net, "status", member=2))
    devnet.wait_until(
        lambda: net.metric(2, "qiao_route_paused", {"src": str(C), "dst": str(E)}) == 1.0, 20, "paused gauge"
    )
    devnet.wait_until(
        lambda: (net.metric(2, "qiao_route_paused_seconds", {"src": str(C), "dst": str(E)}) or 0) > 0,
        20,
        "paused-seconds gauge",
    )
    out = ok(cli(net, "resume", member=2))
    assert f"resumed (local to this node): {CE}" in out
    assert "none" in out.splitlines()[-1]
    assert "paused (local to this node): none" not in out
    again = json.loads(ok(cli(net, "resume", "--json", member=2)))
    assert again["resumed"] == []
    assert sorted(again["not_paused"]) == sorted([CE, EC])
    assert all(r["paused"] is False for r in status(net, 2).values())
    assert net.metric(2, "qiao_route_paused_seconds", {"src": str(C), "dst": str(E)}) == 0.0


def test_resume_help_says_an_on_chain_resume_needs_the_committee(net: devnet.Devnet) -> None:
    text = ok(cli(net, "resume", "--help"))
    assert "also pause" not in text
    assert "committee" in text
    refused = cli(net, "resume", "--on-chain")
    assert refused.returncode == 1
    assert "committee" in refused.stderr


def test_pause_on_chain_with_a_wrong_or_unreadable_guardian_key_changes_nothing(
    net: devnet.Devnet, tmp_path: Path
) -> None:
    dep = net.deployment
    wc = Web3(HTTPProvider(dep.consortium_url))
    vault = wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi)
    wrong = tmp_path / "wrong.key"
    wrong.write_text("0x" + bytes(devnet.dev_account(7).key).hex())
    wrong.chmod(0o600)
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key at all\n")
    garbage.chmod(0o600)
    missing = tmp_path / "missing.key"
    for key, says in (
        (wrong, "the endpoint's guardian is"),
        (garbage, "not a private key"),
        (missing, str(missing)),
    ):
        out = cli(
            net, "pause", "--on-chain", "--guardian-key-file", str(key), "--src", str(C), "--dst", str(E)
        )
        assert out.returncode == 1, out.stdout
        assert says in out.stderr
        assert "nothing was paused" in out.stderr
        assert "not a key at all" not in out.stderr
        routes = status(net)
        assert all(r["paused"] is False for r in routes.values()), f"{key.name}: paused locally: {routes}"
        assert vault.functions.paused().call() is False
    assert "nothing was paused" in cli(net, "pause", "--on-chain", "--guardian-key-file", str(wrong)).stderr


def test_pausing_one_route_on_chain_shows_every_route_through_the_endpoint_paused(
    net: devnet.Devnet, tmp_path: Path
) -> None:
    """Pauses the endpoints for good (an on-chain resume needs the committee): runs last."""
    key = tmp_path / "guardian.key"
    key.write_text("0x" + bytes(devnet.dev_account(10).key).hex())
    key.chmod(0o600)
    out = ok(
        cli(net, "pause", "--on-chain", "--guardian-key-file", str(key), "--src", str(C), "--dst", str(E))
    )
    assert "on-chain consortium: paused (tx 0x" in out
    assert "every route through it" in out
    routes = status(net)
    assert routes[CE]["paused"] is True
    assert routes[EC]["paused"] is False  # not paused here, but stopped on-chain:
    assert routes[EC]["paused_on_chain"] == ["ethereum", "consortium"]
    table = ok(cli(net, "status"))
    line = next(row for row in table.splitlines() if row.startswith(EC))
    assert "on-chain (ethereum,consortium)" in line
    assert net.metric(1, "qiao_endpoint_paused", {"chain": "ethereum"}) == 1.0
    out = ok(cli(net, "resume"))
    assert f"resumed (local to this node): {CE}" in out
    assert "still paused ON-CHAIN" in out
    assert "committee" in out
