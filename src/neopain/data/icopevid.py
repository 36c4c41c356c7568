"""iCOPEvid adapter: video segments of newborns labelled pain / no-pain (the set is released by request).

We have not seen a copy; the layout is modelled on its published description (short segments, about 20 s,
of each baby, in two classes) and read tolerantly. For each video file under the root (searched
recursively), in this order:

* label: the nearest folder named like a class (``pain``; ``nopain``, ``no_pain``, ``no-pain``,
  ``no pain``, ``nonpain``, ``non_pain``, ``non-pain``; any case), else a class word in the file name
  (``S01_pain_2.mp4``, ``s3-nopain-1.avi``, ``S05_no_pain.mp4``), else a row of the optional labels CSV.
  A labels CSV row overrides both (with a warning when they disagree).
* subject: ``S<n>``, ``subject<n>``, ``subj<n>``, ``baby<n>``, ``neonate<n>``, ``infant<n>`` or ``id<n>``
  (``_``, ``-`` or a space allowed before the number) in the file name, else in its folders (nearest
  first) -> ``icopevid_S03``; else the first folder below the root that is not a class folder ->
  ``icopevid_<folder>``; else the CSV's subject column.
* sex: a lone ``M`` or ``F`` part of the name (``S01_F_pain_1.mp4``); stimulus: an iCOPE stimulus word
  other than pain in the name (``S02_rest_1.mp4`` -> rest), else empty.

Every file is probed (it must open and decode); what cannot be read or labelled is reported, not dropped.
A copy laid out otherwise is imported with ``import_videos`` and a CSV of path, subject, label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from neopain.data.icope import STIMULI
from neopain.data.importing import ImportResult, relative_name, walk_videos
from neopain.data.manifest import Sample
from neopain.data.tables import LabelError, find_column, parse_label, read_table
from neopain.data.videos import Prober, video_problem

DATASET = "icopevid"
NO_PAIN_FOLDERS = ("nopain", "no_pain", "no-pain", "no pain", "nonpain", "non_pain", "non-pain")
CLASS_FOLDERS = {"pain": "pain", **dict.fromkeys(NO_PAIN_FOLDERS, "no_pain")}
FILE_COLUMNS = ("file", "video", "filename", "file_name", "path", "segment")
LABEL_COLUMNS = ("label", "class")
SUBJECT_COLUMNS = ("subject", "baby", "neonate")

# "no"/"non" + "pain" first: "nopain" must never read as pain. Letters may not touch the word either side.
_NO_PAIN = re.compile(r"(?<![a-z])non?[ _-]?pain(?![a-z])")
_PAIN = re.compile(r"(?<![a-z])pain(?![a-z])")
_SUBJECT = re.compile(r"(?<![a-z])(?:s|subject|subj|baby|neonate|infant|id)[ _-]?(\d{1,3})(?!\d)")
_SEX = re.compile(r"(?<![a-z0-9])([mf])(?![a-z0-9])")
_WORDS = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class CsvLabel:
    row: int
    name: str
    label: str
    subject: str


def label_in_name(text: str) -> str:
    """``pain``, ``no_pain`` or ``''`` from a class word in a file or folder name."""
    lowered = text.lower()
    if _NO_PAIN.search(lowered):
        return "no_pain"
    return "pain" if _PAIN.search(lowered) else ""


def subject_in_name(text: str) -> str:
    """``icopevid_S03`` from ``S3`` / ``subject_03`` / ``baby-3`` in a name, or ''."""
    match = _SUBJECT.search(text.lower())
    return f"{DATASET}_S{int(match[1]):02d}" if match else ""


def _key(name: str) -> str:
    """A CSV entry and a file are matched by file stem, case and spaces ignored."""
    return re.sub(r"\s+", "", PurePosixPath(name.replace("\\", "/")).stem).lower()


def read_icopevid_labels(labels_csv: str | Path, result: ImportResult) -> dict[str, CsvLabel]:
    """Label rows keyed by file stem; bad and duplicate rows go to ``result.problems``."""
    table = read_table(labels_csv)
    file_col = table.column(FILE_COLUMNS, "video file")
    label_col = table.column(LABEL_COLUMNS, "label")
    subject_col = find_column(table.header, SUBJECT_COLUMNS)
    rows: dict[str, CsvLabel] = {}
    for number, record in table.rows:
        where, name = f"{table.file.name}: row {number}", record[file_col]
        if not name:
            result.skip(where, f"empty '{file_col}'")
            continue
        try:
            label = parse_label(record[label_col])
        except LabelError as exc:
            result.skip(where, f"{name}: {exc}")
            continue
        if _key(name) in rows:
            result.skip(where, f"{name}: duplicate of row {rows[_key(name)].row}")
            continue
        rows[_key(name)] = CsvLabel(number, name, label, record[subject_col] if subject_col else "")
    return rows


def _folder_label(folders: tuple[str, ...]) -> str:
    for folder in reversed(folders):
        label = CLASS_FOLDERS.get(re.sub(r"\s+", " ", folder.strip().lower()))
        if label:
            return label
    return ""


def _subject(stem: str, folders: tuple[str, ...]) -> str:
    for text in (stem, *reversed(folders)):
        found = subject_in_name(text)
        if found:
            return found
    plain = [f for f in folders if f.strip().lower() not in CLASS_FOLDERS]
    return f"{DATASET}_{plain[0].strip()}" if plain else ""


def _stimulus(stem: str) -> str:
    return next((w for w in _WORDS.findall(stem.lower()) if w in STIMULI and w != "pain"), "")


def _sex(stem: str) -> str:
    match = _SEX.search(stem.lower().replace("_", " ").replace("-", " "))
    return match[1].upper() if match else ""


class _Importer:
    """The per-file work of ``import_icopevid``."""

    def __init__(self, root: Path, result: ImportResult, labels: dict[str, CsvLabel], csv_name: str) -> None:
        self.root, self.result, self.labels, self.csv_name = root, result, labels, csv_name
        self.prober = Prober()
        self.matched: set[str] = set()

    def label(self, shown: str, stem: str, folders: tuple[str, ...], row: CsvLabel | None) -> str:
        """The class of a file: its folder, else its name; a CSV row overrides (warning when they differ)."""
        folder, name = _folder_label(folders), label_in_name(stem)
        if folder and name and folder != name:
            self.result.warn(shown, f"its folder says {folder}, its name {name}: {folder} kept")
        own = folder or name
        if row is None:
            return own
        if own and row.label and own != row.label:
            self.result.warn(shown, f"{self.csv_name} row {row.row} says {row.label}, the name says {own}: "
                                    f"{row.label} kept")
        return row.label or own

    def add(self, video: Path) -> None:
        shown = relative_name(video, self.root)
        folders = video.relative_to(self.root).parts[:-1]
        row = self.labels.get(_key(video.stem))
        if row is not None:
            self.matched.add(_key(video.stem))
        problem = video_problem(video, shown, self.prober)
        if problem:
            self.result.skip(shown, problem)
            return
        label = self.label(shown, video.stem, folders, row)
        subject = _subject(video.stem, folders) or (f"{DATASET}_{row.subject}" if row and row.subject else "")
        if not label:
            self.result.skip(shown, "no pain / no-pain mark in its folders or name (accepted: "
                                    f"{', '.join(sorted(CLASS_FOLDERS))}) and no labels CSV row")
            return
        if not subject:
            self.result.skip(shown, "no subject in the name or folders (S<n>, subject<n>, baby<n>, ... "
                                    "or a folder per subject)")
            return
        self.result.samples.append(Sample(
            path=str(video), subject=subject, dataset=DATASET, label=label,
            stimulus=_stimulus(video.stem), sex=_sex(video.stem),
        ))


def import_icopevid(src: str | Path, labels_csv: str | Path | None = None) -> ImportResult:
    """Import an iCOPEvid copy (searched recursively) into one manifest row per video segment."""
    root = Path(src).resolve()
    result = ImportResult(dataset=DATASET, source=root)
    labels = read_icopevid_labels(labels_csv, result) if labels_csv is not None else {}
    importer = _Importer(root, result, labels, Path(labels_csv).name if labels_csv else "")
    for video in walk_videos(root, result):
        importer.add(video)
    for key, row in labels.items():
        if key not in importer.matched:
            result.skip(f"{importer.csv_name}: row {row.row}", f"video '{row.name}' not found under {root}")
    return result
