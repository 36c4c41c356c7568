"""int8 quantisation of an exported classifier with ONNX Runtime (torch-free).

* ``static`` (the one to ship): QDQ, per-channel 7-bit int8 weights, uint8 activations calibrated on
  training face crops. ORT fuses the QDQ pairs into QLinearConv / QGemm kernels: ~4x smaller and faster.
  The weights use 7 bits because x86 CPUs without VNNI saturate full-range uint8 x int8 products
  (docs/EXPORT.md, "One file, every x86 CPU"); the export checks the fused kernels of the CPU it runs on
  against the reference QDQ arithmetic and records the difference.
  The usual post-training recipe keeps the stem (the image's convolution) and the output layer in float,
  then corrects the output bias by the mean float-minus-int8 logit on the calibration crops (empirical
  bias correction, Nagel et al. 2019): on the demo MobileNetV2 this cut the label flips against float
  from 5 to 1 in 120 unseen crops for ~3 KiB.
* ``dynamic-gemm``: only MatMul/Gemm (the head) quantised at run time; convolutions stay float.
* ``dynamic``: everything, convolutions through ConvInteger, 6-15x SLOWER than float on this CPU:
  kept for the comparison table, never to ship.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neopain.data import binary_task, read_manifest, resolve_path
from neopain.export.cpu import cpu_summary
from neopain.export.onnx_io import (
    compact_checked,
    load_model,
    logits,
    neopain_metadata,
    probe_batch,
    save_atomic,
    set_metadata,
    temp_path,
)
from neopain.inference import INPUT_NAME, META_MODEL_ID, META_QUANTIZATION, parse_metadata
from neopain.pixels.imageio import read_image
from neopain.pixels.preprocess import ModelConfig, preprocess_batch

log = logging.getLogger(__name__)

MODES = ("static", "dynamic-gemm", "dynamic")
MODEL_ID_SUFFIX = {"static": "int8", "dynamic-gemm": "int8dg", "dynamic": "int8dyn"}
CALIBRATION_BATCH = 8
META_INT8 = "neopain.int8"


class QuantizeError(ValueError):
    """Quantisation cannot run as asked (unknown mode, no calibration crops)."""


def load_face_crops(
    faces_csv: str | Path, limit: int | None = None, seed: int = 0, labelled_only: bool = False
) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Face crops of a faces manifest (a seeded subset of ``limit`` if smaller), with 0/1 pain targets
    when every chosen row is labelled (None otherwise)."""
    samples = read_manifest(faces_csv)
    if labelled_only:
        samples = binary_task(samples)
    if not samples:
        raise QuantizeError(f"{faces_csv}: no face rows to use")
    if limit is not None and len(samples) > limit:
        chosen = np.random.default_rng(seed).choice(len(samples), size=limit, replace=False)
        samples = [samples[i] for i in sorted(chosen.tolist())]
    crops = [read_image(resolve_path(faces_csv, s.path)) for s in samples]
    labelled = all(s.label in ("pain", "no_pain") for s in samples)
    targets = np.array([int(s.label == "pain") for s in samples]) if labelled else None
    return crops, targets


class _CropReader:
    """ONNX Runtime's CalibrationDataReader over preprocessed crops, in small batches."""

    def __init__(self, batch: np.ndarray) -> None:
        self.batch = batch
        self._iter = self._batches()

    def _batches(self) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, len(self.batch), CALIBRATION_BATCH):
            yield {INPUT_NAME: self.batch[start : start + CALIBRATION_BATCH]}

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = self._batches()


def _calibration_batch(crops: Sequence[np.ndarray] | str | Path | None, cfg: ModelConfig, limit: int, seed: int) -> np.ndarray:
    if crops is None:
        raise QuantizeError("static int8 needs calibration face crops (training faces; --calibration FACES.csv)")
    if isinstance(crops, (str, Path)):
        crops, _ = load_face_crops(crops, limit=limit, seed=seed)
    crops = list(crops)
    if not crops:
        raise QuantizeError("static int8 needs at least one calibration face crop")
    if len(crops) > limit:
        chosen = np.random.default_rng(seed).choice(len(crops), size=limit, replace=False)
        crops = [crops[i] for i in sorted(chosen.tolist())]
    return preprocess_batch(crops, cfg)


def _is_depthwise(node) -> bool:
    return any(a.name == "group" and a.i > 1 for a in node.attribute)


def float_layers(model) -> list[str]:
    """Nodes kept in float by the static recipe: the convolution that reads the image, the depthwise
    convolutions right after it (both cheap: few multiply-adds per pixel, but the most sensitive to the
    quantised input), and the nodes making the outputs (``output_layers``)."""
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    stem = convs[:1]
    for node in convs[1:]:
        if not _is_depthwise(node):
            break
        stem.append(node)
    return [n.name for n in stem] + output_layers(model)


# Cheap nodes between an output layer and a graph output (an NFCS model slices and squashes its last Gemm).
_TAIL_OPS = ("Slice", "Sigmoid", "Identity", "Reshape", "Squeeze", "Flatten")


def output_layers(model) -> list[str]:  # type: ignore[no-untyped-def]
    """Each graph output's producing Gemm / MatMul and the cheap nodes after it (kept float: they make
    the logits, the action probabilities and the count)."""
    producers = {out: node for node in model.graph.node for out in node.output}
    kept: list[str] = []
    for output in model.graph.output:
        node = producers.get(output.name)
        while node is not None and node.op_type in _TAIL_OPS:
            kept.append(node.name)
            node = producers.get(node.input[0])
        if node is not None and node.op_type in ("Gemm", "MatMul"):
            kept.append(node.name)
    return list(dict.fromkeys(kept))


def _quantize_static(pre: Path, out: Path, batch: np.ndarray, keep_float: list[str]) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    reader = type("Reader", (_CropReader, CalibrationDataReader), {})(batch)
    # U8S8 (uint8 activations, int8 weights) is the fast path of ORT's x86 int8 kernels; S8S8 measured
    # 2-3x slower. reduce_range keeps the weights in [-64, 64]: without VNNI (AVX2, AVX-512 without VNNI)
    # the u8s8 kernels add two uint8 x int8 products in int16 with saturation (vpmaddubsw), and full-range
    # weights overflow it (2 x 255 x 127 > 32767), so one file answered differently from CPU to CPU.
    quantize_static(
        str(pre), str(out), reader, quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, reduce_range=True,
        nodes_to_exclude=keep_float,
        # Float biases: ORT quantises them to int32 at load into the same QLinearConv kernels, and the
        # file loses an int32 bias plus a float scale per channel (76 KB of a 3.3 MB MobileNetV2).
        extra_options={"QuantizeBias": False},
    )


def correct_output_bias(float_path: Path, model, batch: np.ndarray) -> list[float] | None:
    """Add the mean float-minus-int8 logit on ``batch`` to the float output layer's bias (in place).

    Returns the correction, or None when the output layer is not a float Gemm with a bias initializer.
    """
    from onnx import numpy_helper

    output = model.graph.output[0].name
    last = next((n for n in model.graph.node if output in n.output), None)
    inits = {i.name: i for i in model.graph.initializer}
    if last is None or last.op_type != "Gemm" or len(last.input) < 3 or last.input[2] not in inits:
        return None
    bias = inits[last.input[2]]
    if bias.data_type != 1:  # FLOAT; a quantised bias would need its scale
        return None
    # Fitted to the fused int8 kernels that serve the file. With 7-bit weights no x86 kernel saturates, so
    # VNNI and AVX2 kernels accumulate the same integers and the correction holds on both; with full-range
    # weights it was fitted to whichever (saturating or not) kernel the exporting CPU had.
    shift = (logits(float_path.read_bytes(), batch) - logits(model.SerializeToString(), batch)).mean(axis=0)
    corrected = numpy_helper.to_array(bias) + shift.astype(np.float32)
    bias.CopyFrom(numpy_helper.from_array(corrected.astype(np.float32), bias.name))
    return [round(float(v), 4) for v in shift]


def kernel_gap(model, batch: np.ndarray) -> float:
    """Largest |logit| difference between this CPU's fused int8 kernels and the reference QDQ arithmetic.

    Rounding alone (requantisation in the fused kernels) keeps it small; a kernel that saturates makes
    it as large as the measured 0.06-0.08 of full-range weights on an AVX2 CPU.
    """
    data = model.SerializeToString()
    return float(np.abs(logits(data, batch) - logits(data, batch, fused=False)).max())


def _static_int8(onnx_path: Path, pre: Path, quant: Path, batch: np.ndarray) -> tuple[Any, dict[str, str]]:
    """The static recipe: quantise with the stem and output layer in float, then correct the output bias."""
    keep_float = float_layers(load_model(pre))
    _quantize_static(pre, quant, batch, keep_float)
    model = load_model(quant)
    correction = correct_output_bias(onnx_path, model, batch)
    log.info("int8 output bias correction: %s", correction)
    gap = kernel_gap(model, batch)
    log.info("int8 fused kernels vs reference QDQ on the calibration crops: max |logit diff| %.4f", gap)
    notes = {"calibration_crops": len(batch), "float_layers": len(keep_float), "output_bias_correction": correction,
             "weight_bits": 7, "kernel_vs_reference_max_logit_diff": round(gap, 5), "checked_on": cpu_summary()}
    return model, {META_INT8: json.dumps(notes)}


def _quantize_dynamic(pre: Path, out: Path, mode: str) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    op_types = ["MatMul", "Gemm"] if mode == "dynamic-gemm" else None
    quantize_dynamic(str(pre), str(out), op_types_to_quantize=op_types, weight_type=QuantType.QInt8)


def quantize(
    onnx_path: str | Path,
    out_path: str | Path,
    mode: str = "static",
    calibration_crops: Sequence[np.ndarray] | str | Path | None = None,
    calibration_limit: int = 256,
    seed: int = 0,
) -> Path:
    """Quantise one of our float ONNX files; the metadata follows, with the mode and an id suffix."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if mode not in MODES:
        raise QuantizeError(f"unknown int8 mode '{mode}'; choose one of {', '.join(MODES)}")
    onnx_path, out_path = Path(onnx_path), Path(out_path)
    metadata = neopain_metadata(onnx_path)
    if metadata.get(META_QUANTIZATION, "none") != "none":
        raise QuantizeError(f"{onnx_path}: already quantised ({metadata[META_QUANTIZATION]}); start from the float model")
    cfg, model_id, _, _ = parse_metadata(metadata, onnx_path)
    batch = _calibration_batch(calibration_crops, cfg, calibration_limit, seed) if mode == "static" else None
    out_path.parent.mkdir(parents=True, exist_ok=True)
    pre, quant = temp_path(out_path.parent, ".pre.onnx"), temp_path(out_path.parent, ".q.onnx")
    try:
        # Shape inference + graph optimisation first, as ORT recommends before quantising.
        quant_pre_process(str(onnx_path), str(pre), skip_symbolic_shape=True)
        if mode == "static":
            model, extra = _static_int8(onnx_path, pre, quant, batch)
        else:
            _quantize_dynamic(pre, quant, mode)
            model, extra = load_model(quant), {}
        model = compact_checked(model, batch if batch is not None else probe_batch(cfg, seed))
        set_metadata(model, {**metadata, **extra, META_QUANTIZATION: mode,
                             META_MODEL_ID: f"{model_id}-{MODEL_ID_SUFFIX[mode]}"})
        save_atomic(model, out_path)
    finally:
        pre.unlink(missing_ok=True)
        quant.unlink(missing_ok=True)
    log.info("quantised %s (%s) to %s", onnx_path, mode, out_path)
    return out_path


def describe(path: str | Path) -> str:
    """One line: model id, quantisation and size (for CLI output)."""
    meta = neopain_metadata(path)
    size = Path(path).stat().st_size / 2**20
    return json.dumps({"model_id": meta[META_MODEL_ID], "quantization": meta.get(META_QUANTIZATION, "none"),
                       "size_mib": round(size, 2)})
