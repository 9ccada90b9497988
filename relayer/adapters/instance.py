"""One instance per member: an exclusive lock on the data directory, taken before anything else.

`relayer run` takes `fcntl.flock(LOCK_EX | LOCK_NB)` on `<data_dir>/qiao.lock` before it opens
the store, the admin socket or the MQTT connection, writes its PID into the file, and holds the
lock until the process ends (the kernel releases it even on SIGKILL). A second `relayer run` on
the same data directory is refused with the holder's PID; it touches neither the store, nor the
socket (never unlinked, never taken over), nor the broker's client id.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = "qiao.lock"
EXIT_ALREADY_RUNNING = 3  # `relayer run`'s exit status when another instance holds the data directory


class AlreadyRunning(Exception):
    """Another process holds the data directory's lock; the message names its PID and what to do."""

    def __init__(self, lock_path: Path, pid: int | None) -> None:
        self.lock_path = lock_path
        self.pid = pid
        holder = f"PID {pid}" if pid is not None else "a process whose PID the lock file does not name"
        super().__init__(
            f"{lock_path.parent}: another `relayer run` ({holder}) holds this data directory "
            f"(lock {lock_path}); this instance did not start and changed nothing. Use that one "
            "(`relayer status --config …`), or stop it first (systemctl stop qiao-relayer@<member>, "
            f"or kill {pid if pid is not None else '<pid>'}) and start again"
        )


def lock_path(data_dir: Path) -> Path:
    return data_dir / LOCK_NAME


def read_pid(path: Path) -> int | None:
    """The PID written in a lock file, or None (absent, empty, garbage)."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def holder(data_dir: Path) -> int | None:
    """The PID of the process holding `data_dir`'s lock now, or None if nobody holds it.

    Tries the lock itself (shared, non-blocking, released at once): a stale file left by a
    process that died is not a holder.
    """
    path = lock_path(data_dir)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return read_pid(path) or -1
            raise
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextlib.contextmanager
def exclusive(data_dir: Path) -> Iterator[Path]:
    """Hold `data_dir`'s lock for the block, or raise `AlreadyRunning` without changing anything."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = lock_path(data_dir)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise AlreadyRunning(path, read_pid(path)) from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        yield path
    finally:
        os.close(fd)  # releases the lock; the file stays (a later start reuses it)


RUN_NAME = "qiao.run"


class RunFileDamaged(Exception):
    """`<data_dir>/qiao.run` holds something other than a run number; the text names the file and
    what to do (`relayer run` prints it as one line and exits 2: a restart cannot mend it)."""


def next_run(data_dir: Path) -> int:
    """This start's run number: one more than the last start's, kept in `<data_dir>/qiao.run`
    (written atomically: a temporary file, fsync, rename). Signed heartbeats carry it so that the
    others order this run's heartbeats after the previous run's whatever the clock says
    (relayer.core.heartbeats). Call it while holding the data directory's lock. A missing file
    starts at 1; an unreadable one raises RunFileDamaged, naming the file and what to do."""
    path = data_dir / RUN_NAME
    last = 0
    if path.exists():
        raw = path.read_bytes().strip()
        if re.fullmatch(rb"[0-9]{1,30}", raw) is None:  # ASCII digits only (not "²", not bytes)
            found = raw[:40].decode(errors="replace")
            raise RunFileDamaged(
                f"{path}: expected the last run number, found {found!r}; write the number of "
                "times this member has been started (any number above the last one it used, e.g. "
                "the current unix time) into it, or delete it if no other member has seen it yet"
            )
        last = int(raw)
    run = last + 1
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as fh:
        fh.write(f"{run}\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    return run
