"""The operator CLI's output contract, without a daemon: under --json every error is one JSON object
on stdout ({"error", "hint"}) with a non-zero exit; a reader that closes the pipe early (`relayer
status | head -1`) ends the command quietly; `--version` says which build runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.support import member_cli

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "config" / "devnet.example.toml")


def relayer(
    *argv: str, env: dict[str, str] | None = None, stdout: int | None = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    if stdout == subprocess.PIPE:
        return member_cli.relayer(*argv, env={**os.environ, **(env or {})}, timeout=60)
    # into a pipe of the test's own (a reader that goes away): a new interpreter, as a shell starts
    return subprocess.run(
        [sys.executable, "-m", "relayer.cli", *argv],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("argv", "code", "error"),
    [
        (["status", "--config", EXAMPLE, "--json"], 1, "cannot reach the daemon"),
        (["keys", "show", "--config", EXAMPLE, "--json"], 1, "cannot reach the daemon"),
        (["reconcile", "--config", EXAMPLE, "--json"], 1, "cannot reach the daemon"),
        (["status", "--config", "/nonexistent/node.toml", "--json"], 2, "/nonexistent/node.toml"),
        (
            ["transfers", "show", "--config", EXAMPLE, "--json", "7001", "7002", "5"],
            1,
            "cannot reach the daemon",
        ),
        (["transfers", "show", "--config", EXAMPLE, "--json", "7001", "7002"], 2, "nonce"),
        (["resume", "--config", EXAMPLE, "--json", "--on-chain"], 1, "threshold signature"),
        (["resume", "--config", EXAMPLE, "--json", "--on-chain"], 1, "relayer actions propose resume"),
        (["actions", "list", "--config", EXAMPLE, "--json"], 1, "cannot reach the daemon"),
        (
            ["actions", "propose", "resume", "--config", EXAMPLE, "--json", "--chain", "nowhere"],
            2,
            "--chain nowhere",
        ),
        (
            ["actions", "propose", "freeze", "--config", EXAMPLE, "--json", "--chain", "ethereum"],
            2,
            "invalid choice",
        ),
        (["actions", "propose", "rotate", "--config", EXAMPLE, "--json"], 1, "cannot reach the daemon"),
        (["actions", "propose", "resume", "--config", EXAMPLE, "--json"], 2, "--chain is needed"),
        (["actions", "approve", "--config", EXAMPLE, "--json"], 2, "id"),
        (["pause", "--config", EXAMPLE, "--json", "--src", "7001"], 2, "--src and --dst"),
        (["config", "check", "--config", EXAMPLE, "--json"], 2, "configuration error"),
        (["status", "--json", "--config", EXAMPLE, "--bogus"], 2, "--bogus"),
    ],
)
def test_under_json_every_error_is_a_json_object_on_stdout_with_a_nonzero_exit(
    argv: list[str], code: int, error: str, tmp_path: Path
) -> None:
    out = relayer(*argv, env={"QIAO_NODE__DATA_DIR": str(tmp_path / "data")})
    assert out.returncode == code, out.stdout + out.stderr
    data = json.loads(out.stdout)
    assert set(data) >= {"error", "hint"}, data
    assert error in data["error"], data
    assert data["hint"], data
    assert "Traceback" not in out.stderr


def test_without_json_errors_stay_on_stderr(tmp_path: Path) -> None:
    out = relayer("status", "--config", EXAMPLE, env={"QIAO_NODE__DATA_DIR": str(tmp_path / "data")})
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr.startswith("error: cannot reach the daemon")


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["transfers", "list", "--config", EXAMPLE, "--json"],
        ["config", "check", "--config", EXAMPLE, "--json"],
        ["status", "--config", EXAMPLE, "--json"],
    ],
)
def test_a_reader_that_closed_the_pipe_ends_the_command_quietly(argv: list[str], tmp_path: Path) -> None:
    """`relayer status | head -1`: head exits after one line; the command must not print a
    BrokenPipeError traceback. The read end is closed before the command writes anything."""
    (tmp_path / "data").mkdir()
    read, write = os.pipe()
    os.close(read)
    try:
        out = relayer(*argv, env={"QIAO_NODE__DATA_DIR": str(tmp_path / "data")}, stdout=write)
    finally:
        os.close(write)
    assert "Traceback" not in out.stderr, out.stderr
    assert "BrokenPipe" not in out.stderr, out.stderr
    assert out.returncode in (0, 141), out.returncode  # 141 = 128 + SIGPIPE, as a shell reports it


def test_version_comes_from_the_package_metadata() -> None:
    out = relayer("--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"relayer {version('qiao')}"
