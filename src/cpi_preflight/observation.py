"""Facts the probe saw, with no verdicts: what was asked, what came back, how long it took.

The diagnosis reads only these. Bodies are kept as short excerpts; a token response keeps its
JSON with the access token removed. Each attempt also keeps what went over the wire (`Wire`:
headers, protocol, timings, peer certificate, the start of the body) for exchanges.har; those
are raw facts too (masked when the document is built), except credentials, which never enter
them: an `Authorization` or `Proxy-Authorization` value keeps only its scheme, cookie values
are dropped, and no request body is kept (the only one the probe sends is the token request).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from cpi_preflight import urls
from cpi_preflight.secret import Secret
from cpi_preflight.server_text import quote

BODY_EXCERPT = 2000
# Characters of an answer's body a `Wire` keeps: four times what exchanges.har shows, so that a
# secret crossing this cut is masked whole before the report cuts again (`reporting.har`).
WIRE_TEXT = 64 * 1024
WIRE_HEADERS = 100  # header lines a `Wire` keeps per message (httpcore bounds their size)
Headers = tuple[tuple[str, str], ...]
# Why a request got no HTTP answer: named by `transport.classify`, the probe's deadline, or the
# read-only guard (a write refused before it left). `tls_client`: the server ended the handshake
# with an alert about the client certificate; `proxy`: the proxy refused the tunnel (CONNECT).
FailureKind = Literal["dns", "refused", "timeout", "reset", "connect", "tls", "tls_client",
                      "proxy", "protocol", "deadline", "refused_write"]


@dataclass(frozen=True)
class Failure:
    """A request that got no HTTP answer."""

    kind: FailureKind
    detail: str


@dataclass(frozen=True)
class TlsCertificate:
    """The server certificate a host presented (issue: expiry warnings)."""

    host: str
    subject: str
    issuer: str
    not_after: str  # ISO 8601 UTC


@dataclass(frozen=True)
class Timings:
    """Where one attempt's time went, in ms, in HAR's phases; -1 where a phase did not happen
    (a reused connection has no connect) or was not seen. `connect` includes `ssl`."""

    blocked: float = -1.0
    connect: float = -1.0
    ssl: float = -1.0
    send: float = 0.0
    wait: float = 0.0
    receive: float = 0.0


@dataclass(frozen=True)
class Wire:
    """One attempt as it went over the wire: raw facts but for credentials (see the module)."""

    at: float  # wall-clock time (epoch seconds) the attempt began
    request_headers: Headers = ()
    request_body_size: int = 0
    http_version: str = ""  # of the answer: "HTTP/1.1"
    reason: str = ""
    headers: Headers = ()  # of the answer
    text: str = ""  # the decoded body, its first WIRE_TEXT characters
    text_cut: bool = False  # the body went on past `text`
    received_bytes: int = 0
    decoded_bytes: int = 0
    timings: Timings = field(default_factory=Timings)
    server_ip: str = ""
    certificate: TlsCertificate | None = None


@dataclass(frozen=True)
class Attempt:
    """One try of a request: its status or its transport failure, and what went over the wire
    (None where nothing was recorded: an exchange built by hand)."""

    status: int | None
    failure: Failure | None
    elapsed_ms: float
    wire: Wire | None = None


@dataclass(frozen=True)
class Exchange:
    """The final answer to one logical request, after retries."""

    method: str
    url: str
    status: int | None
    content_type: str = ""
    location: str = ""
    retry_after: str = ""
    router_error: str = ""  # X-Cf-Routererror: the Cloud Foundry router answered, not an app
    body: str = ""
    json: Any = None
    failure: Failure | None = None
    attempts: tuple[Attempt, ...] = ()
    elapsed_ms: float = 0.0
    waited_ms: float = 0.0  # slept between attempts (backoff or Retry-After)
    started: float = 0.0
    finished: float = 0.0
    received_bytes: int = 0  # read off the wire
    decoded_bytes: int = 0  # after every Content-Encoding layer, at most transport.MAX_BODY
    truncated: bool = False  # the answer went on past a cap and was cut there
    protocol: str = ""  # HTTP/1.1 or HTTP/2: what the answer came over

    @property
    def host(self) -> str:
        """`host[:port]` of the URL."""
        return urls.host(self.url)

    @property
    def is_html(self) -> bool:
        """Whether the answer was an HTML page."""
        start = self.body.lstrip()[:200].lower()
        return "html" in self.content_type.lower() or start.startswith(("<!doctype", "<html"))

    @property
    def odata_message(self) -> str:
        """The `error.message.value` of an OData error body, if any, as a short clean line."""
        if not isinstance(self.json, dict):
            return ""
        error = self.json.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        if isinstance(message, dict):
            return quote(message.get("value") or "")
        return quote(message or "")

    @property
    def oauth_error(self) -> tuple[str, str]:
        """`error` and `error_description` of an OAuth error body, as short clean lines."""
        body = self.json if isinstance(self.json, dict) else {}
        return quote(body.get("error", ""), 80), quote(body.get("error_description", ""))

    @property
    def field_names(self) -> tuple[str, ...]:
        """The top-level keys of a JSON object answer, sorted, each a short clean line."""
        keys = sorted(self.json) if isinstance(self.json, dict) else []
        return tuple(quote(k, 60) for k in keys[:50])


@dataclass(frozen=True)
class ConnectionUse:
    """How one profile's requests reached one host."""

    host: str
    protocol: str  # HTTP/2 or HTTP/1.1: what the last answer came over ("" without one)
    connections: int  # TCP connections opened (the HTTP/1.1 retry's included)
    requests: int  # requests sent, every try counted
    note: str = ""  # why the host went over to HTTP/1.1, when HTTP/2 broke


@dataclass
class ProfileObservations:
    """Everything the probe saw for one profile."""

    profile: str
    token: Exchange | None = None
    access_token: Secret | None = None
    jwks: Exchange | None = None
    endpoints: dict[str, Exchange] = field(default_factory=dict)
    server_certificates: dict[str, TlsCertificate] = field(default_factory=dict)
    client_certificate: TlsCertificate | None = None
    proxies: dict[str, str] = field(default_factory=dict)  # host -> the proxy used (masked)
    started_at: str = ""
    duration_ms: float = 0.0
    setup_problem: str = ""
    connections: dict[str, ConnectionUse] = field(default_factory=dict)  # by host[:port]
