"""Video adapters' shared checks and the generic one: a CSV listing videos (path, subject, label[, start,
end]), each row checked against its file (suffix, on disk, decodes, segment inside the video).

Every row that cannot be imported is reported with its row number and file, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from neopain.data.importing import DatasetError, ImportResult
from neopain.data.manifest import Sample
from neopain.data.tables import LabelError, Table, find_column, parse_label, parse_number, read_table
from neopain.pixels.videoio import VIDEO_SUFFIXES, VideoError, VideoInfo, is_video_file, probe


class Prober:
    """``videoio.probe`` once per file (many segments may share a video); the error is kept too."""

    def __init__(self) -> None:
        self._seen: dict[Path, VideoInfo | VideoError] = {}

    def __call__(self, path: Path) -> VideoInfo:
        if path not in self._seen:
            try:
                self._seen[path] = probe(path)
            except VideoError as exc:
                self._seen[path] = exc
        found = self._seen[path]
        if isinstance(found, VideoError):
            raise found
        return found


def video_problem(path: Path, shown: str, prober: Prober) -> str:
    """Why ``path`` cannot be imported as a video, or '' when it can."""
    if not is_video_file(path):
        return f"'{shown}' is not a video file (by its suffix; accepted: {', '.join(VIDEO_SUFFIXES)})"
    if not path.is_file():
        return f"video '{shown}' not found (looked at {path})"
    try:
        prober(path)
    except VideoError as exc:
        return f"undecodable video: {exc}"
    return ""


@dataclass(frozen=True)
class _Columns:
    path: str
    subject: str
    label: str
    start: str | None
    end: str | None
    stimulus: str | None
    sex: str | None


def _columns(table: Table, path: str, subject: str, label: str) -> _Columns:
    return _Columns(
        path=table.column((path,), "path"),
        subject=table.column((subject,), "subject"),
        label=table.column((label,), "label"),
        start=find_column(table.header, ("start", "start_s", "from")),
        end=find_column(table.header, ("end", "end_s", "to", "stop")),
        stimulus=find_column(table.header, ("stimulus",)),
        sex=find_column(table.header, ("sex",)),
    )


def _segment(record: dict[str, str], columns: _Columns) -> tuple[float | None, float | None]:
    """(start, end) in seconds from the row; ValueError naming the problem."""
    start = parse_number(record[columns.start]) if columns.start else None
    end = parse_number(record[columns.end]) if columns.end else None
    if (start is not None and start < 0) or (end is not None and end < 0):
        raise ValueError("a segment time is negative")
    if start is not None and end is not None and end <= start:
        raise ValueError(f"the segment ends ({end:g} s) before it starts ({start:g} s)")
    return start, end


def segment_problem(info: VideoInfo, start: float | None, end: float | None) -> str:
    """A segment that starts after its video ends cannot be sampled."""
    if start is not None and start >= info.duration_s:
        return f"the segment starts at {start:g} s, the video lasts {info.duration_s:.3f} s"
    if end is not None and end <= 0:
        return "the segment ends at 0 s"
    return ""


class _Rows:
    """The per-row work of ``import_videos``."""

    def __init__(self, table: Table, columns: _Columns, result: ImportResult) -> None:
        self.table, self.columns, self.result = table, columns, result
        self.base = table.file.resolve().parent
        self.prober = Prober()
        self.first_row: dict[tuple[Path, float | None, float | None], int] = {}

    def add(self, number: int, record: dict[str, str]) -> None:
        where, c = f"{self.table.file.name}: row {number}", self.columns
        raw_path, subject = record[c.path], record[c.subject]
        if not raw_path or not subject:
            self.result.skip(where, f"empty '{c.path if not raw_path else c.subject}'")
            return
        video = (self.base / raw_path).resolve()
        try:
            label = parse_label(record[c.label])
            start, end = _segment(record, c)
        except (LabelError, ValueError) as exc:
            self.result.skip(where, f"{raw_path}: {exc}")
            return
        problem = video_problem(video, raw_path, self.prober) or self._clash(video, raw_path, start, end)
        if problem:
            self.result.skip(where, problem)
            return
        self.first_row[(video, start, end)] = number
        self._warn(where, raw_path, label, self.prober(video), end)
        self.result.samples.append(Sample(
            path=str(video), subject=subject, dataset=self.result.dataset, label=label,
            stimulus=record[c.stimulus] if c.stimulus else "", sex=record[c.sex].upper() if c.sex else "",
            start=start, end=end,
        ))

    def _clash(self, video: Path, raw_path: str, start: float | None, end: float | None) -> str:
        """A segment outside its (decodable) video, or one listed twice; '' when neither."""
        outside = segment_problem(self.prober(video), start, end)
        if outside:
            return f"{raw_path}: {outside}"
        first = self.first_row.get((video, start, end))
        return f"duplicate of row {first} ('{raw_path}')" if first is not None else ""

    def _warn(self, where: str, raw_path: str, label: str, info: VideoInfo, end: float | None) -> None:
        if label == "":
            self.result.warn(where, f"{raw_path}: empty label, kept without a label")
        if end is not None and end > info.duration_s + 1 / info.fps:
            self.result.warn(where, f"{raw_path}: the segment ends at {end:g} s, after the video "
                                    f"({info.duration_s:.3f} s); frames are taken to its end")


def import_videos(
    csv_file: str | Path,
    path_column: str = "path",
    subject_column: str = "subject",
    label_column: str = "label",
    dataset: str | None = None,
) -> ImportResult:
    """Import a CSV listing videos (paths relative to the CSV's folder, or absolute).

    Optional ``start`` / ``end`` columns (seconds) make each row a segment; ``stimulus`` and ``sex`` are
    carried over. Column names are matched ignoring case. The dataset name defaults to the CSV's stem.
    """
    table = read_table(csv_file)
    if not table.rows:
        raise DatasetError(f"{table.file}: no rows below the header")
    columns = _columns(table, path_column, subject_column, label_column)
    result = ImportResult(dataset=dataset or table.file.stem, source=table.file.resolve())
    rows = _Rows(table, columns, result)
    for number, record in table.rows:
        rows.add(number, record)
    return result
