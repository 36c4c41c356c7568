"""A fuzz corpus of odd and hostile frames, generated here, through the real predictor: clear 4xx, never 5xx.

Decisions (docs/APP.md): grayscale, CMYK, palette, RGBA, 16-bit and EXIF-rotated stills of an accepted
type are valid frames (200, assessed upright); animated images, other types and anything unreadable are
refused with a 4xx that says why.
"""

from __future__ import annotations

import io
import struct
import uuid
import zlib

import cv2
import numpy as np
import pytest
from _appkit import add_users, astronaut_jpeg, browser_for, post_frame, start_assessment
from conftest import make_settings
from PIL import Image

from neopain.app.main import create_app

MAX_BYTES = 300_000
MAX_PIXELS = 1200 * 1000


def _pil_bytes(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _photo(size: int = 160) -> Image.Image:
    rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(astronaut_jpeg(size), np.uint8), 1), cv2.COLOR_BGR2RGB)
    return Image.fromarray(rgb)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that announces width x height and carries one tiny compressed row."""
    header = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    body = _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return b"\x89PNG\r\n\x1a\n" + header + body + _png_chunk(b"IEND", b"")


def jpeg_with_size(width: int, height: int) -> bytes:
    """A real small JPEG whose SOF header is patched to claim width x height."""
    data = bytearray(_pil_bytes(_photo(64), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def exif_rotated_face() -> bytes:
    """The astronaut stored lying on its side, with EXIF orientation 6 saying how to stand it up."""
    upright = _photo(320).crop((0, 0, 320, 240))  # landscape, the face in the upper middle
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # 90 degrees counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    return _pil_bytes(stored, "JPEG", exif=exif.tobytes(), quality=90)


def animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (48, 48), color) for color in ("red", "green", "blue")]
    return _pil_bytes(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def corpus() -> dict[str, tuple[bytes, set[int]]]:
    """name -> (bytes, the statuses that are right for it)."""
    photo = _photo()
    good_jpeg = _pil_bytes(photo, "JPEG")
    return {
        "zero_bytes": (b"", {422}),
        "one_byte": (b"\xff", {415}),
        "jpeg_magic_only": (b"\xff\xd8\xff", {422}),
        "truncated_jpeg": (good_jpeg[: len(good_jpeg) // 2], {422}),
        "jpeg_header_then_garbage": (good_jpeg[:200] + bytes(range(256)) * 8, {422}),
        "png_magic_then_garbage": (b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 50, {422}),
        "png_bad_crc": (_pil_bytes(photo, "PNG")[:-20] + b"\x00" * 20, {200, 422}),
        "png_65535x65535_header": (png_header_only(65535, 65535), {413}),
        "jpeg_65535x65535_header": (jpeg_with_size(65535, 65535), {413}),
        "over_pixel_limit": (_pil_bytes(Image.new("L", (1300, 1000)), "PNG"), {413}),
        "over_byte_limit": (b"\xff\xd8\xff" + b"\0" * (MAX_BYTES + 10), {413}),
        "png_text_under_jpg_name": (b"hello, I am a text file named frame.jpg\n" * 10, {415}),
        "gif_under_jpg_name": (_pil_bytes(photo, "GIF"), {415}),
        "bmp_under_jpg_name": (_pil_bytes(photo, "BMP"), {415}),
        "tiff_under_jpg_name": (_pil_bytes(photo, "TIFF"), {415}),
        "svg_under_jpg_name": (b'<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>', {415}),
        "html_under_jpg_name": (b"<html><script>alert(1)</script></html>", {415}),
        "riff_not_webp": (b"RIFF\x10\0\0\0WAVEfmt " + b"\0" * 32, {415}),
        "animated_gif": (animated("GIF"), {415}),
        "animated_png": (animated("PNG"), {415}),
        "animated_webp": (animated("WEBP"), {415}),
        "grayscale_jpeg": (_pil_bytes(photo.convert("L"), "JPEG"), {200}),
        "grayscale_png": (_pil_bytes(photo.convert("L"), "PNG"), {200}),
        "cmyk_jpeg": (_pil_bytes(photo.convert("CMYK"), "JPEG"), {200}),
        "palette_png": (_pil_bytes(photo.convert("P"), "PNG"), {200}),
        "rgba_png": (_pil_bytes(photo.convert("RGBA"), "PNG"), {200}),
        "sixteen_bit_png": (_pil_bytes(photo.convert("L").convert("I;16"), "PNG"), {200}),
        "one_pixel_png": (_pil_bytes(Image.new("RGB", (1, 1)), "PNG"), {200}),
        "progressive_jpeg": (_pil_bytes(photo, "JPEG", progressive=True), {200}),
        "webp_still": (_pil_bytes(photo, "WEBP"), {200}),
        "exif_rotated_jpeg": (exif_rotated_face(), {200}),
    }


CORPUS = corpus()


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory, real_predictor):  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path_factory.mktemp("fuzz"), max_upload_bytes=MAX_BYTES, max_upload_pixels=MAX_PIXELS
    )
    app = create_app(settings, real_predictor)
    add_users(app)
    return app


@pytest.fixture(scope="module")
def nurse(fuzz_app):  # type: ignore[no-untyped-def]
    return browser_for(fuzz_app, "nurse")


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_every_odd_frame_gets_a_clear_answer(fuzz_app, nurse, name: str) -> None:  # type: ignore[no-untyped-def]
    data, expected = CORPUS[name]
    assessment, token = start_assessment(nurse, f"Fuzz {name}")
    response = post_frame(nurse, assessment, token, data, uuid.uuid4().hex, "frame.jpg")
    assert response.status_code in expected, (name, response.status_code, response.text[:300])
    body = response.json()
    if response.status_code == 200:
        assert body["status"] in ("ok", "no_assessment")
    else:
        assert body["detail"] and "Traceback" not in body["detail"]


def test_exif_orientation_is_honoured(fuzz_app, nurse) -> None:  # type: ignore[no-untyped-def]
    """The face stored sideways is assessed upright, and the record page's overlay uses the upright size."""
    assessment, token = start_assessment(nurse, "Fuzz exif")
    data = CORPUS["exif_rotated_jpeg"][0]
    answer = post_frame(nurse, assessment, token, data, uuid.uuid4().hex, "frame.jpg").json()
    assert answer["status"] == "ok" and answer["saved"], answer  # YuNet finds the upright face
    record = nurse.client.get(f"/records/{answer['record_id']}")
    assert Image.open(io.BytesIO(data)).size == (240, 320)  # stored portrait, shown landscape
    assert 'viewBox="0 0 320 240"' in record.text
    x, y, w, h = answer["box"]
    assert 0 <= x and 0 <= y and x + w <= 321 and y + h <= 241


def _multipart(data: bytes, token: str, boundary: str = "fuzzboundary") -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="frame_id"\r\n\r\n{uuid.uuid4().hex}\r\n',
        f'--{boundary}\r\nContent-Disposition: form-data; name="client_token"\r\n\r\n{token}\r\n',
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="frame"; filename="f.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ),
    ]
    return "".join(parts).encode() + data + f"\r\n--{boundary}--\r\n".encode()


def _chunks(body: bytes, size: int = 16_384):  # type: ignore[no-untyped-def]
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_chunked_uploads_are_limited_on_the_bytes_received(fuzz_app, nurse) -> None:  # type: ignore[no-untyped-def]
    """No Content-Length (chunked transfer): the limit counts what actually arrives."""
    assessment, token = start_assessment(nurse, "Fuzz chunked")
    url = f"/api/assessments/{assessment}/frames"
    headers = {"X-CSRF-Token": nurse.csrf, "Content-Type": "multipart/form-data; boundary=fuzzboundary"}
    huge = _multipart(b"\xff\xd8\xff" + b"\0" * (2 * MAX_BYTES), token)
    request = nurse.client.build_request("POST", url, content=_chunks(huge), headers=headers)
    assert "content-length" not in request.headers and request.headers["transfer-encoding"] == "chunked"
    refused = nurse.client.send(request)
    assert refused.status_code == 413 and "larger than" in refused.json()["detail"]
    small = _multipart(astronaut_jpeg(200), token)
    accepted = nurse.client.send(
        nurse.client.build_request("POST", url, content=_chunks(small), headers=headers)
    )
    assert accepted.status_code == 200, accepted.text
    form_page = nurse.client.post(
        "/history", content=_chunks(b"q=" + b"a" * (2 * MAX_BYTES)),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert form_page.status_code == 413
