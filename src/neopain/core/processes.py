"""Work spread over worker processes: the same results as one process, sooner.

Workers start by ``spawn``: a fork of a process whose OpenMP or OpenCV thread pools have run can hang.
Each task's function must be a module-level function (it travels by name) and must draw its own randomness
from its arguments (a seed per item), so results never depend on the number of workers.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """One worker per CPU core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def threads_per_worker(workers: int) -> int:
    """This process's cores shared among ``workers`` (at least one thread each)."""
    return max(1, default_workers() // max(1, workers))


def worker_pool(
    workers: int, initializer: Callable[..., Any] | None = None, initargs: tuple = ()
) -> ProcessPoolExecutor:
    """``workers`` spawned processes, each running ``initializer(*initargs)`` first."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=initializer,
                               initargs=initargs)


def ordered_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    workers: int = 1,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple = (),
) -> Iterator[R]:
    """``map(fn, items)`` over ``workers`` processes (in this process when 1), yielded in input order."""
    items = list(items)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1 or len(items) < 2:
        if initializer is not None:
            initializer(*initargs)
        yield from map(fn, items)
        return
    with worker_pool(min(workers, len(items)), initializer, initargs) as pool:
        # Small chunks keep the workers busy to the end; results come back in order whatever finishes first.
        yield from pool.map(fn, items, chunksize=max(1, len(items) // (8 * workers)))


def unordered_map(
    fn: Callable[[T], R],
    items: Sequence[T],
    workers: int,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple = (),
) -> Iterator[tuple[T, R]]:
    """(item, ``fn(item)``) as each finishes over ``workers`` processes; the first failure stops the rest
    and is raised here."""
    with worker_pool(workers, initializer, initargs) as pool:
        futures: dict[Future, T] = {pool.submit(fn, item): item for item in items}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()
