#!/usr/bin/env bash
# Soak: N back-to-back `wren call` runs to bob (baresip) through the lab's Kamailio (WSS).
#   tests/soak/calls.sh LABDIR [N=200]
# Each run: a 1000 Hz tone out, one second answered, then hangup; it counts as a failure
# unless its JSON result is "completed" with status 200 and media both ways. Every
# SOAK_SAMPLE_EVERY-th run (default 20, and the first) records what Wren received and
# checks it is bob's tone (tone.py). Peak RSS of each process from /usr/bin/time -f %M.
# Afterwards Kamailio must hold no binding for the user and no TCP/TLS/WebSocket connection
# (kamcmd core.tcp_info, ws.dump; ss). Prints a JSON summary; exits 1 on any failure or
# leftover.
# Env: WREN_BIN (default target/debug/wren), SOAK_USER (alice), SOAK_SAMPLE_EVERY (20),
# SOAK_CALL_TIMEOUT seconds per run (30), SOAK_KEEP=1 keeps the scratch directory.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
[[ $# -ge 1 && $# -le 2 ]] || { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
LAB=$(cd "$1" && pwd)
N=${2:-200}
[[ $N =~ ^[0-9]+$ && $N -ge 1 ]] || { echo "N must be a positive number" >&2; exit 2; }
BIN=${WREN_BIN:-$ROOT/target/debug/wren}
USER_NAME=${SOAK_USER:-alice}
SAMPLE_EVERY=${SOAK_SAMPLE_EVERY:-20}
CALL_TIMEOUT=${SOAK_CALL_TIMEOUT:-30}
CTL=$ROOT/tests/lab/ctl.sh
[[ -x $BIN ]] || { echo "no wren CLI at $BIN (cargo build -p wren-cli)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "needs /usr/bin/time (Debian package time)" >&2; exit 2; }

# shellcheck source=/dev/null
. "$LAB/lab.env"
KAMCMD=(kamcmd -s "$WREN_LAB_KAMCMD_SOCK")
WSS_PORT=${WREN_LAB_WSS##*:}
WS_PORT=${WREN_LAB_WS##*:}

SCRATCH=$(mktemp -d /tmp/wren-soak.XXXXXX)
if [[ ${SOAK_KEEP:-0} != 1 ]]; then
  trap 'rm -rf "$SCRATCH"' EXIT
fi
RESULTS=$SCRATCH/results.tsv # n, ok, reason, rss_kb, ms
: >"$RESULTS"

if "$CTL" "$LAB" registered "$USER_NAME"; then
  echo "$USER_NAME is already bound at Kamailio before the soak: is something else using it?" >&2
  exit 1
fi

started=$(date +%s%N)
# Whole-run bound: the per-run timeout times N, plus a margin.
deadline=$(( $(date +%s) + N * (CALL_TIMEOUT + 5) + 60 ))
for ((n = 1; n <= N; n++)); do
  if (( $(date +%s) > deadline )); then
    echo "soak: whole-run deadline passed at call $n" >&2
    printf '%d\t0\tdeadline\t0\t0\n' "$n" >>"$RESULTS"
    break
  fi
  sample=0
  if (( n == 1 || n % SAMPLE_EVERY == 0 )); then sample=1; fi
  rec=$SCRATCH/rec-$n.wav
  args=(call "$BOB_URI" --tone 1000 --duration 1 --ring-timeout 10)
  (( sample )) && args+=(--record "$rec")
  t0=$(date +%s%N)
  set +e
  WREN_SERVER=$WREN_LAB_WSS WREN_USER=$USER_NAME WREN_PASSWORD=$USER_NAME-secret \
    WREN_CA=$WREN_LAB_CA WREN_LOG=warn \
    timeout -k 5 "$CALL_TIMEOUT" /usr/bin/time -f %M -o "$SCRATCH/rss" \
    "$BIN" "${args[@]}" >"$SCRATCH/out" 2>"$SCRATCH/err"
  rc=$?
  set -e
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  rss=$(tail -n 1 "$SCRATCH/rss" 2>/dev/null || true)
  [[ $rss =~ ^[0-9]+$ ]] || rss=0
  reason=$(python3 - "$SCRATCH/out" "$rc" <<'PY'
import json, sys
path, rc = sys.argv[1], int(sys.argv[2])
lines = open(path, errors="replace").read().splitlines()
try:
    j = json.loads(lines[-1])
except Exception:
    print(f"exit {rc}, no JSON result"); sys.exit()
problems = []
if rc != 0: problems.append(f"exit {rc}")
if j.get("result") != "completed": problems.append(f"result {j.get('result')} {j.get('error')}")
if j.get("status") != 200: problems.append(f"status {j.get('status')}")
if min(j.get("rtp_tx", 0), j.get("rtp_rx", 0)) < 30:
    problems.append(f"rtp_tx {j.get('rtp_tx')} rtp_rx {j.get('rtp_rx')}")
print("; ".join(problems))
PY
)
  if [[ -z $reason ]] && (( sample )); then
    if ! tone=$(python3 "$ROOT/tests/lab/tone.py" "$rec" --expect "$BOB_TONE_HZ" --skip 0.2); then
      reason="recording: $tone"
    fi
    rm -f "$rec"
  fi
  if [[ -n $reason ]]; then
    printf '%d\t0\t%s\t%s\t%s\n' "$n" "$reason" "$rss" "$ms" >>"$RESULTS"
    cp "$SCRATCH/err" "$SCRATCH/fail-$n.err"
    echo "soak: call $n failed: $reason" >&2
    sed 's/^/  /' "$SCRATCH/err" | tail -n 20 >&2
  else
    printf '%d\t1\t\t%s\t%s\n' "$n" "$rss" "$ms" >>"$RESULTS"
  fi
  if (( n % 20 == 0 )); then
    echo "soak: $n/$N calls, last peak RSS ${rss} kB, ${ms} ms" >&2
  fi
done
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))

# Leftovers. Kamailio closes a WebSocket connection when the client goes away; give it a
# few seconds (bounded) before calling anything still open stale.
leftover=()
for _ in $(seq 1 50); do
  leftover=()
  if "$CTL" "$LAB" registered "$USER_NAME"; then leftover+=("binding for $USER_NAME"); fi
  tcp=$("${KAMCMD[@]}" core.tcp_info)
  opened=$(awk '/opened_connections:/ {print $2}' <<<"$tcp")
  opened_tls=$(awk '/opened_tls_connections:/ {print $2}' <<<"$tcp")
  (( ${opened:-1} == 0 )) || leftover+=("kamailio opened_connections $opened")
  (( ${opened_tls:-1} == 0 )) || leftover+=("kamailio opened_tls_connections $opened_tls")
  ws=$("${KAMCMD[@]}" ws.dump | awk '/wscounter:/ {print $2}')
  (( ${ws:-1} == 0 )) || leftover+=("kamailio websocket connections $ws")
  socks=$(ss -Htn state all "( sport = :$WSS_PORT or sport = :$WS_PORT )" | grep -vc LISTEN || true)
  (( socks == 0 )) || leftover+=("$socks server-side sockets on :$WSS_PORT/:$WS_PORT")
  bob=$("$CTL" "$LAB" baresip-cmd listcalls || true)
  grep -q 'Active calls (0)' <<<"$bob" || leftover+=("bob in a call: $bob")
  (( ${#leftover[@]} == 0 )) && break
  sleep 0.1
done
if (( ${#leftover[@]} > 0 )); then
  ss -tn state all "( sport = :$WSS_PORT or sport = :$WS_PORT )" >&2 || true
fi

python3 - "$RESULTS" "$N" "$elapsed_ms" "${leftover[@]}" <<'PY'
import json, statistics, sys
path, n, elapsed, leftover = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) / 1000, sys.argv[4:]
rows = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
fails = [{"call": int(r[0]), "reason": r[2]} for r in rows if r[1] != "1"]
rss = [int(r[3]) for r in rows if int(r[3]) > 0]
secs = [int(r[4]) / 1000 for r in rows if int(r[4]) > 0]
summary = {
    "calls": n,
    "ran": len(rows),
    "failures": len(fails) + (n - len(rows)),
    "failed": fails[:20],
    "rss_kb": {"min": min(rss), "median": statistics.median(rss), "max": max(rss),
               "first": rss[0], "last": rss[-1]} if rss else None,
    "call_s": {"min": round(min(secs), 3), "median": round(statistics.median(secs), 3),
               "max": round(max(secs), 3)} if secs else None,
    "seconds": round(elapsed, 1),
    "leftover": leftover,
}
print(json.dumps(summary))
sys.exit(1 if summary["failures"] or leftover else 0)
PY
