#!/usr/bin/env bash
# The checks that read the code without running it: ruff (lint and format), mypy (types),
# hadolint (the Dockerfile) and promtool (the alert rules and their tests). Seconds, after
# scripts/bootstrap.sh; scripts/test.sh runs it beside pytest and prints its report after pytest's.
# Every check runs; the exit status is the first failing one's (0 when all pass).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
status=0
check() {
  echo "== $1"
  shift
  "$@" || { code=$?; if [ "$status" -eq 0 ]; then status=$code; fi; }
}
check "ruff check" .venv/bin/ruff check .
check "ruff format --check" .venv/bin/ruff format --check .
check mypy .venv/bin/mypy
check hadolint .venv/bin/hadolint Dockerfile
check "promtool check rules" promtool check rules deploy/prometheus/qiao-alerts.yml
check "promtool test rules" bash -c 'cd deploy/prometheus && promtool test rules qiao-alerts.test.yml'
exit "$status"
