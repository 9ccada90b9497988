"""The tests' forked CLI calls and members (harness/forked.py) behave as `python -m relayer.cli`
does: the same exit status, standard output and standard error, from the arguments, environment
and working directory given. (A forked member ended by a signal reports its negative number as
`subprocess.Popen` does: the crash tests assert -9, tests/e2e/test_crash_recovery.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness import forked
from tests.support.member_cli import interpreter

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "config/devnet.example.toml"  # relative: found from the working directory only


@pytest.mark.parametrize(
    ("args", "in_root", "code"),
    [
        (["--version"], True, 0),
        (["config", "check", "--config", EXAMPLE, "--json"], True, 2),  # no key files: JSON error
        (["config", "check", "--config", EXAMPLE], False, 2),  # not found from elsewhere
        (["status", "--config", EXAMPLE], True, 1),  # no daemon
        (["transfers", "list", "--config", EXAMPLE, "--json"], True, 1),  # neither daemon nor store
        (["no-such-verb"], True, 2),  # argparse's usage, its program name with it
    ],
)
def test_a_forked_call_answers_as_a_new_interpreter_does(
    args: list[str], in_root: bool, code: int, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    env = {**os.environ, "QIAO_NODE__DATA_DIR": str(tmp_path / "data")}
    cwd = ROOT if in_root else tmp_path
    fresh = interpreter(args, cwd, env)
    fork = forked.run(args, cwd, 120, env)
    assert (fork.returncode, fork.stdout, fork.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
    assert fork.returncode == code, fork.stdout + fork.stderr


def test_the_environment_is_exactly_the_one_given(tmp_path: Path) -> None:
    """A variable of the test's own process that the call's environment leaves out is not seen:
    here the data directory, without which the example's relative ./data is where the CLI looks
    for the daemon's socket (its error names the path)."""
    (tmp_path / "data").mkdir()
    args = ["transfers", "list", "--config", EXAMPLE, "--json"]
    with_dir = forked.run(args, ROOT, 120, {**os.environ, "QIAO_NODE__DATA_DIR": str(tmp_path / "data")})
    os.environ["QIAO_NODE__DATA_DIR"] = str(tmp_path / "data")
    try:
        without = forked.run(
            args, ROOT, 120, {k: v for k, v in os.environ.items() if k != "QIAO_NODE__DATA_DIR"}
        )
    finally:
        del os.environ["QIAO_NODE__DATA_DIR"]
    fresh = interpreter(args, ROOT, {k: v for k, v in os.environ.items() if k != "QIAO_NODE__DATA_DIR"})
    assert str(tmp_path) in with_dir.stdout, with_dir.stdout
    assert str(tmp_path) not in without.stdout, without.stdout
    assert (without.returncode, without.stdout, without.stderr) == (
        fresh.returncode,
        fresh.stdout,
        fresh.stderr,
    )
