"""The demo as an operator uses it: `python -m harness.devnet` (scripts/demo.sh) started for real,
observed through the ports and files it prints, driven with `relayer devnet lock|burn`, and stopped
by SIGTERM with nothing left behind."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web3 import HTTPProvider, Web3

from harness import devnet

pytestmark = pytest.mark.e2e

ROOT = devnet.ROOT


@dataclass
class Demo:
    popen: subprocess.Popen[str]
    out_path: Path

    def output(self) -> str:
        return self.out_path.read_text()

    def wait_for(self, text: str, timeout: float) -> str:
        def printed() -> bool:
            if self.popen.poll() is not None:
                raise AssertionError(f"the demo exited {self.popen.returncode}:\n{self.output()}")
            return text in self.output()

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if printed():
                return self.output()
            time.sleep(0.3)
        raise AssertionError(f"the demo did not print {text!r} in {timeout}s:\n{self.output()}")

    def children(self) -> set[int]:
        """The pids whose parent is the demo (chains, broker, members)."""
        kids = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.popen.pid:
                kids.add(int(stat.parent.name))
        return kids


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_demo(tmp_path: Path, *flags: str, cwd: Path = ROOT) -> Demo:
    out_path = tmp_path / "demo.out"
    out = out_path.open("w")
    popen = subprocess.Popen(
        [sys.executable, "-m", "harness.devnet", "--locks", "2", "--burns", "1", *flags],
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
    )
    out.close()
    return Demo(popen, out_path)


def stop(demo: Demo) -> None:
    if demo.popen.poll() is None:
        demo.popen.kill()
        demo.popen.wait(30)


def relayer(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relayer.cli", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def kept(tmp_path: Path) -> Iterator[tuple[Demo, Path]]:
    """`--keep-running --run-dir .devnet` (relative, as the docs write it) beside a copy of
    config/: the layout the example profile (config/devnet.example.toml) points at."""
    run_dir = tmp_path / ".devnet"
    demo = start_demo(tmp_path, "--keep-running", "--run-dir", ".devnet", cwd=tmp_path)
    try:
        yield demo, run_dir
    finally:
        stop(demo)


def test_the_kept_demo_is_observable_drivable_and_stops_on_sigterm(kept: tuple[Demo, Path]) -> None:
    demo, run_dir = kept
    text = demo.wait_for("devnet running", 300)
    assert "supply check (wrapped == locked) : true" in text

    # every member's metrics port is printed, written in its node.toml and answers
    ports = {
        int(m): int(p)
        for m, p in re.findall(r"member (\d): config .*, metrics http://127.0.0.1:(\d+)/", text)
    }
    assert sorted(ports) == [1, 2, 3, 4]
    for member, port in ports.items():
        assert f"port = {port}\n" in (run_dir / f"node-{member}" / "node.toml").read_text()
    with urllib.request.urlopen(f"http://127.0.0.1:{ports[1]}/metrics", timeout=10) as response:
        assert response.status == 200
        assert 'qiao_build_info{member="1"' in response.read().decode()

    # the broker port printed is the members' (TLS, logins), the one in their configurations
    broker_port = int(re.search(r"broker 127.0.0.1:(\d+) \(TLS", text).group(1))  # type: ignore[union-attr]
    assert f"port = {broker_port}\n" in (run_dir / "node-1" / "node.toml").read_text()

    # the deployment file: contracts, accounts with key files (0600), members
    path = Path(re.search(r"deployment: (\S+)", text).group(1))  # type: ignore[union-attr]
    assert path == run_dir / "deployment.json"
    data: dict[str, Any] = json.loads(path.read_text())
    assert set(data["chains"]["consortium"]["contracts"]) >= {"vault", "asset", "registry"}
    assert set(data["chains"]["ethereum"]["contracts"]) >= {"gateway", "wrapped", "registry"}
    accounts = data["devnet"]["accounts"]
    assert set(accounts) == {"admin", "alice", "bob", "guardian"}
    for account in accounts.values():
        assert Path(account["key_file"]).stat().st_mode & 0o777 == 0o600
    assert data["devnet"]["guardian"] == accounts["guardian"]["address"]
    assert data["devnet"]["broker"]["port"] == broker_port

    # a lock by the operator's command is minted on Ethereum; a burn is unlocked
    we = Web3(HTTPProvider(data["chains"]["ethereum"]["rpc"]))
    wrapped_info = data["chains"]["ethereum"]["contracts"]["wrapped"]
    wrapped = we.eth.contract(address=wrapped_info["address"], abi=wrapped_info["abi"])
    bob = accounts["bob"]["address"]
    before = wrapped.functions.balanceOf(bob).call()
    lock = relayer("devnet", "lock", "--deployment", str(path), "--amount", "7", "--json")
    assert lock.returncode == 0, lock.stderr
    locked = json.loads(lock.stdout)
    assert locked["executed"] is True
    assert locked["route"] == "7001->7002"
    assert wrapped.functions.balanceOf(bob).call() == before + 7 * devnet.UNIT
    burn = relayer("devnet", "burn", "--deployment", str(path), "--amount", "2")
    assert burn.returncode == 0, burn.stderr
    assert "executed on the destination" in burn.stdout
    assert wrapped.functions.balanceOf(bob).call() == before + 5 * devnet.UNIT
    too_much = relayer("devnet", "burn", "--deployment", str(path), "--amount", "1000000")
    assert too_much.returncode == 1
    assert too_much.stderr.startswith("error: devnet burn: bob holds")

    # the example profile is member 1 of this run: it passes config check, offline and online
    config_dir = run_dir.parent / "config"
    config_dir.mkdir()
    example = config_dir / "devnet.example.toml"
    shutil.copy(ROOT / "config" / "devnet.example.toml", example)
    offline = relayer("config", "check", "--config", str(example))
    assert offline.returncode == 0, offline.stderr
    # this run's chains, over HTTP and WebSocket (anvil serves both on one port): `--online`
    # subscribes on each chain's ws too
    rpcs = {
        f"QIAO_CHAINS__{name.upper()}__{key}": url
        for name in ("consortium", "ethereum")
        for key, url in (
            ("RPC", data["chains"][name]["rpc"]),
            ("WS", data["chains"][name]["rpc"].replace("http://", "ws://", 1)),
        )
    }
    online = relayer("config", "check", "--online", "--config", str(example), env=rpcs)
    assert online.returncode == 0, online.stderr
    assert "checked files and chains" in online.stdout
    status = relayer("status", "--json", "--config", str(example))  # its data_dir is member 1's
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["member"] == 1

    # SIGTERM stops everything it started, like Ctrl-C
    children = demo.children()
    assert len(children) >= 7  # 2 chains, the broker, 4 members
    demo.popen.send_signal(signal.SIGTERM)
    demo.popen.wait(90)
    left = [pid for pid in children if alive(pid)]
    assert left == [], f"orphans: {left}"
    assert run_dir.exists()  # --run-dir given: kept


def test_sigterm_stops_a_demo_with_its_own_directory_and_removes_it(tmp_path: Path) -> None:
    demo = start_demo(tmp_path)
    try:
        text = demo.wait_for("deployment: ", 300)
        run_dir = Path(re.search(r"run directory (\S+)", text).group(1))  # type: ignore[union-attr]
        assert (run_dir / "keys").is_dir()
        children = demo.children()
        assert len(children) >= 7
        demo.popen.send_signal(signal.SIGTERM)
        demo.popen.wait(90)
        assert [pid for pid in children if alive(pid)] == []
        assert not run_dir.exists()
    finally:
        stop(demo)
