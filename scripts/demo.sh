#!/usr/bin/env bash
# The local devnet demo: set-up (idempotent), then two anvil chains, a broker, the contracts,
# n = 4 members (t = 3) and a scripted round trip. Options go to harness.devnet
# (e.g. --keep-running, --down 4, --mqtt-port 1883; --chains 3 adds an L2-like third chain and runs the
# round trip on consortium<->ethereum and consortium<->l2 at once); see `scripts/demo.sh --help`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
exec .venv/bin/python -m harness.devnet "$@"
