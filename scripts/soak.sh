#!/usr/bin/env bash
# The chaos soak (issue 7): a bounded randomized session on the local devnet (default 10 minutes:
# thousands of transfers both ways, random member kills, broker restarts and reorgs below
# finality), then the reconciler's verdict and a JSON report. Not part of scripts/test.sh (CI runs
# a short version, tests/e2e/test_soak.py). Options: python -m harness.soak --help
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
exec .venv/bin/python -m harness.soak "$@"
