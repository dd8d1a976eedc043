"""Certificate keys (issue 16, item 3): the token host a certificate needs, decided before the
call; a rejected or expired certificate named as such, never "copy clientsecret again"; a
TLS-inspecting proxy named as a cause (respx), word for word."""

from __future__ import annotations

import functools
import ssl
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from cpi_preflight import probe, service_key, transport
from cpi_preflight.findings import PASSED, SKIPPED

from .conftest import (
    CLIENT_ID,
    MONITORING_SCOPES,
    NOW,
    TOKEN_HOST,
    TOKEN_URL,
    PemPair,
    Signer,
    Tenant,
    cf_data,
)
from .test_diagnosis import assert_failed, diagnose, fix, issue_token, only_finding

XSUAA_HOST = "sub.authentication.eu10.hana.ondemand.com"
MTLS_HOST = "sub.authentication.cert.eu10.hana.ondemand.com"
PLAIN_URL = f"https://{XSUAA_HOST}/oauth/token"
MTLS_URL = f"https://{MTLS_HOST}/oauth/token"
EXPIRED_ALERT = ("[SSL: SSLV3_ALERT_CERTIFICATE_EXPIRED] sslv3 alert certificate expired "
                 "(_ssl.c:2580)")
CERTIFICATE_FIX = {
    "CLIENT_CERTIFICATE_REJECTED": (
        "A certificate key gets its token from "
        "https://<subdomain>.authentication.cert.<region>.hana.ondemand.com/oauth/token (the "
        "key's `certurl` + /oauth/token); put that in `token_url:`. If the key was deleted or "
        "replaced, create a new one: `cf create-service-key <instance> <key> -c "
        "'{\"key-type\":\"certificate\"}'` and read it with `cf service-key <instance> <key>`. "
        "If a proxy inspects TLS, have the token host exempted from inspection, or list it in "
        "NO_PROXY when this machine may reach it directly."),
    "CREDENTIAL_EXPIRED": (
        "Create a new certificate key: `cf create-service-key <instance> <key> -c "
        "'{\"key-type\":\"certificate\",\"validity\":365}'` (365 days is the longest SAP "
        "allows), then `cf service-key <instance> <key>`; put its certificate and key where the "
        "profile reads them (or point `service_key:` at the new key), then delete the old key. "
        "With your own certificate (certificate_external), renew it and create a key with the "
        "new one."),
}


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe, "RetryPolicy", functools.partial(
        transport.RetryPolicy, base_delay=0.001, max_delay=0.001))
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def pem_pair_valid_until(not_after: datetime) -> PemPair:
    """A self-signed client certificate valid for a year up to `not_after`, and its key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cpi-preflight test client")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_after - timedelta(days=365)).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    return PemPair(cert.public_bytes(serialization.Encoding.PEM).decode(),
                   key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode())


def certificate_profile(folder: Path, token_url: str, not_after: datetime = NOW + timedelta(
        days=200)) -> dict[str, object]:
    cert, key = pem_pair_valid_until(not_after).write(folder)
    return cf_data(client_secret=None, certificate=str(cert), key=str(key), token_url=token_url)


def on(tenant: Tenant, token_url: str) -> Tenant:
    tenant.token_url = token_url
    tenant.jwks_url = str(httpx.URL(token_url).copy_with(path="/token_keys"))
    return tenant


# --- the token host a certificate needs --------------------------------------------------------


def test_a_certificate_key_on_the_plain_host_is_caught_before_the_call(
        tenant: Tenant, tmp_path: Path) -> None:
    on(tenant, PLAIN_URL).token(401, json={"error": "unauthorized"})
    verdicts = diagnose(certificate_profile(tmp_path, PLAIN_URL))
    assert_failed(verdicts["token"], "TOKEN_URL_WRONG",
                  f"token_url {PLAIN_URL} is on XSUAA's plain host, which does not ask for the "
                  f"client certificate and answers 401: client {CLIENT_ID} authenticates with a "
                  f"certificate, and a certificate key's token endpoint is {MTLS_URL} (the key's "
                  "certurl + /oauth/token); not called", fix("TOKEN_URL_WRONG"))
    assert tenant.router.calls.call_count == 0


def test_a_certificate_key_without_certurl_gets_the_certificate_host(tmp_path: Path) -> None:
    pem = pem_pair_valid_until(NOW + timedelta(days=100))
    found = service_key.parse_service_key(tmp_path / "key.json", {"oauth": {
        "clientid": CLIENT_ID, "url": "https://sub.it-cpi018.cfapps.eu10.hana.ondemand.com",
        "tokenurl": PLAIN_URL, "certificate": pem.certificate, "key": pem.key}})
    assert found.token_url == MTLS_URL


def test_a_secret_key_keeps_the_plain_host(tenant: Tenant, signer: Signer) -> None:
    on(tenant, PLAIN_URL)
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json={"d": {"results": []}})
    verdicts = diagnose(cf_data(token_url=PLAIN_URL))
    assert verdicts["token"].outcome == PASSED


# --- a rejected certificate is named as such ---------------------------------------------------


def test_a_rejected_certificate_is_not_told_to_copy_a_secret(tenant: Tenant,
                                                             tmp_path: Path) -> None:
    on(tenant, MTLS_URL).token(401, json={"error": "invalid_client",
                                          "error_description": "Bad credentials"})
    tenant.keys({"keys": []})
    verdicts = diagnose(certificate_profile(tmp_path, MTLS_URL))
    assert_failed(verdicts["token"], "CLIENT_CERTIFICATE_REJECTED",
                  f"token endpoint {MTLS_HOST} rejected the client certificate of client "
                  f"{CLIENT_ID}: 401 invalid_client: Bad credentials",
                  CERTIFICATE_FIX["CLIENT_CERTIFICATE_REJECTED"])
    assert "clientsecret" not in only_finding(verdicts["token"]).fix


def test_a_rejected_certificate_names_the_proxy_it_went_through(
        tenant: Tenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://inspector.corp:8080")
    on(tenant, MTLS_URL).token(401, json={"error": "unauthorized"})
    tenant.keys({"keys": []})
    verdicts = diagnose(certificate_profile(tmp_path, MTLS_URL))
    assert only_finding(verdicts["token"]).message == (
        f"token endpoint {MTLS_HOST} rejected the client certificate of client {CLIENT_ID}: 401 "
        "unauthorized; the request went through the proxy of "
        "HTTPS_PROXY=http://inspector.corp:8080: a proxy that inspects TLS opens its own "
        "connection, without the client certificate")


def test_a_rejected_certificate_on_another_host_names_the_certificate_host(
        tenant: Tenant, tmp_path: Path) -> None:
    tenant.token(401)
    tenant.keys({"keys": []})
    verdicts = diagnose(certificate_profile(tmp_path, TOKEN_URL))
    assert only_finding(verdicts["token"]).message == (
        f"token endpoint {TOKEN_HOST} rejected the client certificate of client {CLIENT_ID}: "
        "401; a certificate key's token endpoint is on XSUAA's authentication.cert host (the "
        f"key's certurl + /oauth/token), and {TOKEN_HOST} is not one")


def test_a_tls_alert_about_the_certificate_is_not_a_trust_problem(tenant: Tenant,
                                                                  tmp_path: Path) -> None:
    alert = "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca (_ssl.c:2580)"
    on(tenant, MTLS_URL).token().mock(side_effect=httpx.ConnectError(alert))
    tenant.keys({"keys": []})
    verdicts = diagnose(certificate_profile(tmp_path, MTLS_URL))
    assert_failed(verdicts["token"], "CLIENT_CERTIFICATE_REJECTED",
                  f"token endpoint {MTLS_HOST} refused the client certificate of client "
                  f"{CLIENT_ID} during the TLS handshake: {alert}",
                  CERTIFICATE_FIX["CLIENT_CERTIFICATE_REJECTED"])


def test_a_server_s_alert_about_the_client_certificate_is_classified_as_such() -> None:
    try:
        raise ssl.SSLError(1, EXPIRED_ALERT)
    except ssl.SSLError as cause:
        error = httpx.ConnectError("handshake failed")
        error.__cause__ = cause
    assert transport.classify(error).kind == "tls_client"
    untrusted = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert transport.classify(untrusted).kind == "tls"


# --- an expired certificate: its dates decide, whatever the token endpoint answered -------------


def test_an_expired_certificate_says_so_with_its_date(tenant: Tenant, tmp_path: Path) -> None:
    on(tenant, MTLS_URL).token().mock(side_effect=httpx.ConnectError(EXPIRED_ALERT))
    tenant.keys({"keys": []})
    expired = datetime(2025, 5, 1, 12, 0, tzinfo=NOW.tzinfo)
    verdicts = diagnose(certificate_profile(tmp_path, MTLS_URL, not_after=expired))
    assert_failed(verdicts["token"], "CREDENTIAL_EXPIRED",
                  "the client certificate expired on 2025-05-01: create a new key (certificate "
                  f"CN=cpi-preflight test client of client {CLIENT_ID}, valid until "
                  "2025-05-01T12:00:00+00:00)", CERTIFICATE_FIX["CREDENTIAL_EXPIRED"])
    credential = verdicts["credential-expiry"]
    assert (credential.outcome, credential.summary) == (
        SKIPPED, "not checked again: token failed (CREDENTIAL_EXPIRED)")
    assert [v.code for v in verdicts.values() if v.outcome == "failed"] == ["CREDENTIAL_EXPIRED"]


def test_an_expired_certificate_on_the_plain_host_is_named_expired_first(
        tenant: Tenant, tmp_path: Path) -> None:
    expired = NOW - timedelta(seconds=1)
    verdicts = diagnose(certificate_profile(tmp_path, PLAIN_URL, not_after=expired))
    assert verdicts["token"].code == "CREDENTIAL_EXPIRED"


# --- mutation: diagnosis p-z ---


def test_an_unreachable_host_is_no_certificate_problem(tenant: Tenant, tmp_path: Path) -> None:
    on(tenant, MTLS_URL).token().mock(
        side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    tenant.keys({"keys": []})
    verdicts = diagnose(certificate_profile(tmp_path, MTLS_URL))
    assert_failed(verdicts["token"], "HOST_UNREACHABLE",
                  f"token endpoint {MTLS_HOST} is unreachable: the connection was refused "
                  "(1 attempt; [Errno 111] Connection refused)",
                  fix("HOST_UNREACHABLE", key="token_url"))


def test_a_400_rejecting_a_certificate_client_names_the_certificate(tenant: Tenant,
                                                                     tmp_path: Path) -> None:
    on(tenant, MTLS_URL).token(400, json={"error": "invalid_client"})
    tenant.keys({"keys": []})
    verdicts = diagnose(certificate_profile(tmp_path, MTLS_URL))
    assert_failed(verdicts["token"], "CLIENT_CERTIFICATE_REJECTED",
                  f"token endpoint {MTLS_HOST} rejected the client certificate of client "
                  f"{CLIENT_ID}: 400 invalid_client",
                  CERTIFICATE_FIX["CLIENT_CERTIFICATE_REJECTED"])


def test_another_400_to_a_certificate_client_is_no_rejected_certificate(tenant: Tenant,
                                                                        tmp_path: Path) -> None:
    on(tenant, MTLS_URL).token(400, json={"error": "invalid_scope"})
    tenant.keys({"keys": []})
    verdicts = diagnose(certificate_profile(tmp_path, MTLS_URL))
    assert_failed(verdicts["token"], "TOKEN_URL_WRONG",
                  f"token_url {MTLS_URL} is not an OAuth token endpoint: it answered 400 with "
                  "application/json; expected "
                  "https://<subdomain>.authentication.<region>.hana.ondemand.com/oauth/token",
                  fix("TOKEN_URL_WRONG"))


# --- mutation: diagnosis a-o ---------------------------------------------------------------


def test_a_certificate_has_expired_only_after_its_not_after(
        tenant: Tenant, tmp_path: Path) -> None:
    """RFC 5280 (4.1.2.5): a certificate is valid from notBefore through notAfter, inclusive.
    A second after notAfter it has expired; at notAfter itself the server's alert is a
    rejection, not an expiry this machine's clock confirms."""
    on(tenant, MTLS_URL).token().mock(side_effect=httpx.ConnectError(EXPIRED_ALERT))
    tenant.keys({"keys": []})
    after = diagnose(certificate_profile(tmp_path, MTLS_URL, not_after=NOW - timedelta(
        seconds=1)))
    assert_failed(after["token"], "CREDENTIAL_EXPIRED",
                  "the client certificate expired on 2025-06-01: create a new key (certificate "
                  f"CN=cpi-preflight test client of client {CLIENT_ID}, valid until "
                  "2025-06-01T11:59:59+00:00)", CERTIFICATE_FIX["CREDENTIAL_EXPIRED"])
    at = diagnose(certificate_profile(tmp_path, MTLS_URL, not_after=NOW))
    assert at["token"].code == "CLIENT_CERTIFICATE_REJECTED"


def test_a_certificate_at_its_not_after_instant_expires_today_and_has_not_expired(
        tenant: Tenant, signer: Signer, tmp_path: Path) -> None:
    """RFC 5280's validity is inclusive of notAfter: the posture warns (0 days left) and does
    not fail the run as expired."""
    on(tenant, MTLS_URL)
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json={"d": {"results": []}})
    verdicts = diagnose(certificate_profile(tmp_path, MTLS_URL, not_after=NOW))
    credential = verdicts["credential-expiry"]
    assert (credential.outcome, credential.code) == (PASSED, "CREDENTIAL_EXPIRING")
    assert [f.severity for f in credential.findings] == ["warning"]
    assert credential.summary == (
        f"the client certificate of client {CLIENT_ID} (CN=cpi-preflight test client) expires "
        "in 0 days: valid until 2025-06-01T12:00:00+00:00 (warning window 30 days)")
