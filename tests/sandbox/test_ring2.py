"""Issue 16's ring of tenant behaviours, over real sockets and TLS: personas, hosts that are not
the API, certificate keys, rate limits, clocks, proxies, the Edge Integration Cell, and smaller
OData facts. Sources and readings: tests/fixtures/sap-behaviour-ring2.md."""

from __future__ import annotations

import base64
import email.utils
import socket
import ssl
import time
from typing import Any

import httpx
import jwt
import pytest

from cpi_preflight.errors import SandboxSpecError
from cpi_preflight.sandbox import Sandbox, SandboxSpec

JSON = {"Accept": "application/json"}
THIRTEEN_HOURS = 13 * 3600


def claims_of(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def statuses(client: Any, token: str, *names: str) -> dict[str, int]:
    return {name: client.api(f"/{name}", token).status_code for name in names}


# --- 1. personas ---------------------------------------------------------------------------------

def test_a_persona_token_carries_only_the_group_role(launch: Any, connect: Any) -> None:
    client = connect(launch({"roles": ["AuthGroup_IntegrationDeveloper"]}))
    response = client.token_response().json()
    xsappname = client.conn.client_id.rsplit("|", 1)[1]
    assert claims_of(response["access_token"])["scope"] == [
        f"{xsappname}.AuthGroup.IntegrationDeveloper", "uaa.resource"]
    assert response["scope"] == f"{xsappname}.AuthGroup.IntegrationDeveloper uaa.resource"


@pytest.mark.parametrize(("role", "allowed", "refused"), [
    # what each persona covers comes from the Persona column of SAP's tasks table
    ("AuthGroup_IntegrationDeveloper",
     ["MessageProcessingLogs", "IntegrationPackages", "DataStores", "AccessPolicies"],
     ["Variables", "Partners"]),
    ("AuthGroup_ReadOnly", ["MessageProcessingLogs", "KeystoreEntries", "AccessPolicies"],
     ["Variables", "Partners"]),
    ("AuthGroup_BusinessExpert", ["MessageProcessingLogs", "Variables"],
     ["AccessPolicies", "Partners"]),
    ("AuthGroup_Administrator", ["MessageProcessingLogs", "AccessPolicies", "DataStores"],
     ["Variables", "Partners"]),
    ("AuthGroup_ContentPublisher", [], ["MessageProcessingLogs"]),
])
def test_the_api_honours_what_a_persona_covers(launch: Any, connect: Any, role: str,
                                               allowed: list[str], refused: list[str]) -> None:
    client = connect(launch({"roles": [role]}))
    token = client.token()
    assert statuses(client, token, *allowed, *refused) == {
        **dict.fromkeys(allowed, 200), **dict.fromkeys(refused, 403)}


@pytest.mark.parametrize(("group", "partners"), [
    ("AuthGroup.SystemDeveloper", 200), ("AuthGroup.IntegrationDeveloper", 200),
    ("AuthGroup.TenantPartnerDirectoryConfigurator", 200), ("AuthGroup.BusinessExpert", 403)])
def test_neo_authorization_groups(launch: Any, connect: Any, group: str, partners: int) -> None:
    client = connect(launch({"roles": [group]}, environment="neo"))
    token = client.token()
    response = client.api("/Partners", token)
    assert response.status_code == partners
    if partners == 403:  # the servlet container's page, as for any missing Neo role
        assert response.headers["content-type"].startswith("text/html")


# --- 2. hosts that are not the API --------------------------------------------------------------

def test_the_runtime_host_answers_an_html_403_everywhere(launch: Any, connect: Any) -> None:
    sandbox = launch({"faults": {"api_url": "runtime"}})
    client = connect(sandbox)
    assert client.conn.api_url == sandbox.urls["runtime"]
    assert client.conn.service_key["oauth"]["url"] == sandbox.urls["runtime"]
    token = client.token()  # the token endpoint is fine
    for path in ("/MessageProcessingLogs", "", "/$metadata"):
        response = client.api(path, token)
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("text/html")
        assert "<title>HTTP Status 403 \u2013 Forbidden</title>" in response.text
    assert client.http.get(sandbox.urls["runtime"] + "/http/orders").status_code == 403


def test_the_integration_suite_host_answers_a_401_login_page(launch: Any, connect: Any) -> None:
    sandbox = launch({"faults": {"api_url": "integration_suite"}})
    client = connect(sandbox)
    response = client.api("/MessageProcessingLogs", client.token())
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert "<form" in response.text
    assert "<title>Log On</title>" in response.text
    assert "www-authenticate" not in response.headers


def test_a_host_without_a_route_answers_from_the_cf_router(launch: Any, connect: Any) -> None:
    sandbox = launch({"faults": {"api_url": "unknown_route"}})
    client = connect(sandbox)
    response = client.api("/MessageProcessingLogs", client.token())
    host = sandbox.urls["router"].removeprefix("https://")
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-cf-routererror"] == "unknown_route"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.text == f"404 Not Found: Requested route ('{host}') does not exist.\n"


# --- 3. certificate keys ------------------------------------------------------------------------

def _cert_token(client: Any, url: str) -> httpx.Response:
    return client.http.post(url, data={"grant_type": "client_credentials",
                                        "client_id": client.conn.client_id})


def test_a_certificate_key_whose_token_url_is_the_plain_host(launch: Any,
                                                             make_client: Any) -> None:
    sandbox = launch({"credential": "certificate", "faults": {"token_url": "plain_authentication"}})
    client = make_client(sandbox, client_cert=True)
    oauth = client.conn.service_key["oauth"]
    assert oauth["tokenurl"] == sandbox.urls["xsuaa"] + "/oauth/token"
    assert oauth["certurl"] == sandbox.urls["xsuaa_cert"]
    plain = _cert_token(client, oauth["tokenurl"])
    assert (plain.status_code, plain.json()) == (
        401, {"error": "invalid_client", "error_description": "Bad credentials"})
    assert _cert_token(client, oauth["certurl"] + "/oauth/token").status_code == 200


def test_a_default_certificate_key_has_no_certurl(launch: Any, connect: Any) -> None:
    sandbox = launch({"credential": "certificate"})
    oauth = connect(sandbox).conn.service_key["oauth"]
    assert "certurl" not in oauth
    assert oauth["tokenurl"] == sandbox.urls["xsuaa_cert"] + "/oauth/token"


def test_an_expired_client_certificate_gets_a_tls_alert(launch: Any, make_client: Any) -> None:
    sandbox = launch({"credential": "certificate", "faults": {"client_cert_expired": True}})
    client = make_client(sandbox, client_cert=True)
    valid_until = client.conn.service_key["oauth"]["certificatedetails"]["validuntil"]
    assert valid_until < time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    with pytest.raises((httpx.ConnectError, httpx.ReadError),
                       match="SSLV3_ALERT_CERTIFICATE_EXPIRED"):
        _cert_token(client, client.conn.token_url)


def test_an_instance_with_only_the_deprecated_client_x509_grant(launch: Any, connect: Any) -> None:
    client = connect(launch({"faults": {"instance_grant_types": ["client_x509"]}}))
    assert client.conn.instance_parameters == {
        "roles": ["MonitoringDataRead", "WorkspacePackagesRead", "DataStoresAndQueuesRead",
                  "AccessPoliciesRead"],
        "grant-types": ["client_x509"], "redirect-uris": []}
    response = client.token_response()
    assert (response.status_code, response.json()) == (
        401, {"error": "invalid_client", "error_description": "Unauthorized grant type"})


def test_instance_parameters_of_a_healthy_client(launch: Any, connect: Any) -> None:
    conn = connect(launch({"roles": ["MonitoringDataRead"]})).conn
    assert conn.instance_parameters == {"roles": ["MonitoringDataRead"],
                                        "grant-types": ["client_credentials"],
                                        "redirect-uris": []}
    assert conn.to_dict()["instance_parameters"] == conn.instance_parameters


# --- 4. rate limits and server errors -----------------------------------------------------------

def test_the_token_endpoint_answers_429_with_retry_after(fresh: Any, connect: Any) -> None:
    client = connect(fresh({"faults": {"too_many_requests": {"token": 2}, "retry_after_s": 7}}))
    first, second = client.token_response(), client.token_response()
    for limited in (first, second):
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "7"
        assert limited.text == "Too Many Requests\n"
    assert client.token_response().status_code == 200


def test_the_api_answers_429_with_retry_after(fresh: Any, connect: Any) -> None:
    client = connect(fresh({"faults": {"too_many_requests": {"MessageProcessingLogs": 1}}}))
    token = client.token()
    limited = client.api("/MessageProcessingLogs", token)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert limited.json() == {"error": {"code": "Too Many Requests", "message": {
        "lang": "en", "value": "Rate limit exceeded; retry later."}}}
    assert client.api("/MessageProcessingLogs", token).status_code == 200
    assert client.api("/IntegrationPackages", token).status_code == 200


def test_a_server_error_carries_its_message_in_odata(launch: Any, connect: Any) -> None:
    client = connect(launch({"faults": {"server_errors": {"DataStores": "always"}}}))
    response = client.api("/DataStores", client.token())
    assert response.status_code == 500
    assert response.json()["error"]["message"]["value"] == (
        "The requested operation led to an error during execution.")


# --- 5. clocks ----------------------------------------------------------------------------------

def test_a_tenant_clock_thirteen_hours_behind(launch: Any, connect: Any) -> None:
    client = connect(launch({"faults": {"clock_offset_s": -THIRTEEN_HOURS}}))
    token = client.token()
    claims, now = claims_of(token), time.time()
    assert abs(claims["iat"] - (now - THIRTEEN_HOURS)) < 60
    assert claims["exp"] - claims["iat"] == 43199
    assert claims["exp"] < now  # "expired" by this machine's clock
    response = client.api("/MessageProcessingLogs", token)
    assert response.status_code == 200  # valid by the tenant's
    tenant_date = email.utils.parsedate_to_datetime(response.headers["date"]).timestamp()
    assert abs(tenant_date - (now - THIRTEEN_HOURS)) < 60


def test_a_tenant_clock_ahead_rejects_a_token_only_by_its_own_time(launch: Any,
                                                                  connect: Any) -> None:
    client = connect(launch({"faults": {"clock_offset_s": 3600, "expired_token": True}}))
    assert client.api("/MessageProcessingLogs", client.token()).status_code == 401


# --- 6. proxies ---------------------------------------------------------------------------------

def _raw_connect(proxy_url: str, target: str, authorization: str | None = None) -> bytes:
    host, port = proxy_url.removeprefix("http://").split(":")
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if authorization:
        lines.append(f"Proxy-Authorization: {authorization}")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data


def _proxied(sandbox: Sandbox, *, credentials: bool) -> httpx.Client:
    conn = sandbox.connection
    assert conn.proxy_url is not None
    auth = None
    if credentials:
        assert conn.proxy_user is not None
        assert conn.proxy_password is not None
        auth = (conn.proxy_user, conn.proxy_password)
    return httpx.Client(proxy=httpx.Proxy(conn.proxy_url, auth=auth),
                        verify=ssl.create_default_context(cafile=conn.ca_path), timeout=10)


def test_a_proxy_asking_for_credentials(launch: Any) -> None:
    sandbox = launch({"faults": {"proxy": "auth_required"}})
    conn = sandbox.connection
    target = conn.api_url.removeprefix("https://")
    refused = _raw_connect(conn.proxy_url or "", target)
    assert refused.startswith(b"HTTP/1.1 407 Proxy Authentication Required\r\n")
    assert b'Proxy-Authenticate: Basic realm="cpi-sandbox-proxy"\r\n' in refused
    with _proxied(sandbox, credentials=False) as anonymous, pytest.raises(
            httpx.ProxyError, match="407"):
        anonymous.get(conn.api_url + "/api/v1/")
    with _proxied(sandbox, credentials=True) as client:
        token = client.post(conn.token_url, data={"grant_type": "client_credentials"},
                            auth=(conn.client_id, conn.client_secret or "")).json()
        api = client.get(conn.api_url + "/api/v1/MessageProcessingLogs",
                         headers={**JSON, "Authorization": f"Bearer {token['access_token']}"})
    assert api.status_code == 200
    through = [(r.method, r.status) for r in sandbox.requests if r.host == "proxy"]
    assert ("CONNECT", 407) in through
    assert ("CONNECT", 200) in through


def test_the_proxy_tunnels_only_to_the_sandbox(launch: Any) -> None:
    sandbox = launch({"faults": {"proxy": "auth_required"}})
    conn = sandbox.connection
    basic = base64.b64encode(f"{conn.proxy_user}:{conn.proxy_password}".encode()).decode()
    answer = _raw_connect(conn.proxy_url or "", "example.com:443", f"Basic {basic}")
    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n")


def test_a_web_filter_answers_with_an_html_block_page(launch: Any) -> None:
    sandbox = launch({"faults": {"proxy": "block_page"}})
    conn = sandbox.connection
    with _proxied(sandbox, credentials=False) as client:
        response = client.post(conn.token_url, data={"grant_type": "client_credentials"},
                               auth=(conn.client_id, conn.client_secret or ""))
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>Access Denied</title>" in response.text
    assert not [r for r in sandbox.requests if r.host != "proxy"]  # nothing reached XSUAA


@pytest.mark.parametrize("host", ["mysub.authentication.eu10.hana.ondemand.com",
                                  "mysub.it-cpi018.cfapps.eu10.hana.ondemand.com"])
def test_a_web_filter_signs_for_the_host_asked_for(launch: Any, host: str) -> None:
    """An inspecting proxy presents a certificate for the requested host, signed by the CA its
    clients trust (here the sandbox's): a profile with a tenant's real host names meets the
    block page without resolving them, since the filter connects nowhere."""
    sandbox = launch({"faults": {"proxy": "block_page"}})
    with _proxied(sandbox, credentials=False) as client:
        response = client.post(f"https://{host}/oauth/token",
                               data={"grant_type": "client_credentials"})
    assert response.status_code == 403
    assert "<title>Access Denied</title>" in response.text
    assert not [r for r in sandbox.requests if r.host != "proxy"]


# --- 8. the Edge Integration Cell ---------------------------------------------------------------

def _edge(client: Any, path: str, **kwargs: Any) -> httpx.Response:
    return client.http.get(client.conn.api_url + path, headers=JSON, **kwargs)


def test_the_edge_local_api_with_basic_credentials(launch: Any, connect: Any) -> None:
    sandbox = launch({"roles": ["MonitoringDataRead", "DataStoresAndQueuesRead"]},
                     environment="edge")
    client = connect(sandbox)
    conn = client.conn
    assert (conn.token_url, conn.service_key, set(sandbox.urls)) == ("", {}, {"api"})
    basic = (conn.client_id, conn.client_secret or "")
    records = _edge(client, "/local/api/v1/MessageProcessingLogs", auth=basic)
    assert records.status_code == 200
    assert records.json()["d"]["results"][0]["__metadata"]["uri"].startswith(
        f"{conn.api_url}/local/api/v1/MessageProcessingLogs(")
    assert _edge(client, "/local/api/v1/JmsBrokers('Broker1')", auth=basic).status_code == 200
    anonymous = _edge(client, "/local/api/v1/MessageProcessingLogs")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Basic realm="edge-integration-cell"'
    without_local = _edge(client, "/api/v1/MessageProcessingLogs", auth=basic)
    assert (without_local.status_code, without_local.content) == (401, b"")
    for hidden in ("NumberRanges", "IntegrationPackages", "NoSuchSet"):
        refused = _edge(client, f"/local/api/v1/{hidden}", auth=basic)
        assert (refused.status_code, refused.content) == (403, b""), hidden


def test_the_edge_local_api_checks_roles(launch: Any, connect: Any) -> None:
    client = connect(launch({"roles": ["WorkspacePackagesRead"]}, environment="edge"))
    basic = (client.conn.client_id, client.conn.client_secret or "")
    response = _edge(client, "/local/api/v1/MessageProcessingLogs", auth=basic)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "Forbidden"


def test_the_edge_local_api_with_a_client_certificate(launch: Any, make_client: Any) -> None:
    sandbox = launch({"credential": "certificate"}, environment="edge")
    with_cert = make_client(sandbox, client_cert=True)
    assert _edge(with_cert, "/local/api/v1/MessageProcessingLogs").status_code == 200
    assert _edge(make_client(sandbox), "/local/api/v1/MessageProcessingLogs").status_code == 401


# --- 9. smaller facts ---------------------------------------------------------------------------

def test_an_entity_set_absent_from_the_tenant(launch: Any, connect: Any) -> None:
    client = connect(launch({"faults": {"absent_entity_sets": ["SecureParameters"]}}))
    token = client.token()
    response = client.api("/SecureParameters", token)
    assert response.status_code == 404
    assert response.json()["error"]["message"]["value"] == (
        "Resource not found for segment 'SecureParameters'.")
    assert "SecureParameters" not in client.api("", token).json()["d"]["EntitySets"]


@pytest.mark.parametrize(("accept", "status"), [
    ("application/json", 406), ("text/plain", 200), ("application/json, text/plain", 200),
    ("*/*", 200), (None, 200)])
def test_count_with_a_strict_accept(launch: Any, connect: Any, accept: str | None,
                                    status: int) -> None:
    client = connect(launch({"faults": {"count_accept_strict": True}}))
    headers = {} if accept is None else {"Accept": accept}
    response = client.api("/MessageProcessingLogs/$count", client.token(), headers=headers)
    assert response.status_code == status


def test_count_is_lenient_by_default(launch: Any, connect: Any) -> None:
    client = connect(launch())
    response = client.api("/MessageProcessingLogs/$count", client.token())
    assert (response.status_code, response.text) == (200, "2")


# --- the spec -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("mapping", "environment", "message"), [
    ({"faults": {"client_cert_expired": True}}, "cf",
     "sandbox.faults.client_cert_expired: only a certificate key has a client certificate; set "
     "sandbox.credential: certificate"),
    ({"faults": {"token_url": "plain_authentication"}}, "cf",
     "sandbox.faults.token_url: 'plain_authentication' is the secret host; it is a fault only "
     "for a certificate key (sandbox.credential: certificate)"),
    ({"faults": {"clock_offset_s": 10**7}}, "cf",
     "sandbox.faults.clock_offset_s: expected seconds between -864000 and 864000 (the tenant's "
     "clock minus this machine's, e.g. -46800 for 13 hours behind), got 10000000"),
    ({"faults": {"too_many_requests": {"token": 1}}}, "neo",
     "sandbox.faults.too_many_requests.token: only XSUAA's rate limit (429 with Retry-After) is "
     "documented; cf only"),
    ({"faults": {"too_many_requests": {"tokn": 1}}}, "cf",
     "sandbox.faults.too_many_requests.tokn: unknown entity set; did you mean 'token'?"),
    ({"faults": {"instance_grant_types": ["client_x590"]}}, "cf",
     "sandbox.faults.instance_grant_types[0]: unknown grant type 'client_x590'; did you mean "
     "'client_x509'?"),
    ({"faults": {"instance_grant_types": ["client_x509"], "grant_type_disabled": True}}, "cf",
     "sandbox.faults.instance_grant_types: grant_type_disabled already sets the instance's grant "
     "types to none; use one of the two"),
    ({"faults": {"proxy": "basic"}}, "cf",
     "sandbox.faults.proxy: 'basic' is not one of none, auth_required, block_page; valid values: "
     "none, auth_required, block_page"),
    ({"faults": {"api_url": "runtime"}}, "neo",
     "sandbox.faults.api_url: 'runtime' is a Cloud Foundry host; on neo use api or ui"),
    ({"faults": {"api_url": "ui"}}, "edge",
     "sandbox.faults.api_url: the Edge Integration Cell's local API has one host, its virtual "
     "host; only 'api' is possible"),
    ({"faults": {"expired_token": True}}, "edge",
     "sandbox.faults.expired_token: the Edge Integration Cell's local API takes Basic "
     "credentials or a client certificate; it has no token endpoint"),
    ({"extra_scopes": ["Custom.Read"]}, "edge",
     "sandbox.extra_scopes: the Edge Integration Cell's local API takes no token, so there are "
     "no scopes; name role templates in sandbox.roles"),
    ({"roles": ["IntegrationOperationServer.read"]}, "edge",
     "sandbox.roles[0]: 'IntegrationOperationServer.read' is a Neo role; on edge name the role "
     "template that grants it (e.g. 'MonitoringDataRead')"),
])
def test_new_spec_errors(mapping: dict[str, Any], environment: str, message: str) -> None:
    with pytest.raises(SandboxSpecError) as caught:
        SandboxSpec.from_mapping(mapping, environment=environment, source="p.yaml")
    assert str(caught.value) == f"p.yaml: {message}"


def test_the_printed_proxy_variable_carries_encoded_credentials(launch: Any) -> None:
    from cpi_preflight.sandbox.describe import describe, proxy_with_credentials

    sandbox = launch({"faults": {"proxy": "auth_required"}})
    conn = sandbox.connection
    assert conn.proxy_password is not None
    assert set("&$") <= set(conn.proxy_password)
    encoded = proxy_with_credentials(conn)
    port = (conn.proxy_url or "").rsplit(":", 1)[1]
    password = conn.proxy_password.replace("&", "%26").replace("$", "%24")
    assert encoded == f"http://proxy-user:{password}@127.0.0.1:{port}"
    assert f"  export HTTPS_PROXY={encoded}" in describe(sandbox, 1, 1).splitlines()
    blocked = launch({"faults": {"proxy": "block_page"}}).connection
    assert (blocked.proxy_user, blocked.proxy_password) == (None, None)
