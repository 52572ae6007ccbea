#!/usr/bin/env bash
# Idempotent install of everything the interop lab needs (Debian 12, run as root).
set -euo pipefail

PKGS=(
  kamailio kamailio-websocket-modules kamailio-tls-modules
  baresip baresip-core linphone-cli
  sox openssl python3 iproute2 procps coreutils
)
# Ports the lab binds; nothing may listen there after install.
LAB_PORTS=(15060 15070 15071 15080 18080 18443)

if [[ ${EUID} -ne 0 ]]; then
  echo "install.sh: must run as root" >&2
  exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "install.sh: installing: ${missing[*]}"
  # Keep maintainer scripts from starting services (kamailio's unit would grab 5060).
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=1
  fi
  cleanup() { if ((created_policy)); then rm -f "$policy"; fi; }
  trap cleanup EXIT
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
  fi
  cleanup
  trap - EXIT
else
  echo "install.sh: all packages present"
fi

# Never let a systemd kamailio run (it cannot usually start here anyway).
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
  systemctl disable --now kamailio >/dev/null 2>&1 || true
fi

busy=0
for port in "${LAB_PORTS[@]}"; do
  if ss -Hltun "( sport = :${port} )" | grep -q .; then
    echo "install.sh: WARNING: something listens on lab port ${port}:" >&2
    ss -ltunp "( sport = :${port} )" >&2 || true
    busy=1
  fi
done
if ((busy)); then
  exit 1
fi
echo "install.sh: ok"
