"""Integrated-Gradients overlays of saved records, made by a separate worker process.

The server never imports torch or captum: ``neopain.explain.service`` runs ``neopain.explain.worker`` in a
subprocess with a timeout, which writes the overlay PNG. Here we decide whether explanations are
available (checked with ``find_spec``, which does not import), allow one explanation at a time per
process, and move the finished PNG beside the record's frame atomically.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from neopain.app.core.storage import ImageStore, ImageStoreError, explanation_name
from neopain.core.log import get_logger

log = get_logger(__name__)

EXTRAS: tuple[str, ...] = ("torch", "captum")
UNAVAILABLE = "Explanations need the training extras and NEOPAIN_EXPLAIN_CHECKPOINT."
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class ExplanationError(RuntimeError):
    """An explanation that could not be made; the message is meant for the clinician's screen."""


@dataclass(frozen=True)
class Explained:
    """What the worker's model said about the frame it explained."""

    predicted: str
    probability: float


def missing_extras() -> list[str]:
    """The training extras that are not installed (looked up without importing them)."""
    return [name for name in EXTRAS if find_spec(name) is None]


class Explainer:
    """Runs explanations for one server process, one at a time."""

    def __init__(
        self,
        checkpoint: Path | None,
        images: ImageStore,
        detector: str,
        timeout_s: float,
        steps: int,
    ) -> None:
        self.checkpoint = checkpoint
        self.images = images
        self.detector = detector
        self.timeout_s = timeout_s
        self.steps = steps
        self._running = threading.Lock()
        missing = missing_extras()
        self.unavailable_reason: str | None = UNAVAILABLE if checkpoint is None or missing else None
        if checkpoint is not None and missing:
            log.warning("explanations off: %s not installed", ", ".join(missing))

    @property
    def available(self) -> bool:
        return self.unavailable_reason is None

    def overlay_of(self, image_name: str | None) -> str | None:
        """The overlay's name if this frame has been explained, else None."""
        if not image_name:
            return None
        name = explanation_name(image_name)
        try:
            return name if self.images.path_of(name).is_file() else None
        except ImageStoreError:
            return None

    def explain(self, image_name: str | None) -> Explained:
        """Explain one saved frame (blocks for up to the timeout: call it from a worker thread)."""
        if not self.available:
            raise ExplanationError(self.unavailable_reason or UNAVAILABLE)
        if not image_name:
            raise ExplanationError("The picture was deleted at the end of the retention period.")
        try:
            frame = self.images.path_of(image_name)
        except ImageStoreError as exc:
            raise ExplanationError("The picture of this record is missing.") from exc
        if not frame.is_file():
            raise ExplanationError("The picture of this record is missing.")
        if not self._running.acquire(blocking=False):
            raise ExplanationError("Another explanation is running; try again in a minute.")
        try:
            return self._run(frame, image_name)
        finally:
            self._running.release()

    def _run(self, frame: Path, image_name: str) -> Explained:
        from neopain.explain import ExplainServiceError, explain_record

        overlay = explanation_name(image_name)
        tmp = self.images.temp_path(overlay)
        try:
            # The stored frame is the whole picture as received, so the worker detects and crops the face
            # with the server's detector, exactly as the served model saw it (crop=False).
            result = explain_record(
                self.checkpoint,  # type: ignore[arg-type]  (available implies a checkpoint)
                frame,
                tmp,
                timeout=self.timeout_s,
                detector=self.detector,
                crop=False,
                steps=self.steps,
            )
            if not tmp.is_file() or tmp.read_bytes()[:8] != PNG_MAGIC:
                raise ExplanationError("The explanation worker wrote no picture.")
            self.images.install(tmp, overlay)
            if not frame.is_file():  # the baby was erased (or the image purged) while the worker ran
                self.images.path_of(overlay).unlink(missing_ok=True)
                raise ExplanationError("The record was erased while it was being explained.")
        except ExplainServiceError as exc:
            log.warning("explanation failed: %s", exc)
            raise ExplanationError(self._readable(str(exc), frame)) from exc
        except OSError as exc:
            log.warning("explanation failed: %s", exc)
            raise ExplanationError("The explanation could not be made: cannot run the worker.") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return Explained(str(result.get("predicted", "")), float(result.get("probability", 0.0)))

    def _readable(self, message: str, frame: Path) -> str:
        """The worker's reason without server paths (the screen needs the reason, not the folders)."""
        for path, word in ((str(frame), "the picture"), (str(self.checkpoint), "the checkpoint")):
            message = message.replace(f"{path}: ", "").replace(path, word)  # "<path>: no face" -> "no face"
        message = message.replace(frame.name, "the picture")
        if "timed out" in message:
            return f"The explanation took longer than {self.timeout_s:g} s and was stopped."
        reason = message.removeprefix("explanation failed: ").removeprefix("error: ")
        return f"The explanation could not be made: {reason}"
