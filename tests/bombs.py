"""Decompression bombs, for the fetch tests and `benchmarks/hostile.py`."""

from __future__ import annotations

import struct
import zlib


def gzip_bomb(mebibytes: int) -> bytes:
    """gzip of `mebibytes` MiB of zeros, built without compressing them all: each MiB
    compresses to the same block once the dictionary is reset between them."""
    zeros = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = deflate.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, (mebibytes << 20) & 0xFFFFFFFF)
    return header + block * mebibytes + end + trailer
