"""HTTP/2 for a simulated host (offered through ALPN when the spec says `http2: true`).

One thread owns a connection's socket and its `h2` state: it reads frames, starts a thread per
complete request (so that the latency fault delays requests side by side, as on HTTP/1.1 with
several connections), and writes the answers those threads hand back through a queue, within
the client's flow-control windows. The `broken_http2` fault plays a proxy that offers HTTP/2 and
cannot carry it: the first request drops the whole TCP connection.
"""

from __future__ import annotations

import contextlib
import queue
import selectors
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

from cpi_preflight.sandbox.messages import HttpRequest, HttpResponse, Outcome, Reset, text_response

if TYPE_CHECKING:
    from cpi_preflight.sandbox.server import HostServer

PROTOCOL = "HTTP/2"
MAX_BODY = 1 << 20
READ_SIZE = 65536


@dataclass
class _Stream:
    """A request being received, and then its answer being sent."""

    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    started: float = 0.0
    pending: bytes = b""  # answer bytes waiting for the client's flow-control window


class Http2Connection:
    """Serves one TLS connection that negotiated `h2`, until the client or the sandbox ends it."""

    def __init__(self, tls: ssl.SSLSocket, server: HostServer, number: int, *,
                 idle_timeout: float, broken: bool = False) -> None:
        self.tls = tls
        self.idle_timeout = idle_timeout
        self.server = server
        self.number = number
        self.broken = broken
        self.state = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None))
        self.streams: dict[int, _Stream] = {}
        self.answers: queue.SimpleQueue[tuple[int, Outcome]] = queue.SimpleQueue()
        self.wake_r, self.wake_w = socket.socketpair()
        self.selector = selectors.DefaultSelector()  # not select(): descriptors past 1023
        self.workers: list[threading.Thread] = []
        self.closed = False

    def serve(self) -> None:
        """Run the connection: settings first, then frames in and answers out."""
        self.tls.settimeout(self.idle_timeout)  # a client that stops reading ends it too
        self.selector.register(self.tls, selectors.EVENT_READ)
        self.selector.register(self.wake_r, selectors.EVENT_READ)
        try:
            self.state.initiate_connection()
            self._flush()
            while not self.closed:
                self._turn()
        except (OSError, h2.exceptions.ProtocolError):
            pass  # the client went away or spoke broken HTTP/2; either ends the connection
        finally:
            self.selector.close()
            self.wake_r.close()
            self.wake_w.close()
            for worker in self.workers:
                worker.join(1.0)

    def _turn(self) -> None:
        """Wait for frames or answers, and handle whichever came."""
        if not self.tls.pending():
            ready = [key.fileobj for key, _ in self.selector.select(self.idle_timeout)]
            if not ready and not self.streams:
                self.closed = True  # idle as long as an HTTP/1.1 connection may be
            if self.wake_r in ready:
                self.wake_r.recv(4096)
                self._send_answers()
            if self.tls not in ready:
                return
        data = self.tls.recv(READ_SIZE)
        if not data:
            self.closed = True
            return
        for event in self.state.receive_data(data):
            self._event(event)
        self._flush()

    def _event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self._headers(event)
        elif isinstance(event, h2.events.DataReceived) and event.stream_id in self.streams:
            self._data(event)
        elif isinstance(event, h2.events.StreamEnded) and event.stream_id in self.streams:
            self._dispatch(event.stream_id)
        elif isinstance(event, h2.events.WindowUpdated):
            self._send_pending()
        elif isinstance(event, h2.events.StreamReset):
            self.streams.pop(event.stream_id, None)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.closed = True

    def _headers(self, event: h2.events.RequestReceived) -> None:
        assert event.stream_id is not None
        assert event.headers is not None
        if self.broken:
            method, path = _pseudo(event.headers)
            self.server.record(method, path, time.monotonic(), None, self.number, PROTOCOL)
            self.closed = True
            _abort(self.tls)
            return
        headers = {_text(k).lower(): _text(v) for k, v in event.headers}
        self.streams[event.stream_id] = _Stream(headers, started=time.monotonic())

    def _data(self, event: h2.events.DataReceived) -> None:
        assert event.stream_id is not None
        assert event.data is not None
        stream = self.streams[event.stream_id]
        stream.body.extend(event.data)
        self.state.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id)
        if len(stream.body) > MAX_BODY:
            self.streams.pop(event.stream_id)
            self.state.reset_stream(event.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)

    def _dispatch(self, stream_id: int) -> None:
        stream = self.streams[stream_id]
        request = HttpRequest(
            stream.headers.get(":method", "GET"), stream.headers.get(":path", "/"),
            {k: v for k, v in stream.headers.items() if not k.startswith(":")},
            bytes(stream.body), self.tls.getpeercert(binary_form=True), self.server.url)
        worker = threading.Thread(target=self._answer, args=(stream_id, request),
                                  name=f"cpi-sandbox-{self.server.name}-h2", daemon=True)
        self.workers = [w for w in self.workers if w.is_alive()] + [worker]
        worker.start()

    def _answer(self, stream_id: int, request: HttpRequest) -> None:
        """On a worker thread: the latency fault, the host's answer, then back to the owner."""
        self.server.hooks.delay()
        try:
            outcome = self.server.app.handle(request)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            outcome = text_response(500, "sandbox bug: see stderr\n")
        self.answers.put((stream_id, outcome))
        with contextlib.suppress(OSError):
            self.wake_w.send(b"x")

    def _send_answers(self) -> None:
        while True:
            try:
                stream_id, outcome = self.answers.get_nowait()
            except queue.Empty:
                break
            stream = self.streams.get(stream_id)
            if stream is not None:
                self._send(stream_id, stream, outcome)
        self._flush()

    def _send(self, stream_id: int, stream: _Stream, outcome: Outcome) -> None:
        method, path = stream.headers.get(":method", ""), stream.headers.get(":path", "")
        status = None if isinstance(outcome, Reset) else outcome.status
        self.server.record(method, path, stream.started, status, self.number, PROTOCOL)
        if isinstance(outcome, Reset):  # on HTTP/2 an exchange is dropped by resetting its stream
            self.streams.pop(stream_id)
            self.state.reset_stream(stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
            return
        body = b"" if method == "HEAD" else outcome.body
        self.state.send_headers(stream_id, _response_headers(outcome), end_stream=not body)
        if body:
            stream.pending = body
            self._send_pending()
        else:
            self.streams.pop(stream_id)

    def _send_pending(self) -> None:
        """Send what the flow-control windows allow of every waiting answer."""
        for stream_id, stream in list(self.streams.items()):
            while stream.pending:
                room = min(self.state.local_flow_control_window(stream_id),
                           self.state.max_outbound_frame_size)
                if room <= 0:
                    break
                chunk, stream.pending = stream.pending[:room], stream.pending[room:]
                self.state.send_data(stream_id, chunk, end_stream=not stream.pending)
                if not stream.pending:
                    self.streams.pop(stream_id)

    def _flush(self) -> None:
        data = self.state.data_to_send()
        if data:
            self.tls.sendall(data)


def _response_headers(response: HttpResponse) -> list[tuple[str, str]]:
    headers = [(":status", str(response.status)), ("server", "cpi-preflight-sandbox"),
               ("content-length", str(len(response.body)))]
    if response.content_type:
        headers.append(("content-type", response.content_type))
    headers.extend((name.lower(), value) for name, value in response.headers
                   if name.lower() not in ("connection", "keep-alive", "transfer-encoding"))
    return headers


def _text(value: bytes | str) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _pseudo(headers: list[tuple[bytes, bytes]] | list[tuple[str, str]]) -> tuple[str, str]:
    found = {_text(k): _text(v) for k, v in headers}
    return found.get(":method", ""), found.get(":path", "")


def _abort(tls: ssl.SSLSocket) -> None:
    """Drop the TCP connection: SO_LINGER 0 makes the kernel send RST instead of FIN."""
    with contextlib.suppress(OSError):
        tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    tls.close()
