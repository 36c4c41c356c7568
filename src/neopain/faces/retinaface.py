"""RetinaFace MobileNet-0.25 (the paper's detector) on PyTorch, and its export to ONNX.

torch is imported only when a detector is built or an export is asked for, so importing this module
stays light; serving uses ``retinaface_onnx`` and never needs torch.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from neopain.core.weights import resolve
from neopain.faces.base import Face, FaceDetector
from neopain.faces.priors import PostprocessParams, postprocess, preprocess

WEIGHTS_NAME = "retinaface_mobilenet0.25"
ONNX_INPUT = "image"
ONNX_OUTPUTS = ("loc", "conf", "landms")
ONNX_OPSET = 17


class RetinaFaceDetector(FaceDetector):
    """The original checkpoint and priors; BGR minus (104, 117, 123) in, faces in pixels out."""

    name = "retinaface"

    def __init__(
        self,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.4,
        max_side: int | None = 640,
        weights: str | Path | None = None,
        threads: int | None = None,
    ) -> None:
        import torch

        from neopain.faces.retinaface_net import load_retinaface

        super().__init__(max_side=max_side)
        self.params = PostprocessParams(score_threshold=score_threshold, nms_threshold=nms_threshold)
        self.weights_path = resolve(WEIGHTS_NAME, weights)
        if threads is not None:
            torch.set_num_threads(threads)
        self._torch = torch
        self._net = load_retinaface(str(self.weights_path))

    @property
    def signature(self) -> str:
        p = self.params
        return f"{super().signature},score={p.score_threshold},nms={p.nms_threshold}"

    def raw_outputs(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The network's (loc, conf, landms) for one image, as numpy (for parity checks)."""
        with self._torch.inference_mode():
            outputs = self._net(self._torch.from_numpy(preprocess(image_bgr)))
        loc, conf, landms = (t[0].numpy() for t in outputs)
        return loc, conf, landms

    def _detect(self, image_bgr: np.ndarray) -> list[Face]:
        height, width = image_bgr.shape[:2]
        return postprocess(*self.raw_outputs(image_bgr), height, width, self.params)


def export_retinaface_onnx(out_path: str | Path, weights: str | Path | None = None) -> Path:
    """Export the verified original checkpoint to ONNX; returns the path."""
    from neopain.faces.retinaface_net import load_retinaface

    return export_net_onnx(load_retinaface(str(resolve(WEIGHTS_NAME, weights))), out_path)


def export_net_onnx(net: Any, out_path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """A RetinaFace network to ONNX (dynamic batch, height and width) with ``metadata``, atomically."""
    import torch

    out_path = Path(out_path)
    example = torch.zeros(1, 3, 320, 320)
    dynamic = {ONNX_INPUT: {0: "batch", 2: "height", 3: "width"}}
    dynamic.update({name: {0: "batch", 1: "anchors"} for name in ONNX_OUTPUTS})
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".part", dir=out_path.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated upstream but needs no extra package (onnxscript).
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                net,
                (example,),
                tmp,
                dynamo=False,
                input_names=[ONNX_INPUT],
                output_names=list(ONNX_OUTPUTS),
                dynamic_axes=dynamic,
                opset_version=ONNX_OPSET,
            )
        if metadata:
            _add_metadata(tmp, metadata)
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_path


def _add_metadata(path: str, metadata: dict[str, str]) -> None:
    import onnx

    model = onnx.load(path)
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, path)
