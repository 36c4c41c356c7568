"""``neopain data import icope|icopevid|unifesp|folder|csv|videos`` and ``neopain data validate``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from neopain.cli.apps import data_app
from neopain.cli.common import track, user_errors
from neopain.data import (
    DEFAULT_NO_PAIN_STIMULI,
    DEFAULT_PAIN_STIMULI,
    SUBJECT_RULES,
    DatasetError,
    ImportResult,
    ManifestError,
    Problem,
    ValidationReport,
    import_csv,
    import_folder,
    import_icope,
    import_icopevid,
    import_unifesp,
    import_videos,
    validate_manifest,
)
from neopain.pixels.imageio import ImageError
from neopain.scales.nfcs import LABELS

import_app = typer.Typer(help="Turn a dataset on disk into a manifest CSV.", no_args_is_help=True)
data_app.add_typer(import_app, name="import")

USER_ERRORS = (DatasetError, ManifestError, ImageError, OSError)
MAX_LISTED = 200  # problems shown per table; the count is always printed in full

Src = Annotated[Path, typer.Argument(help="Dataset folder (searched recursively).")]
Out = Annotated[Path, typer.Option("--out", "-o", help="Manifest CSV to write (atomically).")]
DatasetName = Annotated[str | None, typer.Option(help="Dataset name in the manifest (default: SRC's name).")]


def _out() -> Console:
    """A stdout console made per call, so it follows the terminal width of the moment."""
    return Console(highlight=False)


def split_words(values: Sequence[str] | None) -> list[str]:
    """``["rest,cry", "air"]`` -> ``["rest", "cry", "air"]``: options may be repeated or comma-separated."""
    return [word.strip() for value in values or () for word in value.split(",") if word.strip()]


def _label_table(result: ImportResult) -> Table:
    table = Table(title=Text(f"{result.dataset}: {result.source}"), title_justify="left")
    for column in ("label", "images", "subjects"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for label in (*LABELS, ""):
        rows = [s for s in result.samples if s.label == label]
        if rows or label:
            table.add_row(label or "(unlabelled)", str(len(rows)), str(len({s.subject for s in rows})))
    table.add_row(
        "total", str(len(result.samples)), str(len({s.subject for s in result.samples})), style="bold"
    )
    return table


def _stimulus_table(result: ImportResult) -> Table | None:
    pairs = Counter((s.stimulus, s.label) for s in result.samples if s.stimulus)
    if not pairs:
        return None
    table = Table(title="by stimulus / source class", title_justify="left")
    for column in ("stimulus", "label", "images"):
        table.add_column(column, justify="right" if column == "images" else "left")
    for (stimulus, label), count in sorted(pairs.items()):
        table.add_row(Text(stimulus), label or "(unlabelled)", str(count))
    return table


def _problem_table(title: str, problems: Sequence[Problem], style: str) -> Table:
    table = Table(title=f"{title} ({len(problems)})", title_justify="left", title_style=style)
    table.add_column("file or row", overflow="fold")
    table.add_column("reason", overflow="fold")
    for problem in problems[:MAX_LISTED]:
        table.add_row(Text(problem.where), Text(problem.reason))
    if len(problems) > MAX_LISTED:
        table.add_row("...", f"{len(problems) - MAX_LISTED} more not shown")
    return table


def print_import_summary(result: ImportResult, console: Console) -> None:
    """Images per label and stimulus, then every warning and every file or row not imported."""
    console.print(_label_table(result))
    stimuli = _stimulus_table(result)
    if stimuli is not None:
        console.print(stimuli)
    if result.warnings:
        console.print(_problem_table("warnings", result.warnings, "yellow"))
    if result.problems:
        console.print(_problem_table("not imported", result.problems, "red"))


def _refuse_overwriting(out: Path, *inputs: Path) -> None:
    """``--out`` must not replace the user's own CSV (their labels would be lost)."""
    for source in inputs:
        if out.resolve() == source.resolve():
            raise DatasetError(f"{out}: --out would overwrite the input {source}; choose another file")


def _finish(result: ImportResult, out: Path) -> None:
    console = _out()
    print_import_summary(result, console)
    if not result.samples:
        raise DatasetError(f"{result.source}: nothing imported, every image was skipped (see 'not imported')")
    written = result.write(out)
    console.print(
        Text(f"wrote {len(result.samples)} rows to {written}; next: neopain data validate {written}")
    )


@import_app.command("icope")
def import_icope_command(
    src: Src,
    out: Out,
    pain_stimuli: Annotated[
        list[str] | None, typer.Option(help="Stimuli labelled pain (comma-separated or repeated).")
    ] = None,
    no_pain_stimuli: Annotated[
        list[str] | None, typer.Option(help="Stimuli labelled no_pain, e.g. rest,cry,air,friction.")
    ] = None,
) -> None:
    """Import iCOPE stills named S{NN}_{M|F}_{stimulus}[_{k}].jpg (pain vs rest by default)."""
    with user_errors(*USER_ERRORS):
        result = import_icope(
            src,
            pain_stimuli=split_words(pain_stimuli) or DEFAULT_PAIN_STIMULI,
            no_pain_stimuli=split_words(no_pain_stimuli) or DEFAULT_NO_PAIN_STIMULI,
        )
        _finish(result, out)


@import_app.command("unifesp")
def import_unifesp_command(
    src: Src,
    out: Out,
    labels_csv: Annotated[
        Path, typer.Option(help="CSV with columns file, label (pain/no_pain, 1/0, dor/sem dor), nfcs_score.")
    ],
) -> None:
    """Import UNIFESP BMPs named {subject:02d}_{HHMMSS}[_k].bmp with labels from a CSV."""
    with user_errors(*USER_ERRORS):
        _refuse_overwriting(out, labels_csv)
        _finish(import_unifesp(src, labels_csv), out)


@import_app.command("folder")
def import_folder_command(
    src: Src,
    out: Out,
    subject_regex: Annotated[
        str | None, typer.Option(help="Regex on the path inside the class folder; group 'subject' or 1.")
    ] = None,
    subject_from: Annotated[
        str, typer.Option(help=f"Subject rule without a regex: {' or '.join(SUBJECT_RULES)}.")
    ] = "prefix",
    dataset: DatasetName = None,
) -> None:
    """Import SRC/pain/... and SRC/no_pain/...; subject = file stem up to the first '_' by default."""
    with user_errors(*USER_ERRORS):
        _finish(
            import_folder(src, subject_regex=subject_regex, subject_from=subject_from, dataset=dataset), out
        )


def _import_table(importer: Callable[..., ImportResult], src: Path, out: Path, columns: tuple[str, str, str],
                  dataset: str | None) -> None:
    """A CSV importer (images or videos) run on its path, subject and label columns."""
    path_column, subject_column, label_column = columns
    with user_errors(*USER_ERRORS):
        _refuse_overwriting(out, src)
        result = importer(src, path_column=path_column, subject_column=subject_column,
                          label_column=label_column, dataset=dataset)
        _finish(result, out)


@import_app.command("csv")
def import_csv_command(
    src: Annotated[Path, typer.Argument(help="CSV listing images; paths relative to the CSV's folder.")],
    out: Out,
    path_column: Annotated[str, typer.Option(help="Column with the image path.")] = "path",
    subject_column: Annotated[str, typer.Option(help="Column with the subject id.")] = "subject",
    label_column: Annotated[str, typer.Option(help="Column with the label.")] = "label",
    dataset: DatasetName = None,
) -> None:
    """Import any CSV with path, subject and label columns."""
    _import_table(import_csv, src, out, (path_column, subject_column, label_column), dataset)


@import_app.command("icopevid")
def import_icopevid_command(
    src: Src,
    out: Out,
    labels_csv: Annotated[
        Path | None, typer.Option(help="Optional CSV with columns file, label[, subject]; overrides names.")
    ] = None,
) -> None:
    """Import iCOPEvid video segments: pain / no-pain from folders or names (docs/MANIFEST.md)."""
    with user_errors(*USER_ERRORS):
        if labels_csv is not None:
            _refuse_overwriting(out, labels_csv)
        _finish(import_icopevid(src, labels_csv), out)


@import_app.command("videos")
def import_videos_command(
    src: Annotated[Path, typer.Argument(help="CSV listing videos (path, subject, label[, start, end]).")],
    out: Out,
    path_column: Annotated[str, typer.Option(help="Column with the video path.")] = "path",
    subject_column: Annotated[str, typer.Option(help="Column with the subject id.")] = "subject",
    label_column: Annotated[str, typer.Option(help="Column with the label.")] = "label",
    dataset: DatasetName = None,
) -> None:
    """Import a CSV of videos or video segments (start, end in seconds); every file is probed."""
    _import_table(import_videos, src, out, (path_column, subject_column, label_column), dataset)


def _counts_table(report: ValidationReport) -> Table:
    title = Text(f"{report.manifest}: {report.rows} rows, {report.subjects} subjects")
    table = Table(title=title, title_justify="left")
    table.add_column("count")
    table.add_column("images", justify="right")
    for label, count in sorted(report.by_label.items()):
        table.add_row(Text(f"label {label}"), str(count))
    for dataset, count in sorted(report.by_dataset.items()):
        table.add_row(Text(f"dataset {dataset}"), str(count))
    return table


def print_validation(report: ValidationReport, console: Console) -> None:
    if report.rows:
        console.print(_counts_table(report))
    for warning in report.warnings:
        console.print(Text.assemble(("warning: ", "yellow"), warning))
    for error in report.errors:
        console.print(Text.assemble(("error: ", "red"), error))
    checked = "images checked" if report.images_checked else "images not checked"
    if report.ok:
        console.print(f"[green]valid[/green] ({checked}, {len(report.warnings)} warning(s))")
    else:
        console.print(f"[red]invalid[/red]: {len(report.errors)} error(s) ({checked})")


@data_app.command("validate")
def validate_command(
    manifest: Annotated[Path, typer.Argument(help="Manifest CSV.")],
    no_images: Annotated[
        bool, typer.Option("--no-images", help="Check the rows only, not the images.")
    ] = False,
    decode: Annotated[bool, typer.Option(help="Decode every pixel (slow; catches truncated files).")] = False,
) -> None:
    """Check a manifest: rows, images exist and decode, boxes inside, classes; exit 1 when invalid."""
    with user_errors(OSError):
        report = validate_manifest(
            manifest,
            check_images=not no_images,
            decode=decode,
            progress=lambda rows: track(rows, "checking images"),
        )
    print_validation(report, _out())
    if not report.ok:
        raise typer.Exit(1)
