#!/usr/bin/env bash
# Stop exactly the processes pulse-start.sh recorded in RUNDIR/pulse/pids.
# Usage: pulse-stop.sh RUNDIR
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 RUNDIR" >&2
  exit 2
fi
PIDS_FILE=$1/pulse/pids
if [[ ! -f $PIDS_FILE ]]; then
  echo "pulse: no $PIDS_FILE: nothing to stop"
  exit 0
fi
DIR=$(cd "$1/pulse" && pwd)

alive() { kill -0 "$1" 2>/dev/null; }
# Ours iff its command line names this directory (guards against PID reuse).
ours() {
  local cmd
  cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *"$DIR"* ]]
}

mapfile -t pids <"$PIDS_FILE"
for pid in "${pids[@]}"; do
  if alive "$pid" && ours "$pid"; then kill "$pid"; fi
done
for pid in "${pids[@]}"; do
  for _ in $(seq 50); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid" && ours "$pid"; then kill -9 "$pid"; fi
done
rm -f "$PIDS_FILE"
echo "pulse: stopped"
