"""neopain.pixels.videoio: one decoder (probe, read_frames sampled to a rate) and an atomic, deterministic writer."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from neopain.pixels.videoio import VIDEO_SUFFIXES, VideoError, is_video_file, probe, read_frames, write_video


def _frames(n: int = 12, size: tuple[int, int] = (96, 64)) -> list[np.ndarray]:
    """Smooth frames (JPEG-friendly), each a different grey gradient with a moving square."""
    w, h = size
    ramp = np.tile(np.linspace(40, 200, w, dtype=np.float32), (h, 1))
    out = []
    for i in range(n):
        frame = np.dstack([ramp, ramp[::-1, ::-1], np.full((h, w), 10.0 * i)]).astype(np.uint8)
        cv2.rectangle(frame, (4 + 3 * i, 10), (24 + 3 * i, 30), (255, 255, 255), -1)
        out.append(frame)
    return out


def test_round_trip_keeps_count_rate_times_and_pixels(tmp_path: Path) -> None:
    frames = _frames()
    path = write_video(tmp_path / "clip.avi", frames, fps=10)
    info = probe(path)
    assert (info.fps, info.frames, info.width, info.height) == (10.0, 12, 96, 64)
    assert info.duration_s == pytest.approx(1.2) and info.path == path
    got = list(read_frames(path))
    assert [i for i, _, _ in got] == list(range(12))
    assert [t for _, t, _ in got] == pytest.approx([i / 10 for i in range(12)])
    for (_, _, frame), original in zip(got, frames, strict=True):
        assert frame.dtype == np.uint8 and frame.shape == original.shape
        assert np.abs(frame.astype(int) - original).mean() < 4.0  # MJPG is lossy, not far


def test_sampling_takes_the_nearest_frames_and_never_upsamples(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", _frames(30), fps=30)
    assert [i for i, _, _ in read_frames(path, fps=10)] == list(range(0, 30, 3))
    assert [t for _, t, _ in read_frames(path, fps=10)] == pytest.approx([i / 10 for i in range(10)])
    # 30 -> 12 frames/s: ticks at 2.5 frames, the nearest frames (half up) 0, 3, 5, 8, 10, ...
    assert [i for i, _, _ in read_frames(path, fps=12)][:6] == [0, 3, 5, 8, 10, 13]
    assert len(list(read_frames(path, fps=60))) == 30  # above the native rate: every frame
    with pytest.raises(VideoError, match="clip.avi"):
        list(read_frames(path, fps=0))


def test_the_same_frames_give_the_same_bytes(tmp_path: Path) -> None:
    frames = _frames()
    a = write_video(tmp_path / "a.avi", frames, fps=10)
    b = write_video(tmp_path / "b.avi", frames, fps=10)
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("content", [None, b"this is text, not a video\n", b"RIFF" + bytes(400)])
def test_unreadable_files_are_errors_naming_them(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "clip.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(VideoError, match="clip.mp4"):
        probe(path)
    with pytest.raises(VideoError, match="clip.mp4"):
        list(read_frames(path))


def _jpeg_starts(data: bytes) -> list[int]:
    return [i for i in range(len(data) - 2) if data[i:i + 3] == b"\xff\xd8\xff"]


def test_a_corrupt_or_truncated_file_ends_with_an_error_naming_the_frame(tmp_path: Path) -> None:
    data = write_video(tmp_path / "good.avi", _frames(10), fps=10).read_bytes()
    starts = _jpeg_starts(data)
    assert len(starts) == 10
    corrupt = bytearray(data)
    corrupt[starts[5]:starts[6]] = bytes(starts[6] - starts[5])  # frame 5 wiped: no JPEG data left
    (tmp_path / "corrupt.avi").write_bytes(bytes(corrupt))
    with pytest.raises(VideoError, match=r"corrupt\.avi: frame 5 cannot be decoded"):
        list(read_frames(tmp_path / "corrupt.avi"))
    (tmp_path / "cut.avi").write_bytes(data[:starts[6] + 50])
    with pytest.raises(VideoError, match=r"cut\.avi: frame 6 cannot be decoded"):
        list(read_frames(tmp_path / "cut.avi"))


def test_no_frame_rate_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_video(tmp_path / "clip.avi", _frames(3), fps=10)
    real = cv2.VideoCapture

    class NoRate:
        def __init__(self, name: str) -> None:
            self.capture = real(name)

        def get(self, prop: int) -> float:
            return 0.0 if prop == cv2.CAP_PROP_FPS else self.capture.get(prop)

        def __getattr__(self, name: str):
            return getattr(self.capture, name)

    monkeypatch.setattr(cv2, "VideoCapture", NoRate)
    with pytest.raises(VideoError, match=r"clip\.avi: no usable frame rate"):
        probe(path)


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    frames = _frames(4)

    def broken():
        yield from frames[:2]
        raise RuntimeError("camera unplugged")

    with pytest.raises(RuntimeError):
        write_video(tmp_path / "clip.avi", broken(), fps=10)
    with pytest.raises(VideoError, match=r"clip\.avi: frame 2 is 32x16"):
        write_video(tmp_path / "clip.avi", [*frames[:2], np.zeros((16, 32, 3), np.uint8)], fps=10)
    with pytest.raises(VideoError, match=r"clip\.avi: no frames"):
        write_video(tmp_path / "clip.avi", [], fps=10)
    with pytest.raises(VideoError, match=r"clip\.avi: frame 0 is not a BGR uint8"):
        write_video(tmp_path / "clip.avi", [np.zeros((16, 32), np.uint8)], fps=10)
    with pytest.raises(VideoError, match=r"clip\.webm: cannot write"):
        write_video(tmp_path / "clip.webm", frames, fps=10)
    with pytest.raises(VideoError, match="frame rate"):
        write_video(tmp_path / "clip.avi", frames, fps=0)
    assert list(tmp_path.iterdir()) == []


def test_is_video_file() -> None:
    assert all(is_video_file(f"a{s.upper()}") for s in VIDEO_SUFFIXES)
    assert not is_video_file("a.jpg") and not is_video_file("avi")
