"""The Neonatal Facial Coding System (NFCS) vocabulary shared by data, synthesis, models and explanations.

The instruments are data: which actions a version counts and from how many it reads pain. An action a
source does not code is *unknown* (missing from a sample's ``actions``), never absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# The ten facial actions of the original NFCS (Grunau & Craig 1987), in its order.
ACTIONS: tuple[str, ...] = (
    "brow_bulge",
    "eye_squeeze",
    "nasolabial_furrow",
    "open_lips",
    "mouth_stretch_vertical",
    "mouth_stretch_horizontal",
    "lip_purse",
    "taut_tongue",
    "tongue_protrusion",
    "chin_quiver",
)

# Facial regions that carry the actions; masks store region i in bit i.
REGIONS: tuple[str, ...] = ("brow", "eyes", "nasolabial", "mouth", "chin")

ACTION_REGION: dict[str, str] = {
    "brow_bulge": "brow",
    "eye_squeeze": "eyes",
    "nasolabial_furrow": "nasolabial",
    "open_lips": "mouth",
    "mouth_stretch_vertical": "mouth",
    "mouth_stretch_horizontal": "mouth",
    "lip_purse": "mouth",
    "taut_tongue": "mouth",
    "tongue_protrusion": "mouth",
    "chin_quiver": "chin",
}

# NFCS convention: three or more actions present reads as pain.
PAIN_THRESHOLD = 3
# A model's action output reads as "present" from this probability (predictor, metrics, Table II alike).
PRESENT_AT = 0.5


class NfcsError(ValueError):
    """An action or an NFCS version unknown to the vocabulary."""


@dataclass(frozen=True)
class NfcsVersion:
    """One version of the scale: the actions it counts and the score from which it reads pain."""

    name: str
    actions: tuple[str, ...]
    pain_threshold: int
    source: str

    def __post_init__(self) -> None:
        unknown = [a for a in self.actions if a not in ACTIONS]
        if unknown:
            raise NfcsError(f"NFCS version {self.name!r}: unknown action(s) {', '.join(unknown)}")

    def score(self, actions: Mapping[str, int | bool | None]) -> tuple[int, int]:
        """(actions present, actions read) over this version's actions; an unknown one counts in neither."""
        known = [a for a in self.actions if actions.get(a) is not None]
        return sum(int(bool(actions[a])) for a in known), len(known)


VERSIONS: dict[str, NfcsVersion] = {
    v.name: v
    for v in (
        NfcsVersion("nfcs-10", ACTIONS, PAIN_THRESHOLD, "Grunau & Craig 1987: the ten actions"),
        # Brazilian practice (UNIFESP among them) leaves tongue protrusion and lip purse out, which depend
        # on gestational age, and reads three or more of the remaining eight as pain.
        NfcsVersion("nfcs-8", tuple(a for a in ACTIONS if a not in ("lip_purse", "tongue_protrusion")), 3,
                    "the eight-action version used in Brazil (UNIFESP)"),
        # NFCS-P-3 codes these three each second of a 10-second epoch (0-30, threshold 9); per frame,
        # all three present is its strongest reading.
        NfcsVersion("nfcs-p-3", ACTIONS[:3], 3, "NFCS-P-3 (Pain 2023): brow bulge, eye squeeze, nasolabial furrow"),
    )
}
DEFAULT_VERSION = "nfcs-10"


def nfcs_version(name: str) -> NfcsVersion:
    """The version called ``name``, or NfcsError listing the known ones."""
    try:
        return VERSIONS[name]
    except KeyError:
        raise NfcsError(f"unknown NFCS version {name!r}; known: {', '.join(VERSIONS)}") from None


def check_action(name: str) -> str:
    """``name`` if it is an NFCS action, else NfcsError listing them."""
    if name not in ACTIONS:
        raise NfcsError(f"unknown NFCS action {name!r}; known: {', '.join(ACTIONS)}")
    return name

LABELS: tuple[str, ...] = ("no_pain", "pain")


def region_bit(region: str) -> int:
    """Bit value of a region in a mask image."""
    return 1 << REGIONS.index(region)
