#!/usr/bin/env python3
"""Measure the tone in a 16-bit PCM WAV file (standard library only).

usage: tone.py FILE [--expect HZ] [--tol HZ] [--skip SECONDS] [--min-dbfs DB]

Prints one JSON line: sample rate, channels, duration, RMS level (dBFS) of the
analysed part, the dominant frequency (Hann-windowed FFT, 16384 points,
parabolic interpolation) and, with --expect, the share of the signal's power
within +-tol Hz of the expected frequency.
With --expect it exits 1 unless the dominant frequency is within --tol of it
and the level is above --min-dbfs.
"""
import argparse
import cmath
import json
import math
import struct
import sys

N_FFT = 16384


def fft(a):
    n = len(a)
    if n == 1:
        return a
    even = fft(a[0::2])
    odd = fft(a[1::2])
    out = [0j] * n
    half = n // 2
    for k in range(half):
        t = cmath.exp(-2j * math.pi * k / n) * odd[k]
        out[k] = even[k] + t
        out[k + half] = even[k] - t
    return out


def read_wav(path):
    """Return (rate, channels, data bytes) of a 16-bit PCM WAV. A recorder
    killed mid-call may leave a zero/stale data size: then take the rest of
    the file."""
    with open(path, "rb") as f:
        buf = f.read()
    if buf[:4] != b"RIFF" or buf[8:12] != b"WAVE":
        sys.exit("%s: not a RIFF/WAVE file" % path)
    pos, rate, ch = 12, None, None
    while pos + 8 <= len(buf):
        cid, size = buf[pos:pos + 4], struct.unpack("<I", buf[pos + 4:pos + 8])[0]
        body = pos + 8
        if cid == b"fmt ":
            fmt, ch, rate = struct.unpack("<HHI", buf[body:body + 8])
            bits = struct.unpack("<H", buf[body + 14:body + 16])[0]
            if fmt not in (1, 0xFFFE) or bits != 16:
                sys.exit("%s: only 16-bit PCM is supported" % path)
        elif cid == b"data":
            if rate is None:
                sys.exit("%s: data before fmt" % path)
            end = body + size if 0 < size <= len(buf) - body else len(buf)
            return rate, ch, buf[body:end]
        pos = body + size + (size & 1)
    sys.exit("%s: no data chunk" % path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--expect", type=float)
    ap.add_argument("--tol", type=float, default=10.0)
    ap.add_argument("--skip", type=float, default=0.5)
    ap.add_argument("--min-dbfs", type=float, default=-40.0)
    args = ap.parse_args()

    rate, ch, data = read_wav(args.file)
    nframes = len(data) // (2 * ch)
    skip = min(nframes, int(args.skip * rate))
    count = nframes - skip
    samples = struct.unpack("<%dh" % (count * ch), data[skip * 2 * ch:nframes * 2 * ch])
    mono = samples[0::ch]  # first channel
    res = {"file": args.file, "rate": rate, "channels": ch,
           "duration_s": round(nframes / rate if rate else 0, 3),
           "analysed_s": round(len(mono) / rate if rate else 0, 3)}
    if len(mono) < 1024:
        res["error"] = "too short"
        print(json.dumps(res))
        return 1
    rms = math.sqrt(sum(x * x for x in mono) / len(mono)) / 32768.0
    res["rms_dbfs"] = round(20 * math.log10(rms), 1) if rms > 0 else -200.0

    # Spectrum of the middle N_FFT samples (zero-padded if shorter).
    start = max(0, len(mono) // 2 - N_FFT // 2)
    seg = list(mono[start:start + N_FFT])
    seg += [0] * (N_FFT - len(seg))
    win = [0.5 - 0.5 * math.cos(2 * math.pi * i / (N_FFT - 1)) for i in range(N_FFT)]
    spec = fft([complex(s * wv, 0) for s, wv in zip(seg, win)])
    power = [abs(c) ** 2 for c in spec[: N_FFT // 2]]
    lo = max(1, int(50 * N_FFT / rate))  # ignore DC / rumble below 50 Hz
    k = max(range(lo, len(power) - 1), key=power.__getitem__)
    a, b, c = (math.log(p + 1e-12) for p in (power[k - 1], power[k], power[k + 1]))
    denom = a - 2 * b + c
    delta = 0.5 * (a - c) / denom if denom else 0.0
    res["peak_hz"] = round((k + delta) * rate / N_FFT, 1)
    total = sum(power[lo:]) or 1e-12
    ok = True
    if args.expect is not None:
        band = [i for i in range(lo, len(power))
                if abs(i * rate / N_FFT - args.expect) <= args.tol]
        res["expect_hz"] = args.expect
        res["power_share_at_expect"] = round(sum(power[i] for i in band) / total, 3)
        ok = (abs(res["peak_hz"] - args.expect) <= args.tol
              and res["rms_dbfs"] > args.min_dbfs)
        res["ok"] = ok
    print(json.dumps(res))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
