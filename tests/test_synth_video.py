"""Synthetic videos: same seed same bytes, phases and actions as planned, the face leaving the view, regions
hidden under a hand, clear errors, the CLI; and the stills' scene renderer unchanged by sharing it."""

from __future__ import annotations

import csv
import hashlib
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from neopain.cli import app
from neopain.data.synth_timeline import PHASES, VideoConfig, plan
from neopain.data.synth_video import TRUTH_COLUMNS, generate_videos
from neopain.data.synthetic import SynthConfig, identity_for, render_image
from neopain.pixels.videoio import probe, read_frames
from neopain.scales.nfcs import ACTION_REGION, ACTIONS, REGIONS

TINY = VideoConfig(subjects=2, seconds=3.0, fps=4.0, size=96, seed=0)


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _rows(file: Path) -> list[dict[str, str]]:
    with open(file, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_videos(tmp_path_factory.mktemp("vid") / "a", TINY).parent


def test_stills_keep_their_bytes_with_the_shared_scene_renderer() -> None:
    """Pixel hashes taken before render_scene was split out of render_image. These three stills show no
    NFCS action, so changing how actions are drawn leaves them alone; a deliberate change to the identity,
    the cot or the camera must update them."""
    config = SynthConfig(seed=0, subjects=3, images_per_subject=4, size=96)
    pinned = {
        (1, 0): ("1239b1593b919fcc", "c52db708a41aa54f"),
        (1, 1): ("4228516977ff8ead", "faf9aef65879d965"),
        (2, 2): ("4f9cbf43b6a11e17", "0d2bbc8497d00aa2"),
    }
    for (subject, k), (image_hash, mask_hash) in pinned.items():
        still = render_image(config, identity_for(config, subject), subject, k)
        assert sum(still.expression.present().values()) == 0
        assert hashlib.sha256(still.image.tobytes()).hexdigest()[:16] == image_hash, (subject, k)
        assert hashlib.sha256(still.mask.tobytes()).hexdigest()[:16] == mask_hash, (subject, k)


def test_same_seed_gives_identical_bytes(tiny: Path, tmp_path: Path) -> None:
    again = generate_videos(tmp_path / "b", TINY).parent
    first = _digest(tiny)
    assert set(first) == {
        "videos/s01.avi", "videos/s02.avi", "truth.csv", "events.csv", "segments.csv", "videos.csv"
    }
    assert first == _digest(again)
    assert _digest(generate_videos(tmp_path / "two", TINY, workers=2).parent) == first  # one baby per worker
    other = generate_videos(tmp_path / "c", VideoConfig(**{**TINY.__dict__, "seed": 1})).parent
    assert _digest(other)["videos/s01.avi"] != first["videos/s01.avi"]


def test_videos_decode_with_the_stated_rate_size_and_frames(tiny: Path) -> None:
    info = probe(tiny / "videos" / "s01.avi")
    assert (info.fps, info.frames, info.width, info.height) == (4.0, 12, 96, 96)
    assert [i for i, _, _ in read_frames(tiny / "videos" / "s02.avi")] == list(range(12))
    videos = _rows(tiny / "videos.csv")
    assert [v["subject"] for v in videos] == ["synvid0_01", "synvid0_02"]
    assert all(v["frames"] == "12" and v["sex"] in ("M", "F") for v in videos)


def test_truth_phases_in_order_and_pain_only_in_the_procedure(tiny: Path) -> None:
    truth = _rows(tiny / "truth.csv")
    assert tuple(truth[0]) == TRUTH_COLUMNS and len(truth) == 24
    for video in ("videos/s01.avi", "videos/s02.avi"):
        rows = [r for r in truth if r["video"] == video]
        assert [int(r["frame"]) for r in rows] == list(range(12))
        phases = [PHASES.index(r["phase"]) for r in rows]
        assert phases == sorted(phases) and set(phases) == {0, 1, 2}
        assert all((r["pain_state"] == "1") == (r["phase"] == "procedure") for r in rows)
        assert all(r["nfcs_score"] == str(sum(int(r[f"nfcs_{a}"]) for a in ACTIONS)) for r in rows)


def test_actions_show_only_inside_their_planned_episodes(tiny: Path) -> None:
    truth = _rows(tiny / "truth.csv")
    for subject in (1, 2):
        timeline = plan(TINY, subject)
        rows = [r for r in truth if r["video"] == f"videos/s{subject:02d}.avi"]
        for row in rows:
            t = float(row["t"])
            for action in ACTIONS:
                on = [e for e in timeline.episodes if e.action == action and e.onset <= t < e.offset]
                if action == "open_lips":  # the lips part for any mouth action that needs them open
                    on += [e for e in timeline.episodes if e.onset <= t < e.offset and e.action in (
                        "mouth_stretch_vertical", "taut_tongue", "tongue_protrusion")]
                present, level = int(row[f"nfcs_{action}"]), float(row[f"i_{action}"])
                assert present == int(level > 0)
                if present:
                    assert on and level >= 0.3, (subject, t, action)
        assert any(int(r["nfcs_score"]) >= 3 for r in rows if r["phase"] == "procedure")
    events = _rows(tiny / "events.csv")
    for event in events:
        inside = [r for r in truth if r["video"] == event["video"]
                  and float(event["onset"]) <= float(r["t"]) < float(event["offset"])]
        assert inside and all(r[f"nfcs_{event['action']}"] == "1" for r in inside)


def test_the_face_leaves_the_view_and_hands_hide_regions(tiny: Path) -> None:
    truth = _rows(tiny / "truth.csv")
    away = [r for r in truth if r["face_visible"] == "0"]
    assert away and all(r["box_x"] == "" and r["hidden"] for r in away)
    assert all(r["box_x"] != "" for r in truth if r["face_visible"] == "1")
    hands = {s: plan(TINY, s).passes for s in (1, 2)}
    whole = [r for r in truth if r["box_x"] and float(r["box_x"]) >= 0 and float(r["box_y"]) >= 0
             and float(r["box_x"]) + float(r["box_w"]) <= 96 and float(r["box_y"]) + float(r["box_h"]) <= 96]
    under = [r for r in whole if r["hidden"]]
    assert under, "a hand passing over the face hides at least one region in some frame"
    for row in under:
        assert set(row["hidden"].split(";")) <= set(REGIONS)
        passes = hands[int(row["video"][-6:-4])]
        assert any(p.at(float(row["t"])) is not None for p in passes), row


def test_without_hands_or_excursions_every_region_shows(tmp_path: Path) -> None:
    config = VideoConfig(subjects=1, seconds=2.0, fps=4.0, size=64, hand_passes=0, away=0)
    truth = _rows(generate_videos(tmp_path, config).parent / "truth.csv")
    assert all(r["face_visible"] == "1" and r["hidden"] == "" for r in truth)
    assert set(ACTION_REGION.values()) == set(REGIONS)


@pytest.mark.parametrize(
    ("change", "field"),
    [({"seconds": 0.0}, "seconds"), ({"seconds": -1.0}, "seconds"), ({"fps": 0.0}, "fps"),
     ({"fps": -2.0}, "fps"), ({"seconds": 0.1, "fps": 1.0}, "not one frame"), ({"subjects": 0}, "subjects")],
)
def test_bad_arguments_name_the_field(change: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        VideoConfig(**change)


def test_cli_writes_the_files_and_refuses_bad_arguments(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["data", "synth-video", "--out", str(tmp_path / "v"), "--subjects", "1", "--seconds", "1",
            "--fps", "4", "--size", "64", "--seed", "3"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert (tmp_path / "v" / "videos" / "s01.avi").is_file()
    assert len(_rows(tmp_path / "v" / "truth.csv")) == 4
    assert _rows(tmp_path / "v" / "videos.csv")[0]["subject"] == "synvid3_01"
    bad = runner.invoke(app, [*args[:3], str(tmp_path / "bad"), *args[4:7], "0", *args[8:]])
    assert bad.exit_code == 2 and "seconds" in bad.output
    assert not (tmp_path / "bad").exists()


def test_frames_differ_and_babies_blink(tiny: Path) -> None:
    frames = [f for _, _, f in read_frames(tiny / "videos" / "s01.avi")]
    assert all(not np.array_equal(a, b) for a, b in pairwise(frames))
    config = VideoConfig(subjects=1, seconds=30.0)
    blinks = plan(config, 1).blinks
    assert len(blinks) >= 4
    assert all(0.15 <= end - start <= 0.35 for start, end in blinks)
    assert all(2.0 <= b[0] - a[1] <= 6.0 for a, b in pairwise(blinks))
