"""The manifest: one row per image, the contract between every stage.

CSV columns (header required, order free; see docs/MANIFEST.md):

* ``path`` (required): image file, relative to the manifest's folder or absolute
* ``subject`` (required): subject id (a baby), never a name
* ``dataset``: source dataset (icope, unifesp, synthetic, ...)
* ``label``: ``pain``, ``no_pain`` or empty (kept in the manifest but outside the binary task)
* ``stimulus``: stimulus or source class (rest, pain, air, friction, cry, ...)
* ``sex``: M, F or empty
* ``box_x, box_y, box_w, box_h``: optional face box in pixels of the image
* ``nfcs_<action>``: optional 0/1 flag for each NFCS action (see ``neopain.scales.nfcs.ACTIONS``); empty or
  missing = not coded (unknown), never absent
* ``nfcs_score``: optional NFCS total
* ``source_path``: for face crops, the image they were cut from
* ``mask_path``: optional NFCS region mask (bit i = region i of ``neopain.scales.nfcs.REGIONS``)

Video rows (a ``path`` with a video suffix, ``neopain.pixels.videoio.VIDEO_SUFFIXES``) may add ``start`` and
``end`` (seconds: a segment of the video; rows of one video are then told apart by their segment), and
frames cut from a video keep their ``frame`` index and time ``t``. These columns are written only when a
row has one, so image manifests keep their bytes and their ``manifest_hash``.

Two more groups are written the same way, only when some row has one:

* ``lm_<point>_x, lm_<point>_y``: the face's five landmarks in image pixels (``LANDMARK_NAMES``: the
  synthetic faces' truth, or the detector's points that ``faces extract`` keeps), all ten or none;
* ``conditions``: what the picture shows of the ward, ``;``-separated words (``phototherapy``,
  ``infrared``, ``cpap_mask``, ...), and ``hidden``: the NFCS regions (``neopain.scales.nfcs.REGIONS``) that
  cannot be seen, ``;``-separated.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from neopain.core.atomic import atomic_path
from neopain.pixels.videoio import is_video_file
from neopain.scales.nfcs import ACTION_REGION, ACTIONS, LABELS, REGIONS

BOX_COLUMNS = ("box_x", "box_y", "box_w", "box_h")
ACTION_COLUMNS = tuple(f"nfcs_{a}" for a in ACTIONS)
BASE_COLUMNS = ("path", "subject", "dataset", "label", "stimulus", "sex")
OPTIONAL_COLUMNS = (*BOX_COLUMNS, *ACTION_COLUMNS, "nfcs_score", "source_path", "mask_path")
COLUMNS = (*BASE_COLUMNS, *OPTIONAL_COLUMNS)
# Written after COLUMNS, and only when some row has one (see the module doc).
VIDEO_COLUMNS = ("start", "end", "frame", "t")
LANDMARK_NAMES = ("right_eye", "left_eye", "nose", "right_mouth", "left_mouth")
"""Landmark order of RetinaFace and YuNet; "right" is the subject's right (the image's left)."""
LANDMARK_COLUMNS = tuple(f"lm_{name}_{axis}" for name in LANDMARK_NAMES for axis in "xy")
CONDITION_COLUMNS = ("conditions", "hidden")
REQUIRED_COLUMNS = ("path", "subject")
VALID_LABELS = (*LABELS, "")


class ManifestError(ValueError):
    """A manifest is malformed; the message names the file, row and field."""


@dataclass(frozen=True)
class Sample:
    """One image of one subject, with whatever is known about it."""

    path: str
    subject: str
    dataset: str = ""
    label: str = ""
    stimulus: str = ""
    sex: str = ""
    box: tuple[float, float, float, float] | None = None
    actions: dict[str, int] | None = field(default=None, compare=False)
    nfcs_score: float | None = None
    source_path: str = ""
    mask_path: str = ""
    start: float | None = None  # a video segment, in seconds
    end: float | None = None
    frame: int | None = None  # a frame cut from a video: its index and time (seconds)
    t: float | None = None
    landmarks: tuple[float, ...] | None = None  # 5 (x, y) points flattened, LANDMARK_NAMES order
    conditions: tuple[str, ...] = ()  # the ward's conditions in the picture (phototherapy, cpap_mask, ...)
    hidden: tuple[str, ...] = ()  # NFCS regions that cannot be seen

    def __post_init__(self) -> None:
        if self.landmarks is not None and len(self.landmarks) != 2 * len(LANDMARK_NAMES):
            raise ValueError(f"landmarks need {2 * len(LANDMARK_NAMES)} numbers, got {len(self.landmarks)}")

    def with_(self, **changes: object) -> Sample:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def is_video(self) -> bool:
        return is_video_file(self.path)

    @property
    def has_video_fields(self) -> bool:
        return any(v is not None for v in (self.start, self.end, self.frame, self.t))

    @property
    def has_condition_fields(self) -> bool:
        return bool(self.conditions or self.hidden)

    @property
    def key(self) -> str:
        """What makes a row unique: its path, plus the segment for a segment of a video."""
        if self.start is None and self.end is None:
            return self.path
        return f"{self.path}#{_seconds(self.start)}-{_seconds(self.end)}"

    def contains(self, t: float) -> bool:
        """Whether time ``t`` (seconds) lies in this row's segment (a whole video contains every time)."""
        return (self.start is None or t >= self.start) and (self.end is None or t < self.end)

    @property
    def is_labelled(self) -> bool:
        return self.label in LABELS

    @property
    def target(self) -> int:
        """Class index in ``neopain.scales.nfcs.LABELS`` (no_pain=0, pain=1)."""
        return LABELS.index(self.label)


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _row_error(file: Path | str, row: int, fieldname: str, message: str) -> ManifestError:
    return ManifestError(f"{file}: row {row}, field '{fieldname}': {message}")


def _parse_float(file: Path | str, row: int, name: str, value: str) -> float | None:
    if value.strip() == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise _row_error(file, row, name, f"'{value}' is not a number") from None


def _parse_box(file: Path | str, row: int, record: dict[str, str]) -> tuple[float, float, float, float] | None:
    values = [_parse_float(file, row, c, record.get(c, "") or "") for c in BOX_COLUMNS]
    if all(v is None for v in values):
        return None
    if any(v is None for v in values):
        missing = [c for c, v in zip(BOX_COLUMNS, values) if v is None]
        raise _row_error(file, row, missing[0], "a face box needs all of box_x, box_y, box_w, box_h")
    x, y, w, h = (float(v) for v in values)  # type: ignore[arg-type]
    if w <= 0 or h <= 0:
        raise _row_error(file, row, "box_w", f"box size must be positive, got {w}x{h}")
    return (x, y, w, h)


def _parse_video(file: Path | str, row: int, record: dict[str, str]) -> dict[str, float | int | None]:
    """``start``, ``end`` (a segment: 0 <= start < end), ``frame`` (an index >= 0) and ``t`` (>= 0)."""
    values: dict[str, float | int | None] = {
        name: _parse_float(file, row, name, record.get(name, "") or "") for name in VIDEO_COLUMNS
    }
    for name, value in values.items():
        if value is not None and value < 0:
            raise _row_error(file, row, name, f"must not be negative, got {value:g}")
    start, end, frame = values["start"], values["end"], values["frame"]
    if start is not None and end is not None and end <= start:
        raise _row_error(file, row, "end", f"the segment ends ({end:g} s) before it starts ({start:g} s)")
    if frame is not None:
        if frame != int(frame):
            raise _row_error(file, row, "frame", f"a frame index is a whole number, got {frame:g}")
        values["frame"] = int(frame)
    return values


def _parse_landmarks(file: Path | str, row: int, record: dict[str, str]) -> tuple[float, ...] | None:
    """All ten ``lm_*`` numbers, or None when every cell is empty."""
    values = [_parse_float(file, row, c, record.get(c, "") or "") for c in LANDMARK_COLUMNS]
    if all(v is None for v in values):
        return None
    missing = [c for c, v in zip(LANDMARK_COLUMNS, values) if v is None]
    if missing:
        raise _row_error(file, row, missing[0], "landmarks need all ten lm_* columns, or none")
    return tuple(float(v) for v in values if v is not None)


def _parse_words(file: Path | str, row: int, name: str, value: str, known: Sequence[str] = ()) -> tuple[str, ...]:
    """A ``;``-separated list of lowercase words (``known`` ones only, when given)."""
    words = tuple(w.strip() for w in value.split(";") if w.strip())
    for word in words:
        if known and word not in known:
            raise _row_error(file, row, name, f"'{word}' is not one of {', '.join(known)}")
        if not word.replace("_", "").isalnum() or word != word.lower():
            raise _row_error(file, row, name, f"'{word}' is not a lowercase word (letters, digits, _)")
    return words


def _parse_actions(file: Path | str, row: int, record: dict[str, str]) -> dict[str, int] | None:
    """The coded actions of a row: an empty or missing ``nfcs_<action>`` cell is unknown (left out of the
    dict), never absent; None when the row codes no action at all."""
    actions: dict[str, int] = {}
    for action in ACTIONS:
        raw = (record.get(f"nfcs_{action}") or "").strip()
        if raw == "":
            continue
        if raw not in ("0", "1"):
            raise _row_error(file, row, f"nfcs_{action}", f"expected 0, 1 or empty (not coded), got '{raw}'")
        actions[action] = int(raw)
    return actions or None


def _check_action_columns(file: Path | str, header: Sequence[str]) -> None:
    """An ``nfcs_*`` column naming no NFCS action is a typo that would silently lose a label."""
    known = {*ACTION_COLUMNS, "nfcs_score"}
    unknown = [c for c in header if c.startswith("nfcs_") and c not in known]
    if unknown:
        raise ManifestError(f"{file}: column {unknown[0]} names no NFCS action; known: {', '.join(ACTION_COLUMNS)}")


def sample_from_record(record: dict[str, str], file: Path | str = "<memory>", row: int = 0) -> Sample:
    """Build a Sample from one CSV record, raising ManifestError that names file, row and field."""
    for name in REQUIRED_COLUMNS:
        if not (record.get(name) or "").strip():
            raise _row_error(file, row, name, "is empty")
    label = (record.get("label") or "").strip()
    if label not in VALID_LABELS:
        raise _row_error(file, row, "label", f"unknown label '{label}' (expected pain, no_pain or empty)")
    return Sample(
        path=record["path"].strip(),
        subject=record["subject"].strip(),
        dataset=(record.get("dataset") or "").strip(),
        label=label,
        stimulus=(record.get("stimulus") or "").strip(),
        sex=(record.get("sex") or "").strip(),
        box=_parse_box(file, row, record),
        actions=_parse_actions(file, row, record),
        nfcs_score=_parse_float(file, row, "nfcs_score", record.get("nfcs_score", "") or ""),
        source_path=(record.get("source_path") or "").strip(),
        mask_path=(record.get("mask_path") or "").strip(),
        **_parse_video(file, row, record),  # type: ignore[arg-type]
        landmarks=_parse_landmarks(file, row, record),
        conditions=_parse_words(file, row, "conditions", record.get("conditions") or ""),
        hidden=_parse_words(file, row, "hidden", record.get("hidden") or "", REGIONS),
    )


def sample_to_record(sample: Sample) -> dict[str, str]:
    record = {name: "" for name in COLUMNS}
    record.update(
        path=sample.path,
        subject=sample.subject,
        dataset=sample.dataset,
        label=sample.label,
        stimulus=sample.stimulus,
        sex=sample.sex,
        source_path=sample.source_path,
        mask_path=sample.mask_path,
    )
    if sample.box is not None:
        record.update({c: f"{v:g}" for c, v in zip(BOX_COLUMNS, sample.box)})
    if sample.actions is not None:
        record.update({f"nfcs_{a}": str(int(sample.actions[a])) for a in ACTIONS if a in sample.actions})
    if sample.nfcs_score is not None:
        record["nfcs_score"] = f"{sample.nfcs_score:g}"
    if sample.has_video_fields:
        # Only then: an image row's record (and so manifest_hash) stays what it always was.
        record.update(start=_seconds(sample.start), end=_seconds(sample.end), t=_seconds(sample.t))
        record["frame"] = "" if sample.frame is None else str(sample.frame)
    if sample.landmarks is not None:
        record.update({c: f"{v:g}" for c, v in zip(LANDMARK_COLUMNS, sample.landmarks)})
    if sample.has_condition_fields:
        record.update(conditions=";".join(sample.conditions), hidden=";".join(sample.hidden))
    return record


def read_manifest(file: str | Path) -> list[Sample]:
    """Read and validate a manifest CSV; raises ManifestError naming the file, row and field."""
    file = Path(file)
    if not file.is_file():
        raise ManifestError(f"{file}: manifest not found")
    with open(file, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ManifestError(f"{file}: missing column(s) {', '.join(missing)}; header is {header}")
        _check_action_columns(file, header)
        # Row numbers count the header as row 1, as a spreadsheet shows them.
        samples = [sample_from_record(rec, file, i) for i, rec in enumerate(reader, start=2)]
    _check_duplicates(file, samples)
    return samples


def duplicate_message(sample: Sample, first_row: int) -> str:
    """Why a row repeats another: the same image, or the same segment of a video."""
    if sample.key == sample.path:
        return f"duplicate path '{sample.path}' (first at row {first_row})"
    segment = f"{_seconds(sample.start)}-{_seconds(sample.end)} s"
    return f"duplicate segment {segment} of '{sample.path}' (first at row {first_row})"


def _check_duplicates(file: Path | str, samples: Sequence[Sample]) -> None:
    seen: dict[str, int] = {}
    for i, sample in enumerate(samples, start=2):
        if sample.key in seen:
            raise _row_error(file, i, "path", duplicate_message(sample, seen[sample.key]))
        seen[sample.key] = i


def nfcs_table(samples: Sequence[Sample], actions: Sequence[str]) -> np.ndarray:
    """N x (A + 1) float32: each action's 0/1 label, then ``nfcs_score``; NaN where a row does not code it
    or its region is ``hidden`` (unknown, never absent; the score too, with an item hidden)."""
    table = np.full((len(samples), len(actions) + 1), np.nan, np.float32)
    for i, sample in enumerate(samples):
        coded = sample.actions or {}
        hidden = [a for a in actions if ACTION_REGION[a] in sample.hidden]
        for j, action in enumerate(actions):
            if action in coded and action not in hidden:
                table[i, j] = float(coded[action])
        if sample.nfcs_score is not None and not hidden:
            table[i, -1] = float(sample.nfcs_score)
    return table


def write_manifest(samples: Iterable[Sample], file: str | Path) -> Path:
    """Write atomically (temp file then rename) so a failure never leaves half a manifest."""
    file = Path(file)
    samples = list(samples)
    _check_duplicates(file, samples)
    columns = _columns(samples)
    with atomic_path(file) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for sample in samples:
            writer.writerow(sample_to_record(sample))
    return file


def _columns(samples: Sequence[Sample]) -> list[str]:
    """COLUMNS, then each optional group some row uses (so older manifests keep their bytes)."""
    columns = list(COLUMNS)
    if any(s.has_video_fields for s in samples):
        columns += VIDEO_COLUMNS
    if any(s.landmarks is not None for s in samples):
        columns += LANDMARK_COLUMNS
    if any(s.has_condition_fields for s in samples):
        columns += CONDITION_COLUMNS
    return columns


def resolve_path(manifest_file: str | Path, path: str) -> Path:
    """An image path from a manifest row, made absolute against the manifest's folder."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else Path(manifest_file).resolve().parent / candidate


def manifest_hash(samples: Sequence[Sample]) -> str:
    """A stable hash of the rows (order-independent), for checkpoints and split reproducibility."""
    lines = sorted(",".join(sample_to_record(s).values()) for s in samples)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def binary_task(samples: Iterable[Sample]) -> list[Sample]:
    """Rows that take part in the pain / no-pain task."""
    return [s for s in samples if s.is_labelled]


def summarize(samples: Sequence[Sample]) -> dict[str, object]:
    """Counts per label, dataset and subject, for summaries and model cards."""
    by_label: dict[str, int] = {}
    by_dataset: dict[str, int] = {}
    subjects: set[str] = set()
    for sample in samples:
        by_label[sample.label or "(unlabelled)"] = by_label.get(sample.label or "(unlabelled)", 0) + 1
        by_dataset[sample.dataset or "(none)"] = by_dataset.get(sample.dataset or "(none)", 0) + 1
        subjects.add(sample.subject)
    return {"images": len(samples), "subjects": len(subjects), "labels": by_label, "datasets": by_dataset}
