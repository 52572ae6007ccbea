#!/usr/bin/env python3
"""Minimal SIP-over-WebSocket client (standard library only) and lab self-test.

usage:
  ws_sip.py register-challenge RUNDIR   WSS REGISTER for alice must get 401
                                        (realm wren.lab, qop auth), subprotocol
                                        "sip", cert verified against ca.pem
  ws_sip.py selftest RUNDIR             the above plus: untrusted CA refused,
                                        WS/WSS registration with digest,
                                        WS->UDP call (407, tone both ways,
                                        BYE), UDP->WS call (BYE from baresip),
                                        WS->WSS call with CANCEL, then call +
                                        BYE, 404 and 480 answers

Reads RUNDIR/lab.env. Talks only to 127.0.0.1. Every wait is bounded.
"""
import base64
import hashlib
import json
import math
import os
import random
import re
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PASSWORDS = {u: u + "-secret" for u in ("alice", "bob", "carol", "dave", "erin")}
DOMAIN = "127.0.0.1"


def load_env(rundir):
    env = {}
    with open(os.path.join(rundir, "lab.env")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


def rand_hex(n=8):
    return "".join(random.choice("0123456789abcdef") for _ in range(n))


# ------------------------------------------------------------------ WebSocket
class WebSocket:
    def __init__(self, url, cafile=None, timeout=5.0):
        m = re.match(r"^(wss?)://([^:/]+):(\d+)(/.*)?$", url)
        if not m:
            raise ValueError("bad url " + url)
        scheme, host, port, path = m.group(1), m.group(2), int(m.group(3)), m.group(4) or "/"
        raw = socket.create_connection((host, port), timeout=timeout)
        if scheme == "wss":
            ctx = ssl.create_default_context(cafile=cafile)
            self.sock = ctx.wrap_socket(raw, server_hostname=host)
            self.peer_cert = self.sock.getpeercert()
        else:
            self.sock = raw
            self.peer_cert = None
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n"
               "Origin: http://%s\r\n\r\n") % (path, host, port, key, host)
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during handshake")
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        if " 101 " not in lines[0] + " ":
            raise ConnectionError("handshake failed: " + lines[0])
        want = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        if self.headers.get("sec-websocket-accept") != want:
            raise ConnectionError("bad Sec-WebSocket-Accept")
        self.subprotocol = self.headers.get("sec-websocket-protocol")

    def _send_frame(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            hdr = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            hdr = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(hdr + mask + masked)

    def send_text(self, text):
        self._send_frame(0x1, text.encode())

    def _read(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("websocket read timed out")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError("websocket read timed out")
            if not chunk:
                raise ConnectionError("websocket closed by peer")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_text(self, timeout):
        deadline = time.time() + timeout
        message = b""
        while True:
            b1, b2 = self._read(2, deadline)
            opcode, n = b1 & 0x0F, b2 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2, deadline))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8, deadline))[0]
            if b2 & 0x80:
                mask = self._read(4, deadline)
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(self._read(n, deadline)))
            else:
                data = self._read(n, deadline)
            if opcode == 0x9:  # ping
                self._send_frame(0xA, data)
                continue
            if opcode == 0xA:
                continue
            if opcode == 0x8:
                raise ConnectionError("websocket close frame")
            message += data
            if b1 & 0x80:
                return message.decode("utf-8", "replace")

    def close(self):
        try:
            self._send_frame(0x8, struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()


# ------------------------------------------------------------------ SIP
class Msg:
    def __init__(self, text):
        head, _, self.body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        self.first = lines[0]
        self.hdrs = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.hdrs.append((k.strip(), v.strip()))
        parts = self.first.split(" ", 2)
        if parts[0] == "SIP/2.0":
            self.status, self.method, self.ruri = int(parts[1]), None, None
        else:
            self.status, self.method, self.ruri = None, parts[0], parts[1]
        self.text = text

    def all(self, name):
        short = {"via": "v", "from": "f", "to": "t", "call-id": "i", "contact": "m",
                 "cseq": None, "record-route": None}.get(name.lower())
        out = []
        for k, v in self.hdrs:
            if k.lower() == name.lower() or (short and k.lower() == short):
                out.append(v)
        return out

    def get(self, name):
        v = self.all(name)
        return v[0] if v else None

    def cseq(self):
        num, meth = self.get("CSeq").split()
        return int(num), meth

    def uri_list(self, name):
        """Name-addr values of a header that may be repeated and comma-joined."""
        out = []
        for v in self.all(name):
            out += re.findall(r"<[^>]*>[^,]*", v)
        return [x.strip() for x in out]

    def contact_uri(self):
        c = self.get("Contact")
        m = re.search(r"<([^>]*)>", c)
        return m.group(1) if m else c.split(";")[0]


def digest(user, realm, method, uri, nonce, qop, nc="00000001"):
    cnonce = rand_hex(16)
    ha1 = hashlib.md5(("%s:%s:%s" % (user, realm, PASSWORDS[user])).encode()).hexdigest()
    ha2 = hashlib.md5(("%s:%s" % (method, uri)).encode()).hexdigest()
    if qop:
        resp = hashlib.md5(("%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2)).encode()).hexdigest()
        return ('Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
                'algorithm=MD5, qop=auth, nc=%s, cnonce="%s"') % (
                    user, realm, nonce, uri, resp, nc, cnonce)
    resp = hashlib.md5(("%s:%s:%s" % (ha1, nonce, ha2)).encode()).hexdigest()
    return 'Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s"' % (
        user, realm, nonce, uri, resp)


def parse_challenge(value):
    return dict(re.findall(r'(\w+)="?([^",]*)"?', value.split(" ", 1)[1]))


class Phone:
    """One SIP UA on one WebSocket connection."""

    def __init__(self, user, url, cafile, transport):
        self.user = user
        self.ws = WebSocket(url, cafile)
        self.transport = transport  # "WS" or "WSS" (Via)
        self.host = rand_hex(10) + ".invalid"
        self.contact = "<sip:%s@%s;transport=ws>" % (user, self.host)
        self.instance = "<urn:uuid:%s-%s-4%s-a%s-%s>" % (
            rand_hex(8), rand_hex(4), rand_hex(3), rand_hex(3), rand_hex(12))
        self.cseq = random.randint(1, 5000)
        self.pending = []

    def via(self, branch=None):
        return "SIP/2.0/%s %s;branch=%s" % (
            self.transport, self.host, branch or "z9hG4bK" + rand_hex(16))

    def send(self, text):
        self.ws.send_text(text)

    def recv(self, timeout=5.0, pred=None):
        """Next message matching pred (others are queued), bounded by timeout."""
        for i, m in enumerate(self.pending):
            if pred is None or pred(m):
                return self.pending.pop(i)
        deadline = time.time() + timeout
        while True:
            m = Msg(self.ws.recv_text(max(0.01, deadline - time.time())))
            if m.method and m.method not in ("ACK", "INVITE", "BYE", "CANCEL", "OPTIONS"):
                self.reply(m, 200, "OK")
                continue
            if m.method == "OPTIONS":
                self.reply(m, 200, "OK")
                continue
            if pred is None or pred(m):
                return m
            self.pending.append(m)

    def response_to(self, call_id, method, timeout=5.0, final=True):
        def pred(m):
            return (m.status is not None and m.get("Call-ID") == call_id
                    and m.cseq()[1] == method and (not final or m.status >= 200))
        return self.recv(timeout, pred)

    def request(self, method, call_id, timeout=5.0):
        return self.recv(timeout, lambda m: m.method == method and m.get("Call-ID") == call_id)

    def any_request(self, method, timeout=5.0):
        return self.recv(timeout, lambda m: m.method == method)

    def build(self, method, ruri, from_, to, call_id, cseq, via, extra=(), body="", routes=()):
        lines = ["%s %s SIP/2.0" % (method, ruri), "Via: " + via, "Max-Forwards: 70",
                 "From: " + from_, "To: " + to, "Call-ID: " + call_id,
                 "CSeq: %d %s" % (cseq, method)]
        lines += ["Route: " + r for r in routes]
        lines += list(extra)
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append("Content-Length: %d" % len(body.encode()))
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def reply(self, req, code, reason, to_tag=None, body="", contact=False):
        lines = ["SIP/2.0 %d %s" % (code, reason)]
        lines += ["Via: " + v for v in req.all("Via")]
        lines.append("From: " + req.get("From"))
        to = req.get("To")
        if to_tag and "tag=" not in to:
            to += ";tag=" + to_tag
        lines.append("To: " + to)
        lines.append("Call-ID: " + req.get("Call-ID"))
        lines.append("CSeq: " + req.get("CSeq"))
        if req.method == "INVITE" and 100 < code < 300:
            lines += ["Record-Route: " + r for r in req.uri_list("Record-Route")]
        if contact:
            lines.append("Contact: " + self.contact)
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append("Content-Length: %d" % len(body.encode()))
        self.send("\r\n".join(lines) + "\r\n\r\n" + body)

    # -- REGISTER
    def register(self, expires=300, auth=True):
        call_id = rand_hex(20)
        ftag = rand_hex(8)
        aor = "sip:%s@%s" % (self.user, DOMAIN)
        auth_hdr = None
        for _ in range(2):
            self.cseq += 1
            extra = ["Contact: %s;+sip.instance=\"%s\";reg-id=1;expires=%d" % (
                self.contact, self.instance, expires), "Expires: %d" % expires,
                "Supported: path, outbound, gruu", "User-Agent: wren-lab-ws_sip"]
            if auth_hdr:
                extra.append("Authorization: " + auth_hdr)
            self.send(self.build("REGISTER", "sip:" + DOMAIN, "<%s>;tag=%s" % (aor, ftag),
                                 "<%s>" % aor, call_id, self.cseq, self.via(), extra))
            resp = self.response_to(call_id, "REGISTER")
            if resp.status == 401 and auth and not auth_hdr:
                ch = parse_challenge(resp.get("WWW-Authenticate"))
                auth_hdr = digest(self.user, ch["realm"], "REGISTER", "sip:" + DOMAIN,
                                  ch["nonce"], ch.get("qop"))
                continue
            return resp
        return resp


class Dialog:
    def __init__(self, phone, call_id, local, remote, target, routes, cseq):
        self.phone, self.call_id, self.local, self.remote = phone, call_id, local, remote
        self.target, self.routes, self.cseq = target, routes, cseq

    def send(self, method, extra=(), body=""):
        self.cseq += 1
        self.phone.send(self.phone.build(method, self.target, self.local, self.remote, self.call_id,
                                         self.cseq, self.phone.via(), extra, body, self.routes))

    def ack(self, invite_cseq):
        self.phone.send(self.phone.build("ACK", self.target, self.local, self.remote, self.call_id,
                                         invite_cseq, self.phone.via(), (), "", self.routes))


# ------------------------------------------------------------------ RTP
def ulaw(sample):
    BIAS, CLIP = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    if sample < 0:
        sample = -sample
    sample = min(sample, CLIP) + BIAS
    exp, mask = 7, 0x4000
    while exp > 0 and not sample & mask:
        exp -= 1
        mask >>= 1
    mant = (sample >> (exp + 3)) & 0x0F
    return ~(sign | (exp << 4) | mant) & 0xFF


class RtpPeer:
    """Sends a PCMU tone to the remote RTP address and counts what arrives."""

    def __init__(self, hz=1000.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.hz, self.received, self.stop = hz, 0, threading.Event()
        self.remote = None

    def sdp(self):
        return ("v=0\r\no=- %d 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
                % (random.randint(1, 1 << 30), self.port))

    def start(self, remote_sdp):
        ip = re.search(r"c=IN IP4 (\S+)", remote_sdp).group(1)
        port = int(re.search(r"m=audio (\d+)", remote_sdp).group(1))
        if ip != "127.0.0.1":
            raise RuntimeError("remote media not on loopback: " + ip)
        self.remote = (ip, port)
        threading.Thread(target=self._tx, daemon=True).start()
        threading.Thread(target=self._rx, daemon=True).start()

    def _tx(self):
        seq, ts, ssrc, n = random.randint(0, 65535), random.randint(0, 1 << 31), random.getrandbits(32), 0
        t0 = time.time()
        amp = 0.25 * 32767
        for frame in range(1500):  # at most 30 s
            if self.stop.is_set():
                return
            payload = bytes(ulaw(int(amp * math.sin(2 * math.pi * self.hz * (n + i) / 8000)))
                            for i in range(160))
            n += 160
            hdr = struct.pack("!BBHII", 0x80, 0, (seq + frame) & 0xFFFF, (ts + n) & 0xFFFFFFFF, ssrc)
            self.sock.sendto(hdr + payload, self.remote)
            delay = t0 + (frame + 1) * 0.02 - time.time()
            if delay > 0:
                time.sleep(delay)

    def _rx(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                data, _ = self.sock.recvfrom(2048)
                if len(data) > 12:
                    self.received += 1
            except socket.timeout:
                pass
            except OSError:
                return

    def close(self):
        self.stop.set()
        time.sleep(0.05)
        self.sock.close()


# ------------------------------------------------------------------ scenarios
class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)
    print("  ok: " + what)


def ctl(rundir, *args):
    return subprocess.run([os.path.join(HERE, "ctl.sh"), rundir] + list(args),
                          capture_output=True, text=True, timeout=15)


class Invite:
    """An outgoing INVITE transaction (after the 407 round, if any)."""

    def __init__(self, phone, to_user, body):
        self.phone, self.body = phone, body
        self.call_id, ftag = rand_hex(20), rand_hex(8)
        self.ruri = "sip:%s@%s" % (to_user, DOMAIN)
        self.local = "<sip:%s@%s>;tag=%s" % (phone.user, DOMAIN, ftag)
        self.remote = "<%s>" % self.ruri
        self.auth_hdr = None
        self.challenged = None

    def send(self):
        ph = self.phone
        ph.cseq += 1
        self.cseq = ph.cseq
        self.branch = "z9hG4bK" + rand_hex(16)
        extra = ["Contact: " + ph.contact, "Allow: INVITE,ACK,CANCEL,BYE,OPTIONS",
                 "User-Agent: wren-lab-ws_sip"]
        if self.auth_hdr:
            extra.append("Proxy-Authorization: " + self.auth_hdr)
        ph.send(ph.build("INVITE", self.ruri, self.local, self.remote, self.call_id, self.cseq,
                         ph.via(self.branch), extra, self.body))

    def ack_failure(self, resp):
        """ACK for a non-2xx final response: same branch, hop by hop."""
        ph = self.phone
        ph.send(ph.build("ACK", self.ruri, self.local, resp.get("To"), self.call_id, self.cseq,
                         ph.via(self.branch)))

    def cancel(self):
        ph = self.phone
        ph.send(ph.build("CANCEL", self.ruri, self.local, self.remote, self.call_id, self.cseq,
                         ph.via(self.branch)))

    def response(self, final=True, timeout=10.0):
        return self.phone.response_to(self.call_id, "INVITE", timeout, final)

    def start(self):
        """Send the INVITE; answer a 407 with credentials (the auth'd INVITE is
        sent, its answer not awaited)."""
        self.send()
        resp = self.response()
        if resp.status != 407:
            return resp
        self.challenged = resp
        self.ack_failure(resp)
        ch = parse_challenge(resp.get("Proxy-Authenticate"))
        self.auth_hdr = digest(self.phone.user, ch["realm"], "INVITE", self.ruri,
                               ch["nonce"], ch.get("qop"))
        self.send()
        return None

    def run(self):
        """start() and wait for the final answer (ACKing a failure)."""
        resp = self.start() or self.response()
        if resp.status >= 300:
            self.ack_failure(resp)
        return resp

    def dialog(self, resp):
        routes = list(reversed(resp.uri_list("Record-Route")))
        return Dialog(self.phone, self.call_id, self.local, resp.get("To"), resp.contact_uri(),
                      routes, self.cseq)


def uas_dialog(phone, req, tag):
    return Dialog(phone, req.get("Call-ID"), req.get("To") + ";tag=" + tag, req.get("From"),
                  req.contact_uri(), req.uri_list("Record-Route"), random.randint(1, 1000))


def register_challenge(rundir, env):
    print("WSS REGISTER without credentials -> 401")
    ph = Phone("alice", env["WREN_LAB_WSS"], env["WREN_LAB_CA"], "WSS")
    check(ph.ws.subprotocol == "sip", "server selected subprotocol %r" % ph.ws.subprotocol)
    san = ph.ws.peer_cert.get("subjectAltName", ())
    check(("IP Address", "127.0.0.1") in san, "server cert verified against ca.pem, SAN %s" % (san,))
    resp = ph.register(auth=False)
    www = resp.get("WWW-Authenticate") or ""
    print("  got: %s / WWW-Authenticate: %s" % (resp.first, www))
    check(resp.status == 401, "REGISTER answered 401")
    check('realm="wren.lab"' in www, 'realm="wren.lab"')
    check(re.search(r'qop="?auth"?', www) is not None, 'qop="auth"')
    ph.ws.close()


def selftest(rundir, env):
    register_challenge(rundir, env)

    print("WSS with an untrusted CA is refused")
    try:
        WebSocket(env["WREN_LAB_WSS"], env["WREN_LAB_OTHER_CA"]).close()
        raise Fail("connected although the CA did not sign the server cert")
    except ssl.SSLCertVerificationError as e:
        check(True, "TLS refused: %s" % e.verify_message)

    print("register alice over WS and erin over WSS with digest")
    alice = Phone("alice", env["WREN_LAB_WS"], None, "WS")
    erin = Phone("erin", env["WREN_LAB_WSS"], env["WREN_LAB_CA"], "WSS")
    for ph in (alice, erin):
        r = ph.register()
        check(r.status == 200, "%s REGISTER -> %s" % (ph.user, r.first))
        check(ctl(rundir, "registered", ph.user).returncode == 0, "%s in ul.dump" % ph.user)

    print("alice (WS) calls nobody / dave (unregistered)")
    inv = Invite(alice, "nobody", RtpPeer().sdp())
    r = inv.run()
    check(inv.challenged is not None, "INVITE challenged: %s" % inv.challenged.first)
    check(r.status == 404, "unknown user -> %s" % r.first)
    r = Invite(alice, "dave", RtpPeer().sdp()).run()
    check(r.status == 480, "known but unregistered user -> %s" % r.first)

    print("alice (WS) calls bob (baresip, UDP); tone both ways; alice hangs up")
    rtp = RtpPeer(1000.0)
    t0 = time.time()
    inv = Invite(alice, "bob", rtp.sdp())
    resp = inv.run()
    check(resp.status == 200, "INVITE (after 407) -> %s in %.2f s" % (resp.first, time.time() - t0))
    dlg = inv.dialog(resp)
    check(len(dlg.routes) == 2, "double Record-Route (WS<->UDP): %s" % dlg.routes)
    dlg.ack(inv.cseq)
    rtp.start(resp.body)
    time.sleep(3)
    check(rtp.received > 50, "RTP from bob: %d packets in 3 s" % rtp.received)
    dlg.send("BYE")
    r = alice.response_to(inv.call_id, "BYE")
    check(r.status == 200, "BYE -> %s" % r.first)
    rtp.close()
    time.sleep(0.5)
    rec = ctl(rundir, "latest-baresip-rec").stdout.strip()
    res = subprocess.run([os.path.join(HERE, "tone.py"), rec, "--expect", "1000"],
                         capture_output=True, text=True)
    check(res.returncode == 0, "bob received alice's 1000 Hz: %s" % res.stdout.strip())

    print("bob (baresip) calls alice (WS); bob hangs up")
    rtp = RtpPeer(1000.0)
    r = ctl(rundir, "baresip-dial", "sip:alice@127.0.0.1")
    check(r.returncode == 0, "baresip dial accepted")
    req = alice.any_request("INVITE", timeout=10)
    check(";transport=ws" in req.ruri, "INVITE reached alice, R-URI %s" % req.ruri)
    tag = rand_hex(8)
    alice.reply(req, 180, "Ringing", tag, contact=True)
    alice.reply(req, 200, "OK", tag, rtp.sdp(), contact=True)
    alice.request("ACK", req.get("Call-ID"), timeout=5)
    check(True, "ACK for 200 reached alice")
    rtp.start(req.body)
    time.sleep(2)
    check(rtp.received > 30, "RTP from bob: %d packets in 2 s" % rtp.received)
    check(ctl(rundir, "baresip-hangup").returncode == 0, "baresip hangup accepted")
    bye = alice.request("BYE", req.get("Call-ID"), timeout=5)
    alice.reply(bye, 200, "OK")
    check(True, "BYE from bob reached alice (R-URI %s)" % bye.ruri)
    rtp.close()

    print("alice (WS) calls erin (WSS): CANCEL while ringing")
    sdp = RtpPeer().sdp()
    inv = Invite(alice, "erin", sdp)
    check(inv.start() is None, "INVITE challenged, resent with credentials")
    req = erin.any_request("INVITE", timeout=5)
    etag = rand_hex(8)
    erin.reply(req, 180, "Ringing", etag, contact=True)
    r = inv.response(final=False, timeout=5)
    while r.status == 100:
        r = inv.response(final=False, timeout=5)
    check(r.status == 180, "alice got %s" % r.first)
    inv.cancel()
    cancel = erin.request("CANCEL", req.get("Call-ID"), timeout=5)
    erin.reply(cancel, 200, "OK", etag)
    erin.reply(req, 487, "Request Terminated", etag)
    r = alice.response_to(inv.call_id, "CANCEL")
    check(r.status == 200, "CANCEL -> %s" % r.first)
    r = inv.response()
    check(r.status == 487, "INVITE -> %s" % r.first)
    inv.ack_failure(r)
    erin.request("ACK", req.get("Call-ID"), timeout=5)
    check(True, "ACK for 487 reached erin")

    print("alice (WS) calls erin (WSS): answer, erin hangs up")
    inv = Invite(alice, "erin", sdp)
    inv.start()
    req = erin.any_request("INVITE", timeout=5)
    etag = rand_hex(8)
    erin.reply(req, 200, "OK", etag, sdp, contact=True)
    r = inv.response()
    check(r.status == 200, "alice got %s" % r.first)
    adlg = inv.dialog(r)
    check(len(adlg.routes) == 2, "double Record-Route (WS<->WSS): %s" % adlg.routes)
    adlg.ack(inv.cseq)
    erin.request("ACK", req.get("Call-ID"), timeout=5)
    check(True, "ACK reached erin")
    edlg = uas_dialog(erin, req, etag)
    edlg.send("BYE")
    bye = alice.request("BYE", inv.call_id, timeout=5)
    alice.reply(bye, 200, "OK")
    r = erin.response_to(req.get("Call-ID"), "BYE")
    check(r.status == 200, "erin's BYE -> %s" % r.first)

    for ph in (alice, erin):
        ph.register(expires=0)
        ph.ws.close()
    print("selftest passed")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("register-challenge", "selftest"):
        sys.exit(__doc__)
    rundir = sys.argv[2]
    env = load_env(rundir)
    try:
        if sys.argv[1] == "register-challenge":
            register_challenge(rundir, env)
        else:
            selftest(rundir, env)
    except (Fail, TimeoutError, ConnectionError) as e:
        print("FAILED: %s" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
