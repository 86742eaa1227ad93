"""Image dimensions read from the file header, without decoding: the decompression-bomb check.

A 74-byte PNG can declare 60000 x 60000 pixels and a 875 kB one really holds 30000 x 30000 (2.7 GB
once decoded). ``image_dims`` reads the width and height that PNG, JPEG, BMP, WebP and GIF files
(and the first image of a TIFF) declare in their first bytes so a reader can refuse before OpenCV allocates anything.
"""

from __future__ import annotations

import struct

# How far into a JPEG to look for its frame header (EXIF and ICC segments come first).
JPEG_SCAN_BYTES = 1 << 20


def _png(data: bytes) -> tuple[int, int] | None:
    if len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


def _gif(data: bytes) -> tuple[int, int] | None:
    return struct.unpack("<HH", data[6:10]) if len(data) >= 10 else None


def _bmp(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    if struct.unpack("<I", data[14:18])[0] == 12:  # BITMAPCOREHEADER: 16-bit sizes
        return struct.unpack("<HH", data[18:22])
    w, h = struct.unpack("<ii", data[18:26])
    return abs(w), abs(h)  # a negative height means top-down rows


def _webp(data: bytes) -> tuple[int, int] | None:
    if len(data) < 30 or data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _jpeg(data: bytes) -> tuple[int, int] | None:
    i, end = 2, min(len(data), JPEG_SCAN_BYTES)
    while i + 9 <= end:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a frame header
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
    return None


def _tiff(data: bytes) -> tuple[int, int] | None:
    """ImageWidth (256) and ImageLength (257) of the first IFD, when it lies in ``data``."""
    order = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack(order + "I", data[4:8])[0]
    count = struct.unpack(order + "H", data[ifd : ifd + 2])[0]
    dims: dict[int, int] = {}
    for k in range(min(count, 4096)):
        entry = data[ifd + 2 + 12 * k : ifd + 14 + 12 * k]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):  # SHORT (3) or LONG (4), the value held in the entry itself
            dims[tag] = struct.unpack(
                order + ("H" if kind == 3 else "I"), entry[8 : 10 if kind == 3 else 12]
            )[0]
        if len(dims) == 2:
            return dims[256], dims[257]
    return None


_FORMATS = (
    (b"\x89PNG\r\n\x1a\n", _png),
    (b"\xff\xd8", _jpeg),
    (b"BM", _bmp),
    (b"RIFF", _webp),
    (b"GIF87a", _gif),
    (b"GIF89a", _gif),
    (b"II*\x00", _tiff),
    (b"MM\x00*", _tiff),
)


def image_dims(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` a PNG, JPEG, BMP, WebP, GIF or TIFF header declares; else ``None``.

    ``None`` also for a header too short to hold the size: OpenCV then decodes under its own
    limit (``OPENCV_IO_MAX_IMAGE_PIXELS``).
    """
    for magic, parse in _FORMATS:
        if data.startswith(magic):
            try:
                return parse(data)
            except struct.error:
                return None
    return None
