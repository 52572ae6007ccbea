#!/usr/bin/env bash
# Installs everything the build, the lab and the tests need on Debian 12 (idempotent).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

need=()
for pkg in build-essential pkg-config cmake git ca-certificates curl libasound2-dev \
  pulseaudio pulseaudio-utils libasound2-plugins \
  libwebkit2gtk-4.1-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev librsvg2-dev \
  libayatana-appindicator3-dev libxdo-dev libssl-dev \
  xvfb webkit2gtk-driver dbus dbus-bin libglib2.0-bin gnome-keyring libsecret-tools \
  desktop-file-utils time iproute2; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_=sudo
if [ ${#need[@]} -gt 0 ]; then
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  # Vite 8 and Vitest 4 need Node >= 20.19; Debian 12 ships 18, so take NodeSource's 20
  # (its nodejs package includes npm).
  curl -fsSL https://deb.nodesource.com/setup_20.x | $sudo_ bash -
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq nodejs
fi

if ! command -v cargo >/dev/null 2>&1; then
  # Debian 12's rustc (1.63) is too old for our dependencies: use rustup's stable.
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
# The minimal profile has neither; tests/run.sh needs both (format check, lints).
if command -v rustup >/dev/null 2>&1; then
  rustup component add clippy rustfmt >/dev/null
fi

"$here/lab/install.sh"
