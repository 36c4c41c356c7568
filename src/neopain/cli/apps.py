"""The typer apps that command modules attach to; kept apart so modules never import each other."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="neopain",
    help="Neonatal pain assessment from face images. Research software, not a medical device.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Datasets: import, validate, synthesise.", no_args_is_help=True)
faces_app = typer.Typer(help="Face detection and crops.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(faces_app, name="faces")
