"""The operator's CLI (`python -m relayer.cli`) run against one devnet member's configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness import devnet

ROOT = Path(__file__).resolve().parents[2]
# commands of two words: the member's --config goes after the second
TWO_WORDS = {"actions", "transfers", "keys", "config"}


def cli(net: devnet.Devnet, *argv: str, member: int) -> subprocess.CompletedProcess[str]:
    """Run `relayer <argv>` with member `member`'s configuration; never raises on its exit code."""
    words = list(argv)
    split = 2 if words[0] in TWO_WORDS else 1
    full = [sys.executable, "-m", "relayer.cli", *words[:split], "--config", str(net.configs[member])]
    return subprocess.run(
        full + words[split:], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT
    )


def ok(out: subprocess.CompletedProcess[str]) -> str:
    """The command's output, once it is known to have exited 0 (else the assertion shows both streams)."""
    assert out.returncode == 0, f"rc {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out.stdout
