#!/usr/bin/env bash
# The newcomer's demo of the desktop app: set up, start the local lab, build the UI and the app,
# write a ready demo profile (alice at the lab's WSS, the lab's server certificate trusted, the
# password in an owner-only file) and open Wren on your display. Dial bob (he answers and plays
# a 440 Hz tone) or carol (880 Hz). Closing the window (or Ctrl-C here) stops the lab.
#
# Sound: your own PulseAudio/PipeWire when one answers `pactl info`; with none (a headless
# machine), the lab's PulseAudio with null sinks, so calls work but nothing is audible.
# Environment: WREN_DEMO_REGISTER_TIMEOUT (s, default 30) bounds the wait for alice's
# registration; WREN_LOG as for the app (the log is PROFILE/logs/wren.log).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
say() { printf 'app-demo: %s\n' "$*" >&2; }

if [[ -z ${DISPLAY:-} && -z ${WAYLAND_DISPLAY:-} ]]; then
  say "no display (neither DISPLAY nor WAYLAND_DISPLAY is set): the app opens a window, so run"
  say "this from a desktop session. Headless, 'xvfb-run -a $0' starts it on a virtual screen"
  say "(nothing to see, but it registers), and tests/lab/demo.sh places a call with the CLI."
  exit 1
fi

"$root/tests/setup.sh"
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

# The UI first: the app embeds ui/dist when built with custom-protocol.
if [[ ! -d ui/node_modules || ui/package-lock.json -nt ui/node_modules/.package-lock.json ]]; then
  (cd ui && npm ci --no-audit --no-fund)
fi
(cd ui && npm run build)
cargo build --locked -p wren-desktop --features custom-protocol
app_bin="$root/target/debug/wren-desktop"

lab=$(mktemp -d /tmp/wren-lab.XXXXXX)
app=""
pulse=0
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
  if [[ -n $app ]] && kill -0 "$app" 2>/dev/null; then
    kill -TERM "$app" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$app" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$app" 2>/dev/null; then kill -KILL "$app" 2>/dev/null || true; fi
  fi
  if ((pulse)); then "$root/tests/lab/pulse-stop.sh" "$lab" >&2 || true; fi
  "$root/tests/lab/stop.sh" "$lab" >&2 || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$root/tests/lab/start.sh" "$lab"
# shellcheck disable=SC1091
. "$lab/lab.env"

if ! { command -v pactl >/dev/null 2>&1 && pactl info >/dev/null 2>&1; }; then
  say "no PulseAudio/PipeWire server answers: using the lab's (null sinks, nothing audible)"
  pulse=1
  "$root/tests/lab/pulse-start.sh" "$lab" >&2
  export PULSE_SERVER="unix:$lab/pulse/native"
fi

# The demo profile: alice on the lab's WSS (account 1, the default), its server certificate
# pinned by SHA-256 fingerprint, the password in PROFILE/password-1 (mode 0600; the app's
# "file" storage).
profile="$lab/profile"
mkdir -p "$profile"
fingerprint=$(openssl x509 -in "$lab/server.pem" -noout -fingerprint -sha256 | sed 's/^[^=]*=//')
cat >"$profile/settings.json" <<EOF
{
  "version": 2,
  "default_account": "1",
  "next_id": 2,
  "accounts": [
    {
      "id": "1",
      "enabled": true,
      "display_name": "Alice",
      "sip_address": "alice@$WREN_LAB_DOMAIN",
      "auth_user": "",
      "server": "$WREN_LAB_WSS",
      "register_expires": 600,
      "password_storage": "file",
      "trusted_certificate": "$fingerprint"
    }
  ]
}
EOF
(umask 077 && printf '%s' alice-secret >"$profile/password-1")

say "starting Wren as alice ($WREN_LAB_WSS, certificate $fingerprint); profile $profile"
"$app_bin" --profile "$profile" &
app=$!

deadline=$(($(date +%s) + ${WREN_DEMO_REGISTER_TIMEOUT:-30}))
registered=0
while (($(date +%s) < deadline)) && kill -0 "$app" 2>/dev/null; do
  if "$root/tests/lab/ctl.sh" "$lab" registered alice >/dev/null 2>&1; then
    registered=1
    break
  fi
  sleep 0.5
done
if ((registered)); then
  say "alice is registered. Type bob in the dialpad and press Call: bob answers and plays a"
  say "440 Hz tone (carol: 880 Hz). Close Wren's window to stop the lab."
elif kill -0 "$app" 2>/dev/null; then
  say "alice did not register within ${WREN_DEMO_REGISTER_TIMEOUT:-30} s; see $profile/logs/wren.log"
  say "and $lab/kamailio.log. Wren stays open; close it to stop the lab."
fi

status=0
wait "$app" || status=$?
app=""
say "Wren exited (status $status); stopping the lab"
exit "$status"
