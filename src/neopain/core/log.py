"""Logging set-up. Patient names never reach a log: log ids, counts and paths of our own making only."""

from __future__ import annotations

import logging

from rich.logging import RichHandler

_CONFIGURED = False


def setup_logging(level: str = "INFO") -> None:
    """Route the package's loggers through rich, once per process."""
    global _CONFIGURED
    if _CONFIGURED:
        return
    handler = RichHandler(show_path=False, rich_tracebacks=False, markup=False)
    # Third-party libraries (onnxruntime's quantiser, alembic) stay at WARNING: their INFO floods.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", datefmt="[%X]", handlers=[handler])
    logging.getLogger("neopain").setLevel(level.upper())
    _CONFIGURED = True


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
