"""harness/ports.py: the devnet's server ports never race another process's or an outgoing
connection's (the "address already in use" of a chain started on a port another worker took)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from harness import devnet, ports

ROOT = Path(__file__).resolve().parents[2]


def test_ports_lie_below_the_ephemeral_range_and_repeat_no_port() -> None:
    handed = [devnet.free_port() for _ in range(50)]
    assert len(set(handed)) == len(handed)
    assert all(ports.FLOOR <= p < ports.ephemeral_low() for p in handed), handed


def test_a_bound_port_is_skipped() -> None:
    devnet.free_port()  # this process's block is claimed
    block = ports._block
    assert block is not None
    taken = block.start + block.next
    with socket.socket() as s:
        s.bind(("127.0.0.1", taken))
        s.listen(1)
        assert devnet.free_port() != taken


def test_processes_allocating_at_once_share_no_port() -> None:
    """Five processes alive together (each holds its block until the test has read every one's
    ports: a process that exited would rightly free its block for the next)."""
    code = (
        "import sys; from harness import ports; "
        "print(' '.join(str(ports.free_port()) for _ in range(200)), flush=True); sys.stdin.read()"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for _ in range(4)
    ]
    mine = {devnet.free_port() for _ in range(200)}
    outputs = [p.stdout.readline() for p in procs if p.stdout is not None]
    for p in procs:
        p.communicate(timeout=60)  # closes its stdin: it exits
    assert all(p.returncode == 0 for p in procs)
    seen = [set(map(int, out.split())) for out in outputs] + [mine]
    assert all(len(s) == 200 for s in seen)
    assert len(set().union(*seen)) == 5 * 200  # no port handed to two processes
