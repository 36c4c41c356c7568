"""Shared CLI helpers: progress bars and turning our errors into clear one-line messages."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

T = TypeVar("T")
console = Console(stderr=True)


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a rich progress bar on stderr."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        yield from progress.track(items, total=total, description=description)


@contextmanager
def user_errors(*kinds: type[Exception]):
    """Print expected errors (bad input, missing files) as one red line and exit 2, no traceback."""
    try:
        yield
    except kinds as exc:
        # The message may hold file names with brackets: print it as plain text, not markup.
        console.print("error: ", style="red", end="")
        console.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from exc
