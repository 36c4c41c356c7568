"""The paper's saving rule (section II-C), as a pure function and a tiny stateful wrapper.

Within one assessment: save the first frame with a face, whatever its class; afterwards save each first
frame whose class differs from the class of the last saved frame. Frames without a face change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def should_save(last_saved_label: str | None, frame_label: str | None) -> bool:
    """``frame_label`` is None when the frame gave no assessment (no face, too dark, ...)."""
    if frame_label is None:
        return False
    return frame_label != last_saved_label


@dataclass
class SavingRule:
    """Follows one assessment's frames; ``observe`` says whether to save the frame."""

    last_saved_label: str | None = None

    def observe(self, frame_label: str | None) -> bool:
        save = should_save(self.last_saved_label, frame_label)
        if save:
            self.last_saved_label = frame_label
        return save


def saved_indices(labels: Iterable[str | None]) -> list[int]:
    """Indices of the frames a whole sequence would save (handy for tests and simulations)."""
    rule = SavingRule()
    return [i for i, label in enumerate(labels) if rule.observe(label)]
