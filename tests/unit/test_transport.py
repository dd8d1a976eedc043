"""transport: the read-only guard, retries, failure kinds, the body cap, what exchanges record."""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import threading
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import certifi
import httpx
import pytest

from cpi_preflight import connections, transport
from cpi_preflight.connections import Clients
from cpi_preflight.errors import ConfigError, ReadOnlyViolationError
from cpi_preflight.observation import (
    BODY_EXCERPT,
    WIRE_TEXT,
    Attempt,
    Exchange,
    Failure,
    Timings,
    TlsCertificate,
)
from cpi_preflight.secret import MASK, register, scrub
from cpi_preflight.transport import (
    MAX_BODY,
    RETRY_AFTER_CAP,
    Limits,
    PhaseClock,
    ReadOnlyGuard,
    RetryPolicy,
    Sender,
    classify,
    shown_header,
)

from .conftest import API_ROOT, TOKEN_URL

MPL = f"{API_ROOT}/MessageProcessingLogs"
Handler = Callable[[httpx.Request], httpx.Response]


def refusal(method: str, url: str, token_url: str = TOKEN_URL) -> str:
    return (f"refused {method} {url}: cpi-preflight only reads from the tenant (GET/HEAD), and "
            f"only POSTs to the token URL {token_url}")


@dataclass
class Server:
    """A scripted server: one answer (or exception) per request, the last one repeating."""

    answers: list[httpx.Response | Exception]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class Sleeps:
    delays: list[float] = field(default_factory=list)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Sleeps:
    """Record the back-off delays instead of waiting them out."""
    record = Sleeps()

    async def no_wait(delay: float) -> None:
        record.delays.append(delay)

    monkeypatch.setattr(transport.asyncio, "sleep", no_wait)
    return record


def exchange(server: Server, request: httpx.Request, *, attempts: int = 3,
             guard: ReadOnlyGuard | None = None, keep_body: bool = True,
             policy: RetryPolicy | None = None) -> Exchange:
    async def go() -> Exchange:
        hooks = {"request": [guard.hook]} if guard else {}
        client = httpx.AsyncClient(transport=httpx.MockTransport(server), event_hooks=hooks)
        clients = Clients(lambda _: client, http2=False, per_host=10)
        sender = Sender(clients, Limits(),
                        policy or RetryPolicy(attempts=attempts, base_delay=0.001), 60.0)
        try:
            return await sender.exchange(request, keep_body=keep_body)
        finally:
            await clients.aclose()
    return asyncio.run(go())


def get(url: str = MPL) -> httpx.Request:
    return httpx.Request("GET", url)


def statuses(ex: Exchange) -> list[int | str | None]:
    return [a.status if a.failure is None else a.failure.kind for a in ex.attempts]


# --- the read-only guard -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("url", [MPL, TOKEN_URL, "https://elsewhere.example.com/x?y=1"])
def test_the_guard_lets_reads_through_anywhere(method: str, url: str) -> None:
    ReadOnlyGuard(TOKEN_URL).check(method, url)


@pytest.mark.parametrize("url", [TOKEN_URL, TOKEN_URL + "?grant_type=client_credentials",
                                 TOKEN_URL + "/"])
def test_the_guard_lets_a_post_to_the_token_url_through(url: str) -> None:
    ReadOnlyGuard(TOKEN_URL).check("POST", url)


@pytest.mark.parametrize(("method", "url", "shown"), [
    ("POST", MPL, MPL),
    ("POST", f"{API_ROOT}/IntegrationPackages?$top=1", f"{API_ROOT}/IntegrationPackages"),
    ("PUT", f"{API_ROOT}/IntegrationPackages('x')", f"{API_ROOT}/IntegrationPackages('x')"),
    ("DELETE", f"{API_ROOT}/DataStores('a')", f"{API_ROOT}/DataStores('a')"),
    ("PATCH", MPL, MPL),
    ("PUT", TOKEN_URL, TOKEN_URL),
    ("DELETE", TOKEN_URL, TOKEN_URL),
    ("POST", "https://sub.authentication.example.com/oauth/token2",
     "https://sub.authentication.example.com/oauth/token2"),
])
def test_the_guard_refuses_every_write(method: str, url: str, shown: str) -> None:
    with pytest.raises(ReadOnlyViolationError) as caught:
        ReadOnlyGuard(TOKEN_URL).check(method, url)
    assert str(caught.value) == refusal(method, shown)


def test_a_refused_write_never_reaches_the_server() -> None:
    server = Server([httpx.Response(200)])
    found = exchange(server, httpx.Request("PUT", f"{API_ROOT}/IntegrationPackages('x')"),
                     guard=ReadOnlyGuard(TOKEN_URL))
    assert server.requests == []
    assert found.status is None
    assert found.failure == Failure(
        "refused_write", refusal("PUT", f"{API_ROOT}/IntegrationPackages('x')"))
    assert statuses(found) == ["refused_write"]


def test_the_sync_hook_guards_users_clients_too() -> None:
    guard = ReadOnlyGuard(TOKEN_URL)
    with httpx.Client(transport=httpx.MockTransport(Server([httpx.Response(200)])),
                      event_hooks={"request": [guard.sync_hook]}) as client:
        assert client.get(MPL).status_code == 200
        with pytest.raises(ReadOnlyViolationError):
            client.delete(MPL)


def test_the_token_post_passes_the_guard_through_a_client() -> None:
    server = Server([httpx.Response(200, json={"access_token": "t"})])
    found = exchange(server, httpx.Request("POST", TOKEN_URL, data={"grant_type": "x"}),
                     guard=ReadOnlyGuard(TOKEN_URL))
    assert found.status == 200


@pytest.mark.parametrize("token_url", ["https://sub.authentication.example.com:443/oauth/token",
                                       "https://Sub.Authentication.example.com/oauth/token"])
def test_the_token_post_passes_the_guard_however_the_url_is_written(token_url: str) -> None:
    server = Server([httpx.Response(200, json={"access_token": "t"})])
    found = exchange(server, httpx.Request("POST", token_url),
                     guard=ReadOnlyGuard(token_url))
    assert found.failure is None


# --- retries -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_transient_statuses_are_retried_until_they_pass(sleeps: Sleeps, status: int) -> None:
    server = Server([httpx.Response(status), httpx.Response(status), httpx.Response(200)])
    found = exchange(server, get())
    assert found.status == 200
    assert statuses(found) == [status, status, 200]
    assert len(sleeps.delays) == 2


@pytest.mark.parametrize("status", [503, 429])
def test_retries_stop_after_the_attempts(sleeps: Sleeps, status: int) -> None:
    server = Server([httpx.Response(status)])
    found = exchange(server, get(), attempts=3)
    assert found.status == status
    assert statuses(found) == [status] * 3
    assert len(server.requests) == 3
    assert len(sleeps.delays) == 2


def test_one_attempt_means_no_retry(sleeps: Sleeps) -> None:
    server = Server([httpx.Response(503), httpx.Response(200)])
    assert statuses(exchange(server, get(), attempts=1)) == [503]
    assert sleeps.delays == []


@pytest.mark.parametrize("status", [200, 302, 400, 401, 403, 404, 500, 501])
def test_other_statuses_are_final(sleeps: Sleeps, status: int) -> None:
    server = Server([httpx.Response(status), httpx.Response(200)])
    assert statuses(exchange(server, get())) == [status]
    assert sleeps.delays == []


def test_retry_after_is_honoured(sleeps: Sleeps) -> None:
    server = Server([httpx.Response(429, headers={"Retry-After": "0"}),
                     httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200)])
    found = exchange(server, get())
    assert found.status == 200
    assert sleeps.delays == [0.0, 7.0]


def test_retry_after_is_capped(sleeps: Sleeps) -> None:
    server = Server([httpx.Response(503, headers={"Retry-After": "3600"}), httpx.Response(200)])
    exchange(server, get())
    assert sleeps.delays == [RETRY_AFTER_CAP]


def test_the_last_answer_keeps_its_retry_after_header() -> None:
    server = Server([httpx.Response(429, headers={"Retry-After": "0"})])
    assert exchange(server, get(), attempts=2).retry_after == "0"


@pytest.mark.parametrize("error", [
    httpx.ConnectError("[Errno 111] Connection refused"),
    httpx.ConnectTimeout("timed out"),
    httpx.ReadError("[Errno 104] Connection reset by peer"),
    httpx.RemoteProtocolError("Server disconnected without sending a response."),
    httpx.ConnectError("no route"),
    httpx.RemoteProtocolError("illegal status line"),
])
def test_connection_failures_are_retried(sleeps: Sleeps, error: Exception) -> None:
    server = Server([error, error, httpx.Response(200)])
    found = exchange(server, get())
    assert found.status == 200
    kind = classify(error).kind
    assert statuses(found) == [kind, kind, 200]


@pytest.mark.parametrize("error", [
    httpx.ConnectError("[Errno -2] Name or service not known"),
    httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
])
def test_dns_and_tls_failures_are_final(sleeps: Sleeps, error: Exception) -> None:
    server = Server([error, httpx.Response(200)])
    found = exchange(server, get())
    assert found.status is None
    assert found.failure == classify(error)
    assert len(server.requests) == 1


def test_a_failure_on_every_attempt_is_recorded(sleeps: Sleeps) -> None:
    server = Server([httpx.ConnectError("[Errno 111] Connection refused")])
    found = exchange(server, get(), attempts=2)
    assert found.status is None
    assert found.failure == Failure("refused", "[Errno 111] Connection refused")
    assert statuses(found) == ["refused", "refused"]


@pytest.mark.parametrize(("value", "expected"), [
    ("0", 0.0), ("5", 5.0), (" 7 ", 7.0), ("10", 10.0), ("11", RETRY_AFTER_CAP),
    ("99999", RETRY_AFTER_CAP), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
])
def test_retry_after_values(value: str, expected: float) -> None:
    assert RetryPolicy().delay(0, value) == expected


@pytest.mark.parametrize("value", ["", "soon", "-5", "1.5", "Wed, 99 Foo 2015"])
def test_unreadable_retry_after_falls_back_to_jittered_backoff(value: str) -> None:
    policy = RetryPolicy(base_delay=0.2, max_delay=2.0)
    assert transport._retry_after_seconds(value) is None
    assert 0.1 <= policy.delay(0, value) <= 0.2
    assert 0.2 <= policy.delay(1, value) <= 0.4
    assert 1.0 <= policy.delay(10, value) <= 2.0


# --- classify ----------------------------------------------------------------------------


def chained(outer: Exception, cause: BaseException) -> Exception:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(("error", "kind", "detail"), [
    (httpx.ConnectError("[Errno -2] Name or service not known"), "dns",
     "[Errno -2] Name or service not known"),
    (httpx.ConnectError("[Errno -3] Temporary failure in name resolution"), "dns",
     "[Errno -3] Temporary failure in name resolution"),
    (httpx.ConnectError("[Errno 111] Connection refused"), "refused",
     "[Errno 111] Connection refused"),
    (httpx.ConnectTimeout("timed out"), "timeout", "timed out"),
    (httpx.ReadTimeout(""), "timeout", "ReadTimeout"),
    (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), "tls",
     "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
    (httpx.RemoteProtocolError("Server disconnected without sending a response."), "reset",
     "Server disconnected without sending a response."),
    (httpx.ReadError("[Errno 104] Connection reset by peer"), "reset",
     "[Errno 104] Connection reset by peer"),
    (httpx.ConnectError("no route to somewhere"), "connect", "no route to somewhere"),
    (httpx.RemoteProtocolError("illegal status line"), "protocol", "illegal status line"),
    (chained(httpx.ConnectError("wrapped"), socket.gaierror(-2, "Name or service not known")),
     "dns", "[Errno -2] Name or service not known"),
    (chained(httpx.ConnectError("wrapped"), ConnectionResetError(104, "reset by peer")),
     "reset", "[Errno 104] reset by peer"),
    (ConnectionRefusedError(111, "Connection refused"), "refused",
     "[Errno 111] Connection refused"),
    (TimeoutError(), "timeout", "TimeoutError"),
    (BrokenPipeError(32, "Broken pipe"), "reset", "[Errno 32] Broken pipe"),
    (ssl.SSLCertVerificationError(1, "certificate verify failed"), "tls",
     "certificate verify failed"),
])
def test_classify_names_the_kind_of_failure(error: Exception, kind: str, detail: str) -> None:
    assert classify(error) == Failure(kind, detail)


def test_classify_scrubs_secrets_from_the_detail() -> None:
    register("proxy-password-123")
    found = classify(httpx.ConnectError("connect to http://u:proxy-password-123@proxy failed"))
    assert found == Failure("connect", f"connect to http://u:{MASK}@proxy failed")


# --- what an exchange records --------------------------------------------------------------


def test_an_exchange_records_the_answer() -> None:
    server = Server([httpx.Response(200, json={"d": {"results": []}},
                                    headers={"Retry-After": "1"})])
    found = exchange(server, get(MPL + "?$top=1"))
    assert (found.method, found.status) == ("GET", 200)
    assert found.url == f"{MPL}?$top=1"
    assert found.content_type == "application/json"
    assert found.json == {"d": {"results": []}}
    assert found.body == '{"d":{"results":[]}}'
    assert found.retry_after == "1"
    assert found.failure is None
    assert len(found.attempts) == 1
    assert isinstance(found.attempts[0], Attempt)
    assert found.elapsed_ms >= 0
    assert found.finished >= found.started


def test_a_redirect_is_recorded_not_followed() -> None:
    server = Server([httpx.Response(302, headers={"Location": "https://login.example.com/"})])
    found = exchange(server, get())
    assert (found.status, found.location) == (302, "https://login.example.com/")
    assert len(server.requests) == 1


@pytest.mark.parametrize(("content_type", "body", "parsed"), [
    ("application/json", '{"a": 1}', {"a": 1}),
    ("text/plain", '[1, 2]', [1, 2]),
    ("application/json", "not json", None),
    ("text/html", "<html><body>Login</body></html>", None),
    ("", "  {\"b\": 2}", {"b": 2}),
])
def test_json_is_parsed_when_the_answer_looks_like_json(content_type: str, body: str,
                                                         parsed: object) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    found = exchange(Server([httpx.Response(200, content=body.encode(), headers=headers)]),
                     get())
    assert found.json == parsed
    assert found.body == body


def test_the_body_can_be_left_out() -> None:
    found = exchange(Server([httpx.Response(200, json={"access_token": "x"})]), get(),
                     keep_body=False)
    assert found.body == ""
    assert found.json == {"access_token": "x"}


def test_the_recorded_body_is_an_excerpt() -> None:
    found = exchange(Server([httpx.Response(200, text="x" * (BODY_EXCERPT * 3))]), get())
    assert found.body == "x" * BODY_EXCERPT


def test_the_recording_keeps_the_answer_and_the_reporters_scrub_it() -> None:
    # Scrubbing every exchange would cost the probe time; every reporter scrubs what it writes.
    register("leaky-secret-42")
    server = Server([httpx.Response(400, text="bad secret leaky-secret-42",
                                    headers={"Location": "https://x/?s=leaky-secret-42"})])
    found = exchange(server, get(f"{MPL}?s=leaky-secret-42"))
    assert found.body == "bad secret leaky-secret-42"
    assert scrub(found.body + found.url + found.location).count("leaky-secret-42") == 0
    assert scrub(found.body) == f"bad secret {MASK}"


def test_the_body_is_capped_at_max_body() -> None:
    big = b"{" + b"x" * (MAX_BODY + 4096)

    async def go() -> transport._Answer:
        async with httpx.AsyncClient(transport=httpx.MockTransport(
                Server([httpx.Response(200, content=big)]))) as client:
            return await transport._send_once(client, get())
    answer = asyncio.run(go())
    assert len(answer.body) == MAX_BODY
    found = exchange(Server([httpx.Response(200, content=big)]), get())
    assert found.json is None
    assert len(found.body) == BODY_EXCERPT


@pytest.mark.parametrize("encoding", ["", "gzip"])
def test_an_answer_keeps_one_mebibyte_at_the_most(encoding: str) -> None:
    """The cap itself, written out: each answer costs at most 1 MiB of memory to keep."""
    data = layered(b"x" * (2 * 1024 * 1024), *([encoding] if encoding else []))
    server = Server([httpx.Response(200, headers={"Content-Encoding": encoding},
                                    stream=httpx.ByteStream(data))])
    found = exchange(server, get())
    assert (found.decoded_bytes, found.truncated) == (1024 * 1024, True)


# --- limits, trust, proxies ----------------------------------------------------------------


def test_limits_share_one_semaphore_per_host() -> None:
    async def go() -> None:
        limits = Limits(total=4, per_host=2)
        first, host_a = limits.for_host("a")
        again, host_a_again = limits.for_host("a")
        _, host_b = limits.for_host("b")
        assert first is again
        assert host_a is host_a_again
        assert host_a is not host_b
    asyncio.run(go())


def test_trust_uses_ssl_cert_file_or_certifi_plus_the_ca_bundle(tmp_path: Path) -> None:
    bundle, cert, key = tmp_path / "ca.pem", tmp_path / "c.crt", tmp_path / "c.key"
    assert transport.trust_settings(None, None, None, {}).ca_files == (certifi.where(),)
    settings = transport.trust_settings(bundle, cert, key, {"SSL_CERT_FILE": "/etc/corp.pem"})
    assert settings.ca_files == ("/etc/corp.pem", str(bundle))
    assert settings.client_cert == (str(cert), str(key))
    assert settings.describe() == f"/etc/corp.pem, {bundle} + client certificate"


def test_an_unreadable_ca_file_fails_when_the_context_is_built(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(ssl.SSLError):
        transport.ssl_context(transport.trust_settings(bad, None, None, {}))


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, "direct (no proxy variables set)"),
    ({"HTTPS_PROXY": "http://proxy:8080"}, "HTTPS_PROXY=http://proxy:8080"),
    ({"https_proxy": "http://user:pa$$@proxy:8080", "HTTPS_PROXY": "http://other:1"},
     "HTTPS_PROXY=http://***@proxy:8080"),
    ({"HTTP_PROXY": "user:pw@proxy:3128", "NO_PROXY": "localhost,.example.com"},
     "HTTP_PROXY=***@proxy:3128, NO_PROXY=localhost,.example.com"),
])
def test_proxy_setting_masks_credentials(environ: dict[str, str], expected: str) -> None:
    assert transport.proxy_setting(environ) == expected


@pytest.mark.parametrize("password", ["p@ss", "pa/ss@word", "a/b", "x@y@z", "p:w", "%40&<>\"'$",
                                      "slash/at@colon:percent%"])
@pytest.mark.parametrize("scheme", ["http://", "https://", ""])
def test_proxy_setting_never_shows_userinfo_whatever_it_holds(password: str,
                                                              scheme: str) -> None:
    value = f"{scheme}corp-user:{password}@proxy.corp:3128"
    shown = transport.proxy_setting({"HTTPS_PROXY": value})
    assert shown == f"HTTPS_PROXY={scheme}***@proxy.corp:3128"


@pytest.mark.parametrize(("value", "problem"), [
    ("socks5://127.0.0.1:1080", "SOCKS proxies need the socksio package "
                                "(pip install 'httpx[socks]')"),
    ("ftp://proxy:21", "the scheme must be http:// or https://"),
    ("socks4://127.0.0.1:1", "the scheme must be http:// or https://"),
    ("socks://127.0.0.1:1", "the scheme must be http:// or https://"),
    ("SOCKS4A://127.0.0.1:1", "the scheme must be http:// or https://"),
    ("http://proxy:abc", "Invalid port: 'abc'"),
    ("http://", "the URL names no host"),
    ("http://u:pa/ss@proxy:3128", "the URL has a path, so part of it would be taken for the "
                                  "host; percent-encode '/' and '@' in the user name and "
                                  "password (%2F, %40)"),
    ("http://u:p#ss@proxy:3128", "the URL has a path, so part of it would be taken for the "
                                 "host; percent-encode '/' and '@' in the user name and "
                                 "password (%2F, %40)"),
    ("http://u:pw@proxy:abc", "Invalid port: 'abc'"),
    ("http://u:p\x01w@proxy:3128", "the user name or password cannot be read; percent-encode "
                                  "its special characters"),
])
def test_a_proxy_variable_httpx_cannot_use_is_a_config_error(value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        transport.check_proxy_variables({"https_proxy": value})
    shown = transport.mask_userinfo(value)
    assert str(caught.value) == (f"https_proxy: {problem}; fix or unset https_proxy "
                                 f"(it is {shown})")


@pytest.mark.parametrize("environ", [
    {}, {"HTTPS_PROXY": "http://proxy:3128"}, {"HTTP_PROXY": "proxy:3128"},
    {"ALL_PROXY": "https://u:p%40ss@proxy:8443"}, {"NO_PROXY": "*"},
])
def test_usable_proxy_variables_pass(environ: dict[str, str]) -> None:
    transport.check_proxy_variables(environ)


def test_a_no_proxy_entry_httpx_cannot_read_is_a_config_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("NO_PROXY", "localhost:abc")
    with pytest.raises(ConfigError) as caught:
        transport.check_client_environment()
    assert str(caught.value) == ("the proxy variables cannot be used (NO_PROXY=localhost:abc): "
                                 "Invalid port: 'abc'; fix or unset the variable named")
    monkeypatch.setenv("NO_PROXY", "localhost,::1,127.0.0.1,.corp.example")
    transport.check_client_environment()


def _clear_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in transport.PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_without_proxy_variables_no_client_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_proxy_variables(monkeypatch)
    built: list[bool] = []
    monkeypatch.setattr(transport.httpx, "Client", lambda **_: built.append(True))
    transport.check_client_environment()
    assert built == []


@pytest.mark.parametrize("name", ["no_proxy", "NO_PROXY", "https_proxy", "All_Proxy"])
def test_any_proxy_variable_in_either_spelling_builds_the_client(
        monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    _clear_proxy_variables(monkeypatch)
    monkeypatch.setenv(name, "localhost:abc" if "no" in name.lower() else "http://proxy:3128")

    def refuse(**_: object) -> None:
        raise ValueError("refused")

    monkeypatch.setattr(transport.httpx, "Client", refuse)
    with pytest.raises(ConfigError) as caught:
        transport.check_client_environment()
    assert str(caught.value).endswith("): refused; fix or unset the variable named")


def test_a_proxy_password_is_scrubbed_once_checked() -> None:
    transport.check_proxy_variables({"HTTPS_PROXY": "http://u:Proxy&Pw-4711@proxy:3128"})
    assert scrub("auth Proxy&Pw-4711 failed") == f"auth {MASK} failed"


def test_the_probe_client_follows_no_redirects_and_carries_the_guard() -> None:
    guard = ReadOnlyGuard(TOKEN_URL)
    client = transport.build_client(transport.trust_settings(None, None, None, {}), guard, 1, 2)
    try:
        assert client.follow_redirects is False
        assert client.event_hooks["request"] == [guard.hook]
        assert client.timeout == httpx.Timeout(2, connect=1)
        assert client.headers["Accept-Encoding"] == "gzip, deflate"  # what BoundedBody decodes
    finally:
        asyncio.run(client.aclose())


def test_the_api_client_for_users_is_read_only_and_authenticated() -> None:
    guard = ReadOnlyGuard(TOKEN_URL)
    with transport.build_api_client(transport.trust_settings(None, None, None, {}), guard,
                                    API_ROOT, "tok", 1, 2) as client:
        assert client.headers["Authorization"] == "Bearer tok"
        assert client.base_url == httpx.URL(API_ROOT + "/")
        assert client.event_hooks["request"] == [guard.sync_hook]
        with pytest.raises(ReadOnlyViolationError):
            client.post("/IntegrationPackages")


# --- bounded decoding: every Content-Encoding layer counts towards the cap ------------------


def layered(data: bytes, *encodings: str) -> bytes:
    """`data` encoded with each of `encodings` in turn, as Content-Encoding lists them."""
    for name in encodings:
        packer = zlib.compressobj(9, zlib.DEFLATED, {"gzip": 31, "deflate": 15,
                                                     "raw-deflate": -15}[name])
        data = packer.compress(data) + packer.flush()
    return data


def bomb(decoded: int, form: str = "gzip") -> bytes:
    """`decoded` zero bytes in two layers of `form` (a layered() name)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, {"gzip": 31, "raw-deflate": -15}[form])
    inner = b"".join(packer.compress(b"\0" * 65536) for _ in range(decoded // 65536))
    return layered(inner + packer.flush(), form)


def feed_in_chunks(body: transport.BoundedBody, data: bytes, size: int = 4096) -> None:
    for start in range(0, len(data), size):
        if not body.feed(data[start:start + size]):
            return


def test_a_gzip_in_gzip_bomb_stops_at_the_cap_while_decoding() -> None:
    data = bomb(64 * 1024 * 1024)
    body = transport.BoundedBody("gzip, gzip", limit=1000)
    feed_in_chunks(body, data)
    assert (body.decoded, len(body.body), body.truncated) == (1000, 1000, True)
    assert all(layer.room <= 1000 for layer in body.layers)
    assert body.received <= len(data)


@pytest.mark.parametrize(("form", "encoding"), [("gzip", "gzip, gzip"),
                                                ("raw-deflate", "deflate, deflate")])
def test_no_layer_of_a_bomb_expands_beyond_the_cap_in_memory(form: str, encoding: str) -> None:
    """Each layer stops at the cap while it inflates: cutting the result afterwards (what
    httpx's decoder does) would hold the whole 64 MiB for a moment."""
    data = bomb(64 * 1024 * 1024, form)
    body = transport.BoundedBody(encoding)
    rooms: list[int] = []
    tracemalloc.start()
    try:
        for start in range(0, len(data), 4096):
            more = body.feed(data[start:start + 4096])
            rooms.extend(layer.room for layer in body.layers)
            if not more:
                break
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024
    assert min(rooms) >= 0
    assert (body.decoded, body.truncated) == (MAX_BODY, True)


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", "gzip, deflate",
                                      "deflate, gzip, gzip", "identity", "GZIP", ""])
def test_small_encoded_bodies_decode_exactly(encoding: str) -> None:
    original = b'{"d": {"results": []}}' * 50
    names = [n.strip().lower() for n in encoding.split(",") if n.strip()]
    data = layered(original, *[{"x-gzip": "gzip"}.get(n, n) for n in names
                               if n != "identity"])
    body = transport.BoundedBody(encoding)
    feed_in_chunks(body, data, 7)
    assert (body.body, body.truncated, body.received) == (original, False, len(data))


def test_deflate_without_a_zlib_header_is_read_too() -> None:
    body = transport.BoundedBody("deflate")
    body.feed(layered(b"raw deflate", "raw-deflate"))
    assert body.body == b"raw deflate"


def test_an_encoding_we_do_not_decode_is_kept_as_it_came() -> None:
    body = transport.BoundedBody("br")
    body.feed(b"\x8b\x02\x80")
    assert body.body == b"\x8b\x02\x80"


def test_the_raw_bytes_are_capped_too() -> None:
    body = transport.BoundedBody("", limit=100, raw_limit=10)
    assert body.feed(b"x" * 6) is True
    assert body.feed(b"x" * 6) is False
    assert (body.received, body.truncated) == (12, True)


def test_a_body_that_is_not_what_its_encoding_says_is_a_protocol_failure() -> None:
    server = Server([httpx.Response(200, headers={"Content-Encoding": "gzip"},
                                    stream=httpx.ByteStream(b"not gzip"))])
    found = exchange(server, get(), attempts=1)
    assert found.failure is not None
    assert found.failure.kind == "protocol"
    assert found.failure.detail.startswith("the gzip body cannot be decoded: ")


def test_an_exchange_counts_what_it_read_and_decoded() -> None:
    data = bomb(8 * MAX_BODY)
    server = Server([httpx.Response(200, headers={"Content-Encoding": "gzip, gzip"},
                                    stream=httpx.ByteStream(data))])
    found = exchange(server, get())
    assert (found.received_bytes, found.decoded_bytes, found.truncated) == (
        len(data), MAX_BODY, True)


# --- hostile JSON and header values ---------------------------------------------------------


@pytest.mark.parametrize(("text", "parsed"), [
    ("[" * 100_000 + "]" * 100_000, None),
    ("[" * (transport.MAX_JSON_DEPTH + 1) + "]" * (transport.MAX_JSON_DEPTH + 1), None),
    ('{"a": ' * transport.MAX_JSON_DEPTH + "1" + "}" * transport.MAX_JSON_DEPTH,
     "deep enough"),
    ('{"d": {"results": [{"x": [1, {"y": 2}]}]}}', {"d": {"results": [{"x": [1, {"y": 2}]}]}}),
])
def test_json_nested_deeper_than_the_limit_is_not_parsed(text: str, parsed: object) -> None:
    found = transport.parse_json(text)
    if parsed == "deep enough":
        assert transport.json_depth(found) == transport.MAX_JSON_DEPTH
    else:
        assert found == parsed


def test_header_values_are_recorded_as_short_clean_lines() -> None:
    server = Server([httpx.Response(302, headers=[
        (b"Location", ("https://x.example/\u202etxt.exe?" + "q" * 1000).encode()),
        (b"Content-Type", "text/html\u2066".encode()), (b"Retry-After", "5\u200b".encode())])])
    found = exchange(server, get())
    assert found.location == "https://x.example/txt.exe?" + "q" * 271 + "..."
    assert (found.content_type, found.retry_after) == ("text/html", "5")


def test_a_failure_detail_is_a_short_clean_line() -> None:
    found = classify(httpx.RemoteProtocolError("bad\x1b[2K\r\nheader " + "h" * 1000))
    assert found.kind == "protocol"
    assert found.detail == "bad header " + "h" * 286 + "..."


# --- loopback http is never proxied ---------------------------------------------------------


def test_plain_http_loopback_targets_get_a_direct_route() -> None:
    settings = transport.trust_settings(None, None, None, {})
    routes = transport.direct_routes(["http://127.0.0.1:8080/oauth/token",
                                      "http://localhost/x", "http://[::1]:9/y",
                                      "https://127.0.0.1/z", "http://tenant.example/"],
                                     settings)
    assert sorted(routes) == ["http://127.0.0.1", "http://[::1]", "http://localhost"]


def test_the_probe_client_routes_loopback_http_past_a_proxy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    guard = ReadOnlyGuard("http://127.0.0.1:8080/oauth/token")
    client = transport.build_client(transport.trust_settings(None, None, None, {}), guard, 1, 2,
                                    targets=["http://127.0.0.1:8080/oauth/token"])
    try:
        direct = client._transport_for_url(httpx.URL("http://127.0.0.1:8080/oauth/token"))
        proxied = client._transport_for_url(httpx.URL("http://other.example/"))
        assert direct is not proxied
        assert direct is not client._transport
        assert getattr(direct._pool, "_proxy_url", None) is None
        assert proxied._pool._proxy_url.host == b"proxy.example"  # type: ignore[attr-defined]
    finally:
        asyncio.run(client.aclose())


def test_ca_files_are_read_bounded_and_keep_only_their_certificates(tmp_path: Path) -> None:
    import certifi

    from cpi_preflight.files import MIB

    bundle = tmp_path / "ca.pem"
    bundle.write_bytes("# Főtanúsítvány (a comment in UTF-8)\n".encode()
                       + Path(certifi.where()).read_bytes())
    settings = transport.trust_settings(bundle, None, None, {})
    assert transport.ssl_context(settings).cert_store_stats()["x509_ca"] > 100
    (tmp_path / "empty.pem").write_text("no certificate here\n")
    with pytest.raises(OSError, match="holds no PEM certificate"):
        transport._pem_certificates(tmp_path / "empty.pem")
    huge = tmp_path / "huge.pem"
    with huge.open("wb") as handle:
        handle.truncate(17 * MIB)
    with pytest.raises(OSError, match=r"more than the 16\.0 MiB"):
        transport._pem_certificates(huge)


def test_a_request_built_beforehand_carries_the_client_s_own_headers() -> None:
    """`client.send` does not merge the client's headers into a request built beforehand, so
    the probe's requests went out without `User-Agent: cpi-preflight` (exchanges.har showed it);
    a header the request sets itself still wins."""
    seen: list[httpx.Headers] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, json={})

    async def go() -> None:
        client = httpx.AsyncClient(transport=httpx.MockTransport(server), headers={
            "User-Agent": "cpi-preflight", "Accept": "application/json"})
        async with client:
            request = httpx.Request("GET", "https://h.example/api/v1/X",
                                    headers={"Accept": "text/plain"})
            await transport._send_once(client, request)

    asyncio.run(go())
    assert seen[0]["user-agent"] == "cpi-preflight"
    assert seen[0]["accept"] == "text/plain"


# --- what the mutation pass showed untested (issue 20) -------------------------------------


@pytest.mark.parametrize(("error", "kind"), [
    (httpx.ConnectError("certificate has expired"), "tls"),
    (httpx.ConnectError("unexpected eof while reading (_ssl.c:1006)"), "tls"),
    (httpx.ConnectError("tlsv1 alert protocol version"), "tls"),
    (httpx.ConnectError("nodename nor servname provided, or not known"), "dns"),
    (httpx.ConnectError("[Errno 11001] getaddrinfo failed"), "dns"),
    (httpx.ConnectError("[Errno -5] No address associated with hostname"), "dns"),
    (httpx.WriteError("[Errno 32] Broken pipe"), "reset"),
])
def test_classify_reads_each_word_of_a_failure_alone(error: Exception, kind: str) -> None:
    """Each word that names a kind is enough by itself (macOS and Windows word DNS failures
    their own way)."""
    assert classify(error) == Failure(kind, str(error))


@pytest.mark.parametrize(("no_proxy", "url", "proxied"), [
    ("https://[::1]", "https://[::1]:8443/api", False),
    ("http://tenant.example.com", "http://tenant.example.com/api", False),
    ("tenant.example.com/", "https://tenant.example.com/api", False),
    ("tenant.example.com/api/v1", "https://tenant.example.com/api", False),
    ("http://tenant.example.com://other.example", "https://other.example/", True),
    ("localhost", "https://localhost:8443/", False),
    ("localhost", "https://api.localhost/", True),
    ("10.0.0.1", "https://10.0.0.1/", False),
    ("10.0.0.1", "https://cpi.10.0.0.1/", True),
    ("example.com", "https://tenant.example.com/", False),
    # an entry with a scheme names that scheme and that host alone, and a port that port only
    ("http://tenant.example.com", "https://tenant.example.com/api", True),
    ("http://example.com", "http://sub.example.com/", True),
    ("all://tenant.example.com", "https://tenant.example.com/", False),
    ("https://tenant.example.com:8443", "https://tenant.example.com/api", True),
    ("https://tenant.example.com:8443", "https://tenant.example.com:8443/api", False),
    ("tenant.example.com:8443", "https://tenant.example.com/", True),
    ("tenant.example.com:8443", "https://tenant.example.com:8443/", False),
    (".example.com", "https://example.com/", True),
    (".example.com", "https://tenant.example.com/", False),
    ("example.com", "https://badexample.com/", True),
    ("::1", "https://[::1]:8443/", False),
    ("10.0.0.0/8", "https://10.0.0.0/", False),
    ("10.0.0.0/8", "https://10.1.2.3/", True),
    ("10.0.0.0/8", "https://cpi.10.0.0.0/", True),
    ("10.0.0.1/x:y", "https://10.0.0.1/", False),
    ("https://", "https://tenant.example.com/", False),
    ("http://", "https://tenant.example.com/", True),
    ("all://*", "https://tenant.example.com/", True),
    ("all://", "https://tenant.example.com/", True),
    ("HTTPS://", "https://tenant.example.com/", True),
    ("LOCALHOST", "https://localhost:8443/", False),
    ("all://*:8443", "https://tenant.example.com:8443/", False),
    ("all://*:8443", "https://tenant.example.com/", True),
    (".example.com", "https://a-much-longer-host-name.org/", True),
    (".example.com", "https://badexample.com/", True),
    (".example.com", "https://a.example.com/", False),
])
def test_no_proxy_entries_are_read_as_httpx_reads_them(
        monkeypatch: pytest.MonkeyPatch, no_proxy: str, url: str, proxied: bool) -> None:
    """`proxy_for` says what httpx does: the same client, built from the same variables,
    takes the proxy for exactly these URLs."""
    _clear_proxy_variables(monkeypatch)
    environ = {"HTTPS_PROXY": "http://proxy.example:3128",
               "HTTP_PROXY": "http://proxy.example:3128", "NO_PROXY": no_proxy}
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    variable = f"{url.split(':')[0].upper()}_PROXY"
    assert transport.proxy_for(url, environ) == (
        f"{variable}=http://proxy.example:3128" if proxied else "")
    with httpx.Client(trust_env=True) as client:
        used = client._transport_for_url(httpx.URL(url))
        assert (used is not client._transport) is proxied


def test_a_phase_keeps_its_first_start_and_its_last_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpcore names events `<layer>.<phase>.<started|complete>`; a proxy's CONNECT and the
    tunnel's TLS each start a phase again, which must not move its start."""
    clock = PhaseClock()
    ticks = iter([2.0, 3.0, 4.0])
    monkeypatch.setattr(transport.time, "monotonic", lambda: next(ticks))
    for name in ("connection.connect_tcp.started", "connection.connect_tcp.started",
                 "connection.connect_tcp.complete"):
        with pytest.raises(StopIteration):  # the coroutine awaits nothing: one step ends it
            clock.trace(name, {}).send(None)
    assert clock.marks == {"connect_tcp.started": 2.0, "connect_tcp.complete": 4.0}


@pytest.mark.parametrize(("name", "value", "shown"), [
    ("Cookie", "JSESSIONID=a=b=c; x = 1", f"JSESSIONID={MASK}; x={MASK}"),
    ("cookie", "a=1;b=2", f"a={MASK}; b={MASK}"),
    ("Set-Cookie", "SESSION=dGVzdA==; Path=/", f"SESSION={MASK}; Path=/"),
    ("set-cookie", "S=abc; Path=/; Secure", f"S={MASK}; Path=/; Secure"),
    ("Authorization", "Bearer eyJ.x.y", f"Bearer {MASK}"),
    ("PROXY-AUTHORIZATION", "Digest username=u, realm=r", f"Digest {MASK}"),
    ("authorization", "just-a-token", MASK),
    ("Authorization", "Bearer: odd", MASK),
    ("Accept", "a=1; b=2", "a=1; b=2"),
])
def test_a_header_keeps_only_what_is_no_credential(name: str, value: str, shown: str) -> None:
    assert shown_header(name, value) == shown


@dataclass
class _PeerTls:
    cert: dict[str, object]

    def getpeercert(self) -> dict[str, object]:
        return self.cert


@dataclass
class _Stream:
    tls: _PeerTls

    address: object = ("10.1.2.3", 443)

    def get_extra_info(self, name: str) -> object:
        return {"ssl_object": self.tls, "server_addr": self.address}.get(name)


def _with_certificate(cert: dict[str, object]) -> httpx.Response:
    return httpx.Response(200, request=get("https://tenant.example.com:8443/api/v1/X"),
                          extensions={"network_stream": _Stream(_PeerTls(cert))})


def test_the_server_certificate_is_recorded_with_its_names() -> None:
    found = transport._peer_certificate(_with_certificate({
        "notAfter": "Jun  1 12:00:00 2027 GMT",
        "subject": ((("commonName", "*.example.com"),),),
        "issuer": ((("countryName", "US"),), (("organizationName", "DigiCert Inc"),),
                   (("commonName", "DigiCert CA"),))}))
    assert found == TlsCertificate(
        host="tenant.example.com:8443", subject="commonName=*.example.com",
        issuer="countryName=US, organizationName=DigiCert Inc, commonName=DigiCert CA",
        not_after="2027-06-01T12:00:00+00:00")
    bare = transport._peer_certificate(_with_certificate({"notAfter": "Jun  1 12:00:00 2027 GMT"}))
    assert bare is not None
    assert (bare.subject, bare.issuer) == ("", "")


def test_no_peer_certificate_without_tls() -> None:
    assert transport._peer_certificate(_with_certificate({})) is None
    assert transport._peer_certificate(httpx.Response(200, request=get())) is None


def test_the_sync_hook_lets_the_token_post_through_and_names_a_refused_url() -> None:
    guard = ReadOnlyGuard(TOKEN_URL)
    with httpx.Client(transport=httpx.MockTransport(Server([httpx.Response(200)])),
                      event_hooks={"request": [guard.sync_hook]}) as client:
        assert client.post(TOKEN_URL).status_code == 200
        with pytest.raises(ReadOnlyViolationError) as caught:
            client.delete(MPL + "?$top=1")
    assert str(caught.value) == refusal("DELETE", MPL)


@pytest.mark.parametrize(("url", "shown"), [
    (f"{API_ROOT}/IntegrationPackages/", f"{API_ROOT}/IntegrationPackages"),
    (f"{API_ROOT}/IntegrationPackages?$filter=a?b", f"{API_ROOT}/IntegrationPackages"),
    (f"{API_ROOT}/BOX", f"{API_ROOT}/BOX"),
])
def test_a_refused_url_is_shown_without_its_query_and_end_slash(url: str, shown: str) -> None:
    with pytest.raises(ReadOnlyViolationError) as caught:
        ReadOnlyGuard(TOKEN_URL).check("POST", url)
    assert str(caught.value) == refusal("POST", shown)


def test_the_backoff_jitter_spans_the_upper_half(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport.random, "uniform", lambda low, high: high)
    assert RetryPolicy(base_delay=0.2, max_delay=2.0).delay(1, "") == pytest.approx(0.4)
    monkeypatch.setattr(transport.random, "uniform", lambda low, high: low)
    assert RetryPolicy(base_delay=0.2, max_delay=2.0).delay(1, "") == pytest.approx(0.2)


@pytest.mark.parametrize(("environ", "expected"), [
    ({"NO_PROXY": "localhost,user@corp.example"}, "NO_PROXY=localhost,user@corp.example"),
    ({"HTTPS_PROXY": "http://proxy:3128/" + "p" * 1990},
     "HTTPS_PROXY=http://proxy:3128/" + "p" * 1979 + "..."),
])
def test_proxy_setting_shows_no_proxy_as_given_and_cuts_at_2000(environ: dict[str, str],
                                                                 expected: str) -> None:
    """NO_PROXY holds host names, no credentials: masking it would hide the hosts."""
    shown = transport.proxy_setting(environ)
    assert shown == expected


@pytest.mark.parametrize(("environ", "problem"), [
    ({"HTTP_PROXY": "ftp://proxy:21"}, "the scheme must be http:// or https://"),
    ({"ALL_PROXY": "socks5h://127.0.0.1:1080"},
     "SOCKS proxies need the socksio package (pip install 'httpx[socks]')"),
    ({"HTTPS_PROXY": "http://u:p@ss/word@proxy:3128"},
     "the URL has a path, so part of it would be taken for the host; percent-encode '/' and "
     "'@' in the user name and password (%2F, %40)"),
    ({"HTTPS_PROXY": "http://xn--zz.example:3128"}, "Invalid A-label"),
])
def test_each_proxy_variable_is_checked(environ: dict[str, str], problem: str) -> None:
    [(name, value)] = environ.items()
    with pytest.raises(ConfigError) as caught:
        transport.check_proxy_variables(environ)
    assert str(caught.value) == (f"{name}: {problem}; fix or unset {name} "
                                 f"(it is {transport.mask_userinfo(value)})")


@pytest.mark.parametrize("environ", [
    {"HTTPS_PROXY": "http://u:pw@proxy:3128/"}, {"HTTPS_PROXY": "http://Xuser:pw@proxy:3128"},
    {"NO_PROXY": "localhost:abc"},  # NO_PROXY is not a proxy URL: check_client_environment
])
def test_proxy_urls_that_httpx_reads_pass(environ: dict[str, str]) -> None:
    transport.check_proxy_variables(environ)


def test_a_socks_proxy_is_judged_whatever_ssl_cert_file_says(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only the proxy is built to see whether httpx takes it; no CA file is read for that."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match="SOCKS proxies need the socksio package"):
        transport.check_proxy_variables({"HTTPS_PROXY": "socks5://127.0.0.1:1080"})


def test_an_error_without_words_is_named_by_its_type(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreadable(url: str) -> httpx.URL:
        raise httpx.InvalidURL("")

    monkeypatch.setattr(transport, "_read_url", unreadable)
    assert transport._proxy_problem("http://proxy:3128") == "InvalidURL"


@pytest.mark.parametrize(("fed", "full"), [(9, False), (10, True)])
def test_a_layer_is_full_once_its_room_is_used(fed: int, full: bool) -> None:
    layer = transport._Layer("gzip", 10)
    assert layer.feed(layered(b"a" * fed, "gzip")) == b"a" * fed
    assert layer.full is full


def test_a_full_layer_takes_nothing_more() -> None:
    layer = transport._Layer("deflate", 10)
    packer = zlib.compressobj(9, zlib.DEFLATED, 15)
    data = packer.compress(b"b" * 100) + packer.flush()
    assert layer.feed(data[:-4]) == b"b" * 10
    assert layer.feed(data[-4:]) == b""


def test_a_deflate_body_broken_after_its_first_chunk_is_a_decoding_error() -> None:
    """Only a first chunk may turn out to be deflate without a zlib header."""
    data = layered(b"payload", "deflate")
    layer = transport._Layer("deflate", 1000)
    assert layer.feed(data[:-4]) == b"payload"
    with pytest.raises(httpx.DecodingError, match=r"^the deflate body cannot be decoded: "):
        layer.feed(b"\x03\x00\x00\x00")  # a wrong checksum, yet a whole raw deflate stream


def _one_answer_server() -> tuple[socket.socket, list[bytes], threading.Thread]:
    """A loopback HTTP server that keeps the head of one request and answers 204."""
    listener = socket.create_server(("127.0.0.1", 0))
    heads: list[bytes] = []

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = connection.recv(4096)
                if not chunk:
                    return
                head += chunk
            heads.append(head.split(b"\r\n\r\n")[0])
            connection.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, heads, thread


def test_the_api_client_sends_its_headers_straight_to_a_loopback_api(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain-http loopback API is reached directly even when HTTP_PROXY names a proxy (a
    closed port here), and the request carries the client's headers as written."""
    _clear_proxy_variables(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    listener, heads, thread = _one_answer_server()
    base = f"http://127.0.0.1:{listener.getsockname()[1]}/api/v1"
    settings = transport.trust_settings(None, None, None, {})
    try:
        with transport.build_api_client(settings, ReadOnlyGuard(base + "/token"), base, "tok",
                                        1, 2) as client:
            assert client.get("/IntegrationPackages").status_code == 204
    finally:
        if thread.is_alive():  # nothing came: wake the server so that it ends at once
            socket.create_connection(listener.getsockname(), timeout=1).close()
        thread.join(timeout=5)
        listener.close()
    lines = heads[0].decode().split("\r\n")
    assert lines[0] == "GET /api/v1/IntegrationPackages HTTP/1.1"
    assert {"User-Agent: cpi-preflight", "Accept: application/json",
            "Authorization: Bearer tok"} <= set(lines[1:])


def test_the_api_client_trusts_the_profile_and_takes_the_proxy_for_the_tenant(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_proxy_variables(monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    settings = transport.trust_settings(None, None, None, {})
    with transport.build_api_client(settings, ReadOnlyGuard(TOKEN_URL), API_ROOT, "tok",
                                    1, 2) as client:
        assert client.timeout == httpx.Timeout(2, connect=1)
        assert client.follow_redirects is False
        assert client._transport._pool._ssl_context is transport.ssl_context(settings)  # type: ignore[attr-defined]
        proxied = client._transport_for_url(httpx.URL(API_ROOT))
        assert proxied._pool._proxy_url.host == b"proxy.example"  # type: ignore[attr-defined]


def test_the_server_address_is_the_one_connected_to() -> None:
    response = _with_certificate({})
    assert transport._server_ip(response) == "10.1.2.3"
    response.extensions["network_stream"].address = "/run/proxy.sock"  # a Unix socket
    assert transport._server_ip(response) == ""
    assert transport._server_ip(httpx.Response(200, request=get())) == ""


@pytest.mark.parametrize("url", [
    "https://sub.authentication.example.com:8443/oauth/token",
    "https://sub.authentication.example.com/oauth/tokenX",
    "https://sub.authentication.example.com:abc/oauth/token",
])
def test_a_post_to_another_endpoint_of_the_token_host_is_refused(url: str) -> None:
    with pytest.raises(ReadOnlyViolationError) as caught:
        ReadOnlyGuard(TOKEN_URL).check("POST", url)
    assert str(caught.value) == refusal("POST", url)


def test_ports_and_host_names_are_compared_as_written() -> None:
    with pytest.raises(ReadOnlyViolationError):
        ReadOnlyGuard("https://h.example:8443/oauth/token").check(
            "POST", "https://h.example:9443/oauth/token")
    with pytest.raises(ReadOnlyViolationError):  # ß is no ss in a host name (IDNA 2008)
        ReadOnlyGuard("https://straße.example/oauth/token").check(
            "POST", "https://strasse.example/oauth/token")
    ReadOnlyGuard("https://straße.example/oauth/token").check(
        "POST", "https://xn--strae-oqa.example/oauth/token")


def _timings(marks: dict[str, float], headers_at: float, ended: float) -> Timings:
    clock = PhaseClock()
    clock.began = 0.0
    clock.marks.update(marks)
    return clock.timings(headers_at, ended)


def test_timings_of_a_new_tls_connection() -> None:
    assert _timings({"connect_tcp.started": 0.001, "connect_tcp.complete": 0.004,
                     "start_tls.started": 0.004, "start_tls.complete": 0.010,
                     "send_request_headers.started": 0.011, "send_request_body.complete": 0.012,
                     "receive_response_headers.complete": 0.028}, 0.030, 0.035) == Timings(
        blocked=1.0, connect=9.0, ssl=6.0, send=2.0, wait=16.0, receive=7.0)


def test_timings_of_a_new_plain_connection() -> None:
    assert _timings({"connect_tcp.started": 0.002, "connect_tcp.complete": 0.005,
                     "send_request_headers.started": 0.006, "send_request_body.complete": 0.008,
                     "receive_response_headers.complete": 0.020}, 0.020, 0.021) == Timings(
        blocked=2.0, connect=3.0, ssl=-1.0, send=3.0, wait=12.0, receive=1.0)


def test_timings_without_events_count_all_as_waiting() -> None:
    assert _timings({}, 0.020, 0.025) == Timings(wait=20.0, receive=5.0)


def test_an_answer_is_read_to_its_end_chunk_by_chunk() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"abc", b"def", b"ghi"):
            yield part

    found = asyncio.run(transport._read_bounded(httpx.Response(200, content=chunks())))
    assert (found.body, found.received, found.truncated) == (b"abcdefghi", 9, False)


@pytest.mark.parametrize(("content_type", "parsed"), [
    ("application/json", 42), ("application/problem+json", 42), ("text/plain", None)])
def test_a_json_content_type_is_parsed_whatever_the_body_starts_with(
        content_type: str, parsed: object) -> None:
    found = exchange(Server([httpx.Response(200, content=b"42",
                                            headers={"Content-Type": content_type})]), get())
    assert found.json == parsed


def test_json_depth_counts_lists_and_objects_only() -> None:
    deep = "[" * 70 + "]" * 70
    assert (transport.json_depth(5), transport.json_depth([]), transport.json_depth({"a": [1]})
            ) == (0, 1, 2)
    assert transport.parse_json(f"[{deep}, 1]") is None


def test_timings_of_a_reused_connection_have_no_connect() -> None:
    assert _timings({"send_request_headers.started": 0.002, "send_request_body.complete": 0.003,
                     "receive_response_headers.complete": 0.010}, 0.010, 0.011) == Timings(
        blocked=2.0, connect=-1.0, ssl=-1.0, send=1.0, wait=7.0, receive=1.0)


def test_milliseconds_keep_three_decimals_and_never_run_backwards() -> None:
    assert transport._ms(0.0, 0.0012345) == 1.234
    assert transport._ms(2.0, 1.0) == 0.0
    assert transport._ms(5.0, 7.5) == 2500.0


def test_every_attempt_keeps_what_went_over_the_wire() -> None:
    found = exchange(Server([httpx.Response(200, json={})]), get(), attempts=1)
    wire = found.attempts[0].wire
    assert wire is not None
    assert wire.http_version == "HTTP/1.1"
    assert found.protocol == "HTTP/1.1"


@pytest.mark.parametrize("answer", [httpx.Response(200, json={}),
                                    httpx.ConnectError("[Errno 111] Connection refused")])
def test_an_exchange_keeps_its_clock(answer: httpx.Response | Exception) -> None:
    found = exchange(Server([answer]), get(), attempts=1)
    assert found.elapsed_ms == found.attempts[-1].elapsed_ms > 0
    assert 0 < found.started <= found.finished


def test_the_router_headers_are_kept_short_and_absent_ones_empty() -> None:
    found = exchange(Server([httpx.Response(200, json={})]), get(), attempts=1)
    assert (found.retry_after, found.router_error, found.location) == ("", "", "")
    long = "x" * 100
    found = exchange(Server([httpx.Response(404, headers={
        "Retry-After": long, "X-Cf-Routererror": long})]), get(), attempts=1)
    assert found.retry_after == found.router_error == "x" * 57 + "..."


def test_the_probe_client_sends_its_headers_straight_to_a_loopback_target(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_proxy_variables(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    listener, heads, thread = _one_answer_server()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/api/v1/X"
    settings = transport.trust_settings(None, None, None, {})

    async def go() -> int:
        async with transport.build_client(settings, ReadOnlyGuard(url), 1, 2, [url]) as client:
            return (await client.get(url)).status_code

    try:
        assert asyncio.run(go()) == 204
    finally:
        if thread.is_alive():
            socket.create_connection(listener.getsockname(), timeout=1).close()
        thread.join(timeout=5)
        listener.close()
    lines = heads[0].decode().split("\r\n")
    assert sorted(lines[1:]) == sorted([
        f"Host: {url.split('/')[2]}", "Accept: */*", "Accept-Encoding: gzip, deflate",
        "Connection: keep-alive", "User-Agent: cpi-preflight"])


@pytest.mark.parametrize("http2", [False, True])
def test_the_probe_client_offers_http2_only_when_asked(http2: bool) -> None:
    settings = transport.trust_settings(None, None, None, {})
    client = (transport.build_client(settings, ReadOnlyGuard(TOKEN_URL), 1, 2, http2=True)
              if http2 else transport.build_client(settings, ReadOnlyGuard(TOKEN_URL), 1, 2))
    try:
        pool = client._transport._pool  # type: ignore[attr-defined]
        assert pool._http2 is http2
        assert pool._ssl_context is transport.ssl_context(settings, http2)
    finally:
        asyncio.run(client.aclose())


def test_proxy_for_an_unreadable_url_is_empty_and_a_long_proxy_is_cut() -> None:
    environ = {"HTTPS_PROXY": "http://proxy:3128/" + "p" * 1990}
    assert transport.proxy_for("https://xn--zz.example/", environ) == ""  # no IDNA name
    assert transport.proxy_for("https://tenant.example.com/", environ) == (
        "HTTPS_PROXY=http://proxy:3128/" + "p" * 1979 + "...")


def test_a_client_certificate_needs_its_key_too() -> None:
    assert transport.trust_settings(None, Path("c.pem"), None, {}).client_cert is None
    assert transport.trust_settings(None, None, Path("k.pem"), {}).client_cert is None
    assert transport.trust_settings(None, Path("c.pem"), Path("k.pem"), {}).client_cert == (
        "c.pem", "k.pem")


def test_a_body_stops_at_its_cap_across_chunks() -> None:
    body = transport.BoundedBody("", limit=10)
    assert body.feed(b"a" * 6) is True
    assert body.feed(b"b" * 6) is False
    assert (body.body, body.decoded, body.truncated) == (b"aaaaaabbbb", 10, True)
    exact = transport.BoundedBody("", limit=10)
    assert exact.feed(b"c" * 10) is False  # the cap is reached: nothing more is read
    raw = transport.BoundedBody("", limit=100, raw_limit=10)
    assert raw.feed(b"d" * 10) is False
    assert raw.truncated is True


def test_a_full_outer_layer_marks_the_body_cut() -> None:
    """gzip over gzip of random bytes: the outer layer fills its room with inner gzip that
    decodes to less than the cap; the body is cut all the same."""
    data = layered(random.Random(7).randbytes(5000), "gzip", "gzip")
    body = transport.BoundedBody("gzip, gzip", limit=1000)
    assert body.feed(data) is False
    assert body.truncated is True
    assert body.decoded < 1000


def test_a_failed_attempt_keeps_the_size_of_what_it_sent() -> None:
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    posted = exchange(Server([refused]), httpx.Request("POST", TOKEN_URL, content=b"grant=x&y"),
                      attempts=1)
    got = exchange(Server([refused]), get(), attempts=1)
    sizes = [found.attempts[0].wire.request_body_size  # type: ignore[union-attr]
             for found in (posted, got)]
    assert sizes == [9, 0]


# --- mutation: transport, the rest ---------------------------------------------------------


class _Clock:
    """`time` for transport and connections: stands still until the test moves it on."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_800_000_000.0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    frozen = _Clock()
    monkeypatch.setattr(transport, "time", frozen)
    monkeypatch.setattr(connections, "time", frozen)
    return frozen


class _Body(httpx.AsyncByteStream):
    """An answer's body that takes half a second a chunk to arrive."""

    def __init__(self, clock: _Clock, *chunks: bytes) -> None:
        self.clock, self.chunks = clock, chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.clock.now += 0.5
            yield chunk


@dataclass
class _Traced(httpx.AsyncBaseTransport):
    """A server behind httpcore's trace events: per request, the events named, then a quarter
    of a second (on `clock`, when given), then the next answer (or exception)."""

    answers: list[httpx.Response | Exception]
    events: tuple[str, ...] = ()
    clock: _Clock | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        trace = request.extensions.get("trace")
        for name in self.events:
            if trace is not None:
                await trace(name, {})
        if self.clock is not None:
            self.clock.now += 0.25
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


async def _through(clients: Clients, *requests: httpx.Request, attempts: int = 1,
                   deadline: float = 60.0) -> list[Exchange]:
    sender = Sender(clients, Limits(), RetryPolicy(attempts=attempts, base_delay=0.001),
                    deadline)
    try:
        return [await sender.exchange(request) for request in requests]
    finally:
        await clients.aclose()


def _clients(server: httpx.AsyncBaseTransport, *, http2: bool = False) -> Clients:
    client = httpx.AsyncClient(transport=server)
    return Clients(lambda _: client, http2=http2, per_host=10)


def test_a_tls_host_is_learned_from_its_handshake_and_a_plain_host_from_its_connect() -> None:
    """A TCP connection to an https host says nothing yet of its protocol or its handshake's
    cost (TLS and ALPN tell); to an http host it says both: HTTP/1.1, and the time it took."""
    server = _Traced([httpx.Response(200)], ("connection.connect_tcp.started",
                                             "connection.connect_tcp.complete"))
    clients = _clients(server, http2=True)
    asyncio.run(_through(clients, get("https://tls.example.com/api"),
                         get("http://plain.example.com/api")))
    tls, plain = (clients.route(host)[1] for host in ("tls.example.com", "plain.example.com"))
    assert (tls.protocol, tls.handshake.value, tls.connections) == (None, None, 1)
    assert (plain.protocol, plain.connections) == ("HTTP/1.1", 1)
    assert plain.handshake.value is not None


def test_the_server_certificate_is_read_once_per_host(clock: _Clock) -> None:
    cert: dict[str, object] = {"notAfter": "Jun  1 12:00:00 2027 GMT",
                               "subject": ((("commonName", "tenant.example.com"),),)}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, extensions={"network_stream": _Stream(_PeerTls(cert))})

    clients = _clients(httpx.MockTransport(answer))
    first, second = asyncio.run(_through(clients, get(), get(MPL)))
    expected = TlsCertificate(host="tenant.example.com", subject="commonName=tenant.example.com",
                              issuer="", not_after="2027-06-01T12:00:00+00:00")
    assert [found.attempts[0].wire.certificate  # type: ignore[union-attr]
            for found in (first, second)] == [expected, None]


def test_send_once_reads_the_certificate_unless_told_not_to() -> None:
    cert: dict[str, object] = {"notAfter": "Jun  1 12:00:00 2027 GMT"}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, extensions={"network_stream": _Stream(_PeerTls(cert))})

    async def go() -> list[TlsCertificate | None]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            read = await transport._send_once(client, get())
            unread = await transport._send_once(client, get(), certificate=False)
        return [read.certificate, unread.certificate]

    assert asyncio.run(go()) == [TlsCertificate(
        host="tenant.example.com", subject="", issuer="",
        not_after="2027-06-01T12:00:00+00:00"), None]


def test_an_answer_s_time_is_its_wait_and_its_body(clock: _Clock) -> None:
    """A quarter second to the headers, two chunks of half a second each: the attempt took
    1250 ms, 250 of them waiting and 1000 receiving."""
    server = _Traced([httpx.Response(200, stream=_Body(clock, b'{"d":', b"1}"))], clock=clock)
    (found,) = asyncio.run(_through(_clients(server), get()))
    wire = found.attempts[0].wire
    assert wire is not None
    assert (found.attempts[0].elapsed_ms, wire.timings) == (
        1250.0, Timings(wait=250.0, receive=1000.0))
    assert found.json == {"d": 1}


def test_a_failed_attempt_s_time_is_all_waiting(clock: _Clock) -> None:
    server = _Traced([httpx.ConnectError("[Errno 111] Connection refused")], clock=clock)
    (found,) = asyncio.run(_through(_clients(server), get()))
    wire = found.attempts[0].wire
    assert wire is not None
    assert (found.attempts[0].elapsed_ms, wire.timings) == (250.0, Timings(wait=250.0))


def test_a_refused_write_took_no_time() -> None:
    found = exchange(Server([httpx.Response(200)]),
                     httpx.Request("DELETE", f"{API_ROOT}/IntegrationPackages('x')"),
                     guard=ReadOnlyGuard(TOKEN_URL))
    assert [(a.status, a.elapsed_ms, a.wire) for a in found.attempts] == [(None, 0.0, None)]


def test_a_request_that_failed_after_it_went_out_counts_its_round_trip(clock: _Clock) -> None:
    server = _Traced([httpx.ReadTimeout("timed out")], ("http11.send_request_headers.started",),
                     clock=clock)
    clients = _clients(server)
    (found,) = asyncio.run(_through(clients, get()))
    assert statuses(found) == ["timeout"]
    assert clients.route("tenant.example.com")[1].round_trip.value == 0.25


def test_a_host_that_breaks_under_http2_is_tried_again_over_http11_at_once() -> None:
    """Not counted among the attempts: one attempt allowed, two tries made."""
    broken = _Traced([httpx.RemoteProtocolError("Server disconnected")],
                     ("http2.send_request_headers.started",))
    plain = _Traced([httpx.Response(200, json={"d": 1})])
    made = {True: httpx.AsyncClient(transport=broken), False: httpx.AsyncClient(transport=plain)}
    clients = Clients(made.__getitem__, http2=True, per_host=10)
    (found,) = asyncio.run(_through(clients, get(), attempts=1))
    assert statuses(found) == ["reset", 200]
    assert (found.status, found.json) == (200, {"d": 1})


def test_a_retry_goes_out_while_the_deadline_is_only_reached(sleeps: Sleeps,
                                                                clock: _Clock) -> None:
    """The deadline passed stops retries; reached to the moment, it does not yet."""
    server = _Traced([httpx.Response(503), httpx.Response(200)], clock=clock)
    (found,) = asyncio.run(_through(_clients(server), get(), attempts=3, deadline=0.25))
    assert statuses(found) == [503, 200]
    late = _Traced([httpx.Response(503), httpx.Response(200)], clock=clock)
    (stopped,) = asyncio.run(_through(_clients(late), get(), attempts=3, deadline=0.24))
    assert statuses(stopped) == [503]


W = WIRE_TEXT


@pytest.mark.parametrize(("body", "truncated", "cut"), [
    (b"a" * W, False, False),  # exactly the text kept
    (b"a" * (W + 1), False, True),  # one character more
    ("\U0001F600".encode() * W, False, False),  # W characters in 4 W bytes
    ("\U0001F600".encode() * W + b"a", False, True),  # one byte past 4 W
    (b"short", True, True),  # cut at the body's cap
])
def test_the_wire_text_is_cut_where_the_body_went_on(body: bytes, truncated: bool,
                                                     cut: bool) -> None:
    answer = transport._Answer(200, httpx.Headers(), body, None, truncated=truncated)
    wire = transport._wire(get(), PhaseClock(), answer)
    assert (wire.text, wire.text_cut) == (body.decode()[:W], cut)


# --- mutation: the NO_PROXY reading and the client check of session 5 ---


def test_an_entry_httpx_cannot_read_names_nothing() -> None:
    environ = {"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": "[::1],other.example"}
    assert transport.proxy_for("https://tenant.example.com/", environ) == (
        "HTTPS_PROXY=http://proxy.example:3128")


def test_plain_http_to_localhost_goes_direct_whatever_the_proxy() -> None:
    environ = {"HTTP_PROXY": "http://proxy.example:3128"}
    assert transport.proxy_for("http://localhost:8443/api", environ) == ""
    assert transport.proxy_for("http://tenant.example.com/api", environ) == (
        "HTTP_PROXY=http://proxy.example:3128")


def test_the_client_check_does_not_read_the_ca_files(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    """Only the proxy variables are checked here; SSL_CERT_FILE has its own check, which
    names the variable (files.check_ssl_cert_file), after this one."""
    _clear_proxy_variables(monkeypatch)
    monkeypatch.setenv("NO_PROXY", "localhost")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    transport.check_client_environment()


@pytest.mark.parametrize(("no_proxy", "proxied"), [
    ("all://", False), ("https://", False), ("all://*", True), ("http://", True),
    ("tenant.example.com", False),
])
def test_no_proxy_entries_rank_against_all_proxy_as_httpx_ranks_them(
        monkeypatch: pytest.MonkeyPatch, no_proxy: str, proxied: bool) -> None:
    _clear_proxy_variables(monkeypatch)
    environ = {"ALL_PROXY": "http://proxy.example:3128", "NO_PROXY": no_proxy}
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    url = "https://tenant.example.com/api"
    assert transport.proxy_for(url, environ) == (
        "ALL_PROXY=http://proxy.example:3128" if proxied else "")
    with httpx.Client(trust_env=True) as client:
        used = client._transport_for_url(httpx.URL(url))
        assert (used is not client._transport) is proxied
