"""transport: the read-only guard, retry policy, failure classification, recording."""

from __future__ import annotations

import asyncio
import socket
import ssl

import httpx
import pytest
import respx

from cpi_preflight.errors import ReadOnlyViolationError
from cpi_preflight.transport import (
    MAX_BODY,
    Limits,
    ReadOnlyGuard,
    RetryPolicy,
    Sender,
    _retry_after_seconds,
    classify,
    proxy_setting,
)

TOKEN_URL = "https://sub.authentication.eu10.hana.ondemand.com/oauth/token"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_reads_go_anywhere(method: str) -> None:
    ReadOnlyGuard(TOKEN_URL).check(method, "https://tenant.example.com/api/v1/X")


def test_the_token_post_is_allowed_with_or_without_query() -> None:
    guard = ReadOnlyGuard(TOKEN_URL)
    guard.check("POST", TOKEN_URL)
    guard.check("POST", TOKEN_URL + "?grant_type=client_credentials")


@pytest.mark.parametrize(("method", "url"), [
    ("POST", "https://tenant.example.com/api/v1/IntegrationPackages"),
    ("PUT", "https://tenant.example.com/api/v1/NumberRanges('x')"),
    ("DELETE", "https://tenant.example.com/api/v1/MessageProcessingLogs('x')"),
    ("PATCH", TOKEN_URL),
    ("DELETE", TOKEN_URL),
])
def test_everything_else_is_refused(method: str, url: str) -> None:
    with pytest.raises(ReadOnlyViolationError) as refused:
        ReadOnlyGuard(TOKEN_URL).check(method, url)
    assert str(refused.value) == (
        f"refused {method} {url.split('?')[0]}: cpi-preflight only reads from the tenant "
        f"(GET/HEAD), and only POSTs to the token URL {TOKEN_URL}")


def test_the_guard_sits_in_the_client_itself() -> None:
    guard = ReadOnlyGuard(TOKEN_URL)
    with respx.mock(assert_all_called=False) as router:
        route = router.delete("https://tenant.example.com/api/v1/X").respond(204)
        with httpx.Client(event_hooks={"request": [guard.sync_hook]}) as client, \
                pytest.raises(ReadOnlyViolationError):
            client.delete("https://tenant.example.com/api/v1/X")
    assert route.call_count == 0


@pytest.mark.parametrize(("value", "seconds"), [
    ("", None), ("0", 0.0), ("7", 7.0), ("soon", None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
])
def test_retry_after_values(value: str, seconds: float | None) -> None:
    assert _retry_after_seconds(value) == seconds


def test_retry_after_is_capped_and_backoff_grows_with_jitter() -> None:
    policy = RetryPolicy(attempts=5, base_delay=0.2, max_delay=2.0)
    assert policy.delay(0, "3600") == 10.0
    first = [policy.delay(0, "") for _ in range(50)]
    third = [policy.delay(2, "") for _ in range(50)]
    assert all(0.1 <= d <= 0.2 for d in first)
    assert all(0.4 <= d <= 0.8 for d in third)
    assert len(set(first)) > 1


@pytest.mark.parametrize(("exc", "kind"), [
    (httpx.ConnectTimeout("slow"), "timeout"),
    (httpx.ReadTimeout("slow"), "timeout"),
    (httpx.ConnectError("[Errno -2] Name or service not known"), "dns"),
    (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), "tls"),
    (httpx.ConnectError("All connection attempts failed"), "connect"),
    (httpx.RemoteProtocolError("Server disconnected without sending a response."), "reset"),
    (httpx.ReadError("boom"), "protocol"),
])
def test_classify_by_message(exc: Exception, kind: str) -> None:
    assert classify(exc).kind == kind


@pytest.mark.parametrize(("cause", "kind"), [
    (ConnectionRefusedError(111, "Connection refused"), "refused"),
    (socket.gaierror(-2, "Name or service not known"), "dns"),
    (ssl.SSLCertVerificationError("certificate verify failed"), "tls"),
    (ConnectionResetError(104, "Connection reset by peer"), "reset"),
])
def test_classify_by_root_cause(cause: Exception, kind: str) -> None:
    wrapped = httpx.ConnectError("All connection attempts failed")
    wrapped.__cause__ = cause
    assert classify(wrapped).kind == kind


def _sender(handler, attempts: int = 3) -> Sender:  # type: ignore[no-untyped-def]
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return Sender(client, Limits(), RetryPolicy(attempts=attempts, base_delay=0.001), 30)


def test_sender_records_every_attempt_and_stops_at_success() -> None:
    answers = iter([503, 502, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(answers), json={})

    exchange = asyncio.run(_sender(handler).exchange(httpx.Request("GET", "https://h/x")))
    assert exchange.status == 200
    assert [a.status for a in exchange.attempts] == [503, 502, 200]


def test_sender_gives_up_after_the_attempts() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    exchange = asyncio.run(_sender(handler, 2).exchange(httpx.Request("GET", "https://h/x")))
    assert exchange.status is None
    assert exchange.failure is not None
    assert [a.failure.kind for a in exchange.attempts if a.failure] == ["refused", "refused"]


def test_sender_cuts_a_huge_body() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"a" * (MAX_BODY * 3))

    exchange = asyncio.run(_sender(handler).exchange(httpx.Request("GET", "https://h/x")))
    assert exchange.status == 200
    assert len(exchange.body) <= 2000


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, "direct (no proxy variables set)"),
    ({"HTTPS_PROXY": "http://user:pw@proxy:3128", "NO_PROXY": "localhost"},
     "HTTPS_PROXY=http://***@proxy:3128, NO_PROXY=localhost"),
])
def test_proxy_setting_hides_credentials(environ: dict[str, str], expected: str) -> None:
    assert proxy_setting(environ) == expected
