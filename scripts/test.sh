#!/usr/bin/env bash
# Every test: set-up (idempotent), lint, types, the Solidity tests, then pytest (unit, integration
# against real anvil chains and a real mosquitto, and the end-to-end devnet round trips).
# Extra arguments go to pytest, e.g. `scripts/test.sh -k batching` (or `-n 0`: no workers).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy
echo "== hadolint, promtool"
.venv/bin/hadolint Dockerfile
promtool check rules deploy/prometheus/qiao-alerts.yml
(cd deploy/prometheus && promtool test rules qiao-alerts.test.yml)
echo "== forge test"
scripts/forge test
echo "== pytest"
# One worker per core (pytest-xdist; QIAO_TEST_WORKERS=N to choose, 0 for none): most of a test's
# time is spent waiting on chains and processes. --dist loadscope keeps a module's tests on one
# worker, in order, so a module-scoped devnet is started once. A failure's report names its worker.
.venv/bin/pytest -n "${QIAO_TEST_WORKERS:-auto}" --dist loadscope "$@"
