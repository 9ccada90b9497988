"""Members (and operator CLI commands) forked from a process that has imported the daemon once:
the tests' way to start them, at a fraction of an interpreter's start.

`python -m relayer.cli run` spends about a second of CPU before it is ready, most of it importing
(web3, eth-account and py_ecc through it, the BLS library, the daemon's own modules); the suite
starts ~180 members and calls the CLI ~350 times, on two cores. Here Python's own fork server
(`multiprocessing`'s "forkserver" start method, one per test process) imports those modules once,
before any member exists, and forks each member from that state: the child then runs the same
`relayer.cli.main` that `python -m relayer.cli` runs, with its own arguments, environment,
working directory and log file, as a process of its own (its own PID, signals, exit status).

Only the tests use it (tests/conftest.py calls `use()`; `QIAO_FORK_MEMBERS=0` in the environment
turns it off, to compare or to debug): the devnet script, the benchmarks and the soak start new
interpreters, and the tests that are about the entry point itself (systemd's unit, the exit
statuses of `python -m relayer.cli`, the demo) start one with `subprocess` as an operator would.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path

ENV = "QIAO_FORK_MEMBERS"
# where `python -m benchmarks.suite_cpu run` collects each Python process's PID and command line
# (a new interpreter writes its own from a sitecustomize; a forked one runs none)
PIDS_LOG = "QIAO_SUITE_CPU_PIDS"
# What `relayer run` imports before it is ready, and the CLI's verbs with it (the fork server
# imports these once; a module missing here is imported by each child, as before).
PRELOAD = [
    "__main__",  # pytest's own script under `pytest -n 0`: else each child imports it again
    "harness.forked",
    "relayer.cli",
    "relayer.daemon",
    "relayer.logs",
    "relayer.adapters.instance",
    "relayer.adapters.chain",
    "committee.keyfile",
]

_context: ForkServerContext | None = None
_wanted = False


def use() -> None:
    """Fork this process's members and CLI commands from here on (unless `QIAO_FORK_MEMBERS=0`)."""
    global _wanted
    _wanted = os.environ.get(ENV, "1") != "0"


def applies(env: dict[str, str]) -> bool:
    """Whether a process with the environment `env` is forked here: when the tests asked for
    forking (`use`) and the environment allows it (`forkable`)."""
    return _wanted and forkable(env)


def forkable(env: dict[str, str]) -> bool:
    """Whether a process with the environment `env` may be forked from here: only when it differs
    from this process's environment in the daemon's own `QIAO_*` variables, which it reads when it
    runs. Any other may act when a program is executed or Python starts, before any of the
    daemon's code (`LD_PRELOAD` with libfaketime's `FAKETIME`, `PYTHON*`, the locale, `TZ`): a
    fork would run without it, so such a process is a new interpreter."""
    changed = {k for k in env.keys() | os.environ.keys() if env.get(k) != os.environ.get(k)}
    return all(k.startswith("QIAO_") for k in changed)


def _ctx() -> ForkServerContext:
    global _context
    if _context is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        _context = ctx
        # registered after multiprocessing's own exit handler, so run before it: that one
        # SIGTERMs the daemonic children still running and then waits for each without a bound
        atexit.register(_stop_left)
    return _context


_started: list[Forked] = []
LEFT_GRACE_SECONDS = 10.0


def _stop_left() -> None:
    """At this process's exit: SIGTERM what it forked that still runs (a test that did not stop
    its members), SIGKILL what has not exited `LEFT_GRACE_SECONDS` later."""
    left = [p for p in _started if p.poll() is None]
    for proc in left:
        proc.terminate()
    deadline = time.monotonic() + LEFT_GRACE_SECONDS
    for proc in left:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)


class Forked:
    """A forked member, through what the harness uses of `subprocess.Popen`."""

    def __init__(self, process: BaseProcess) -> None:
        self._process = process
        pid = process.pid
        assert pid is not None, "a started process has a PID"
        self.pid: int = pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode  # negative: the signal that ended it, as Popen's

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        code = self.returncode
        if code is None:
            raise subprocess.TimeoutExpired(["relayer", "(forked)", str(self.pid)], timeout or 0.0)
        return code

    def send_signal(self, sig: int) -> None:
        # as Popen: a process already known to have exited (its PID may be another's now) is
        # left, and one that exited just now (the fork server reaped it, its status not yet
        # read) is no error
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def start(args: list[str], log_path: Path, env: dict[str, str], cwd: Path) -> Forked:
    """`relayer <args>` as a forked process whose stdout and stderr append to `log_path`, with
    exactly the environment `env` in the working directory `cwd`."""
    return _start(args, log_path, log_path, env, cwd)


def run(
    args: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`relayer <args>` run to its end as `subprocess.run(..., capture_output=True, text=True)`
    would (never raising on its exit status): its stdout and stderr, through files. The
    environment is this process's unless `env` is given; `subprocess.TimeoutExpired` (the process
    killed) after `timeout` seconds."""
    with tempfile.TemporaryDirectory(prefix="qiao-cli-") as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        child = _start(args, out, err, dict(os.environ if env is None else env), cwd)
        try:
            code = child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)
            raise subprocess.TimeoutExpired(["relayer", *args], timeout) from None
        return subprocess.CompletedProcess(
            ["relayer", *args], code, out.read_text(errors="replace"), err.read_text(errors="replace")
        )


def _start(args: list[str], stdout: Path, stderr: Path, env: dict[str, str], cwd: Path) -> Forked:
    for path in (stdout, stderr):  # here, as Popen's caller opens them: there even if the fork fails
        with path.open("ab"):
            pass
    process = _ctx().Process(
        target=_child, args=(list(args), str(stdout), str(stderr), dict(env), str(cwd)), daemon=True
    )
    process.start()
    forked = Forked(process)
    _started[:] = [p for p in _started if p.returncode is None]
    _started.append(forked)
    return forked


def _child(args: list[str], stdout: str, stderr: str, env: dict[str, str], cwd: str) -> None:
    """In the forked process: its output, environment and directory set as a new process's would
    be, then the CLI's `main` (whose status is the process's exit status)."""
    for target, path in ((1, stdout), (2, stderr)):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    from relayer import cli

    sys.argv = [str(cli.__file__), *args]
    pids_log = env.get(PIDS_LOG)
    if pids_log:  # as a new interpreter's sitecustomize would have written it
        with open(pids_log, "a") as log:
            log.write(f"{os.getpid()}\t(forked) -m relayer.cli {' '.join(args)}\n")
    sys.exit(cli.main(args))
