"""The serving path against the box crops, per ward condition, on held-out synthetic babies.

Each picture is read twice by one exported model: as training cut it (the manifest's box and landmarks ->
the crop -> the classifier: "box") and as the bedside does (the whole frame -> the detector (quarter
turns tried) -> the upright crop -> the quality and ward gates -> the classifier: "serving"). Groups: the
clean benchmark faces; those faces with the whole frame turned (the phone held at 45 to 180 degrees);
and each condition of the nicu preset. Per group: pain AUC on each path (serving: over the faces it
assessed), each NFCS action's mean AUC (an NFCS model; actions whose region is hidden left out),
detection rate, abstention rate (no assessment though a face was found), the reasons, and for the
ward's own conditions the share of pictures whose finding names them: end to end ("reason given") and on
the box crops with the true landmarks ("box reason given": the gate alone, whatever the detector found),
where a model that reads the regions' visibility (``--targets ...,visible``) decides the hidden regions.

    PYTHONPATH=src python bench/serving_path.py MODEL.onnx [--subjects 12] [--seed 5000] [--markdown OUT.md]

The babies are drawn with ``--seed`` (keep it away from the training seeds: other babies). Prints JSON.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from _report import emit

from neopain.data import Sample, read_manifest, resolve_path
from neopain.data.synth_ward import WARD_CONDITIONS
from neopain.data.synthetic import PRESETS, SynthConfig, generate
from neopain.evaluate import roc_auc
from neopain.faces import Face, crop_with, transform_points
from neopain.inference import Predictor, read_ward
from neopain.pixels.imageio import read_image
from neopain.scales.nfcs import ACTION_REGION

ROLLS = (45, 90, 135, 180)
# The finding the gate should give for each condition that hides something or changes the light.
# Shields are worn only under the lamps, so the lamps' light names them too.
EXPECTED = {
    "phototherapy": ("phototherapy_light",), "infrared": ("infrared",),
    "eye_shields": ("eyes_hidden", "phototherapy_light"), "cpap_mask": ("mouth_covered",),
    "pacifier": ("mouth_covered",),
}
WARD = ("phototherapy_light", "infrared", "eyes_hidden", "mouth_covered")
CONDITIONS = WARD_CONDITIONS


@dataclass
class Reading:
    """One picture read on both paths."""

    label: int
    actions: dict[str, int]
    box_p: float
    box_actions: dict[str, float]
    detected: bool
    status: str
    reason: str | None
    p: float | None
    serving_actions: dict[str, float | None] = field(default_factory=dict)
    findings: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()  # the ward's conditions the picture shows (the cot's own left out)
    box_findings: tuple[str, ...] = ()  # the ward's gate on the box crop, true landmarks
    box_visible: dict[str, float] = field(default_factory=dict)  # the model's P(visible) per region, box crop


def rotate_frame(image: np.ndarray, sample: Sample, degrees: float) -> tuple[np.ndarray, Sample]:
    """The whole frame turned by ``degrees`` on a canvas that keeps every pixel; box and landmarks follow."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = round(float(h * sin + w * cos)), round(float(h * cos + w * sin))
    matrix[:, 2] += (new_w / 2 - w / 2, new_h / 2 - h / 2)
    turned = cv2.warpAffine(image, matrix, (new_w, new_h), borderMode=cv2.BORDER_REFLECT)
    x, y, bw, bh = sample.box or (0, 0, w, h)
    corners = np.array([(x, y), (x + bw, y), (x, y + bh), (x + bw, y + bh)]) @ matrix[:, :2].T + matrix[:, 2]
    points = np.asarray(sample.landmarks).reshape(5, 2) @ matrix[:, :2].T + matrix[:, 2]
    low, high = corners.min(axis=0), corners.max(axis=0)
    # The box of a turned box is larger than the face: shrink it back to the face's own size.
    centre, side = (low + high) / 2, (bw + bh) / 2
    box = (centre[0] - side / 2, centre[1] - side / 2, side, side)
    return turned, sample.with_(box=tuple(float(v) for v in box), landmarks=tuple(float(v) for v in points.ravel()))


def read_both(predictor: Predictor, image: np.ndarray, sample: Sample) -> Reading:
    face = Face(*sample.box, score=1.0, landmarks=np.asarray(sample.landmarks))
    crop, affine = crop_with(image, face, predictor.crop_settings)
    classifier, actions = predictor.classifier, predictor.config.actions
    out = classifier.read([crop])
    box_actions: dict[str, float] = {}
    box_p = float(classifier.pain_of(out)[0])
    if classifier.has_actions:
        box_actions = {a: float(v) for a, v in zip(actions, classifier.nfcs_of(out)[1][0])}
    visible = classifier.visibility_of(out)[0] if classifier.has_visibility else None
    box_ward = read_ward(crop, transform_points(affine, face.landmarks), predictor.ward_gate, visible)
    result = predictor.assess(image)
    serving = {}
    if result.nfcs is not None:
        serving = {a: (r.probability if r.assessable else None) for a, r in result.nfcs.actions.items()}
    return Reading(
        label=int(sample.label == "pain"), actions=dict(sample.actions or {}), box_p=box_p,
        box_actions=box_actions, detected=result.box is not None, status=result.status, reason=result.reason,
        p=result.probability, serving_actions=serving, findings=result.ward.findings if result.ward else (),
        conditions=tuple(c for c in sample.conditions if c in CONDITIONS), box_findings=box_ward.findings,
        box_visible=dict(visible or {}),
    )


def _auc(labels: list[int], scores: list[float]) -> float | None:
    if len(set(labels)) < 2:
        return None
    return round(float(roc_auc(np.asarray(labels), np.asarray(scores))), 3)


def _action_auc(readings: list[Reading], hidden: list[tuple[str, ...]], serving: bool) -> float | None:
    """Mean over actions of the AUC, leaving out pictures where the action's region is hidden (or, on the
    serving path, not assessed)."""
    aucs = []
    for action in readings[0].box_actions if readings and readings[0].box_actions else ():
        pairs = []
        for r, h in zip(readings, hidden):
            if action not in r.actions or ACTION_REGION[action] in h:
                continue
            score = (r.serving_actions.get(action) if r.status == "ok" else None) if serving else r.box_actions[action]
            if score is not None:
                pairs.append((r.actions[action], score))
        auc = _auc([p[0] for p in pairs], [p[1] for p in pairs]) if len(pairs) >= 10 else None
        if auc is not None:
            aucs.append(auc)
    return round(float(np.mean(aucs)), 3) if aucs else None


def visibility_truth(readings: list[Reading], hidden: list[tuple[str, ...]], below: float) -> dict | None:
    """The model's P(visible) on the box crops against the truth's hidden regions: per region the AUC
    (hidden = positive, 1 - P as the score), and pooled over regions the share of truly hidden regions it
    reads as hidden and of visible ones it reads as hidden (None: the model has no such output)."""
    if not readings or not readings[0].box_visible:
        return None
    per_region, found, false = {}, [], []
    for region in readings[0].box_visible:
        truth = [int(region in h) for h in hidden]
        scores = [1.0 - r.box_visible[region] for r in readings]
        per_region[region] = _auc(truth, scores)
        found += [s > 1.0 - below for t, s in zip(truth, scores) if t]
        false += [s > 1.0 - below for t, s in zip(truth, scores) if not t]
    return {"auc": per_region, "hidden_found": round(float(np.mean(found)), 3) if found else None,
            "hidden_regions": len(found), "visible_read_hidden": round(float(np.mean(false)), 3) if false else None}


def summarize(readings: list[Reading], hidden: list[tuple[str, ...]], condition: str | None = None) -> dict:
    assessed = [r for r in readings if r.status == "ok"]
    found = [r for r in readings if r.detected]
    # Faces nothing hides, in no ward condition: any ward abstention there is a false one.
    bare = [r for r, h in zip(readings, hidden) if r.detected and not h and not r.conditions]
    bare_box = [r for r, h in zip(readings, hidden) if not h and not r.conditions]
    summary = {
        "n": len(readings),
        "pain_auc_box": _auc([r.label for r in readings], [r.box_p for r in readings]),
        "pain_auc_box_same_faces": _auc([r.label for r in assessed], [r.box_p for r in assessed]),
        "pain_auc_serving": _auc([r.label for r in assessed], [float(r.p) for r in assessed]),
        "action_auc_box": _action_auc(readings, hidden, serving=False),
        "action_auc_serving": _action_auc(readings, hidden, serving=True),
        "detection_rate": round(len(found) / max(len(readings), 1), 3),
        "abstention_rate": round(sum(r.status != "ok" for r in found) / max(len(found), 1), 3),
        "assessed": len(assessed),
        "reasons": dict(Counter(r.reason for r in readings if r.reason).most_common(4)),
        "false_ward_abstention": (round(sum(r.reason in WARD for r in bare) / len(bare), 3) if bare else None),
        "bare_faces": len(bare),
        # The gate alone on bare box crops: any hiding finding there is a false one.
        "box_false_hidden": (round(float(np.mean([bool(set(r.box_findings) & {"eyes_hidden", "mouth_covered"})
                                                   for r in bare_box])), 3) if bare_box else None),
    }
    if condition in EXPECTED:
        named = [bool({r.reason, *r.findings} & set(EXPECTED[condition])) for r in readings]
        summary["reason_given"] = round(float(np.mean(named)), 3)
        on_box = [bool(set(r.box_findings) & set(EXPECTED[condition])) for r in readings]
        summary["box_reason_given"] = round(float(np.mean(on_box)), 3)
    return summary


def _babies(folder: Path, seed: int, subjects: int, preset: str) -> Path:
    config = SynthConfig(subjects=subjects, images_per_subject=12, seed=seed, **PRESETS[preset])  # type: ignore[arg-type]
    return generate(folder / preset, config)


def _read(predictor: Predictor, manifest: Path, turn: float = 0.0) -> Iterable[tuple[Reading, Sample]]:
    for sample in read_manifest(manifest):
        image = read_image(resolve_path(manifest, sample.path))
        if turn:
            image, sample = rotate_frame(image, sample, turn)
        yield read_both(predictor, image, sample), sample


def run(model: Path, subjects: int, seed: int, detector: str) -> dict:
    predictor = Predictor.from_files(model, detector=detector)
    groups: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        clean = _babies(Path(tmp), seed, subjects, "benchmark")
        nicu = _babies(Path(tmp), seed + 1, subjects, "nicu")
        for turn in (0, *ROLLS):
            pairs = list(_read(predictor, clean, turn))
            groups["clean" if turn == 0 else f"roll {turn}"] = summarize([r for r, _ in pairs], [s.hidden for _, s in pairs])
        pairs = list(_read(predictor, nicu))
        visibility = visibility_truth([r for r, _ in pairs], [s.hidden for _, s in pairs],
                                      predictor.ward_gate.visible_below)
        groups["nicu, no condition"] = summarize(*_split(pairs, lambda s: not set(s.conditions) & set(CONDITIONS)))
        for condition in CONDITIONS:
            chosen = _split(pairs, lambda s, c=condition: c in s.conditions)
            if chosen[0]:
                groups[condition] = summarize(*chosen, condition=condition)
    return {"model": str(model), "model_conditions": list(predictor.classifier.conditions),
            "detector": detector, "subjects_per_set": subjects, "seed": seed, "groups": groups,
            "visibility_on_nicu_box_crops": visibility}


def _split(pairs, keep) -> tuple[list[Reading], list[tuple[str, ...]]]:
    chosen = [(r, s) for r, s in pairs if keep(s)]
    return [r for r, _ in chosen], [s.hidden for _, s in chosen]


def markdown(report: dict) -> str:
    head = ("| group | n | pain AUC box | box, same faces | serving | action AUC box | serving | detected | "
            "abstained | false ward abst. | reason given | box: reason given | box: false hidden | top reasons |")
    lines = [head, "|" + "---|" * 14]
    for name, g in report["groups"].items():
        cells = [name, g["n"], g["pain_auc_box"], g["pain_auc_box_same_faces"], g["pain_auc_serving"],
                 g["action_auc_box"], g["action_auc_serving"], g["detection_rate"], g["abstention_rate"],
                 g["false_ward_abstention"], g.get("reason_given", ""), g.get("box_reason_given", ""),
                 g["box_false_hidden"],
                 ", ".join(f"{k} {v}" for k, v in g["reasons"].items())]
        lines.append("| " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--subjects", type=int, default=12, help="babies per set (12 pictures each)")
    parser.add_argument("--seed", type=int, default=5000)
    parser.add_argument("--detector", default="yunet")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table as Markdown")
    args = parser.parse_args()
    report = run(args.model, args.subjects, args.seed, args.detector)
    if args.markdown is not None:
        args.markdown.write_text(markdown(report), encoding="utf-8")
    emit(report, None)


if __name__ == "__main__":
    main()
