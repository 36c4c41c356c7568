"""RetinaFace MobileNet-0.25 on ONNX Runtime: the same detector as ``retinaface`` without torch.

The ONNX file is made from the verified .pth at run time, into ``settings.cache_dir/onnx`` under a name
keyed by the checkpoint's sha256, or given explicitly (``onnx_path``) on a machine without torch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnxruntime as ort

from neopain.core.config import get_settings
from neopain.core.onnx_sessions import session_options
from neopain.core.weights import KNOWN, resolve
from neopain.faces.base import Face, FaceDetector
from neopain.faces.priors import PostprocessParams, postprocess, preprocess

WEIGHTS_NAME = "retinaface_mobilenet0.25"


def cached_onnx_path(cache_dir: str | Path | None = None) -> Path:
    """Where the exported model for the known checkpoint lives (its sha256 in the name)."""
    root = Path(cache_dir) if cache_dir is not None else Path(get_settings().cache_dir)
    return root / "onnx" / f"retinaface_mobilenet0.25-{KNOWN[WEIGHTS_NAME].sha256[:16]}.onnx"


def ensure_onnx(onnx_path: str | Path | None = None, weights: str | Path | None = None) -> Path:
    """An ONNX file for the detector: ``onnx_path`` if given, else the cached export (made if missing)."""
    if onnx_path is not None:
        path = Path(onnx_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: RetinaFace ONNX file not found (make one: neopain faces export-retinaface)"
            )
        return path
    path = cached_onnx_path()
    if not path.is_file():
        # Exporting needs torch; only this branch imports it.
        from neopain.faces.retinaface import export_retinaface_onnx

        resolve(WEIGHTS_NAME, weights)  # a clear error if the checkpoint is missing or altered
        export_retinaface_onnx(path, weights)
    return path


class RetinaFaceOnnxDetector(FaceDetector):
    """RetinaFace through ONNX Runtime (CPU); priors, decoding and NMS shared with the torch backend."""

    name = "retinaface-onnx"

    def __init__(
        self,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.4,
        max_side: int | None = 640,
        onnx_path: str | Path | None = None,
        weights: str | Path | None = None,
        threads: int | None = None,
    ) -> None:
        super().__init__(max_side=max_side)
        self.params = PostprocessParams(score_threshold=score_threshold, nms_threshold=nms_threshold)
        self.onnx_path = ensure_onnx(onnx_path, weights)
        self._digest = hashlib.sha256(self.onnx_path.read_bytes()).hexdigest()[:16]
        try:
            self._session = ort.InferenceSession(str(self.onnx_path), session_options(threads),
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own errors: a truncated file, not ONNX at all
            raise ValueError(f"{self.onnx_path}: not a readable ONNX file ({exc})") from exc
        self._input = self._session.get_inputs()[0].name
        outputs = tuple(o.name for o in self._session.get_outputs())
        if outputs != ("loc", "conf", "landms"):
            raise ValueError(f"{self.onnx_path}: not a RetinaFace detector (outputs {', '.join(outputs)}, "
                             "expected loc, conf, landms)")

    @property
    def signature(self) -> str:
        # Same network and decoding as "retinaface" (the name differs only by the runtime), unless the file
        # is another network's (a tuned detector): then its digest is part of every cached answer's key.
        p = self.params
        own = "" if self.onnx_path == cached_onnx_path() else f",file={self._digest}"
        return f"{super().signature},score={p.score_threshold},nms={p.nms_threshold}{own}"

    def raw_outputs(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        loc, conf, landms = self._session.run(None, {self._input: preprocess(image_bgr)})
        return loc[0], conf[0], landms[0]

    def _detect(self, image_bgr: np.ndarray) -> list[Face]:
        height, width = image_bgr.shape[:2]
        return postprocess(*self.raw_outputs(image_bgr), height, width, self.params)
