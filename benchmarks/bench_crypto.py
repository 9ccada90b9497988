"""Timings of the committee's BLS work per backend: partial sign, partial verify, combine.

    python benchmarks/bench_crypto.py [--out benchmarks/results/crypto.json]
        [--backends arkworks py-ecc] [--thresholds 3 11 21] [--repeat 20] [--reference-repeat 1]

Committees are n = 3f + 1 with t = 2f + 1 (t = 3, 11, 21 gives n = 4, 16, 31). Each operation is
timed `repeat` times (`reference-repeat` for py-ecc, which is slow) and reported as median and
minimum milliseconds, on stdout and as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from committee.bls import get_backend
from committee.threshold import (
    KeyShare,
    combine,
    deal,
    partial_sign,
    verify,
    verify_partial,
)

DEFAULT_OUT = Path("benchmarks/results/crypto.json")


def measure(operation: Callable[[], object], repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        operation()
        samples.append((time.perf_counter() - start) * 1000)
    return {"median_ms": statistics.median(samples), "min_ms": min(samples)}


def bench_backend(
    name: str, shares: list[KeyShare], message: bytes, times: int
) -> dict[str, dict[str, float]]:
    backend = get_backend(name)
    public = shares[0].public
    partials = {int(s.index): partial_sign(s, message, backend) for s in shares[: public.threshold]}
    signature = combine(public, partials, backend)
    assert verify(public.group_public_key, message, signature, backend)
    return {
        "partial_sign": measure(lambda: partial_sign(shares[0], message, backend), times),
        "partial_verify": measure(lambda: verify_partial(public, 1, message, partials[1], backend), times),
        "combine": measure(lambda: combine(public, partials, backend), times),
    }


def run(
    backends: Sequence[str], thresholds: Sequence[int], repeat: int, reference_repeat: int
) -> list[dict[str, Any]]:
    message = hashlib.sha256(b"qiao benchmark batch").digest()
    results: list[dict[str, Any]] = []
    for t in thresholds:
        n = max(3 * ((t - 1) // 2) + 1, t)
        shares = deal(n, t)
        for name in backends:
            times = reference_repeat if name == "py-ecc" else repeat
            for operation, timing in bench_backend(name, shares, message, times).items():
                row = {"backend": name, "t": t, "n": n, "operation": operation, "repeat": times}
                results.append(row | timing)
                print(
                    f"{name:9} t={t:<3} n={n:<3} {operation:15}"
                    f" median {timing['median_ms']:9.3f} ms   min {timing['min_ms']:9.3f} ms",
                    flush=True,
                )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON report ({DEFAULT_OUT})")
    parser.add_argument("--backends", nargs="+", default=["arkworks", "py-ecc"])
    parser.add_argument("--thresholds", nargs="+", type=int, default=[3, 11, 21])
    parser.add_argument("--repeat", type=int, default=20, help="runs per arkworks operation")
    parser.add_argument("--reference-repeat", type=int, default=1, help="runs per py-ecc operation")
    args = parser.parse_args(argv)
    results = run(args.backends, args.thresholds, args.repeat, args.reference_repeat)
    report = {
        "benchmark": "committee-crypto",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"report written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
