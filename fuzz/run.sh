#!/usr/bin/env bash
# Builds every fuzz target and runs each for N seconds (first argument, default 5).
# Exits 1 if a target crashes, panics, leaks past the RSS limit or hangs on one
# input for more than 10 s (the input that did it is left in fuzz/artifacts/<target>/), and 2
# if the targets do not build.
#
#   fuzz/run.sh          5 s per target (the short run of `make test`)
#   fuzz/run.sh 600      10 minutes per target (`make fuzz`)
#   FUZZ_TARGETS="xml sas" fuzz/run.sh 60     only these targets
#
# Stable Rust only: `cargo fuzz` runs with `-s none` (no sanitizer; every target is safe Rust,
# `unsafe_code` is denied workspace-wide, so ASan would find nothing the Rust checks do not).
# Overflow checks and debug assertions are on in fuzz/Cargo.toml's release profile.
# CARGO_TARGET_DIR is honoured when set.

set -euo pipefail

seconds="${1:-5}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: installing cargo-fuzz from crates.io" >&2
    cargo install --locked cargo-fuzz
fi

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"

# One build for every target; the runs below execute the binaries it made, so that a source
# change during the runs cannot turn into a rebuild (or a build failure reported as a crash).
if ! cargo fuzz build -s none; then
    echo "fuzz/run.sh: the fuzz targets do not build" >&2
    exit 2
fi
triple="$(rustc -vV | sed -n 's/^host: //p')"
bin_dir="${CARGO_TARGET_DIR:-$here/target}/$triple/release"

status=0
summary=""
for target in $targets; do
    mkdir -p "corpus/$target" "artifacts/$target"
    dirs=("corpus/$target")
    if [ -d "seeds/$target" ]; then
        dirs+=("seeds/$target")
    fi
    args=(-max_total_time="$seconds" -timeout=10 -print_final_stats=1 -artifact_prefix="artifacts/$target/")
    if [ -f "dict/$target.dict" ]; then
        args+=(-dict="dict/$target.dict")
    fi
    log="$(mktemp)"
    echo "== fuzz $target for ${seconds}s"
    if "$bin_dir/$target" "${args[@]}" "${dirs[@]}" >"$log" 2>&1; then
        runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
        rate="$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
        summary+="$(printf '%-12s ok      %12s runs  %8s exec/s' "$target" "$runs" "$rate")"$'\n'
    else
        status=1
        summary+="$(printf '%-12s FAILED  input in fuzz/artifacts/%s/; reproduce: cargo fuzz run -s none %s <input>' "$target" "$target" "$target")"$'\n'
        # The panic message and backtrace.
        grep -v -E '^(#[0-9]+|INFO:|WARNING:|MERGE|\s*$)' "$log" | tail -60
    fi
    rm -f "$log"
done

# The `request` target keeps its server's data under the temporary directory (statics are never
# dropped); nothing else uses that directory.
rm -rf "${TMPDIR:-/tmp}/lazuli-fuzz-request"

printf '\n%s' "$summary"
exit "$status"
