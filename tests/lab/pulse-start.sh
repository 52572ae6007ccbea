#!/usr/bin/env bash
# Start a PulseAudio daemon for the sound-device tests (no sound card needed; LAB.md "Sound
# without a sound card"): null sinks "speaker" (the default sink) and "micfeed", a source "mic"
# remapped from micfeed.monitor, and speaker.monitor as the default source, so what a test
# plays on the default device it records from the default device. cpal reaches it through
# ALSA's `default` (libasound2-plugins' pulse plugin).
# Usage: pulse-start.sh RUNDIR; then export PULSE_SERVER=unix:RUNDIR/pulse/native.
# pulse-stop.sh RUNDIR stops exactly the processes recorded in RUNDIR/pulse/pids.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 RUNDIR" >&2
  exit 2
fi
for bin in pulseaudio pactl parec; do
  command -v "$bin" >/dev/null 2>&1 || {
    echo "pulse: $bin not found: run tests/setup.sh" >&2
    exit 1
  }
done
mkdir -p "$1/pulse"
DIR=$(cd "$1/pulse" && pwd)
export XDG_RUNTIME_DIR=$DIR PULSE_SERVER=unix:$DIR/native
if pactl info >/dev/null 2>&1; then
  echo "pulse: already running in $DIR" >&2
  exit 1
fi

cat >"$DIR/script.pa" <<PA
load-module module-native-protocol-unix socket=$DIR/native auth-anonymous=1
load-module module-null-sink sink_name=speaker
load-module module-null-sink sink_name=micfeed
load-module module-remap-source source_name=mic master=micfeed.monitor
set-default-sink speaker
set-default-source speaker.monitor
PA

: >"$DIR/pids"
HOME=$DIR pulseaudio --daemonize=no -n -F "$DIR/script.pa" --exit-idle-time=-1 \
  --disable-shm=yes >"$DIR/pulseaudio.log" 2>&1 &
echo $! >>"$DIR/pids"
for _ in $(seq 100); do
  pactl info >/dev/null 2>&1 && break
  sleep 0.1
done
if ! pactl info >/dev/null 2>&1; then
  echo "pulse: daemon did not come up; its log:" >&2
  cat "$DIR/pulseaudio.log" >&2
  exit 1
fi
# A new recorder on a null-sink monitor gets nothing for 1-2 s unless one low-latency reader
# stays attached for the daemon's life.
parec --server="unix:$DIR/native" --latency-msec=10 -d speaker.monitor >/dev/null 2>&1 &
echo $! >>"$DIR/pids"
echo "pulse: running; export PULSE_SERVER=unix:$DIR/native"
