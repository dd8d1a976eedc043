"""HTTPS plumbing: one threaded server per simulated host, all fed by one acceptor thread.

Each accepted connection gets its own daemon thread, which does the TLS handshake (so a slow or
failing client never blocks the others), then serves keep-alive HTTP/1.1 requests, or HTTP/2
(`http2`) when the host offers it and the client chose it through ALPN, until the client closes.
Every connection is numbered and logged with its protocol, so tests count connections as the
server saw them. `stop` wakes sleeping handlers, shuts open connections down and joins every
thread it started.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from cpi_preflight.sandbox.messages import HttpRequest, HttpResponse, Outcome, Reset, text_response
from cpi_preflight.sandbox.recording import RecordedRequest, RequestLog

HANDSHAKE_TIMEOUT = 5.0
IDLE_TIMEOUT = 30.0
MAX_BODY = 1 << 20
JOIN_TIMEOUT = 2.0


class App(Protocol):
    """A simulated host's request handler."""

    def handle(self, request: HttpRequest) -> Outcome:
        """Answer one request (or ask for the connection to be reset)."""


class Hooks:
    """What all hosts of one sandbox share: the request log, the stop flag, the latency fault,
    and whether HTTP/2 breaks (`broken_http2`)."""

    def __init__(self, log: RequestLog, stopping: threading.Event, latency_ms: int,
                 clock_offset_s: int = 0, broken_http2: bool = False) -> None:
        self.log = log
        self.stopping = stopping
        self.latency_ms = latency_ms
        self.clock_offset_s = clock_offset_s  # the tenant's clock minus this machine's
        self.broken_http2 = broken_http2

    def delay(self) -> None:
        """The latency fault: wait before answering, waking early on stop."""
        if self.latency_ms > 0:
            self.stopping.wait(self.latency_ms / 1000)


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP/1.1 requests into `HttpRequest`s for the host's app; keeps connections alive."""

    protocol_version = "HTTP/1.1"
    server_version = "cpi-preflight-sandbox"
    timeout = IDLE_TIMEOUT
    host_server: HostServer
    number = 0  # the connection's number in the sandbox's log

    def setup(self) -> None:
        assert isinstance(self.server, HostServer)
        self.host_server = self.server
        self.number = self.host_server.number_of(self.request)
        super().setup()

    def version_string(self) -> str:
        """The Server header: no Python version."""
        return self.server_version

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header, by the tenant's clock (the clock_offset_s fault)."""
        if timestamp is None:
            timestamp = time.time() + self.host_server.hooks.clock_offset_s
        return super().date_time_string(timestamp)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: requests are recorded in the sandbox's request log instead."""

    def handle_one_request(self) -> None:
        try:
            line = self.rfile.readline(65537)
        except OSError:
            self.close_connection = True
            return
        if not line or len(line) > 65536:
            self.close_connection = True
            return
        self.raw_requestline = line
        started = time.monotonic()
        if self.parse_request():
            self._serve(started)

    def _serve(self, started: float) -> None:
        request = self._read_request()
        if request is None:
            self._record(started, 400)
            self._write(text_response(400, "the sandbox needs a Content-Length up to 1 MiB\n"))
            return
        self.host_server.hooks.delay()
        outcome = self._call_app(request)
        status = None if isinstance(outcome, Reset) else outcome.status
        # recorded before the bytes go out, so a client that has its answer sees the record
        self._record(started, status)
        if isinstance(outcome, Reset):
            self._reset()
        else:
            self._write(outcome)

    def _record(self, started: float, status: int | None) -> None:
        self.host_server.record(self.command, self.path, started, status, self.number,
                                "HTTP/1.1")

    def _call_app(self, request: HttpRequest) -> Outcome:
        try:
            return self.host_server.app.handle(request)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return text_response(500, "sandbox bug: see stderr\n")

    def _body(self) -> bytes | None:
        """The request body, or None (closing the connection) when its length is unusable."""
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if chunked or not 0 <= length <= MAX_BODY:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _read_request(self) -> HttpRequest | None:
        body = self._body()
        if body is None:
            return None
        headers = {k.lower(): v for k, v in self.headers.items()}
        peer = self.connection.getpeercert(binary_form=True) if isinstance(
            self.connection, ssl.SSLSocket) else None
        return HttpRequest(self.command, self.path, headers, body, peer, self.host_server.url)

    def _write(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _reset(self) -> None:
        """Close abruptly: SO_LINGER 0 makes the kernel send RST instead of FIN."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.connection.close()


class HostServer(ThreadingHTTPServer):
    """One simulated host: a TLS listening socket on 127.0.0.1 with an ephemeral port."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, name: str, app: App, context: ssl.SSLContext, hooks: Hooks) -> None:
        self.name = name
        self.app = app
        self.context = context
        self.hooks = hooks
        self._lock = threading.Lock()
        self._closing = False
        self._connections: dict[ssl.SSLSocket, int] = {}  # open connection -> its number
        self._handlers: set[threading.Thread] = set()
        super().__init__(("127.0.0.1", 0), _Handler)
        self.socket.setblocking(False)

    def server_bind(self) -> None:
        """Bind without the reverse DNS lookup `HTTPServer.server_bind` does (it can be slow)."""
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        self.server_name, self.server_port = "127.0.0.1", int(self.server_address[1])

    @property
    def url(self) -> str:
        """The base URL of this host, e.g. `https://127.0.0.1:41234`."""
        return f"https://127.0.0.1:{self.server_port}"

    def record(self, method: str, path: str, started: float, status: int | None,
               connection: int, protocol: str) -> None:
        """Add one request to the sandbox's log."""
        item = RecordedRequest(self.name, method, path, started, time.monotonic(), status,
                               connection, protocol)
        self.hooks.log.add(item)

    def number_of(self, tls: ssl.SSLSocket) -> int:
        """The number the log gave the open connection `tls`."""
        with self._lock:
            return self._connections.get(tls, 0)

    def accept_one(self) -> None:
        """Accept one pending connection and serve it in its own thread."""
        try:
            conn, address = self.socket.accept()
        except OSError:
            return
        conn.setblocking(True)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle wait between writes
        thread = threading.Thread(target=self._serve_connection, args=(conn, address),
                                  name=f"cpi-sandbox-{self.name}", daemon=True)
        with self._lock:
            self._handlers.add(thread)
        thread.start()

    def _serve_connection(self, conn: socket.socket, address: Any) -> None:
        try:
            self._serve_tls(conn, address)
        finally:
            conn.close()
            with self._lock:
                self._handlers.discard(threading.current_thread())

    def _serve_tls(self, conn: socket.socket, address: Any) -> None:
        tls = self.context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        if not self._track(tls):
            tls.close()
            return
        try:
            tls.settimeout(HANDSHAKE_TIMEOUT)
            tls.do_handshake()
            self._serve_protocol(tls, address)
        except OSError:
            pass  # handshake refused (e.g. no client certificate), client gone, or reset
        finally:
            with self._lock:
                self._connections.pop(tls, None)
            tls.close()

    def _serve_protocol(self, tls: ssl.SSLSocket, address: Any) -> None:
        """Log the connection with the protocol the client chose, then serve it."""
        http2 = tls.selected_alpn_protocol() == "h2"
        number = self.hooks.log.add_connection(self.name, "HTTP/2" if http2 else "HTTP/1.1")
        with self._lock:
            self._connections[tls] = number
        if http2:
            from cpi_preflight.sandbox.http2 import Http2Connection  # h2 only when spoken

            Http2Connection(tls, self, number, idle_timeout=IDLE_TIMEOUT,
                            broken=self.hooks.broken_http2).serve()
        else:
            _Handler(tls, address, self)

    def _track(self, tls: ssl.SSLSocket) -> bool:
        with self._lock:
            if self._closing:
                return False
            self._connections[tls] = 0
            return True

    def close(self, deadline: float) -> None:
        """Close the listening socket, shut open connections down, join connection threads."""
        self.server_close()
        with self._lock:
            self._closing = True
            connections, threads = list(self._connections), list(self._handlers)
        for tls in connections:
            _shutdown(tls)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _shutdown(sock: socket.socket) -> None:
    """Shut the raw socket down (bypassing SSLSocket.shutdown, which would drop its TLS state)."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Acceptor:
    """One thread that accepts connections for every host of a sandbox until stopped."""

    def __init__(self, servers: list[HostServer], name: str) -> None:
        self._servers = servers
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Begin accepting."""
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting and wait for the thread to end."""
        if self._thread.is_alive():
            self._wake_w.send(b"x")
            self._thread.join(JOIN_TIMEOUT)
        self._wake_r.close()
        self._wake_w.close()

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            for server in self._servers:
                selector.register(server.socket, selectors.EVENT_READ, server.accept_one)
            selector.register(self._wake_r, selectors.EVENT_READ, None)
            while True:
                for key, _ in selector.select():
                    accept: Callable[[], None] | None = key.data
                    if accept is None:
                        return
                    accept()


def closed_port() -> socket.socket:
    """A socket bound to a port on 127.0.0.1 that never listens: connecting is refused, and
    while the caller keeps the socket open no other server can take the port."""
    reserved = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reserved.bind(("127.0.0.1", 0))
    return reserved
