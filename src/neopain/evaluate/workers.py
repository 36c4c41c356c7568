"""Trained repetitions side by side: a pool of worker processes, each training one repetition at a time
with its share of the CPU threads.

Workers start by ``spawn`` (``neopain.core.processes``) and take their ``Scorer`` once; each job's record comes
back to the parent, which writes it, so a stopped run resumes as a sequential one does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from neopain.core.processes import unordered_map
from neopain.evaluate.jobs import Job, Scorer

_scorer: Scorer | None = None  # this worker's, built by _start


def _start(scorer: Scorer, threads: int) -> None:
    import cv2
    import torch

    global _scorer
    torch.set_num_threads(threads)
    cv2.setNumThreads(1)
    _scorer = scorer


def _score(job: Job) -> dict[str, Any]:
    assert _scorer is not None, "the worker's initializer did not run"
    return _scorer.record(job)


def score_side_by_side(
    scorer: Scorer, jobs: Sequence[Job], workers: int, threads: int
) -> Iterator[tuple[Job, dict[str, Any]]]:
    """(job, record) for each job as it finishes, ``workers`` at a time with ``threads`` torch threads each;
    the first failure stops the rest and is raised here."""
    return unordered_map(_score, jobs, workers, initializer=_start, initargs=(scorer, threads))
