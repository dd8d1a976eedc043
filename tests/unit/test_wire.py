"""What the transport records of each attempt for exchanges.har: `Wire`, without credentials.

The probe records raw facts and the document masks them, but credentials never enter the facts:
an `Authorization` value keeps only its scheme, cookies only their names, and no request body
is kept. Timings come from httpcore's trace events and add up to the attempt's time.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import jwt
import pytest

from cpi_preflight import transport
from cpi_preflight.claims import header_and_claims
from cpi_preflight.observation import WIRE_TEXT, Exchange, Timings
from cpi_preflight.secret import MASK
from cpi_preflight.transport import PhaseClock, shown_header

from .conftest import TOKEN_URL
from .test_har import CLAIMS, TOKEN
from .test_transport import MPL, Server, exchange, get


@pytest.mark.parametrize(("name", "value", "shown"), [
    ("Authorization", "Bearer eyJhbGciOi.x.y", f"Bearer {MASK}"),
    ("authorization", "Basic c2I6c2VjcmV0", f"Basic {MASK}"),
    ("Proxy-Authorization", "Basic dTpw", f"Basic {MASK}"),
    ("Authorization", "just-a-token", MASK),
    ("Authorization", "Bearer: odd", MASK),  # not a scheme: nothing of it is kept
    ("Cookie", "JSESSIONID=abc; __VCAP_ID__=def", f"JSESSIONID={MASK}; __VCAP_ID__={MASK}"),
    ("Set-Cookie", "JSESSIONID=abc; Path=/; Secure; HttpOnly",
     f"JSESSIONID={MASK}; Path=/; Secure; HttpOnly"),
    ("Content-Type", "application/json", "application/json"),
])
def test_credentials_keep_only_their_scheme_and_cookies_their_names(
        name: str, value: str, shown: str) -> None:
    assert shown_header(name, value) == shown


def post_token() -> httpx.Request:
    return httpx.Request("POST", TOKEN_URL, data={"grant_type": "client_credentials"},
                         headers={"Authorization": "Basic c2I6c2VjcmV0"})


def test_an_attempt_records_what_went_over_the_wire() -> None:
    server = Server([httpx.Response(401, text="no", headers={"Set-Cookie": "S=abc; Path=/"}),
                     ])
    found = exchange(server, post_token(), attempts=1)
    wire = found.attempts[0].wire
    assert wire is not None
    assert dict(wire.request_headers)["authorization"] == f"Basic {MASK}"
    assert wire.request_body_size == len("grant_type=client_credentials")
    assert "client_credentials" not in repr(wire)  # the body itself is never kept
    assert "c2I6c2VjcmV0" not in repr(found)
    assert (wire.http_version, wire.reason, wire.text, wire.text_cut) == (
        "HTTP/1.1", "Unauthorized", "no", False)
    assert dict(wire.headers)["set-cookie"] == f"S={MASK}; Path=/"
    assert (wire.received_bytes, wire.decoded_bytes) == (2, 2)
    assert wire.at > 0


def test_every_retry_has_its_own_wire(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_wait(delay: float) -> None:
        return None

    monkeypatch.setattr(transport.asyncio, "sleep", no_wait)
    server = Server([httpx.Response(503, text="busy"), httpx.Response(200, json={"d": 1})])
    found = exchange(server, get(MPL))
    texts = [a.wire.text for a in found.attempts if a.wire is not None]
    assert texts == ["busy", '{"d":1}']
    assert found.attempts[0].wire is not None
    assert found.attempts[1].wire is not None
    assert found.attempts[0].wire.at <= found.attempts[1].wire.at


def test_a_failed_try_records_its_request_and_time() -> None:
    server = Server([httpx.ConnectError("connection refused")])
    found: Exchange = exchange(server, get(MPL), attempts=1)
    wire = found.attempts[0].wire
    assert wire is not None
    assert (wire.http_version, wire.text, wire.headers) == ("", "", ())
    assert dict(wire.request_headers)["host"] == "tenant.example.com"


def test_the_body_kept_is_bounded_and_says_it_was_cut() -> None:
    body = "é" * (WIRE_TEXT + 10)  # two bytes a character: the cut counts characters
    found = exchange(Server([httpx.Response(200, text=body)]), get(MPL), attempts=1)
    wire = found.attempts[0].wire
    assert wire is not None
    assert (len(wire.text), wire.text_cut) == (WIRE_TEXT, True)


def test_timings_from_trace_events_add_up_to_the_attempt() -> None:
    clock = PhaseClock()
    began = clock.began
    for name, offset in [("connection.connect_tcp.started", 0.001),
                         ("connection.connect_tcp.complete", 0.004),
                         ("connection.start_tls.started", 0.004),
                         ("connection.start_tls.complete", 0.010),
                         ("http11.send_request_headers.started", 0.011),
                         ("http11.send_request_body.complete", 0.012),
                         ("http11.receive_response_headers.complete", 0.030)]:
        asyncio.run(clock.trace(name, {}))
        clock.marks[name.split(".", 1)[1]] = began + offset
    found = clock.timings(began + 0.030, began + 0.035)
    assert found == Timings(blocked=1.0, connect=9.0, ssl=6.0, send=2.0, wait=18.0, receive=5.0)
    assert sum(v for v in (found.blocked, found.connect, found.send, found.wait, found.receive)
               ) == pytest.approx(35.0)


def test_a_reused_connection_has_no_connect_time() -> None:
    clock = PhaseClock()
    began = clock.began
    clock.marks.update({"send_request_headers.started": began + 0.002,
                        "send_request_body.complete": began + 0.003,
                        "receive_response_headers.complete": began + 0.010})
    assert clock.timings(began + 0.010, began + 0.011) == Timings(
        blocked=2.0, connect=-1.0, ssl=-1.0, send=1.0, wait=7.0, receive=1.0)


def test_without_trace_events_the_time_before_the_answer_is_waiting() -> None:
    clock = PhaseClock()
    began = clock.began
    assert clock.timings(began + 0.020, began + 0.025) == Timings(wait=20.0, receive=5.0)


def test_a_jwt_is_shown_as_its_header_and_claims() -> None:
    assert header_and_claims(TOKEN) == {
        "jwt_header": {"alg": "HS256", "kid": "key-id-1", "typ": "JWT"}, "jwt_claims": CLAIMS}


@pytest.mark.parametrize("raw", ["0123456789abcdef", "a.b.c", ""])
def test_anything_but_a_jwt_has_no_header_and_claims(raw: str) -> None:
    assert header_and_claims(raw) is None


def test_claims_nested_too_deep_are_not_shown() -> None:
    deep: object = "x"
    for _ in range(70):
        deep = [deep]
    token = jwt.encode({"deep": deep}, "k" * 32, algorithm="HS256")
    assert json.loads(json.dumps(jwt.decode(token, options={"verify_signature": False})))
    assert header_and_claims(token) is None
