"""Certificate key type: mTLS required on the cert host; key and service key shaped like SAP's."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from cpi_preflight.sandbox import Sandbox, tls

BAD_CREDENTIALS = {"error": "invalid_client", "error_description": "Bad credentials"}


@pytest.fixture(scope="module")
def sandbox(launch: Any) -> Sandbox:
    started: Sandbox = launch({"roles": ["MonitoringDataRead"], "credential": "certificate"})
    return started


@pytest.fixture(scope="module")
def client(sandbox: Sandbox, connect: Any) -> Any:
    return connect(sandbox, client_cert=True)


@pytest.fixture(scope="module")
def anonymous(sandbox: Sandbox, connect: Any) -> Any:
    return connect(sandbox)


def test_connection_points_at_the_mtls_host(sandbox: Sandbox) -> None:
    conn = sandbox.connection
    assert conn.client_secret is None
    assert conn.token_url == sandbox.urls["xsuaa_cert"] + "/oauth/token"
    assert conn.certificate_path
    assert conn.key_path


def test_key_and_chain_are_pem_like_sap_generates(sandbox: Sandbox) -> None:
    conn = sandbox.connection
    assert conn.key_path is not None
    assert conn.certificate_path is not None
    key = Path(conn.key_path).read_text()
    assert key.startswith("-----BEGIN RSA PRIVATE KEY-----")
    chain = x509.load_pem_x509_certificates(Path(conn.certificate_path).read_bytes())
    ca = x509.load_pem_x509_certificate(Path(conn.ca_path).read_bytes())
    assert len(chain) == 2
    assert chain[0].issuer == ca.subject == chain[1].subject


def test_service_key_has_the_certificate_fields(sandbox: Sandbox) -> None:
    conn = sandbox.connection
    oauth = conn.service_key["oauth"]
    assert set(oauth) == {"clientid", "certificate", "key", "tokenurl", "url", "createdate",
                          "certificatedetails"}
    assert set(oauth["certificatedetails"]) == {"issuerdn", "serialnumber", "subjectdn",
                                                "validuntil"}
    assert conn.certificate_path is not None
    assert conn.key_path is not None
    assert oauth["certificate"] == Path(conn.certificate_path).read_text()
    assert oauth["key"] == Path(conn.key_path).read_text()
    assert (oauth["tokenurl"], oauth["url"]) == (conn.token_url, conn.api_url)


def test_token_with_client_certificate_and_client_id_in_body(client: Any) -> None:
    response = client.token_response()
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert client.api("/MessageProcessingLogs", token).status_code == 200


def test_handshake_fails_without_a_client_certificate(anonymous: Any) -> None:
    with pytest.raises(httpx.TransportError):
        anonymous.token_response()


def test_foreign_client_certificate_is_refused_in_the_handshake(
        sandbox: Sandbox, tmp_path: Path) -> None:
    other = tls.new_ca()
    key = tls.new_rsa_key()
    (tmp_path / "c.pem").write_bytes(tls.cert_pem(tls.issue_client_cert(other, key, "x")))
    (tmp_path / "k.pem").write_bytes(tls.rsa_key_pem(key))
    context = ssl.create_default_context(cafile=sandbox.connection.ca_path)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    with httpx.Client(verify=context) as http, pytest.raises(httpx.TransportError):
        http.post(sandbox.connection.token_url, data={"grant_type": "client_credentials",
                                                      "client_id": "x"})


def test_certificate_of_another_client_id_is_bad_credentials(client: Any) -> None:
    data = {"grant_type": "client_credentials", "client_id": "sb-other!b1|it!b1"}
    response = client.http.post(client.conn.token_url, data=data)
    assert (response.status_code, response.json()) == (401, BAD_CREDENTIALS)


def test_plain_xsuaa_host_refuses_a_certificate_client(client: Any, sandbox: Sandbox) -> None:
    data = {"grant_type": "client_credentials", "client_id": client.conn.client_id}
    response = client.http.post(sandbox.urls["xsuaa"] + "/oauth/token", data=data)
    assert (response.status_code, response.json()) == (401, BAD_CREDENTIALS)


def test_wrong_certificate_fault(fresh: Any, connect: Any) -> None:
    sandbox = fresh({"credential": "certificate", "faults": {"wrong_secret": True}})
    response = connect(sandbox, client_cert=True).token_response()
    assert (response.status_code, response.json()) == (401, BAD_CREDENTIALS)
