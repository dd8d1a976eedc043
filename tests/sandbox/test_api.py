"""The simulated API host: OData JSON and Atom, $count, query options, 401/403/404/405/501."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import jwt
import pytest

from cpi_preflight.sandbox import Sandbox
from cpi_preflight.sandbox.behaviour import load_behaviour
from cpi_preflight.sandbox.spec import DEFAULT_ROLES
from cpi_preflight.sandbox.tls import new_rsa_key

ATOM = "{http://www.w3.org/2005/Atom}"
UNAUTHORIZED = {"error": {"code": "Unauthorized", "message": {
    "lang": "en", "value": "Authorization information is missing or invalid."}}}
FORBIDDEN = {"error": {"code": "Forbidden", "message": {
    "lang": "en", "value": "The required permissions to access the resource are missing."}}}
CF_SETS = [e.name for e in load_behaviour().entity_sets.values()
           if "cf" in e.environments and not e.single_entity]


@pytest.fixture(scope="module")
def sandbox(launch: Any) -> Sandbox:
    roles = [*DEFAULT_ROLES, "AuthGroup_TenantPartnerDirectoryConfigurator",
             "DataStorePayloadsRead"]
    started: Sandbox = launch({"roles": roles})  # may read every entity set
    return started


@pytest.fixture(scope="module")
def client(sandbox: Sandbox, connect: Any) -> Any:
    return connect(sandbox)


@pytest.fixture(scope="module")
def token(client: Any) -> str:
    issued: str = client.token()
    return issued


@pytest.fixture(scope="module")
def monitoring_only(launch: Any, connect: Any) -> tuple[Any, str]:
    client = connect(launch({"roles": ["MonitoringDataRead"]}))
    return client, client.token()


def _path(name: str) -> str:
    if name == "IntegrationDesigntimeArtifacts":
        return "/IntegrationPackages('Sales')/IntegrationDesigntimeArtifacts"
    if name == "IdempotentRepositoryEntries":  # the spec requires the query parameter id
        return f"/{name}?id=order_100042.xml"
    return f"/{name}"


@pytest.mark.parametrize("name", CF_SETS)
def test_every_entity_set_answers_odata_json(client: Any, token: str, name: str) -> None:
    response = client.api(_path(name), token)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    results = response.json()["d"]["results"]
    assert 1 <= len(results) <= 3
    for record in results:
        meta = record["__metadata"]
        assert meta["type"].startswith("com.sap.hci.api.")
        assert meta["uri"].startswith(f"{client.conn.api_url}/api/v1/{name}(")


@pytest.mark.parametrize("name", CF_SETS)
def test_every_entity_set_answers_atom_by_default(client: Any, token: str, name: str) -> None:
    response = client.api(_path(name), token, headers={})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    assert feed.findall(f"{ATOM}entry")


def test_dates_are_odata_v2_dates_in_json(client: Any, token: str) -> None:
    record = client.api("/MessageProcessingLogs", token).json()["d"]["results"][0]
    assert re.fullmatch(r"/Date\(\d+\)/", record["LogStart"])
    assert record["IntegrationArtifact"]["Type"] == "INTEGRATION_FLOW"


def test_format_json_query_option(client: Any, token: str) -> None:
    response = client.api("/IntegrationRuntimeArtifacts", token, headers={},
                          params={"$format": "json"})
    assert response.json()["d"]["results"]


@pytest.mark.parametrize("name", ["MessageProcessingLogs", "IntegrationRuntimeArtifacts",
                                  "ServiceEndpoints"])
def test_count_is_plain_text(client: Any, token: str, name: str) -> None:
    response = client.api(f"/{name}/$count", token)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert int(response.text) >= 1


def test_top_skip_and_inlinecount(client: Any, token: str) -> None:
    params = {"$top": "1", "$skip": "1", "$inlinecount": "allpages"}
    d = client.api("/MessageProcessingLogs", token, params=params).json()["d"]
    assert len(d["results"]) == 1
    assert d["__count"] == "2"
    assert d["results"][0]["Status"] == "FAILED"


def test_bad_top_is_400(client: Any, token: str) -> None:
    response = client.api("/MessageProcessingLogs", token, params={"$top": "many"})
    assert response.status_code == 400


def test_keystore_entries_reject_format_json_but_accept_the_header(
        client: Any, token: str) -> None:
    refused = client.api("/KeystoreEntries", token, params={"$format": "json"})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "Bad Request"
    assert client.api("/KeystoreEntries", token).status_code == 200


def test_designtime_artifacts_only_by_navigation(client: Any, token: str) -> None:
    direct = client.api("/IntegrationDesigntimeArtifacts", token)
    assert direct.status_code == 501
    results = client.api("/IntegrationPackages('Sales')/IntegrationDesigntimeArtifacts",
                         token).json()["d"]["results"]
    assert [r["PackageId"] for r in results] == ["Sales"]
    missing = client.api("/IntegrationPackages('Nope')/IntegrationDesigntimeArtifacts", token)
    assert missing.status_code == 404


def test_neo_only_entity_set_is_404_on_cf(client: Any, token: str) -> None:
    assert client.api("/LogFiles", token).status_code == 404


def test_service_root_and_csrf_fetch(client: Any, token: str) -> None:
    response = client.api("/", token, headers={"Accept": "application/json",
                                                "X-CSRF-Token": "Fetch"})
    assert response.status_code == 200
    assert "MessageProcessingLogs" in response.json()["d"]["EntitySets"]
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-csrf-token"])
    atom = client.api("", token, headers={})
    assert atom.headers["content-type"].startswith("application/atomsvc+xml")


def test_head_has_headers_but_no_body(client: Any, token: str) -> None:
    response = client.api("/MessageProcessingLogs", token, method="HEAD")
    assert response.status_code == 200
    assert int(response.headers["content-length"]) > 0
    assert response.content == b""


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer"}, {"Authorization": "Bearer not-a-jwt"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
])
def test_missing_or_invalid_token_is_401(client: Any, headers: dict[str, str]) -> None:
    response = client.api("/MessageProcessingLogs", headers={"Accept": "application/json",
                                                             **headers})
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


def test_token_signed_by_another_key_is_401(client: Any, token: str) -> None:
    claims = jwt.decode(token, options={"verify_signature": False})
    header = jwt.get_unverified_header(token)
    forged = jwt.encode(claims, new_rsa_key(), algorithm="RS256",
                        headers={"kid": header["kid"], "jku": header["jku"]})
    assert client.api("/MessageProcessingLogs", forged).status_code == 401


def test_401_error_in_xml_when_json_not_asked(client: Any) -> None:
    response = client.api("/MessageProcessingLogs", headers={})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/xml")
    assert b"<code>Unauthorized</code>" in response.content


@pytest.mark.parametrize("path", ["/IntegrationPackages", "/DataStores", "/AccessPolicies",
                                  "/Partners"])
def test_missing_permission_is_403(monitoring_only: tuple[Any, str], path: str) -> None:
    client, token = monitoring_only
    response = client.api(path, token)
    assert (response.status_code, response.json()) == (403, FORBIDDEN)


@pytest.mark.parametrize("path", ["/MessageProcessingLogs", "/NumberRanges", "/UserCredentials",
                                  "/KeystoreEntries", "/IntegrationRuntimeArtifacts"])
def test_monitoring_role_reads_its_entity_sets(monitoring_only: tuple[Any, str],
                                               path: str) -> None:
    client, token = monitoring_only
    assert client.api(path, token).status_code == 200


@pytest.mark.parametrize("path", ["/Nope", "/MessageProcessingLogs/Nope",
                                  "/MessageProcessingLogs('x')", "/Queues"])
def test_unknown_path_is_404_odata(client: Any, token: str, path: str) -> None:
    response = client.api(path, token)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "Not Found"


@pytest.mark.parametrize("path", ["/", "/itspaces", "/api", "/oauth/token"])
def test_outside_api_v1_is_html_404(client: Any, path: str) -> None:
    response = client.http.get(client.conn.api_url + path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "MERGE", "OPTIONS"])
def test_writes_are_405_and_recorded(client: Any, token: str, sandbox: Sandbox,
                                     method: str) -> None:
    before = len(sandbox.requests)
    response = client.api("/IntegrationPackages", token, method=method, content=b"{}")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    (item,) = sandbox.requests[before:]
    assert (item.host, item.method, item.path, item.status) == (
        "api", method, "/api/v1/IntegrationPackages", 405)


def test_keep_alive_serves_many_requests_on_one_connection(client: Any, token: str) -> None:
    for _ in range(5):
        assert client.api("/MessageProcessingLogs/$count", token).status_code == 200
    assert client.api("/MessageProcessingLogs", token,
                      headers={"Accept": "application/json", "Connection": "close"}).is_success


def test_a_single_entity_path_answers_one_entity(client: Any, token: str) -> None:
    response = client.api("/JmsBrokers('Broker1')", token)
    assert response.status_code == 200, response.text
    broker = response.json()["d"]
    assert broker["Key"] == "Broker1"
    assert broker["__metadata"]["type"] == "com.sap.hci.api.JmsBroker"
    atom = client.api("/JmsBrokers('Broker1')", token, headers={})
    assert atom.headers["content-type"].startswith("application/atom+xml;type=entry")
    assert ET.fromstring(atom.content).tag == f"{ATOM}entry"


def test_idempotent_repository_entries_need_the_id_parameter(client: Any, token: str) -> None:
    response = client.api("/IdempotentRepositoryEntries", token)
    assert response.status_code == 400
    assert response.json()["error"]["message"]["value"] == (
        "The required query parameter 'id' is missing.")


def test_a_list_property_renders_as_an_atom_collection(client: Any, token: str) -> None:
    feed = ET.fromstring(client.api("/ArtifactReferences", token, headers={}).content)
    values = [e.text for e in feed.iter("{http://schemas.microsoft.com/ado/2007/08/dataservices}"
                                        "element")]
    assert "INTEGRATION_FLOW" in values
