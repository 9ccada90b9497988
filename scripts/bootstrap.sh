#!/usr/bin/env bash
# Idempotent set-up of everything Qiao needs on a fresh Debian machine:
#   - mosquitto, nats-server, prometheus (promtool), systemd (systemd-analyze), openssl and faketime
#     from Debian's packages (each if missing),
#   - the npm toolchain (anvil, forge, solc-js, OpenZeppelin) from package-lock.json,
#   - a Python virtual environment in .venv with the pinned packages (and the harness on its path),
#   - the contracts compiled by forge (offline, through tools/solc; the Solidity tests by `forge test`).
# Safe to run again: each step is skipped when its result is already up to date.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '[bootstrap] %s\n' "$*" >&2; }

need_python() {
  for py in python3.11 python3; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      echo "$py"; return 0
    fi
  done
  log "Python 3.11 is required (found: $(python3 --version 2>&1 || echo none)); install python3.11 and retry"
  exit 1
}

# 1. Debian packages, each only if missing: mosquitto (the broker; tests and the devnet start
#    their own instances), nats-server (the clustered broker through its MQTT listener:
#    deploy/nats/, tests/integration/test_transport_clusters.py), prometheus (promtool and a real server for the alert tests), systemd
#    (systemd-analyze verify on the units), openssl (to inspect the broker's certificates) and
#    faketime (libfaketime: the clock-skew fault test runs a member with its clock off) and iproute2
#    (`ip netns`: the multi-host topology, harness/netns.py, tests/e2e/test_topology.py).
APT_MISSING=()
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then APT_MISSING+=(mosquitto); fi
if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then APT_MISSING+=(nats-server); fi
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then APT_MISSING+=(prometheus); fi
if ! command -v systemd-analyze >/dev/null 2>&1; then APT_MISSING+=(systemd); fi
if ! command -v openssl >/dev/null 2>&1; then APT_MISSING+=(openssl); fi
if ! compgen -G "/usr/lib/*/faketime/libfaketime.so.1" >/dev/null; then APT_MISSING+=(faketime); fi
if ! command -v ip >/dev/null 2>&1 && [ ! -x /usr/sbin/ip ]; then APT_MISSING+=(iproute2); fi
if [ "${#APT_MISSING[@]}" -gt 0 ]; then
  log "installing Debian packages: ${APT_MISSING[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${APT_MISSING[@]}" >/dev/null
fi

# 2. npm toolchain, reinstalled only when package-lock.json changed, then
# 3. the contracts, compiled by forge (it skips what is up to date); both in the background while
#    step 4 sets up Python (a clean clone: npm ci 3 s, the compile 8 s, Python about 20 s). Every
#    contract but the Solidity tests (`--skip test` leaves out the *.t.sol files; their helpers in
#    contracts/test/lib are compiled, they are small): contracts/src, all that the daemon, the
#    devnet and the Python tests deploy, through solc-js. The tests (43 s more) are compiled by
#    `scripts/forge test`, which scripts/test.sh runs beside pytest.
if ! command -v npm >/dev/null 2>&1; then
  log "Node.js 20 with npm is required; install it (Debian: apt-get install nodejs npm) and retry"
  exit 1
fi
npm_and_contracts() {
  local lock_stamp="node_modules/.qiao-lock.sha256" lock_sum
  lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)" ||
    { log "package-lock.json is missing or unreadable; restore it from git"; return 1; }
  if [ ! -f "$lock_stamp" ] || [ "$(cat "$lock_stamp")" != "$lock_sum" ]; then
    log "installing npm packages (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error || { log "npm ci failed (its errors are above)"; return 1; }
    echo "$lock_sum" >"$lock_stamp"
  fi
  # The foundry packages ship their binaries inside the package; make sure they are executable.
  chmod +x node_modules/@foundry-rs/*-linux-*/bin/* 2>/dev/null || true
  log "compiling contracts (forge build without the Solidity tests, offline)"
  "$ROOT/scripts/forge" build --quiet --skip test --skip script ||
    { log "forge build failed (its errors are above); fix the contracts"; return 1; }
}
# In a session of its own (setsid), so that a failed step below, or a Ctrl-C, stops npm and forge
# with it: the trap signals the whole session.
export ROOT
export -f log npm_and_contracts
setsid -w bash -c 'set -euo pipefail; npm_and_contracts' &
FORGE_PID=$!
trap 'kill -- -"$FORGE_PID" 2>/dev/null || true' EXIT

# 4. Python virtual environment, reinstalled only when pyproject.toml changed
PY="$(need_python)"
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PY" -m venv .venv
fi
PY_STAMP=".venv/.qiao-pyproject.sha256"
PY_SUM="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$PY_STAMP" ] || [ "$(cat "$PY_STAMP")" != "$PY_SUM" ]; then
  log "installing Python packages into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
  echo "$PY_SUM" > "$PY_STAMP"
fi
# The development harness (harness/: devnet, soak) is not in the wheel; this venv finds it from any
# directory (`python -m harness.devnet`), as it finds the editable relayer.
PURELIB="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$ROOT" > "$PURELIB/qiao-harness.pth"

# 5. the npm packages and contracts of steps 2 and 3
status=0
wait "$FORGE_PID" || status=$?
trap - EXIT
if [ "$status" -ne 0 ]; then
  log "the npm packages or the contracts could not be set up (above); run scripts/bootstrap.sh again"
  exit 1
fi
log "ready"
