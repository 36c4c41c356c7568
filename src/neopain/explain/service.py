"""Explanations for the bedside server without torch: run ``neopain.explain.worker`` in a subprocess.

Importing this module imports neither torch nor captum (a test checks it): the server asks for the
explanation of one saved record, and the worker process pays for torch, the model and IG, then exits.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["ExplainServiceError", "explain_record"]

DEFAULT_TIMEOUT_S = 300.0


# At the cot the blurred baseline: its maps point at facial detail (half the positive attribution inside
# the regions of the actions present on the synthetic benchmark, against 0.15 for black; docs/EXPLAIN.md)
# and it needs fewer steps. `neopain explain` keeps the paper's black baseline by default.
BEDSIDE_BASELINE = "blur"


class ExplainServiceError(RuntimeError):
    """The worker failed, timed out or answered something unreadable; the message says which."""


def explain_record(
    checkpoint_path: str | Path,
    image_path: str | Path,
    out_png: str | Path,
    timeout: float = DEFAULT_TIMEOUT_S,
    detector: str = "yunet",
    crop: bool = False,
    steps: int = 50,
    baseline: str = BEDSIDE_BASELINE,
) -> dict[str, Any]:
    """Explain one image in a separate Python process; returns the worker's JSON result
    (predicted, probability, baseline, gap, steps, share_<region>..., png). Raises ExplainServiceError."""
    command = [
        sys.executable,
        "-m",
        "neopain.explain.worker",
        str(checkpoint_path),
        str(image_path),
        str(out_png),
        "--detector",
        detector,
        "--steps",
        str(steps),
        "--baseline",
        baseline,
    ]
    if crop:
        command.append("--crop")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ExplainServiceError(
            f"explanation of {Path(image_path).name} timed out after {timeout:g} s"
        ) from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {done.returncode}"
        raise ExplainServiceError(f"explanation failed: {reason}")
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError) as exc:
        raise ExplainServiceError("the explanation worker answered no readable result") from exc
