"""Test-wide set-up: weights come from ../shared/models, never from the network."""

from __future__ import annotations

import os
from pathlib import Path

_SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"

os.environ.setdefault("NEOPAIN_MODELS_DIR", str(_SHARED_MODELS))
os.environ.setdefault("TORCH_HOME", str(_SHARED_MODELS / "torch"))
os.environ["NEOPAIN_ALLOW_DOWNLOAD"] = "false"
os.environ.setdefault("NEOPAIN_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "test"))
