#!/usr/bin/env bash
# End-to-end check of the lab itself (no Wren involved):
# start; bob and carol registered; bob calls carol, tones checked both ways;
# carol calls bob, tones checked both ways; SIP over WS/WSS self-test
# (ws_sip.py); stop; nothing left running, ports free.
# Usage: smoke.sh [RUNDIR]   (default: a new mktemp dir)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$HERE/common.sh"
RUNDIR=${1:-$(mktemp -d /tmp/wren-lab-smoke.XXXXXX)}
CALL_SECONDS=${SMOKE_CALL_SECONDS:-4}

pass=0
fail=0
ok() {
  echo "PASS: $*"
  pass=$((pass + 1))
}
bad() {
  echo "FAIL: $*"
  fail=$((fail + 1))
}
expect() { # expect DESCRIPTION CMD...
  local what=$1
  shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}

cleanup() { "$HERE/stop.sh" "$RUNDIR" >/dev/null 2>&1 || true; }
trap cleanup EXIT

"$HERE/start.sh" "$RUNDIR"
ctl() { "$HERE/ctl.sh" "$RUNDIR" "$@"; }

expect "bob registered" ctl registered bob
expect "carol registered" ctl registered carol

# Wait (bounded) until a new recording appears in DIR (newer than $2 if set).
wait_rec() { # wait_rec latest-X-rec PREVIOUS
  local i f
  for ((i = 0; i < 50; i++)); do
    f=$(ctl "$1" 2>/dev/null || true)
    if [[ -n $f && $f != "${2:-}" ]]; then
      printf '%s\n' "$f"
      return 0
    fi
    sleep 0.1
  done
  return 1
}

echo "== bob (baresip) calls carol (linphonec)"
ctl baresip-dial sip:carol@127.0.0.1 >/dev/null
sleep "$CALL_SECONDS"
ctl baresip-hangup >/dev/null
sleep 0.5
brec=$(wait_rec latest-baresip-rec) || true
lrec=$(wait_rec latest-linphone-rec) || true
expect "bob heard carol's ${CAROL_TONE_HZ} Hz" "$HERE/tone.py" "$brec" --expect "$CAROL_TONE_HZ"
expect "carol heard bob's ${BOB_TONE_HZ} Hz" "$HERE/tone.py" "$lrec" --expect "$BOB_TONE_HZ"

echo "== carol (linphonec) calls bob (baresip)"
ctl linphone call sip:bob@127.0.0.1
sleep "$CALL_SECONDS"
ctl linphone terminate
sleep 0.5
brec2=$(wait_rec latest-baresip-rec "$brec") || true
lrec2=$(wait_rec latest-linphone-rec "$lrec") || true
expect "bob heard carol's ${CAROL_TONE_HZ} Hz (new file)" "$HERE/tone.py" "$brec2" --expect "$CAROL_TONE_HZ"
expect "carol heard bob's ${BOB_TONE_HZ} Hz (new file)" "$HERE/tone.py" "$lrec2" --expect "$BOB_TONE_HZ"

echo "== SIP over WS/WSS"
expect "ws_sip.py selftest" timeout 120 "$HERE/ws_sip.py" selftest "$RUNDIR"

echo "== stop"
mapfile -t pids < <(awk '{print $2}' "$RUNDIR/pids")
"$HERE/stop.sh" "$RUNDIR"
left=()
for pid in "${pids[@]}"; do
  if kill -0 "$pid" 2>/dev/null; then left+=("$pid"); fi
done
if ((${#left[@]} == 0)); then ok "all recorded lab processes gone"; else bad "still running: ${left[*]}"; fi
# Also nothing (e.g. a kamailio child) still running with this lab's files.
strays=$(pgrep -a -f -- "-f $RUNDIR/(kamailio.cfg|baresip)|-c $RUNDIR/linphonerc" || true)
if [[ -z $strays ]]; then ok "no stray lab processes"; else bad "strays: $strays"; fi
if [[ -z $(lab_busy_ports) ]]; then ok "lab ports free"; else bad "ports busy: $(lab_busy_ports)"; fi

echo "$pass passed, $fail failed"
((fail == 0))
