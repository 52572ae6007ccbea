#!/usr/bin/env bash
# Stop exactly the processes start.sh recorded in RUNDIR/pids.
# Usage: stop.sh RUNDIR
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$HERE/common.sh"

if [[ $# -ne 1 ]]; then
  echo "usage: $0 RUNDIR" >&2
  exit 2
fi
RUNDIR=$(cd "$1" 2>/dev/null && pwd) || {
  echo "lab: no such directory $1: nothing to stop"
  exit 0
}
PIDS_FILE=$RUNDIR/pids
if [[ ! -f $PIDS_FILE ]]; then
  echo "lab: no $PIDS_FILE: nothing to stop"
  exit 0
fi

alive() { kill -0 "$1" 2>/dev/null; }

# Ours iff its command line names this RUNDIR (guards against PID reuse
# when a lab died long ago).
ours() {
  local cmd
  cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *"$RUNDIR/"* || $cmd == *" $RUNDIR "* || $cmd == *" $RUNDIR" ]]
}

# Wait up to $2 tenths of a second for pid $1 to go away.
wait_gone() {
  local i
  for ((i = 0; i < $2; i++)); do
    alive "$1" || return 0
    sleep 0.1
  done
  ! alive "$1"
}

names=()
pids=()
while read -r name pid; do
  [[ -n ${pid:-} && $pid =~ ^[0-9]+$ ]] || continue
  if alive "$pid" && ! ours "$pid"; then
    echo "lab: pid $pid ($name) is no longer ours: left alone" >&2
    continue
  fi
  names+=("$name")
  pids+=("$pid")
done <"$PIDS_FILE"

# SIGTERM everything at once (the lab has no state worth an orderly
# shutdown); clients first so their un-REGISTER can still reach Kamailio.
for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
  if alive "${pids[i]}"; then
    kill -TERM "${pids[i]}" 2>/dev/null || true
  fi
done

# Up to 5 s for all to exit; baresip 1.0.0 needs a second SIGTERM to exit
# with a call pending: send it after 1 s.
for ((t = 0; t < 50; t++)); do
  left=0
  for ((i = 0; i < ${#pids[@]}; i++)); do
    if alive "${pids[i]}"; then
      left=1
      if ((t == 10)) && [[ ${names[i]} == baresip ]]; then
        kill -TERM "${pids[i]}" 2>/dev/null || true
      fi
    fi
  done
  ((left)) || break
  sleep 0.1
done

for ((i = 0; i < ${#pids[@]}; i++)); do
  if alive "${pids[i]}"; then
    echo "lab: ${names[i]} (pid ${pids[i]}) ignored SIGTERM; sending SIGKILL" >&2
    kill -KILL "${pids[i]}" 2>/dev/null || true
    wait_gone "${pids[i]}" 20 || echo "lab: ${names[i]} (pid ${pids[i]}) still alive after SIGKILL" >&2
  fi
done

# Kamailio's children exit with their parent: wait (bounded) for the lab's
# ports to be released so a new lab can start right away.
for ((i = 0; i < 50; i++)); do
  [[ -z $(lab_busy_ports) ]] && break
  sleep 0.1
done
busy=$(lab_busy_ports)
rm -f "$RUNDIR/kamailio.pid"
mv "$PIDS_FILE" "$PIDS_FILE.stopped"
if [[ -n $busy ]]; then
  printf 'lab: WARNING: lab ports still in use after stop:\n%s\n' "$busy" >&2
  exit 1
fi
echo "lab: stopped"
