#!/usr/bin/env bash
# Gas report: measures the contracts on a local anvil chain and writes docs/GAS.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
exec .venv/bin/python -m benchmarks.gas_report "$@"
