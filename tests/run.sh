#!/usr/bin/env bash
# The whole test suite: lint, unit, RFC vectors, simulated-time scenarios, interop against the
# real lab (Kamailio, baresip, linphonec), fuzzing for a bounded time. Fails on the first error.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/tests/setup.sh"
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

# Each step says how far into the run it starts (where the 50 minutes go).
step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*" >&2; }

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Documents our crates only (11 s on 2 cores). Reuses clippy's dependency builds except tokio and
# its dependents: without the dev-dependencies' `test-util` they're checked once more (27 s, once).
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
# Pinned like our dependencies (bump on purpose: deny.toml's format follows cargo-deny). Built
# once per machine: 5 min for cargo-deny, 3 min for cargo-machete on 2 cores.
tool() { "$1" --version 2>/dev/null | grep -qwF "$2" || cargo install --locked "$1@$2"; }
tool cargo-deny 0.20.2
tool cargo-machete 0.9.2
# Licences, banned and duplicate crates, sources (deny.toml). Not `advisories`: its database
# is fetched from GitHub, which the build machine can't reach. The inclusion graphs of the
# duplicate warnings run to thousands of lines; `cargo tree -i CRATE@VERSION` shows one.
cargo deny --locked check --hide-inclusion-graph licenses bans sources
# Unused dependencies, by a text search of the sources (fuzz/ included); a false positive goes
# in `[package.metadata.cargo-machete] ignored`, with the reason.
cargo machete

step "sip and media use no async runtime"
for crate in wren-sip wren-media; do
  if cargo tree --locked -p "$crate" -e normal --prefix none | grep -E '^(tokio|async-std|smol|futures-executor) '; then
    echo "$crate depends on an async runtime" >&2
    exit 1
  fi
done

step "UI: types generated from Rust are fresh, type check, component tests, build"
(cd "$root/ui" && npm ci --no-audit --no-fund && npm run check && npm test && npm run build \
  && ./gen-bindings.sh --check)

step "build the wren CLI and the desktop app (UI embedded)"
# One build for both: the CLI's dependencies are a subset of the app's, so this is the app's
# own feature set, which the e2e test and the package step then reuse instead of compiling
# tokio, rustls and tauri a third way (a separate CLI build cost 2m47s).
cargo build --locked -p wren-cli -p wren-desktop --features wren-desktop/custom-protocol
export WREN_BIN="$root/target/debug/wren"
# A copy: nothing later relinks it under the e2e test.
mkdir -p "$root/target/ci"
cp "$root/target/debug/wren-desktop" "$root/target/ci/wren-desktop"

step "start the lab"
lab=$(mktemp -d /tmp/wren-lab.XXXXXX)
trap '"$root/tests/lab/pulse-stop.sh" "$lab" || true; "$root/tests/lab/stop.sh" "$lab" || true' EXIT
"$root/tests/lab/start.sh" "$lab"
export WREN_LAB_DIR="$lab"

step "start PulseAudio with null sinks (the sound card for device tests)"
"$root/tests/lab/pulse-start.sh" "$lab"
export PULSE_SERVER="unix:$lab/pulse/native"

step "unit, vector, scenario and interop tests"
cargo test --workspace --locked

step "soak, short: 10 back-to-back CLI calls (tests/soak/README.md has the 200-call runs)"
"$root/tests/soak/calls.sh" "$lab" 10

step "desktop app end to end (Xvfb, WebKitWebDriver, the lab, PulseAudio, gnome-keyring)"
WREN_DESKTOP_BIN="$root/target/ci/wren-desktop" \
  WREN_E2E_ARTIFACTS="${WREN_E2E_ARTIFACTS:-$root/target/e2e-artifacts}" "$root/tests/e2e/run.sh"

step "Debian package: tauri build --debug, then its control file and desktop entry"
"$root/tests/package.sh" --debug

step "fuzz briefly"
# 11 targets, two at a time: 12 s each keeps the step (with a cold build) near 4 minutes.
"$root/fuzz/run.sh" "${WREN_FUZZ_SECONDS:-12}"

step "all tests passed"
