"""The ``neopain`` command line: one sub-command per stage, plus ``demo``."""

from __future__ import annotations

from neopain.cli import (  # noqa: F401
    accounts,
    data,
    demo,
    evaluate,
    explain,
    export,
    faces,
    federated,
    labelled,
    serve,
    synth,
    train,
    video_eval,
)
from neopain.cli.apps import app
from neopain.core.config import get_settings
from neopain.core.log import setup_logging


def main() -> None:
    setup_logging(get_settings().log_level)
    app()
