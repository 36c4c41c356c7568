"""``neopain predict MODEL --video CLIP --instrument NAME``: a clip read with a real (tiny) NFCS model, the
instrument scored over its windows, the JSON and HTML reports, and the refusals (short, undecodable, no
NFCS model, items out of range) that leave no report behind."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from neopain.cli import app
from neopain.data import synthesize
from neopain.export import export_checked
from neopain.inference import Predictor, observe_video, timeline_svg
from neopain.inference.observe_report import SYNTHETIC_NOTE, render_html
from neopain.inference.timeline import Series, runs
from neopain.pixels.imageio import read_image
from neopain.pixels.videoio import write_video
from tests._export_helpers import make_checkpoint, nfcs_checkpoint

FPS = 10
GREY = 128


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    """The tiny NFCS model of the NFCS tests (exported), and a pain-only one."""
    folder = tmp_path_factory.mktemp("observe")
    checkpoint, _ = nfcs_checkpoint(folder / "nfcs")
    nfcs = export_checked(checkpoint, folder / "nfcs.onnx").path
    plain = export_checked(make_checkpoint(folder / "plain", steps=0), folder / "plain.onnx").path
    return {"nfcs": nfcs, "plain": plain, "folder": folder}


@pytest.fixture(scope="module")
def faces(files: dict[str, Path]) -> list[np.ndarray]:
    """Synthetic faces (192 px) that the detector finds and the quality gate passes."""
    manifest = synthesize(files["folder"] / "synth", subjects=3, images_per_subject=4, seed=0, size=192)
    predictor = Predictor.from_files(files["nfcs"])
    images = [read_image(p) for p in sorted((manifest.parent / "images").glob("*.png"))]
    read = [image for image in images if predictor.assess(image).ok]
    assert len(read) >= 2, "the synthetic faces should mostly be read"
    return read


def _clip(path: Path, faces: list[np.ndarray], seconds: float, blank: range | None = None) -> Path:
    """A clip at FPS cycling through ``faces`` (one per 0.7 s), frames in ``blank`` a grey frame (no face)."""
    grey = np.full_like(faces[0], GREY) if faces else np.full((192, 192, 3), GREY, np.uint8)
    blank = blank or range(0)
    frames = [grey if (i in blank or not faces) else faces[(i // 7) % len(faces)]
              for i in range(round(seconds * FPS))]
    return write_video(path, frames, FPS)


def _run(*args: str | Path):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["predict", *map(str, args)])


def test_json_has_frames_and_windows_with_proposals(files, faces, tmp_path: Path) -> None:
    clip = _clip(tmp_path / "clip.avi", faces, 22, blank=range(30, 45))
    out = tmp_path / "report.json"
    done = _run(files["nfcs"], "--video", clip, "--instrument", "nfcs", "--out", out)
    assert done.exit_code == 0, done.output
    report = json.loads(out.read_text())
    assert report["note"] == "the model proposes, the clinician decides"
    assert report["synthetic_model"] is False
    assert report["instrument"]["name"] == "nfcs-10" and report["model"]["nfcs_version"] == "nfcs-10"
    assert report["video"]["fps"] == FPS and len(report["frames"]) == 220
    assert report["left_out_s"] == pytest.approx(2.0)
    gap = [f for f in report["frames"] if 3.0 <= f["t"] < 4.5]
    assert gap and all(not f["face"] and f["p_pain"] is None and f["actions"] == {} for f in gap)
    seen = [f for f in report["frames"] if f["face"]]
    assert seen and all(0 <= f["p_pain"] <= 1 and len(f["actions"]) == 10 for f in seen)
    first, second = report["windows"]
    assert (first["start"], first["end"], second["start"]) == (0.0, 10.0, 10.0)
    assert first["readable_share"] < second["readable_share"] <= 1.0  # the grey stretch is in the first
    for window in report["windows"]:
        assert window["status"] == "scored" and isinstance(window["total"], int)
        proposals = window["proposals"].values()
        assert all(p["value"] in (0, 1) and "readable frames" in p["reason"] for p in proposals)
    assert "W1 0-10 s" in done.output


def test_pipp_r_proposes_the_face_and_needs_the_nurse_for_a_total(files, faces, tmp_path: Path) -> None:
    clip = _clip(tmp_path / "long.avi", faces, 30)
    out = tmp_path / "pipp.json"
    done = _run(files["nfcs"], "--video", clip, "--instrument", "pipp-r", "--fps", "5", "--out", out)
    assert done.exit_code == 0, done.output
    (window,) = json.loads(out.read_text())["windows"]
    assert set(window["proposals"]) == {"brow_bulge", "eye_squeeze", "nasolabial_furrow"}
    assert all(p["value"] is not None for p in window["proposals"].values())
    assert window["total"] is None and window["status"] == "needs entered items"
    assert "heart rate" in window["message"] and "heart_rate" in window["missing"]
    entered = ["--entered", "heart_rate=1", "--entered", "spo2=0", "--entered", "gestational_age=2",
               "--entered", "behavioural_state=3"]
    done = _run(files["nfcs"], "--video", clip, "--instrument", "pipp-r", "--fps", "5", *entered,
                "--out", out)
    assert done.exit_code == 0, done.output
    (window,) = json.loads(out.read_text())["windows"]
    assert window["status"] == "scored" and isinstance(window["total"], int) and window["total"] >= 6


def test_a_clip_with_no_face_is_not_scorable_anywhere(files, tmp_path: Path) -> None:
    clip = _clip(tmp_path / "empty.avi", [], 20)
    out = tmp_path / "empty.json"
    done = _run(files["nfcs"], "--video", clip, "--instrument", "nfcs-p3", "--out", out)
    assert done.exit_code == 0, done.output
    windows = json.loads(out.read_text())["windows"]
    assert len(windows) == 2
    for window in windows:
        assert window["status"] == "not scorable" and window["total"] is None
        assert window["readable_share"] == 0
        assert all(p["value"] is None for p in window["proposals"].values())
        assert window["message"].startswith("not scorable: 0 of 10 seconds readable")


def test_html_holds_the_timeline_the_scores_and_the_reminder(files, faces, tmp_path: Path) -> None:
    clip = _clip(tmp_path / "clip.avi", faces, 12, blank=range(20, 30))
    out = tmp_path / "report.html"
    done = _run(files["nfcs"], "--video", clip, "--instrument", "nfcs", "--out", out)
    assert done.exit_code == 0, done.output
    page = out.read_text()
    assert page.count("<svg") == 1 and "</svg>" in page and "<script" not in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', ""), "self-contained"
    assert "The model proposes, the clinician decides." in page
    assert "W1: score" in page and "readable" in page and "<table>" in page
    assert SYNTHETIC_NOTE not in page
    predictor = Predictor.from_files(files["nfcs"])
    synthetic = replace(observe_video(predictor, clip, "nfcs"), synthetic=True)
    assert SYNTHETIC_NOTE in render_html(synthetic)


@pytest.mark.parametrize("instrument", ["pipp-r", "nfcs"])
def test_a_clip_shorter_than_a_window_is_refused_naming_it(files, faces, tmp_path: Path,
                                                           instrument: str) -> None:
    clip = _clip(tmp_path / "short.avi", faces, 6)
    out = tmp_path / "short.json"
    done = _run(files["nfcs"], "--video", clip, "--instrument", instrument, "--out", out)
    assert done.exit_code == 2 and "short.avi" in done.output and "shorter than one" in done.output
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["short.avi"]


def test_undecodable_clips_no_nfcs_model_and_bad_items_are_clear_errors(files, faces, tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    done = _run(files["nfcs"], "--video", text, "--instrument", "pipp-r", "--out", tmp_path / "r.html")
    assert done.exit_code == 2 and "notes.mp4" in done.output
    clip = _clip(tmp_path / "clip.avi", faces, 10)
    done = _run(files["plain"], "--video", clip, "--instrument", "nfcs", "--out", tmp_path / "r.html")
    assert done.exit_code == 2 and "plain.onnx" in done.output and "NFCS" in done.output
    done = _run(files["nfcs"], "--video", clip, "--instrument", "nfcs-p3", "--entered", "brow_bulge=11")
    assert done.exit_code == 2 and "brow_bulge" in done.output and "out of range" in done.output
    done = _run(files["nfcs"], "--video", clip, "--instrument", "pipp-r", "--entered", "heart_rate=fast")
    assert done.exit_code == 2 and "heart_rate" in done.output
    done = _run(files["nfcs"], "--video", clip, "--instrument", "pain-o-meter")
    assert done.exit_code == 2 and "unknown instrument" in done.output
    done = _run(files["nfcs"], "--video", clip, "--instrument", "nfcs", "--out", tmp_path / "r.pdf")
    assert done.exit_code == 2 and "r.pdf" in done.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi", "notes.mp4"]


def test_the_plain_predict_video_rows_are_unchanged(files, faces, tmp_path: Path) -> None:
    clip = _clip(tmp_path / "clip.avi", faces, 1)
    out = tmp_path / "rows.json"
    done = _run(files["nfcs"], "--video", clip, "--out", out, "--every", "2")
    assert done.exit_code == 0, done.output
    rows = json.loads(out.read_text())
    assert [r["frame"] for r in rows] == [0, 2, 4, 6, 8] and rows[1]["time_ms"] == pytest.approx(200.0)


def test_timeline_lines_break_at_gaps_and_holes_in_time() -> None:
    t = [0.0, 0.1, 0.2, 0.3, 0.4, 1.5, 1.6]
    v = [0.1, 0.2, None, 0.4, float("nan"), 0.6, 0.7]
    assert runs(t, v, max_step_s=0.15) == [[(0.0, 0.1), (0.1, 0.2)], [(0.3, 0.4)], [(1.5, 0.6), (1.6, 0.7)]]
    svg = timeline_svg(2.0, [Series("p", t, v)], [], "demo", max_step_s=0.15)
    assert svg.count("<polyline") == 2 and svg.count("<circle") == 1
