"""Shared by the benchmarks: print the report as JSON, and write it to ``--out`` when asked."""

from __future__ import annotations

import json
from pathlib import Path


def emit(report: dict, out: Path | None, indent: int = 2) -> None:
    """Print ``report`` as JSON and, when ``out`` is given, write the same text there (folders made)."""
    text = json.dumps(report, indent=indent)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
