#!/usr/bin/env bash
# Entry point of `make bench`: install what is missing, build, run, write bench/RESULTS.md.
#
#   bash bench/run.sh            full run (3 repetitions of everything, ~12-15 min on 2 cores)
#   bash bench/run.sh --quick    smoke run (~3 min), writes bench/RESULTS.quick.md instead
#   extra arguments go to bench/bench.py (see `python3 bench/bench.py --help`)
#
# Installs, only when missing: wrk and fio (Debian packages, apt-get), Azurite (npm, pinned,
# into bench/.azurite, gitignored). Builds Lazuli (cargo build --release -p lazuli) and the
# ceiling server in bench/ceiling (its own Cargo project). Honours CARGO_TARGET_DIR.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
AZURITE_VERSION="3.37.0"
AZURITE_DIR="$ROOT/bench/.azurite"
AZURITE_BIN="$AZURITE_DIR/node_modules/.bin/azurite-blob"

say() { printf '== %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

apt_install() {
    # apt-get update only if the plain install fails (stale or empty package lists)
    $SUDO apt-get install -y "$@" || { $SUDO apt-get update && $SUDO apt-get install -y "$@"; }
}

# 1. tools from Debian
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v fio >/dev/null 2>&1 || missing+=(fio)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]} with apt-get"
    apt_install "${missing[@]}"
fi

# 2. Azurite, pinned, into bench/.azurite
installed=""
if [ -f "$AZURITE_DIR/node_modules/azurite/package.json" ]; then
    installed="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$AZURITE_DIR/node_modules/azurite/package.json" | head -1)"
fi
if [ ! -x "$AZURITE_BIN" ] || [ "$installed" != "$AZURITE_VERSION" ]; then
    say "installing azurite@$AZURITE_VERSION into bench/.azurite"
    mkdir -p "$AZURITE_DIR"
    npm install --prefix "$AZURITE_DIR" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION"
fi

# 3. builds (release)
say "cargo build --release -p lazuli"
cargo build --release -p lazuli
LAZULI_TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
say "cargo build --release (bench/ceiling)"
(cd bench/ceiling && cargo build --release)
CEILING_TARGET="${CARGO_TARGET_DIR:-$ROOT/bench/ceiling/target}"

# 4. run
extra=()
for a in "$@"; do
    if [ "$a" = "--quick" ]; then
        extra+=(--out "$ROOT/bench/RESULTS.quick.md" --json "$ROOT/bench/results.quick.json")
    fi
done
exec python3 "$ROOT/bench/bench.py" \
    --lazuli "$LAZULI_TARGET/release/lazuli" \
    --ceiling "$CEILING_TARGET/release/lazuli-bench-ceiling" \
    --azurite "$AZURITE_BIN" \
    "${extra[@]}" "$@"
