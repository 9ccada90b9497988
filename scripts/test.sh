#!/usr/bin/env bash
# Every test: set-up (idempotent), then pytest (unit, integration against real anvil chains and a
# real mosquitto, and the end-to-end devnet round trips) with the static checks (lint, types) and
# the Solidity tests beside it. Extra arguments go to pytest, e.g. `scripts/test.sh -k batching` (or `-n 0`: no workers).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh

# The temporary files go under a short directory of this run's own: under xdist pytest's default
# (/tmp/pytest-of-<user>/pytest-<n>/popen-gw<i>/<test>/...) is ten characters deeper, and the
# path of a member's admin socket (a unix socket) must stay under 108 bytes. Removed when every
# test passed, kept and named when one failed (the devnets' logs are there).
TEST_TMP="$(mktemp -d -t qt.XXXXXX)"
# The background jobs below, each in a session of its own, are stopped with the run however it ends.
STATIC_PID=""
FORGE_PID=""
UNIT_PID=""
stop_background() {
  for pid in $STATIC_PID $FORGE_PID $UNIT_PID; do # each empty once reaped (its PID may be reused)
    kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  done
}
trap stop_background EXIT
trap 'stop_background; exit 130' INT
trap 'stop_background; exit 143' TERM
# Lint, types, the Dockerfile and the alert rules (scripts/static-checks.sh, about 8 s, most of it
# mypy) run in the background too, beside pytest, at the lowest priority; their report follows
# pytest's and a failure fails the run. Run scripts/static-checks.sh alone for a quick check.
echo "== ruff, mypy, hadolint, promtool (in the background; their report follows pytest's)"
setsid -w scripts/lowest-priority scripts/static-checks.sh >"$TEST_TMP/static.log" 2>&1 &
STATIC_PID=$!
# The Solidity tests run in the background while pytest's workers run, their report printed after
# them: the test contracts' compile (solc-js, one core: 43 s alone on a clean clone, 75 to 88 s
# beside the workers) is most of their time, and the workers leave part of the CPU idle. Into
# directories of their own (contracts/out-tests, contracts/cache-tests): forge would otherwise
# rewrite contracts/out while the tests deploy from it (bootstrap.sh builds there what the
# daemon, the devnet and the Python tests deploy). In a session of its own (setsid) so that an
# early exit or a Ctrl-C stops forge and its solc-js with it (a background job of a script
# ignores SIGINT). At the lowest priority (scripts/lowest-priority): the cores are busy through
# the first two minutes of the parallel phase, as every worker starts its devnets, and the
# compile takes the CPU the tests leave, not theirs (it still slows them some: a vCPU is slower
# while the other is busy, docs/BENCHMARKS.md "tenth round").
echo "== forge test (in the background; its report follows pytest's)"
setsid -w scripts/lowest-priority scripts/forge test --out contracts/out-tests \
  --cache-path contracts/cache-tests >"$TEST_TMP/forge.log" 2>&1 &
FORGE_PID=$!
echo "== pytest"
# The project's modules compiled once (seconds): where PYTHONDONTWRITEBYTECODE is set (these
# machines set it) Python reads a bytecode cache but never writes one, so each of the suite's
# ~500 Python processes compiled every module it imports again, 0.26 of a member's 1.36 s start.
# (Not tests/: pytest compiles and rewrites the test modules itself.)
.venv/bin/python -m compileall -q -j 0 relayer committee sentinel harness benchmarks >/dev/null
# Two workers more than the cores (pytest-xdist; QIAO_TEST_WORKERS=N to choose, 0 for none): a
# test spends much of its time waiting on chains and processes. On two cores the parallel phase took
# 19.7 min on two workers and 13.6 on three (2026-12-04); 482 s on three, 411 on four and 382 on
# five, which kept the CPU busy and failed a test (2026-12-05, docs/BENCHMARKS.md "ninth round").
# --dist loadscope keeps a module's tests on one worker, in order, so a module-scoped devnet is
# started once; --no-loadscope-reorder hands the modules out in collection order, which
# tests/conftest.py makes the longest first (by tests/module_seconds.json:
# tests/support/suite_order.py), so the workers finish together. A failure's report names its
# worker.
# Two runs:
# 1. every integration and end-to-end test, on those workers, with the Solidity tests beside them;
# 2. beside them too, the unit tests (no socket; none needs a bound on time: a few start the CLI or
#    sleep a little, and slower only means later) in one process at the lowest priority, in the
#    CPU the workers leave (a quarter of it: docs/BENCHMARKS.md "eleventh round"); their report
#    follows the workers'. In the foreground after them instead when debugging
#    (QIAO_TEST_WORKERS=0, --pdb, --trace) or when the runs would share a file or directory
#    (--lf, --sw, --basetemp: pytest's cache, the temporary files). The unit tests keep their
#    last failures in .pytest_cache/unit (--lf reads it there) and write their JUnit report, with
#    --junitxml=R.xml, to R.unit.xml (R.xml is the workers': benchmarks/suite_cpu.py durations).
# pytest's 5 (nothing collected: a selection given in "$@" names only some of the kinds) counts as
# passed for one run, never for both.
# A selection by marker in "$@" (-m ...) replaces the split: one run, as given.
workers="${QIAO_TEST_WORKERS:-$(($(nproc) + 2))}"
status=0
parallel=0
unit=0
forge=0
static=0
split=1
beside=1
if [ "$workers" = 0 ]; then beside=0; fi
for arg in "$@"; do
  case "$arg" in
    -m | -m*) split=0 ;;
    --pdb | --trace | --lf | --last-failed | --ff | --failed-first | --sw | --stepwise | --basetemp*)
      beside=0
      ;;
  esac
done
forge_report() {
  wait "$FORGE_PID" || forge=$?
  FORGE_PID=""
  echo "== forge test (its report)"
  cat "$TEST_TMP/forge.log"
}
if [ "$split" -eq 0 ]; then
  .venv/bin/pytest -n "$workers" --dist loadscope --no-loadscope-reorder \
    --basetemp "$TEST_TMP/parallel" "$@" || parallel=$?
  forge_report
  unit=5
else
  # their own cache directory: the two runs would otherwise each rewrite pytest's record of the
  # last failures (--lf) at their end, the later one dropping the other's; their own JUnit report
  unit_report() { case "$1" in *.xml) echo "${1%.xml}.unit.xml" ;; *) echo "$1.unit" ;; esac; }
  unit_args=()
  report_next=0
  for arg in "$@"; do
    if [ "$report_next" -eq 1 ]; then
      unit_args+=("$(unit_report "$arg")")
      report_next=0
      continue
    fi
    case "$arg" in
      --junitxml=* | --junit-xml=*) unit_args+=("${arg%%=*}=$(unit_report "${arg#*=}")") ;;
      --junitxml | --junit-xml)
        unit_args+=("$arg")
        report_next=1
        ;;
      *) unit_args+=("$arg") ;;
    esac
  done
  unit_tests=(.venv/bin/pytest -n 0 -m unit -o cache_dir=.pytest_cache/unit
    --basetemp "$TEST_TMP/unit" ${unit_args[@]+"${unit_args[@]}"})
  if [ "$beside" -eq 1 ]; then
    echo "== pytest, the unit tests (in the background; their report follows the workers')"
    setsid -w scripts/lowest-priority "${unit_tests[@]}" >"$TEST_TMP/unit.log" 2>&1 &
    UNIT_PID=$!
  fi
  .venv/bin/pytest -n "$workers" --dist loadscope --no-loadscope-reorder \
    -m "not unit" --basetemp "$TEST_TMP/parallel" "$@" || parallel=$?
  forge_report
  if [ "$beside" -eq 1 ]; then
    wait "$UNIT_PID" || unit=$?
    UNIT_PID=""
    echo "== pytest, the unit tests (their report)"
    cat "$TEST_TMP/unit.log"
  else
    echo "== pytest, the unit tests"
    "${unit_tests[@]}" || unit=$?
  fi
fi
wait "$STATIC_PID" || static=$?
STATIC_PID=""
echo "== ruff, mypy, hadolint, promtool (their report)"
cat "$TEST_TMP/static.log"
trap - EXIT INT TERM
runs=("$parallel" "$unit")
if [ "$parallel" -eq 5 ] && [ "$unit" -eq 5 ]; then
  status=5
else
  for code in "${runs[@]}"; do
    if [ "$code" -ne 0 ] && [ "$code" -ne 5 ]; then
      status=$code
      break
    fi
  done
fi
if [ "$forge" -ne 0 ]; then
  echo "== forge test exited $forge (its report is above)"
  if [ "$status" -eq 0 ]; then status=$forge; fi
fi
if [ "$static" -ne 0 ]; then
  echo "== the static checks exited $static (ruff, mypy, hadolint or promtool: their report is above)"
  if [ "$status" -eq 0 ]; then status=$static; fi
fi
if [ "$status" -eq 0 ]; then
  rm -rf "$TEST_TMP"
else
  echo "== the tests failed (pytest: $parallel, then $unit for the unit tests; forge test: $forge;" \
    "static checks: $static);" \
    "their temporary files (devnet logs, stores) are kept in $TEST_TMP"
fi
exit "$status"
