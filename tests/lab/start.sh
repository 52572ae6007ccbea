#!/usr/bin/env bash
# Start the Wren interop lab on loopback: Kamailio (UDP/WS/WSS registrar+proxy),
# baresip as bob (UDP, auto-answer, 440 Hz) and linphonec as carol (UDP,
# auto-answer, 880 Hz). Usage: start.sh RUNDIR
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$HERE/common.sh"

if [[ $# -ne 1 ]]; then
  echo "usage: $0 RUNDIR" >&2
  exit 2
fi

T0=$(date +%s.%N)
mkdir -p "$1"
RUNDIR=$(cd "$1" && pwd)

log() { printf 'lab: %s\n' "$*"; }
die() {
  printf 'lab: ERROR: %s\n' "$*" >&2
  exit 1
}

for bin in kamailio kamcmd baresip linphonec sox openssl ss stdbuf; do
  command -v "$bin" >/dev/null 2>&1 || die "$bin not found: run $HERE/install.sh"
done

# A previous lab in this RUNDIR that is still alive?
if [[ -f $RUNDIR/pids ]]; then
  while read -r name pid; do
    if [[ -n ${pid:-} ]] && kill -0 "$pid" 2>/dev/null; then
      die "$name (pid $pid) from a previous lab in $RUNDIR still runs: run $HERE/stop.sh $RUNDIR"
    fi
  done <"$RUNDIR/pids"
fi

# Anything (a previous lab elsewhere?) on our ports?
busy=$(lab_busy_ports)
if [[ -n $busy ]]; then
  printf 'lab: ERROR: lab ports already in use (a previous lab not stopped?):\n%s\n' "$busy" >&2
  exit 1
fi

# Fresh state, keep nothing from an earlier run in this RUNDIR.
rm -rf "$RUNDIR/baresip" "$RUNDIR/linphone-home" "$RUNDIR/baresip-rec" "$RUNDIR/linphone-rec"
rm -f "$RUNDIR"/*.log "$RUNDIR/pids" "$RUNDIR/lab.env" "$RUNDIR/linphone.fifo" "$RUNDIR/linphone-out.fifo" \
  "$RUNDIR/kamailio_ctl" "$RUNDIR/kamailio.pid"
mkdir -p "$RUNDIR/baresip" "$RUNDIR/baresip-rec" "$RUNDIR/linphone-rec" \
  "$RUNDIR/linphone-home/.local/share/linphone" "$RUNDIR/linphone-home/.config/linphone"
: >"$RUNDIR/pids"

STARTED=()
ok=0
on_exit() {
  if ((ok)); then
    return
  fi
  echo "lab: start failed; logs follow" >&2
  local f
  for f in "$RUNDIR"/*.log; do
    [[ -f $f ]] || continue
    echo "----- $f (last 40 lines) -----" >&2
    tail -n 40 "$f" >&2
  done
  "$HERE/stop.sh" "$RUNDIR" >&2 || true
}
trap on_exit EXIT

record_pid() {
  printf '%s %s\n' "$1" "$2" >>"$RUNDIR/pids"
  STARTED+=("$2")
}

# ---------------------------------------------------------------- TLS material
make_ca() { # make_ca NAME CN
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$RUNDIR/$1-key.pem" -out "$RUNDIR/$1.pem" -days 30 -subj "/CN=$2" \
    -config "$RUNDIR/openssl-ca.cnf" -extensions v3_ca 2>>"$RUNDIR/openssl.log"
}
cat >"$RUNDIR/openssl-ca.cnf" <<'EOF'
[req]
distinguished_name = dn
[dn]
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
make_ca ca "Wren Lab CA"
make_ca other-ca "Wren Lab Other (untrusted) CA"
{
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$RUNDIR/server-key.pem" -out "$RUNDIR/server.csr" -subj "/CN=localhost" \
    -config "$RUNDIR/openssl-ca.cnf"
  openssl x509 -req -in "$RUNDIR/server.csr" -CA "$RUNDIR/ca.pem" -CAkey "$RUNDIR/ca-key.pem" \
    -set_serial "0x$(openssl rand -hex 8)" -days 30 -out "$RUNDIR/server.pem" \
    -extfile "$RUNDIR/openssl-ca.cnf" -extensions v3_server
  openssl verify -CAfile "$RUNDIR/ca.pem" "$RUNDIR/server.pem"
} >>"$RUNDIR/openssl.log" 2>&1

# ---------------------------------------------------------------- tones
# bob (baresip aufile): 48 kHz mono S16, 440 Hz, -12 dBFS, 300 s.
sox -n -r 48000 -c 1 -b 16 -e signed-integer "$RUNDIR/bob-tone.wav" \
  synth "$TONE_SECONDS" sine "$BOB_TONE_HZ" gain -12 &
sox_bob=$!
# carol (linphone file player): 16 kHz mono S16, 880 Hz, -12 dBFS, 300 s.
sox -n -r 16000 -c 1 -b 16 -e signed-integer "$RUNDIR/carol-tone.wav" \
  synth "$TONE_SECONDS" sine "$CAROL_TONE_HZ" gain -12 &
sox_carol=$!

# ---------------------------------------------------------------- kamailio
sed "s|@RUNDIR@|$RUNDIR|g" "$HERE/kamailio.cfg" >"$RUNDIR/kamailio.cfg"
cat >"$RUNDIR/kamailio-tls.cfg" <<EOF
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = $RUNDIR/server-key.pem
certificate = $RUNDIR/server.pem

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
EOF
kamailio -c -f "$RUNDIR/kamailio.cfg" >"$RUNDIR/kamailio-check.log" 2>&1 ||
  die "kamailio config check failed (see $RUNDIR/kamailio-check.log)"
kamailio -DD -E -m 64 -M 8 -f "$RUNDIR/kamailio.cfg" -P "$RUNDIR/kamailio.pid" \
  -Y "$RUNDIR" </dev/null >"$RUNDIR/kamailio.log" 2>&1 &
record_pid kamailio $!

# ---------------------------------------------------------------- baresip (bob)
wait "$sox_bob" || die "sox failed to make bob's tone"
cat >"$RUNDIR/baresip/config" <<EOF
poll_method		epoll
sip_listen		127.0.0.1:$BOB_SIP_PORT
call_local_timeout	120
call_max_calls		4
audio_player		alsa,null
audio_alert		alsa,null
audio_source		aufile,$RUNDIR/bob-tone.wav
ausrc_srate		48000
ausrc_channels		1
auplay_srate		48000
auplay_channels		1
audio_level		no
rtp_tos			0
rtp_ports		$BOB_RTP_PORTS
rtp_timeout		0
jitter_buffer_delay	5-10
net_interface		127.0.0.1
dns_server		127.0.0.1:53
module_path		/usr/lib/baresip/modules
module			opus.so
module			g711.so
module			aufile.so
module			alsa.so
module			sndfile.so
module_tmp		uuid.so
module_tmp		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:$BOB_CTRL_PORT
snd_path		$RUNDIR/baresip-rec
opus_bitrate		64000
opus_stereo		no
opus_sprop_stereo	no
statmode_default	off
EOF
cat >"$RUNDIR/baresip/accounts" <<EOF
<sip:bob@127.0.0.1>;auth_user=bob;auth_pass=bob-secret;outbound="sip:127.0.0.1:$KAM_UDP_PORT;transport=udp";answermode=auto;regint=600;ptime=20
EOF
: >"$RUNDIR/baresip/contacts"

# Kamailio binds in ~0.15 s; let it, so the first REGISTERs are not lost.
wait_kamailio_bound() {
  local i
  for ((i = 0; i < 100; i++)); do
    if ss -Hlnu "( sport = :$KAM_UDP_PORT )" | grep -q . &&
      ss -Hlnt "( sport = :$KAM_WSS_PORT )" | grep -q .; then
      return 0
    fi
    kill -0 "${STARTED[0]}" 2>/dev/null || die "kamailio exited"
    sleep 0.05
  done
  die "kamailio did not bind its sockets within 5 s"
}
wait_kamailio_bound

baresip -f "$RUNDIR/baresip" </dev/null >"$RUNDIR/baresip.log" 2>&1 &
record_pid baresip $!

# ---------------------------------------------------------------- linphonec (carol)
wait "$sox_carol" || die "sox failed to make carol's tone"
cat >"$RUNDIR/linphonerc" <<EOF
[sip]
sip_port=$CAROL_SIP_PORT
sip_tcp_port=0
sip_tls_port=0
bind_address=127.0.0.1
use_ipv6=0
guess_hostname=0
default_proxy=0
register_only_when_network_is_up=0
auto_net_state_mon=0
inc_timeout=60
in_call_timeout=0
delayed_timeout=4
ping_with_options=0

[net]
firewall_policy=0
nat_policy_ref=
stun_server=

[rtp]
audio_rtp_port=$CAROL_RTP_PORTS
video_rtp_port=$CAROL_VIDEO_RTP_PORTS
nortp_timeout=0
audio_jitt_comp=60

[sound]
echocancellation=0
play_file=$RUNDIR/carol-tone.wav
rec_file=$RUNDIR/linphone-rec/call-0001.wav
local_ring=
remote_ring=
ringback_tone=

[video]
enabled=0
capture=0
display=0
automatically_initiate=0
automatically_accept=0

[misc]
version_check_url_root=
log_collection_upload_server_url=
file_transfer_server_url=
conference_factory_uri=
enable_lime=0
max_calls=4

[proxy_0]
reg_proxy=<sip:127.0.0.1:$KAM_UDP_PORT;transport=udp>
reg_route=<sip:127.0.0.1:$KAM_UDP_PORT;transport=udp;lr>
reg_identity=sip:carol@127.0.0.1
reg_expires=600
reg_sendregister=1
publish=0
dial_escape_plus=0
quality_reporting_enabled=0
avpf=0

[auth_info_0]
username=carol
userid=carol
passwd=carol-secret
realm=wren.lab
domain=127.0.0.1

[audio_codec_0]
mime=opus
rate=48000
channels=2
enabled=1

[audio_codec_1]
mime=PCMU
rate=8000
channels=1
enabled=1

[audio_codec_2]
mime=PCMA
rate=8000
channels=1
enabled=1

[audio_codec_3]
mime=speex
rate=16000
channels=1
enabled=0

[audio_codec_4]
mime=speex
rate=8000
channels=1
enabled=0

[audio_codec_5]
mime=speex
rate=32000
channels=1
enabled=0

[audio_codec_6]
mime=G729
rate=8000
channels=1
enabled=0

[audio_codec_7]
mime=SILK
rate=16000
channels=1
enabled=0

[audio_codec_8]
mime=GSM
rate=8000
channels=1
enabled=0

[audio_codec_9]
mime=G722
rate=8000
channels=1
enabled=0
EOF
mkfifo "$RUNDIR/linphone.fifo" "$RUNDIR/linphone-out.fifo"
# Per-call recording: linphone records every call into its one rec_file; a
# small reader of linphonec's stdout copies it to linphone.log and, after each
# call ends, points rec_file at the next call-NNNN.wav. It exits with linphonec.
# (Its command line names RUNDIR, so stop.sh can tell it is ours.)
# shellcheck disable=SC2016  # expanded by the inner shell
bash -c '
  rundir=$1
  n=1
  while IFS= read -r line; do
    printf "%s\n" "$line" >>"$rundir/linphone.log"
    case $line in
      "Call "*" ended"* | "Call "*" error"*)
        n=$((n + 1))
        printf "record %s/linphone-rec/call-%04d.wav\n" "$rundir" "$n" >"$rundir/linphone.fifo"
        ;;
    esac
  done <"$rundir/linphone-out.fifo"
' wren-lab-linphone-reader "$RUNDIR" >/dev/null 2>&1 &
record_pid linphone-reader $!
# stdin opened read-write: linphonec itself keeps a writer, so it never sees EOF.
HOME="$RUNDIR/linphone-home" stdbuf -oL -eL \
  linphonec -c "$RUNDIR/linphonerc" -a -d 4 -l "$RUNDIR/linphone-debug.log" \
  <>"$RUNDIR/linphone.fifo" >"$RUNDIR/linphone-out.fifo" 2>&1 &
record_pid linphonec $!

lphone() { printf '%s\n' "$*" >"$RUNDIR/linphone.fifo"; }
lphone "soundcard use files"
lphone "play $RUNDIR/carol-tone.wav"
lphone "record $RUNDIR/linphone-rec/call-0001.wav"

# ---------------------------------------------------------------- readiness
ready=0
deadline=$(($(date +%s) + START_TIMEOUT))
while (($(date +%s) < deadline)); do
  for name in kamailio baresip linphonec; do
    pid=$(awk -v n="$name" '$1 == n {print $2}' "$RUNDIR/pids")
    kill -0 "$pid" 2>/dev/null || die "$name (pid $pid) exited during start"
  done
  dump=$(kamcmd -s "unix:$RUNDIR/kamailio_ctl" ul.dump 2>/dev/null || true)
  if grep -q 'AoR: bob' <<<"$dump" && grep -q 'AoR: carol' <<<"$dump" &&
    port_open "$KAM_WS_PORT" && port_open "$KAM_WSS_PORT" && port_open "$BOB_CTRL_PORT"; then
    ready=1
    break
  fi
  sleep 0.1
done
((ready)) || die "lab not ready within ${START_TIMEOUT}s (bob and carol registered, WS/WSS/ctrl ports open)"

cat >"$RUNDIR/lab.env" <<EOF
WREN_LAB_RUNDIR=$RUNDIR
WREN_LAB_DOMAIN=127.0.0.1
WREN_LAB_REALM=wren.lab
WREN_LAB_UDP=127.0.0.1:$KAM_UDP_PORT
WREN_LAB_WS=ws://127.0.0.1:$KAM_WS_PORT
WREN_LAB_WSS=wss://127.0.0.1:$KAM_WSS_PORT
WREN_LAB_CA=$RUNDIR/ca.pem
WREN_LAB_OTHER_CA=$RUNDIR/other-ca.pem
WREN_LAB_KAMCMD_SOCK=unix:$RUNDIR/kamailio_ctl
WREN_LAB_USERS=alice,bob,carol,dave,erin
WREN_LAB_FREE_USERS=alice,dave,erin
BOB_URI=sip:bob@127.0.0.1
BARESIP_SIP=127.0.0.1:$BOB_SIP_PORT
BOB_TONE_HZ=$BOB_TONE_HZ
BARESIP_CTRL=127.0.0.1:$BOB_CTRL_PORT
BARESIP_REC_DIR=$RUNDIR/baresip-rec
CAROL_URI=sip:carol@127.0.0.1
CAROL_TONE_HZ=$CAROL_TONE_HZ
LINPHONE_FIFO=$RUNDIR/linphone.fifo
LINPHONE_REC_DIR=$RUNDIR/linphone-rec
EOF

ok=1
T1=$(date +%s.%N)
log "ready in $(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.2f", b - a }') s; env in $RUNDIR/lab.env"
