"""Known weight files and their verified, cached, offline-friendly resolution.

Resolution order: explicit path > ``NEOPAIN_MODELS_DIR`` > user cache > verified download
(to ``*.part``, hash-checked, then renamed). Offline, the error names the expected path and hash.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from neopain.core.config import get_settings


@dataclass(frozen=True)
class WeightFile:
    """A weight file we know by name: where it comes from and what its bytes must hash to."""

    name: str
    filename: str
    url: str
    sha256: str
    licence: str
    source: str


class WeightsError(RuntimeError):
    """A weight file could not be found, fetched or verified."""


KNOWN: dict[str, WeightFile] = {}


def register(weight: WeightFile) -> WeightFile:
    KNOWN[weight.name] = weight
    return weight


register(
    WeightFile(
        name="yunet",
        filename="face_detection_yunet_2023mar.onnx",
        url="https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
        "face_detection_yunet_2023mar.onnx",
        sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
        licence="MIT",
        source="ShiqiYu/libfacedetection.train via opencv_zoo",
    )
)
register(
    WeightFile(
        name="retinaface_mobilenet0.25",
        filename="retinaface_mobilenet0.25.pth",
        url="https://github.com/biubug6/Pytorch_Retinaface/raw/master/weights/mobilenet0.25_Final.pth",
        sha256="38ec7bb3c9cbfe2f40edabc05fab970a6d648747cbc534092be85d5eb9b37ed0",
        licence="MIT",
        source="biubug6/Pytorch_Retinaface",
    )
)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _verified(path: Path, weight: WeightFile) -> Path:
    actual = sha256_of(path)
    if actual != weight.sha256:
        raise WeightsError(
            f"{path}: sha256 {actual} does not match the expected {weight.sha256} for '{weight.name}'"
        )
    return path


def _candidates(weight: WeightFile) -> list[Path]:
    settings = get_settings()
    env_dir = os.environ.get("NEOPAIN_MODELS_DIR") or settings.models_dir
    places = [Path(env_dir) / weight.filename] if env_dir else []
    places.append(Path(settings.cache_dir) / "weights" / weight.filename)
    return places


def download(weight: WeightFile, dest: Path, timeout: float = 60.0) -> Path:
    """Fetch ``weight`` to ``dest`` atomically: write ``dest.part``, verify, then rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(weight.url, timeout=timeout) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out)
        _verified(part, weight)
        os.replace(part, dest)
    except (OSError, WeightsError) as exc:
        part.unlink(missing_ok=True)
        raise WeightsError(
            f"could not fetch '{weight.name}' from {weight.url} ({exc}). Offline? Place the file at "
            f"{dest} (sha256 {weight.sha256}) or set NEOPAIN_MODELS_DIR to a folder holding {weight.filename}"
        ) from exc
    return dest


def resolve(name: str, path: str | Path | None = None, allow_download: bool | None = None) -> Path:
    """Return a verified local path for the known weight file ``name``."""
    if name not in KNOWN:
        raise WeightsError(f"unknown weight file '{name}'; known: {', '.join(sorted(KNOWN))}")
    weight = KNOWN[name]
    if path is not None:
        explicit = Path(path)
        if not explicit.is_file():
            raise WeightsError(f"weight file for '{name}' not found at {explicit}")
        return _verified(explicit, weight)
    places = _candidates(weight)
    for place in places:
        if place.is_file():
            return _verified(place, weight)
    if allow_download is None:
        allow_download = get_settings().allow_download
    cache_target = places[-1]
    if not allow_download:
        raise WeightsError(
            f"'{name}' not found (looked in {', '.join(map(str, places))}) and downloads are off; "
            f"place {weight.filename} (sha256 {weight.sha256}) there"
        )
    return download(weight, cache_target)
