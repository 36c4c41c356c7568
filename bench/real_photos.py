"""Face detection on the real photographs our dependencies ship, rolled to every angle: a detector alone
vs wrapped in the roll retry (`neopain.faces.RotatingDetector`: mode "missing", and mode "always" at each
of --steps).

Photographs with a human face: skimage's astronaut and camera (the cameraman), matplotlib's Grace Hopper
(when matplotlib is installed). Without one: skimage's coffee, chelsea (a cat), rocket, horse, clock and
the left motorcycle of stereo_motorcycle, scikit-learn's china and flower (when installed). Each is
rolled clockwise by every --angle-step degrees (`roll_image`: quarter turns exact with cv2.rotate, other
angles bilinear on a canvas grown to hold the whole picture, black corners). The reference is the
detector's face on the upright photograph, mapped by the same roll:

* detected: the detector returned a face; found: the chosen face (the largest) has its centre within 0.3
  face sizes (sqrt of the box area) of the reference face's mapped centre;
* iou (box agreement): the chosen box against the axis-aligned box around the mapped reference box (at 45
  degrees that box is larger than any tight face box, so a perfect detection scores about 0.5 there;
  exact at quarter turns);
* eye error: degrees between the chosen face's eye line and the reference eye line rolled (what an aligned
  crop depends on); eye_ok: within 15 degrees, counted over all rolls;
* false detections: rolls of the photographs without a face where a face was returned;
* ms per photo: wall time of one detect call (this CPU, whatever else it runs: see the load averages).

Prints JSON (and writes it with --out).

    PYTHONPATH=src python bench/real_photos.py [--angle-step 45] [--steps 90,45] [--detector yunet] \
        [--out FILE.json]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import skimage.data
from _report import emit

from neopain.export.cpu import cpu_summary
from neopain.faces import Face, FaceDetector, RotatingDetector, choose_face, create_detector, roll_image
from neopain.faces.crop import eye_angle, transform_points

FOUND_WITHIN = 0.3  # face sizes between the chosen face's centre and the reference's
EYE_OK_DEG = 15.0


def _bgr(image: np.ndarray) -> np.ndarray:
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR if image.ndim == 2 else cv2.COLOR_RGB2BGR)


def _optional(loader: Callable[[], np.ndarray]) -> np.ndarray | None:
    try:
        return loader()
    except (ImportError, OSError, ValueError):
        return None


def _grace_hopper() -> np.ndarray:
    from matplotlib import cbook

    return cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)), cv2.IMREAD_COLOR)


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return _bgr(load_sample_image(name))

    return load


def photographs() -> tuple[dict[str, tuple[str, np.ndarray]], dict[str, tuple[str, np.ndarray]]]:
    """(with a face, without one): name -> (where it comes from, BGR image)."""
    faces = {"astronaut": ("skimage.data.astronaut", _bgr(skimage.data.astronaut())),
             "camera": ("skimage.data.camera", _bgr(skimage.data.camera()))}
    hopper = _optional(_grace_hopper)
    if hopper is not None:
        faces["grace_hopper"] = ("matplotlib sample_data/grace_hopper.jpg", hopper)
    none = {name: (f"skimage.data.{name}", _bgr(getattr(skimage.data, name)()))
            for name in ("coffee", "chelsea", "rocket", "horse", "clock")}
    none["motorcycle"] = ("skimage.data.stereo_motorcycle (left)", _bgr(skimage.data.stereo_motorcycle()[0]))
    for name in ("china.jpg", "flower.jpg"):
        image = _optional(_sklearn(name))
        if image is not None:
            none[name.removesuffix(".jpg")] = (f"sklearn.datasets.load_sample_image('{name}')", image)
    return faces, none


def rolled_reference(face: Face, matrix: np.ndarray) -> dict[str, object]:
    x, y, w, h = face.box
    corners = transform_points(matrix, np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]]))
    (left, top), (right, bottom) = corners.min(axis=0), corners.max(axis=0)
    landmarks = transform_points(matrix, face.landmarks)
    return {"box": (float(left), float(top), float(right - left), float(bottom - top)),
            "centre": transform_points(matrix, np.array([face.center]))[0], "size": math.sqrt(w * h),
            "eye_angle": eye_angle(Face(0, 0, 1, 1, 1.0, landmarks))}


def score_detection(faces: list[Face], reference: dict[str, object]) -> dict[str, object]:
    face = choose_face(faces)
    if face is None:
        return {"detected": False, "found": False}
    centre_error = float(np.linalg.norm(np.array(face.center) - reference["centre"]) / reference["size"])
    result = {"detected": True, "found": centre_error <= FOUND_WITHIN, "faces": len(faces),
              "iou": round(face.iou(reference["box"]), 3), "centre_error": round(centre_error, 3),
              "score": round(face.score, 3)}
    if face.landmarks is not None:
        gap = abs((eye_angle(face) - reference["eye_angle"] + 180.0) % 360.0 - 180.0)
        result["eye_error_deg"] = round(gap, 1)
    return result


def timed(detector: FaceDetector, image: np.ndarray, times: list[float]) -> list[Face]:
    start = time.perf_counter()
    faces = detector.detect(image)
    times.append((time.perf_counter() - start) * 1000.0)
    return faces


def summarise(rows: list[dict[str, object]]) -> dict[str, object]:
    found = [r for r in rows if r["found"]]
    eyes = [r["eye_error_deg"] for r in found if "eye_error_deg" in r]
    return {
        "photos": len(rows),
        "detection_rate": round(sum(r["detected"] for r in rows) / len(rows), 3),
        "found_rate": round(len(found) / len(rows), 3),
        "mean_iou_found": round(statistics.mean(r["iou"] for r in found), 3) if found else None,
        "eye_ok_rate": round(sum(e <= EYE_OK_DEG for e in eyes) / len(rows), 3),
        "median_eye_error_deg_found": round(statistics.median(eyes), 1) if eyes else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--angle-step", type=int, default=45, help="degrees between the photographs' rolls")
    parser.add_argument("--steps", default="90,45", help="the wrapper's steps to compare (mode always)")
    parser.add_argument("--detector", default="yunet", help="yunet | retinaface-onnx | retinaface")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: print only)")
    args = parser.parse_args()
    angles = list(range(0, 360, args.angle_step))
    load_at_start = [round(v, 2) for v in os.getloadavg()]
    plain = create_detector(args.detector)
    detectors: dict[str, FaceDetector] = {"plain": plain, "missing": RotatingDetector(plain, mode="missing")}
    for step in (int(s) for s in args.steps.split(",")):
        detectors[f"always_step{step}"] = RotatingDetector(plain, mode="always", step=step)
    with_face, without = photographs()
    times: dict[str, list[float]] = {name: [] for name in detectors}
    rows: dict[str, dict[str, list[dict[str, object]]]] = {name: {} for name in detectors}
    details: dict[str, dict[str, dict[str, object]]] = {}
    photos = {}
    for photo, (source, image) in with_face.items():
        upright = choose_face(plain.detect(image))
        if upright is None:
            photos[photo] = {"source": source, "skipped": "no face found in the upright photograph"}
            continue
        photos[photo] = {"source": source, "size": list(image.shape[1::-1]),
                         "upright_box": [round(v, 1) for v in upright.box], "upright_score": round(upright.score, 3)}
        for angle in angles:
            rolled, matrix = roll_image(image, angle)
            reference = rolled_reference(upright, matrix)
            for name, detector in detectors.items():
                result = score_detection(timed(detector, rolled, times[name]), reference)
                rows[name].setdefault(str(angle), []).append(result)
                details.setdefault(f"{photo}@{angle}", {})[name] = result
    false: dict[str, dict[str, int]] = {name: {} for name in detectors}
    false_list: list[dict[str, object]] = []
    for photo, (_, image) in without.items():
        for angle in angles:
            rolled, _ = roll_image(image, angle)
            for name, detector in detectors.items():
                faces = timed(detector, rolled, times[name])
                false[name][str(angle)] = false[name].get(str(angle), 0) + bool(faces)
                false_list += [{"photo": photo, "angle": angle, "detector": name,
                                "box": [round(v) for v in f.box], "score": round(f.score, 3)} for f in faces]
    report = {
        "what": f"{args.detector} on real photographs rolled clockwise, alone and with the roll retry",
        "command": f"PYTHONPATH=src python bench/real_photos.py --angle-step {args.angle_step} --steps {args.steps}"
                   f" --detector {args.detector}",
        "cpu": cpu_summary(),
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": load_at_start,
                    "load_average_at_end": [round(v, 2) for v in os.getloadavg()]},
        "detectors": {name: d.signature for name, d in detectors.items()},
        "angles": angles, "photos_with_a_face": photos,
        "photos_without": {name: source for name, (source, _) in without.items()},
        "per_angle": {name: {angle: summarise(r) for angle, r in by_angle.items()} for name, by_angle in rows.items()},
        "overall": {name: summarise([r for rs in by_angle.values() for r in rs]) for name, by_angle in rows.items()},
        "false_detections": {name: {"photos_with_faces": sum(by.values()),
                                    "photo_rolls": len(without) * len(angles), "per_angle": by}
                             for name, by in false.items()},
        "false_faces": false_list,
        "ms_per_photo": {name: {"median": round(statistics.median(t), 1), "mean": round(statistics.mean(t), 1)}
                         for name, t in times.items()},
        "per_photo": details,
    }
    emit(report, args.out, indent=1)


if __name__ == "__main__":
    main()
