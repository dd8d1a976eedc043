"""oauth: the token request per environment and credential, the key set URL, taking the token."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from cpi_preflight import oauth
from cpi_preflight.observation import Exchange
from cpi_preflight.secret import MASK, scrub

from .conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    NEO_TOKEN_URL,
    TOKEN_URL,
    PemPair,
    cf_data,
    neo_data,
    parse,
)

NEO_CLIENT = "0123456789abcdef0123"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def form(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.read().decode(), strict_parsing=True)


def test_cf_secret_posts_a_basic_header_and_the_grant_in_the_body() -> None:
    request = oauth.token_request(parse(cf_data()))
    assert request.method == "POST"
    assert str(request.url) == TOKEN_URL
    assert request.headers["Authorization"] == basic(CLIENT_ID, CLIENT_SECRET)
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.read() == b"grant_type=client_credentials"


def test_the_secret_travels_literally_in_the_basic_header() -> None:
    request = oauth.token_request(parse(cf_data(client_secret="Ab$c=d+e/f==")))
    scheme, _, encoded = request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == f"{CLIENT_ID}:Ab$c=d+e/f=="


def test_the_secret_is_not_in_the_url_or_the_body() -> None:
    request = oauth.token_request(parse(cf_data()))
    assert CLIENT_SECRET not in str(request.url)
    assert CLIENT_SECRET.encode() not in request.read()


def test_the_basic_header_is_scrubbed_from_text() -> None:
    request = oauth.token_request(parse(cf_data()))
    header = request.headers["Authorization"]
    assert scrub(f"sent {header}") == f"sent Basic {MASK}"


def test_cf_certificate_sends_the_client_id_in_the_body_and_no_authorization(
        tmp_path: Path, pem_pair: PemPair) -> None:
    cert, key = pem_pair.write(tmp_path)
    profile = parse(cf_data(client_secret=None, certificate=str(cert), key=str(key),
                            token_url="https://sub.authentication.cert.example.com/oauth/token"))
    request = oauth.token_request(profile)
    assert request.method == "POST"
    assert str(request.url) == "https://sub.authentication.cert.example.com/oauth/token"
    assert "Authorization" not in request.headers
    assert form(request) == {"grant_type": ["client_credentials"], "client_id": [CLIENT_ID]}


def test_neo_puts_the_grant_in_the_query_and_sends_basic_auth() -> None:
    request = oauth.token_request(parse(neo_data()))
    assert request.method == "POST"
    assert request.url.copy_with(query=None) == httpx.URL(NEO_TOKEN_URL)
    assert request.url.params.multi_items() == [("grant_type", "client_credentials")]
    assert request.headers["Authorization"] == basic(NEO_CLIENT, CLIENT_SECRET)
    assert request.read() == b""


def test_neo_keeps_a_query_already_in_the_token_url() -> None:
    request = oauth.token_request(parse(neo_data(token_url=NEO_TOKEN_URL + "?token_format=jwt")))
    assert dict(request.url.params) == {"token_format": "jwt",
                                        "grant_type": "client_credentials"}


@pytest.mark.parametrize(("token_url", "expected"), [
    (TOKEN_URL, "https://sub.authentication.example.com/token_keys"),
    ("https://sub.authentication.example.com/oauth/token?x=1",
     "https://sub.authentication.example.com/token_keys"),
    ("https://sub.authentication.cert.example.com/oauth/token",
     "https://sub.authentication.cert.example.com/token_keys"),
    ("http://127.0.0.1:8443/oauth/token", "http://127.0.0.1:8443/token_keys"),
])
def test_the_key_set_lives_at_token_keys_on_the_token_host(token_url: str, expected: str) -> None:
    assert oauth.jwks_url(token_url) == expected


# --- take_token --------------------------------------------------------------------------

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
BODY = f'{{"access_token": "{TOKEN}", "token_type": "bearer", "expires_in": 43199}}'


def token_exchange(status: int = 200, json: object = None, body: str = BODY) -> Exchange:
    data = {"access_token": TOKEN, "token_type": "bearer", "expires_in": 43199}
    return Exchange("POST", TOKEN_URL, status, content_type="application/json",
                    body=body, json=data if json is None else json)


def test_take_token_removes_the_token_from_the_recorded_json_and_body() -> None:
    cleaned, token = oauth.take_token(token_exchange())
    assert token is not None
    assert token.reveal() == TOKEN
    assert cleaned.json == {"access_token": MASK, "token_type": "bearer", "expires_in": 43199}
    assert cleaned.body == ""
    assert TOKEN not in repr(cleaned)
    assert (cleaned.status, cleaned.url, cleaned.content_type) == (200, TOKEN_URL,
                                                                   "application/json")


def test_take_token_trims_whitespace_around_the_token() -> None:
    _, token = oauth.take_token(token_exchange(json={"access_token": f"  {TOKEN}\n"}))
    assert token is not None
    assert token.reveal() == TOKEN


@pytest.mark.parametrize("exchange", [
    token_exchange(status=401, json={"error": "invalid_client"}, body="{}"),
    token_exchange(status=201),
    token_exchange(json={"token_type": "bearer"}, body="{}"),
    token_exchange(json=["not", "a", "mapping"], body="[]"),
    Exchange("POST", TOKEN_URL, 200, body="<html></html>"),
])
def test_take_token_leaves_answers_without_a_token_alone(exchange: Exchange) -> None:
    assert oauth.take_token(exchange) == (exchange, None)


def test_the_taken_token_is_scrubbed_from_text() -> None:
    _, token = oauth.take_token(token_exchange())
    assert token is not None
    assert scrub(f"Authorization: Bearer {TOKEN}") == f"Authorization: Bearer {MASK}"
