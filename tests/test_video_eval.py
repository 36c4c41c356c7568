"""Observation windows against synthetic video truth (evaluate/video.py) and ``neopain evaluate-video``:
a perfect reader agrees exactly, a blind one never scores a window, the truth file's errors name the row."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from neopain.cli import app
from neopain.data import synthesize_videos
from neopain.evaluate.video import (
    TruthFrame,
    VideoTruthError,
    evaluate_videos,
    frame_pairs,
    read_video_truth,
    window_starts,
)
from neopain.export import export_checked
from neopain.scales.nfcs import ACTIONS
from neopain.scales.windows import FrameReading
from tests._export_helpers import nfcs_checkpoint

FPS = 10
BROW = ("brow_bulge", "eye_squeeze", "nasolabial_furrow")


def _truth(seconds: float, seed: int = 0) -> list[TruthFrame]:
    """A rest -> pain -> rest timeline whose upper-face actions flicker at random during the pain."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(round(seconds * FPS)):
        t = k / FPS
        pain = seconds / 3 <= t < 2 * seconds / 3
        present = {a: int(pain and a in BROW and rng.random() < 0.8) for a in ACTIONS}
        present["open_lips"] = int(rng.random() < 0.3)
        hidden = ("mouth",) if 5 <= t < 6 else ()
        frames.append(TruthFrame(t, not 40 <= t < 41, hidden, present, pain))
    return frames


def _perfect(truth: list[TruthFrame]) -> list[FrameReading]:
    """A reader that sees exactly the truth (probability 1 / 0), blind where the truth is."""
    return [f.reading() for f in truth]


def test_a_perfect_reader_agrees_with_the_truth_exactly() -> None:
    truth = _truth(60)
    result = evaluate_videos({"a.avi": truth}, {"a.avi": _perfect(truth)})
    assert result["frames"]["action_auc"]["brow_bulge"] == pytest.approx(1.0)
    assert result["pipp_r"]["exact"] == pytest.approx(1.0) and result["pipp_r"]["kappa"] == pytest.approx(1.0)
    assert result["pipp_r"]["windows"] == len(window_starts(60, 30)) == 7
    assert result["nfcs_p3"]["icc"] == pytest.approx(1.0) and result["nfcs_p3"]["mae"] == 0
    assert result["pipp_r"]["scored_without_face"] == 0


def test_a_reader_that_confuses_the_states_is_measured_as_such() -> None:
    truth = _truth(60)
    flipped = [FrameReading(r.t, r.face, {a: (1 - p if p is not None else None) for a, p in r.actions.items()})
               for r in _perfect(truth)]
    result = evaluate_videos({"a.avi": truth}, {"a.avi": flipped})
    assert result["frames"]["action_auc"]["brow_bulge"] == pytest.approx(0.0)
    assert result["pipp_r"]["kappa"] < 0 and result["nfcs_p3"]["icc"] < 0.5


def test_a_window_with_no_visible_face_is_never_scored() -> None:
    truth = [TruthFrame(f.t, False, (), f.present, f.pain_state) for f in _truth(40)]
    # The model sees no face either: every window unread, none scored, none counted as calm.
    blind = [FrameReading(f.t, False, {}) for f in truth]
    result = evaluate_videos({"a.avi": truth}, {"a.avi": blind})
    for key in ("pipp_r", "nfcs_p3"):
        assert result[key]["no_face_in_view"] == result[key]["windows"] > 0
        assert result[key]["model_scorable"] == 0 and result[key]["scored_without_face"] == 0
    assert result["pipp_r"]["n"] == 0 and math.isnan(result["nfcs_p3"]["icc"])


def test_model_frames_match_the_nearest_truth_frame_only() -> None:
    truth = _truth(2)
    model = [FrameReading(0.52, True, {}), FrameReading(5.0, True, {})]  # the second lies past the clip
    pairs = frame_pairs(truth, model)
    assert [round(t.t, 2) for t, _ in pairs] == [0.5]


def test_truth_errors_name_the_file_row_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "truth.csv"
    header = ["video", "t", "face_visible", "pain_state", "hidden", *(f"nfcs_{a}" for a in ACTIONS)]
    good = ["s00.avi", "0.0", "1", "0", "", *("0" for _ in ACTIONS)]
    wrong = ["s00.avi", "0.1", "2", "0", "", *("0" for _ in ACTIONS)]
    bad.write_text(",".join(header) + "\n" + ",".join(good) + "\n" + ",".join(wrong) + "\n")
    with pytest.raises(VideoTruthError, match=r"row 3: field 'face_visible' = '2' must be 0 or 1"):
        read_video_truth(bad)
    with pytest.raises(VideoTruthError, match="not found"):
        read_video_truth(tmp_path / "none.csv")
    with pytest.raises(VideoTruthError, match="no truth for video"):
        evaluate_videos({"a.avi": _truth(30)}, {"b.avi": []})


def test_evaluate_video_command_reads_real_videos_with_a_real_model(tmp_path: Path) -> None:
    checkpoint, _ = nfcs_checkpoint(tmp_path / "nfcs")
    model = export_checked(checkpoint, tmp_path / "nfcs.onnx").path
    synthesize_videos(tmp_path / "vid", subjects=2, seconds=32, fps=4, seed=0, size=160)
    out = tmp_path / "eval"
    result = CliRunner().invoke(app, ["evaluate-video", str(model), str(tmp_path / "vid"), "--out", str(out),
                                      "--fps", "4", "--stride", "2"])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    assert data["pipp_r"]["windows"] == 2 * len(window_starts(32, 30, 2)) == 4
    assert data["nfcs_p3"]["windows"] == 2 * len(window_starts(32, 10, 2))
    assert data["pipp_r"]["scored_without_face"] == 0
    assert 0 < data["frames"]["frames"] <= 2 * 32 * 4
    # One video per worker process: the same frames read, the same windows, the same figures.
    two = CliRunner().invoke(app, ["evaluate-video", str(model), str(tmp_path / "vid"), "--out", str(tmp_path / "two"),
                                   "--fps", "4", "--stride", "2", "--jobs", "2"])
    assert two.exit_code == 0, two.output
    again = json.loads((tmp_path / "two" / "results.json").read_text())
    assert again["frames"]["frames"] == data["frames"]["frames"]
    assert again["pipp_r"]["windows"] == data["pipp_r"]["windows"]
    assert again["frames"]["mean_action_auc"] == pytest.approx(data["frames"]["mean_action_auc"], abs=1e-3)
    report = (out / "report.md").read_text()
    assert "subject-independent" in report and "Synthetic data" in report
    missing = CliRunner().invoke(app, ["evaluate-video", str(model), str(tmp_path), "--out", str(out)])
    assert missing.exit_code == 2 and "truth.csv: truth" in missing.output.replace("\n", "")


def test_segment_metrics_score_each_segment_by_its_frames_mean() -> None:
    from neopain.data import Sample
    from neopain.evaluate.segments import segment_metrics

    def frame(video: str, start: float, k: int, label: str) -> Sample:
        return Sample(path=f"crops/{video}_{start}_{k}.png", subject=video, dataset="v", label=label,
                      source_path=f"{video}.avi", start=start, end=start + 20, frame=k, t=start + k)

    samples = [frame("a", 0, k, "pain") for k in range(3)] + [frame("a", 20, k, "no_pain") for k in range(3)]
    samples += [frame("b", 0, k, "no_pain") for k in range(2)]
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    # Frame by frame the pain segment is mixed; averaged over its frames it ranks above both others.
    p = np.array([0.9, 0.2, 0.7, 0.5, 0.4, 0.3, 0.6, 0.5])
    got = segment_metrics(samples, y, p)
    assert got == {"segment_roc_auc": 1.0, "segments": 3.0}
    stills = [Sample(path="x.png", subject="s", dataset="v", label="pain")]
    assert segment_metrics(stills, np.array([1]), np.array([0.5])) == {}


def test_a_baseline_removes_a_fold_that_is_deep_at_rest() -> None:
    truth = _truth(60)
    # This baby's nasolabial fold reads 0.7 at rest: without its baseline every rest frame codes a furrow.
    deep = [FrameReading(r.t, r.face, {**r.actions, "nasolabial_furrow": 1.0 if r.actions.get(
        "nasolabial_furrow") else 0.7}) if r.face else r for r in _perfect(truth)]
    alone = evaluate_videos({"a.avi": truth}, {"a.avi": deep})
    relative = evaluate_videos({"a.avi": truth}, {"a.avi": deep}, baseline_s=15)
    assert relative["baselines"] == 1 and not relative["baselines_refused"]
    item = "nasolabial_furrow"
    assert alone["pipp_r"]["items"][item]["exact"] < 0.5
    assert relative["pipp_r"]["items"][item]["exact"] == pytest.approx(1.0)
