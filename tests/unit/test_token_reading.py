"""claims (JWT reading, signature, scopes) and oauth (request shapes, token extraction)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from cpi_preflight import oauth
from cpi_preflight.claims import read_token, split_scopes
from cpi_preflight.observation import Exchange
from cpi_preflight.profile import parse
from cpi_preflight.secret import MASK

from .conftest_support import jwks, signed_token

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "xsuaa"
SECRET = "Ab$c=d+e/f=="


@pytest.fixture
def sap_token() -> tuple[str, dict]:
    if not FIXTURES.is_dir():
        pytest.skip(f"SAP's XSUAA fixtures are not at {FIXTURES}")
    raw = (FIXTURES / "xsuaa-cc-token-rs256.txt").read_text().strip()
    return raw, json.loads((FIXTURES / "token_keys.json").read_text())


def test_sap_fixture_token_verifies_and_reads(sap_token: tuple[str, dict]) -> None:
    facts = read_token(*sap_token)
    assert facts.signature == "verified"
    assert facts.signature_detail == "RS256 signature verified with key 'key-id-1'"
    assert (facts.key_id, facts.grant_type, facts.client_id) == (
        "key-id-1", "client_credentials", "sap_osb")
    assert facts.scopes == ("ROLE_SERVICEBROKER", "uaa.resource")
    assert facts.expired(datetime.now(UTC))


def test_a_tampered_sap_token_fails(sap_token: tuple[str, dict]) -> None:
    raw, keys = sap_token
    head, body, signature = raw.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["scope"].append("it!b1.NodeManager.read")
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    facts = read_token(f"{head}.{forged}.{signature}", keys)
    assert facts.signature == "failed"
    assert facts.signature_detail == "signature does not verify with key 'key-id-1' of the issuer"


def test_unknown_key_id() -> None:
    facts = read_token(signed_token([], kid="rotated"), jwks("key-1"))
    assert facts.signature_detail == ("key id 'rotated' is not in the issuer's token_keys "
                                      "(has: key-1)")


@pytest.mark.parametrize("raw", ["8271a067126f0aa93b46c2fe07c6880", "a.b", "x.y.z"])
def test_non_jwts_are_opaque(raw: str) -> None:
    assert read_token(raw).format == "opaque"


def test_scopes_split_at_the_first_dot() -> None:
    assert split_scopes(("it!b1.NodeManager.read", "uaa.resource", "plain")) == [
        ("it!b1", "NodeManager.read"), ("uaa", "resource"), ("", "plain")]


def test_integration_flow_applications_are_found() -> None:
    raw = signed_token(["it-rt-sub!b18631.ESBMessaging.send"],
                       client_id="sb-x!b1|it-rt-sub!b18631")
    assert read_token(raw).runtime_applications == ("it-rt-sub!b18631",)


def _profile(environment: str, **extra: str):  # type: ignore[no-untyped-def]
    body = {"environment": environment, "api_url": "https://t.example.com",
            "token_url": "https://a.example.com/oauth/token", "client_id": "sb-a!b1|it!b2",
            "required_roles": ["MonitoringDataRead"], **extra}
    return parse("p", Path("p.yaml"), body, {})


def test_cf_secret_travels_literally_in_basic_and_grant_in_the_body() -> None:
    request = oauth.token_request(_profile("cf", client_secret=SECRET))
    assert request.method == "POST"
    basic = base64.b64decode(request.headers["authorization"].split()[1]).decode()
    assert basic == f"sb-a!b1|it!b2:{SECRET}"
    assert parse_qs(request.content.decode()) == {"grant_type": ["client_credentials"]}


def test_neo_grant_goes_in_the_query() -> None:
    request = oauth.token_request(_profile("neo", client_secret=SECRET,
                                           token_url="https://o.example.com/oauth2/api/v1/token"))
    assert request.url.params["grant_type"] == "client_credentials"
    assert request.headers["authorization"].startswith("Basic ")


def test_certificate_key_sends_client_id_in_the_body(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n")
    request = oauth.token_request(_profile("cf", certificate=str(cert), key=str(key)))
    assert "authorization" not in request.headers
    assert parse_qs(request.content.decode()) == {"grant_type": ["client_credentials"],
                                                  "client_id": ["sb-a!b1|it!b2"]}


def test_jwks_url_is_built_from_the_token_url() -> None:
    assert oauth.jwks_url("https://s.authentication.eu10.hana.ondemand.com/oauth/token?x=1") == \
        "https://s.authentication.eu10.hana.ondemand.com/token_keys"


def test_take_token_removes_it_from_the_facts() -> None:
    raw = signed_token([])
    exchange = Exchange("POST", "https://a/oauth/token", 200, json={"access_token": raw,
                                                                     "expires_in": 1},
                        body=json.dumps({"access_token": raw}))
    facts, token = oauth.take_token(exchange)
    assert token is not None
    assert token.reveal() == raw
    assert facts.json == {"access_token": MASK, "expires_in": 1}
    assert raw not in facts.body
    assert repr(token) == "Secret(***)"
