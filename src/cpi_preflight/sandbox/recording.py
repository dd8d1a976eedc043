"""What the simulated hosts saw: requests, connections, and the thread-safe log they write to."""

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
    connection: int = 0  # the `RecordedConnection.number` it came on
    protocol: str = "HTTP/1.1"


@dataclass(frozen=True)
class RecordedConnection:
    """One TLS connection a simulated host accepted (handshake done), numbered from 1."""

    host: str
    number: int
    protocol: str  # HTTP/1.1 or HTTP/2, as the client chose through ALPN


class RequestLog:
    """Append-only, thread-safe lists of recorded requests and connections."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []
        self._connections: list[RecordedConnection] = []

    def add(self, item: RecordedRequest) -> None:
        """Record one finished request."""
        with self._lock:
            self._items.append(item)

    def add_connection(self, host: str, protocol: str) -> int:
        """Record one connection whose handshake is done; returns its number."""
        with self._lock:
            number = len(self._connections) + 1
            self._connections.append(RecordedConnection(host, number, protocol))
            return number

    def snapshot(self) -> list[RecordedRequest]:
        """A copy of everything recorded so far, in completion order."""
        with self._lock:
            return list(self._items)

    def connections(self) -> list[RecordedConnection]:
        """A copy of the connections accepted so far, in order."""
        with self._lock:
            return list(self._connections)
