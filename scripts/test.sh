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
# The project's modules compiled once (seconds): where PYTHONDONTWRITEBYTECODE is set (these
# machines set it) Python reads a bytecode cache but never writes one, so each of the suite's
# ~500 Python processes compiled every module it imports again, 0.26 of a member's 1.36 s start.
# (Not tests/: pytest compiles and rewrites the test modules itself.)
.venv/bin/python -m compileall -q -j 0 relayer committee sentinel harness benchmarks >/dev/null
# One worker per core and one more (pytest-xdist; QIAO_TEST_WORKERS=N to choose, 0 for none): a
# test spends much of its time waiting on chains and processes (on two cores the parallel phase
# took 13.6 min on three workers and 19.7 on two, 2026-12-04). --dist loadscope keeps a module's
# tests on one worker, in order, so a module-scoped devnet is started once; --no-loadscope-reorder
# hands the modules out in collection order, which tests/conftest.py makes the longest first (by
# tests/module_seconds.json: tests/support/suite_order.py), so the workers finish together. A
# failure's report names its worker.
# The temporary files go under a short directory of this run's own: under xdist pytest's default
# (/tmp/pytest-of-<user>/pytest-<n>/popen-gw<i>/<test>/...) is ten characters deeper, and the
# path of a member's admin socket (a unix socket) must stay under 108 bytes. Removed when every
# test passed, kept and named when one failed (the devnets' logs are there).
TEST_TMP="$(mktemp -d -t qt.XXXXXX)"
# Every test but those marked `alone` on one worker per core; then those (a key rotation that holds
# a chain's mining while the members race a block) on one worker, with the machine to themselves.
# pytest's 5 (nothing collected: a selection given in "$@" names only one of the two kinds) counts
# as passed for one run, never for both.
# A selection by marker in "$@" (-m ...) replaces the split: one run, as given.
workers="${QIAO_TEST_WORKERS:-$(($(nproc) + 1))}"
status=0
parallel=0
alone=0
split=1
for arg in "$@"; do
  case "$arg" in -m | -m*) split=0 ;; esac
done
if [ "$split" -eq 0 ]; then
  .venv/bin/pytest -n "$workers" --dist loadscope --no-loadscope-reorder \
    --basetemp "$TEST_TMP/parallel" "$@" || parallel=$?
  alone=5
else
  .venv/bin/pytest -n "$workers" --dist loadscope --no-loadscope-reorder \
    -m "not alone" --basetemp "$TEST_TMP/parallel" "$@" || parallel=$?
  if [ "$parallel" -eq 0 ] || [ "$parallel" -eq 5 ]; then
    .venv/bin/pytest -n 0 -m alone --basetemp "$TEST_TMP/alone" "$@" || alone=$?
  fi
fi
if [ "$parallel" -eq 5 ] && [ "$alone" -eq 5 ]; then
  status=5
elif [ "$parallel" -ne 0 ] && [ "$parallel" -ne 5 ]; then
  status=$parallel
elif [ "$alone" -ne 0 ] && [ "$alone" -ne 5 ]; then
  status=$alone
fi
if [ "$status" -eq 0 ]; then
  rm -rf "$TEST_TMP"
else
  echo "== pytest exited $status; its temporary files (devnet logs, stores) are kept in $TEST_TMP"
fi
exit "$status"
