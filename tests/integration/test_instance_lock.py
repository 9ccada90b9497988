"""The data directory's lock (relayer.adapters.instance): real files, real flock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from relayer.adapters import instance

pytestmark = pytest.mark.integration


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    with instance.exclusive(tmp_path / "data") as path:
        assert path.read_text().strip() == str(os.getpid())
        assert instance.holder(tmp_path / "data") == os.getpid()
        with pytest.raises(instance.AlreadyRunning) as refused, instance.exclusive(tmp_path / "data"):
            pass
        assert refused.value.pid == os.getpid()
        message = str(refused.value)
        assert f"PID {os.getpid()}" in message
        assert "\n" not in message
        assert "stop it first" in message
    assert instance.holder(tmp_path / "data") is None  # released with the block


def test_a_lock_file_left_by_a_dead_process_is_not_a_holder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / instance.LOCK_NAME).write_text("999999\n")  # written by a process long gone
    assert instance.holder(data) is None
    with instance.exclusive(data) as path:
        assert path.read_text().strip() == str(os.getpid())


def test_another_process_holding_the_lock_is_named(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code = (
        "import sys, time; from pathlib import Path; from relayer.adapters import instance\n"
        f"with instance.exclusive(Path({str(data)!r})):\n"
        "    print('held', flush=True); sys.stdin.readline()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        assert instance.holder(data) == child.pid
        with pytest.raises(instance.AlreadyRunning, match=f"PID {child.pid}"), instance.exclusive(data):
            pass
    finally:
        child.communicate("\n", timeout=10)
    assert instance.holder(data) is None


def test_each_start_takes_the_next_run_number_and_a_damaged_file_is_named(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with instance.exclusive(data):
        assert [instance.next_run(data) for _ in range(3)] == [1, 2, 3]
    assert (data / instance.RUN_NAME).read_text() == "3\n"
    assert not (data / "qiao.tmp").exists()
    (data / instance.RUN_NAME).write_text("garbage")
    with pytest.raises(
        instance.RunFileDamaged, match=r"qiao\.run: expected the last run number, found 'garbage'"
    ):
        instance.next_run(data)
    assert (data / instance.RUN_NAME).read_text() == "garbage"  # left for the operator


@pytest.mark.parametrize("content", [b"\xff\xfe\x00garbage", "\u00b2".encode(), b"", b"-3"])
def test_a_run_file_of_anything_but_ascii_digits_is_named_damaged(tmp_path: Path, content: bytes) -> None:
    """Torn or corrupted bytes (not UTF-8), a Unicode digit that str.isdigit() accepts, an empty or
    negative number: each is RunFileDamaged (one error line, exit 2), never a traceback."""
    (tmp_path / instance.RUN_NAME).write_bytes(content)
    with pytest.raises(instance.RunFileDamaged, match=r"qiao\.run: expected the last run number"):
        instance.next_run(tmp_path)
    assert (tmp_path / instance.RUN_NAME).read_bytes() == content  # left for the operator
