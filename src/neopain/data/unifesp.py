"""UNIFESP adapter: BMPs named ``{subject:02d}_{HHMMSS}[_k].bmp``, labels from a CSV the user gives.

The labels CSV (delimiter ``,`` ``;`` or tab; UTF-8 or Windows encoding; column names in any case):

* image column, one of ``file``, ``image``, ``filename``, ``path``, ``imagem``, ``arquivo``: the image's
  file name (``01_101500.bmp``; a folder part and the extension are ignored, so ``01_101500`` works)
* label column, one of ``label``, ``class``, ``classe``: ``pain``/``dor``/``1`` or
  ``no_pain``/``no pain``/``nopain``/``sem dor``/``0`` (any case), or empty for unlabelled
* optional ``nfcs_score`` (or ``nfcs``, ``score``): a number, decimal comma accepted

Rows naming an image that is not on disk, images on disk without a row and bad rows are reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from neopain.data.importing import ImportResult, relative_name, walk_images
from neopain.data.manifest import Sample
from neopain.data.tables import LabelError, find_column, parse_label, parse_number, read_table

DATASET = "unifesp"
FILE_COLUMNS = ("file", "image", "filename", "file_name", "path", "imagem", "arquivo")
LABEL_COLUMNS = ("label", "class", "classe")
SCORE_COLUMNS = ("nfcs_score", "nfcs", "score")

_NAME = re.compile(r"(?P<subject>\d{1,3})_(?P<time>\d{6})(?:_(?P<take>\d+))?")


class UnifespNameError(ValueError):
    """A file name that does not follow the UNIFESP pattern."""


@dataclass(frozen=True)
class UnifespName:
    subject: str  # unifesp_01
    time: str  # HHMMSS
    take: str = ""


@dataclass(frozen=True)
class LabelRow:
    """One usable row of the labels CSV."""

    row: int
    name: str
    label: str
    nfcs_score: float | None


def _key(name: str) -> str:
    """How a CSV entry and a file on disk are matched: the file stem, case and spaces ignored."""
    return re.sub(r"\s+", "", Path(name.replace("\\", "/")).stem).lower()


def parse_unifesp_name(filename: str) -> UnifespName:
    """Parse ``01_101500_2.bmp``; UnifespNameError says what is wrong."""
    stem = re.sub(r"\s+", "", Path(filename).stem)
    match = _NAME.fullmatch(stem)
    if not match:
        raise UnifespNameError("expected <subject number>_<HHMMSS>[_<k>]")
    time = match["time"]
    if int(time[:2]) > 23 or int(time[2:4]) > 59 or int(time[4:]) > 59:
        raise UnifespNameError(f"'{time}' is not a time of day HHMMSS")
    return UnifespName(subject=f"{DATASET}_{int(match['subject']):02d}", time=time, take=match["take"] or "")


def read_unifesp_labels(labels_csv: str | Path, result: ImportResult) -> dict[str, LabelRow]:
    """Label rows keyed by image stem; bad and duplicate rows go to ``result.problems``."""
    table = read_table(labels_csv)
    file_col = table.column(FILE_COLUMNS, "image file")
    label_col = table.column(LABEL_COLUMNS, "label")
    score_col = find_column(table.header, SCORE_COLUMNS)
    rows: dict[str, LabelRow] = {}
    for number, record in table.rows:
        where = f"{table.file.name}: row {number}"
        name = record[file_col]
        if not name:
            result.skip(where, f"empty '{file_col}'")
            continue
        try:
            label = parse_label(record[label_col])
            score = parse_number(record[score_col]) if score_col else None
        except (LabelError, ValueError) as exc:
            result.skip(where, f"{name}: {exc}")
            continue
        key = _key(name)
        if key in rows:
            result.skip(where, f"{name}: duplicate of row {rows[key].row}")
            continue
        rows[key] = LabelRow(row=number, name=name, label=label, nfcs_score=score)
    return rows


def import_unifesp(src: str | Path, labels_csv: str | Path) -> ImportResult:
    """Import a UNIFESP copy (searched recursively) with labels and NFCS scores from ``labels_csv``."""
    root = Path(src).resolve()
    result = ImportResult(dataset=DATASET, source=root)
    labels = read_unifesp_labels(labels_csv, result)
    matched: set[str] = set()
    for image in walk_images(root, result):
        shown = relative_name(image, root)
        row = labels.get(_key(image.name))
        if row is not None:
            matched.add(_key(image.name))
        try:
            name = parse_unifesp_name(image.name)
        except UnifespNameError as exc:
            result.skip(shown, f"name not in UNIFESP form: {exc}")
            continue
        if row is None:
            result.warn(shown, f"no row in {Path(labels_csv).name}: kept without a label")
        elif row.label == "":
            result.warn(shown, f"empty label in {Path(labels_csv).name} row {row.row}: kept without a label")
        result.samples.append(
            Sample(
                path=str(image),
                subject=name.subject,
                dataset=DATASET,
                label=row.label if row else "",
                nfcs_score=row.nfcs_score if row else None,
            )
        )
    for key, row in labels.items():
        if key not in matched:
            result.skip(
                f"{Path(labels_csv).name}: row {row.row}", f"image '{row.name}' not found under {root}"
            )
    return result
