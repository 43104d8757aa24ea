"""Small real images for tests, made without Pillow."""

from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_bytes(width: int = 640, height: int = 480, *, noise_bytes: int = 0) -> bytes:
    """A valid grey PNG of ``width`` x ``height``; ``noise_bytes`` adds an ancillary chunk
    of that size (to make large files cheaply)."""
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    parts = [
        b"\x89PNG\r\n\x1a\n",
        _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)),
    ]
    if noise_bytes:
        parts.append(_chunk(b"teXt", b"noise\x00" + b"n" * noise_bytes))
    parts += [_chunk(b"IDAT", zlib.compress(raw, 9)), _chunk(b"IEND", b"")]
    return b"".join(parts)


def gif_bytes(width: int = 640, height: int = 480) -> bytes:
    """A GIF header with a logical screen of ``width`` x ``height``."""
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00" + b";"


def jpeg_bytes(width: int = 640, height: int = 480) -> bytes:
    """A JPEG header (SOI, APP0, SOF0) declaring ``width`` x ``height``."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def bmp_bytes(width: int = 640, height: int = 480) -> bytes:
    header = b"BM" + struct.pack("<IHHI", 54, 0, 0, 54)
    dib = struct.pack("<IiiHHIIiiII", 40, width, -height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return header + dib


def webp_bytes(width: int = 640, height: int = 480) -> bytes:
    """A VP8X WebP header declaring ``width`` x ``height``."""
    body = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    body += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


def tiff_bytes(width: int = 640, height: int = 480) -> bytes:
    entries = struct.pack("<HHII", 256, 4, 1, width) + struct.pack("<HHII", 257, 4, 1, height)
    return b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 2) + entries + b"\x00" * 4
