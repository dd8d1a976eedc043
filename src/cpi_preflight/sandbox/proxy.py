"""A tiny forward proxy in front of a sandbox's hosts (the `proxy` fault, issue 16).

`auth_required`: every request without the proxy's Basic credentials in `Proxy-Authorization`
gets `407 Proxy Authentication Required` with a `Proxy-Authenticate` challenge (RFC 9110); with
them, `CONNECT` to one of this sandbox's ports opens a tunnel. `block_page`: a TLS-inspecting web
filter: it accepts `CONNECT` to any host, terminates TLS itself with a certificate for that host
signed by the sandbox's CA (as a company proxy does with the company CA) and answers every
request with an HTML 403 page. It connects nowhere, so a profile may name a tenant's real hosts.

Plain HTTP/1.1 on 127.0.0.1, one daemon thread per connection; `stop` closes everything it
opened and joins every thread it started.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import re
import secrets
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable

from cpi_preflight.sandbox.behaviour import ProxyAnswer
from cpi_preflight.sandbox.messages import html_page
from cpi_preflight.sandbox.recording import RecordedRequest, RequestLog

MAX_HEAD = 64 * 1024
MAX_BODY = 1 << 20
IO_TIMEOUT = 5.0
CHUNK = 64 * 1024
# A host name a certificate may carry (letters, digits, hyphens, dots; at most 253 characters).
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")


class ProxyHead:
    """The request line and headers a client sent to the proxy."""

    def __init__(self, raw: bytes) -> None:
        lines = raw.decode("latin-1").split("\r\n")
        self.method, _, rest = lines[0].partition(" ")
        self.target = rest.rpartition(" ")[0] or rest
        self.headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                self.headers[name.strip().lower()] = value.strip()


def read_head(sock: socket.socket) -> ProxyHead | None:
    """Read up to the blank line ending the head (None when the client closed or sent junk)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk or len(data) + len(chunk) > MAX_HEAD:
            return None
        data += chunk
    return ProxyHead(data.split(b"\r\n\r\n", 1)[0])


def _response(status: int, reason: str, body: bytes, content_type: str,
              headers: Iterable[tuple[str, str]] = ()) -> bytes:
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}", "Connection: close", *(f"{n}: {v}" for n, v in headers)]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class ForwardProxy:
    """One proxy on an ephemeral port of 127.0.0.1; start with `start()`."""

    def __init__(self, mode: str, answer: ProxyAnswer, allowed_ports: set[int],
                 tls_context: ssl.SSLContext, log: RequestLog,
                 impersonate: Callable[[str], ssl.SSLContext] | None = None) -> None:
        self.mode = mode
        self.answer = answer
        self.allowed_ports = allowed_ports
        self.tls_context = tls_context  # for 127.0.0.1, the sandbox's own hosts
        self.impersonate = impersonate  # a context for any other host name the client asks for
        self._contexts: dict[str, ssl.SSLContext] = {}
        self.log = log
        self.user = "proxy-user"
        self.password = f"pw-{secrets.token_hex(6)}&$"
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._wake_r, self._wake_w = socket.socketpair()
        self._lock = threading.Lock()
        self._closing = False
        self._sockets: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._acceptor = threading.Thread(target=self._accept_loop, name="cpi-sandbox-proxy",
                                          daemon=True)

    @property
    def url(self) -> str:
        """The proxy URL without credentials, e.g. `http://127.0.0.1:41234`."""
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def settings(self) -> tuple[str, str | None, str | None]:
        """URL, user and password a client needs (no credentials: the block page wants none)."""
        if self.mode != "auth_required":
            return self.url, None, None
        return self.url, self.user, self.password

    def start(self) -> None:
        """Begin accepting connections."""
        self._acceptor.start()

    def stop(self, deadline: float) -> None:
        """Close the listener and every connection, and join the threads."""
        with self._lock:
            self._closing = True
            sockets, threads = list(self._sockets), list(self._threads)
        if self._acceptor.is_alive():
            self._wake_w.send(b"x")
            self._acceptor.join(max(0.0, deadline - time.monotonic()))
        for sock in sockets:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ, "accept")
            selector.register(self._wake_r, selectors.EVENT_READ, None)
            while True:
                for key, _ in selector.select():
                    if key.data is None:
                        return
                    self._accept_one()

    def _accept_one(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        thread = threading.Thread(target=self._serve, args=(conn,), daemon=True,
                                  name="cpi-sandbox-proxy-conn")
        with self._lock:
            if self._closing:
                conn.close()
                return
            self._sockets.add(conn)
            self._threads.add(thread)
        thread.start()

    def _serve(self, conn: socket.socket) -> None:
        started = time.monotonic()
        try:
            conn.settimeout(IO_TIMEOUT)
            head = read_head(conn)
            if head is not None:
                self._answer(conn, head, lambda status: self.log.add(RecordedRequest(
                    "proxy", head.method, head.target, started, time.monotonic(), status)))
        except OSError:
            pass  # client gone, timed out, or TLS refused
        finally:
            conn.close()
            with self._lock:
                self._sockets.discard(conn)
                self._threads.discard(threading.current_thread())

    def _answer(self, conn: socket.socket, head: ProxyHead, record: Callable[[int], None]) -> None:
        """Answer (recording the status as soon as it is sent, before any tunnel runs)."""
        if self.mode == "block_page":
            self._block(conn, head, record)
        elif not self._authorized(head.headers.get("proxy-authorization", "")):
            challenge = [("Proxy-Authenticate", self.answer.challenge or "Basic")]
            page = html_page(407, "407 Proxy Authentication Required",
                             "This proxy requires authentication.")
            conn.sendall(_response(407, "Proxy Authentication Required", page.body,
                                   "text/html;charset=UTF-8", challenge))
            record(407)
        else:
            self._tunnel(conn, head, record)

    def _authorized(self, value: str) -> bool:
        scheme, _, token = value.partition(" ")
        expected = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return scheme.lower() == "basic" and hmac.compare_digest(token.strip().encode(),
                                                                 expected.encode())

    def _tunnel(self, conn: socket.socket, head: ProxyHead,
                record: Callable[[int], None]) -> None:
        host, _, port = head.target.rpartition(":")
        if head.method != "CONNECT" or host != "127.0.0.1" or not port.isdigit() or int(
                port) not in self.allowed_ports:
            body = b"The sandbox proxy tunnels CONNECT to this sandbox's hosts only.\n"
            conn.sendall(_response(403, "Forbidden", body, "text/plain;charset=UTF-8"))
            record(403)
            return
        upstream = socket.create_connection(("127.0.0.1", int(port)), timeout=IO_TIMEOUT)
        with self._lock:
            self._sockets.add(upstream)
        try:
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            record(200)
            _relay(conn, upstream)
        finally:
            with self._lock:
                self._sockets.discard(upstream)
            upstream.close()

    def _block(self, conn: socket.socket, head: ProxyHead, record: Callable[[int], None]) -> None:
        page = html_page(self.answer.status, self.answer.title, self.answer.message)
        blocked = _response(self.answer.status, "Forbidden", page.body, "text/html;charset=UTF-8")
        if head.method != "CONNECT":
            conn.sendall(blocked)
            record(self.answer.status)
            return
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        with self._context_for(head.target).wrap_socket(conn, server_side=True) as tls:
            inner = read_head(tls)
            if inner is not None:
                _drain(tls, inner)
                tls.sendall(blocked)
                record(self.answer.status)


    def _context_for(self, target: str) -> ssl.SSLContext:
        """The TLS context presenting a certificate for the CONNECT target's host (one per host,
        made on first use); the sandbox's own for 127.0.0.1 or a name no certificate can hold."""
        host = target.rpartition(":")[0].strip("[]").lower()
        if self.impersonate is None or host in ("", "127.0.0.1", "localhost") or not (
                HOST_NAME.fullmatch(host)):
            return self.tls_context
        with self._lock:
            if host not in self._contexts:
                self._contexts[host] = self.impersonate(host)
            return self._contexts[host]


def _drain(sock: socket.socket, head: ProxyHead) -> None:
    """Read the request body (up to MAX_BODY) so the client sees the answer, not a reset."""
    try:
        left = min(int(head.headers.get("content-length", "0") or 0), MAX_BODY)
    except ValueError:
        return
    while left > 0:
        chunk = sock.recv(min(left, CHUNK))
        if not chunk:
            return
        left -= len(chunk)


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    with selectors.DefaultSelector() as selector:
        selector.register(a, selectors.EVENT_READ, b)
        selector.register(b, selectors.EVENT_READ, a)
        while True:
            for key, _ in selector.select(timeout=30):
                source = key.fileobj
                assert isinstance(source, socket.socket)
                data = source.recv(CHUNK)
                if not data:
                    return
                key.data.sendall(data)
