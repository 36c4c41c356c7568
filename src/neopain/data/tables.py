"""Forgiving reading of user CSV files (labels, path lists): delimiter, encoding, column names, labels."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from neopain.data.importing import DatasetError

# Spreadsheets save CSV as ',' ';' or tab; Portuguese-locale Excel uses ';' with decimal commas.
DELIMITERS = ",;\t"

# Accepted spellings, compared after lower-casing and turning spaces/hyphens into '_'.
PAIN_WORDS = frozenset({"pain", "1", "1.0", "dor", "com_dor"})
NO_PAIN_WORDS = frozenset({"no_pain", "nopain", "0", "0.0", "sem_dor", "semdor", "not_pain"})
ACCEPTED_LABELS = "pain, dor, 1 / no_pain, no pain, nopain, no-pain, sem dor, 0 (any case), or empty"


class LabelError(ValueError):
    """A label value that is neither pain nor no-pain."""


@dataclass(frozen=True)
class Table:
    """A CSV file read into memory: the normalised header and its rows (row 1 is the header)."""

    file: Path
    header: tuple[str, ...]
    rows: list[tuple[int, dict[str, str]]]

    def column(self, aliases: Sequence[str], what: str) -> str:
        """The header name matching one of ``aliases``; DatasetError naming file and header otherwise."""
        found = find_column(self.header, aliases)
        if found is None:
            looked, header = ", ".join(aliases), list(self.header)
            raise DatasetError(f"{self.file}: no {what} column (looked for {looked}); header is {header}")
        return found


def normalise_word(value: str) -> str:
    return re.sub(r"[\s\-]+", "_", value.strip().lower())


def find_column(header: Sequence[str], aliases: Sequence[str]) -> str | None:
    """The first header entry equal to an alias, ignoring case, spaces and hyphens."""
    wanted = [normalise_word(a) for a in aliases]
    by_normal = {normalise_word(h): h for h in header}
    return next((by_normal[w] for w in wanted if w in by_normal), None)


def parse_label(value: str) -> str:
    """``pain``, ``no_pain`` or ``""`` from the spellings users write; LabelError otherwise."""
    word = normalise_word(value)
    if word == "":
        return ""
    if word in PAIN_WORDS:
        return "pain"
    if word in NO_PAIN_WORDS:
        return "no_pain"
    raise LabelError(f"unknown label '{value.strip()}' (accepted: {ACCEPTED_LABELS})")


def parse_number(value: str) -> float | None:
    """A number, accepting a decimal comma (``3,5``); None when empty; ValueError when not a number."""
    text = value.strip().replace(",", ".")
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"'{value.strip()}' is not a number") from None


def _decode(file: Path) -> str:
    raw = file.read_bytes()
    try:
        return raw.decode("utf-8-sig")  # the BOM Excel writes
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")  # older Windows spreadsheets


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    first_line = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(first_line, delimiters=DELIMITERS)
    except csv.Error:
        return csv.excel  # a single-column header: the delimiter does not matter


def read_table(file: str | Path) -> Table:
    """Read a CSV with any common delimiter/encoding; header names are stripped of spaces."""
    file = Path(file)
    if not file.is_file():
        raise DatasetError(f"{file}: CSV file not found")
    text = _decode(file)
    reader = csv.reader(io.StringIO(text, newline=""), dialect=_dialect(text))
    lines = list(reader)
    if not lines or not any(cell.strip() for cell in lines[0]):
        raise DatasetError(f"{file}: empty CSV (no header row)")
    header = tuple(cell.strip() for cell in lines[0])
    rows = []
    for number, cells in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue  # blank lines at the end of a spreadsheet export
        padded = [*cells, *([""] * (len(header) - len(cells)))]
        rows.append((number, {name: padded[i].strip() for i, name in enumerate(header)}))
    return Table(file=file, header=header, rows=rows)
