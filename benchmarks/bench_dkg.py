"""Wall time and message counts of the DKG over a real mosquitto, for n = 4, 16, 64.

    python benchmarks/bench_dkg.py [--sizes 4 16 64] [--out benchmarks/results/dkg.json]

All n members run in this one process (one MQTT connection each, the arkworks backend), so the
wall time is the whole committee's work done on this machine's cores, one member after another:
a real committee, one member per machine, works in parallel and is faster. Per size the report
gives the wall time from start to the last member's result, the messages published (deal,
complaint, confirmation per member) and delivered (every member receives every message), the
largest message, and the CPU time of this process. Targets: n = 16 within 15 s, n = 64 within 3 min.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from committee.dkg import DkgMachine, DkgResult, SessionConfig, Timeouts, default_threshold
from committee.dkg_runner import run_machines
from committee.identity import Identity
from harness import devnet

DEFAULT_OUT = Path("benchmarks/results/dkg.json")
TARGETS = {16: 15.0, 64: 180.0}


async def one_run(n: int, port: int) -> dict[str, Any]:
    identities = [Identity.generate(f"member-{i}") for i in range(1, n + 1)]
    names = tuple(i.name for i in identities)
    config = SessionConfig(
        kind="dkg",
        nonce=os.urandom(16),
        threshold=default_threshold(n),
        key_epoch=1,
        identities={i.name: i.public for i in identities},
        receivers=names,
        dealers={k + 1: name for k, name in enumerate(names)},
    )
    patient = Timeouts(deal=600, complaint=600, justification=600, confirm=600)
    machines = [DkgMachine(config, i, timeouts=patient) for i in identities]
    largest = 0
    for m in machines[:1]:
        largest = len(DkgMachine(config, m.identity, timeouts=patient).start(0.0)[0].data)
    cpu = time.process_time()
    start = time.perf_counter()
    results = await run_machines(machines, host="127.0.0.1", port=port, network=f"bench-{n}-{os.getpid()}")
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    ok = [r for r in results if isinstance(r, DkgResult)]
    if len(ok) != n or len({r.public for r in ok}) != 1:
        raise SystemExit(f"n = {n}: the DKG did not finish consistently: {results}")
    sent = sum(m.stats.sent for m in machines)
    received = sum(m.stats.received for m in machines)
    return {
        "n": n,
        "t": config.threshold,
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "messages_published": sent,
        "messages_delivered": received,
        "largest_message_bytes": largest,
        "target_seconds": TARGETS.get(n),
        "within_target": None if n not in TARGETS else wall <= TARGETS[n],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    procs = devnet.Processes()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            port = devnet.start_mosquitto(procs, Path(tmp))
            for n in args.sizes:
                row = asyncio.run(one_run(n, port))
                rows.append(row)
                print(
                    f"n={row['n']:3d} t={row['t']:3d}  wall {row['wall_seconds']:7.2f} s"
                    f"  cpu {row['cpu_seconds']:7.2f} s"
                    f"  published {row['messages_published']:4d}  delivered {row['messages_delivered']:6d}"
                    f"  largest {row['largest_message_bytes']:6d} B"
                    + ("" if row["target_seconds"] is None else f"  target {row['target_seconds']:.0f} s"),
                    flush=True,
                )
    finally:
        procs.stop_all()
    report = {
        "benchmark": "dkg",
        "backend": "arkworks",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"report written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
