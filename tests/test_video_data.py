"""Video rows: the manifest's segment and frame columns, validation, the iCOPEvid and videos-CSV adapters,
and ``faces extract`` sampling frames with their time (synthetic videos, per-frame boxes)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from neopain.cli import app
from neopain.data import (
    ManifestError,
    Sample,
    import_icopevid,
    import_videos,
    manifest_hash,
    read_manifest,
    validate_manifest,
    write_manifest,
)
from neopain.data.icopevid import label_in_name, subject_in_name
from neopain.data.manifest import COLUMNS, VIDEO_COLUMNS, sample_to_record
from neopain.data.synth_timeline import VideoConfig
from neopain.data.synth_video import generate_videos
from neopain.faces import extract_faces
from neopain.pixels.videoio import write_video

WIDE = {"COLUMNS": "250"}


def _clip(path: Path, frames: int = 3, size: int = 32) -> Path:
    ramp = np.tile(np.linspace(30, 220, size, dtype=np.uint8), (size, 1))
    frames_bgr = [np.dstack([ramp, ramp.T, np.full_like(ramp, 20 * i)]) for i in range(frames)]
    return write_video(path, frames_bgr, fps=4)


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _rows(file: Path) -> list[dict[str, str]]:
    with open(file, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 3-s synthetic video at 4 frames/s in two segments of 1.5 s."""
    config = VideoConfig(subjects=1, seconds=3.0, fps=4.0, size=96, segment_s=1.5)
    return generate_videos(tmp_path_factory.mktemp("sv") / "syn", config).parent


# The manifest


def test_video_rows_round_trip_and_image_manifests_keep_their_bytes(tmp_path: Path) -> None:
    segments = [Sample("v.avi", "s1", label="pain", start=0.0, end=10.0), Sample("v.avi", "s1", start=10.0)]
    frame = Sample("crops/v/f000004.png", "s1", source_path="v.avi", frame=4, t=0.4, box=(1.0, 2.0, 3.0, 4.0))
    back = read_manifest(write_manifest([*segments, frame], tmp_path / "v.csv"))
    assert back == [*segments, frame] and back[2].frame == 4 and back[2].t == 0.4
    with open(tmp_path / "v.csv", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == (*COLUMNS, *VIDEO_COLUMNS)
    image = Sample("a.jpg", "s1", label="pain")
    write_manifest([image], tmp_path / "i.csv")
    with open(tmp_path / "i.csv", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == COLUMNS
    # The hash of image rows is what it was before video columns existed: the old columns only.
    assert list(sample_to_record(image)) == list(COLUMNS)
    assert manifest_hash([image]) == manifest_hash([image.with_()])


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([["v.avi", "s1", "0", "10"], ["v.avi", "s1", "0", "10"]], r"row 3, field 'path': duplicate segment"),
        ([["v.avi", "s1", "5", "5"]], r"row 2, field 'end': the segment ends"),
        ([["v.avi", "s1", "-1", "5"]], r"row 2, field 'start': must not be negative"),
        ([["v.avi", "s1", "x", "5"]], r"row 2, field 'start': 'x' is not a number"),
    ],
)
def test_bad_video_rows_name_row_and_field(tmp_path: Path, rows: list[list[str]], message: str) -> None:
    file = _csv(tmp_path / "m.csv", ["path", "subject", "start", "end"], rows)
    with pytest.raises(ManifestError, match=message):
        read_manifest(file)


def test_a_frame_index_is_whole(tmp_path: Path) -> None:
    file = _csv(tmp_path / "m.csv", ["path", "subject", "frame"], [["c.png", "s1", "2.5"]])
    with pytest.raises(ManifestError, match=r"field 'frame': a frame index is a whole number"):
        read_manifest(file)


def test_validate_probes_video_rows(tmp_path: Path) -> None:
    _clip(tmp_path / "ok.avi")
    (tmp_path / "bad.avi").write_bytes(b"not a video at all")
    rows = [
        Sample("ok.avi", "s1", label="pain", start=0.0, end=0.5),
        Sample("ok.avi", "s1", label="no_pain", start=0.5, end=9.0),
        Sample("ok.avi", "s2", label="pain", start=5.0, end=6.0),
        Sample("bad.avi", "s2", label="no_pain"),
    ]
    report = validate_manifest(write_manifest(rows, tmp_path / "m.csv"))
    errors = "\n".join(report.errors)
    assert "row 4, path 'ok.avi': the segment starts at 5 s, the video lasts 0.750 s" in errors
    assert "row 5, path 'bad.avi'" in errors and "cannot open video" in errors
    assert any("row 3" in w and "ends at 9 s, after the video" in w for w in report.warnings)
    assert not any("row 2" in e for e in report.errors)


# The generic videos CSV


def test_import_videos_reads_the_synthetic_segments(synth: Path) -> None:
    result = import_videos(synth / "segments.csv", dataset="synthetic-video")
    assert result.problems == [] and len(result.samples) == 2
    first, second = result.samples
    assert (first.start, first.end, second.start, second.end) == (0.0, 1.5, 1.5, 3.0)
    assert first.subject == "synvid0_01" and first.label in ("pain", "no_pain") and first.is_video


def test_import_videos_reports_every_bad_row_with_its_number(tmp_path: Path) -> None:
    _clip(tmp_path / "a.avi")
    (tmp_path / "broken.avi").write_bytes(b"\x00" * 64)
    (tmp_path / "still.png").write_bytes(b"png")
    listing = _csv(tmp_path / "list.csv", ["path", "subject", "label", "start", "end"], [
        ["a.avi", "b1", "pain", "0", "0.5"],
        ["missing.avi", "b1", "pain", "", ""],
        ["a.avi", "b1", "hurt", "", ""],
        ["broken.avi", "b2", "no_pain", "", ""],
        ["still.png", "b2", "no_pain", "", ""],
        ["a.avi", "b1", "no_pain", "0.5", "0.2"],
        ["a.avi", "b1", "no_pain", "4", "5"],
        ["a.avi", "b1", "pain", "0", "0.5"],
        ["a.avi", "", "pain", "", ""],
        ["a.avi", "b3", "", "0.5", ""],
    ])
    result = import_videos(listing)
    problems = {p.where: p.reason for p in result.problems}
    assert set(problems) == {f"list.csv: row {n}" for n in range(3, 11)}
    assert "video 'missing.avi' not found" in problems["list.csv: row 3"]
    assert "unknown label 'hurt'" in problems["list.csv: row 4"]
    assert problems["list.csv: row 5"].startswith("undecodable video:")
    assert "broken.avi" in problems["list.csv: row 5"]
    assert "not a video file" in problems["list.csv: row 6"]
    assert "ends (0.2 s) before it starts" in problems["list.csv: row 7"]
    assert "starts at 4 s, the video lasts 0.750 s" in problems["list.csv: row 8"]
    assert "duplicate of row 2" in problems["list.csv: row 9"]
    assert "empty 'subject'" in problems["list.csv: row 10"]
    assert [(s.start, s.end, s.label) for s in result.samples] == [(0.0, 0.5, "pain"), (0.5, None, "")]
    assert any("row 11" in w.where and "empty label" in w.reason for w in result.warnings)


# iCOPEvid


def test_icopevid_names() -> None:
    names = ("S01_pain_2", "s3-nopain-1", "S05_no_pain", "S2 Non-Pain", "S7pain3")
    assert [label_in_name(n) for n in names] == ["pain", "no_pain", "no_pain", "no_pain", "pain"]
    assert [label_in_name(n) for n in ("painful", "S01_rest", "spain")] == ["", "", ""]
    assert [subject_in_name(n) for n in ("S3_pain", "subject_12", "baby-07x", "clip", "S1234")] == [
        "icopevid_S03", "icopevid_S12", "icopevid_S07", "", ""]


@pytest.fixture()
def icopevid(tmp_path: Path) -> Path:
    root = tmp_path / "iCOPEvid"
    for name in ("S01/S01_F_pain_1.avi", "S01/S01_F_nopain_1.avi", "nopain/baby03-rest-1.avi",
                 "pain/S02_M_2.avi", "Subject 04/clip.avi", "pain/noname.avi", "pain/S05_nopain.avi"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        _clip(root / name)
    (root / "S06_pain_1.mp4").write_bytes(b"not an mp4")
    (root / "readme.txt").write_text("iCOPEvid")
    return root


def test_icopevid_reads_folders_and_names_and_reports_the_rest(icopevid: Path) -> None:
    result = import_icopevid(icopevid)
    rows = {Path(s.path).relative_to(icopevid).as_posix(): s for s in result.samples}
    assert {k: (s.subject, s.label, s.sex, s.stimulus) for k, s in rows.items()} == {
        "S01/S01_F_pain_1.avi": ("icopevid_S01", "pain", "F", ""),
        "S01/S01_F_nopain_1.avi": ("icopevid_S01", "no_pain", "F", ""),
        "nopain/baby03-rest-1.avi": ("icopevid_S03", "no_pain", "", "rest"),
        "pain/S02_M_2.avi": ("icopevid_S02", "pain", "M", ""),
        "pain/S05_nopain.avi": ("icopevid_S05", "pain", "", ""),
    }
    assert all(s.dataset == "icopevid" for s in result.samples)
    problems = {p.where: p.reason for p in result.problems}
    assert "no pain / no-pain mark" in problems["Subject 04/clip.avi"]
    assert "no subject" in problems["pain/noname.avi"]
    assert problems["S06_pain_1.mp4"].startswith("undecodable video:")
    warnings = [str(w) for w in result.warnings]
    assert any("pain/S05_nopain.avi: its folder says pain, its name no_pain" in w for w in warnings)
    assert any("non-video file(s) skipped (.txt x1)" in w for w in warnings)


def test_icopevid_labels_csv_fills_in_and_overrides(icopevid: Path, tmp_path: Path) -> None:
    labels = _csv(tmp_path / "labels.csv", ["file", "label", "subject"], [
        ["clip.avi", "no_pain", "B4"], ["S01_F_pain_1", "no_pain", ""], ["gone.avi", "pain", ""],
    ])
    result = import_icopevid(icopevid, labels)
    by_name = {Path(s.path).name: s for s in result.samples}
    assert by_name["clip.avi"].label == "no_pain" and by_name["clip.avi"].subject == "icopevid_S04"
    assert by_name["S01_F_pain_1.avi"].label == "no_pain"
    assert any("labels.csv row 3 says no_pain, the name says pain" in str(w) for w in result.warnings)
    assert any(p.where == "labels.csv: row 4" and "'gone.avi' not found" in p.reason for p in result.problems)


def test_cli_imports_icopevid_and_videos(icopevid: Path, synth: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["data", "import", "icopevid", str(icopevid), "--out", str(tmp_path / "i.csv")]
    done = runner.invoke(app, args, env=WIDE)
    assert done.exit_code == 0, done.output
    assert "not imported (3)" in done.output and len(read_manifest(tmp_path / "i.csv")) == 5
    done = runner.invoke(app, ["data", "import", "videos", str(synth / "segments.csv"), "--out",
                               str(synth / "m.csv")], env=WIDE)
    assert done.exit_code == 0, done.output
    assert [s.end for s in read_manifest(synth / "m.csv")] == [1.5, 3.0]


# faces extract on video rows


def test_extract_samples_frames_with_their_time(synth: Path, tmp_path: Path) -> None:
    (synth / "videos" / "broken.avi").write_bytes(b"\x00" * 128)
    segments = import_videos(synth / "segments.csv")
    segments.samples.append(Sample(str(synth / "videos" / "broken.avi"), "x", label="pain"))
    manifest, cache = segments.write(synth / "frames.csv"), tmp_path / "cache"
    summary = extract_faces(
        manifest, tmp_path / "out", detector="box", fps=2.0, frame_boxes=synth / "truth.csv", cache_dir=cache
    )
    faces = read_manifest(tmp_path / "out" / "faces.csv")
    truth = {int(r["frame"]): r for r in _rows(synth / "truth.csv")}
    # 2 frames/s of a 4-frames/s video: frames 0, 2, 4, ..., 10, split between the two segments.
    sampled = sorted(f.frame for f in faces) + sorted(
        int(reason.split()[1]) for path, reason in summary.missed if reason.startswith("frame"))
    assert sorted(sampled) == [0, 2, 4, 6, 8, 10]
    for face in faces:
        assert face.source_path.endswith("videos/s01.avi") and face.t == face.frame / 4
        assert truth[face.frame]["face_visible"] == "1" and face.label in ("pain", "no_pain")
        assert (face.start, face.end) == ((0.0, 1.5) if face.t < 1.5 else (1.5, 3.0))
        assert (tmp_path / "out" / face.path).is_file()
    for path, reason in summary.missed:
        if reason.startswith("frame"):
            assert truth[int(reason.split()[1])]["face_visible"] == "0" and "out of view" in reason
    missed = {p: r for p, r in summary.missed if not r.startswith("frame")}
    reason = missed["videos/broken.avi"]
    assert reason.startswith("unreadable video:") and "broken.avi" in reason
    assert summary.as_dict()["videos"] == 2 and summary.total == summary.found + len(summary.missed)
    whole = write_manifest([Sample("videos/s01.avi", "synvid0_01", label="pain")], synth / "whole.csv")
    again = extract_faces(
        whole, tmp_path / "out2", detector="box", fps=2.0, frame_boxes=synth / "truth.csv", cache_dir=cache
    )
    assert again.found == len(faces) and again.cached == len(faces)
    assert {f.start for f in read_manifest(tmp_path / "out2" / "faces.csv")} == {None}


def test_cli_extract_on_videos(synth: Path, tmp_path: Path) -> None:
    manifest = write_manifest([Sample("videos/s01.avi", "synvid0_01", label="pain")], synth / "one.csv")
    done = CliRunner().invoke(app, [
        "faces", "extract", str(manifest), "--out", str(tmp_path / "o"), "--detector", "box", "--fps", "4",
        "--frame-boxes", str(synth / "truth.csv"), "--cache-dir", str(tmp_path / "c"),
    ], env=WIDE)
    assert done.exit_code == 0, done.output
    assert len(read_manifest(tmp_path / "o" / "faces.csv")) + len(_rows(tmp_path / "o" / "missed.csv")) == 12
    args = ["faces", "extract", str(manifest), "--out", str(tmp_path / "p"), "--fps", "0"]
    bad = CliRunner().invoke(app, args)
    assert bad.exit_code == 2 and "--fps must be above 0" in bad.output
