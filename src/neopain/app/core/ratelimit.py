"""Login throttling: too many failures for one user name from one address within a window answer 429."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

# Bounded memory: at most this many (user name, address) pairs are tracked; the oldest go first.
MAX_KEYS = 10_000


class LoginThrottle:
    """Counts failed logins per (user name, client address) in a sliding window, in this process."""

    def __init__(
        self, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        times = self._failures.get(key, deque())
        cutoff = self._clock() - self.window_s
        while times and times[0] <= cutoff:
            times.popleft()
        return times

    def retry_after(self, username: str, address: str) -> int:
        """Seconds to wait before another try is allowed; 0 when allowed now."""
        key = (username.lower(), address)
        with self._lock:
            times = self._recent(key)
            if len(times) < self.max_failures:
                return 0
            return max(1, int(times[0] + self.window_s - self._clock()) + 1)

    def failed(self, username: str, address: str) -> None:
        key = (username.lower(), address)
        with self._lock:
            times = self._recent(key)
            times.append(self._clock())
            self._failures.pop(key, None)
            self._failures[key] = times  # re-insert: dict order is the eviction order
            while len(self._failures) > MAX_KEYS:
                self._failures.pop(next(iter(self._failures)))

    def succeeded(self, username: str, address: str) -> None:
        with self._lock:
            self._failures.pop((username.lower(), address), None)
