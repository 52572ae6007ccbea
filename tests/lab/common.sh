# Shared constants and helpers for the Wren interop lab (sourced, not run).
# shellcheck shell=bash disable=SC2034  # constants are used by the sourcing scripts

# Fixed loopback ports.
KAM_UDP_PORT=15060
KAM_WS_PORT=18080
KAM_WSS_PORT=18443
# baresip 1.0.0 always adds SIP/TCP on sip_listen's port and SIP/TLS on port+1
# (no setting turns them off), so bob's SIP port is 15072 (TLS 15073): with
# sip_listen 15070 its TLS listener would take ctrl_tcp's 15071.
BOB_SIP_PORT=15072
BOB_SIP_TLS_PORT=15073
BOB_CTRL_PORT=15071
BOB_RTP_PORTS=20000-20099
CAROL_SIP_PORT=15080
CAROL_RTP_PORTS=20100-20199
CAROL_VIDEO_RTP_PORTS=20200-20299
# TCP and UDP ports that must be free before start and after stop.
LAB_TCP_PORTS=("$KAM_WS_PORT" "$KAM_WSS_PORT" "$BOB_CTRL_PORT" "$BOB_SIP_PORT" "$BOB_SIP_TLS_PORT")
LAB_UDP_PORTS=("$KAM_UDP_PORT" "$BOB_SIP_PORT" "$CAROL_SIP_PORT")

BOB_TONE_HZ=440
CAROL_TONE_HZ=880
TONE_SECONDS=300
START_TIMEOUT=${WREN_LAB_START_TIMEOUT:-20}

# Print "proto port" listeners on any lab port (empty output: all free).
lab_busy_ports() {
  local p
  for p in "${LAB_UDP_PORTS[@]}"; do
    ss -Hlnup "( sport = :$p )" | sed "s/^/udp $p: /"
  done
  for p in "${LAB_TCP_PORTS[@]}"; do
    ss -Hlntp "( sport = :$p )" | sed "s/^/tcp $p: /"
  done
}

# True if a TCP connect to 127.0.0.1:PORT succeeds.
port_open() {
  timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}
