#!/usr/bin/env bash
# The CLI demo: set up, start the lab, and place a real call with `wren`: alice (over WSS,
# through Kamailio) calls bob (baresip), sends a 1 kHz tone, records bob's 440 Hz tone, and
# prints the result. Needs no display or sound card; the desktop app's demo is app-demo.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
"$root/tests/setup.sh"
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo build --locked --release -p wren-cli
lab=$(mktemp -d /tmp/wren-lab.XXXXXX)
trap '"$root/tests/lab/stop.sh" "$lab" || true' EXIT
"$root/tests/lab/start.sh" "$lab"
# shellcheck disable=SC1091
. "$lab/lab.env"
rec="$lab/demo-received.wav"
echo "alice calls bob for ${WREN_DEMO_SECONDS:-5} s; bob's audio goes to $rec" >&2
WREN_PASSWORD=alice-secret "$root/target/release/wren" \
  --server "$WREN_LAB_WSS" --user alice --ca "$WREN_LAB_CA" \
  call sip:bob@127.0.0.1 --tone 1000 --record "$rec" --duration "${WREN_DEMO_SECONDS:-5}"
