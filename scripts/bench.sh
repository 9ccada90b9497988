#!/usr/bin/env bash
# Benchmarks on the local devnet (latency, throughput, gas, threshold BLS, DKG, memory): writes
# benchmarks/results/report.json and, unless --quick, docs/BENCHMARKS.md with plots under
# docs/benchmarks/. Not part of scripts/test.sh; takes about ten minutes on an idle machine (--skip-dkg-64 saves
# a few minutes, --quick runs tiny sizes in about a minute). Options: python -m benchmarks.run --help
#
# Committee sizes and repetitions: `--members 4 7 16` (latency per size; n = 3f + 1, t = 2f + 1),
# `--drain-members 4 7 16` (a backlog drained per size at the first --max-batches), `--repeat 3`
# (each configuration three times, interleaved: figures as min / median / max, targets on the
# median, the load average of each run). CPU and memory per member are recorded for every run.
#
# `bash scripts/bench.sh max-loss [--repeat 3] [--only baseline refill ...]`: the maximum loss a
# colluding committee inflicts before a sentinel's curse lands (benchmarks/max_loss.py; about five
# minutes; writes benchmarks/results/max_loss.json, figures in docs/BENCHMARKS.md "Maximum loss").
#
# `bash scripts/bench.sh topology [--runs 3] [--locks 15]`: the committee as a multi-host deployment
# in network namespaces (benchmarks/topology.py; needs root and iproute2): relayer overhead with
# 50 ms one way between members and brokers, one broker against three, and the time from a
# broker's loss to the next executed batch (about ten minutes with --runs 3; writes
# benchmarks/results/topology.json, figures in docs/BENCHMARKS.md "Multi-host topology").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
if [[ "${1:-}" == "max-loss" ]]; then
  shift
  exec .venv/bin/python -m benchmarks.max_loss "$@"
fi
if [[ "${1:-}" == "topology" ]]; then
  shift
  exec .venv/bin/python -m benchmarks.topology "$@"
fi
exec .venv/bin/python -m benchmarks.run "$@"
