"""Many assessments at once: image files and folders, or a video frame by frame, as rows for CSV / JSON.

One unreadable file gives an error row and the batch goes on; the rows are written atomically.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from neopain.core.atomic import atomic_write_bytes
from neopain.pixels.imageio import ImageError, is_image_file
from neopain.pixels.videoio import probe, read_frames
from neopain.scales.nfcs import ACTIONS

ROW_FIELDS = ("source", "frame", "time_ms", "status", "reason", "label", "probability", "confidence",
              "raw_probability", "box_x", "box_y", "box_w", "box_h", "decode_ms", "detect_ms", "crop_ms",
              "classify_ms", "total_ms", "model_id", "error", "nfcs_version", "nfcs_score", "nfcs_items_read",
              "nfcs_items", *(f"p_{a}" for a in ACTIONS), "ward_findings", "hidden_regions")

T = TypeVar("T")
# (items, description, total) -> the same items, e.g. shown with a progress bar by the CLI.
Progress = Callable[[Iterable[T], str, int | None], Iterable[T]]


def _no_progress(items: Iterable[T], _description: str, _total: int | None) -> Iterable[T]:
    return items


def image_files(inputs: list[Path]) -> list[Path]:
    """Files as given, folders searched recursively for images (sorted); a missing path is an error."""
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.is_file() and is_image_file(p))
        elif item.is_file():
            files.append(item)
        else:
            raise ImageError(f"{item}: no such file or folder")
    return files


def assessment_row(source: str, frame: int | None, result: Any = None, error: str | None = None,
                   time_ms: float | None = None) -> dict[str, Any]:
    """One row of ROW_FIELDS for an assessment (``result.to_dict()``) or for an error."""
    row: dict[str, Any] = dict.fromkeys(ROW_FIELDS)
    row.update(source=source, frame=frame, time_ms=time_ms)
    if error is not None:
        row.update(status="error", error=error)
        return row
    data = result.to_dict()
    row.update({k: data[k] for k in ("status", "reason", "label", "probability", "confidence",
                                     "raw_probability", "model_id")})
    if data["box"] is not None:
        row.update(zip(("box_x", "box_y", "box_w", "box_h"), data["box"], strict=True))
    row.update({f"{k}_ms": v for k, v in data["timings_ms"].items()})
    if data.get("ward"):
        ward = data["ward"]
        # CSV keeps the words joined; JSON keeps the whole reading (the model's own say included).
        row.update(ward_findings=";".join(ward["findings"]), hidden_regions=";".join(ward["hidden_regions"]),
                   ward=ward)
    if data.get("nfcs"):
        nfcs = data["nfcs"]
        row.update(nfcs_version=nfcs["version"], nfcs_score=nfcs["score"], nfcs_items_read=nfcs["items_read"],
                   nfcs_items=nfcs["items"])
        row.update({f"p_{name}": a["probability"] for name, a in nfcs["actions"].items()})
        row["nfcs"] = nfcs  # the whole reading (assessable flags included) in JSON; CSV keeps the columns
    return row


def image_rows(predictor: Any, files: list[Path], progress: Progress = _no_progress) -> Iterator[dict[str, Any]]:
    """A row per file; a file that cannot be read or decoded gives an error row."""
    for file in progress(files, "assessing images", len(files)):
        try:
            yield assessment_row(str(file), None, predictor.assess_bytes(file.read_bytes(), str(file)))
        except (ImageError, OSError) as exc:  # one bad file must not stop the batch
            yield assessment_row(str(file), None, error=str(exc))


def video_frames(video: Path, every: int) -> Iterator[tuple[int, float, Any]]:
    """(index, time in ms, BGR frame) of every ``every``-th frame; VideoError (naming it) if it will not decode."""
    for index, seconds, frame in read_frames(video):
        if index % every == 0:
            yield index, seconds * 1000.0, frame


def video_rows(stream: Any, video: Path, every: int, progress: Progress = _no_progress) -> Iterator[dict[str, Any]]:
    """A row per sampled frame, assessed by a ``StreamPredictor`` (smoothed over time)."""
    total = -(-probe(video).frames // every)
    for index, time_ms, frame in progress(video_frames(video, every), f"assessing {video.name}", total):
        yield assessment_row(str(video), index, stream.assess(frame), time_ms=round(time_ms, 1))


def write_rows(rows: list[dict[str, Any]], out: Path) -> Path:
    """CSV or JSON by suffix, written atomically."""
    if out.suffix.lower() == ".json":
        return atomic_write_bytes(out, (json.dumps(rows, indent=2) + "\n").encode())
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(ROW_FIELDS), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_bytes(out, buffer.getvalue().encode())


def summary_line(row: dict[str, Any]) -> str:
    where = row["source"] if row["frame"] is None else f"{row['source']} frame {row['frame']}"
    if row["status"] == "ok":
        return f"{where}: {row['label']} p(pain)={row['probability']:.3f} ({row['total_ms']:.1f} ms)"
    return f"{where}: {row['status']} ({row['reason'] or row['error']})"
