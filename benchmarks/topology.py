"""The committee as a multi-host deployment (harness/netns.py): relayer overhead with WAN latency
between members and brokers, with one broker and with three, and the time from a broker's loss to
the next executed batch.

    bash scripts/bench.sh topology [--runs 3] [--locks 15] [--gap 1.0] [--out benchmarks/results]
    python -m benchmarks.topology ...

Two topologies (every member, broker and chain in its own network namespace, the members reaching
brokers and chains over their own veth links through their delay proxies; n = 4, t = 3, anvil
chains mining a block a second, the batch window, finality depth and poll interval of
benchmarks/run.py): one with a single broker, then one with three independent brokers. Each is
built once, waits for every member's `node_ready` and a warm-up batch, then runs `--runs` rounds
of: `--locks` locks one every `--gap` seconds with no added delay; the same with a one-way delay of
50 ms between every member and every broker (the chains' RPC stays undelayed: the figure is the
brokers'); on the three-broker topology, one broker's loss. The relayer overhead of each lock is
benchmarks/run.py's: from the first sight of the block that makes the lock batchable to the
earliest `batch_submitted` among the members; each round gives its p50 and p99, and the summary
min / median / max of those over the rounds.

A broker's loss: every member's link to one broker (b1, b2, b3 in turn) is taken down (a partition:
no reset, the members notice by their keepalive) and one lock is sent at once; measured from the
cut to the first sight of the block holding its mint on Ethereum (compare with the round's lock ->
mint p50 with every broker up). Healed, and every member back on it, before the next round.

Writes <out>/topology.json: every run's figures and the load average (`os.getloadavg`, the figures
of `uptime`) before and after each phase. Nothing here asserts a limit.
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
    wait_ready,
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


def warm_up(load: Load, locks: int = 2) -> None:
    """A couple of locks executed before anything is timed: the first batch of a fresh committee
    pays for its connections, caches and the relayers' first transactions."""
    before = load.executed()
    load.send(locks)
    devnet.wait_until(lambda: load.executed() >= before + locks, 180, "the warm-up locks minted")


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


def one_topology(work: Path, brokers: int, runs: int, locks: int, gap: float, losses: bool) -> dict[str, Any]:
    """One topology with `brokers` brokers; `runs` rounds of: the latency phase with no delay, the
    same with 50 ms one way between members and brokers, and (with `losses`) one broker's loss
    (b1, b2, ... in turn)."""
    out: dict[str, Any] = {"brokers": brokers, "runs": []}
    say(f"topology with {brokers} broker(s): building (namespaces, chains, brokers, DKG, members)")
    started = time.time()
    with netns.topology(work, n=4, t=3, brokers=brokers, block_time=1.0, node_options=NODE_OPTIONS) as topo:
        wait_ready(topo, {})  # type: ignore[arg-type]  # each member's node_ready: its catch-up scan done
        out["start_seconds"] = round(time.time() - started, 1)
        load = Load(topo)  # type: ignore[arg-type]  # a Devnet for what Load reads: deployment, t
        with HeadClock({"c": topo.chain_url("c"), "e": topo.chain_url("e")}) as clock:
            warm_up(load)
            for i in range(runs):
                run: dict[str, Any] = {}
                out["runs"].append(run)
                run["no_delay"] = latency_phase(topo, load, clock, locks, gap)
                say(f"  {brokers} broker(s), run {i + 1}: {run['no_delay']['relayer_overhead_ms']}")
                topo.set_delay(WAN_DELAY, routes=topo.brokers)
                try:
                    warm_up(load, 1)  # a batch through the slow links before the timed ones
                    run["wan_50ms"] = latency_phase(topo, load, clock, locks, gap)
                finally:
                    topo.set_delay(0.0)
                say(f"  {brokers} broker(s), run {i + 1}, 50 ms: {run['wan_50ms']['relayer_overhead_ms']}")
                if losses:
                    name = topo.brokers[i % len(topo.brokers)]
                    run["broker_loss"] = broker_loss(topo, load, clock, name)
                    lost = run["broker_loss"]["seconds_to_executed"]
                    say(f"  run {i + 1}: {name} lost -> executed in {lost} s")
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


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """min / median / max over the runs of each run's figure."""
    out: dict[str, Any] = {}
    for key in ("one", "three"):
        runs = report.get(key, {}).get("runs", [])
        for phase in ("no_delay", "wan_50ms"):
            for p in ("p50", "p99"):
                vals = [r[phase]["relayer_overhead_ms"].get(p) for r in runs if phase in r]
                out[f"{key}/{phase}/overhead_{p}_ms"] = spread([v for v in vals if v is not None])
            vals = [r[phase]["lock_to_mint_ms"].get("p50") for r in runs if phase in r]
            out[f"{key}/{phase}/lock_to_mint_p50_ms"] = spread([v for v in vals if v is not None])
            las = [a for r in runs if phase in r for pair in r[phase]["load_average"] for a in pair[:1]]
            out[f"{key}/{phase}/load_average_1min"] = spread(las)
    losses = [r["broker_loss"]["seconds_to_executed"] * 1000 for r in report.get("three", {}).get("runs", [])]
    out["three/broker_loss_to_executed_ms"] = spread([x for x in losses])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="benchmarks.topology", description=(__doc__ or "").split("\n")[0])
    ap.add_argument(
        "--runs", type=int, default=3, help="rounds of every measurement on each topology, default 3"
    )
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
        "runs": args.runs,
    }
    out = args.out / "topology.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        report["one"] = one_topology(work / "one", 1, args.runs, args.locks, args.gap, losses=False)
        out.write_text(json.dumps(report, indent=1) + "\n")
        report["three"] = one_topology(work / "three", 3, args.runs, args.locks, args.gap, losses=True)
        report["summary"] = summary(report)
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
