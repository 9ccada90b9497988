"""benchmarks.suite_cpu names each process of a suite run by what it was (the accounting record
alone says "python" for every member, CLI call and worker)."""

from __future__ import annotations

import pytest

from benchmarks.suite_cpu import kind

VENV = "/work/q/.venv/bin/python"


@pytest.mark.parametrize(
    ("comm", "cmd", "expected"),
    [
        ("python", f"{VENV} -m relayer.cli run --config /t/node-1/node.toml", "member (relayer run)"),
        ("python", f"{VENV} -m relayer.cli status --config /t/node-1/node.toml --json", "relayer CLI call"),
        ("python", "(forked) -m relayer.cli run --config /t/node-1/node.toml", "member (relayer run)"),
        ("python", "(forked) -m relayer.cli keys show --config /t/node-1/node.toml", "relayer CLI call"),
        ("python", f"{VENV} -u -c import sys;exec(eval(sys.stdin.readline()))", "pytest worker"),
        ("python", f"{VENV} -m harness.soak --duration 60", "harness.soak"),
        ("python", None, "python (no command line recorded)"),
        ("tokio-rt-worker", None, "anvil"),
        ("ctrl-c", None, "anvil"),
        ("mosquitto", None, "mosquitto"),
    ],
)
def test_each_process_is_named_by_what_it_ran(comm: str, cmd: str | None, expected: str) -> None:
    assert kind(comm, cmd) == expected
