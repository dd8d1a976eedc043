"""Answers that do not come from the Cloud Integration API or XSUAA (issue 16, items 2, 4, 6):
hosts whose shape says they are not the API, HTML pages where the API answers OData JSON, the
Cloud Foundry router, rate limits, server errors with OData messages, and proxies (respx, and a
real CONNECT proxy on loopback), word for word."""

from __future__ import annotations

import asyncio
import functools
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from cpi_preflight import probe, transport
from cpi_preflight.connections import Clients
from cpi_preflight.findings import FAILED, PASSED, SKIPPED
from cpi_preflight.observation import Exchange

from .conftest import (
    API_URL,
    MONITORING_SCOPES,
    NEO_API_URL,
    NEO_TOKEN_URL,
    ODATA_OK,
    TOKEN_HOST,
    TOKEN_URL,
    Signer,
    Tenant,
    cf_data,
    neo_data,
    odata_error,
)
from .test_diagnosis import (
    API_HOST,
    assert_failed,
    assert_skipped,
    diagnose,
    fix,
    issue_token,
    neo_token,
    only_finding,
    skipped_for,
)

RT_HOST = "sub.it-cpi018-rt.cfapps.eu10.hana.ondemand.com"
CPI_HOST = "sub.it-cpi018.cfapps.eu10.hana.ondemand.com"
XSUAA_HOST = "sub.authentication.eu10.hana.ondemand.com"
XSUAA_URL = f"https://{XSUAA_HOST}/oauth/token"
NOT_DECIDED = "not decided: {} could not be checked (RATE_LIMITED); rerun later"
# The fix texts of this ring's codes as the user reads them.
RING_FIX = {
    "RATE_LIMITED": (
        "Rerun after the time Retry-After names (the message says what the tool waited: at "
        "most 10 s before each retry). If it recurs, lower the load on the subaccount: fewer "
        "requests at once (--max-per-host), scheduled runs spread in time, and other clients "
        "of the subaccount reusing their tokens instead of fetching one per call (SAP: tokens "
        "are meant to be reused)."),
    "PROXY_AUTH_REQUIRED": (
        "Put the proxy's user name and password into the proxy variable the message names, "
        "e.g. `export HTTPS_PROXY='http://<user>:<password>@<proxy-host>:<port>'` (single quotes; "
        "percent-encode @ : / % in them as %40 %3A %2F %25); cpi-preflight masks them in every "
        "report and log. They are sent as Basic proxy authentication: a proxy that accepts only "
        "NTLM or Kerberos needs a local relay that signs in for you (point HTTPS_PROXY at the "
        "relay). If this machine may reach {host} directly, list it in NO_PROXY instead."),
    "INTERCEPTED": (
        "The message names who answered: a proxy variable, or the title of the page. Ask "
        "whoever runs it to allow HTTPS "
        "to {host} (the token request is a POST), or route around it: NO_PROXY for hosts this "
        "machine may reach directly, HTTPS_PROXY for the proxy it should use. `curl -v` with "
        "the same URL from this machine shows who answers."),
}


def ring_fix(code: str, **values: str) -> str:
    return RING_FIX[code].format(**values)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe, "RetryPolicy", functools.partial(
        transport.RetryPolicy, base_delay=0.001, max_delay=0.001))
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                 "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def neo_tenant(tenant: Tenant) -> Tenant:
    tenant.api_root = f"{NEO_API_URL}/api/v1"
    tenant.token_url = NEO_TOKEN_URL
    return tenant


# --- hosts whose shape says they are not the API: decided before any call -------------------


def test_the_runtime_host_is_named_before_any_call(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api_root = f"https://{RT_HOST}/api/v1"
    route = tenant.api("/MessageProcessingLogs", 403, html="<html><title>403</title></html>")
    verdicts = diagnose(cf_data(api_url=f"https://{RT_HOST}", endpoints=[
        "MessageProcessingLogs"]))
    assert_failed(verdicts["api"], "API_URL_WRONG",
                  f"api_url https://{RT_HOST} is the tenant's runtime host (-rt), which serves "
                  "integration flows (plan integration-flow), not the API: the API is at "
                  f"https://{CPI_HOST} (the url of a service key of plan api); not called",
                  fix("API_URL_WRONG"))
    assert route.call_count == 0
    assert verdicts["token"].outcome == PASSED
    assert_skipped(verdicts["endpoint[MessageProcessingLogs]"],
                   skipped_for("api", FAILED, "API_URL_WRONG"))
    role = verdicts["role[MonitoringDataRead]"]
    assert (role.outcome, role.summary) == (SKIPPED, (
        "role MonitoringDataRead: granted in the token (it carries its scopes); not proven: no "
        "call succeeded (api failed (API_URL_WRONG))"))


def test_the_integration_suite_ui_is_named_before_any_call(tenant: Tenant,
                                                           signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    ui = "https://sub.integrationsuite.cfapps.eu10.hana.ondemand.com"
    verdicts = diagnose(cf_data(api_url=f"{ui}/shell/home"))
    assert_failed(verdicts["api"], "API_URL_WRONG",
                  f"api_url {ui} is the Integration Suite web UI (.integrationsuite), which "
                  "answers with its login page: the API is at "
                  "https://sub.it-cpi<nnn>.cfapps.eu10.hana.ondemand.com (the url of a service "
                  "key of plan api); not called", fix("API_URL_WRONG"))
    assert tenant.router.calls.call_count == 2  # the token and its keys, no API call


def test_a_neo_runtime_host_is_named_before_any_call(neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    iflmap = "https://acct-iflmap.hci.eu1.hana.ondemand.com"
    verdicts = diagnose(neo_data(api_url=iflmap))
    assert_failed(verdicts["api"], "API_URL_WRONG",
                  f"api_url {iflmap} is the Neo tenant's runtime host (-iflmap), which serves "
                  f"integration flows, not the API: the API is at {NEO_API_URL} (the url of a "
                  "service key of plan api); not called", fix("API_URL_WRONG", "neo"))


def test_a_wrong_api_host_is_named_even_when_the_token_failed(tenant: Tenant) -> None:
    tenant.token(401, json={"error": "invalid_client", "error_description": "Bad credentials"})
    tenant.keys({"keys": []})
    verdicts = diagnose(cf_data(api_url=f"https://{RT_HOST}/"))
    assert [(v.check.id, v.code) for v in verdicts.values() if v.outcome == FAILED] == [
        ("token", "CLIENT_CREDENTIALS_REJECTED"), ("api", "API_URL_WRONG")]


# --- HTML 401/403 on Cloud Foundry: the API answers its errors as OData JSON -------------------


def test_an_html_403_from_every_call_is_a_wrong_host_not_a_role(tenant: Tenant,
                                                                signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    page = "<html><head><title>HTTP Status 403 - Forbidden</title></head></html>"
    tenant.api("/MessageProcessingLogs", 403, html=page)
    tenant.api("/IntegrationRuntimeArtifacts", 403, html=page)
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs",
                                           "IntegrationRuntimeArtifacts"]))
    assert_failed(verdicts["api"], "API_URL_WRONG",
                  f"api_url {API_URL} is not the Cloud Integration API on Cloud Foundry: every "
                  "call answered with an HTML page, where the API answers errors as OData JSON: "
                  "GET /api/v1/MessageProcessingLogs answered 403 (HTML page \"HTTP Status 403 - "
                  "Forbidden\")", fix("API_URL_WRONG"))
    assert not any(v.code.startswith("ROLE_") for v in verdicts.values())


def test_an_html_401_login_page_is_a_wrong_host_not_a_rejected_token(tenant: Tenant,
                                                                      signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 401,
               html="<!DOCTYPE html><html><title>Sign In | SAP Integration Suite</title></html>")
    verdicts = diagnose(cf_data())
    assert_failed(verdicts["api"], "API_URL_WRONG",
                  f"api_url {API_URL} is not the Cloud Integration API on Cloud Foundry: every "
                  "call answered with an HTML page, where the API answers errors as OData JSON: "
                  "GET /api/v1/MessageProcessingLogs answered 401 (HTML page \"Sign In | SAP "
                  "Integration Suite\")", fix("API_URL_WRONG"))


def test_an_html_page_from_a_host_of_the_api_s_shape_came_from_in_between(
        tenant: Tenant, signer: Signer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api_root = f"https://{CPI_HOST}/api/v1"
    tenant.api("/MessageProcessingLogs", 403,
               html="<html><title>Access Denied - Web Filter</title></html>")
    verdicts = diagnose(cf_data(api_url=f"https://{CPI_HOST}"))
    assert_failed(verdicts["api"], "INTERCEPTED",
                  f"api_url https://{CPI_HOST} has the documented shape, but something between "
                  "this machine and SAP answered: every call answered with an HTML page, where "
                  "the API answers errors as OData JSON: GET /api/v1/MessageProcessingLogs "
                  "answered 403 (HTML page \"Access Denied - Web Filter\"); requests to "
                  f"{CPI_HOST} go through the proxy of HTTPS_PROXY=http://proxy.corp:3128",
                  ring_fix("INTERCEPTED", host=CPI_HOST))


def test_the_router_s_unknown_route_is_quoted_and_explained(tenant: Tenant,
                                                            signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 404,
               text=f"Requested route ('{API_HOST}') does not exist.",
               headers={"X-Cf-Routererror": "unknown_route"})
    verdicts = diagnose(cf_data())
    assert_failed(verdicts["api"], "API_URL_WRONG",
                  f"api_url {API_URL} is not the Cloud Integration API: the Cloud Foundry router "
                  f"answered GET /api/v1/MessageProcessingLogs with 404 \"Requested route "
                  f"('{API_HOST}') does not exist.\" (X-Cf-Routererror: unknown_route): no "
                  "application has this host name, which usually means the tenant was deleted, "
                  "the trial expired, or the host name is mistyped", fix("API_URL_WRONG"))


def test_a_path_after_the_host_is_named_when_the_calls_show_the_url_is_wrong(
        tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api_root = f"{API_URL}/cpi/api/v1"
    tenant.api("/MessageProcessingLogs", 404, html="<html>no</html>")
    verdicts = diagnose(cf_data(api_url=f"{API_URL}/cpi"))
    assert only_finding(verdicts["api"]).message == (
        f"api_url {API_URL}/cpi is not the Cloud Integration API: GET "
        "/api/v1/MessageProcessingLogs answered 404 with an HTML page; api_url has the path /cpi "
        "after the host, and the API is at the root of the tenant's host (the service key's url "
        "has no path)")


def test_a_401_that_is_no_odata_from_a_foreign_host_names_edge_integration_cell(
        tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 401)
    verdicts = diagnose(cf_data())
    assert only_finding(verdicts["api"]).message == (
        f"the API at {API_HOST} rejected a freshly issued token: GET "
        f"/api/v1/MessageProcessingLogs answered 401 (empty body); the token was issued by "
        f"{TOKEN_URL} for identity zone zone-1; if {API_HOST} is an Edge Integration Cell's "
        "virtual host: its local API is under /local and takes no token, and cpi-preflight does "
        "not check it yet")


# --- 429: its own verdict; what depends on it is not decided ---------------------------------


def test_a_rate_limited_token_endpoint(tenant: Tenant) -> None:
    tenant.token(429, headers={"Retry-After": "0"})
    tenant.keys({"keys": []})
    verdicts = diagnose(cf_data(attempts=2, endpoints=["MessageProcessingLogs"]))
    assert_failed(verdicts["token"], "RATE_LIMITED",
                  f"token endpoint {TOKEN_HOST} answered 429 Too Many Requests (2 attempts; "
                  "Retry-After: 0; waited 0.0 s in all, at most 10 s before each retry): XSUAA "
                  "limits token requests per subaccount (up to 60 a second at once, then queued, "
                  "then 429 with Retry-After); the check could not be decided",
                  ring_fix("RATE_LIMITED"))
    for check in ("api", "role[MonitoringDataRead]", "least-privilege"):
        assert_skipped(verdicts[check], NOT_DECIDED.format("token"))
    assert tenant.calls["token"].call_count == 2


def test_an_api_that_answers_only_429(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 429)
    tenant.api("/NumberRanges", 429)
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "NumberRanges"]))
    assert_failed(verdicts["api"], "RATE_LIMITED",
                  f"the API at {API_HOST} (2 calls) answered 429 Too Many Requests (1 attempt; "
                  "no Retry-After): the Cloud Integration API documents 429 as 'rate limit "
                  "exceeded'; the check could not be decided", ring_fix("RATE_LIMITED"))
    for name in ("MessageProcessingLogs", "NumberRanges"):
        assert_skipped(verdicts[f"endpoint[{name}]"], NOT_DECIDED.format("api"))
    # the token's scopes tell, but without a successful call the role is not proven
    assert_skipped(verdicts["role[MonitoringDataRead]"],
                   "role MonitoringDataRead: granted in the token (it carries its scopes); not "
                   "proven: no call succeeded (api failed (RATE_LIMITED))")


def test_one_rate_limited_endpoint_fails_alone(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/NumberRanges", 429, headers={"Retry-After": "0"})
    verdicts = diagnose(cf_data(attempts=3, endpoints=["MessageProcessingLogs",
                                                       "NumberRanges"]))
    assert_failed(verdicts["endpoint[NumberRanges]"], "RATE_LIMITED",
                  "GET /api/v1/NumberRanges answered 429 Too Many Requests (3 attempts; "
                  "Retry-After: 0; waited 0.0 s in all, at most 10 s before each retry): the "
                  "Cloud Integration API documents 429 as 'rate limit exceeded'; the check could "
                  "not be decided", ring_fix("RATE_LIMITED"))
    assert [v.check.id for v in verdicts.values() if v.outcome == FAILED] == [
        "endpoint[NumberRanges]"]


def test_the_sender_records_what_it_waited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport.RetryPolicy, "delay", lambda self, attempt, hint: 0.01)
    answers = iter([httpx.Response(429), httpx.Response(503), httpx.Response(200)])
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: next(answers)))

    async def send() -> Exchange:
        clients = Clients(lambda _: client, http2=False, per_host=10)
        sender = transport.Sender(clients, transport.Limits(), transport.RetryPolicy(3), 60)
        return await sender.exchange(httpx.Request("GET", "https://h.example/x"))

    exchange = asyncio.run(send())
    assert [a.status for a in exchange.attempts] == [429, 503, 200]
    assert exchange.waited_ms == pytest.approx(20.0)


# --- SERVER_ERROR quotes the API's OData message ----------------------------------------------


def test_an_api_with_only_server_errors_quotes_its_odata_message(tenant: Tenant,
                                                                 signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 500, json=odata_error(
        "Unable to read from the message store", "Internal Server Error"))
    verdicts = diagnose(cf_data())
    assert_failed(verdicts["api"], "SERVER_ERROR",
                  f"the API at {API_HOST} answered only server errors (500) to 1 call; the API "
                  "said \"Unable to read from the message store\"", fix("SERVER_ERROR"))


# --- proxies and what answers in between ------------------------------------------------------


class RefusingProxy:
    """A proxy on loopback that answers every CONNECT with `status`; remembers the requests."""

    def __init__(self, status: str) -> None:
        self.status = status
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            with client:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = client.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                self.requests.append(head)
                client.sendall(f"HTTP/1.1 {self.status}\r\nContent-Length: 0\r\n"
                               "Proxy-Authenticate: Basic realm=\"corp\"\r\n\r\n".encode())


@pytest.fixture
def proxy_407() -> Iterator[RefusingProxy]:
    proxy = RefusingProxy("407 Proxy Authentication Required")
    yield proxy
    proxy.server.close()


def test_a_proxy_that_wants_credentials(proxy_407: RefusingProxy,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy_407.url)
    verdicts = diagnose(cf_data(token_url=XSUAA_URL))
    assert_failed(verdicts["token"], "PROXY_AUTH_REQUIRED",
                  f"the proxy requires authentication: the proxy of HTTPS_PROXY={proxy_407.url} "
                  "answered 407 Proxy Authentication Required to the request for token endpoint "
                  f"{XSUAA_HOST}; no user name and password are given there",
                  ring_fix("PROXY_AUTH_REQUIRED", host=XSUAA_HOST))
    assert proxy_407.requests[0].startswith(f"CONNECT {XSUAA_HOST}:443 ".encode())


def test_a_proxy_that_refuses_the_credentials_given(proxy_407: RefusingProxy,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    password = "pr&x<y>\"'$"
    given = proxy_407.url.replace("://", "://me:" + password.replace("&", "%26")
                                  .replace("<", "%3C").replace(">", "%3E")
                                  .replace('"', "%22").replace("'", "%27")
                                  .replace("$", "%24") + "@")
    monkeypatch.setenv("HTTPS_PROXY", given)
    transport.check_proxy_variables({"HTTPS_PROXY": given})  # as Run.load does: registers it
    verdicts = diagnose(cf_data(token_url=XSUAA_URL))
    masked = proxy_407.url.replace("://", "://***@")
    assert only_finding(verdicts["token"]).message == (
        f"the proxy requires authentication: the proxy of HTTPS_PROXY={masked} answered 407 "
        f"Proxy Authentication Required to the request for token endpoint {XSUAA_HOST}; it did "
        "not accept the user name and password given there")
    assert b"Proxy-Authorization: Basic " in proxy_407.requests[0]


def test_a_proxy_that_refuses_the_tunnel(monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = RefusingProxy("403 Forbidden")
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    try:
        verdicts = diagnose(cf_data(token_url=XSUAA_URL))
    finally:
        proxy.server.close()
    assert_failed(verdicts["token"], "INTERCEPTED",
                  f"the proxy of HTTPS_PROXY={proxy.url} refused to connect to token endpoint "
                  f"{XSUAA_HOST}: it answered 403 Forbidden",
                  ring_fix("INTERCEPTED", host=XSUAA_HOST))


def test_a_block_page_on_a_token_url_of_the_documented_shape(
        tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    tenant.token_url = XSUAA_URL
    tenant.jwks_url = f"https://{XSUAA_HOST}/token_keys"
    tenant.token(403, html="<html><head><title>Blocked: Web Filter Policy</title></head>"
                           "<body>This site is blocked.</body></html>")
    tenant.keys({"keys": []})
    verdicts = diagnose(cf_data(token_url=XSUAA_URL))
    assert_failed(verdicts["token"], "INTERCEPTED",
                  f"token_url {XSUAA_URL} has the documented shape, but something between this "
                  "machine and SAP answered: 403 (HTML page \"Blocked: Web Filter Policy\"), "
                  f"where the token endpoint answers JSON; requests to {XSUAA_HOST} go through "
                  "the proxy of HTTPS_PROXY=http://proxy.corp:3128",
                  ring_fix("INTERCEPTED", host=XSUAA_HOST))


def test_a_block_page_on_a_token_url_of_another_shape_is_still_a_wrong_url(
        tenant: Tenant) -> None:
    tenant.token(403, html="<html><title>Blocked</title></html>")
    tenant.keys({"keys": []})
    verdicts = diagnose(cf_data())
    assert only_finding(verdicts["token"]).message == (
        f"token_url {TOKEN_URL} is not an OAuth token endpoint: it answered 403 with an HTML "
        "page; expected https://<subdomain>.authentication.<region>.hana.ondemand.com/oauth/token")

