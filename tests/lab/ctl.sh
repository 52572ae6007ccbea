#!/usr/bin/env bash
# Small commands for tests against a running lab.
#   ctl.sh RUNDIR baresip-dial URI      dial URI from bob (baresip)
#   ctl.sh RUNDIR baresip-hangup        hang up bob's current call
#   ctl.sh RUNDIR baresip-cmd CMD [ARG] any baresip command; prints the JSON reply
#   ctl.sh RUNDIR linphone CMD...       send a command line to carol (linphonec)
#   ctl.sh RUNDIR registered USER       exit 0 iff USER has a contact in ul.dump
#   ctl.sh RUNDIR ul-dump               print kamcmd ul.dump
#   ctl.sh RUNDIR latest-baresip-rec    newest audio bob received (dump-*-dec.wav)
#   ctl.sh RUNDIR latest-linphone-rec   newest audio carol received (call-NNNN.wav)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$HERE/common.sh"

usage() {
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
[[ $# -ge 2 ]] || usage
RUNDIR=$1
cmd=$2
shift 2

# Send one netstring JSON command to baresip's ctrl_tcp and print the reply
# (the "response":true message; events arriving first are skipped).
baresip_cmd() {
  local command=$1 params=${2:-}
  python3 - "$BOB_CTRL_PORT" "$command" "$params" <<'PY'
import json, socket, sys, time
port, command, params = int(sys.argv[1]), sys.argv[2], sys.argv[3]
msg = json.dumps({"command": command, "params": params, "token": "ctl"}).encode()
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(b"%d:%s," % (len(msg), msg))
buf = b""
deadline = time.time() + 5
while time.time() < deadline:
    while b":" in buf:
        n, rest = buf.split(b":", 1)
        n = int(n)
        if len(rest) < n + 1:
            break
        body, buf = rest[:n], rest[n + 1:]
        obj = json.loads(body)
        if obj.get("response"):
            print(json.dumps(obj))
            sys.exit(0 if obj.get("ok") else 1)
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
sys.exit("baresip: no response")
PY
}

newest() { # newest DIR SUFFIX: newest file DIR/*SUFFIX
  local f best=
  for f in "$1"/*"$2"; do
    [[ -f $f ]] || continue
    if [[ -z $best || $f -nt $best ]]; then
      best=$f
    fi
  done
  if [[ -z $best ]]; then
    echo "no recording in $1" >&2
    return 1
  fi
  printf '%s\n' "$best"
}

case $cmd in
  baresip-dial)
    [[ $# -eq 1 ]] || usage
    baresip_cmd dial "$1"
    ;;
  baresip-hangup)
    baresip_cmd hangup
    ;;
  baresip-cmd)
    [[ $# -ge 1 ]] || usage
    baresip_cmd "$1" "${2:-}"
    ;;
  linphone)
    [[ $# -ge 1 ]] || usage
    [[ -p $RUNDIR/linphone.fifo ]] || { echo "no $RUNDIR/linphone.fifo" >&2; exit 1; }
    # Bounded: opening a FIFO without a reader would block forever.
    # shellcheck disable=SC2016  # expanded by the inner shell
    timeout 5 bash -c 'printf "%s\n" "$1" >"$2"' _ "$*" "$RUNDIR/linphone.fifo"
    ;;
  registered)
    [[ $# -eq 1 ]] || usage
    kamcmd -s "unix:$RUNDIR/kamailio_ctl" ul.dump | grep -qE "AoR: $1\$"
    ;;
  ul-dump)
    kamcmd -s "unix:$RUNDIR/kamailio_ctl" ul.dump
    ;;
  latest-baresip-rec)
    newest "$RUNDIR/baresip-rec" -dec.wav
    ;;
  latest-linphone-rec)
    newest "$RUNDIR/linphone-rec" .wav
    ;;
  *)
    usage
    ;;
esac
