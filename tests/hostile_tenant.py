"""A hostile tenant on loopback: plain HTTP over real sockets, answers written byte by byte.

Each route answers with exactly the bytes a test gives it (any headers, any encoding, endless
chunked bodies), so the product meets what a broken or malicious tenant could send. The server
runs in daemon threads, answers one request per connection, and stops by itself: accepting
ends at `close()` or after `LIFETIME` seconds, whichever comes first, and every streamed body
is bounded in size. Also here: a recording proxy that must see nothing, and a token signer.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from cpi_preflight.sandbox import tls

LIFETIME = 120.0
STREAM_CAP = 64 * 1024 * 1024  # an "endless" body stops here at the latest
APP = "it!b1"

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class Reply:
    """One answer: status, raw header lines, and a body (or an endless chunked stream)."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    body: bytes = b""
    endless_chunk: bytes = b""  # when set, the body is these bytes, chunked, until STREAM_CAP
    pause: float = 0.0  # seconds between two chunks of an endless body (a slow drip)
    raw: bytes = b""  # when set, the whole answer, status line included, exactly as given

    def head(self) -> bytes:
        lines = [f"HTTP/1.1 {self.status} Hostile".encode()]
        lines += [f"{k}: {v}".encode() for k, v in self.headers]
        if self.endless_chunk:
            lines.append(b"Transfer-Encoding: chunked")
        else:
            lines.append(f"Content-Length: {len(self.body)}".encode())
        lines.append(b"Connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n"


def json_reply(document: Any, status: int = 200) -> Reply:
    return Reply(status, body=json.dumps(document).encode())


def raw_json(text: bytes, status: int = 200, *extra: tuple[str, str]) -> Reply:
    return Reply(status, (("Content-Type", "application/json"), *extra), text)


def nested(depth: int) -> bytes:
    """`[[[...]]]`, `depth` levels deep: too deep for a recursive parser."""
    return b"[" * depth + b"]" * depth


def gzip_bomb(decoded_size: int, layers: int = 2) -> bytes:
    """Zeros, `decoded_size` long, gzipped `layers` times; only the first layer is built in
    pieces, so making the bomb never holds the decoded size in memory."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    piece = b"\0" * (1024 * 1024)
    parts = [packer.compress(piece) for _ in range(decoded_size // len(piece))]
    data = b"".join(parts) + packer.flush()
    for _ in range(layers - 1):
        data = gzip.compress(data, 9)
    return data


@dataclass
class Seen:
    """What the server was asked and how much it sent back."""

    method: str
    path: str
    headers: dict[str, str]
    sent: int = 0


@dataclass
class HostileTenant:
    """Serves `routes` (path without query -> Reply) on 127.0.0.1 until closed; over HTTPS
    when given a folder for throwaway TLS material (the sandbox's CA code makes it)."""

    routes: dict[str, Reply]
    tls_dir: Path | None = None
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self._stop = threading.Event()
        self._tls = _server_tls(self.tls_dir) if self.tls_dir is not None else None
        self.ca_file = self.tls_dir / "ca.pem" if self.tls_dir is not None else None
        scheme = "https" if self._tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        ends = time.monotonic() + LIFETIME
        while not self._stop.is_set() and time.monotonic() < ends:
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            threading.Thread(target=self._answer, args=(client,), daemon=True).start()
        self._server.close()

    def _answer(self, client: socket.socket) -> None:
        with client, contextlib.suppress(OSError):
            client.settimeout(10)
            if self._tls is not None:
                client = self._tls.wrap_socket(client, server_side=True)
            request = _read_request(client)
            if request is None:
                return
            reply = self.routes.get(request.path, Reply(404, body=b'{"error": "no route"}'))
            self.seen.append(request)
            if reply.raw:
                client.sendall(reply.raw)
                return
            client.sendall(reply.head())
            request.sent = _send_body(client, reply)

    def sent_to(self, path: str) -> int:
        return sum(s.sent for s in self.seen if s.path == path)

    def close(self) -> None:
        self._stop.set()

    def __enter__(self) -> HostileTenant:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _server_tls(folder: Path) -> ssl.SSLContext:
    ca = tls.new_ca()
    cert, key = tls.issue_server_cert(ca)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ca.pem").write_bytes(ca.pem())
    (folder / "server.pem").write_bytes(cert)
    (folder / "server.key").write_bytes(key)
    return tls.server_context(folder / "server.pem", folder / "server.key", None)


def _send_body(client: socket.socket, reply: Reply) -> int:
    if not reply.endless_chunk:
        client.sendall(reply.body)
        return len(reply.body)
    frame = f"{len(reply.endless_chunk):x}\r\n".encode() + reply.endless_chunk + b"\r\n"
    sent, ends = 0, time.monotonic() + LIFETIME
    while sent < STREAM_CAP and time.monotonic() < ends:  # the client hangs up long before
        client.sendall(frame)
        sent += len(reply.endless_chunk)
        time.sleep(reply.pause)
    return sent


def _read_request(client: socket.socket) -> Seen | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target = lines[0].split(" ")[:2]
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    length = int(headers.get("content-length", "0") or 0)
    while len(rest) < length:
        chunk = client.recv(65536)
        if not chunk:
            break
        rest += chunk
    path = target.split("://", 1)[-1] if "://" in target else target
    if "://" in target:
        path = "/" + path.split("/", 1)[1] if "/" in path else "/"
    return Seen(method, path.split("?", 1)[0], headers)


class RecordingProxy:
    """A proxy on loopback that forwards nothing: it records what reached it and answers 502."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self._stop = threading.Event()
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        ends = time.monotonic() + LIFETIME
        while not self._stop.is_set() and time.monotonic() < ends:
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            with client, contextlib.suppress(OSError):
                client.settimeout(5)
                self.received.append(client.recv(65536))
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                               b"Connection: close\r\n\r\n")
        self._server.close()

    def close(self) -> None:
        self._stop.set()


def signing_jwks(kid: str = "k1") -> dict[str, Any]:
    public = jwt.algorithms.RSAAlgorithm.to_jwk(_KEY.public_key(), as_dict=True)
    return {"keys": [{**public, "kid": kid, "alg": "RS256", "use": "sig"}]}


def private_jwks(kid: str = "k1") -> dict[str, Any]:
    """The key set with the private members published too (n, e, d, p, q, dp, dq, qi)."""
    private = jwt.algorithms.RSAAlgorithm.to_jwk(_KEY, as_dict=True)
    return {"keys": [{**private, "kid": kid, "alg": "RS256", "use": "sig"}]}


def signed_token(issuer: str, kid: str = "k1", **claims: Any) -> str:
    now = int(time.time())
    body = {"scope": [f"{APP}.IntegrationOperationServer.read", f"{APP}.NodeManager.read"],
            "iat": now, "exp": now + 3600, "zid": "zone-1", "iss": issuer,
            "cid": "sb-hostile!b1|it!b1", "client_id": "sb-hostile!b1|it!b1",
            "grant_type": "client_credentials", "aud": [APP], **claims}
    return jwt.encode(body, _KEY, "RS256", headers={"kid": kid})


def token_reply(issuer: str, **claims: Any) -> Reply:
    return json_reply({"access_token": signed_token(issuer, **claims), "token_type": "bearer",
                       "expires_in": 3600})


def profile_body(url: str) -> dict[str, Any]:
    """A CF profile pointing at a hostile tenant at `url` (plain http on loopback)."""
    return {"environment": "cf", "api_url": url, "token_url": f"{url}/oauth/token",
            "client_id": "sb-hostile!b1|it!b1", "client_secret": "S3cr&t<>\"'$-hostile",
            "attempts": 1, "deadline": 30, "required_roles": ["MonitoringDataRead"]}


@contextlib.contextmanager
def tenant(routes: dict[str, Reply]) -> Iterator[HostileTenant]:
    server = HostileTenant(routes)
    try:
        yield server
    finally:
        server.close()
