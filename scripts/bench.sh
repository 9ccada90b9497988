#!/usr/bin/env bash
# Benchmarks on the local devnet (latency, throughput, gas, threshold BLS, DKG, memory): writes
# benchmarks/results/report.json and, unless --quick, docs/BENCHMARKS.md with plots under
# docs/benchmarks/. Not part of scripts/test.sh; takes about ten minutes on an idle machine (--skip-dkg-64 saves
# a few minutes, --quick runs tiny sizes in about a minute). Options: python -m benchmarks.run --help
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
exec .venv/bin/python -m benchmarks.run "$@"
