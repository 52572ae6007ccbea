#!/usr/bin/env bash
# End-to-end test of the real desktop app (tests/e2e/app_test.py) under Xvfb, driven by
# WebKitWebDriver, against the interop lab, with a PulseAudio daemon of its own as the sound
# card and a real secret store (gnome-keyring in a private D-Bus session).
#
# Usage: tests/e2e/run.sh [--metrics]
#   --metrics            run metrics.py (launch-to-registered, RSS, CPU) instead of app_test.py,
#                        in the same setting
#   WREN_LAB_DIR         a running lab to use (else one is started in the work dir and stopped)
#   WREN_DESKTOP_BIN     the app binary to test (else the UI and the app are built here:
#                        npm run build, cargo build --features custom-protocol)
#   WREN_E2E_DIR         work dir (default: a new /tmp/wren-e2e.XXXXXX)
#   WREN_E2E_ARTIFACTS   where screenshots and results.json go (default: WORKDIR/screenshots)
#   WREN_E2E_KEEP=1      keep the work dir even when the test passes
# Everything it starts is stopped by PID on exit. Nothing is skipped: a missing tool fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

say() { printf 'e2e: %s\n' "$*" >&2; }
die() {
  printf 'e2e: ERROR: %s\n' "$*" >&2
  exit 1
}

script=app_test.py
if [[ ${1:-} == --metrics ]]; then
  script=metrics.py
  shift
fi
[[ $# -eq 0 ]] || die "usage: $0 [--metrics]"

for bin in Xvfb WebKitWebDriver dbus-run-session dbus-send gnome-keyring-daemon secret-tool gdbus \
  pulseaudio pactl parec paplay python3 kamcmd; do
  command -v "$bin" >/dev/null 2>&1 || die "$bin not found: run tests/setup.sh"
done

work=${WREN_E2E_DIR:-$(mktemp -d /tmp/wren-e2e.XXXXXX)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
art=${WREN_E2E_ARTIFACTS:-$work/screenshots}
mkdir -p "$art"
art=$(cd "$art" && pwd)
say "work dir $work"

xvfb_pid=
own_lab=
ok=0
cleanup() {
  local rc=$?
  if [[ -n $xvfb_pid ]] && kill -0 "$xvfb_pid" 2>/dev/null; then
    kill "$xvfb_pid" 2>/dev/null || true
  fi
  "$root/tests/lab/pulse-stop.sh" "$work" >/dev/null 2>&1 || true
  rm -rf "${work:?}/bin"
  if [[ -n $own_lab ]]; then
    "$root/tests/lab/stop.sh" "$own_lab" >/dev/null || true
  fi
  say "screenshots and results: $art"
  # A pass keeps only the artifacts; a failure keeps everything (profile, logs, recordings).
  if ((ok)) && [[ ${WREN_E2E_KEEP:-0} != 1 && -z ${WREN_E2E_DIR:-} ]]; then
    if [[ $(dirname "$art") == "$work" ]]; then
      find "$work" -mindepth 1 -maxdepth 1 ! -path "$art" -exec rm -rf {} +
    elif [[ $art != "$work"/* ]]; then
      rm -rf "$work"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT

# ---------------------------------------------------------------- the app
if [[ -n ${WREN_DESKTOP_BIN:-} ]]; then
  app=$WREN_DESKTOP_BIN
else
  say "building the UI and the app (UI embedded)"
  # shellcheck disable=SC1091
  [[ -f $HOME/.cargo/env ]] && . "$HOME/.cargo/env"
  (cd "$root/ui" && { [[ -d node_modules ]] || npm ci --no-audit --no-fund; } && npm run build)
  (cd "$root" && cargo build --locked -p wren-desktop --features custom-protocol)
  app=$root/target/debug/wren-desktop
fi
[[ -x $app ]] || die "app binary $app not found or not executable"
# A copy of our own: a build elsewhere relinking target/debug/wren-desktop while the test
# launches it would make exec fail ("Text file busy").
mkdir -p "$work/bin"
cp "$app" "$work/bin/wren-desktop"
app=$work/bin/wren-desktop

# ---------------------------------------------------------------- the lab
if [[ -n ${WREN_LAB_DIR:-} ]]; then
  lab=$(cd "$WREN_LAB_DIR" && pwd)
  [[ -f $lab/lab.env ]] || die "WREN_LAB_DIR=$lab is not a running lab (no lab.env)"
  say "using the lab in $lab"
else
  own_lab=$work/lab
  "$root/tests/lab/start.sh" "$own_lab"
  lab=$own_lab
fi

# ---------------------------------------------------------------- sound card
# A daemon of our own (another dir than the lab's), so the default source can be the
# microphone without changing what the device tests expect of theirs.
"$root/tests/lab/pulse-start.sh" "$work" >&2
export PULSE_SERVER="unix:$work/pulse/native"
pactl set-default-sink speaker
pactl set-default-source mic
[[ $(pactl get-default-source) == mic ]] || die "could not make 'mic' the default source"
# Like speaker.monitor's (pulse-start.sh), one low-latency reader stays on micfeed.monitor, so
# the microphone never starts with 1-2 s of nothing.
parec --server="$PULSE_SERVER" --latency-msec=10 -d micfeed.monitor >/dev/null 2>&1 &
echo $! >>"$work/pulse/pids"

# ---------------------------------------------------------------- display
rm -f "$work/display"
Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp 3>"$work/display" >"$work/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 100); do
  [[ -s $work/display ]] && break
  kill -0 "$xvfb_pid" 2>/dev/null || break
  sleep 0.1
done
if ! kill -0 "$xvfb_pid" 2>/dev/null || [[ ! -s $work/display ]]; then
  cat "$work/xvfb.log" >&2
  die "Xvfb did not start (log above)"
fi
display=$(head -n1 "$work/display")
export DISPLAY=":$display"
export WREN_E2E_XVFB_PID=$xvfb_pid
say "Xvfb on $DISPLAY (pid $xvfb_pid)"

# ---------------------------------------------------------------- the session: D-Bus, keyring, test
mkdir -p "$work/home" "$work/xdg"
chmod 700 "$work/xdg"
export HOME=$work/home XDG_RUNTIME_DIR=$work/xdg
unset XDG_CONFIG_HOME XDG_DATA_HOME XDG_CACHE_HOME
# A desktop session has the PulseAudio cookie its first client made; make ours the same way.
# Without any cookie the app's native PulseAudio client is refused and it falls back to ALSA.
pactl info >/dev/null
[[ -s $HOME/.config/pulse/cookie ]] || die "pactl made no PulseAudio cookie in $HOME"
set +e
# shellcheck disable=SC2016  # expanded by the inner shell
dbus-run-session -- bash -c '
  set -euo pipefail
  here=$1 app=$2 lab=$3 work=$4 art=$5 script=$6
  # The OS secret store: gnome-keyring with an unlocked login keyring (created on first use).
  printf %s e2e-keyring | gnome-keyring-daemon --foreground --unlock --components=secrets \
    >"$work/keyring.log" 2>&1 &
  keyring=$!
  trap "kill $keyring 2>/dev/null || true" EXIT
  for _ in $(seq 100); do
    dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null |
      grep -q "boolean true" && break
    kill -0 "$keyring" 2>/dev/null || break
    sleep 0.1
  done
  probe=$(printf probe | timeout 10 secret-tool store --label=wren-e2e-probe wren-e2e probe &&
    timeout 10 secret-tool lookup wren-e2e probe) || true
  if [[ $probe != probe ]]; then
    cat "$work/keyring.log" >&2
    echo "e2e: ERROR: the secret store (gnome-keyring) does not store and return a secret" >&2
    exit 1
  fi
  timeout 10 secret-tool clear wren-e2e probe
  if [[ $script == metrics.py ]]; then
    timeout --kill-after=20 600 python3 "$here/metrics.py" --app "$app" --lab "$lab" --workdir "$work"
  else
    timeout --kill-after=20 600 python3 "$here/app_test.py" --app "$app" --lab "$lab" --workdir "$work" \
      --artifacts "$art"
  fi
' e2e "$here" "$app" "$lab" "$work" "$art" "$script"
rc=$?
set -e
((rc == 0)) || die "$script failed (exit $rc); work dir kept: $work"
ok=1
say "passed"
