"""How the CLI reports an error (`relayer.cli.failure`): text, what to do, exit status."""

from __future__ import annotations

from pathlib import Path

import pytest

from relayer.adapters.store import StoreError
from relayer.cli import DAEMON_HINT, CliError, Failure, failure
from relayer.config import ConfigError
from relayer.ops.admin_client import AdminError


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (CliError("no transfer", "check the nonce", 1), Failure("no transfer", "check the nonce", 1)),
        (
            AdminError("cannot reach the daemon on /x/admin.sock (No such file or directory); is ..."),
            Failure(
                "cannot reach the daemon on /x/admin.sock (No such file or directory); is ...", DAEMON_HINT, 1
            ),
        ),
        (
            AdminError("transaction 0x1 is in block 9, not final yet (head 9); wait and try again"),
            Failure(
                "transaction 0x1 is in block 9, not final yet (head 9); wait and try again",
                "wait and try again",
                1,
            ),
        ),
        (
            StoreError("/d/qiao.sqlite3: not a usable SQLite store"),
            Failure(
                "/d/qiao.sqlite3: not a usable SQLite store",
                "see docs/OPERATIONS.md, 'A corrupted store' (runbook store-corrupt.md)",
                2,
            ),
        ),
    ],
)
def test_each_error_is_reported_with_a_hint_and_its_exit_status(exc: Exception, expected: Failure) -> None:
    assert failure(exc) == expected


def test_a_configuration_error_points_at_config_check_and_exits_2() -> None:
    report = failure(ConfigError("node.toml", ["node.member_index: 0 must be >= 1"]))
    assert report.code == 2
    assert "node.member_index: 0 must be >= 1" in report.error
    assert "relayer config check --config node.toml" in report.hint


def test_a_daemon_refusal_without_a_fix_still_gets_a_hint() -> None:
    report = failure(AdminError("unknown command 'x'"))
    assert report.error == "unknown command 'x'"
    assert report.hint
    assert report.code == 1


def test_an_unexpected_exception_is_an_internal_error() -> None:
    report = failure(KeyError("result"))
    assert report.error == "internal error: KeyError('result')"
    assert "bug" in report.hint


def test_an_admin_socket_path_too_long_for_unix_is_named_with_the_fix() -> None:
    from relayer.ops.admin_client import DaemonUnreachable, request, socket_path_problem

    short = Path("/run/qiao/admin.sock")
    assert socket_path_problem(short) is None
    deep = Path("/tmp/" + "d" * 120 + "/admin.sock")
    problem = socket_path_problem(deep)
    assert problem is not None
    assert "a unix socket allows 107" in problem
    assert "set [node] data_dir to a shorter path" in problem
    with pytest.raises(DaemonUnreachable, match="a unix socket allows 107"):
        request(deep, "status")  # refused before any socket is made


def test_the_cli_loads_neither_the_store_nor_web3_until_a_verb_needs_them() -> None:
    """Every verb but `run`, `config check` and the store readers talks to the daemon: its start-up
    is the CLI's whole cost (0.42 s of imports with the store, 0.26 s without, on this machine),
    paid by every operator command and by every CLI call of the end-to-end tests."""
    import subprocess
    import sys

    code = (
        "import sys, relayer.cli; print(sorted(m for m in sys.modules "
        "if m.startswith(('relayer.adapters.store', 'aiosqlite', 'web3', 'relayer.core.messages'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_store_error_is_reported_as_the_stores_once_the_store_is_loaded() -> None:
    from relayer.cli import _known

    assert _known(StoreError("x"))
    assert not _known(RuntimeError("x"))
