"""The HTTP layer: TLS trust, the read-only guard, retries with backoff, and fact recording.

This is the only module that sends requests. It never judges an answer; it records an
`Exchange`. The read-only guard lives here, in one place: towards the tenant only GET and HEAD
go out, and the only POST allowed is the token request to the profile's token URL.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import os
import random
import re
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import certifi
import httpx

from cpi_preflight.errors import ReadOnlyViolationError
from cpi_preflight.observation import BODY_EXCERPT, Attempt, Exchange, Failure, TlsCertificate
from cpi_preflight.secret import scrub

MAX_BODY = 1024 * 1024
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)?[^/@\s]*@")
_MASKED_USERINFO = r"\1***@"
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
def ssl_context(settings: TrustSettings) -> ssl.SSLContext:
    """An SSL context for `settings`, shared by every profile with the same trust (loading CA
    files is the costliest part of a client); raises OSError/ssl.SSLError on unreadable files."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for path in settings.ca_files:
        context.load_verify_locations(cafile=path)
    if settings.client_cert is not None:
        context.load_cert_chain(*settings.client_cert)
    return context


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

    total: int = 32
    per_host: int = 10
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


_CAUSES: tuple[tuple[type[BaseException], str], ...] = (
    (ssl.SSLError, "tls"), (socket.gaierror, "dns"), (ConnectionRefusedError, "refused"),
    (ConnectionResetError, "reset"), (BrokenPipeError, "reset"), (TimeoutError, "timeout"),
)


def _root_kind(exc: BaseException) -> tuple[str, str] | None:
    seen: BaseException | None = exc
    while seen is not None:
        for kind_type, kind in _CAUSES:
            if isinstance(seen, kind_type):
                return kind, str(seen) or type(seen).__name__
        seen = seen.__cause__ or seen.__context__
    return None


def classify(exc: Exception) -> Failure:
    """Name the kind of transport failure an httpx exception stands for."""
    text = scrub(str(exc) or type(exc).__name__)
    lowered = text.lower()
    root = _root_kind(exc)
    if root is not None:
        return Failure(root[0], scrub(root[1]))
    if isinstance(exc, httpx.TimeoutException):
        return Failure("timeout", text)
    if "certificate" in lowered or "ssl" in lowered or "tls" in lowered:
        return Failure("tls", text)
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


async def _send_once(client: httpx.AsyncClient, request: httpx.Request) -> _Answer:
    response = await client.send(request, stream=True)
    try:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_BODY:
                break
        return _Answer(response.status_code, response.headers, b"".join(chunks)[:MAX_BODY],
                       _peer_certificate(response))
    finally:
        await response.aclose()


def _peer_certificate(response: httpx.Response) -> TlsCertificate | None:
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    cert = ssl_object.getpeercert() if ssl_object is not None else None
    if not cert:
        return None
    not_after = datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), UTC)
    return TlsCertificate(host=response.url.netloc.decode(), subject=_dn(cert.get("subject")),
                          issuer=_dn(cert.get("issuer")), not_after=not_after.isoformat())


def _dn(parts: Any) -> str:
    if not parts:
        return ""
    return ", ".join(f"{k}={v}" for rdn in parts for (k, v) in rdn)


def _decode(answer: _Answer) -> tuple[str, Any]:
    text = answer.body.decode("utf-8", errors="replace")
    content_type = answer.headers.get("content-type", "")
    parsed: Any = None
    if "json" in content_type or text.lstrip().startswith(("{", "[")):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
    return text, parsed


class Sender:
    """Sends requests for one profile under the shared limits, with retries and a deadline."""

    def __init__(self, client: httpx.AsyncClient, limits: Limits, policy: RetryPolicy,
                 deadline: float) -> None:
        self.client = client
        self.limits = limits
        self.policy = policy
        self.deadline = deadline
        self.certificates: dict[str, TlsCertificate] = {}

    async def exchange(self, request: httpx.Request, *, keep_body: bool = True) -> Exchange:
        """Send `request` until it succeeds, fails for good, or tries run out."""
        started = time.monotonic()
        attempts: list[Attempt] = []
        answer: _Answer | None = None
        failure: Failure | None = None
        for number in range(self.policy.attempts):
            answer, failure, elapsed = await self._try(request)
            attempts.append(Attempt(answer.status if answer else None, failure, elapsed))
            if not self._should_retry(answer, failure, number, started):
                break
            await asyncio.sleep(self.policy.delay(number, _header(answer, "retry-after")))
        return self._record(request, answer, failure, attempts, started, keep_body)

    def _should_retry(self, answer: _Answer | None, failure: Failure | None, number: int,
                      started: float) -> bool:
        if number + 1 >= self.policy.attempts or time.monotonic() - started > self.deadline:
            return False
        if failure is not None:
            return failure.kind in RETRY_FAILURES
        return answer is not None and answer.status in RETRY_STATUSES

    async def _try(self, request: httpx.Request) -> tuple[_Answer | None, Failure | None, float]:
        overall, host = self.limits.for_host(request.url.netloc.decode())
        async with overall, host:
            began = time.monotonic()
            try:
                answer = await _send_once(self.client, request)
            except ReadOnlyViolationError as exc:
                return None, Failure("refused_write", str(exc)), 0.0
            except httpx.HTTPError as exc:
                return None, classify(exc), (time.monotonic() - began) * 1000
            except (ssl.SSLError, OSError) as exc:
                return None, classify(exc), (time.monotonic() - began) * 1000
        if answer.certificate is not None:
            self.certificates.setdefault(answer.certificate.host, answer.certificate)
        return answer, None, (time.monotonic() - began) * 1000

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
            content_type=answer.headers.get("content-type", ""),
            location=answer.headers.get("location", ""),
            retry_after=answer.headers.get("retry-after", ""),
            body=text[:BODY_EXCERPT] if keep_body else "", json=parsed,
            attempts=tuple(attempts), elapsed_ms=attempts[-1].elapsed_ms,
            started=started, finished=finished,
        )


def _header(answer: _Answer | None, name: str) -> str:
    return answer.headers.get(name, "") if answer is not None else ""


def build_client(settings: TrustSettings, guard: ReadOnlyGuard, connect: float,
                 read: float) -> httpx.AsyncClient:
    """The one kind of client the probe uses: guarded, no redirects, proxies from the env."""
    return httpx.AsyncClient(
        verify=ssl_context(settings),
        timeout=httpx.Timeout(read, connect=connect),
        follow_redirects=False,
        trust_env=True,
        event_hooks={"request": [guard.hook]},
        headers={"User-Agent": "cpi-preflight"},
    )


def build_api_client(settings: TrustSettings, guard: ReadOnlyGuard, base_url: str,
                     bearer: str, connect: float, read: float) -> httpx.Client:
    """A synchronous, read-only client for users' own checks, authenticated with the token."""
    return httpx.Client(
        base_url=base_url,
        verify=ssl_context(settings),
        timeout=httpx.Timeout(read, connect=connect),
        follow_redirects=False,
        trust_env=True,
        event_hooks={"request": [guard.sync_hook]},
        headers={"User-Agent": "cpi-preflight", "Accept": "application/json",
                 "Authorization": f"Bearer {bearer}"},
    )


def proxy_setting(environ: Mapping[str, str]) -> str:
    """The proxy variables httpx honours (credentials masked), or that there are none."""
    found = []
    for name in PROXY_VARIABLES:
        value = environ.get(name.lower()) or environ.get(name)
        if value:
            found.append(f"{name}={_USERINFO.sub(_MASKED_USERINFO, value.strip())}")
    return ", ".join(found) if found else "direct (no proxy variables set)"
