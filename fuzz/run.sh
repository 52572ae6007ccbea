#!/usr/bin/env bash
# Builds and runs every fuzz target for SECONDS each (default 30), seeded from fuzz/seeds/.
# Stable toolchain: cargo-fuzz's nightly flags are allowed through RUSTC_BOOTSTRAP=1.
# Needs `cargo install cargo-fuzz --locked`. Exits non-zero on the first crash; the input is
# left in fuzz/artifacts/TARGET/ (turn it into a test in crates/sip/tests/fuzz_regressions.rs).
set -euo pipefail
seconds="${1:-30}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
export RUSTC_BOOTSTRAP=1
# Share the workspace's target dir; fuzz builds land under its x86_64-unknown-linux-gnu/.
target_dir="${CARGO_TARGET_DIR:-$here/../target}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for target in $(cargo fuzz list); do
    corpus="corpus/$target"
    mkdir -p "$corpus"
    seeds="seeds/$target"
    [ -d "$seeds" ] || seeds="seeds/sip_parse"
    cargo fuzz build --target-dir "$target_dir" "$target"
    echo "== $target: ${seconds}s"
    cargo fuzz run --target-dir "$target_dir" "$target" "$corpus" "$seeds" -- \
        -max_total_time="$seconds" -max_len=65536 -print_final_stats=1
done
