#!/usr/bin/env python3
"""Writes the seed inputs of the media and transfer fuzz targets from the unit-test vectors
(crates/media/src/{rtp,rtcp,dtmf}.rs tests, crates/media/src/sdp/tests.rs, crates/sip ua and
auth tests). Run from fuzz/: `python3 seeds/make_seeds.py`. sip_parse's seeds come from the
RFC 4475 test (see README)."""
import os, re, struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")


def put(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def rtp(pt, seq, ts, ssrc, payload, marker=False):
    return bytes([0x80, (0x80 if marker else 0) | pt]) + struct.pack(">HII", seq, ts, ssrc) + payload


# RTP: rtp.rs tests (round trip, CSRC + extension + padding, hostile cases).
put("rtp_parse", "opus-marker", rtp(111, 0xFFFE, 0xDEADBEEF, 0x12345678, b"abc", True))
put("rtp_parse", "csrc-ext-padding", bytes([0xB2, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9, 1, 1, 1, 1, 2, 2, 2, 2,
                                            0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0, 7, 8, 9, 0, 2]))
put("rtp_parse", "padding-all", bytes([0xA0] + [0] * 11 + [0, 2]))
put("rtp_parse", "bad-padding", bytes([0xA0] + [0] * 11 + [1, 9]))
put("rtp_parse", "ext-truncated", bytes([0x90] + [0] * 11 + [0xBE, 0xDE, 0xFF, 0xFF]))
put("rtp_parse", "rtcp-pt", bytes([0x80, 200] + [0] * 9 + [1]))
put("rtp_parse", "pcmu", rtp(0, 1, 160, 9, bytes(160)))
put("rtp_parse", "dtmf-end", rtp(101, 7, 960, 9, bytes([11, 0x8A, 0x12, 0xC0])))


# RTCP: rtcp.rs tests.
def block(ssrc, lost):
    return struct.pack(">II IIII", ssrc, (25 << 24) | (lost & 0xFFFFFF), 0x10005, 77, 0x12345678, 65536)


def sr(ssrc, blocks):
    body = struct.pack(">IQIII", ssrc, 0xE000000080000000, 960, 10, 1600) + b"".join(blocks)
    return bytes([0x80 | len(blocks), 200]) + struct.pack(">H", len(body) // 4) + body


def sdes(chunks):
    body = b""
    for ssrc, cname in chunks:
        body += struct.pack(">I", ssrc)
        if cname is not None:
            body += bytes([1, len(cname)]) + cname
        body += b"\0"
        while len(body) % 4:
            body += b"\0"
    return bytes([0x80 | len(chunks), 202]) + struct.pack(">H", len(body) // 4) + body


def bye(ssrcs, reason):
    body = b"".join(struct.pack(">I", s) for s in ssrcs)
    if reason is not None:
        body += bytes([len(reason)]) + reason
        while len(body) % 4:
            body += b"\0"
    return bytes([0x80 | len(ssrcs), 203]) + struct.pack(">H", len(body) // 4) + body


rr_empty = bytes([0x80, 201, 0, 1, 0, 0, 0, 9])
put("rtcp_parse", "sr-sdes-bye", sr(1, [block(2, -3), block(3, 0x7FFFFF)]) + sdes([(1, b"wren@example.invalid")]) + bye([1], b"bye"))
put("rtcp_parse", "rr-sdes", rr_empty + sdes([(9, None), (10, b"abc")]))
put("rtcp_parse", "rr-psfb-app-padded", rr_empty + bytes([0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2])
    + bytes([0xA0, 204, 0, 3, 0, 0, 0, 1]) + b"name" + bytes([0, 0, 0, 4]))
put("rtcp_parse", "bye-two", bye([1, 2], b"done"))
put("rtcp_parse", "bad-padding-not-last", bytes([0xA0, 201, 0, 1, 0, 0, 0, 4, 0x80, 201, 0, 1, 0, 0, 0, 1]))
put("rtcp_parse", "bye-bad-reason", bytes([0x81, 203, 0, 2, 0, 0, 0, 1, 9, ord("x"), 0, 0]))

# SDP: every offer/answer in crates/media/src/sdp/tests.rs, behind the config byte the target
# reads first (0: all codecs, telephone-event, sendrecv).
src = open(os.path.join(ROOT, "crates/media/src/sdp/tests.rs")).read()
sdps = []
for m in re.finditer(r"crlf\(&\[(.*?)\]\)", src, re.S):
    lines = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))
    if lines and lines[0] == "v=0":
        sdps.append("".join(l + "\r\n" for l in lines))
for m in re.finditer(r'const \w+: &str = "(v=0.*?)";', src, re.S):
    sdps.append(m.group(1).replace("\\r\n", "\r\n"))
for i, s in enumerate(sdps):
    put("sdp_offer_answer", f"test-{i:02}", bytes([0]) + s.encode())
    put("sdp_offer_answer", f"test-{i:02}-pcma-hold", bytes([3 + 5]) + s.encode())

# sip_auth: the challenges of crates/sip/src/auth.rs tests and ua_input, one header value
# per line after the status byte (see the target).
challenges = [
    'Digest realm="wren.lab", nonce="n1", qop="auth"',
    'Digest realm="wren.lab", nonce="n2", qop="auth", algorithm=SHA-256',
    'Digest realm="wren.lab", nonce="n3", stale=true',
    'Digest realm="atlanta.example.com", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", opaque="", stale=FALSE, algorithm=MD5',
    'Digest realm="x", nonce="y", qop="auth-int"',
    'Digest realm="x", nonce="y", algorithm=AKAv1-MD5',
    'Basic realm="x"',
    'Digest realm="x", nonce="y", qop="other"',
]
for i, c in enumerate(challenges):
    put("sip_auth", f"challenge-{i}", bytes([i % 2]) + c.encode() + b"\n" + challenges[(i + 2) % 3].encode())

# The targets that take `arbitrary` op sequences (jitter_buffer, reception_stats, dtmf,
# media_session, ua_transfer) have no vectors to copy byte for byte: a few fixed
# pseudo-random inputs of a few hundred bytes give libFuzzer long op sequences from the
# start (its length limit otherwise grows from a few bytes).
import random

rng = random.Random(4733)
for target in ["jitter_buffer", "reception_stats", "dtmf", "media_session", "ua_transfer"]:
    for i, size in enumerate([64, 256, 512, 1024, 2048]):
        put(target, f"random-{i}", bytes(rng.getrandbits(8) for _ in range(size)))
