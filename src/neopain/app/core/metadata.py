"""Stripping metadata from stored frames without re-encoding them: no GPS, no device, no thumbnail.

A phone's JPEG carries EXIF (place, time, device, a thumbnail of the picture), XMP and comments; PNG and
WebP can carry the same in text and EXIF chunks. The stored frame keeps its pixels byte for byte (the
model's input is unchanged) and only its orientation, as a minimal EXIF block, so it still shows upright.
"""

from __future__ import annotations

import io
import struct
import zlib

ORIENTATION_TAG = 0x0112
# JPEG markers kept: APP0 (JFIF), APP2 (ICC colour profile), APP14 (Adobe colour transform) and every
# non-APP marker; dropped: APP1 (EXIF, XMP), APP3-APP13 and APP15 (vendor data, IPTC), COM (comments).
_JPEG_DROPPED = {0xE1, *range(0xE3, 0xEE), 0xEF, 0xFE}
_PNG_DROPPED = {b"tEXt", b"zTXt", b"iTXt", b"tIME", b"eXIf"}
_WEBP_DROPPED = {b"EXIF", b"XMP "}


class MetadataError(ValueError):
    """The image's structure could not be walked (truncated or malformed)."""


def orientation_of(data: bytes) -> int:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            value = int(image.getexif().get(ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001  (unreadable EXIF: the picture is shown as stored)
        return 1
    return value if 1 <= value <= 8 else 1


def minimal_exif(orientation: int) -> bytes:
    """A TIFF block with one tag (Orientation), big-endian, no next IFD."""
    return b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1) + \
        struct.pack(">HHIHH", ORIENTATION_TAG, 3, 1, orientation, 0) + struct.pack(">I", 0)


def _jpeg_segments(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The marker segments before the scan, and the scan with everything after it."""
    segments, i = [], 2
    while i < len(data):
        if data[i] != 0xFF:
            raise MetadataError("JPEG marker expected")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            segments.append((marker, data[i:i + 2]))
            i += 2
        elif marker == 0xDA:  # start of scan: entropy-coded data and the trailer follow
            return segments, data[i:]
        else:
            length = struct.unpack(">H", data[i + 2:i + 4])[0]
            if length < 2 or i + 2 + length > len(data):
                raise MetadataError("truncated JPEG segment")
            segments.append((marker, data[i:i + 2 + length]))
            i += 2 + length
    raise MetadataError("JPEG without image data")


def _jpeg(data: bytes, orientation: int) -> bytes:
    segments, scan = _jpeg_segments(data)
    kept = [segment for marker, segment in segments if marker not in _JPEG_DROPPED]
    exif = b""
    if orientation != 1:
        block = b"Exif\x00\x00" + minimal_exif(orientation)
        exif = b"\xff\xe1" + struct.pack(">H", 2 + len(block)) + block
    # EXIF goes right after SOI, or after JFIF's APP0 when the file starts with one.
    head = 1 if segments and segments[0][0] == 0xE0 else 0
    return data[:2] + b"".join(kept[:head]) + exif + b"".join(kept[head:]) + scan


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png(data: bytes, orientation: int) -> bytes:
    out, i, inserted = bytearray(data[:8]), 8, orientation == 1
    while i + 8 <= len(data):
        length = struct.unpack(">I", data[i:i + 4])[0]
        kind = data[i + 4:i + 8]
        chunk = data[i:i + 12 + length]
        if len(chunk) < 12 + length:
            raise MetadataError("truncated PNG chunk")
        if kind == b"IDAT" and not inserted:
            out += _png_chunk(b"eXIf", minimal_exif(orientation))
            inserted = True
        if kind not in _PNG_DROPPED:
            out += chunk
        i += 12 + length
    return bytes(out)


def _webp(data: bytes, orientation: int) -> bytes:
    chunks, i = [], 12
    while i + 8 <= len(data):
        kind, size = data[i:i + 4], struct.unpack("<I", data[i + 4:i + 8])[0]
        body = data[i + 8:i + 8 + size]
        if len(body) < size:
            raise MetadataError("truncated WebP chunk")
        if kind not in _WEBP_DROPPED:
            chunks.append([kind, bytearray(body)])
        i += 8 + size + (size & 1)
    extended = bool(chunks) and chunks[0][0] == b"VP8X"
    if extended:
        flags = chunks[0][1][0] & ~0x0C  # no XMP, no EXIF...
        if orientation != 1:
            flags |= 0x08  # ...except the orientation's own
            chunks.append([b"EXIF", bytearray(minimal_exif(orientation))])
        chunks[0][1][0] = flags
    body = b"WEBP" + b"".join(k + struct.pack("<I", len(v)) + bytes(v) + (b"\x00" if len(v) & 1 else b"")
                              for k, v in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def strip_metadata(data: bytes, suffix: str) -> bytes:
    """The frame without metadata (orientation kept); ``suffix`` is the sniffed type: jpg, png or webp."""
    orientation = orientation_of(data)
    try:
        return {"jpg": _jpeg, "png": _png, "webp": _webp}[suffix](data, orientation)
    except (IndexError, struct.error) as exc:
        raise MetadataError(f"the {suffix} structure is malformed") from exc
