"""The ward's gate: what in the picture stops the model reading a face, named in words, not guessed past.

Four findings, measured on the upright face crop with the regions placed from the detector's landmarks:

- ``phototherapy_light``: the blue lamps (blue well above red over the face; skin is red-dominant in any
  white light, so no skin tone trips it);
- ``infrared``: a night camera's grey frame (almost no colour over the face);
- ``eyes_hidden``: eye shields, a hand, tape: most of the eye regions unlike the face's own skin (the outer
  cheeks' colour), so the eye items are not assessable;
- ``mouth_covered``: a CPAP mask, a pacifier, a hand: most of the mouth region unlike the skin, so the
  mouth items are not assessable.

A model trained on pictures with a condition (the ``neopain.conditions`` its export records) reads through
it: the lights then pass, and the hidden regions' items become not assessable instead of the whole face.
A model that reads the regions' visibility itself (``--targets ...,visible``, trained from the manifests'
``hidden`` regions) decides which regions are hidden in place of the colour test, which cannot tell frosted
plastic or a pale pacifier from pale skin; the lights stay colour statistics.
Thresholds were set on the synthetic nicu preset (docs/ROBUSTNESS.md), so they hold for these pictures; a
ward's own photographs should re-measure them (``bench/serving_path.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from neopain.faces import Face, FaceDetector, LandmarkError, region_masks, second_look, skin_polygons

WARD_REASONS = ("phototherapy_light", "infrared", "eyes_hidden", "mouth_covered")
# The finding each training condition teaches the model to read through.
TRAINED_BY = {
    "phototherapy_light": ("phototherapy",),
    "infrared": ("infrared",),
    "eyes_hidden": ("eye_shields", "caregiver_hand"),
    "mouth_covered": ("cpap_mask", "pacifier", "caregiver_hand"),
}
# The region whose items a hiding finding takes away.
HIDES = {"eyes_hidden": "eyes", "mouth_covered": "mouth"}
# The crop is measured at this side (area-averaged down, landmarks scaled): shares and means barely move,
# and the gate's cost no longer grows with the model's input size (a 224 px crop took 5 ms, this < 1).
MEASURE_SIDE = 96


@dataclass(frozen=True)
class WardGate:
    """Thresholds of the ward's findings (set on the synthetic nicu preset; see the module doc)."""

    blue_over_red: float = 1.25  # mean blue / mean red over the face above this: phototherapy light
    max_grey_chroma: float = 4.0  # mean Lab chroma over the face below this: an infrared frame
    # Over a whole frame (no face found) a blue blanket or a grey sheet weighs in: stricter limits (clean
    # synthetic frames reach blue/red 1.41 and chroma 6.9 at worst; under the lamps 1.98, in infrared 0).
    frame_blue_over_red: float = 1.7
    frame_max_grey_chroma: float = 3.0
    frame_min_contrast: float = 8.0  # grey-level spread (0-255) a night camera's frame has at least
    # Lab distance from the skin's colour above which a pixel is not skin, and the share of such pixels
    # over which a region counts as covered, per region (lips and an open mouth differ from skin more
    # than eyelids do). The shares are high because the detector's landmarks on a real path misplace the
    # regions now and then: at these, 1.7 % of bare synthetic faces read end to end is flagged (0 % with
    # the true landmarks), and 89 % of eye shields, 54 % of CPAP masks, 28 % of pacifiers are found.
    eyes_unlike_skin: float = 22.0
    eyes_covered_share: float = 0.75
    mouth_unlike_skin: float = 30.0
    mouth_covered_share: float = 0.8
    # A model's own reading: a region whose P(visible) is below this is hidden.
    visible_below: float = 0.5


@dataclass(frozen=True)
class WardReading:
    """The findings on one face, with the measures behind them (for the benchmark and the report)."""

    findings: tuple[str, ...]
    blue_over_red: float
    chroma: float
    covered: dict[str, float]  # region -> share unlike skin (eyes, mouth), or 1 - the model's P(visible)
    hidden_by_model: tuple[str, ...] = ()  # every region the model itself reads as hidden

    def blocking(self, trained: Iterable[str]) -> tuple[str, ...]:
        """The findings a model trained on ``trained`` conditions cannot read through."""
        seen = set(trained)
        return tuple(f for f in self.findings if not seen.intersection(TRAINED_BY[f]))

    def hidden_regions(self) -> tuple[str, ...]:
        found = [HIDES[f] for f in self.findings if f in HIDES]
        return tuple(dict.fromkeys([*found, *self.hidden_by_model]))

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: the findings in words, the regions whose items cannot be read, and who said so."""
        return {
            "findings": list(self.findings),
            "hidden_regions": list(self.hidden_regions()),
            "hidden_by_model": list(self.hidden_by_model),
            "covered": {region: round(float(share), 4) for region, share in self.covered.items()},
        }


def _lab_table() -> np.ndarray:
    """OpenCV's 8-bit Lab to L in 0-100 and signed a, b, per channel (L runs 0-255, a and b are offset by
    128): one table lookup, the same float32 values as the arithmetic."""
    value = np.arange(256, dtype=np.float32)
    table = np.stack([value * np.float32(100.0 / 255.0), value - np.float32(128.0), value - np.float32(128.0)], -1)
    return np.ascontiguousarray(table.reshape(1, 256, 3))


_LAB_TABLE = _lab_table()


def _lab(crop_bgr: np.ndarray) -> np.ndarray:
    return cv2.LUT(cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2LAB), _LAB_TABLE)


def _polygon_mask(shape: tuple[int, int], polygons: list[np.ndarray]) -> np.ndarray:
    layer = np.zeros(shape, np.uint8)
    for poly in polygons:
        cv2.fillPoly(layer, [np.round(poly * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return layer > 0


def _covered_shares(lab: np.ndarray, landmarks: np.ndarray, gate: WardGate, grey: bool) -> dict[str, float]:
    """Share of the eye and mouth regions whose colour is unlike the cheeks' (lightness only when grey)."""
    shape = lab.shape[:2]
    skin = _polygon_mask(shape, skin_polygons(landmarks))
    channels = lab[..., :1] if grey else lab
    if skin.sum() < 8:
        return {"eyes": 0.0, "mouth": 0.0}
    reference = np.median(channels[skin], axis=0)
    limits = {"eyes": gate.eyes_unlike_skin, "mouth": gate.mouth_unlike_skin}
    shares = {}
    for region, inside in region_masks(landmarks, shape, tuple(limits)).items():
        # Only the region's own pixels: this runs on every served frame.
        distance = np.linalg.norm(channels[inside] - reference, axis=-1)
        shares[region] = float((distance > limits[region]).mean()) if distance.size else 0.0
    return shares


def _lights(
    pixels_bgr: np.ndarray, max_chroma: float, max_blue: float, lab: np.ndarray | None = None
) -> tuple[str | None, float, float]:
    """"infrared", "phototherapy_light" or None for a patch of picture (``lab``: its Lab, if already made);
    with blue/red and the chroma."""
    flat = pixels_bgr.reshape(-1, 3).astype(np.float64)
    blue, _, red = flat.mean(axis=0)
    blue_over_red = float(blue / max(red, 1.0))
    lab = _lab(pixels_bgr) if lab is None else lab
    chroma = float(np.hypot(lab[..., 1], lab[..., 2]).mean())
    if chroma < max_chroma:
        return "infrared", blue_over_red, chroma
    if blue_over_red > max_blue:
        return "phototherapy_light", blue_over_red, chroma
    return None, blue_over_red, chroma


LIGHT_SAMPLE_SIDE = 160


def frame_light(frame_bgr: np.ndarray, gate: WardGate | None = None) -> str | None:
    """The light of a whole frame in which no face was found: said rather than "no face", since the lamps
    or the night camera are often why the detector failed."""
    gate = gate or WardGate()
    # Means and a spread over the whole frame: every n-th pixel (about 160 on the longer side) tells them
    # as well as all 300,000, at a sixteenth of the Lab conversion's cost.
    step = max(1, max(frame_bgr.shape[:2]) // LIGHT_SAMPLE_SIDE)
    frame_bgr = frame_bgr[::step, ::step]
    light = _lights(frame_bgr, gate.frame_max_grey_chroma, gate.frame_blue_over_red)[0]
    if light == "infrared" and float(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY).std()) < gate.frame_min_contrast:
        return None  # a blank grey frame (a covered lens, a wall) shows nothing, not a night camera
    return light


def look_again_under_lights(detector: FaceDetector, gate: WardGate | None = None) -> Callable[[np.ndarray], list[Face]]:
    """The predictor's second look for ``faces extract``: on a frame without a face whose light is the
    lamps' or a night camera's, the faces found with the light evened out and confirmed by the mirror;
    [] in any other light (evened, a white-light miss shows faces in cups and clocks). The detector's
    memory is left as it was."""

    def look(frame_bgr: np.ndarray) -> list[Face]:
        if frame_light(frame_bgr, gate) is None:
            return []
        own = detector.memory()
        try:
            return second_look(frame_bgr, detector.detect, detector.detect)
        finally:
            detector.restore(own)

    return look


def _measured(crop_bgr: np.ndarray, landmarks: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The crop at ``MEASURE_SIDE`` (never enlarged) and the landmarks in its pixels."""
    size = crop_bgr.shape[0]
    if size <= MEASURE_SIDE:
        return crop_bgr, landmarks
    factor = MEASURE_SIDE / size
    small = cv2.resize(crop_bgr, (MEASURE_SIDE, MEASURE_SIDE), interpolation=cv2.INTER_AREA)
    # Pixel centres: crop pixel i covers [i - 0.5, i + 0.5], so centres scale about -0.5.
    points = None if landmarks is None else (np.asarray(landmarks, np.float64) + 0.5) * factor - 0.5
    return small, points


def read_ward(
    crop_bgr: np.ndarray, landmarks: np.ndarray | None, gate: WardGate | None = None,
    visible: Mapping[str, float] | None = None,
) -> WardReading:
    """The findings on an upright face crop; ``landmarks`` in crop pixels (None: lights only); ``visible``:
    the model's P(visible) per region, which then decides the hidden regions instead of the colours."""
    gate = gate or WardGate()
    crop_bgr, landmarks = _measured(crop_bgr, landmarks)
    size = crop_bgr.shape[0]
    middle = np.s_[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4]
    lab = _lab(crop_bgr)  # once: the lights read its middle, the regions all of it
    light, blue_over_red, chroma = _lights(crop_bgr[middle], gate.max_grey_chroma, gate.blue_over_red, lab[middle])
    findings = [light] if light else []
    grey = light == "infrared"
    if visible is not None:
        hidden = tuple(region for region, p in visible.items() if p < gate.visible_below)
        covered = {region: 1.0 - float(visible.get(region, 1.0)) for region in ("eyes", "mouth")}
        findings += [finding for finding, region in HIDES.items() if region in hidden]
        return _reading(findings, blue_over_red, chroma, covered, hidden)
    covered = {"eyes": 0.0, "mouth": 0.0}
    if landmarks is not None:
        try:
            covered = _covered_shares(lab, np.asarray(landmarks, np.float64), gate, grey)
        except LandmarkError:
            pass  # no face frame from these points: nothing can be said about its regions
    if covered["eyes"] > gate.eyes_covered_share:
        findings.append("eyes_hidden")
    if covered["mouth"] > gate.mouth_covered_share:
        findings.append("mouth_covered")
    return _reading(findings, blue_over_red, chroma, covered)


def _reading(
    findings: list[str], blue_over_red: float, chroma: float, covered: dict[str, float],
    hidden_by_model: tuple[str, ...] = (),
) -> WardReading:
    order = {name: i for i, name in enumerate(WARD_REASONS)}
    return WardReading(tuple(sorted(findings, key=order.__getitem__)), blue_over_red, chroma, covered,
                       hidden_by_model)
