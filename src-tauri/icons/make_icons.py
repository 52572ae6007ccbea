#!/usr/bin/env python3
"""Writes the placeholder app icons (a teal disc on transparent) with the standard library only."""
import struct
import zlib
from pathlib import Path


def png(size: int) -> bytes:
    rows = bytearray()
    c = (size - 1) / 2
    for y in range(size):
        rows.append(0)  # filter: none
        for x in range(size):
            inside = (x - c) ** 2 + (y - c) ** 2 <= (size * 0.46) ** 2
            rows += bytes((0x1F, 0x8A, 0x8A, 0xFF) if inside else (0, 0, 0, 0))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b""))


here = Path(__file__).parent
for name, size in (("32x32.png", 32), ("128x128.png", 128), ("icon.png", 512)):
    (here / name).write_bytes(png(size))
