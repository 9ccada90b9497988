"""The committee as a multi-host deployment (harness/netns.py): relayer overhead with WAN latency
between members and brokers, with one broker and with three, and the time from a broker's loss to
the next executed batch.

    bash scripts/bench.sh topology [--runs 3] [--locks 15] [--gap 1.0] [--out benchmarks/results]
    python -m benchmarks.topology ...

Each run builds two topologies (every member, broker and chain in its own network namespace, the
members reaching brokers and chains over their own veth links through their delay proxies; n = 4,
t = 3, anvil chains mining a block a second, the batch window, finality depth and poll interval of
benchmarks/run.py): one with a single broker, one with three independent brokers. On each, locks
are sent one every `gap` seconds, first with no added delay, then with a one-way delay of 50 ms
between every member and every broker (the chains' RPC stays undelayed: the figure is the
brokers'). The relayer overhead of each lock is benchmarks/run.py's: from the first sight of the
block that makes the lock batchable to the earliest `batch_submitted` among the members.

A broker's loss (three-broker topology): every member's link to one broker is taken down (a
partition: no reset, the members notice by their keepalive) and one lock is sent at once; measured
from the cut to the first sight of the block holding its mint on Ethereum, beside the same lock ->
mint time with every broker up. Each broker in turn, healed (and every member back on it) before
the next.

Writes <out>/topology.json: every run's figures and the load average (`os.getloadavg`, the figures
of `uptime`) before and after each part. Nothing here asserts a limit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.run import (
    FINALITY_DEPTH,
    POLL_INTERVAL,
    TRANSFER_EXECUTED,
    WINDOW_BLOCKS,
    HeadClock,
    Load,
    LogEvents,
    say,
    summarise_latency,
    transfer_timings,
)
from harness import devnet, netns

WAN_DELAY = 0.05  # one-way, seconds, member <-> broker
NODE_OPTIONS = {
    "window_blocks": WINDOW_BLOCKS,
    "finality_depth": FINALITY_DEPTH,
    "poll_interval": POLL_INTERVAL,
}


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def latency_phase(
    topo: netns.Topology, load: Load, clock: HeadClock, locks: int, gap: float
) -> dict[str, Any]:
    """`locks` locks one every `gap` seconds; the lock -> mint and overhead percentiles."""
    before = load.executed()
    from_c, from_e = load.c.head(), load.e.head()
    first = load.next_nonce()
    la = load_average()
    for _ in range(locks):
        load.send(1)
        time.sleep(gap)
    devnet.wait_until(lambda: load.executed() >= before + locks, 120 + 5 * locks, "the locks minted")
    time.sleep(1.5)  # the last log lines
    rows = transfer_timings(
        load, clock, LogEvents.read(topo.run_dir / "logs"), first, first + locks - 1, from_c, from_e
    )
    return summarise_latency(rows) | {
        "locks": locks,
        "gap_seconds": gap,
        "load_average": [la, load_average()],
    }


def broker_loss(topo: netns.Topology, load: Load, clock: HeadClock, broker_name: str) -> dict[str, Any]:
    """Cut every member's link to `broker_name`, send one lock at once: seconds from the cut to the
    first sight of its mint's block; then heal and wait until every member is back on it."""
    la = load_average()
    before = load.executed()
    from_e = load.e.head()
    nonce = load.next_nonce()
    pairs = netns.isolate_broker(broker_name, topo.members)
    cut_at = time.time()
    topo.down(pairs)
    try:
        load.send(1)
        devnet.wait_until(lambda: load.executed() > before, 120, f"the lock minted without {broker_name}")
        mint_block = next(
            int(x["blockNumber"], 16)
            for x in load.e.logs(topo.deployment.gateway.address, TRANSFER_EXECUTED, from_e)
            if int(x["topics"][2], 16) == nonce
        )
        seen = clock.wait_for("e", mint_block, 30)
    finally:
        topo.up(pairs)
    netns.wait_members(topo, 120)
    return {
        "broker": broker_name,
        "seconds_to_executed": round(seen - cut_at, 3),
        "load_average": [la, load_average()],
    }


def one_topology(work: Path, brokers: int, locks: int, gap: float, losses: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"brokers": brokers}
    say(f"topology with {brokers} broker(s): building (namespaces, chains, brokers, DKG, members)")
    started = time.time()
    with netns.topology(work, n=4, t=3, brokers=brokers, block_time=1.0, node_options=NODE_OPTIONS) as topo:
        out["start_seconds"] = round(time.time() - started, 1)
        load = Load(topo)  # type: ignore[arg-type]  # a Devnet for what Load reads: deployment, t
        with HeadClock({"c": topo.chain_url("c"), "e": topo.chain_url("e")}) as clock:
            out["no_delay"] = latency_phase(topo, load, clock, locks, gap)
            say(f"  no delay: overhead {out['no_delay']['relayer_overhead_ms']}")
            topo.set_delay(WAN_DELAY, routes=topo.brokers)
            out["wan_50ms"] = latency_phase(topo, load, clock, locks, gap)
            say(f"  50 ms one-way to the brokers: overhead {out['wan_50ms']['relayer_overhead_ms']}")
            topo.set_delay(0.0)
            if losses:
                out["broker_loss"] = [broker_loss(topo, load, clock, b) for b in topo.brokers]
                say(f"  broker loss -> executed: {[x['seconds_to_executed'] for x in out['broker_loss']]} s")
    return out


def spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "min": round(min(values), 1),
        "median": round(statistics.median(values), 1),
        "max": round(max(values), 1),
        "runs": len(values),
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """min / median / max over the runs of each run's figure."""
    out: dict[str, Any] = {}
    for brokers in ("one", "three"):
        for phase in ("no_delay", "wan_50ms"):
            for p in ("p50", "p99"):
                vals = [r[brokers][phase]["relayer_overhead_ms"].get(p) for r in runs if brokers in r]
                out[f"overhead_{p}_ms/{brokers}_broker(s)/{phase}"] = spread(
                    [v for v in vals if v is not None]
                )
            vals = [r[brokers][phase]["lock_to_mint_ms"].get("p50") for r in runs if brokers in r]
            out[f"lock_to_mint_p50_ms/{brokers}_broker(s)/{phase}"] = spread(
                [v for v in vals if v is not None]
            )
    losses = [
        x["seconds_to_executed"] * 1000 for r in runs for x in r.get("three", {}).get("broker_loss", [])
    ]
    out["broker_loss_to_executed_ms"] = spread(losses)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="benchmarks.topology", description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="runs of each topology, default 3")
    ap.add_argument("--locks", type=int, default=15, help="locks per latency phase, default 15")
    ap.add_argument("--gap", type=float, default=1.0, help="seconds between locks, default 1.0")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="where topology.json goes")
    ap.add_argument("--keep", action="store_true", help="keep the run directories (logs)")
    args = ap.parse_args(argv)
    if reason := netns.unavailable():
        print(f"benchmarks.topology: {reason}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="qiao-topo-bench-"))
    report: dict[str, Any] = {
        "benchmark": "topology",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "load_average_at_start": load_average(),
        "wan_delay_one_way_s": WAN_DELAY,
        "runs": [],
    }
    out = args.out / "topology.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        for i in range(args.runs):
            run: dict[str, Any] = {}
            report["runs"].append(run)
            say(f"run {i + 1} of {args.runs}")
            run["one"] = one_topology(work / f"run{i}-one", 1, args.locks, args.gap, losses=False)
            out.write_text(json.dumps(report, indent=1) + "\n")
            run["three"] = one_topology(work / f"run{i}-three", 3, args.locks, args.gap, losses=True)
            out.write_text(json.dumps(report, indent=1) + "\n")
        report["summary"] = summary(report["runs"])
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        report["load_average_at_end"] = load_average()
        out.write_text(json.dumps(report, indent=1) + "\n")
    say(f"written {out}")
    for key, value in report.get("summary", {}).items():
        say(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
