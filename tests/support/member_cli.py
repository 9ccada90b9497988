"""The operator's CLI (`python -m relayer.cli`) as the tests run it: forked from the tests' fork
server (harness/forked.py), or a new interpreter where that is turned off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness import devnet, forked

ROOT = Path(__file__).resolve().parents[2]
# commands of two words: the member's --config goes after the second
TWO_WORDS = {"actions", "transfers", "batches", "keys", "config"}


def relayer(
    *argv: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`relayer <argv>` run to its end in the repository's directory, its output captured as text;
    never raises on its exit status. The environment is this process's unless `env` is given."""
    if forked.applies(dict(os.environ) if env is None else env):
        return forked.run(list(argv), ROOT, timeout, env)
    return interpreter(list(argv), ROOT, env, timeout)


def interpreter(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m relayer.cli <args>` in a new interpreter, as `relayer` above without forking."""
    return subprocess.run(
        [sys.executable, "-m", "relayer.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
        env=env,
    )


def cli(net: devnet.Devnet, *argv: str, member: int) -> subprocess.CompletedProcess[str]:
    """Run `relayer <argv>` with member `member`'s configuration; never raises on its exit code."""
    words = list(argv)
    split = 2 if words[0] in TWO_WORDS else 1
    return relayer(*words[:split], "--config", str(net.configs[member]), *words[split:])


def ok(out: subprocess.CompletedProcess[str]) -> str:
    """The command's output, once it is known to have exited 0 (else the assertion shows both streams)."""
    assert out.returncode == 0, f"rc {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out.stdout
