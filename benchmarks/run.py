"""Qiao benchmarks on the local devnet: latency, throughput, gas, crypto, DKG and memory.

    bash scripts/bench.sh [--quick] [--out benchmarks/results] [--skip-dkg-64] [--sections ...]
                          [--max-batches 100 400] [--members 4 7 16] [--drain-members 4 16] [--repeat 3]
    python -m benchmarks.run ...

Writes <out>/report.json (every figure, raw samples included) and, unless --no-docs, the Markdown
summary docs/BENCHMARKS.md with its plots under docs/benchmarks/. Nothing here asserts a limit: the
targets of issue 8 are reported beside the measured figures.

How each figure is measured:

* Latency (devnet, n = 4 and n = 7 unless --members says otherwise, both chains mining a block a
  second): a thread polls both chains' heads every 20 ms and records the wall time each block is
  first seen. Locks are sent at a light steady rate. Lock mined -> mint mined is the first-seen time
  of the mint's block minus that of the lock's block. The relayer's overhead runs from the
  first-seen time of the block that makes the lock batchable (the last block of its batch window
  plus the finality depth) to the earliest `batch_submitted` log line (the mint transaction's broadcast)
  among the members. The stages between come from the members' log lines (transfer_final, batch_cut,
  batch_signed, batch_aggregated, batch_submitted), earliest member each.
* Throughput (n = 4): the members are stopped, a backlog of final locks is mined in blocks of
  1,000 (eth_sendTransaction of the unlocked dev account, automine off, evm_mine), the members
  start again and the executed count (the recipient's balance, 1 wei per transfer) is sampled
  until the backlog is drained. Then a steady load is offered for a while. One member is profiled
  with py-spy during the drain when py-spy is installed. The drain rate depends mostly on the
  committee's max_batch (signing, partials, aggregation and submission are paid per batch), so it
  is measured at each size of --max-batches: the first on the n = 4 devnet of the latency runs
  (report["devnets"]), each further one on a fresh n = 4 devnet with a short latency part
  (report["throughput_runs"]). Other committee sizes drain at the first max_batch (--drain-members):
  a size among --members on its latency devnet, any other on a devnet of its own.
* CPU and memory per member (report[...]["resources"], per part: latency, drain, drain + steady
  load): utime + stime from /proc/<pid>/stat over the part's window (CPU seconds and % of one core),
  VmHWM (the peak since the process started) and VmRSS at the end from /proc/<pid>/status, for each
  member and, apart, the chains and the broker; "memory" keeps the VmHWM and a VmRSS timeline of the
  throughput runs. The committee sizes are n = 3f + 1 with t = 2f + 1, as the devnet deals them.
* Repetitions (--repeat K): each latency and throughput configuration runs K times, interleaved
  (all once, then all again); each devnet records its run number and the 1-minute load average at
  its start and end, and the report gives each headline figure's min / median / max and judges a
  target on the median.
* Gas: benchmarks/gas_report.py's measurement (receipts on anvil) with more batch sizes and
  committees, plus the gas of the relayers' own executeBatch receipts during the drain.
* Crypto and DKG: benchmarks/bench_crypto.py and benchmarks/bench_dkg.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from eth_utils import keccak

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import devnet  # noqa: E402

C_ID, E_ID = devnet.CONSORTIUM_CHAIN_ID, devnet.ETHEREUM_CHAIN_ID
ROUTE = f"{C_ID}->{E_ID}"
WINDOW_BLOCKS, FINALITY_DEPTH = 2, 1  # the devnet's batch window and finality rule
# the poll interval the 2026-12-01 report ran at (a 0.1 s override of the devnet's), kept for
# benchmarks/topology.py, whose figures were measured with it; the latency and throughput runs here
# use the members' default configuration (Sizes.poll_interval, Sizes.push)
POLL_INTERVAL = 0.1
TARGETS = {
    "overhead_p50_ms": 100.0,  # issue 20 (the first targets were 300 and 1,500 ms)
    "overhead_p99_ms": 300.0,
    "drain_tps": 1000.0,
    "gas_per_transfer_at_100": 35_000,
    "verify_gas": 140_000,
    "partial_sign_ms": 1.0,
    "partial_verify_ms": 3.0,
    "dkg_64_s": 15.0,  # issue 20 (the first target was n = 16 in 15 s)
    "rss_mb": 200.0,
}
# Published per-signature multisig verification (a widely used multisig verifier), gas.
SECTIONS = ("crypto", "dkg", "gas", "latency", "throughput")


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---- JSON-RPC ----------------------------------------------------------------------------------


class Rpc:
    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self._id = 0

    def call(self, method: str, params: list[Any] | None = None) -> Any:
        self._id += 1
        body = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": params or []}
        reply = self.session.post(self.url, json=body, timeout=120).json()
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        replies = self.session.post(self.url, json=body, timeout=300).json()
        errors = [r["error"] for r in replies if "error" in r]
        if errors:
            raise RuntimeError(f"{len(errors)} of {len(calls)} calls failed, first: {errors[0]}")
        return [r["result"] for r in sorted(replies, key=lambda r: r["id"])]

    def head(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def logs(self, address: str, topic0: str, from_block: int, to_block: int | str = "latest") -> list[Any]:
        to = to_block if isinstance(to_block, str) else hex(to_block)
        out: list[Any] = self.call(
            "eth_getLogs",
            [{"address": address, "topics": [topic0], "fromBlock": hex(from_block), "toBlock": to}],
        )
        return out


class HeadClock:
    """The wall time at which each block of each chain was first seen (polled every `interval`)."""

    def __init__(self, urls: dict[str, str], interval: float = 0.02) -> None:
        self.rpcs = {name: Rpc(url) for name, url in urls.items()}
        self.seen: dict[str, dict[int, float]] = {name: {} for name in urls}
        self.interval = interval
        self._stop = threading.Event()
        self._running = threading.Event()  # cleared while paused (`paused`)
        self._running.set()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No polling inside: the drain uses no block times, and 100 RPCs a second (with this
        process's share of the two cores) are load the members and chains under test would
        otherwise share. Blocks mined meanwhile are all seen at once, when it resumes."""
        self._running.clear()
        try:
            yield
        finally:
            self._running.set()

    def _run(self) -> None:
        last: dict[str, int] = {}
        while not self._stop.is_set():
            if not self._running.is_set():
                self._running.wait(self.interval)
                continue
            for name, rpc in self.rpcs.items():
                with contextlib.suppress(Exception):
                    head = rpc.head()
                    now = time.time()
                    prev = last.get(name, head - 1)
                    for b in range(prev + 1, head + 1):
                        self.seen[name].setdefault(b, now)
                    last[name] = max(prev, head)
            self._stop.wait(self.interval)

    def __enter__(self) -> HeadClock:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def wait_for(self, name: str, block: int, timeout: float = 60) -> float:
        devnet.wait_until(lambda: block in self.seen[name], timeout, f"{name} block {block}", 0.05)
        return self.seen[name][block]


# ---- member logs -------------------------------------------------------------------------------


def parse_time(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


BATCH_RE = re.compile(r"^(?P<route>.+)#(?P<first>\d+)-(?P<last>\d+)$")


BATCH_EVENTS = ("batch_cut", "batch_signed", "batch_aggregated", "batch_submitted", "batch_executed")


@dataclass
class LogEvents:
    """The time of each stage per member: per nonce (transfer_final) or per batch (batch events)."""

    final: dict[int, dict[int, float]] = field(default_factory=lambda: defaultdict(dict))
    batch: dict[str, dict[tuple[int, int], dict[int, float]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(dict))
    )
    executed_gas: dict[tuple[int, int], int] = field(default_factory=dict)

    @classmethod
    def read(cls, log_dir: Path) -> LogEvents:
        ev = cls()
        for path in sorted(log_dir.glob("member-*.log")):
            member = int(path.stem.rsplit("-", 1)[1])
            for line in path.read_text(errors="replace").splitlines():
                if not line.startswith("{"):
                    continue
                try:
                    rec = json.loads(line)
                    at = parse_time(rec["timestamp"])
                except (ValueError, KeyError):
                    continue
                name = rec.get("event")
                if name == "transfer_final" and rec.get("route") == ROUTE:
                    ev.final[int(rec["nonce"])].setdefault(member, at)
                elif name in BATCH_EVENTS:
                    m = BATCH_RE.match(str(rec.get("batch", "")))
                    if m is None or m["route"] != ROUTE:
                        continue
                    key = (int(m["first"]), int(m["last"]))
                    ev.batch[name][key].setdefault(member, at)
                    if name == "batch_executed" and "gas" in rec:
                        ev.executed_gas[key] = int(rec["gas"])
        return ev

    def first(self, event: str, key: tuple[int, int]) -> float | None:
        times = self.batch[event].get(key)
        return min(times.values()) if times else None

    def batch_of(self, nonce: int) -> tuple[int, int] | None:
        if not hasattr(self, "_index"):
            self._index = {n: key for key in self.batch["batch_cut"] for n in range(key[0], key[1] + 1)}
        return self._index.get(nonce)


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def pct(p: float) -> float:
        k = (len(ordered) - 1) * p
        lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)

    return {
        "count": len(ordered),
        "p50": round(pct(0.50), 1),
        "p95": round(pct(0.95), 1),
        "p99": round(pct(0.99), 1),
        "mean": round(statistics.fmean(ordered), 1),
        "max": round(ordered[-1], 1),
    }


# ---- the devnet under load ---------------------------------------------------------------------


TRANSFER_INITIATED = (
    "0x" + keccak(text="TransferInitiated(uint256,uint64,address,address,address,address,uint256)").hex()
)
TRANSFER_EXECUTED = "0x" + keccak(text="TransferExecuted(uint256,uint64,address,uint256)").hex()


@dataclass
class Load:
    """Sends locks of 1 wei from alice to bob through the unlocked dev account."""

    net: devnet.Devnet
    c: Rpc = field(init=False)
    e: Rpc = field(init=False)
    alice: str = field(init=False)
    bob: str = field(init=False)
    vault: str = field(init=False)
    data: str = field(init=False)
    nonce: int = field(init=False)

    def __post_init__(self) -> None:
        from web3 import HTTPProvider, Web3

        dep = self.net.deployment
        self.c, self.e = Rpc(dep.consortium_url), Rpc(dep.ethereum_url)
        wc = Web3(HTTPProvider(dep.consortium_url))
        admin, alice, bob = devnet.dev_account(0), devnet.dev_account(8), devnet.dev_account(9)
        self.alice, self.bob, self.vault = alice.address, bob.address, dep.vault.address
        devnet.send(wc, admin, dep.asset.functions.mint(alice.address, 10**30))
        devnet.send(wc, alice, dep.asset.functions.approve(dep.vault.address, 10**30))
        self.data = dep.vault.functions.lock(
            dep.asset.address, E_ID, bob.address, 1
        )._encode_transaction_data()
        self.nonce = int(self.c.call("eth_getTransactionCount", [self.alice, "pending"]), 16)
        self._wrapped = dep.wrapped
        self._vault = dep.vault

    def _tx(self) -> tuple[str, list[Any]]:
        tx = {
            "from": self.alice,
            "to": self.vault,
            "data": self.data,
            "gas": hex(150_000),
            "nonce": hex(self.nonce),
        }
        self.nonce += 1
        return ("eth_sendTransaction", [tx])

    def send(self, count: int) -> None:
        for start in range(0, count, 500):
            self.c.batch([self._tx() for _ in range(min(500, count - start))])

    def executed(self) -> int:
        return int(self._wrapped.functions.balanceOf(self.bob).call())

    def next_nonce(self) -> int:
        return int(self._vault.functions.nextNonce(E_ID).call())

    def backlog(self, count: int, per_block: int = 1000) -> tuple[int, int]:
        """`count` locks mined in blocks of `per_block`; returns the first and last block."""
        self.c.call("evm_setAutomine", [False])
        self.c.call("anvil_setIntervalMining", [0])
        blocks = []
        try:
            for start in range(0, count, per_block):
                self.send(min(per_block, count - start))
                self.c.call("evm_mine", [])
                blocks.append(self.c.head())
        finally:
            self.c.call("anvil_setIntervalMining", [1])
        return blocks[0], blocks[-1]


def ready_count(log_dir: Path, member: int) -> int:
    path = log_dir / f"member-{member}.log"
    return path.read_text(errors="replace").count('"event": "node_ready"') if path.exists() else 0


def wait_ready(net: devnet.Devnet, before: dict[int, int], timeout: float = 300) -> float:
    """Wait until every running member logged node_ready once more than `before`; returns the time."""
    logs = net.run_dir / "logs"
    devnet.wait_until(
        lambda: all(ready_count(logs, m) > before.get(m, 0) for m in net.nodes), timeout, "members ready", 0.1
    )
    return time.time()


def ready_after(log_dir: Path, since: float) -> float | None:
    """Seconds from `since` until the last member logged node_ready (after its catch-up scan)."""
    times = []
    for path in log_dir.glob("member-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if '"node_ready"' in line:
                with contextlib.suppress(ValueError, KeyError):
                    at = parse_time(json.loads(line)["timestamp"])
                    if at >= since:
                        times.append(at)
                        break
    return round(max(times) - since, 1) if times else None


def window_final_block(block: int) -> int:
    """The block whose arrival makes a lock in `block` batchable: its window's end plus the depth."""
    return (block // WINDOW_BLOCKS + 1) * WINDOW_BLOCKS - 1 + FINALITY_DEPTH


def transfer_timings(
    load: Load,
    clock: HeadClock,
    events: LogEvents,
    first_nonce: int,
    last_nonce: int,
    from_c: int,
    from_e: int,
) -> list[dict[str, float]]:
    """Per transfer: wall times of each stage, from the chains (clock) and the logs of the member
    whose mint transaction was broadcast first (its own watcher, batcher and aggregator), with the
    time the t-th member signed (the quorum that member's aggregator waited for)."""
    t = load.net.t
    locks = {
        int(x["topics"][2], 16): int(x["blockNumber"], 16)
        for x in load.c.logs(load.vault, TRANSFER_INITIATED, from_c)
    }
    gateway = load.net.deployment.gateway.address
    mints = {
        int(x["topics"][2], 16): int(x["blockNumber"], 16)
        for x in load.e.logs(gateway, TRANSFER_EXECUTED, from_e)
    }
    rows = []
    for nonce in range(first_nonce, last_nonce + 1):
        key = events.batch_of(nonce)
        if nonce not in locks or nonce not in mints or key is None:
            continue
        lock_b, mint_b = locks[nonce], mints[nonce]
        final_b = window_final_block(lock_b)
        seen_c, seen_e = clock.seen["c"], clock.seen["e"]
        if lock_b not in seen_c or final_b not in seen_c or mint_b not in seen_e:
            continue
        submitted = events.batch["batch_submitted"].get(key, {})
        if not submitted:
            continue
        by = min(submitted, key=lambda m: submitted[m])  # the member whose transaction went first
        cut = events.batch["batch_cut"].get(key, {}).get(by)
        aggregated = events.batch["batch_aggregated"].get(key, {}).get(by)
        signed = sorted(events.batch["batch_signed"].get(key, {}).values())
        final = events.final.get(nonce, {}).get(by)
        if cut is None or aggregated is None or final is None or len(signed) < t:
            continue
        rows.append(
            {
                "nonce": nonce,
                "batch_size": key[1] - key[0] + 1,
                "submitter": by,
                "lock_mined": seen_c[lock_b],
                "final_block_seen": seen_c[final_b],
                "transfer_final": final,
                "batch_cut": cut,
                "quorum_signed": max(signed[t - 1], cut),
                "batch_aggregated": aggregated,
                "batch_submitted": submitted[by],
                "mint_mined": seen_e[mint_b],
            }
        )
    return rows


STAGES = [
    ("lock_mined", "final_block_seen", "chain: lock mined -> its window final (1-2 blocks + depth 1)"),
    (
        "final_block_seen",
        "batch_cut",
        "watcher + batcher: window final -> batch cut (poll, scan, store, cut)",
    ),
    ("batch_cut", "quorum_signed", "signers: cut -> t members signed (slowest of the t)"),
    ("quorum_signed", "batch_aggregated", "aggregator: t-th partial -> combined (MQTT, checks)"),
    ("batch_aggregated", "batch_submitted", "submitter: combined -> mint broadcast"),
    ("batch_submitted", "mint_mined", "chain: broadcast -> mint mined"),
]


def summarise_latency(rows: list[dict[str, float]]) -> dict[str, Any]:
    e2e = [(r["mint_mined"] - r["lock_mined"]) * 1000 for r in rows]
    overhead = [(r["batch_submitted"] - r["final_block_seen"]) * 1000 for r in rows]
    stages = {
        label: percentiles([(r[b] - r[a]) * 1000 for r in rows]) | {"from": a, "to": b}
        for a, b, label in STAGES
    }
    return {
        "lock_to_mint_ms": percentiles(e2e),
        "relayer_overhead_ms": percentiles(overhead),
        "stages_ms": stages,
        "samples_lock_to_mint_ms": [round(x, 1) for x in e2e],
        "samples_overhead_ms": [round(x, 1) for x in overhead],
    }


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process (fields 14 and 15 of /proc/<pid>/stat), in seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def proc_status_kb(pid: int, key: str) -> float | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
    return None


def spread(values: Sequence[float], digits: int = 1) -> dict[str, float] | None:
    """min / median / max of some figures (None if there are none)."""
    if not values:
        return None
    return {
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
    }


def load_1min() -> float:
    return round(os.getloadavg()[0], 2)


class ProcessSampler:
    """Per process over a window: CPU (utime + stime from /proc/<pid>/stat, as seconds and as % of
    one core over the window), VmRSS every second and at the end, VmHWM (the process's peak since
    its start) from /proc/<pid>/status. `pids` are the members (member -> pid), `others` the
    devnet's chains and broker (name -> pid)."""

    def __init__(self, pids: dict[int, int], others: dict[str, int] | None = None) -> None:
        self.pids = pids
        self.others = others or {}
        self.t0 = time.time()
        self.t1: float | None = None
        self.rss: dict[int, list[tuple[float, float]]] = {m: [] for m in pids}
        self.hwm: dict[int | str, float] = {}
        self.rss_end: dict[int | str, float] = {}
        self.cpu_first: dict[int | str, float] = {}
        self.cpu_last: dict[int | str, float] = {}
        self.load_start = load_1min()
        self.load_end: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _all(self) -> list[tuple[int | str, int]]:
        return [*self.pids.items(), *self.others.items()]

    def _sample(self) -> None:
        now = round(time.time() - self.t0, 1)
        # each process read once per sample: a pid under two keys gets one reading (its CPU time
        # would otherwise have moved on between the two)
        cpus: dict[int, float | None] = {}
        rsss: dict[int, float | None] = {}
        for key, pid in self._all():
            if pid not in cpus:
                cpus[pid], rsss[pid] = proc_cpu_seconds(pid), proc_status_kb(pid, "VmRSS")
            cpu = cpus[pid]
            if cpu is not None:
                self.cpu_first.setdefault(key, cpu)
                self.cpu_last[key] = cpu
            kb = rsss[pid]
            if kb is not None:
                self.rss_end[key] = round(kb / 1024, 1)
                if isinstance(key, int):
                    self.rss[key].append((now, round(kb / 1024, 1)))
            hwm = proc_status_kb(pid, "VmHWM")
            if hwm is not None:
                self.hwm[key] = hwm / 1024

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(1.0)

    def __enter__(self) -> ProcessSampler:
        self.t0 = time.time()
        self._sample()  # the CPU baseline at the window's start
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sample()
        self.t1 = time.time()
        self.load_end = load_1min()

    def figures(self, key: int | str, window: float) -> dict[str, float | None]:
        cpu = self.cpu_last[key] - self.cpu_first[key] if key in self.cpu_first else None
        return {
            "cpu_s": None if cpu is None else round(cpu, 2),
            "cpu_pct": None if cpu is None or window <= 0 else round(100 * cpu / window, 1),
            "vmhwm_mb": round(self.hwm[key], 1) if key in self.hwm else None,
            "rss_end_mb": self.rss_end.get(key),
        }

    def checkpoint(self) -> dict[str, Any]:
        """The figures from the window's start until now (the sampler keeps running)."""
        self._sample()
        return self.summary() | {"load_1min": {"start": self.load_start, "end": load_1min()}}

    def summary(self) -> dict[str, Any]:
        """The window's figures per member and per other process, and min / median / max over
        the members of each."""
        window = (self.t1 or time.time()) - self.t0
        members = {str(m): self.figures(m, window) for m in self.pids}
        per_member = {
            k: spread([x for v in members.values() if (x := v[k]) is not None], 2)
            for k in ("cpu_s", "cpu_pct", "vmhwm_mb", "rss_end_mb")
        }
        return {
            "window_s": round(window, 1),
            "load_1min": {"start": self.load_start, "end": self.load_end},
            "members": members,
            "per_member": per_member,
            "others": {name: self.figures(name, window) for name in self.others},
        }


def py_spy_record(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or str(ROOT / ".venv" / "bin" / "py-spy")
    if not Path(exe).exists():
        return None
    argv = [
        exe,
        "record",
        "-p",
        str(pid),
        "-d",
        str(seconds),
        "-r",
        "50",
        "--format",
        "raw",
        "-o",
        str(out),
        "--nonblocking",
    ]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarise_profile(path: Path, top: int = 40) -> dict[str, Any]:
    """py-spy's collapsed stacks: the functions with the most samples, inclusive and self."""
    inclusive: dict[str, int] = defaultdict(int)
    own: dict[str, int] = defaultdict(int)
    total = 0
    if not path.exists():
        return {"samples": 0}
    for line in path.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        total += count
        frames = [re.sub(r" \(.*?:\d+\)$", "", f).strip() + _where(f) for f in stack.split(";")]
        for f in set(frames):
            inclusive[f] += count
        own[frames[-1]] += count

    def table(d: dict[str, int]) -> list[dict[str, Any]]:
        rows = sorted(d.items(), key=lambda kv: -kv[1])[:top]
        return [{"function": k, "samples": v, "share": round(v / total, 3)} for k, v in rows]

    return {"samples": total, "inclusive": table(inclusive), "self": table(own)}


def _where(frame: str) -> str:
    m = re.search(r"\(([^()]*?):\d+\)$", frame)
    if not m:
        return ""
    path = m.group(1)
    for marker in ("site-packages/", "lib/python3.11/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f" ({path})"


def member_pids(net: devnet.Devnet) -> dict[int, int]:
    return {i: p.popen.pid for i, p in net.nodes.items() if p.popen.poll() is None}


def other_pids(net: devnet.Devnet) -> dict[str, int]:
    """The devnet's chains and broker (their CPU beside the members')."""
    return {
        p.name: p.popen.pid
        for p in net.procs.items
        if not p.name.startswith("member-") and p.popen.poll() is None
    }


def bench_devnet(
    run_dir: Path,
    n: int,
    latency_locks: int,
    latency_gap: float,
    backlog: int,
    steady_rate: float | None,
    steady_seconds: float,
    profile_seconds: int,
    restart: bool = True,
    drain_timeout: float = 900,
    max_batch: int = 100,
    poll_interval: float = devnet.POLL_INTERVAL,
    push: bool = True,
    run: int = 1,
) -> dict[str, Any]:
    """One devnet of n members: the latency run, then (if backlog > 0) the throughput runs.

    With `restart` the backlog is made while the members are stopped (the real measure); without
    it (the smoke run) they stay up and drain it as it is mined. `poll_interval` and `push` (each
    chain's `ws`, new heads pushed) are the members' chain settings: the devnet's defaults unless
    --poll-interval / --no-push say otherwise. `run` numbers the repetitions of one configuration
    (--repeat). Each part records the members' CPU and memory (ProcessSampler) and the 1-minute load
    average at its start and end."""
    t = 2 * ((n - 1) // 3) + 1
    out: dict[str, Any] = {
        "n": n,
        "t": t,
        "run": run,
        "load_1min": {"start": load_1min()},
        "resources": {},
        "window_blocks": WINDOW_BLOCKS,
        "finality_depth": FINALITY_DEPTH,
        "max_batch": max_batch,
        "poll_interval": poll_interval,
        "push": push,
    }
    say(f"devnet n = {n}, t = {t}: starting (DKG, contracts, members)")
    with devnet.devnet(
        run_dir,
        n=n,
        t=t,
        block_time=1.0,
        anvil_args=("--gas-limit", "1000000000"),
        node_options={
            "window_blocks": WINDOW_BLOCKS,
            "finality_depth": FINALITY_DEPTH,
            "max_batch": max_batch,
            "poll_interval": poll_interval,
            "push": push,
        },
    ) as net:
        dep = net.deployment
        started = time.time()
        wait_ready(net, {})
        out["member_start_seconds"] = round(time.time() - started, 1)
        load = Load(net)
        with HeadClock({"c": dep.consortium_url, "e": dep.ethereum_url}) as clock:
            # -- latency: locks at a light steady rate
            from_c, from_e = load.c.head(), load.e.head()
            first = load.next_nonce()
            say(f"n = {n}: latency, {latency_locks} locks one every {latency_gap} s")
            with ProcessSampler(member_pids(net), other_pids(net)) as usage:
                for _ in range(latency_locks):
                    load.send(1)
                    time.sleep(latency_gap)
                last = first + latency_locks - 1
                # a large committee on a loaded machine is given longer; a run that still times out
                # records how many were minted (and the members' CPU and memory) instead of failing
                timeout = 120 + 5 * latency_locks + 20 * n
                timed_out = False
                try:
                    devnet.wait_until(
                        lambda: load.executed() >= latency_locks, timeout, "latency locks minted"
                    )
                except TimeoutError:
                    timed_out = True
                time.sleep(1.5)
            out["resources"]["latency"] = usage.summary()
            say(f"n = {n}: latency window, per member {usage.summary()['per_member']}")
            events = LogEvents.read(run_dir / "logs")
            rows = transfer_timings(load, clock, events, first, last, from_c, from_e)
            out["latency"] = summarise_latency(rows) | {"locks": latency_locks, "gap_seconds": latency_gap}
            lat = out["latency"]
            if timed_out:
                lat["timed_out"] = {"seconds": timeout, "minted": load.executed()}
                say(f"n = {n}: only {load.executed()} of {latency_locks} latency locks minted in {timeout} s")
            say(f"n = {n}: lock->mint {lat['lock_to_mint_ms']}, overhead {lat['relayer_overhead_ms']}")
            if backlog <= 0 or timed_out:
                out["load_1min"]["end"] = load_1min()
                return out

            # -- throughput: a backlog of final locks, drained by members started afresh
            if restart:
                for i in sorted(net.nodes):
                    net.nodes[i].stop()
            say(f"n = {n}: members {'stopped' if restart else 'running'}; a backlog of {backlog} locks")
            made = time.time()
            before = load.executed()
            first_b, last_b = load.backlog(backlog)
            first_nonce = load.next_nonce() - backlog
            made = time.time() - made
            clock.wait_for("c", window_final_block(last_b) + 1, 60)
            say(f"n = {n}: backlog in blocks {first_b}..{last_b} ({made:.1f} s); starting the members")
            restarted = time.time()
            if restart:
                for i in range(1, n + 1):
                    net.restart(i)
            pids = member_pids(net)
            t0 = restarted  # the clock runs from the members' start: their catch-up scan is part of the drain
            say(f"n = {n}: members started; draining")
            timeline: list[tuple[float, int]] = []
            prof_path = run_dir / "profile-member-1.txt"
            with ProcessSampler(pids, other_pids(net)) as mem:
                spy = py_spy_record(pids[1], profile_seconds, prof_path) if profile_seconds > 0 else None
                deadline = t0 + drain_timeout
                with clock.paused():
                    while time.time() < deadline:
                        done = load.executed() - before
                        timeline.append((round(time.time() - t0, 2), done))
                        if done >= backlog:
                            break
                        time.sleep(0.5)
                t_done = time.time() - t0
                drained = load.executed() - before
                out["resources"]["drain"] = mem.checkpoint()
                if spy is not None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        spy.wait(profile_seconds + 30)
                events = LogEvents.read(run_dir / "logs")
                subs = [
                    min(v.values())
                    for (a, _), v in events.batch["batch_submitted"].items()
                    if a >= first_nonce
                ]
                first_sub = min(subs) - t0 if subs else None
                tp: dict[str, Any] = {
                    "backlog": backlog,
                    "members_ready_after_s": ready_after(run_dir / "logs", restarted),
                    "created_seconds": round(made, 1),
                    "drained": drained,
                    "seconds_from_start": round(t_done, 2),
                    "tps_from_start": round(drained / t_done, 1),
                    "first_broadcast_after_s": None if first_sub is None else round(first_sub, 2),
                    "timeline": timeline,
                }
                if first_sub is not None and t_done > first_sub:
                    tp["tps_from_first_broadcast"] = round(drained / (t_done - first_sub), 1)
                ten = next((s for s, d in timeline if d >= 0.1 * backlog), None)
                ninety = next((s for s, d in timeline if d >= 0.9 * backlog), None)
                if ten is not None and ninety is not None and ninety > ten:
                    tp["tps_10_to_90"] = round(0.8 * backlog / (ninety - ten), 1)
                gas = [(b - a + 1, g) for (a, b), g in events.executed_gas.items() if a >= first_nonce]
                if gas:
                    full = [g / s for s, g in gas if s == max(s for s, _ in gas)]
                    tp["relayer_receipts"] = {
                        "batches": len(gas),
                        "largest_batch": max(s for s, _ in gas),
                        "gas_per_transfer_largest": round(statistics.median(full)),
                    }
                out["drain"] = tp
                say(
                    f"n = {n}: drained {drained} in {t_done:.1f} s: {tp.get('tps_from_start')} tps, "
                    f"{tp.get('tps_10_to_90')} tps 10-90 %"
                )
                if prof_path.exists():
                    out["profile"] = summarise_profile(prof_path) | {"member": 1, "seconds": profile_seconds}

                # -- sustained: a steady offered load
                rate = steady_rate or max(
                    10.0, round(0.7 * float(tp.get("tps_10_to_90") or tp["tps_from_start"]), -1)
                )
                # a backlog not drained in time is still in flight during the steady load
                out["sustained"] = sustained(load, clock, rate, steady_seconds, run_dir, backlog - drained)
            out["memory"] = {
                "vmhwm_mb": {str(m): round(v, 1) for m, v in mem.hwm.items() if isinstance(m, int)},
                "rss_timeline_mb": {str(m): v for m, v in mem.rss.items()},
            }
            out["resources"]["throughput"] = mem.summary()
            out["load_1min"]["end"] = load_1min()
            say(f"n = {n}: throughput window, per member {out['resources']['throughput']['per_member']}")
            say(f"n = {n}: peak RSS per member (MB) {out['memory']['vmhwm_mb']}")
    return out


def sustained(
    load: Load, clock: HeadClock, rate: float, seconds: float, run_dir: Path, in_flight: int = 0
) -> dict[str, Any]:
    """A steady offered load; `in_flight` transfers of an earlier load are still to be executed."""
    say(f"steady load: {rate:.0f} locks/s for {seconds:.0f} s")
    before = load.executed()
    first = load.next_nonce()
    from_c, from_e = load.c.head(), load.e.head()
    t0 = time.time()
    sent, tick = 0, 0.25
    timeline: list[tuple[float, int, int]] = []
    while time.time() - t0 < seconds:
        due = int(rate * (time.time() - t0 + tick)) - sent
        if due > 0:
            load.send(due)
            sent += due
        timeline.append((round(time.time() - t0, 2), sent, load.executed() - before))
        time.sleep(tick)
    load_end = time.time() - t0
    deadline = time.time() + 600
    while load.executed() - before < sent + in_flight and time.time() < deadline:
        timeline.append((round(time.time() - t0, 2), sent, load.executed() - before))
        time.sleep(0.5)
    done = time.time() - t0
    executed = load.executed() - before - in_flight
    time.sleep(1.5)
    events = LogEvents.read(run_dir / "logs")
    rows = transfer_timings(load, clock, events, first, first + sent - 1, from_c, from_e)
    lat = summarise_latency(rows)
    return {
        "offered_tps": rate,
        "backlog_still_in_flight": in_flight,
        "seconds": round(load_end, 1),
        "sent": sent,
        "executed": executed,
        "delivered_tps": round(executed / done, 1),
        "drain_after_load_s": round(done - load_end, 1),
        "lock_to_mint_ms": lat["lock_to_mint_ms"],
        "relayer_overhead_ms": lat["relayer_overhead_ms"],
        "stages_ms": lat["stages_ms"],
        "timeline": timeline,
    }


# ---- the other sections ------------------------------------------------------------------------


def bench_gas(batch_sizes: Sequence[int], committees: Sequence[tuple[int, int]]) -> dict[str, Any]:
    from benchmarks import gas_report

    with tempfile.TemporaryDirectory(prefix="qiao-bench-gas-") as tmp:
        f = gas_report.measure(Path(tmp), batch_sizes, committees)
    verify = {n: g for n, _, g in f.verify}
    per_batch_verify = max(verify.values())
    return {
        "verification": [{"n": n, "t": t, "gas": g} for n, t, g in f.verify],
        "batches": [
            {
                "size": s,
                "gas_used": g,
                "per_transfer": g // s,
                "verification_share": round(per_batch_verify / g, 3),
            }
            for s, g in f.batches
        ],
        "lock": f.lock,
        "burn": f.burn,
        # measured in the same run: contracts/src/reference/MultisigReceiver.sol (docs/GAS.md)
        "multisig_reference": [
            {"signers": f"{m}-of-{n}", "gas": verify, "deliver_gas": deliver}
            for m, n, verify, deliver in f.multisig
        ],
    }


def bench_crypto(
    thresholds: Sequence[int], repeat: int, reference_repeat: int, backends: Sequence[str]
) -> list[Any]:
    from benchmarks import bench_crypto as bc

    return bc.run(backends, thresholds, repeat, reference_repeat)


def bench_dkg(sizes: Sequence[int], run_dir: Path) -> list[dict[str, Any]]:
    from benchmarks import bench_dkg as bd

    procs = devnet.Processes()
    rows = []
    try:
        port = devnet.start_mosquitto(procs, run_dir)
        for n in sizes:
            say(f"DKG n = {n}")
            rows.append(asyncio.run(bd.one_run(n, port)))
            say(f"DKG n = {n}: {rows[-1]['wall_seconds']} s, {rows[-1]['messages_published']} published")
    finally:
        procs.stop_all()
    return rows


# ---- main --------------------------------------------------------------------------------------


@dataclass
class Sizes:
    latency_members: tuple[int, ...]
    latency_locks: int
    latency_gap: float
    backlog: int
    steady_rate: float | None
    steady_seconds: float
    profile_seconds: int
    gas_batches: tuple[int, ...]
    gas_committees: tuple[tuple[int, int], ...]
    crypto_thresholds: tuple[int, ...]
    crypto_repeat: int
    crypto_reference_repeat: int
    crypto_backends: tuple[str, ...]
    dkg_sizes: tuple[int, ...]
    restart: bool = True
    drain_timeout: float = 900
    # The committee's max_batch of each throughput run. The first is also the latency devnets' (and
    # the n = 4 one drains its backlog at it); each further one gets a fresh n = 4 devnet of its own.
    throughput_max_batches: tuple[int, ...] = (100,)
    throughput_latency_locks: int = 10  # the short latency part of those further devnets
    # the members' chain settings: the devnet's (the default configuration) unless overridden
    poll_interval: float = devnet.POLL_INTERVAL
    push: bool = True
    # the committee sizes that drain a backlog at the first max_batch: a size among latency_members
    # drains on its latency devnet, any other on a fresh devnet with a short latency part
    drain_members: tuple[int, ...] = (4,)
    # each latency and throughput configuration is run this many times (interleaved: all of them
    # once, then all again), so each headline figure has a min / median / max
    repeat: int = 1


FULL = Sizes(
    latency_members=(4, 7),
    latency_locks=120,
    latency_gap=0.4,
    backlog=20_000,
    steady_rate=None,
    steady_seconds=60,
    profile_seconds=60,
    gas_batches=(1, 10, 100, 500),
    gas_committees=((4, 3), (7, 5), (16, 11), (31, 21)),
    crypto_thresholds=(3, 11, 21),
    crypto_repeat=20,
    crypto_reference_repeat=1,
    crypto_backends=("arkworks", "py-ecc"),
    dkg_sizes=(4, 16, 64),
    # 100 is the devnet's default; 400 is the batch rule's limit (relayer.core.batching.MAX_BATCH_LIMIT):
    # about 12.7M gas minting to fresh holders, under EIP-7825's per-transaction cap of 2^24.
    throughput_max_batches=(100, 400),
)
QUICK = Sizes(
    latency_members=(4,),
    latency_locks=4,
    latency_gap=0.3,
    backlog=40,
    steady_rate=20,
    steady_seconds=2,
    profile_seconds=0,
    gas_batches=(1, 2),
    gas_committees=((4, 3),),
    crypto_thresholds=(3,),
    crypto_repeat=2,
    crypto_reference_repeat=1,
    crypto_backends=("arkworks",),
    dkg_sizes=(4,),
    restart=False,
)


def devnet_plan(sizes: Sizes, sections: Sequence[str]) -> list[tuple[int, tuple[str, int, int, int, int]]]:
    """The devnets to run, in order: (repetition, (report key, n, max_batch, latency locks, backlog)).

    Each size of latency_members (its backlog drained there when it is among drain_members), then
    each further size of drain_members on a devnet of its own, then each further max_batch on a
    fresh n = 4 devnet; all of them once, then all again (--repeat)."""
    throughput = "throughput" in sections
    first_batch, *more_batches = sizes.throughput_max_batches
    configs: list[tuple[str, int, int, int, int]] = []
    for n in sizes.latency_members:
        with_drain = throughput and n in sizes.drain_members
        configs.append(("devnets", n, first_batch, sizes.latency_locks, sizes.backlog if with_drain else 0))
    if throughput:
        for n in sizes.drain_members:
            if n not in sizes.latency_members:
                configs.append(
                    ("throughput_runs", n, first_batch, sizes.throughput_latency_locks, sizes.backlog)
                )
        for max_batch in more_batches:
            configs.append(("throughput_runs", 4, max_batch, sizes.throughput_latency_locks, sizes.backlog))
    return [(rep, c) for rep in range(1, sizes.repeat + 1) for c in configs]


def run(sizes: Sizes, sections: Sequence[str], work: Path, out: Path) -> dict[str, Any]:
    """Runs the sections; the report so far is written to `out` after each one."""
    report: dict[str, Any] = {
        "benchmark": "qiao",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "targets": TARGETS,
        "sizes": {k: v for k, v in sizes.__dict__.items()},
        "sections": list(sections),
    }
    started = time.time()

    def save() -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1) + "\n")

    if "crypto" in sections:
        say("crypto")
        report["crypto"] = bench_crypto(
            sizes.crypto_thresholds, sizes.crypto_repeat, sizes.crypto_reference_repeat, sizes.crypto_backends
        )
        save()
    if "dkg" in sections:
        (work / "dkg").mkdir(parents=True, exist_ok=True)
        report["dkg"] = bench_dkg(sizes.dkg_sizes, work / "dkg")
        save()
    if "gas" in sections:
        say("gas")
        report["gas"] = bench_gas(sizes.gas_batches, sizes.gas_committees)
        save()
    if "latency" in sections or "throughput" in sections:
        runs: list[dict[str, Any]] = []
        extra: list[dict[str, Any]] = []
        for rep, (key, n, max_batch, locks, backlog) in devnet_plan(sizes, sections):
            name = f"devnet-{n}" if key == "devnets" else f"devnet-{n}-max-batch-{max_batch}"
            if key == "devnets":
                say(f"run {rep} of {sizes.repeat}: n = {n}")
            else:
                say(f"run {rep} of {sizes.repeat}: n = {n} drains at max_batch {max_batch} (own devnet)")
            result = bench_devnet(
                work / (name if sizes.repeat == 1 else f"{name}-run-{rep}"),
                n,
                locks,
                sizes.latency_gap,
                backlog,
                sizes.steady_rate,
                sizes.steady_seconds,
                sizes.profile_seconds,
                restart=sizes.restart,
                drain_timeout=sizes.drain_timeout,
                max_batch=max_batch,
                poll_interval=sizes.poll_interval,
                push=sizes.push,
                run=rep,
            )
            (runs if key == "devnets" else extra).append(result)
            report["devnets"] = runs
            if extra:
                report["throughput_runs"] = extra
            save()
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["seconds"] = round(time.time() - started, 1)
    return report


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def committee_size(text: str) -> int:
    """A committee size n = 3f + 1 (the devnet deals t = 2f + 1 shares): 4, 7, 10, 13, 16, ..."""
    value = int(text)
    if value < 4 or (value - 1) % 3:
        raise argparse.ArgumentTypeError(
            f"{text}: a committee size is 3f + 1 with f >= 1 (4, 7, 10, 13, 16, ...)"
        )
    return value


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks.run", description=(__doc__ or "").split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes (the test suite's smoke run)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="where report.json goes")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument(
        "--skip-dkg-64", action="store_true", help="DKG for n = 4 and 16 only (n = 64 takes minutes)"
    )
    p.add_argument("--backlog", type=int, help="final locks in the throughput backlog (20,000)")
    p.add_argument(
        "--steady-rate", type=float, help="offered locks per second (default: 0.7 x the drain rate)"
    )
    p.add_argument("--steady-seconds", type=float)
    p.add_argument("--drain-timeout", type=float, help="seconds the backlog may take to drain (900)")
    p.add_argument("--latency-locks", type=int)
    p.add_argument(
        "--max-batches",
        type=positive_int,
        nargs="+",
        metavar="N",
        help="the committee's max_batch of each throughput run (100 400; --quick: 100); the first is "
        "also the latency devnets', each further one drains on a fresh n = 4 devnet",
    )
    p.add_argument(
        "--members", type=committee_size, nargs="+", help="committee sizes of the latency runs (4 7)"
    )
    p.add_argument(
        "--drain-members",
        type=committee_size,
        nargs="+",
        metavar="N",
        help="committee sizes that drain a backlog at the first --max-batches (4); one among --members "
        "drains on its latency devnet, any other on a devnet of its own",
    )
    p.add_argument(
        "--repeat",
        type=positive_int,
        metavar="K",
        help="run each latency and throughput configuration K times, interleaved (1); the report "
        "gives each headline figure's min / median / max and judges a target on the median",
    )
    p.add_argument(
        "--poll-interval",
        type=float,
        help=f"the members' poll_interval of each chain (default: the devnet's, {devnet.POLL_INTERVAL} s)",
    )
    p.add_argument(
        "--push",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="each chain's ws set, new heads pushed (the devnet's default); --no-push: poll only",
    )
    p.add_argument(
        "--docs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write docs/BENCHMARKS.md and docs/benchmarks/*.png (default: on unless --quick)",
    )
    p.add_argument(
        "--profile-seconds",
        type=int,
        help="py-spy's profile of member 1 during each drain (60; 0: none, so repeated drains "
        "neither share a core with the profiler nor wait for it)",
    )
    p.add_argument("--keep", action="store_true", help="keep the devnets' run directories (logs, stores)")
    args = p.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    overrides: dict[str, Any] = {}
    if args.skip_dkg_64:
        overrides["dkg_sizes"] = tuple(n for n in sizes.dkg_sizes if n != 64)
    if args.backlog is not None:
        overrides["backlog"] = args.backlog
    if args.steady_rate is not None:
        overrides["steady_rate"] = args.steady_rate
    if args.steady_seconds is not None:
        overrides["steady_seconds"] = args.steady_seconds
    if args.drain_timeout is not None:
        overrides["drain_timeout"] = args.drain_timeout
    if args.latency_locks is not None:
        overrides["latency_locks"] = args.latency_locks
    if args.profile_seconds is not None:
        if args.profile_seconds < 0:
            p.error(f"--profile-seconds {args.profile_seconds}: must be 0 (no profile) or more")
        overrides["profile_seconds"] = args.profile_seconds
    if args.max_batches:
        overrides["throughput_max_batches"] = tuple(dict.fromkeys(args.max_batches))  # in order, once each
    if args.members:
        overrides["latency_members"] = tuple(dict.fromkeys(args.members))
    if args.drain_members:
        overrides["drain_members"] = tuple(dict.fromkeys(args.drain_members))
    if args.repeat is not None:
        overrides["repeat"] = args.repeat
    if args.poll_interval is not None:
        if args.poll_interval <= 0:
            p.error(f"--poll-interval {args.poll_interval}: must be > 0 seconds")
        overrides["poll_interval"] = args.poll_interval
    overrides["push"] = args.push
    sizes = Sizes(**(sizes.__dict__ | overrides))
    work = Path(tempfile.mkdtemp(prefix="qiao-bench-"))
    path = args.out / "report.json"
    try:
        report = run(sizes, args.sections, work, path)
    finally:
        if args.keep:
            say(f"run directories kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    path.write_text(json.dumps(report, indent=1) + "\n")
    say(f"report written to {path}")
    if args.docs if args.docs is not None else not args.quick:
        from benchmarks import report as render

        render.write(report, ROOT / "docs" / "BENCHMARKS.md", ROOT / "docs" / "benchmarks")
        say("docs/BENCHMARKS.md and docs/benchmarks/*.png written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
