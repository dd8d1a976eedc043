"""Run-time state of the simulated faults: counters for resets and server errors, and delays."""

from __future__ import annotations

import threading

from cpi_preflight.sandbox.spec import FaultSpec


class FaultState:
    """Decides, request by request, which configured fault strikes; thread-safe."""

    def __init__(self, faults: FaultSpec, stopping: threading.Event) -> None:
        self.spec = faults
        self._stopping = stopping
        self._lock = threading.Lock()
        self._resets: dict[str, int] = {}
        self._errors: dict[str, int] = {}
        self._limited: dict[str, int] = {}

    def delay(self, milliseconds: int) -> None:
        """Sleep, but wake at once when the sandbox stops."""
        if milliseconds > 0:
            self._stopping.wait(milliseconds / 1000)

    def should_reset(self, entity_set: str) -> bool:
        """Whether this request to `entity_set` is one of the first N to be reset."""
        limit = self.spec.connection_resets.get(entity_set, 0)
        return self._take(self._resets, entity_set, limit)

    def server_error(self, entity_set: str) -> int | None:
        """503 for the first N requests, 500 forever for "always", else None."""
        limit = self.spec.server_errors.get(entity_set)
        if limit is None:
            return None
        if limit == "always":
            return 500
        return 503 if self._take(self._errors, entity_set, limit) else None

    def rate_limited(self, target: str) -> bool:
        """Whether this request to `target` ("token" or an entity set) answers 429."""
        limit = self.spec.too_many_requests.get(target)
        if limit is None:
            return False
        if limit == "always":
            return True
        return self._take(self._limited, target, limit)

    def _take(self, counters: dict[str, int], key: str, limit: int) -> bool:
        with self._lock:
            seen = counters.get(key, 0)
            counters[key] = seen + 1
            return seen < limit
