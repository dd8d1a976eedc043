"""The simulated XSUAA host: client authentication, UAA's exact errors, token and JWKS shapes."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import jwt
import pytest

from cpi_preflight.sandbox import Sandbox

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ROLES = ["MonitoringDataRead", "WorkspacePackagesRead"]
BAD_CREDENTIALS = {"error": "invalid_client", "error_description": "Bad credentials"}
CLIENT_ID = re.compile(r"^sb-[0-9a-f-]{36}!b\d+\|it!b\d+$")


@pytest.fixture(scope="module")
def sandbox(launch: Any) -> Sandbox:
    started: Sandbox = launch({"roles": ROLES})
    return started


@pytest.fixture(scope="module")
def client(sandbox: Sandbox, connect: Any) -> Any:
    return connect(sandbox)


def basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def form(**fields: str) -> dict[str, str]:
    return {"Content-Type": "application/x-www-form-urlencoded", **fields}


def test_secret_holds_the_characters_that_break_naive_clients(client: Any) -> None:
    assert set("$=+/") <= set(client.conn.client_secret)


def test_basic_header_with_literal_secret(client: Any) -> None:
    response = client.token_response()
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "jti"}
    assert (body["token_type"], body["expires_in"]) == ("bearer", 43199)
    assert response.headers["cache-control"] == "no-store"


def test_form_body_credentials(client: Any) -> None:
    conn = client.conn
    data = {"grant_type": "client_credentials", "client_id": conn.client_id,
            "client_secret": conn.client_secret}
    assert client.http.post(conn.token_url, data=data).status_code == 200


def test_grant_type_in_query_string(client: Any) -> None:
    conn = client.conn
    response = client.http.post(conn.token_url, params={"grant_type": "client_credentials"},
                                auth=(conn.client_id, conn.client_secret))
    assert response.status_code == 200


def test_unencoded_secret_in_form_body_is_form_decoded(client: Any) -> None:
    conn = client.conn
    body = f"grant_type=client_credentials&client_id={quote_plus(conn.client_id)}"
    body += f"&client_secret={conn.client_secret}"  # '+' turns into a space: wrong secret
    response = client.http.post(conn.token_url, content=body, headers=form())
    assert (response.status_code, response.json()) == (401, BAD_CREDENTIALS)


def test_url_encoded_basic_secret_needs_the_cf_header(client: Any) -> None:
    conn = client.conn
    headers = basic(quote_plus(conn.client_id), quote_plus(conn.client_secret))
    data = {"grant_type": "client_credentials"}
    refused = client.http.post(conn.token_url, data=data, headers=headers)
    assert refused.status_code == 401
    headers["X-CF-ENCODED-CREDENTIALS"] = "true"
    assert client.http.post(conn.token_url, data=data, headers=headers).status_code == 200


@pytest.mark.parametrize("who", ["wrong secret", "unknown client", "nobody"])
def test_bad_credentials_exactly_as_uaa(client: Any, who: str) -> None:
    conn = client.conn
    headers = {"wrong secret": basic(conn.client_id, conn.client_secret + "x"),
               "unknown client": basic("sb-nobody!b1|it!b1", conn.client_secret),
               "nobody": {}}[who]
    response = client.http.post(conn.token_url, data={"grant_type": "client_credentials"},
                                headers=headers)
    assert response.status_code == 401
    assert response.json() == BAD_CREDENTIALS
    assert response.headers["www-authenticate"] == (
        'Basic error="unauthorized", error_description="Bad credentials"')


@pytest.mark.parametrize(("grant", "status", "body"), [
    (None, 400, {"error": "invalid_request", "error_description": "Missing grant type"}),
    ("magic", 400, {"error": "unsupported_grant_type",
                    "error_description": "Unsupported grant type"}),
    ("password", 401, {"error": "invalid_client",
                       "error_description": "Unauthorized grant type"}),
])
def test_grant_type_errors_exactly_as_uaa(client: Any, grant: str | None, status: int,
                                          body: dict[str, str]) -> None:
    conn = client.conn
    data = {} if grant is None else {"grant_type": grant}
    response = client.http.post(conn.token_url, data=data,
                                auth=(conn.client_id, conn.client_secret))
    assert (response.status_code, response.json()) == (status, body)


def test_wrong_method_on_token_endpoint(client: Any) -> None:
    response = client.http.get(client.conn.token_url)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize("path", ["/", "/api/v1/MessageProcessingLogs", "/oauth/authorize"])
def test_other_paths_answer_html_404(client: Any, sandbox: Sandbox, path: str) -> None:
    response = client.http.get(sandbox.urls["xsuaa"] + path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


def test_token_keys_shape_matches_sap(client: Any, sandbox: Sandbox) -> None:
    response = client.http.get(sandbox.urls["xsuaa"] + "/token_keys")
    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert list(key) == ["kty", "e", "use", "kid", "alg", "value", "n"]
    assert (key["kty"], key["e"], key["use"], key["alg"]) == ("RSA", "AQAB", "sig", "RS256")
    assert key["value"].startswith("-----BEGIN PUBLIC KEY-----")
    real = FIXTURES / "xsuaa" / "token_keys.json"
    assert set(key) == set(json.loads(real.read_text())["keys"][0])


def _decode(client: Any, sandbox: Sandbox, token: str) -> dict[str, Any]:
    keys = client.http.get(sandbox.urls["xsuaa"] + "/token_keys").json()["keys"]
    claims: dict[str, Any] = jwt.decode(token, jwt.PyJWK(keys[0]).key, algorithms=["RS256"],
                                        options={"verify_aud": False})
    return claims


def test_token_verifies_with_the_published_key(client: Any, sandbox: Sandbox) -> None:
    token = client.token()
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "jku": sandbox.urls["xsuaa"] + "/token_keys",
                      "kid": header["kid"], "typ": "JWT"}
    assert header["kid"].startswith("default-jwt-key-")
    assert _decode(client, sandbox, token)["sub"] == client.conn.client_id


def test_claims_have_the_real_xsuaa_shape(client: Any, sandbox: Sandbox) -> None:
    claims = _decode(client, sandbox, client.token())
    real = FIXTURES / "xsuaa" / "xsuaa-cc-token-rs256.txt"
    real_claims = jwt.decode(real.read_text().strip(), options={"verify_signature": False})
    assert set(real_claims) <= set(claims)
    conn = client.conn
    xsappname = conn.client_id.split("|")[1]
    assert set(claims["ext_attr"]) == {"enhancer", "subaccountid", "zdn", "serviceinstanceid"}
    assert claims["ext_attr"]["enhancer"] == "XSUAA"
    assert claims["client_id"] == claims["cid"] == claims["azp"] == claims["sub"] == conn.client_id
    assert claims["grant_type"] == "client_credentials"
    assert claims["exp"] - claims["iat"] == 43199
    assert claims["iat"] <= time.time() + 1
    assert claims["iss"] == sandbox.urls["xsuaa"] + "/oauth/token"
    assert claims["aud"] == [conn.client_id, xsappname, "uaa"]


def test_scopes_are_prefixed_permissions_of_the_granted_templates(client: Any) -> None:
    response = client.token_response().json()
    xsappname = client.conn.client_id.split("|")[1]
    expected = [f"{xsappname}.{p}" for p in ("IntegrationOperationServer.read",
                                             "NodeManager.read", "Roles.Read",
                                             "WebToolingWorkspace.Read")]
    expected.append("uaa.resource")
    claims = jwt.decode(response["access_token"], options={"verify_signature": False})
    assert claims["scope"] == expected
    assert claims["authorities"] == expected
    assert response["scope"] == " ".join(expected)


def test_connection_and_service_key_shape(client: Any, sandbox: Sandbox) -> None:
    conn = client.conn
    assert CLIENT_ID.match(conn.client_id)
    assert conn.environment == "cf"
    assert conn.api_url == sandbox.urls["api"]
    assert conn.token_url == sandbox.urls["xsuaa"] + "/oauth/token"
    assert (conn.certificate_path, conn.key_path) == (None, None)
    oauth = conn.service_key["oauth"]
    assert set(oauth) == {"clientid", "clientsecret", "url", "tokenurl", "createdate"}
    assert (oauth["clientid"], oauth["clientsecret"]) == (conn.client_id, conn.client_secret)
    assert (oauth["url"], oauth["tokenurl"]) == (conn.api_url, conn.token_url)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", oauth["createdate"])


def test_token_requests_are_recorded(client: Any, sandbox: Sandbox) -> None:
    before = len(sandbox.requests)
    client.token_response()
    (item,) = sandbox.requests[before:]
    assert (item.host, item.method, item.path, item.status) == (
        "xsuaa", "POST", "/oauth/token", 200)
    assert item.started <= item.finished
