"""The app's view of the predictor: any object with ``assess_bytes`` and a few attributes will do.

The real one is ``neopain.inference.Predictor`` (ONNX Runtime, no torch). Loading happens lazily, once,
so the pages work (and say so) when no model is configured.
"""

from __future__ import annotations

import threading
import zlib
from pathlib import Path
from typing import Any, Protocol


class AssessmentLike(Protocol):
    status: str
    reason: str | None
    label: str | None
    probability: float | None
    confidence: float | None
    box: Any
    timings_ms: dict[str, float]
    model_id: str


class PredictorLike(Protocol):
    model_id: str
    synthetic: bool
    card: dict[str, Any] | None

    def assess_bytes(self, data: bytes, *, stream: str | None = None) -> AssessmentLike: ...


class ModelUnavailable(RuntimeError):
    """No model configured, or the file cannot be loaded; the message says which."""


def load_predictor(model_path: Path | None, detector: str, lanes: int = 1) -> PredictorLike:
    if model_path is None:
        raise ModelUnavailable("no model configured: start the server with --model FILE")
    if not Path(model_path).is_file():
        raise ModelUnavailable(f"model file not found: {model_path}")
    from neopain.inference import Predictor  # torch-free; imported late so pages work without a model

    # Each assessment is one camera: its face is followed from frame to frame (``stream``), a still
    # frame or a camera's first frame is searched at every quarter turn.
    # Side by side, each lane's classifier calls run on one thread: two threads each would fight for the cores.
    threads = 2 if lanes == 1 else 1
    return Predictor.from_files(model_path, detector=detector, rotations="follow", threads=threads)


class PredictorHolder:
    """Holds the process's predictor. Detectors keep state, so one frame at a time goes through a
    predictor; with ``lanes`` above 1, twins of it (the same classifier, detectors of their own) take
    frames side by side, each camera always in the same lane (its face is followed there)."""

    def __init__(self, predictor: PredictorLike | None, model_path: Path | None, detector: str,
                 lanes: int = 1) -> None:  # fmt: skip
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, got {lanes}")
        self._predictor = predictor
        self._model_path = model_path
        self._detector = detector
        self.lanes = lanes
        self._load_lock = threading.Lock()
        self.run_lock = threading.Lock()  # lane 0's: stills, clips and explanations go through it
        self._lanes: list[tuple[PredictorLike, threading.Lock]] | None = None
        self._error: str | None = None

    def get(self) -> PredictorLike:
        with self._load_lock:
            if self._predictor is None:
                if self._error is not None:
                    raise ModelUnavailable(self._error)
                try:
                    self._predictor = load_predictor(self._model_path, self._detector, self.lanes)
                except ModelUnavailable as exc:
                    self._error = str(exc)
                    raise
                except Exception as exc:  # a broken ONNX file, a missing detector weight
                    self._error = f"model cannot be loaded: {exc}"
                    raise ModelUnavailable(self._error) from exc
            return self._predictor

    def peek(self) -> PredictorLike | None:
        """The predictor if it loads, else None (pages show a note instead of failing)."""
        try:
            return self.get()
        except ModelUnavailable:
            return None

    def lane(self, stream: str | None) -> tuple[PredictorLike, threading.Lock]:
        """The predictor ``stream``'s frames go through and the lock that takes them one at a time (a
        frame without a stream: lane 0). A predictor that cannot make twins serves in one lane."""
        predictor = self.get()
        with self._load_lock:
            if self._lanes is None:
                twin = getattr(predictor, "twin", None)
                twins = [twin() for _ in range(self.lanes - 1)] if callable(twin) else []
                self._lanes = [(predictor, self.run_lock)] + [(t, threading.Lock()) for t in twins]
            lanes = self._lanes
        return lanes[0 if stream is None else zlib.crc32(stream.encode()) % len(lanes)]

    def assess(self, data: bytes, stream: str | None = None) -> AssessmentLike:
        """One frame; ``stream`` names its camera (the predictor follows that camera's face)."""
        predictor, lock = self.lane(stream)
        with lock:
            return predictor.assess_bytes(data, stream=stream)

    def assess_image(self, image_bgr: Any, stream: str | None = None) -> AssessmentLike:
        """A decoded BGR frame (a clip's): the predictor's own ``assess``, else as PNG bytes (lossless)."""
        predictor, lock = self.lane(stream)
        direct = getattr(predictor, "assess", None)
        if direct is not None:
            with lock:
                return direct(image_bgr, stream=stream)
        import cv2

        ok, encoded = cv2.imencode(".png", image_bgr)
        if not ok:
            raise ModelUnavailable("a frame of the clip could not be handed to the model")
        return self.assess(encoded.tobytes(), stream)

    def nfcs_version(self) -> str | None:
        """The served model's NFCS version when it reads the NFCS actions, else None (pain only)."""
        predictor = self.get()
        classifier = getattr(predictor, "classifier", None)
        if classifier is not None:
            config = predictor.config  # type: ignore[attr-defined]
            return str(config.nfcs_version) if classifier.has_actions else None
        version = getattr(predictor, "nfcs_version", None)
        return str(version) if version else None
