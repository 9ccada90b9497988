#!/usr/bin/env bash
# Benchmarks on the local devnet (latency, throughput, gas, threshold BLS, DKG, memory): writes
# benchmarks/results/report.json and, unless --quick, docs/BENCHMARKS.md with plots under
# docs/benchmarks/. Not part of scripts/test.sh; takes about ten minutes on an idle machine (--skip-dkg-64 saves
# a few minutes, --quick runs tiny sizes in about a minute). Options: python -m benchmarks.run --help
#
# `bash scripts/bench.sh max-loss [--repeat 3] [--only baseline refill ...]`: the maximum loss a
# colluding committee inflicts before a sentinel's curse lands (benchmarks/max_loss.py; about five
# minutes; writes benchmarks/results/max_loss.json, figures in docs/BENCHMARKS.md "Maximum loss").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
if [[ "${1:-}" == "max-loss" ]]; then
  shift
  exec .venv/bin/python -m benchmarks.max_loss "$@"
fi
exec .venv/bin/python -m benchmarks.run "$@"
