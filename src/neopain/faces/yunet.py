"""YuNet (OpenCV Zoo, 2023mar) on ONNX Runtime: the default detector, fast on a small CPU.

The network and its decoding are OpenCV's ``cv2.FaceDetectorYN`` (input padded to a multiple of 32 with
zeros, raw BGR values; per stride a grid of anchors, score sqrt(cls * obj), box and landmarks as offsets
in stride units, NMS), run through ONNX Runtime instead of OpenCV's DNN module: on two cores a 160 px look
costs 1.0 ms instead of 2.6, a 320 px one 3.3 instead of 8.7 (docs/PERFORMANCE.md). The test suite holds it
to OpenCV's own answers.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort

from neopain.core.onnx_sessions import session_options
from neopain.core.weights import resolve
from neopain.faces.base import Face, FaceDetector

PAD = 32
STRIDES = (8, 16, 32)
# Below this many padded pixels one thread is faster than two (the threads' hand-over costs more than the
# work they share); larger inputs (a whole 640 px frame) get every thread asked for.
ONE_THREAD_PIXELS = 320 * 320
OUTPUTS = tuple(f"{kind}_{stride}" for kind in ("cls", "obj", "bbox", "kps") for stride in STRIDES)


def padded_shape(width: int, height: int) -> tuple[int, int]:
    """The (width, height) YuNet runs its network at for an image of this size."""
    return -(-width // PAD) * PAD, -(-height // PAD) * PAD


def any_size_model(path: Path) -> bytes:
    """The YuNet file with its input's size left open (the file fixes 640x640; every layer takes any
    multiple of 32) and its outputs' anchor counts with it."""
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf's own errors: a truncated file, not ONNX at all
        raise ValueError(f"{path}: not a readable ONNX file ({exc})") from exc
    names = tuple(output.name for output in model.graph.output)
    if sorted(names) != sorted(OUTPUTS) or len(model.graph.input) != 1:
        raise ValueError(f"{path}: not a YuNet detector (outputs {', '.join(names)})")
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, name in zip(dims, ("batch", "channels", "height", "width"), strict=True):
        if name != "channels":
            dim.dim_param = name
    for output in model.graph.output:
        output.type.tensor_type.shape.dim[1].dim_param = "anchors"
    del model.graph.value_info[:]  # shapes inferred for 640x640 would be checked against other sizes
    return model.SerializeToString()


def _session(model: bytes, threads: int) -> ort.InferenceSession:
    return ort.InferenceSession(model, session_options(threads), providers=["CPUExecutionProvider"])


def decode(outputs: dict[str, np.ndarray], width: int, height: int, score_threshold: float) -> np.ndarray:
    """Rows (x, y, w, h, 5 landmark (x, y) pairs, score) of every anchor scoring ``score_threshold`` or
    more, for a padded ``width`` x ``height`` input (OpenCV's ``FaceDetectorYN::postProcess``)."""
    rows = []
    for stride in STRIDES:
        cls = np.clip(outputs[f"cls_{stride}"][0, :, 0], 0.0, 1.0)
        obj = np.clip(outputs[f"obj_{stride}"][0, :, 0], 0.0, 1.0)
        score = np.sqrt(cls * obj)
        keep = np.flatnonzero(score >= score_threshold)
        if keep.size == 0:
            continue
        row, col = np.divmod(keep, width // stride)
        box = outputs[f"bbox_{stride}"][0, keep].astype(np.float64)
        kps = outputs[f"kps_{stride}"][0, keep].astype(np.float64)
        cx, cy = (col + box[:, 0]) * stride, (row + box[:, 1]) * stride
        w, h = np.exp(box[:, 2]) * stride, np.exp(box[:, 3]) * stride
        points = np.empty_like(kps)
        points[:, 0::2] = (kps[:, 0::2] + col[:, None]) * stride
        points[:, 1::2] = (kps[:, 1::2] + row[:, None]) * stride
        rows.append(np.column_stack([cx - w / 2, cy - h / 2, w, h, points, score[keep]]))
    return np.concatenate(rows) if rows else np.zeros((0, 15))


class YuNetDetector(FaceDetector):
    """YuNet on any image size; ``threads`` for large inputs (small ones run on one)."""

    name = "yunet"

    def __init__(
        self,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        top_k: int = 50,
        max_side: int | None = 640,
        weights: str | Path | None = None,
        threads: int = 2,
    ) -> None:
        super().__init__(max_side=max_side)
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.top_k = top_k
        self.weights_path = resolve("yunet", weights)
        model = any_size_model(self.weights_path)
        self._small = _session(model, 1)
        self._large = self._small if threads <= 1 else _session(model, threads)
        self._input = self._small.get_inputs()[0].name

    @property
    def signature(self) -> str:
        return f"{super().signature},score={self.score_threshold},nms={self.nms_threshold}"

    def raw_rows(self, image_bgr: np.ndarray) -> np.ndarray:
        """Every anchor's row above the score threshold, before NMS, in the image's pixels."""
        height, width = image_bgr.shape[:2]
        if width == 0 or height == 0:
            return np.zeros((0, 15))  # no pixels, no face (the network would refuse the empty input)
        pad_w, pad_h = padded_shape(width, height)
        blob = np.zeros((1, 3, pad_h, pad_w), np.float32)
        blob[0, :, :height, :width] = image_bgr.transpose(2, 0, 1)
        session = self._small if pad_w * pad_h <= ONE_THREAD_PIXELS else self._large
        outputs = dict(zip(OUTPUTS, session.run(OUTPUTS, {self._input: blob}), strict=True))
        return decode(outputs, pad_w, pad_h, self.score_threshold)

    def _detect(self, image_bgr: np.ndarray) -> list[Face]:
        rows = self.raw_rows(image_bgr)
        if rows.shape[0] > 1:  # as OpenCV: NMS on the boxes truncated to whole pixels, none for one row
            boxes = np.trunc(rows[:, :4]).astype(np.int64).tolist()
            kept = cv2.dnn.NMSBoxes(boxes, rows[:, 14].tolist(), self.score_threshold, self.nms_threshold,
                                    top_k=self.top_k)
            rows = rows[np.asarray(kept, dtype=np.int64).reshape(-1)]
        rows = rows.astype(np.float32)
        return [Face(*map(float, row[:4]), score=float(row[14]), landmarks=row[4:14].copy()) for row in rows]
