"""bench/peers.py's models and faces: a checkpoint per backbone with a head fitted on synthetic faces, its
exports (float ONNX, our static int8, the paper's LiteRT dynamic-range int8), and the runtimes that read
them behind one ``logits(batch)`` call, so every runtime gets the same preprocessed crops.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from neopain.data import read_manifest, resolve_path
from neopain.data.synthetic import SynthConfig, generate
from neopain.faces import CropSettings, Face, crop_with
from neopain.inference.model import OnnxClassifier
from neopain.pixels.imageio import read_image


@dataclass
class Faces:
    """Synthetic face crops (BGR uint8, the model's input size) with their pain labels."""

    crops: list[np.ndarray]
    labels: np.ndarray


def synthetic_faces(folder: Path, subjects: int, seed: int, size: int) -> Faces:
    """Box crops (upright, from the manifest's landmarks) of ``subjects`` new synthetic babies."""
    manifest = generate(folder / f"synth-{seed}", SynthConfig(subjects=subjects, images_per_subject=12, seed=seed))
    crops, labels = [], []
    settings = CropSettings(size=size)
    for sample in read_manifest(manifest):
        image = read_image(resolve_path(manifest, sample.path))
        points = None if sample.landmarks is None else np.asarray(sample.landmarks)
        crops.append(crop_with(image, Face(*sample.box, score=1.0, landmarks=points), settings)[0])
        labels.append(int(sample.label == "pain"))
    return Faces(crops, np.array(labels))


def fitted_checkpoint(name: str, folder: Path, train: Faces, seed: int, steps: int = 300) -> tuple[Path, str]:
    """A checkpoint of ``name`` whose pain head is fitted on ``train``'s frozen backbone features (the
    backbone: ImageNet for MobileNetV2, random for VGG-Face16: timing does not depend on the weights)."""
    import torch

    from neopain.models import ModelError, create_model
    from neopain.pixels.preprocess import preprocess_batch
    from neopain.train.checkpoint import save_checkpoint

    torch.manual_seed(seed)
    try:
        model, note = create_model(name, pretrained=(name == "mobilenet_v2")), "ImageNet backbone"
    except ModelError:
        model, note = create_model(name, pretrained=False), "random backbone (ImageNet weights not here)"
    if name != "mobilenet_v2":
        note = "random backbone"
    model.eval()
    batch = torch.from_numpy(preprocess_batch(train.crops, model.cfg))
    with torch.no_grad():
        features = torch.cat([model.backbone(part) for part in batch.split(16)])
    labels = torch.from_numpy(train.labels).long()
    optimizer = torch.optim.Adam(model.head.parameters(), lr=1e-3)
    model.head.train()
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model.head(features), labels).backward()
        optimizer.step()
    model.eval()
    ckpt = {"model": model.state_dict(), "config": model.cfg.to_dict(), "optimizer": {}, "epoch": 0, "phase": 1,
            "history": [], "manifest_hash": "bench-peers", "seed": seed}
    note += f", head fitted on {len(train.crops)} synthetic faces ({steps} steps)"
    return save_checkpoint(folder / f"{name}.pt", ckpt), note


class TorchEager:
    """The research code's way: the checkpoint's PyTorch module, float32, eager, no_grad."""

    def __init__(self, checkpoint: Path, threads: int) -> None:
        import torch

        from neopain.train.checkpoint import load_checkpoint

        torch.set_num_threads(threads)
        self.torch = torch
        self.model = load_checkpoint(checkpoint)[0].eval()

    def logits(self, batch: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            return self.model(self.torch.from_numpy(batch)).numpy()


class Peer(OnnxClassifier):
    """Our classifier's metadata and preprocessing with another runtime's forward pass, so the predictor's
    decode, detection, crop and gates stay the same for every runtime."""

    def __init__(self, onnx_path: Path, runtime: Any) -> None:
        super().__init__(onnx_path, threads=1)
        self.runtime = runtime

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self.runtime.logits(batch)


class OrtLogits:
    def __init__(self, path: Path, threads: int) -> None:
        self.classifier = OnnxClassifier(path, threads=threads)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self.classifier.logits(batch)


def convert_tflite(onnx_path: Path, out: Path, python: Path) -> tuple[Path | None, str]:
    """The paper's format (LiteRT, dynamic-range int8) by ``neopain.export.to_tflite``, converted in the
    converter's environment (TensorFlow and onnx2tf live there, not in ours); (path or None, what happened)."""
    from neopain.export import TfliteError, to_tflite

    started = time.perf_counter()
    try:
        to_tflite(onnx_path, out, python=python if python.is_file() else None)
    except TfliteError as exc:
        return None, str(exc)
    return out, f"onnx2tf 1.29.16 + TFLiteConverter (Optimize.DEFAULT), {time.perf_counter() - started:.0f} s"


def runtimes(paths: dict[str, Path | None], threads: int) -> dict[str, Any]:
    """Each runtime that loads here, by row name: a ``logits`` object, or the reason it is missing (str)."""
    found: dict[str, Any] = {"torch_eager_float": TorchEager(paths["checkpoint"], threads),
                             "onnxruntime_float": OrtLogits(paths["float"], threads),
                             "ours_onnxruntime_static_int8": OrtLogits(paths["int8"], threads)}
    try:
        from _peers_litert import LiteRTClassifier

        tflite = paths.get("tflite")
        found["litert_dynamic_int8"] = LiteRTClassifier(tflite, threads) if tflite else "not converted"
    except ImportError as exc:
        found["litert_dynamic_int8"] = f"ai-edge-litert not installed ({exc})"
    try:
        from _peers_openvino import OpenVinoClassifier

        found["openvino_f32"] = OpenVinoClassifier(paths["float"], threads, static_batch=1)
        found["openvino_int8_qdq"] = OpenVinoClassifier(paths["int8"], threads, static_batch=1)
    except ImportError as exc:
        found["openvino_f32"] = found["openvino_int8_qdq"] = f"openvino not installed ({exc})"
    return found


def camera_frames(count: int, seed: int) -> list[bytes]:
    """A phone held over one face: skimage's astronaut drifting a few pixels per frame on a noisy
    640x480 background (JPEG quality 90), as consecutive frames of one camera."""
    import skimage.data

    rng = np.random.default_rng(seed)
    face = cv2.resize(cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR), None, fx=0.75, fy=0.75,
                      interpolation=cv2.INTER_AREA)
    h, w = face.shape[:2]
    x, y = 100.0, 50.0
    frames = []
    for _ in range(count):
        x, y = float(np.clip(x + rng.normal(0, 3), 0, 640 - w)), float(np.clip(y + rng.normal(0, 3), 0, 480 - h))
        canvas = rng.normal(120, 10, size=(480, 640, 3)).clip(0, 255).astype(np.uint8)
        canvas[int(y) : int(y) + h, int(x) : int(x) + w] = face
        frames.append(cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    return frames


def scratch() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="neopain-peers-")
