"""Generic adapters: a folder per class, or any CSV with path, subject and label columns.

Folder per class::

    SRC/pain/<...>/image.jpg        label pain
    SRC/no_pain/<...>/image.jpg     label no_pain (also nopain, no-pain, "no pain", 0/1, dor/sem dor)

Images directly in SRC or under any other folder are reported, not imported. The subject of an
image comes from, in order of precedence:

1. ``subject_regex``: searched in the image path relative to its class folder (``baby07/img_1.jpg``);
   the group named ``subject``, else group 1, else the whole match;
2. ``subject_from="folder"``: the first folder below the class folder (``pain/baby07/img_1.jpg``);
3. ``subject_from="prefix"`` (default): the file stem up to the first ``_`` (``baby07_001.jpg`` ->
   ``baby07``; the whole stem when there is no ``_``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from neopain.data.importing import DatasetError, ImportResult, relative_name, walk_images
from neopain.data.manifest import Sample
from neopain.data.tables import LabelError, Table, find_column, parse_label, parse_number, read_table
from neopain.pixels.imageio import is_image_file

SUBJECT_RULES = ("prefix", "folder")
CLASS_FOLDERS = "pain/, no_pain/ (also nopain, no-pain, 'no pain', 0/1, dor/sem dor)"


class SubjectError(ValueError):
    """No subject could be read from an image path."""


def _compile(subject_regex: str | None) -> re.Pattern[str] | None:
    if subject_regex is None:
        return None
    try:
        return re.compile(subject_regex)
    except re.error as exc:
        raise DatasetError(f"subject regex '{subject_regex}' is not valid: {exc}") from None


def subject_for(
    inside_class: PurePosixPath, subject_from: str = "prefix", pattern: re.Pattern[str] | None = None
) -> str:
    """The subject of an image from its path relative to the class folder (rules in the module doc)."""
    if pattern is not None:
        match = pattern.search(inside_class.as_posix())
        if match is None:
            raise SubjectError(f"subject regex '{pattern.pattern}' does not match '{inside_class}'")
        if "subject" in pattern.groupindex:
            subject = match["subject"]
        else:
            subject = match[1] if pattern.groups else match[0]
    elif subject_from == "folder":
        if len(inside_class.parts) < 2:
            raise SubjectError("no subject folder between the class folder and the image")
        subject = inside_class.parts[0]
    elif subject_from == "prefix":
        subject = inside_class.stem.split("_", 1)[0]
    else:
        raise DatasetError(f"unknown subject rule '{subject_from}' (choose {', '.join(SUBJECT_RULES)})")
    subject = (subject or "").strip()
    if not subject:
        raise SubjectError(f"empty subject read from '{inside_class}'")
    return subject


def import_folder(
    src: str | Path,
    subject_regex: str | None = None,
    subject_from: str = "prefix",
    dataset: str | None = None,
) -> ImportResult:
    """Import ``SRC/<class>/...`` images; the dataset name defaults to SRC's folder name."""
    if subject_from not in SUBJECT_RULES:
        raise DatasetError(f"unknown subject rule '{subject_from}' (choose {', '.join(SUBJECT_RULES)})")
    pattern = _compile(subject_regex)
    root = Path(src).resolve()
    result = ImportResult(dataset=dataset or root.name, source=root)
    unknown_folders: Counter[str] = Counter()
    for image in walk_images(root, result):
        parts = image.relative_to(root).parts
        shown = relative_name(image, root)
        if len(parts) == 1:
            result.skip(shown, f"not inside a class folder ({CLASS_FOLDERS})")
            continue
        try:
            label = parse_label(parts[0])
        except LabelError:
            unknown_folders[parts[0]] += 1
            continue
        try:
            subject = subject_for(PurePosixPath(*parts[1:]), subject_from, pattern)
        except SubjectError as exc:
            result.skip(shown, str(exc))
            continue
        result.samples.append(
            Sample(path=str(image), subject=subject, dataset=result.dataset, label=label, stimulus=parts[0])
        )
    for folder, count in sorted(unknown_folders.items()):
        result.skip(f"{folder}/", f"not a class folder ({CLASS_FOLDERS}): {count} image(s) not imported")
    return result


def _columns(table: Table, path_column: str, subject_column: str, label_column: str) -> tuple[str, str, str]:
    return (
        table.column((path_column,), "path"),
        table.column((subject_column,), "subject"),
        table.column((label_column,), "label"),
    )


def _optional(table: Table, names: Sequence[str]) -> dict[str, str]:
    """Manifest columns the CSV happens to carry too (stimulus, sex, nfcs_score), by their header name."""
    found = {name: find_column(table.header, (name,)) for name in names}
    return {name: column for name, column in found.items() if column is not None}


def import_csv(
    csv_file: str | Path,
    path_column: str = "path",
    subject_column: str = "subject",
    label_column: str = "label",
    dataset: str | None = None,
) -> ImportResult:
    """Import a CSV listing images (paths relative to the CSV's folder, or absolute).

    Column names are matched ignoring case; ``stimulus``, ``sex`` and ``nfcs_score`` columns are
    carried over when present. The dataset name defaults to the CSV's file stem.
    """
    table = read_table(csv_file)
    if not table.rows:
        raise DatasetError(f"{table.file}: no rows below the header")
    path_col, subject_col, label_col = _columns(table, path_column, subject_column, label_column)
    extra = _optional(table, ("stimulus", "sex", "nfcs_score"))
    base = table.file.resolve().parent
    result = ImportResult(dataset=dataset or table.file.stem, source=table.file.resolve())
    first_row: dict[Path, int] = {}
    for number, record in table.rows:
        where = f"{table.file.name}: row {number}"
        raw_path, subject = record[path_col], record[subject_col]
        if not raw_path or not subject:
            result.skip(where, f"empty '{path_col if not raw_path else subject_col}'")
            continue
        image = (base / raw_path).resolve()
        try:
            label = parse_label(record[label_col])
            score = parse_number(record[extra["nfcs_score"]]) if "nfcs_score" in extra else None
        except (LabelError, ValueError) as exc:
            result.skip(where, f"{raw_path}: {exc}")
            continue
        problem = _image_problem(image, raw_path, first_row)
        if problem:
            result.skip(where, problem)
            continue
        first_row[image] = number
        if label == "":
            result.warn(where, f"{raw_path}: empty label, kept without a label")
        result.samples.append(
            Sample(
                path=str(image),
                subject=subject,
                dataset=result.dataset,
                label=label,
                stimulus=record[extra["stimulus"]] if "stimulus" in extra else "",
                sex=record[extra["sex"]].upper() if "sex" in extra else "",
                nfcs_score=score,
            )
        )
    return result


def _image_problem(image: Path, raw_path: str, first_row: dict[Path, int]) -> str:
    """Why a listed image cannot be imported, or '' when it can."""
    if not is_image_file(image):
        return f"'{raw_path}' is not an image file (by its suffix)"
    if not image.is_file():
        return f"image '{raw_path}' not found (looked at {image})"
    if image in first_row:
        return f"duplicate of row {first_row[image]} ('{raw_path}')"
    return ""
