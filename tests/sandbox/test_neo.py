"""A Neo sandbox: the OAuth service's documented token shape, opaque tokens, Neo role checks."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cpi_preflight.errors import SandboxSpecError
from cpi_preflight.sandbox import Sandbox

ROLES = ["IntegrationOperationServer.read", "NodeManager.read", "AuditLog.Read"]
HEX32 = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def sandbox(launch: Any) -> Sandbox:
    started: Sandbox = launch({"roles": ROLES}, "neo")
    return started


@pytest.fixture(scope="module")
def client(sandbox: Sandbox, connect: Any) -> Any:
    return connect(sandbox)


def test_connection_shape(sandbox: Sandbox) -> None:
    conn = sandbox.connection
    assert conn.environment == "neo"
    assert set(sandbox.urls) == {"neo_oauth", "api", "ui"}
    assert conn.token_url == sandbox.urls["neo_oauth"] + "/oauth2/api/v1/token"
    assert conn.api_url == sandbox.urls["api"]
    assert HEX32.match(conn.client_id)
    assert conn.service_key == {}
    assert conn.certificate_path is None


def test_token_has_sap_documented_shape(client: Any) -> None:
    response = client.token_response()
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["access_token", "token_type", "expires_in", "scopes"]
    assert HEX32.match(body["access_token"])
    assert (body["token_type"], body["expires_in"], body["scopes"]) == ("Bearer", 0, [])


def test_token_format_jwt_is_ignored(client: Any) -> None:
    conn = client.conn
    params = {"grant_type": "client_credentials", "token_format": "jwt"}
    response = client.http.post(conn.token_url, params=params,
                                auth=(conn.client_id, conn.client_secret))
    assert HEX32.match(response.json()["access_token"])


def test_grant_type_in_body(client: Any) -> None:
    conn = client.conn
    response = client.http.post(conn.token_url, data={"grant_type": "client_credentials"},
                                auth=(conn.client_id, conn.client_secret))
    assert response.status_code == 200


@pytest.mark.parametrize(("auth", "params", "status", "error"), [
    ("bad", {"grant_type": "client_credentials"}, 401, "invalid_client"),
    ("good", {}, 400, "invalid_request"),
    ("good", {"grant_type": "magic"}, 400, "unsupported_grant_type"),
    ("good", {"grant_type": "password"}, 401, "unauthorized_client"),
])
def test_token_errors(client: Any, auth: str, params: dict[str, str], status: int,
                      error: str) -> None:
    conn = client.conn
    secret = conn.client_secret if auth == "good" else "nope"
    response = client.http.post(conn.token_url, params=params, auth=(conn.client_id, secret))
    assert response.status_code == status
    assert response.json()["error"] == error


def test_bad_credentials_body(client: Any) -> None:
    conn = client.conn
    response = client.http.post(conn.token_url, params={"grant_type": "client_credentials"},
                                auth=(conn.client_id, "nope"))
    assert response.json() == {"error": "invalid_client",
                               "error_description": "Bad client credentials"}


def test_wrong_method_and_path(client: Any, sandbox: Sandbox) -> None:
    assert client.http.get(client.conn.token_url).status_code == 405
    other = client.http.get(sandbox.urls["neo_oauth"] + "/oauth/token")
    assert other.status_code == 404
    assert other.headers["content-type"].startswith("text/html")


def test_api_checks_the_clients_neo_roles(client: Any) -> None:
    token = client.token()
    assert client.api("/MessageProcessingLogs", token).status_code == 200
    assert client.api("/LogFiles", token).status_code == 200
    assert client.api("/IntegrationPackages", token).status_code == 403
    assert client.api("/NumberRanges", token).status_code == 200


def test_unknown_opaque_token_is_401(client: Any) -> None:
    assert client.api("/MessageProcessingLogs", "0" * 32).status_code == 401


def test_cf_template_names_map_to_neo_roles(launch: Any, connect: Any) -> None:
    client = connect(launch({"roles": ["WorkspacePackagesRead"]}, "neo"))
    token = client.token()
    assert client.api("/IntegrationPackages", token).status_code == 200
    assert client.api("/MessageProcessingLogs", token).status_code == 403


def test_grant_type_disabled_is_unauthorized_client(launch: Any, connect: Any) -> None:
    client = connect(launch({"faults": {"grant_type_disabled": True}}, "neo"))
    response = client.token_response()
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized_client"


@pytest.mark.parametrize("fault", ["expired_token", "foreign_zone"])
def test_tokens_the_api_refuses(launch: Any, connect: Any, fault: str) -> None:
    client = connect(launch({"faults": {fault: True}}, "neo"))
    token = client.token()
    assert client.api("/MessageProcessingLogs", token).status_code == 401


def test_wrong_secret_fault(launch: Any, connect: Any) -> None:
    client = connect(launch({"faults": {"wrong_secret": True}}, "neo"))
    assert client.token_response().status_code == 401


def test_a_missing_role_is_the_containers_html_403(client: Any) -> None:
    response = client.api("/IntegrationPackages", client.token())
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>HTTP Status 403 \u2013 Forbidden</title>" in response.text


@pytest.mark.parametrize("token", [None, "0" * 32])
def test_a_rejected_token_is_an_empty_401_with_a_challenge(client: Any,
                                                          token: str | None) -> None:
    response = client.api("/MessageProcessingLogs", token)
    assert (response.status_code, response.content) == (401, b"")
    assert response.headers["www-authenticate"] == 'Bearer realm="oauth2"'
    assert "content-type" not in response.headers


def test_neo_knows_no_pending_roles(launch: Any) -> None:
    with pytest.raises(SandboxSpecError, match="Neo tokens carry no scopes"):
        launch({"roles": ROLES, "faults": {"pending_roles": ["NodeManager.read"]}}, "neo")
