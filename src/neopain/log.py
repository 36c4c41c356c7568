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
    logging.basicConfig(level=level.upper(), format="%(message)s", datefmt="[%X]", handlers=[handler])
    _CONFIGURED = True


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
