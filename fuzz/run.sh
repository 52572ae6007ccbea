#!/usr/bin/env bash
# Builds every fuzz target once, then runs each for SECONDS (default 20), JOBS at a time
# (WREN_FUZZ_JOBS, default 2: the lab machine has two cores), seeded from seeds/TARGET/
# (seeds/sip_parse/ for a target without). Wall time is the build plus
# ceil(targets / JOBS) x SECONDS: `run.sh 20`, as tests/run.sh calls it, is about 2.5 min
# with a warm target dir (README.md has the measurements).
# Stable toolchain: cargo-fuzz's nightly flags are allowed through RUSTC_BOOTSTRAP=1.
# Needs `cargo install cargo-fuzz --locked`. Exits non-zero if any target crashed; the input
# is left in fuzz/artifacts/TARGET/ and the target's output in fuzz/logs/TARGET.log (turn
# the input into a test in crates/sip/tests/fuzz_regressions.rs or
# crates/media/tests/fuzz_regressions.rs).
set -euo pipefail
seconds="${1:-20}"
jobs="${WREN_FUZZ_JOBS:-2}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
export RUSTC_BOOTSTRAP=1
# Share the workspace's target dir; fuzz builds land under its x86_64-unknown-linux-gnu/.
target_dir="${CARGO_TARGET_DIR:-$here/../target}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo fuzz build --target-dir "$target_dir"
mkdir -p logs
run_one() {
    local target="$1" corpus="corpus/$1" seeds=()
    mkdir -p "$corpus"
    # ua_input has no seeds of its own: SIP messages as bytes give it long op sequences.
    if [ -d "seeds/$target" ]; then seeds=("seeds/$target"); else seeds=(seeds/sip_parse); fi
    if cargo fuzz run --target-dir "$target_dir" "$target" "$corpus" "${seeds[@]}" -- \
        -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 \
        >"logs/$target.log" 2>&1; then
        echo "== $target: ok, $(grep -E '^#[0-9]+.*(DONE|pulse)' "logs/$target.log" | tail -1 | sed 's/^#//')"
    else
        echo "== $target: FAILED (logs/$target.log)"
        grep -E 'panicked|SUMMARY|Test unit written' "logs/$target.log" || tail -20 "logs/$target.log"
        return 1
    fi
}
failed=0
running=0
for target in $(cargo fuzz list); do
    run_one "$target" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done
exit "$failed"
