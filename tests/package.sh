#!/usr/bin/env bash
# Builds Wren's Debian package with the Tauri CLI (npm's @tauri-apps/cli, a devDependency of
# ui/, prebuilt: no `cargo install`), checks it with tests/check-deb.sh and prints its path as
# the last line.
#
#   tests/package.sh            release build: target/release/bundle/deb/Wren_VERSION_amd64.deb
#   tests/package.sh --debug    debug build (reuses target/debug; what CI does, much cheaper)
#
# The CLI runs from the repository root with TAURI_APP_PATH/TAURI_FRONTEND_PATH set, so it
# finds src-tauri/tauri.conf.json and runs its beforeBuildCommand (the UI build) in ui/
# whatever the caller's directory. Extra arguments after the mode go to cargo (`--locked`
# always does). The bundler rewrites target/PROFILE/wren-desktop in place ("Text file busy"
# if that binary is running, e.g. an e2e test at the same time).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

profile=release
mode=()
if [[ ${1:-} == --debug ]]; then
  profile=debug
  mode=(--debug)
  shift
fi

# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
# The build tools, unless present (tests/setup.sh also checks the lab's ports, and fails while
# a lab runs, as it does when tests/run.sh calls this script).
if ! command -v cargo >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1 ||
  ! pkg-config --exists webkit2gtk-4.1 2>/dev/null; then
  "$root/tests/setup.sh"
  # shellcheck disable=SC1091
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi

# The UI's packages (the CLI among them), unless already installed from this lock file.
if [[ ! -x ui/node_modules/.bin/tauri || ui/package-lock.json -nt ui/node_modules/.package-lock.json ]]; then
  (cd ui && npm ci --no-audit --no-fund)
fi

out="$root/target/$profile/bundle/deb"
rm -f "$out"/*.deb
export TAURI_APP_PATH="$root/src-tauri" TAURI_FRONTEND_PATH="$root/ui"
start=$(date +%s)
# `--features custom-protocol` (on top of the tauri/custom-protocol the CLI adds) gives the same
# feature set as `cargo build -p wren-desktop --features custom-protocol`, so a debug bundle
# reuses the e2e test's build instead of compiling wren-desktop a second way.
ui/node_modules/.bin/tauri build "${mode[@]}" --bundles deb --features custom-protocol --ci -- --locked "$@"
echo "package: tauri build ($profile) took $(($(date +%s) - start)) s" >&2

debs=("$out"/*.deb)
[[ ${#debs[@]} -eq 1 && -f ${debs[0]} ]] || {
  echo "package: expected one .deb in $out, found: ${debs[*]}" >&2
  exit 1
}
# The bundler's staging tree beside the .deb is the package unpacked (about 570 MB in debug).
find "$out" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
"$root/tests/check-deb.sh" "${debs[0]}"
echo "package: $(du -k "${debs[0]}" | cut -f1) KiB" >&2
echo "${debs[0]}"
