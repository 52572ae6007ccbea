#!/usr/bin/env bash
# Installs everything the build, the lab and the tests need on Debian 12 (idempotent).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

need=()
for pkg in build-essential pkg-config cmake git ca-certificates curl; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_=sudo
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  # Debian 12's rustc (1.63) is too old for our dependencies: use rustup's stable.
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi

"$here/lab/install.sh"
