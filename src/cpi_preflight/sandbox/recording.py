"""`RecordedRequest` and the thread-safe log every simulated host writes to."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class RecordedRequest:
    """One request a simulated host received; `status` is None when no response was sent."""

    host: str
    method: str
    path: str
    started: float
    finished: float
    status: int | None


class RequestLog:
    """Append-only, thread-safe list of recorded requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []

    def add(self, item: RecordedRequest) -> None:
        """Record one finished request."""
        with self._lock:
            self._items.append(item)

    def snapshot(self) -> list[RecordedRequest]:
        """A copy of everything recorded so far, in completion order."""
        with self._lock:
            return list(self._items)
