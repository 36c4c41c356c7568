"""Checks on an uploaded frame before it reaches the model: size, type by content, pixel count."""

from __future__ import annotations

import io
import struct
import warnings

from PIL import Image, UnidentifiedImageError

# Magic bytes -> (file suffix, media type); the file name and declared type are never trusted.
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\xff\xd8\xff", "jpg", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png", "image/png"),
)


# Pillow refuses absurd headers before we see their size: treat them as over any limit.
_BOMB_SIZE = 1 << 20


class UploadError(ValueError):
    """A frame we refuse; ``status`` is the HTTP code to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def sniff_type(data: bytes) -> tuple[str, str]:
    """(suffix, media type) of JPEG/PNG/WebP bytes, else UploadError 415."""
    for magic, suffix, media in _SIGNATURES:
        if data.startswith(magic):
            return suffix, media
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp", "image/webp"
    raise UploadError(415, "the frame is not a JPEG, PNG or WebP image")


def check_frame(data: bytes, max_bytes: int, max_pixels: int) -> tuple[str, str]:
    """Validate an upload; returns (suffix, media type)."""
    if not data:
        raise UploadError(422, "the frame is empty")
    if len(data) > max_bytes:
        raise UploadError(413, f"the frame is larger than {max_bytes} bytes")
    suffix, media = sniff_type(data)
    width, height, frames = _header(data)
    if width * height > max_pixels:
        raise UploadError(413, f"the frame has {width}x{height} pixels, more than {max_pixels}")
    if frames > 1:
        raise UploadError(415, "animated images are not accepted: send one still frame")
    return suffix, media


def _header(data: bytes) -> tuple[int, int, int]:
    """(width, height, frame count) from the header only; nothing is decoded yet."""
    try:
        with warnings.catch_warnings():
            # Our own pixel limit decides; Pillow's bomb check would raise an unrelated error type first.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                frames = int(getattr(image, "n_frames", 1) or 1)
    except Image.DecompressionBombError:
        return _BOMB_SIZE, _BOMB_SIZE, 1
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error, EOFError) as exc:
        raise UploadError(422, "the frame cannot be read as an image") from exc
    if width <= 0 or height <= 0:
        raise UploadError(422, "the frame has no pixels")
    return width, height, frames
