"""Work over worker processes: results in input order, the same as in this process, errors raised here."""

from __future__ import annotations

import math

import pytest

from neopain.core.processes import default_workers, ordered_map, threads_per_worker, unordered_map


def test_results_come_back_in_order_whatever_the_workers() -> None:
    items = list(range(40))
    assert list(ordered_map(math.factorial, items, workers=2)) == [math.factorial(i) for i in items]
    assert list(ordered_map(math.factorial, items, workers=1)) == [math.factorial(i) for i in items]
    assert default_workers() >= 1


def test_a_failing_item_raises_its_error_and_workers_are_checked() -> None:
    with pytest.raises(ValueError, match="factorial"):
        list(ordered_map(math.factorial, [3, -1, 4], workers=2))
    with pytest.raises(ValueError, match="workers must be >= 1"):
        list(ordered_map(math.factorial, [3], workers=0))


def test_unordered_results_pair_each_item_with_its_own_result() -> None:
    items = [12, 3, 7, 0, 9]
    assert sorted(unordered_map(math.factorial, items, workers=2)) == sorted((i, math.factorial(i)) for i in items)
    with pytest.raises(ValueError, match="factorial"):
        list(unordered_map(math.factorial, [3, -1, 4], workers=2))
    with pytest.raises(ValueError, match="workers must be >= 1"):
        list(unordered_map(math.factorial, [3], workers=0))


def test_threads_are_shared_among_workers_one_at_least() -> None:
    cores = default_workers()
    assert threads_per_worker(1) == cores
    assert threads_per_worker(cores) == 1
    assert threads_per_worker(cores + 5) == 1
