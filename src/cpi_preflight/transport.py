"""The HTTP layer: TLS trust, the read-only guard, retries with backoff, and fact recording.

This is the only module that sends requests. It never judges an answer; it records an
`Exchange`. The read-only guard lives here, in one place: towards the tenant only GET and HEAD
go out, and the only POST allowed is the token request to the profile's token URL. Which
connection a request takes (HTTP/2, or how many HTTP/1.1 connections) is `connections`' part.
`Limits` bounds the requests in flight; its defaults `MAX_CONCURRENCY` and `MAX_PER_HOST` are
the defaults of `--max-concurrency` and `--max-per-host` too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import functools
import ipaddress
import json
import os
import random
import re
import socket
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import certifi
import httpx

from cpi_preflight import files, network_settings
from cpi_preflight.connections import Clients, LoopLag, Trace, breaks_http2
from cpi_preflight.errors import ConfigError, ReadOnlyViolationError
from cpi_preflight.network_settings import MAX_CONCURRENCY, MAX_PER_HOST, PROXY_VARIABLES
from cpi_preflight.observation import (
    BODY_EXCERPT,
    WIRE_HEADERS,
    WIRE_TEXT,
    Attempt,
    ConnectionUse,
    Exchange,
    Failure,
    FailureKind,
    Headers,
    Timings,
    TlsCertificate,
    Wire,
)
from cpi_preflight.secret import MASK, register
from cpi_preflight.server_text import quote
from cpi_preflight.urls import is_loopback

MAX_BODY = 1024 * 1024  # decoded bytes kept per answer, across every Content-Encoding layer
MAX_RAW = MAX_BODY  # bytes read off the wire per answer
ACCEPT_ENCODING = "gzip, deflate"
MAX_JSON_DEPTH = 64  # OData answers nest about 8 deep; deeper JSON is not an answer we read
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)?(.*)$", re.DOTALL)
RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_FAILURES = frozenset({"refused", "timeout", "reset", "protocol", "connect"})
RETRY_AFTER_CAP = 10.0


@dataclass(frozen=True)
class TrustSettings:
    """Which CA files and client certificate a profile's connections use."""

    ca_files: tuple[str, ...]
    client_cert: tuple[str, str] | None

    def describe(self) -> str:
        """A short line for report headers: where trust came from."""
        names = ", ".join(self.ca_files)
        return names + (" + client certificate" if self.client_cert else "")


def trust_settings(ca_bundle: Path | None, cert: Path | None, key: Path | None,
                   environ: Mapping[str, str] | None = None) -> TrustSettings:
    """Trust SSL_CERT_FILE if set (as OpenSSL and httpx do), else certifi's CAs; plus the
    profile's ca_bundle when given."""
    env = os.environ if environ is None else environ
    files = [env.get("SSL_CERT_FILE") or certifi.where()]
    if ca_bundle is not None:
        files.append(str(ca_bundle))
    client = (str(cert), str(key)) if cert is not None and key is not None else None
    return TrustSettings(tuple(files), client)


@functools.lru_cache(maxsize=256)
def ssl_context(settings: TrustSettings, http2: bool = False) -> ssl.SSLContext:
    """An SSL context for `settings`, shared by every profile with the same trust (loading CA
    files is the costliest part of a client); raises OSError/ssl.SSLError on unreadable files.
    httpcore sets the ALPN protocols on the context it is given at every connection, so clients
    that offer HTTP/2 and clients that do not get contexts of their own (`http2`)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for path in settings.ca_files:
        context.load_verify_locations(cadata=_pem_certificates(Path(path)))
    if settings.client_cert is not None:
        context.load_cert_chain(*settings.client_cert)
    return context


PEM_CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----")


def _pem_certificates(path: Path) -> str:
    """The PEM certificates of a CA file, read bounded (a FIFO or a huge file is refused)."""
    text = files.read_bytes(path, files.CA_LIMIT).decode("latin-1")  # comments may be any bytes
    found = PEM_CERTIFICATE.findall(text)
    if not found:
        raise OSError(f"{path} holds no PEM certificate")
    return "\n".join(found)


@dataclass
class ReadOnlyGuard:
    """Refuses every request except GET/HEAD, and POST to the one token URL."""

    token_url: str

    def check(self, method: str, url: str) -> None:
        """Raise `ReadOnlyViolationError` unless the request is allowed."""
        if method in ("GET", "HEAD"):
            return
        if method == "POST" and _same_endpoint(url, self.token_url):
            return
        raise ReadOnlyViolationError(
            f"refused {method} {_without_query(url)}: cpi-preflight only reads from the tenant "
            f"(GET/HEAD), and only POSTs to the token URL {_without_query(self.token_url)}"
        )

    async def hook(self, request: httpx.Request) -> None:
        """httpx request event hook enforcing `check` (async clients)."""
        self.check(request.method, str(request.url))

    def sync_hook(self, request: httpx.Request) -> None:
        """httpx request event hook enforcing `check` (sync clients)."""
        self.check(request.method, str(request.url))


def _without_query(url: str) -> str:
    return url.split("?", 1)[0].rstrip("/")


def _same_endpoint(one: str, other: str) -> bool:
    """Same scheme, host (any case), port (default or explicit) and path; query ignored."""
    try:
        return _endpoint_key(httpx.URL(one)) == _endpoint_key(httpx.URL(other))
    except httpx.InvalidURL:
        return False


def _endpoint_key(url: httpx.URL) -> tuple[str, str, int | None, str]:
    port = url.port or {"https": 443, "http": 80}.get(url.scheme)
    return url.scheme, url.host.lower(), port, url.path.rstrip("/")


@dataclass
class Limits:
    """Concurrency bounds shared by every profile of a run."""

    total: int = MAX_CONCURRENCY
    per_host: int = MAX_PER_HOST
    lag: LoopLag = field(default_factory=LoopLag)  # started by the probe while it runs
    _global: asyncio.Semaphore | None = None
    _hosts: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    def for_host(self, host: str) -> tuple[asyncio.Semaphore, asyncio.Semaphore]:
        """The global semaphore and the one for `host` (created on first use)."""
        if self._global is None:
            self._global = asyncio.Semaphore(self.total)
        if host not in self._hosts:
            self._hosts[host] = asyncio.Semaphore(self.per_host)
        return self._global, self._hosts[host]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently transient failures are retried."""

    attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 2.0

    def delay(self, attempt: int, retry_after: str) -> float:
        """Seconds to wait before try `attempt + 1`: Retry-After (capped) or jittered backoff."""
        hinted = _retry_after_seconds(retry_after)
        if hinted is not None:
            return min(hinted, RETRY_AFTER_CAP)
        backoff: float = min(self.max_delay, self.base_delay * 2.0**attempt)
        return backoff / 2 + random.uniform(0, backoff / 2)


def _retry_after_seconds(value: str) -> float | None:
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # RFC 9110 dates are GMT; "-0000" parses as naive
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


_CAUSES: tuple[tuple[type[BaseException], FailureKind], ...] = (
    (ssl.SSLError, "tls"), (socket.gaierror, "dns"), (ConnectionRefusedError, "refused"),
    (ConnectionResetError, "reset"), (BrokenPipeError, "reset"), (TimeoutError, "timeout"),
)


def _root_kind(exc: BaseException) -> tuple[FailureKind, str] | None:
    seen: BaseException | None = exc
    while seen is not None:
        for kind_type, kind in _CAUSES:
            if isinstance(seen, kind_type):
                return kind, str(seen) or type(seen).__name__
        seen = seen.__cause__ or seen.__context__
    return None


# Alerts a server sends about the client's certificate ("[SSL: SSLV3_ALERT_CERTIFICATE_EXPIRED]
# sslv3 alert certificate expired"): the server refused it, this machine did not refuse the server.
CLIENT_CERTIFICATE_ALERTS = ("alert certificate expired", "alert bad certificate",
                             "alert certificate required", "alert certificate unknown",
                             "alert certificate revoked", "alert unknown ca",
                             "alert unsupported certificate")


def _tls_kind(detail: str) -> FailureKind:
    lowered = detail.lower()
    return "tls_client" if any(a in lowered for a in CLIENT_CERTIFICATE_ALERTS) else "tls"


def classify(exc: Exception) -> Failure:
    """Name the kind of transport failure an httpx exception stands for."""
    text = quote(str(exc) or type(exc).__name__)
    lowered = text.lower()
    root = _root_kind(exc)
    if root is not None:
        kind = _tls_kind(root[1]) if root[0] == "tls" else root[0]
        return Failure(kind, quote(root[1]))
    if isinstance(exc, httpx.ProxyError):  # the proxy answered CONNECT with "<status> <reason>"
        return Failure("proxy", text)
    if isinstance(exc, httpx.TimeoutException):
        return Failure("timeout", text)
    if "certificate" in lowered or "ssl" in lowered or "tls" in lowered:
        return Failure(_tls_kind(text), text)
    if any(s in lowered for s in ("name or service not known", "nodename nor servname",
                                  "getaddrinfo", "temporary failure in name resolution",
                                  "no address associated")):
        return Failure("dns", text)
    if "refused" in lowered:
        return Failure("refused", text)
    if "reset" in lowered or "disconnected" in lowered or "broken pipe" in lowered:
        return Failure("reset", text)
    if isinstance(exc, httpx.ConnectError):
        return Failure("connect", text)
    return Failure("protocol", text)


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: httpx.Headers
    body: bytes
    certificate: TlsCertificate | None
    received: int = 0  # bytes read off the wire (after chunked framing)
    truncated: bool = False  # the body went on past a cap and was cut
    protocol: str = ""  # HTTP/1.1 or HTTP/2
    reason: str = ""
    server_ip: str = ""
    headers_at: float = 0.0  # monotonic: the answer's headers were in
    ended: float = 0.0  # monotonic: its body was read


# --- what went over the wire (exchanges.har) ---------------------------------------------------

CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization"})


def shown_header(name: str, value: str) -> str:
    """A header's value as a `Wire` keeps it: a credential keeps only its scheme (`Bearer ***`),
    a cookie only its name (`JSESSIONID=***; Path=/` for a Set-Cookie); others as they are."""
    lowered = name.lower()
    if lowered in CREDENTIAL_HEADERS:
        scheme, space, _ = value.strip().partition(" ")
        return f"{scheme} {MASK}" if space and scheme.isalpha() else MASK
    if lowered == "cookie":
        return "; ".join(f"{_cookie_name(part)}={MASK}" for part in value.split(";")
                         if part.strip())
    if lowered == "set-cookie":
        first, separator, attributes = value.partition(";")
        return f"{_cookie_name(first)}={MASK}{separator}{attributes}"
    return value


def _cookie_name(pair: str) -> str:
    return pair.split("=", 1)[0].strip()


def _shown_headers(headers: httpx.Headers) -> Headers:
    return tuple((name, shown_header(name, value))
                 for name, value in headers.multi_items()[:WIRE_HEADERS])


class PhaseClock:
    """When each phase of one attempt began and ended, from httpcore's trace events
    (`connect_tcp`, `start_tls`, `send_request_headers`, ...): the first start and the last end
    of each, so that a proxy's CONNECT and the tunnel's TLS count as connecting."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.at = time.time()
        self.marks: dict[str, float] = {}

    def start(self) -> None:
        """The attempt begins now (after waiting for its turn in the host's lane)."""
        self.began, self.at = time.monotonic(), time.time()

    async def trace(self, name: str, info: Mapping[str, Any]) -> None:
        """httpcore's `trace` extension (async clients)."""
        event, now = name.split(".", 1)[-1], time.monotonic()
        if event.endswith(".started"):
            self.marks.setdefault(event, now)
        else:
            self.marks[event] = now

    def timings(self, headers_at: float, ended: float) -> Timings:
        """The phases in HAR's terms; they add up to the attempt's whole time. Without trace
        events (a mock transport) all time before the headers counts as waiting."""
        marks = self.marks
        sent_from, sent = marks.get("send_request_headers.started"), marks.get(
            "send_request_body.complete")
        if sent_from is None or sent is None:
            return Timings(wait=_ms(self.began, headers_at), receive=_ms(headers_at, ended))
        tcp = marks.get("connect_tcp.started")
        connected = marks.get("start_tls.complete") or marks.get("connect_tcp.complete")
        opened = tcp if tcp is not None else sent_from
        ready = connected if tcp is not None and connected is not None else opened
        tls_from, tls_to = marks.get("start_tls.started"), marks.get("start_tls.complete")
        answered = min(marks.get("receive_response_headers.complete", headers_at), ended)
        return Timings(
            blocked=_ms(self.began, opened),
            connect=_ms(opened, ready) if tcp is not None else -1.0,
            ssl=_ms(tls_from, tls_to) if tls_from is not None and tls_to is not None else -1.0,
            send=_ms(ready, max(sent, ready)), wait=_ms(max(sent, ready), answered),
            receive=_ms(answered, ended))


def _both(lane_trace: Trace, clock: PhaseClock) -> Callable[[str, Mapping[str, Any]],
                                                              Awaitable[None]]:
    """One `trace` extension feeding the host's lane (connections and protocol) and the
    attempt's `PhaseClock` (HAR timings)."""
    async def trace(name: str, info: Mapping[str, Any]) -> None:
        await lane_trace(name, dict(info))
        await clock.trace(name, info)
    return trace


def _ms(start: float, end: float) -> float:
    return round(max(0.0, end - start) * 1000, 3)


def _wire(request: httpx.Request, clock: PhaseClock, answer: _Answer | None) -> Wire:
    """What one attempt sent and got, without credentials and without the request body."""
    sent = _shown_headers(request.headers)
    size = int(request.headers.get("content-length") or 0)
    if answer is None:
        now = time.monotonic()
        return Wire(clock.at, sent, size, timings=clock.timings(now, now))
    text = answer.body[: 4 * WIRE_TEXT].decode("utf-8", errors="replace")
    return Wire(
        clock.at, sent, size, answer.protocol, answer.reason, _shown_headers(answer.headers),
        text[:WIRE_TEXT], len(text) > WIRE_TEXT or len(answer.body) > 4 * WIRE_TEXT
        or answer.truncated, answer.received, len(answer.body),
        clock.timings(answer.headers_at, answer.ended), answer.server_ip, answer.certificate)


class _Layer:
    """One Content-Encoding layer, decoded incrementally; its output in total stays within
    `limit` bytes, however much a few input bytes would expand to."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding
        self.room = limit
        self.full = False
        self._started = False
        self._inflater = self._new(encoding, raw=False)

    @staticmethod
    def _new(encoding: str, *, raw: bool) -> Any:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompressobj(zlib.MAX_WBITS | 16)
        if encoding == "deflate":
            return zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
        return None  # identity, or an encoding we do not decode (the bytes stay as they are)

    def feed(self, data: bytes) -> bytes:
        if self.full or not data:
            return b""
        try:
            out = self._inflate(data)
        except zlib.error as exc:
            raise httpx.DecodingError(f"the {self.encoding} body cannot be decoded: {exc}"
                                      ) from None
        self.room -= len(out)
        self.full = self.room <= 0
        return out

    def _inflate(self, data: bytes) -> bytes:
        if self._inflater is None:
            return data[: self.room]
        first, self._started = not self._started, True
        try:
            out: bytes = self._inflater.decompress(data, self.room)
        except zlib.error:
            if not (first and self.encoding == "deflate"):
                raise
            self._inflater = self._new("deflate", raw=True)  # deflate without a zlib header
            out = self._inflater.decompress(data, self.room)
        return out


class BoundedBody:
    """Reads an answer's raw bytes and decodes every Content-Encoding layer as it streams,
    stopping once `limit` decoded bytes (or `limit` raw bytes) are in: a gzip-in-gzip bomb of a
    few kilobytes never expands beyond the cap, whatever its layers would grow to."""

    def __init__(self, content_encoding: str, limit: int = MAX_BODY,
                 raw_limit: int = MAX_RAW) -> None:
        names = [e.strip().lower() for e in content_encoding.split(",") if e.strip()]
        self.layers = [_Layer(name, limit) for name in reversed(names)]
        self.limit, self.raw_limit = limit, raw_limit
        self.chunks: list[bytes] = []
        self.received = self.decoded = 0
        self.truncated = False

    def feed(self, raw: bytes) -> bool:
        """Take one raw chunk; False once no more should be read."""
        self.received += len(raw)
        data = raw
        for layer in self.layers:
            data = layer.feed(data)
            self.truncated = self.truncated or layer.full
        data = data[: self.limit - self.decoded]
        self.chunks.append(data)
        self.decoded += len(data)
        if self.decoded >= self.limit or self.received >= self.raw_limit:
            self.truncated = True
        return not self.truncated

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


async def _send_once(client: httpx.AsyncClient, request: httpx.Request, *,
                     certificate: bool = True) -> _Answer:
    """One request and its bounded answer; the server's certificate only when `certificate`
    (reading it parses the whole certificate again, for every answer). The caller sets the
    request's `trace` extension (`Sender._try`: the lane's tracer and the `PhaseClock`). The
    client's own headers (User-Agent, Accept-Encoding) are added where the request has none:
    `client.send` does not merge them into a request built beforehand."""
    for name, value in client.headers.items():
        request.headers.setdefault(name, value)
    response = await client.send(request, stream=True)
    headers_at = time.monotonic()
    try:
        reader = await _read_bounded(response)
        return _Answer(response.status_code, response.headers, reader.body,
                       _peer_certificate(response) if certificate else None, reader.received,
                       reader.truncated, response.http_version, response.reason_phrase,
                       _server_ip(response), headers_at, time.monotonic())
    finally:
        await response.aclose()


def _server_ip(response: httpx.Response) -> str:
    """The address the connection went to (a proxy's, when one stood between)."""
    stream = response.extensions.get("network_stream")
    address = stream.get_extra_info("server_addr") if stream is not None else None
    return str(address[0]) if isinstance(address, tuple) and address else ""


async def _read_bounded(response: httpx.Response) -> BoundedBody:
    if response.is_stream_consumed:  # built in memory (mock transports): already decoded
        reader = BoundedBody("")
        reader.feed(response.content)
        return reader
    reader = BoundedBody(response.headers.get("content-encoding", ""))
    async for chunk in response.aiter_raw():
        if not reader.feed(chunk):
            break
    return reader


def _peer_certificate(response: httpx.Response) -> TlsCertificate | None:
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    cert = ssl_object.getpeercert() if ssl_object is not None else None
    if not cert:
        return None
    not_after = datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), UTC)
    return TlsCertificate(host=response.url.netloc.decode(),
                          subject=quote(_dn(cert.get("subject"))),
                          issuer=quote(_dn(cert.get("issuer"))), not_after=not_after.isoformat())


def _dn(parts: Any) -> str:
    if not parts:
        return ""
    return ", ".join(f"{k}={v}" for rdn in parts for (k, v) in rdn)


def _decode(answer: _Answer) -> tuple[str, Any]:
    text = answer.body.decode("utf-8", errors="replace")
    content_type = answer.headers.get("content-type", "")
    parsed: Any = None
    if "json" in content_type or text.lstrip().startswith(("{", "[")):
        parsed = parse_json(text)
    return text, parsed


def parse_json(text: str) -> Any:
    """`text` as JSON, or None when it is not JSON or nests deeper than MAX_JSON_DEPTH."""
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return parsed if json_depth(parsed) <= MAX_JSON_DEPTH else None


def json_depth(value: Any) -> int:
    """How deep lists and objects nest in `value` (iteratively: no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


class Sender:
    """Sends requests for one profile under the shared limits, with retries and a deadline."""

    def __init__(self, clients: Clients, limits: Limits, policy: RetryPolicy,
                 deadline: float) -> None:
        self.clients = clients
        self.limits = limits
        self.policy = policy
        self.deadline = deadline
        self.certificates: dict[str, TlsCertificate] = {}

    async def exchange(self, request: httpx.Request, *, keep_body: bool = True) -> Exchange:
        """Send `request` until it succeeds, fails for good, or tries run out. A try that finds
        its host broken under HTTP/2 is sent again over HTTP/1.1 at once; it is recorded but
        not counted among the attempts."""
        started = time.monotonic()
        attempts: list[Attempt] = []
        answer: _Answer | None = None
        failure: Failure | None = None
        waited = 0.0
        number = 0
        while True:
            answer, failure, elapsed, fell_back, wire = await self._try(request)
            attempts.append(Attempt(answer.status if answer else None, failure, elapsed, wire))
            if fell_back:
                continue
            if not self._should_retry(answer, failure, number, started):
                break
            pause = self.policy.delay(number, _header(answer, "retry-after"))
            waited += pause
            await asyncio.sleep(pause)
            number += 1
        exchange = self._record(request, answer, failure, attempts, started, keep_body)
        return dataclasses.replace(exchange, waited_ms=waited * 1000)

    def uses(self) -> dict[str, ConnectionUse]:
        """Per host: protocol, connections opened and requests sent so far."""
        return self.clients.uses()

    def _should_retry(self, answer: _Answer | None, failure: Failure | None, number: int,
                      started: float) -> bool:
        if number + 1 >= self.policy.attempts or time.monotonic() - started > self.deadline:
            return False
        if failure is not None:
            return failure.kind in RETRY_FAILURES
        return answer is not None and answer.status in RETRY_STATUSES

    async def _try(self, request: httpx.Request
                   ) -> tuple[_Answer | None, Failure | None, float, bool, Wire | None]:
        """One try: (answer, failure, milliseconds, whether HTTP/2 broke and the host has
        gone over to HTTP/1.1, what went over the wire)."""
        host = request.url.netloc.decode()
        client, lane = self.clients.route(host)
        trace = lane.tracer(https=request.url.scheme == "https")
        clock = PhaseClock()
        request.extensions["trace"] = _both(trace, clock)
        trace.ticket = ticket = await lane.acquire()
        try:
            overall, per_host = self.limits.for_host(host)
            async with overall, per_host:
                clock.start()
                try:
                    answer = await _send_once(client, request,
                                              certificate=host not in self.certificates)
                except ReadOnlyViolationError as exc:  # never sent
                    return None, Failure("refused_write", str(exc)), 0.0, False, None
                except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
                    failure = classify(exc)
                    if trace.sent:
                        lane.took(time.monotonic() - trace.sent)
                    broke = breaks_http2(trace, failure, exc)
                    if broke:
                        self.clients.fall_back(host, failure)
                    elapsed = (time.monotonic() - clock.began) * 1000
                    return None, failure, elapsed, broke, _wire(request, clock, None)
        finally:
            lane.release(ticket)
        if answer.certificate is not None:
            self.certificates.setdefault(answer.certificate.host, answer.certificate)
        elapsed = (time.monotonic() - clock.began) * 1000
        return answer, None, elapsed, False, _wire(request, clock, answer)

    def _record(self, request: httpx.Request, answer: _Answer | None, failure: Failure | None,
                attempts: list[Attempt], started: float, keep_body: bool) -> Exchange:
        # Not scrubbed here (the hot path): every reporter scrubs what it writes.
        finished = time.monotonic()
        url = str(request.url)
        if answer is None:
            return Exchange(request.method, url, None, failure=failure, attempts=tuple(attempts),
                            elapsed_ms=attempts[-1].elapsed_ms if attempts else 0.0,
                            started=started, finished=finished)
        text, parsed = _decode(answer)
        return Exchange(
            method=request.method, url=url, status=answer.status,
            content_type=quote(answer.headers.get("content-type", "")),
            location=quote(answer.headers.get("location", "")),
            retry_after=quote(answer.headers.get("retry-after", ""), 60),
            router_error=quote(answer.headers.get("x-cf-routererror", ""), 60),
            body=text[:BODY_EXCERPT] if keep_body else "", json=parsed,
            attempts=tuple(attempts), elapsed_ms=attempts[-1].elapsed_ms,
            started=started, finished=finished, received_bytes=answer.received,
            decoded_bytes=len(answer.body), truncated=answer.truncated, protocol=answer.protocol,
        )


def _header(answer: _Answer | None, name: str) -> str:
    return answer.headers.get(name, "") if answer is not None else ""


def direct_routes(urls: Iterable[str], settings: TrustSettings
                  ) -> dict[str, httpx.AsyncBaseTransport]:
    """Mounts that send plain-http requests to loopback hosts straight to the host: such a
    request carries the Basic header and the bearer token in cleartext, so no proxy variable
    (HTTP_PROXY, ALL_PROXY) may ever route it elsewhere."""
    return {pattern: httpx.AsyncHTTPTransport(verify=ssl_context(settings))
            for pattern in _loopback_http_patterns(urls)}


def _loopback_http_patterns(urls: Iterable[str]) -> list[str]:
    patterns = []
    for url in urls:
        parts = httpx.URL(url)
        if parts.scheme == "http" and is_loopback(parts.host):
            host = f"[{parts.host}]" if ":" in parts.host else parts.host
            patterns.append(f"http://{host}")
    return sorted(set(patterns))


def build_client(settings: TrustSettings, guard: ReadOnlyGuard, connect: float,
                 read: float, targets: Iterable[str] = (), *,
                 http2: bool = False) -> httpx.AsyncClient:
    """The one kind of client the probe uses: guarded, no redirects, proxies from the env
    except for plain-http loopback `targets`, which are always reached directly; `http2`
    offers HTTP/2 through ALPN (HTTP/1.1 when the server does not choose it)."""
    return httpx.AsyncClient(
        http2=http2,
        verify=ssl_context(settings, http2),
        timeout=httpx.Timeout(read, connect=connect),
        follow_redirects=False,
        trust_env=True,
        mounts=direct_routes(targets, settings),
        event_hooks={"request": [guard.hook]},
        # only what BoundedBody decodes (httpx would add br/zstd when those packages exist)
        headers={"User-Agent": "cpi-preflight", "Accept-Encoding": ACCEPT_ENCODING},
    )


def build_api_client(settings: TrustSettings, guard: ReadOnlyGuard, base_url: str,
                     bearer: str, connect: float, read: float) -> httpx.Client:
    """A synchronous, read-only client for users' own checks, authenticated with the token
    (a plain-http loopback API is reached directly, never through a proxy)."""
    direct: dict[str, httpx.BaseTransport] = {
        pattern: httpx.HTTPTransport(verify=ssl_context(settings))
        for pattern in _loopback_http_patterns([base_url, guard.token_url])}
    return httpx.Client(
        base_url=base_url,
        verify=ssl_context(settings),
        timeout=httpx.Timeout(read, connect=connect),
        follow_redirects=False,
        trust_env=True,
        mounts=direct,
        event_hooks={"request": [guard.sync_hook]},
        headers={"User-Agent": "cpi-preflight", "Accept": "application/json",
                 "Authorization": f"Bearer {bearer}"},
    )


def _proxy_variable(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """The variable as proxies read it (the lowercase spelling wins) and its value."""
    for spelled in (name.lower(), name):
        value = environ.get(spelled)
        if value:
            return spelled, value.strip()
    return None


def mask_userinfo(value: str) -> str:
    """A proxy URL with everything before its last '@' masked, whatever characters the user
    name and password hold ('/', '@', ':', '%')."""
    scheme, rest = _split_scheme(value)
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return scheme + rest


def _split_scheme(value: str) -> tuple[str, str]:
    match = _SCHEME.match(value)
    assert match is not None  # the pattern matches any text
    return match.group(1) or "", match.group(2)


def proxy_setting(environ: Mapping[str, str]) -> str:
    """The proxy variables httpx honours (credentials masked), or that there are none."""
    found = []
    for name in PROXY_VARIABLES:
        variable = _proxy_variable(environ, name)
        if variable is not None:
            shown = variable[1] if name == "NO_PROXY" else mask_userinfo(variable[1])
            found.append(f"{name}={quote(shown, 2000)}")
    return ", ".join(found) if found else "direct (no proxy variables set)"


def proxy_for(url: str, environ: Mapping[str, str]) -> str:
    """The proxy variable a request to `url` goes through, as `HTTPS_PROXY=http://***@proxy:3128`
    (user name and password masked), or '' when it goes direct: plain-http loopback targets
    (`direct_routes`) and URLs NO_PROXY names (`_no_proxy_names`: read as httpx reads it)."""
    try:
        parts = httpx.URL(url)
        host = parts.host  # lower case already; raises for a name IDNA cannot read
    except (httpx.InvalidURL, ValueError):
        return ""
    for name in (f"{parts.scheme.upper()}_PROXY", "ALL_PROXY"):
        variable = _proxy_variable(environ, name)
        if variable is None:
            continue
        key = "all://" if name == "ALL_PROXY" else f"{parts.scheme}://"  # httpx's mount
        if (parts.scheme == "http" and is_loopback(host)) or _bypassed(parts, key, environ):
            return ""
        return f"{variable[0]}={quote(mask_userinfo(variable[1]), 2000)}"
    return ""


def _bypassed(url: httpx.URL, key: str, environ: Mapping[str, str]) -> bool:
    variable = _proxy_variable(environ, "NO_PROXY")
    entries = [e.strip() for e in variable[1].split(",")] if variable else []
    return any(_no_proxy_names(entry, url, key) for entry in entries if entry)


def _no_proxy_names(entry: str, url: httpx.URL, key: str) -> bool:
    """Whether NO_PROXY's `entry` names `url`, as httpx reads it (curl's rules): `*` names
    every URL; an entry with a scheme (`http://host`, `all://host:port`) that scheme (`all`:
    any), that host alone and, if given, that port; an IP address or `localhost` that host
    alone; `.domain` its subdomains; any other name that host and its subdomains; a port in
    an entry names that port only (an https URL without one has none). An entry with neither
    host nor port (`https://`) ranks against the proxy's own pattern `key` (httpx's mounts):
    it wins when written the same, or when its scheme is the URL's and the proxy is
    ALL_PROXY's."""
    if entry == "*":
        return True
    try:
        pattern = httpx.URL(_no_proxy_pattern(entry))
    except (httpx.InvalidURL, ValueError):
        return False  # httpx refuses it when the client is built (check_client_environment)
    if pattern.scheme not in ("all", url.scheme):
        return False
    if pattern.port is not None and pattern.port != url.port:
        return False
    if pattern.host in ("", "*") and pattern.port is None:
        return entry == key or (key == "all://" and pattern.scheme == url.scheme)
    return _host_pattern_names(pattern.host, url.host)


def _no_proxy_pattern(entry: str) -> str:
    """The URL pattern httpx makes of a NO_PROXY entry."""
    if "://" in entry:
        return entry
    if _is_address(entry.split("/")[0]) or entry.lower() == "localhost":
        return f"all://[{entry}]" if ":" in entry.split("/")[0] else f"all://{entry}"
    return f"all://*{entry}"


def _host_pattern_names(pattern: str, host: str) -> bool:
    if not pattern or pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    if pattern.startswith("*"):
        return host == pattern[1:] or host.endswith("." + pattern[1:])
    return host == pattern


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def check_proxy_variables(environ: Mapping[str, str]) -> None:
    """Raise `ConfigError` naming the variable when httpx could not use a proxy variable;
    checked before any request, with httpx's own proxy and transport classes."""
    for name in PROXY_VARIABLES[:3]:
        variable = _proxy_variable(environ, name)
        if variable is None:
            continue
        spelled, value = variable
        problem = _proxy_problem(value if "://" in value else f"http://{value}")
        if problem:
            raise ConfigError(f"{spelled}: {problem}; fix or unset {spelled} "
                              f"(it is {quote(mask_userinfo(value))})")


def check_client_environment() -> None:
    """Raise `ConfigError` when httpx cannot build a client from this process's proxy
    variables (NO_PROXY entries included): the same construction every request goes through.
    Without any of those variables there is nothing to read, and no client is built (building
    one costs start-up time)."""
    if not network_settings.names_a_proxy_variable(os.environ):
        return
    try:
        httpx.Client(trust_env=True, verify=False).close()
    except (httpx.InvalidURL, ValueError, ImportError) as exc:
        shown = proxy_setting(os.environ)
        raise ConfigError(f"the proxy variables cannot be used ({shown}): {quote(exc)}; fix or "
                          "unset the variable named") from None


def _proxy_problem(url: str) -> str:
    rest = _split_scheme(url)[1]
    if "@" in rest and any(c in rest.rsplit("@", 1)[0] for c in "/?#"):
        return ("the URL has a path, so part of it would be taken for the host; percent-encode "
                "'/' and '@' in the user name and password (%2F, %40)")
    try:  # httpx's own words, about the URL without its user name and password
        _read_url(mask_userinfo(url))
    except (httpx.InvalidURL, ValueError) as exc:
        return quote(str(exc) or type(exc).__name__)
    try:
        parsed = _read_url(url)
    except (httpx.InvalidURL, ValueError):
        return "the user name or password cannot be read; percent-encode its special characters"
    _register_password(parsed)
    return _proxy_scheme_problem(url, parsed)


def _read_url(url: str) -> httpx.URL:
    parsed = httpx.URL(url)
    _ = parsed.host  # an IDNA host name fails only when it is decoded
    return parsed


def _proxy_scheme_problem(url: str, parsed: httpx.URL) -> str:
    if parsed.scheme not in ("http", "https", "socks5", "socks5h"):
        return "the scheme must be http:// or https://"
    if parsed.scheme.startswith("socks"):
        try:
            httpx.HTTPTransport(proxy=httpx.Proxy(url), verify=False)
        except ImportError:
            return "SOCKS proxies need the socksio package (pip install 'httpx[socks]')"
        except ValueError as exc:  # httpx refuses what it cannot use; say so, never crash
            return f"httpx cannot use it: {exc}"
    if not parsed.host:
        return "the URL names no host"
    return ""


def _register_password(url: httpx.URL) -> None:
    if url.password:
        register(url.password)  # scrubbed from anything written, should an error quote it
