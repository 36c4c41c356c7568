"""An NFCS model's reading of one face: each action's probability, present or not, assessable or not, and
the score of the model's NFCS version over the items it could read (torch-free).

An action whose region cannot be seen is "not assessable", never "absent": it counts in neither the score
nor the items read, and a score missing items is "not scorable" unless the items it did read already
reach the version's pain threshold (a lower bound).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from neopain.scales.nfcs import PRESENT_AT, nfcs_version


@dataclass(frozen=True)
class ActionReading:
    probability: float
    present: bool
    assessable: bool

    def to_dict(self) -> dict[str, Any]:
        return {"probability": round(self.probability, 6), "present": self.present, "assessable": self.assessable}


@dataclass(frozen=True)
class NfcsReading:
    """The actions of one face and the score of ``version`` over its assessable items."""

    version: str
    actions: dict[str, ActionReading]
    score: int  # actions present among the items read
    items_read: int
    items: int  # how many actions the version counts
    pain_threshold: int
    count_estimate: float | None = None  # the model's own count output (trained on nfcs_score)

    @property
    def scorable(self) -> bool:
        return self.items_read == self.items

    @property
    def pain_by_rule(self) -> bool | None:
        """The version's rule: pain at the threshold; None when unread items could still change it."""
        if self.score >= self.pain_threshold:
            return True
        return False if self.scorable else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "score": self.score,
            "items_read": self.items_read,
            "items": self.items,
            "scorable": self.scorable,
            "pain_by_rule": self.pain_by_rule,
            "count_estimate": None if self.count_estimate is None else round(self.count_estimate, 3),
            "actions": {name: reading.to_dict() for name, reading in self.actions.items()},
        }


def read_nfcs(
    actions: Sequence[str],
    probabilities: Sequence[float],
    version: str,
    assessable: Mapping[str, bool] | None = None,
    count_estimate: float | None = None,
) -> NfcsReading:
    """Readings of ``actions`` from their probabilities; ``assessable`` marks hidden ones False (default:
    every action assessable, as when nothing is known to cover the face)."""
    spec = nfcs_version(version)
    seen = assessable or {}
    readings = {
        name: ActionReading(float(p), bool(p >= PRESENT_AT), bool(seen.get(name, True)))
        for name, p in zip(actions, probabilities, strict=True)
    }
    coded = {name: (int(r.present) if r.assessable else None) for name, r in readings.items()}
    score, read = spec.score(coded)
    return NfcsReading(spec.name, readings, score, read, len(spec.actions), spec.pain_threshold, count_estimate)
