#!/usr/bin/env bash
# Install the Qiao relayer for production: a Python 3.11 virtual environment AT the prefix
# (default /opt/qiao) with the qiao wheel and its pinned dependencies, so the daemon is
# PREFIX/bin/relayer; the systemd unit rendered for that prefix, the configuration profiles and
# the operator docs under PREFIX/share/qiao. The same layout is used by the systemd unit
# (ExecStart=/opt/qiao/bin/relayer), the Dockerfile (which runs this script) and docs/OPERATIONS.md.
#
#   sudo bash scripts/install.sh [--prefix /opt/qiao] [--wheel dist/qiao-*.whl]
#
# Without --wheel the wheel is built from this source tree. Installing again over an existing
# prefix upgrades the code in place (the state lives in /var/lib/qiao, never under the prefix).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX=/opt/qiao
WHEEL=""

usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

while [ "$#" -gt 0 ]; do
  case "$1" in
    --prefix) [ "$#" -ge 2 ] || die "--prefix needs a directory"; PREFIX="$2"; shift 2 ;;
    --wheel) [ "$#" -ge 2 ] || die "--wheel needs a file"; WHEEL="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1; see --help" ;;
  esac
done
case "$PREFIX" in
  /*) ;;
  *) PREFIX="$(pwd)/$PREFIX" ;;
esac
PREFIX="${PREFIX%/}"

PY=""
for candidate in python3.11 python3 python; do
  if command -v "$candidate" >/dev/null 2>&1 \
    && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    PY="$candidate"; break
  fi
done
[ -n "$PY" ] || die "Python 3.11 is required (Debian: apt-get install python3.11 python3.11-venv)"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
if [ -z "$WHEEL" ]; then
  echo "install.sh: building the wheel from $ROOT"
  mkdir "$WORK/src"  # a copy: the build leaves nothing in the source tree
  cp -r "$ROOT/pyproject.toml" "$ROOT/README.md" "$ROOT/relayer" "$ROOT/committee" "$ROOT/sentinel" "$WORK/src/"
  find "$WORK/src" -name __pycache__ -prune -exec rm -rf {} +
  "$PY" -m pip wheel --quiet --no-deps --wheel-dir "$WORK" "$WORK/src" >/dev/null
  WHEEL="$(ls "$WORK"/qiao-*.whl)"
fi
[ -f "$WHEEL" ] || die "no wheel at $WHEEL"

echo "install.sh: virtual environment $PREFIX"
mkdir -p "$PREFIX"
"$PY" -m venv "$PREFIX"
"$PREFIX/bin/python" -m pip install --quiet --no-compile --upgrade "$WHEEL"
"$PREFIX/bin/relayer" --help >/dev/null
"$PREFIX/bin/qiao-sentinel" --help >/dev/null

SHARE="$PREFIX/share/qiao"
mkdir -p "$SHARE/systemd" "$SHARE/config" "$SHARE/doc"
sed "s#/opt/qiao#$PREFIX#g" "$ROOT/deploy/systemd/qiao-relayer@.service" > "$SHARE/systemd/qiao-relayer@.service"
sed "s#/opt/qiao#$PREFIX#g" "$ROOT/deploy/systemd/qiao-sentinel.service" > "$SHARE/systemd/qiao-sentinel.service"
cp "$ROOT"/config/*.toml "$SHARE/config/"
cp "$ROOT"/docs/OPERATIONS.md "$SHARE/doc/"
rm -rf "$SHARE/doc/runbooks"
cp -r "$ROOT"/deploy/runbooks "$SHARE/doc/runbooks"
chmod -R go-w "$PREFIX"

echo "install.sh: installed $PREFIX/bin/relayer"
echo "install.sh: systemd unit for this prefix: $SHARE/systemd/qiao-relayer@.service"
