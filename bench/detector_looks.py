"""One YuNet look, OpenCV's ``cv2.FaceDetectorYN`` beside ours (``yunet``: the same network on ONNX Runtime).

The astronaut at the sizes the bedside looks at (a search's 160 px copy, a followed face's window, the 320 px
copy, a whole 640x480 frame); median ms of ``--repeats`` looks after a warm-up, and the faces each found.

    PYTHONPATH=src python bench/detector_looks.py [--repeats 60] [--out looks.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import skimage.data
from _report import emit

from neopain.core.weights import resolve
from neopain.faces.yunet import YuNetDetector

SIZES = ((160, 120), (256, 256), (320, 240), (640, 480))


def median_ms(call: Callable[[], object], repeats: int) -> float:
    for _ in range(5):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    face = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    ours = YuNetDetector(max_side=None)
    rows = []
    for width, height in SIZES:
        image = cv2.resize(face, (width, height), interpolation=cv2.INTER_AREA)
        opencv = cv2.FaceDetectorYN.create(str(resolve("yunet")), "", (width, height), 0.6, 0.3, 50)
        found = opencv.detect(image)[1]
        rows.append({"size": f"{width}x{height}",
                     "opencv_ms": median_ms(lambda: opencv.detect(image), args.repeats),  # noqa: B023
                     "ours_ms": median_ms(lambda: ours.detect(image), args.repeats),  # noqa: B023
                     "faces_opencv": 0 if found is None else len(found), "faces_ours": len(ours.detect(image))})
    emit({"what": __doc__.splitlines()[0], "load_average": os.getloadavg(), "looks": rows}, args.out)


if __name__ == "__main__":
    main()
