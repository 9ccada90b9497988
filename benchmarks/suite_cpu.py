"""Where the test suite's CPU goes, by kind of process (issue 20: the suite on two cores is
CPU-bound, so its time is its CPU divided by two).

    python -m benchmarks.suite_cpu run --out DIR -- -n 4 --dist loadscope -m "not unit"
    python -m benchmarks.suite_cpu report DIR
    python -m benchmarks.suite_cpu durations JUNIT.xml [...] > tests/module_seconds.json

`run` turns on the kernel's process accounting (BSD `acct`: root, and `apt-get install acct` for
`accton` and `dump-acct`; not installed by bootstrap, the suite does not need it), runs pytest
with the given arguments and turns it off; every process that ends meanwhile leaves a record of
its user and system time. Python processes all show as "python" there, so a `sitecustomize` put
on PYTHONPATH for the run writes each one's pid and command line to DIR/pids.log (and the tests'
fork server its forked members and CLI calls', harness/forked.py). `report` joins
the two and prints the CPU seconds of each kind: the members (`relayer run`), the CLI calls, the
pytest workers, the anvil chains, the rest by name. The kernel keeps the times in clock ticks of
its own rounding: read them to about 10 %.

`durations` adds up, per test module, the seconds of a run's JUnit report (`pytest --junitxml`):
its set-up, tests and tear-down on its worker. The suite hands the longest modules to the workers
first from that file (tests/support/suite_order.py); regenerate it when modules grow or shrink.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = 100  # dump-acct prints times in AHZ ticks
PIDS = """import os
try:
    with open("/proc/self/cmdline", "rb") as f:
        cmd = f.read().replace(b"\\0", b" ").decode(errors="replace")[:300].replace("\\n", " ")
    with open({log!r}, "a") as f:
        f.write(f"{{os.getpid()}}\\t{{cmd}}\\n")
except OSError:
    pass
"""
ANVIL = {"anvil", "tokio-rt-worker", "ctrl-c"}  # an anvil's record carries its last thread's name


def kind(comm: str, cmd: str | None) -> str:
    """The kind of a process, from its accounting name and (for Python) its command line."""
    if comm in ANVIL:
        return "anvil"
    if not comm.startswith("python"):
        return comm
    if cmd is None:
        return "python (no command line recorded)"
    if "exec(eval(sys.stdin.readline()))" in cmd:
        return "pytest worker"
    found = re.search(r"-m (\S+)(?: (\S+))?", cmd)
    if found is None:
        return "python " + cmd.split(" ", 2)[-1][:40]
    module, verb = found.group(1), found.group(2) or ""
    if module == "relayer.cli":
        return "member (relayer run)" if verb == "run" else "relayer CLI call"
    return module


def report(out: Path) -> list[tuple[str, int, float]]:
    """(kind, processes, CPU seconds), the most CPU first."""
    commands: dict[int, str] = {}
    for line in (out / "pids.log").read_text(errors="replace").splitlines():
        pid, _, cmd = line.partition("\t")
        if pid.isdigit():
            commands[int(pid)] = cmd
    dump = subprocess.run(["dump-acct", str(out / "pacct")], capture_output=True, text=True, check=True)
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for record in dump.stdout.splitlines():
        fields = [f.strip() for f in record.split("|")]
        if len(fields) < 11:
            continue
        cpu = (float(fields[2]) + float(fields[3])) / TICKS
        entry = totals[kind(fields[0], commands.get(int(fields[9])))]
        entry[0] += 1
        entry[1] += cpu
    rows = [(k, int(n), cpu) for k, (n, cpu) in totals.items()]
    return sorted(rows, key=lambda r: -r[2])


def print_report(rows: list[tuple[str, int, float]]) -> None:
    total = sum(r[2] for r in rows)
    print(f"{'kind':40} {'processes':>9} {'CPU s':>9} {'each':>7} {'share':>6}")
    for name, count, cpu in rows:
        print(f"{name[:40]:40} {count:9d} {cpu:9.1f} {cpu / count:7.2f} {100 * cpu / total:5.1f}%")
    print(f"{'all':40} {sum(r[1] for r in rows):9d} {total:9.1f}")


def run(out: Path, pytest_args: list[str]) -> int:
    for tool in ("accton", "dump-acct"):
        if shutil.which(tool) is None:
            sys.exit(f"error: {tool} not found; install it (apt-get install acct) and run as root")
    out.mkdir(parents=True, exist_ok=True)
    (out / "pids.log").write_text("")
    (out / "pacct").write_bytes(b"")
    (out / "sitecustomize.py").write_text(PIDS.format(log=str(out / "pids.log")))
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(out), os.environ.get("PYTHONPATH")])),
        QIAO_SUITE_CPU_PIDS=str(out / "pids.log"),  # the forked members' and CLI calls' (harness/forked.py)
    )
    subprocess.run(["accton", str(out / "pacct")], check=True, stdout=subprocess.DEVNULL)
    try:
        status = subprocess.run([str(ROOT / ".venv/bin/pytest"), *pytest_args], cwd=ROOT, env=env).returncode
    finally:
        subprocess.run(["accton", "off"], check=True, stdout=subprocess.DEVNULL)
    print_report(report(out))
    return status


def module_of(classname: str) -> str | None:
    """A JUnit testcase's classname ("tests.e2e.test_x", or "tests.e2e.test_x.TestY" for a test in
    a class) as its module's path ("tests/e2e/test_x.py"); None if it names no test module."""
    parts = classname.split(".")
    for i, part in enumerate(parts):
        if part.startswith("test_"):
            return "/".join(parts[: i + 1]) + ".py"
    return None


def module_seconds(reports: list[Path]) -> dict[str, float]:
    """Seconds per test module over JUnit reports (a module in several: the last report's figure),
    rounded to 0.1 s, the longest first."""
    out: dict[str, float] = {}
    for path in reports:
        found: dict[str, float] = defaultdict(float)
        for case in ET.parse(path).iter("testcase"):
            module = module_of(case.get("classname", ""))
            if module is not None:
                found[module] += float(case.get("time") or 0.0)
        out.update(found)
    return {m: round(s, 1) for m, s in sorted(out.items(), key=lambda kv: (-kv[1], kv[0]))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.suite_cpu", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run pytest under process accounting, then report")
    r.add_argument("--out", type=Path, required=True, help="directory for the records")
    r.add_argument("pytest_args", nargs=argparse.REMAINDER, help="pytest's arguments, after --")
    s = sub.add_parser("report", help="report the records of an earlier run")
    s.add_argument("out", type=Path)
    d = sub.add_parser("durations", help="seconds per test module from JUnit reports, as JSON")
    d.add_argument("reports", type=Path, nargs="+", help="pytest --junitxml files (a later one wins)")
    args = p.parse_args(argv)
    if args.command == "durations":
        print(json.dumps(module_seconds(args.reports), indent=1))
        return 0
    if args.command == "run":
        given = args.pytest_args
        return run(args.out, given[1:] if given[:1] == ["--"] else given)
    print_report(report(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
