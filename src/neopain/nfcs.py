"""The Neonatal Facial Coding System (NFCS) vocabulary shared by data, synthesis and explanations."""

from __future__ import annotations

# Facial actions of the NFCS (Grunau & Craig 1987), as coded at the bedside.
ACTIONS: tuple[str, ...] = (
    "brow_bulge",
    "eye_squeeze",
    "nasolabial_furrow",
    "open_lips",
    "mouth_stretch_vertical",
    "mouth_stretch_horizontal",
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
    "taut_tongue": "mouth",
    "tongue_protrusion": "mouth",
    "chin_quiver": "chin",
}

# NFCS convention: three or more actions present reads as pain.
PAIN_THRESHOLD = 3

LABELS: tuple[str, ...] = ("no_pain", "pain")


def region_bit(region: str) -> int:
    """Bit value of a region in a mask image."""
    return 1 << REGIONS.index(region)
