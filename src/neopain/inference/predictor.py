"""The bedside predictor: image -> face -> the training crop -> ONNX classifier -> an ``Assessment``.

ONNX Runtime, OpenCV and numpy only: importing this module never imports torch (a test checks it).
The classifier's preprocessing comes from the model file's metadata and the crop from
``neopain.faces.crop``, the very code that cut the training faces. A quality gate
(``neopain.inference.quality``) answers "no assessment" with a reason instead of guessing.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from neopain.faces import (
    CropSettings,
    Face,
    FaceDetector,
    choose_face,
    create_detector,
    crop_with,
    second_look,
    transform_points,
    upright_detector,
)
from neopain.inference.model import META_CROP, ModelFileError, OnnxClassifier
from neopain.inference.nfcs import NfcsReading, read_nfcs
from neopain.inference.quality import REASONS as QUALITY_REASONS
from neopain.inference.quality import QualityGate, crop_reason, detection_reason
from neopain.inference.ward import WARD_REASONS, WardGate, WardReading, frame_light, read_ward
from neopain.pixels.imageio import ImageError, decode_image
from neopain.pixels.preprocess import ModelConfig
from neopain.scales.nfcs import ACTION_REGION

__all__ = ["REASONS", "STAGES", "Assessment", "ImageError", "ModelFileError", "Predictor", "QualityGate"]

STAGES = ("decode", "detect", "crop", "classify", "total")
# A named detector compares the frame's quarter turns on copies this large (a 320 px copy only when the
# 160 px one shows no face), then looks at the winning face in a window at the resolution it needs
# (faces/rotate.py): a fraction of one look at the whole frame, with landmarks as precise.
SEARCH_SIDES = (160, 320)
MAX_STREAMS = 64  # cameras whose last face a predictor remembers (least recently seen forgotten first)
REASONS = (*QUALITY_REASONS, *WARD_REASONS)  # every "no assessment" reason, in the order they are checked


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


@dataclass
class Assessment:
    """One frame's answer. ``status`` is "ok" (label and probability set) or "no_assessment" (``reason``)."""

    status: str
    reason: str | None
    label: str | None
    probability: float | None  # P(pain); smoothed in stream mode
    confidence: float | None  # probability of the predicted label
    box: tuple[float, float, float, float] | None
    landmarks: list[list[float]] | None
    timings_ms: dict[str, float]
    model_id: str
    crop: np.ndarray | None = field(default=None, repr=False)  # BGR uint8 face crop; not serialised
    raw_probability: float | None = None  # stream mode: P(pain) of this frame alone, before smoothing
    nfcs: NfcsReading | None = None  # an NFCS model's actions and score for this face
    ward: WardReading | None = None  # what the ward's gate found on the face (lights, hidden regions)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def with_probability(self, probability: float, labels: Sequence[str], threshold: float = 0.5) -> Assessment:
        """A copy labelled from ``probability`` (P(pain)); the label is "pain" when p >= threshold."""
        pain, no_pain = ("pain", "no_pain") if "pain" in labels else (labels[1], labels[0])
        label = pain if probability >= threshold else no_pain
        confidence = probability if label == pain else 1.0 - probability
        return replace(self, status="ok", reason=None, label=label, probability=float(probability),
                       confidence=float(confidence))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain floats and lists, the crop left out."""
        return {
            "status": self.status,
            "reason": self.reason,
            "label": self.label,
            "probability": None if self.probability is None else round(float(self.probability), 6),
            "confidence": None if self.confidence is None else round(float(self.confidence), 6),
            "raw_probability": None if self.raw_probability is None else round(float(self.raw_probability), 6),
            "box": None if self.box is None else [round(float(v), 2) for v in self.box],
            "landmarks": self.landmarks,
            "timings_ms": {k: round(float(v), 3) for k, v in self.timings_ms.items()},
            "model_id": self.model_id,
            "nfcs": None if self.nfcs is None else self.nfcs.to_dict(),
            "ward": None if self.ward is None else self.ward.to_dict(),
        }


def _check_frame(image_bgr: Any) -> None:
    if not isinstance(image_bgr, np.ndarray) or image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise ImageError(f"expected a BGR image of shape (H, W, 3), got {getattr(image_bgr, 'shape', type(image_bgr))}")
    if image_bgr.dtype != np.uint8 or min(image_bgr.shape[:2]) < 1:
        raise ImageError(f"expected a non-empty uint8 image, got {image_bgr.dtype} {image_bgr.shape}")


def _landmarks(face: Face) -> list[list[float]] | None:
    return None if face.landmarks is None else [[round(float(x), 2), round(float(y), 2)] for x, y in face.landmarks]


def _detector_factory(name: str, rotations: str) -> Callable[[], FaceDetector]:
    """Builds the detector called ``name``, looking at the quarter turns as ``rotations`` says."""
    return lambda: upright_detector(create_detector(name), rotations, search_sides=SEARCH_SIDES)


def crop_settings_from(classifier: OnnxClassifier) -> CropSettings:
    """The crop the training faces were cut with, if the export recorded it; an older file's otherwise."""
    import json

    text = classifier.metadata.get(META_CROP)
    if not text:
        return CropSettings.unrecorded()
    try:
        return CropSettings.from_dict(json.loads(text))
    except (ValueError, TypeError, AttributeError) as exc:
        raise ModelFileError(f"{classifier.path}: bad '{META_CROP}' metadata ({exc})") from exc


class Predictor:
    """Face detector + classifier + quality gate. Build with ``Predictor.from_files``."""

    def __init__(
        self,
        classifier: OnnxClassifier,
        detector: FaceDetector,
        crop_settings: CropSettings,
        gate: QualityGate | None = None,
        threshold: float = 0.5,
        second_look: bool = True,
        new_detector: Callable[[], FaceDetector] | None = None,
    ) -> None:
        self.classifier = classifier
        self.detector = detector
        self._new_detector = new_detector  # how ``twin`` builds a detector like this one
        self.crop_settings = crop_settings
        self.gate = gate or QualityGate()
        self.threshold = threshold
        # A frame without a face under the lamps' light or a night camera's grey is looked at again with its
        # light evened out (faces.second_look): that light hides faces from the detector.
        self.second_look = second_look
        self.ward_gate = WardGate()
        self._streams: OrderedDict[str, object | None] = OrderedDict()  # camera -> its detector memory

    @classmethod
    def from_files(
        cls,
        model_path: str | Path,
        detector: str | FaceDetector = "yunet",
        crop_settings: CropSettings | None = None,
        threads: int = 2,
        gate: QualityGate | None = None,
        threshold: float = 0.5,
        rotations: str = "always",
    ) -> Predictor:
        """Load an exported classifier (ModelFileError if it is not one) and a detector by name; a named
        detector also looks at the frame's quarter turns (``rotations``: "always", "missing", "follow" or "off",
        ``neopain.faces.upright_detector``), as the phone is held at any angle. A detector object is used
        as given."""
        classifier = OnnxClassifier(model_path, threads=threads)
        new_detector = _detector_factory(detector, rotations) if isinstance(detector, str) else None
        face_detector = detector if new_detector is None else new_detector()
        settings = crop_settings or crop_settings_from(classifier)
        return cls(classifier, face_detector, settings, gate, threshold, new_detector=new_detector)

    def twin(self) -> Predictor:
        """Another predictor on the same classifier (one ONNX Runtime session serves several threads at
        once) with a detector and camera memories of its own: a server assesses frames side by side."""
        if self._new_detector is None:
            raise TypeError("this predictor was given a detector object: build it by name to have twins")
        return Predictor(self.classifier, self._new_detector(), self.crop_settings, self.gate, self.threshold,
                         self.second_look, new_detector=self._new_detector)

    @property
    def model_id(self) -> str:
        return self.classifier.model_id

    @property
    def config(self) -> ModelConfig:
        return self.classifier.config

    @property
    def card(self) -> dict[str, Any] | None:
        return self.classifier.card

    @property
    def synthetic(self) -> bool:
        return self.classifier.synthetic

    def start_clip(self) -> None:
        """A new clip begins: a detector that follows the frames' roll forgets the last clip's."""
        self.detector.reset()

    def classify_crops(self, crops_bgr: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """P(pain) for each BGR uint8 face crop (already cut; resized here as in training)."""
        return self.classifier.probabilities(crops_bgr)

    def _classify(
        self, crop: np.ndarray, hidden: tuple[str, ...] = (), outputs: dict[str, np.ndarray] | None = None
    ) -> tuple[float, NfcsReading | None]:
        """P(pain), and an NFCS model's reading of the actions (those of ``hidden`` regions not assessable),
        from one forward pass (``outputs``: that pass, if already run)."""
        if outputs is None and not self.classifier.has_actions:
            return float(self.classify_crops([crop])[0]), None
        outputs = self.classifier.read([crop]) if outputs is None else outputs
        if not self.classifier.has_actions:
            return float(self.classifier.pain_of(outputs)[0]), None
        pain, actions, count = self.classifier.nfcs_of(outputs)
        cfg = self.config
        seen = {a: ACTION_REGION[a] not in hidden for a in cfg.actions}
        return float(pain[0]), read_nfcs(cfg.actions, actions[0], cfg.nfcs_version, assessable=seen,
                                         count_estimate=float(count[0]))

    def _ward(
        self, crop: np.ndarray, face: Face, affine: np.ndarray, outputs: dict[str, np.ndarray] | None = None
    ) -> tuple[WardReading, str | None]:
        """The ward's findings on the crop, and the first one this model cannot read through; a model that
        reads the regions' visibility (its ``outputs`` for this crop) says itself which are hidden."""
        points = None if face.landmarks is None else transform_points(affine, face.landmarks)
        visible = None if outputs is None else self.classifier.visibility_of(outputs)[0]
        reading = read_ward(crop, points, self.ward_gate, visible)
        blocking = reading.blocking(self.classifier.conditions)
        return reading, (blocking[0] if blocking else None)

    def assess_bytes(self, data: bytes, name: str = "<upload>", stream: str | None = None) -> Assessment:
        """Decode (EXIF honoured) and assess; undecodable bytes raise ``ImageError`` naming ``name``.
        ``stream`` names the camera the frame comes from: a following detector (``rotations="follow"``)
        then continues from that camera's last face, whatever other cameras sent in between."""
        start = time.perf_counter()
        image = decode_image(data, name)
        return self._assess(image, decode_ms=_ms(start), start=start, stream=stream)

    def assess(self, image_bgr: np.ndarray, stream: str | None = None) -> Assessment:
        """Assess one BGR uint8 frame (``decode`` timing 0); ``stream`` as for ``assess_bytes``."""
        return self._assess(image_bgr, decode_ms=0.0, start=time.perf_counter(), stream=stream)

    def _detect(self, image: np.ndarray, stream: str | None) -> list[Face]:
        """The detector's faces, with ``stream``'s memory in the detector while it looks (None: the
        detector's own, as a single clip or a still uses it)."""
        if stream is None:
            return self.detector.detect(image)
        faces, memory = self._detect_with(image, self._streams.pop(stream, None))
        self._streams[stream] = memory
        while len(self._streams) > MAX_STREAMS:
            self._streams.popitem(last=False)
        return faces

    def _detect_aside(self, image: np.ndarray) -> list[Face]:
        """The detector's faces, leaving every memory as it was (a check, not a frame of the clip)."""
        return self._detect_with(image, None)[0]

    def _detect_with(self, image: np.ndarray, memory: object | None) -> tuple[list[Face], object | None]:
        """The detector's faces with ``memory`` in it while it looks, and its memory after; the detector's
        own memory is put back (also when it raises)."""
        own = self.detector.memory()
        self.detector.restore(memory)
        try:
            return self.detector.detect(image), self.detector.memory()
        finally:
            self.detector.restore(own)

    def _assess(self, image: np.ndarray, decode_ms: float, start: float, stream: str | None = None) -> Assessment:
        _check_frame(image)
        timings = {"decode": decode_ms, "detect": 0.0, "crop": 0.0, "classify": 0.0, "total": 0.0}
        t = time.perf_counter()
        faces = self._detect(image, stream)
        light = None if faces else frame_light(image, self.ward_gate)
        if light is not None and self.second_look:
            faces = second_look(image, lambda copy: self._detect(copy, stream), self._detect_aside)
        face = choose_face(faces)
        timings["detect"] = _ms(t)
        reason = detection_reason(faces, face, image, self.gate)
        if face is None:
            reason = light or reason
        crop, ward, outputs = None, None, None
        if face is not None and reason is None:
            t = time.perf_counter()
            crop, affine = crop_with(image, face, self.crop_settings)
            reason = crop_reason(crop, self.gate)
            timings["crop"] = _ms(t)
            if reason is None and self.classifier.has_visibility:
                t = time.perf_counter()  # the gate needs the model's own reading of the regions first
                outputs = self.classifier.read([crop])
                timings["classify"] = _ms(t)
            if reason is None:
                t = time.perf_counter()
                ward, reason = self._ward(crop, face, affine, outputs)
                timings["crop"] += _ms(t)
        probability, nfcs = None, None
        if reason is None:
            t = time.perf_counter()
            probability, nfcs = self._classify(crop, ward.hidden_regions() if ward else (), outputs)
            timings["classify"] += _ms(t)
        timings["total"] = _ms(start)
        result = Assessment(
            status="no_assessment", reason=reason, label=None, probability=None, confidence=None,
            box=None if face is None else tuple(float(v) for v in face.box),
            landmarks=None if face is None else _landmarks(face),
            timings_ms=timings, model_id=self.model_id, crop=crop, nfcs=nfcs, ward=ward,
        )
        if probability is None:
            return result
        return result.with_probability(probability, self.config.labels, self.threshold)
