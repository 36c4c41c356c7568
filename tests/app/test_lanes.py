"""Assessment lanes: twins of the predictor take frames side by side, each camera keeping to its lane."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from _appkit import astronaut_jpeg

from neopain.app.core.inference import PredictorHolder
from neopain.faces import create_detector
from neopain.inference.predictor import Predictor

CAMERAS = [f"assessment-{i}" for i in range(24)]


def test_a_twin_shares_the_classifier_and_has_its_own_detector(real_predictor) -> None:
    twin = real_predictor.twin()
    assert twin.classifier is real_predictor.classifier
    assert twin.detector is not real_predictor.detector
    assert twin.detector.signature == real_predictor.detector.signature
    assert twin.crop_settings == real_predictor.crop_settings and twin.threshold == real_predictor.threshold


def test_a_predictor_built_around_a_detector_object_has_no_twins(onnx_model) -> None:
    predictor = Predictor.from_files(onnx_model, detector=create_detector("yunet"))
    with pytest.raises(TypeError, match="by name"):
        predictor.twin()


def test_each_camera_keeps_to_one_lane_and_another_lane_is_not_held_up(onnx_model) -> None:
    holder = PredictorHolder(None, onnx_model, "yunet", lanes=2)
    assert len({id(holder.lane(camera)[0]) for camera in CAMERAS}) == 2
    assert all(holder.lane(camera) == holder.lane(camera) for camera in CAMERAS)
    assert holder.lane(None)[1] is holder.run_lock  # stills, clips and explanations: lane 0
    busy, lock = holder.lane(CAMERAS[0])
    other = next(camera for camera in CAMERAS if holder.lane(camera)[0] is not busy)
    frame = astronaut_jpeg(320)
    with lock, ThreadPoolExecutor(1) as pool:  # lane of CAMERAS[0] taken: the other camera still goes on
        answer = pool.submit(holder.assess, frame, other).result(timeout=60)
    assert answer.status == "ok"
    assert holder.lane(other)[0]._streams.get(other) is not None  # its face is followed in its own lane
    assert other not in busy._streams


def test_one_lane_is_the_default_and_lanes_below_one_are_refused(onnx_model) -> None:
    holder = PredictorHolder(None, onnx_model, "yunet")
    assert {id(holder.lane(camera)[0]) for camera in CAMERAS} == {id(holder.get())}
    with pytest.raises(ValueError, match="at least 1"):
        PredictorHolder(None, onnx_model, "yunet", lanes=0)


def test_a_predictor_without_twins_serves_in_one_lane(onnx_model) -> None:
    from _appkit import ScriptedPredictor

    holder = PredictorHolder(ScriptedPredictor(), None, "yunet", lanes=4)
    assert {id(holder.lane(camera)[0]) for camera in CAMERAS} == {id(holder.get())}


def test_the_setting_reaches_the_app_s_holder(tmp_path, monkeypatch) -> None:
    from _appkit import ScriptedPredictor
    from conftest import make_settings

    from neopain.app.main import create_app

    monkeypatch.setenv("NEOPAIN_ASSESS_LANES", "3")
    settings = make_settings(tmp_path / "data")
    assert settings.assess_lanes == 3
    assert create_app(settings, ScriptedPredictor()).state.neopain.predictor.lanes == 3
    monkeypatch.setenv("NEOPAIN_ASSESS_LANES", "0")
    with pytest.raises(ValueError, match="assess_lanes"):
        make_settings(tmp_path / "other")
