"""The tests fork a member or a CLI call (harness/forked.py) only when its environment differs
from the fork server's in the daemon's own QIAO_* variables: any other may act when a program is
executed (libfaketime's LD_PRELOAD: a member forked with it kept the real clock)."""

from __future__ import annotations

import os

import pytest

from harness import forked


def test_the_same_environment_or_qiao_variables_only_may_be_forked() -> None:
    assert forked.forkable(dict(os.environ))
    assert forked.forkable({**os.environ, "QIAO_NODE__DATA_DIR": "/tmp/x", "QIAO_CRASH_AT": "after_publish"})


@pytest.mark.parametrize(
    "extra",
    [
        {"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "FAKETIME": "+2h"},
        {"PYTHONHASHSEED": "1234"},
        {"TZ": "Asia/Shanghai"},
    ],
)
def test_a_variable_read_at_exec_or_start_needs_a_new_interpreter(extra: dict[str, str]) -> None:
    assert not forked.forkable({**os.environ, **extra})


def test_a_variable_taken_away_needs_a_new_interpreter_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    assert not forked.forkable({k: v for k, v in os.environ.items() if k != "LC_ALL"})
