"""The torch-free predictor: a real photo end to end, every quality-gate reason, streams, bad files, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import deque
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import neopain.cli.export  # noqa: F401  (registers the commands on the app)
from neopain.cli.apps import app
from neopain.export.onnx_io import load_model, save_atomic, set_metadata
from neopain.export.quant import quantize
from neopain.export.to_onnx import export_checked
from neopain.inference.predictor import STAGES, Assessment, ModelFileError, Predictor
from neopain.inference.quality import REASONS, QualityGate, sharpness
from neopain.inference.stream import StreamPredictor
from neopain.pixels.imageio import ImageError
from tests._export_helpers import astronaut_bgr, cue_crops, make_checkpoint, on_canvas

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    float_path = export_checked(make_checkpoint(folder, steps=12), folder / "model.onnx").path
    int8 = quantize(float_path, folder / "model.int8.onnx", "static", calibration_crops=cue_crops(16, 64, 1)[0])
    return {"float": float_path, "int8": int8}


@pytest.fixture(scope="module")
def predictor(models) -> Predictor:
    return Predictor.from_files(models["int8"])


def _jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def test_importing_the_predictor_does_not_import_torch(models) -> None:
    code = (
        "import sys, numpy as np\n"
        "import neopain.inference.predictor, neopain.inference.stream, neopain.export.quant, neopain.export.table\n"
        "from neopain.inference.predictor import Predictor\n"
        f"p = Predictor.from_files({str(models['int8'])!r})\n"
        "p.assess(np.full((120, 160, 3), 128, np.uint8))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('clean')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          check=False)
    assert done.returncode == 0 and "clean" in done.stdout, done.stderr


def test_real_photo_goes_through_with_every_timing(predictor: Predictor) -> None:
    frame = on_canvas(astronaut_bgr())  # 640 x 480, the face near (240, 60)
    result = predictor.assess_bytes(_jpeg(frame), "astronaut.jpg")
    assert result.status == "ok" and result.reason is None, result
    x, y, w, h = result.box
    assert 220 <= x + w / 2 <= 300 and 80 <= y + h / 2 <= 160 and w > 60
    assert len(result.landmarks) == 5 and all(len(point) == 2 for point in result.landmarks)
    assert set(result.timings_ms) == set(STAGES)
    assert all(result.timings_ms[stage] > 0 for stage in STAGES)
    assert result.timings_ms["total"] >= result.timings_ms["detect"] + result.timings_ms["classify"]
    assert 0.0 <= result.probability <= 1.0 and result.confidence >= 0.5
    assert result.label == ("pain" if result.probability >= 0.5 else "no_pain")
    assert result.crop.shape == (224, 224, 3) and result.model_id.endswith("-int8")
    data = json.loads(json.dumps(result.to_dict()))
    assert "crop" not in data and data["status"] == "ok" and data["timings_ms"]["decode"] > 0
    assert predictor.classify_crops([result.crop])[0] == pytest.approx(result.probability, abs=1e-6)


def _blurred(image: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), 3)


CRAFTED = {
    "no_face": lambda a: np.full((480, 640, 3), 128, np.uint8),
    "several_faces": lambda a: on_canvas(np.hstack([a, a]), scale=0.625, offset=(0, 80)),
    "face_too_small": lambda a: on_canvas(a, scale=0.35, offset=(200, 150)),
    "too_dark": lambda a: on_canvas((a * 0.15).astype(np.uint8), fill=10),
    "too_blurred": lambda a: on_canvas(_blurred(a)),
}


@pytest.mark.parametrize("reason", REASONS)
def test_each_quality_gate_reason_from_a_crafted_frame(predictor: Predictor, reason: str) -> None:
    result = predictor.assess(CRAFTED[reason](astronaut_bgr()))
    assert (result.status, result.reason) == ("no_assessment", reason)
    assert result.label is None and result.probability is None and result.timings_ms["classify"] == 0.0
    assert (result.box is None) == (reason == "no_face")


def test_a_black_frame_is_too_dark_rather_than_faceless(predictor: Predictor) -> None:
    assert predictor.assess(np.zeros((480, 640, 3), np.uint8)).reason == "too_dark"


def test_gate_thresholds_are_configurable(models) -> None:
    lenient = Predictor.from_files(models["int8"], gate=QualityGate(min_face_px=10))
    assert lenient.assess(CRAFTED["face_too_small"](astronaut_bgr())).status == "ok"
    assert sharpness(_blurred(astronaut_bgr())[60:180, 170:280]) < QualityGate().min_sharpness


def test_bad_images_raise_image_error(predictor: Predictor) -> None:
    with pytest.raises(ImageError, match="upload.bin"):
        predictor.assess_bytes(b"not an image", "upload.bin")
    with pytest.raises(ImageError, match="BGR"):
        predictor.assess(np.zeros((10, 10), np.uint8))


def test_bad_model_files_raise_model_file_error(models, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07 definitely not protobuf" * 10)
    foreign = load_model(models["float"])
    set_metadata(foreign, {})
    not_ours = save_atomic(foreign, tmp_path / "foreign.onnx")
    for path, message in ((tmp_path / "missing.onnx", "not found"), (garbage, "not a readable ONNX"),
                          (not_ours, "not a neopain model")):
        with pytest.raises(ModelFileError, match=message) as info:
            Predictor.from_files(path)
        assert path.name in str(info.value)


class _Scripted:
    """A stand-in predictor that returns prepared assessments, to test the stream logic exactly."""

    def __init__(self, predictor: Predictor, results: list[Assessment]) -> None:
        self.config, self.threshold = predictor.config, predictor.threshold
        self.results = deque(results)

    def assess(self, image: np.ndarray) -> Assessment:
        return self.results.popleft()


def _result(p: float | None, box=(100.0, 100.0, 80.0, 80.0)) -> Assessment:
    base = Assessment("no_assessment", "no_face", None, None, None, box, None, {}, "m")
    return base if p is None else base.with_probability(p, ("no_pain", "pain"))


def test_stream_smooths_and_resets_when_the_face_is_lost(predictor: Predictor) -> None:
    script = [_result(0.2), _result(0.8), _result(None), _result(0.8), _result(0.2, box=(400.0, 300.0, 80.0, 80.0))]
    stream = StreamPredictor(_Scripted(predictor, script), alpha=0.5)
    frame = np.zeros((4, 4, 3), np.uint8)
    got = [stream.assess(frame) for _ in script]
    assert got[0].probability == pytest.approx(0.2) and got[1].probability == pytest.approx(0.5)
    assert got[1].raw_probability == pytest.approx(0.8) and got[1].label == "pain"
    assert got[2].status == "no_assessment"
    assert got[3].probability == pytest.approx(0.8), "smoothing must restart after a lost face"
    assert got[4].probability == pytest.approx(0.2), "smoothing must restart when the face jumps"
    real = StreamPredictor(predictor, alpha=0.3)
    frames = [on_canvas(astronaut_bgr(), offset=(64 + 4 * i, 0)) for i in range(3)]
    assert all(r.ok and r.raw_probability is not None for r in map(real.assess, frames))


def _write_video(path: Path, frames: list[np.ndarray]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (640, 480))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def test_predict_cli_writes_csv_and_json(models, tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    (images / "face.jpg").write_bytes(_jpeg(on_canvas(astronaut_bgr())))
    cv2.imwrite(str(images / "blank.png"), np.full((120, 160, 3), 128, np.uint8))
    (images / "broken.jpg").write_bytes(b"not a jpeg")
    video = _write_video(tmp_path / "clip.avi", [on_canvas(astronaut_bgr(), offset=(60 + 5 * i, 0)) for i in range(4)])
    runner = CliRunner()
    out_csv = tmp_path / "r.csv"
    done = runner.invoke(app, ["predict", str(models["int8"]), str(images), "--video", str(video), "--out", str(out_csv)])
    assert done.exit_code == 0, done.output
    import csv

    rows = list(csv.DictReader(out_csv.open()))
    by_name = {Path(r["source"]).name: r for r in rows if r["frame"] == ""}
    assert by_name["face.jpg"]["status"] == "ok" and float(by_name["face.jpg"]["total_ms"]) > 0
    assert by_name["blank.png"]["reason"] == "no_face"
    assert by_name["broken.jpg"]["status"] == "error" and "broken.jpg" in by_name["broken.jpg"]["error"]
    assert [r["frame"] for r in rows if r["frame"] != ""] == ["0", "1", "2", "3"]
    out_json = tmp_path / "r.json"
    done = runner.invoke(app, ["predict", str(models["int8"]), str(images / "face.jpg"), "--out", str(out_json)])
    assert done.exit_code == 0 and json.loads(out_json.read_text())[0]["label"] in ("pain", "no_pain")
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"nope")
    refused = runner.invoke(app, ["predict", str(models["int8"]), "--video", str(bad)])
    assert refused.exit_code == 2 and "bad.avi" in refused.output
