"""Every fault on CF: credentials, plans, zones, wrong hosts, errors, latency, resets."""

from __future__ import annotations

import os
import re
import socket
import ssl
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest

from cpi_preflight.errors import SandboxSpecError
from cpi_preflight.sandbox import SandboxSpec
from cpi_preflight.sandbox.behaviour import load_behaviour, read_data_file

UNAUTHORIZED = {"error": {"code": "Unauthorized", "message": {
    "lang": "en", "value": "Authorization information is missing or invalid."}}}
FORBIDDEN = {"error": {"code": "Forbidden", "message": {
    "lang": "en", "value": "The required permissions to access the resource are missing."}}}


def claims_of(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def test_wrong_secret(launch: Any, connect: Any) -> None:
    client = connect(launch({"faults": {"wrong_secret": True}}))
    assert client.conn.service_key["oauth"]["clientsecret"] == client.conn.client_secret
    assert set("$=+/") <= set(client.conn.client_secret)
    response = client.token_response()
    assert (response.status_code, response.json()) == (
        401, {"error": "invalid_client", "error_description": "Bad credentials"})


def test_grant_type_disabled(launch: Any, connect: Any) -> None:
    response = connect(launch({"faults": {"grant_type_disabled": True}})).token_response()
    assert (response.status_code, response.json()) == (
        401, {"error": "invalid_client", "error_description": "Unauthorized grant type"})


def test_integration_flow_plan(launch: Any, connect: Any) -> None:
    client = connect(launch({"faults": {"integration_flow_plan": True}}))
    match = re.fullmatch(r"sb-[0-9a-f-]{36}!b\d+\|(it-rt-sandbox-[0-9a-f]{8}!b\d+)",
                         client.conn.client_id)
    assert match, client.conn.client_id
    app = match.group(1)
    response = client.token_response().json()
    claims = claims_of(response["access_token"])
    assert claims["scope"] == [f"{app}.ESBMessaging.send", "uaa.resource"]
    assert response["scope"] == f"{app}.ESBMessaging.send uaa.resource"
    assert claims["aud"] == [client.conn.client_id, app, "uaa"]
    api = client.api("/MessageProcessingLogs", response["access_token"])
    assert (api.status_code, api.json()) == (403, FORBIDDEN)


def test_foreign_zone(launch: Any, connect: Any) -> None:
    client = connect(launch({"faults": {"foreign_zone": True}}))
    token = client.token()
    assert claims_of(token)["ext_attr"]["zdn"].startswith("foreign-")
    response = client.api("/MessageProcessingLogs", token)
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


def test_expired_token(launch: Any, connect: Any) -> None:
    client = connect(launch({"faults": {"expired_token": True}}))
    token = client.token()
    assert claims_of(token)["exp"] < time.time()
    response = client.api("/MessageProcessingLogs", token)
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


def test_api_url_on_the_ui_host_redirects_to_a_login_page(launch: Any, connect: Any) -> None:
    sandbox = launch({"faults": {"api_url": "ui"}})
    client = connect(sandbox)
    assert client.conn.api_url == sandbox.urls["ui"]
    assert client.conn.service_key["oauth"]["url"] == sandbox.urls["ui"]
    response = client.api("/MessageProcessingLogs", client.token())
    assert response.status_code == 302
    assert response.headers["location"].startswith("/login?")
    login = client.http.get(sandbox.urls["ui"] + response.headers["location"])
    assert login.status_code == 200
    assert login.headers["content-type"].startswith("text/html")
    assert "<form" in login.text


@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("GET", "/itspaces"),
                                              ("POST", "/oauth/token"), ("HEAD", "/api/v1/")])
def test_ui_host_redirects_everything_else(launch: Any, connect: Any, method: str,
                                           path: str) -> None:
    sandbox = launch({"faults": {"api_url": "ui"}})
    response = connect(sandbox).http.request(method, sandbox.urls["ui"] + path)
    assert response.status_code == 302
    assert response.headers["location"].startswith("/login")


def test_api_url_on_the_xsuaa_host_is_html_404(launch: Any, connect: Any) -> None:
    sandbox = launch({"faults": {"api_url": "xsuaa"}})
    client = connect(sandbox)
    assert client.conn.api_url == sandbox.urls["xsuaa"]
    response = client.api("/MessageProcessingLogs", client.token())
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


def test_token_url_on_the_api_host_is_html_404(launch: Any, connect: Any) -> None:
    sandbox = launch({"faults": {"token_url": "api"}})
    client = connect(sandbox)
    assert client.conn.token_url == sandbox.urls["api"] + "/oauth/token"
    response = client.token_response()
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


def test_token_url_on_the_ui_host_redirects(launch: Any, connect: Any) -> None:
    sandbox = launch({"faults": {"token_url": "ui"}})
    client = connect(sandbox)
    assert client.conn.token_url == sandbox.urls["ui"] + "/oauth/token"
    response = client.token_response()
    assert response.status_code == 302
    assert response.headers["location"].startswith("/login")


def test_server_errors_recover_after_n_and_always_stays(fresh: Any, connect: Any) -> None:
    errors = {"MessageProcessingLogs": 2, "IntegrationPackages": "always"}
    client = connect(fresh({"faults": {"server_errors": errors}}))
    token = client.token()
    statuses = [client.api("/MessageProcessingLogs", token).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    first = client.api("/MessageProcessingLogs", headers={"Accept": "application/json"})
    assert first.status_code == 401  # recovered: now the token check answers
    always = [client.api("/IntegrationPackages", token) for _ in range(3)]
    assert [r.status_code for r in always] == [500, 500, 500]
    assert always[0].json()["error"]["code"] == "Internal Server Error"


def test_server_error_body_is_odata(fresh: Any, connect: Any) -> None:
    client = connect(fresh({"faults": {"server_errors": {"DataStores": 1}}}))
    response = client.api("/DataStores", client.token())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "Service Unavailable"


def _raw_get(ca_path: str, url: str, path: str) -> bytes:
    parts = urlsplit(url)
    context = ssl.create_default_context(cafile=ca_path)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=parts.hostname) as tls:
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        return tls.recv(65536)


def _tcp_outcome_after(ca_path: str, url: str, path: str) -> str:
    """Send a request over TLS, then read the raw TCP stream: 'RST', 'FIN' or 'data'."""
    parts = urlsplit(url)
    context = ssl.create_default_context(cafile=ca_path)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=parts.hostname) as tls:
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        with socket.socket(fileno=os.dup(tls.fileno())) as plain:  # below the TLS layer
            plain.settimeout(5)
            try:
                return "data" if plain.recv(65536) else "FIN"
            except ConnectionResetError:
                return "RST"


def test_connection_resets_send_rst_then_recover(fresh: Any, connect: Any) -> None:
    sandbox = fresh({"faults": {"connection_resets": {"MessageProcessingLogs": 2}}})
    client = connect(sandbox)
    ca, api = sandbox.connection.ca_path, sandbox.connection.api_url
    assert _tcp_outcome_after(ca, api, "/api/v1/MessageProcessingLogs") == "RST"
    # Python's ssl module reports a reset under TLS as an unexpected EOF
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        client.api("/MessageProcessingLogs", "any")
    assert client.api("/MessageProcessingLogs", client.token()).status_code == 200
    assert _tcp_outcome_after(ca, api, "/api/v1/MessageProcessingLogs") == "data"
    statuses = [r.status for r in sandbox.requests if r.host == "api"]
    assert statuses == [None, None, 200, 401]


def test_latency_makes_requests_overlap_not_queue(fresh: Any) -> None:
    sandbox = fresh({"faults": {"latency_ms": 300}})
    ca, api = sandbox.connection.ca_path, sandbox.connection.api_url
    threads = [threading.Thread(target=_tcp_outcome_after, args=(ca, api, f"/api/v1/?n={i}"))
               for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorded = [r for r in sandbox.requests if r.host == "api"]
    assert len(recorded) == 4
    assert max(r.started for r in recorded) < min(r.finished for r in recorded)
    assert all(r.status == 401 for r in recorded)


def test_token_latency_delays_only_the_token_endpoint(fresh: Any, connect: Any) -> None:
    sandbox = fresh({"faults": {"token_latency_ms": 200}})
    client = connect(sandbox)
    client.token()
    (token_request,) = [r for r in sandbox.requests if r.host == "xsuaa"]
    assert token_request.finished - token_request.started >= 0.19  # a lower bound by design


def test_dead_api_host_refuses_connections(launch: Any, connect: Any) -> None:
    sandbox = launch({"faults": {"dead_host": "api"}})
    client = connect(sandbox)
    assert client.conn.api_url == sandbox.urls["api"]
    token = client.token()
    with pytest.raises(httpx.ConnectError):
        client.api("/MessageProcessingLogs", token)


def test_a_dead_host_s_port_stays_reserved_while_the_sandbox_runs(launch: Any) -> None:
    import socket
    from urllib.parse import urlsplit

    sandbox = launch({"faults": {"dead_host": "api"}})
    port = urlsplit(sandbox.urls["api"]).port
    with socket.socket() as other, pytest.raises(OSError, match="Address already in use"):
        other.bind(("127.0.0.1", port))  # another server cannot take it and answer instead
    sandbox.stop()
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))  # released on stop


def test_dead_token_host_refuses_connections(launch: Any, connect: Any) -> None:
    sandbox = launch({"faults": {"dead_host": "token"}})
    client = connect(sandbox)
    assert client.conn.token_url == sandbox.urls["xsuaa"] + "/oauth/token"
    with pytest.raises(httpx.ConnectError):
        client.token_response()
    assert client.api("/MessageProcessingLogs").status_code == 401


# --- refused despite the scopes, rejected queries, HTML 503 ---------------------------------


def test_a_pending_role_is_in_the_token_but_not_honoured(fresh: Any, connect: Any) -> None:
    client = connect(fresh({"roles": ["MonitoringDataRead", "WorkspacePackagesRead"],
                            "faults": {"pending_roles": ["WorkspacePackagesRead"]}}))
    token = client.token()
    assert any(s.endswith(".WebToolingWorkspace.Read") for s in claims_of(token)["scope"])
    refused = client.api("/IntegrationPackages", token)
    assert (refused.status_code, refused.json()) == (403, FORBIDDEN)
    assert client.api("/MessageProcessingLogs", token).status_code == 200


def test_a_pending_permission_another_role_grants_stays_honoured(fresh: Any,
                                                                  connect: Any) -> None:
    client = connect(fresh({"roles": ["MonitoringDataRead", "DataStoresAndQueuesRead"],
                            "faults": {"pending_roles": ["DataStoresAndQueuesRead"]}}))
    token = client.token()
    assert client.api("/NumberRanges", token).status_code == 200  # IOS.read: also Monitoring
    assert client.api("/DataStores", token).status_code == 403


def test_an_access_policy_refuses_with_an_empty_403(fresh: Any, connect: Any) -> None:
    client = connect(fresh({"roles": ["MonitoringDataRead"],
                            "faults": {"access_policy": ["IntegrationRuntimeArtifacts"]}}))
    token = client.token()
    refused = client.api("/IntegrationRuntimeArtifacts", token)
    assert (refused.status_code, refused.content) == (403, b"")
    assert client.api("/MessageProcessingLogs", token).status_code == 200


def test_access_all_passes_the_access_policy(fresh: Any, connect: Any) -> None:
    client = connect(fresh({"roles": ["MonitoringDataRead", "AccessAllAccessPoliciesArtifacts"],
                            "faults": {"access_policy": ["IntegrationRuntimeArtifacts"]}}))
    assert client.api("/IntegrationRuntimeArtifacts", client.token()).status_code == 200


def test_a_rejected_query_option_is_an_odata_400(fresh: Any, connect: Any) -> None:
    client = connect(fresh({"faults": {"query_rejections": {"NumberRanges": "$top"}}}))
    token = client.token()
    refused = client.api("/NumberRanges", token, params={"$top": "1"})
    assert (refused.status_code, refused.json()) == (400, {"error": {
        "code": "Bad Request", "message": {
            "lang": "en", "value": "The query option $top is not supported for this resource."}}})
    assert client.api("/NumberRanges", token).status_code == 200


def test_a_missing_query_parameter_is_an_odata_400(fresh: Any, connect: Any) -> None:
    client = connect(fresh({"faults": {"query_rejections": {"DataStores": "id"}}}))
    token = client.token()
    refused = client.api("/DataStores", token)
    assert refused.status_code == 400
    assert refused.json()["error"]["message"]["value"] == (
        "The required query parameter 'id' is missing.")
    assert client.api("/DataStores", token, params={"id": "x"}).status_code == 200


def test_an_unavailable_page_is_a_persistent_html_503(fresh: Any, connect: Any) -> None:
    client = connect(fresh({"faults": {"unavailable_pages": ["NumberRanges"]}}))
    token = client.token()
    answers = [client.api("/NumberRanges", token) for _ in range(3)]
    assert [r.status_code for r in answers] == [503, 503, 503]
    assert answers[0].headers["content-type"].startswith("text/html")
    assert "<title>503 Service Unavailable</title>" in answers[0].text
    assert client.api("/MessageProcessingLogs", token).status_code == 200


@pytest.mark.parametrize(("faults", "message"), [
    ({"pending_roles": ["WorkspacePackagesRead"]},
     "sandbox.faults.pending_roles[0]: 'WorkspacePackagesRead' is not in sandbox.roles; only a "
     "granted role can be not yet effective"),
    ({"access_policy": ["NumberRange"]},
     "sandbox.faults.access_policy[0]: unknown entity set 'NumberRange'; did you mean "
     "'NumberRanges'?"),
    ({"unavailable_pages": "x"},
     "sandbox.faults.unavailable_pages[0]: unknown entity set 'x'; valid entity sets: "),
    ({"query_rejections": {"NumberRanges": 1}},
     "sandbox.faults.query_rejections.NumberRanges: expected a query option such as '$top' or "
     "a parameter name such as 'id', got 1"),
])
def test_new_faults_are_validated(faults: dict[str, Any], message: str) -> None:
    with pytest.raises(SandboxSpecError) as caught:
        SandboxSpec.from_mapping({"roles": ["MonitoringDataRead"], "faults": faults},
                                 environment="cf", source="p.yaml")
    assert str(caught.value).startswith(f"p.yaml: {message}")


def test_the_table_names_source_and_confidence_of_each_new_behaviour() -> None:
    raw = read_data_file("sap_behaviour.yaml")
    sources = set(raw["sources"])
    for section in ("plain_answers", "fault_behaviours"):
        for name, entry in raw[section].items():
            assert entry["source"] in sources, name
            assert entry["confidence"] in ("documented", "inferred", "unconfirmed"), name
    described = set(load_behaviour().fault_behaviours)
    assert described == {"access_policy", "pending_roles", "query_rejections",
                         "unavailable_pages", "token_body_dropped",
                         # issue 16
                         "api_url", "token_url", "client_cert_expired", "instance_grant_types",
                         "too_many_requests", "clock_offset_s", "proxy", "absent_entity_sets",
                         "count_accept_strict"}


def test_a_dropped_token_body_hides_the_grant_type(fresh: Any, connect: Any) -> None:
    client = connect(fresh({"faults": {"token_body_dropped": True}}))
    response = client.token_response()
    assert (response.status_code, response.json()) == (
        400, {"error": "invalid_request", "error_description": "Missing grant type"})
    url = client.conn.token_url
    in_query = client.http.post(url, params={"grant_type": "client_credentials"},
                                auth=(client.conn.client_id, client.conn.client_secret))
    assert in_query.status_code == 200
