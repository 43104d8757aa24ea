"""Local images: sniff the format from magic bytes, read the size from the header, check
the upstream limits, and encode as a ``data:image/<fmt>;base64,`` URL.

No Pillow: every supported format stores its dimensions near the start of the file.
"""

from __future__ import annotations

import base64
import re
import struct
from pathlib import Path
from typing import Final

import anyio.to_thread

from ._errors import InvalidRequestError

MAX_IMAGE_BYTES: Final = 30 * 1024 * 1024
MIN_SIDE: Final = 300
MAX_SIDE: Final = 6000
MIN_ASPECT: Final = 0.4
MAX_ASPECT: Final = 2.5
HEADER_BYTES: Final = 256 * 1024
FORMATS: Final = ("jpeg", "png", "webp", "bmp", "tiff", "gif")
DATA_URL_RE: Final = re.compile(r"^data:image/([A-Za-z]+);base64,.", re.DOTALL)


def sniff_format(data: bytes) -> str | None:
    """The image format named by the magic bytes, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"BM"):
        return "bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def dimensions(fmt: str, data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header, or None where the header does not say."""
    try:
        return _DIMENSION_READERS[fmt](data)
    except (struct.error, IndexError, ValueError):
        return None


def _png(data: bytes) -> tuple[int, int] | None:
    if data[12:16] != b"IHDR":
        return None
    w, h = struct.unpack(">II", data[16:24])
    return int(w), int(h)


def _gif(data: bytes) -> tuple[int, int] | None:
    w, h = struct.unpack("<HH", data[6:10])
    return int(w), int(h)


def _bmp(data: bytes) -> tuple[int, int] | None:
    header_size = struct.unpack("<I", data[14:18])[0]
    if header_size == 12:
        w, h = struct.unpack("<HH", data[18:22])
    else:
        w, h = struct.unpack("<ii", data[18:26])
    return abs(int(w)), abs(int(h))


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", data[26:30])
        return int(w) & 0x3FFF, int(h) & 0x3FFF
    if chunk == b"VP8L":
        b = data[21:25]
        w = 1 + (((b[1] & 0x3F) << 8) | b[0])
        h = 1 + (((b[3] & 0x0F) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
        return w, h
    if chunk == b"VP8X":
        w = 1 + int.from_bytes(data[24:27], "little")
        h = 1 + int.from_bytes(data[27:30], "little")
        return w, h
    return None


_SOF_MARKERS: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg(data: bytes) -> tuple[int, int] | None:
    i = 2
    n = len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in _SOF_MARKERS:
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(w), int(h)
        i += 2 + int(length)
    return None


def _tiff(data: bytes) -> tuple[int, int] | None:
    endian = "<" if data[:2] == b"II" else ">"
    offset = struct.unpack(endian + "I", data[4:8])[0]
    count = struct.unpack(endian + "H", data[offset : offset + 2])[0]
    found: dict[int, int] = {}
    for k in range(count):
        entry = data[offset + 2 + 12 * k : offset + 14 + 12 * k]
        tag, typ = struct.unpack(endian + "HH", entry[:4])
        if tag in (256, 257):
            fmt = "H" if typ == 3 else "I"
            found[tag] = struct.unpack(endian + fmt, entry[8 : 8 + struct.calcsize(fmt)])[0]
    if 256 in found and 257 in found:
        return found[256], found[257]
    return None


_DIMENSION_READERS = {
    "png": _png,
    "gif": _gif,
    "bmp": _bmp,
    "webp": _webp,
    "jpeg": _jpeg,
    "tiff": _tiff,
}


def check_image(field: str, head: bytes, size: int) -> str:
    """Check a local image against the upstream limits; return its format.

    ``head`` is the start of the file (or all of it), ``size`` its full length.
    """
    if size >= MAX_IMAGE_BYTES:
        raise InvalidRequestError(
            field, f"image is {size / 1024 / 1024:.1f} MB; it must be under 30 MB"
        )
    fmt = sniff_format(head)
    if fmt is None:
        raise InvalidRequestError(
            field, f"not a supported image (expected one of: {', '.join(FORMATS)})"
        )
    dims = dimensions(fmt, head)
    if dims is not None:
        w, h = dims
        if not (MIN_SIDE < w < MAX_SIDE and MIN_SIDE < h < MAX_SIDE):
            raise InvalidRequestError(
                field,
                f"image is {w}x{h}; width and height must each be between "
                f"{MIN_SIDE} and {MAX_SIDE} px (exclusive)",
            )
        aspect = w / h
        if not (MIN_ASPECT < aspect < MAX_ASPECT):
            raise InvalidRequestError(
                field,
                f"image aspect ratio {w}x{h} = {aspect:.2f}; it must be between "
                f"{MIN_ASPECT} and {MAX_ASPECT} (exclusive)",
            )
    return fmt


def peek_file(field: str, path: Path) -> None:
    """Validate a local image from its size and header, without reading all of it."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise InvalidRequestError(field, f"{path} is not a regular file")
        with path.open("rb") as f:
            head = f.read(HEADER_BYTES)
    except OSError as exc:
        raise InvalidRequestError(field, f"cannot read image file {path}: {exc.strerror}") from None
    check_image(field, head, size)


_B64_CHUNK: Final = 3 * 512 * 1024  # a multiple of 3: chunks encode independently


def encode(field: str, data: bytes) -> str:
    fmt = check_image(field, data, len(data))
    # In chunks, so a worker thread encoding a large image lets the event loop run
    # between them (each C call holds the GIL for its whole input).
    parts = [f"data:image/{fmt};base64,"]
    for start in range(0, len(data), _B64_CHUNK):
        parts.append(base64.b64encode(data[start : start + _B64_CHUNK]).decode("ascii"))
    return "".join(parts)


def _read_and_encode(field: str, path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidRequestError(field, f"cannot read image file {path}: {exc.strerror}") from None
    return encode(field, data)


_INLINE_ENCODE_LIMIT: Final = 256 * 1024


async def to_url(field: str, value: str | Path | bytes | None) -> str | None:
    """The wire form of an image input. File reads and large encodes run in a thread."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Path):
        return await anyio.to_thread.run_sync(_read_and_encode, field, value)
    if len(value) <= _INLINE_ENCODE_LIMIT:
        return encode(field, value)
    return await anyio.to_thread.run_sync(encode, field, value)
