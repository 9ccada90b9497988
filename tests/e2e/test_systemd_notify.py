"""The daemon under systemd's notify protocol: READY=1, watchdog pings, STOPPING=1; and a SIGTERM
in the middle of a batch loses nothing: after the restart the batch executes exactly once."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3

from harness import devnet
from relayer.ops.reconciler import reconcile

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
UNIT = devnet.UNIT


class NotifySocket:
    """What systemd gives a Type=notify service: a unix datagram socket to write to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.5)
        self.received: list[str] = []

    def env(self, watchdog_usec: int = 2_000_000) -> dict[str, str]:
        return {"NOTIFY_SOCKET": str(self.path), "WATCHDOG_USEC": str(watchdog_usec)}

    def wait_for(self, message: str, timeout: float, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(1 for m in self.received if message in m.splitlines()) >= count:
                return
            try:
                self.received.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
        raise AssertionError(f"{count} x {message!r} not received in {timeout}s; got {self.received}")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotifySocket]:
    # a short path: unix socket paths are limited to 107 bytes
    directory = Path(tmp_path_factory.mktemp("sd"))
    sock = NotifySocket(directory / "notify")
    yield sock
    sock.close()


def events(proc: devnet.Process) -> list[dict]:  # type: ignore[type-arg]
    return proc.events()


def test_ready_watchdog_and_sigterm_mid_batch_loses_nothing(tmp_path: Path, notify: NotifySocket) -> None:
    # members 2 and 3 are down: 2 of 4 online < t = 3, so batches are cut and signed, never combined
    with devnet.devnet(tmp_path / "net", down=(2, 3, 4), block_time=0.5) as net:
        member4 = net.restart(4, notify.env())
        notify.wait_for("READY=1", 60)
        notify.wait_for("WATCHDOG=1", 10, count=3)  # every WATCHDOG_USEC / 2 = 1 s
        assert any("STATUS=member 4 running" in m for m in notify.received)

        dep = net.deployment
        wc = Web3(HTTPProvider(dep.consortium_url))
        we = Web3(HTTPProvider(dep.ethereum_url))
        admin, alice, bob = devnet.dev_account(0), devnet.dev_account(8), devnet.dev_account(9)
        vault = wc.eth.contract(address=dep.vault.address, abi=dep.vault.abi)
        asset = wc.eth.contract(address=dep.asset.address, abi=dep.asset.abi)
        wrapped = we.eth.contract(address=dep.wrapped.address, abi=dep.wrapped.abi)
        gateway = we.eth.contract(address=dep.gateway.address, abi=dep.gateway.abi)
        amounts = [(i + 1) * UNIT for i in range(5)]
        devnet.send(wc, admin, asset.functions.mint(alice.address, sum(amounts)))
        devnet.send(wc, alice, asset.functions.approve(vault.address, sum(amounts)))
        for amount in amounts:
            devnet.send(
                wc, alice, vault.functions.lock(asset.address, devnet.ETHEREUM_CHAIN_ID, bob.address, amount)
            )

        def signed_through_5() -> bool:
            """Member 4 signed the batches holding every lock (batch ids look like 7001->7002#4-5)."""
            last = [
                int(str(e["batch"]).rsplit("-", 1)[-1])
                for e in events(member4)
                if e.get("event") == "batch_signed" and str(e.get("batch", "")).startswith("7001->7002#")
            ]
            return max(last, default=0) >= len(amounts)

        devnet.wait_until(signed_through_5, 60, "member 4 signed batches it cannot combine alone")
        # the batch is cut, signed and published, not aggregated: stop the member right here
        started = time.monotonic()
        member4.popen.send_signal(signal.SIGTERM)
        member4.popen.wait(30)
        assert member4.popen.returncode == 0
        assert time.monotonic() - started < 25, "stop must finish well within TimeoutStopSec=30s"
        notify.wait_for("STOPPING=1", 5)
        assert any(e.get("event") == "node_stopped" for e in events(member4))
        assert wrapped.functions.totalSupply().call() == 0

        # the store says the transfers are signed, not executed (read by the CLI without a daemon)
        listed = subprocess.run(
            [
                sys.executable,
                "-m",
                "relayer.cli",
                "transfers",
                "list",
                "--config",
                str(net.configs[4]),
                "--json",
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        states = {r["nonce"]: r["state"] for r in json.loads(listed.stdout) if r["route"] == "7001->7002"}
        assert set(states) == {1, 2, 3, 4, 5}
        assert "executed" not in states.values()

        # restart: member 4 under systemd again, and two more members so that t = 3 can sign
        before = len([m for m in notify.received if m.startswith("READY=1")])
        member4 = net.restart(4, notify.env())
        net.restart(2)
        net.restart(3)
        notify.wait_for("READY=1", 60, count=before + 1)
        devnet.wait_until(
            lambda: wrapped.functions.balanceOf(bob.address).call() == sum(amounts), 120, "the batch executed"
        )
        # exactly once: one TransferExecuted per nonce, supply equals the amount locked
        executed = gateway.events.TransferExecuted().get_logs(from_block=0)
        nonces = sorted(int(e["args"]["nonce"]) for e in executed)
        assert nonces == [1, 2, 3, 4, 5]
        assert wrapped.functions.totalSupply().call() == asset.functions.balanceOf(vault.address).call()
        verdict = reconcile(net.deployment, settled=True)
        assert verdict.ok, verdict.violations
        # member 4 itself signed each batch once, across the restart
        assert not any(e.get("event") == "equivocation_refused" for e in events(member4))
