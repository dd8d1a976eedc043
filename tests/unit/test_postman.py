"""`cpi-preflight init --postman`: Postman v2.1 collections (as exported) -> a profile."""

from __future__ import annotations

import base64
import copy
import json
import os
import shlex
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml

from cpi_preflight import cli, postman, profile
from cpi_preflight.errors import PostmanError

from .test_cli import printed_pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "postman"
COLLECTION = FIXTURES / "sap-cpi-cf.postman_collection.json"
ENVIRONMENT = FIXTURES / "sap-cpi-cf.postman_environment.json"
SECRET = "FAKE&<secret>\"'$value="
API_URL = "https://example-sub.it-cpi018.cfapps.eu10-003.hana.ondemand.com"
TOKEN_URL = "https://example-sub.authentication.eu10.hana.ondemand.com/oauth/token"
CLIENT_ID = "sb-2d4f6a8c-0e1b-4c3d-8e5f-7a9b1c3d5e7f!b12345|it!b54321"
AUTH_HELP = ("cpi-preflight checks an OAuth client: in Postman, set Authorization to OAuth 2.0 "
             "with Grant Type Client Credentials (Access Token URL, Client ID, Client Secret "
             "from the service key), or run cpi-preflight init --service-key KEY.json")
# Basic authentication is how Neo collections often call the API: the help names Neo's form
BASIC_HELP = ("cpi-preflight checks an OAuth client, not a user: in Postman, set Authorization "
              "to OAuth 2.0 with Grant Type Client Credentials, or write the profile from the "
              "client's values: on Neo (which has no service keys) `cpi-preflight init "
              "--environment neo --name NAME --api-url URL --token-url URL --client-id ID`, "
              "with an OAuth client of Neo cockpit > Security > OAuth > Clients; on Cloud "
              "Foundry `cpi-preflight init --service-key KEY.json --name NAME`")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = _run(capsys, "init", "--name", "pm", *argv)
    assert (code, out) == (2, "")
    assert not Path("profiles").exists(), "nothing may be written on an error"
    return err


def _collection() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(COLLECTION.read_text(encoding="utf-8"))
    return data


def _write(data: object, name: str = "c.json") -> Path:
    path = Path(name)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _resolved(collection: dict[str, Any]) -> dict[str, Any]:
    """The collection with the environment's values written in (no environment needed)."""
    text = json.dumps(collection)
    for entry in json.loads(ENVIRONMENT.read_text(encoding="utf-8"))["values"]:
        if entry["enabled"]:
            text = text.replace("{{" + entry["key"] + "}}", json.dumps(entry["value"])[1:-1])
    data: dict[str, Any] = json.loads(text)
    return data


def _connection(found: postman.Import) -> tuple[str, str, str, str, str | None]:
    """API URL, token URL, client id, environment and the secret (revealed) of an import."""
    secret_value = found.client_secret.reveal() if found.client_secret else None
    return found.api_url, found.token_url, found.client_id, found.environment, secret_value


# --- the fixture collection, as Postman exports it ----------------------------------------------

def test_import_reads_the_client_the_api_and_the_entity_sets() -> None:
    found = postman.read(COLLECTION, ENVIRONMENT, None)
    assert _connection(found) == (API_URL, TOKEN_URL, CLIENT_ID, "cf", SECRET)
    assert found.endpoints == ["MessageProcessingLogs", "MessageProcessingLogsCount",
                               "IntegrationRuntimeArtifacts", "IntegrationPackages",
                               "KeystoreEntries"]
    assert found.auth_from == "the collection"


def test_left_out_requests_are_reported_with_the_reason() -> None:
    found = postman.read(COLLECTION, ENVIRONMENT, None)
    assert [item.line() for item in found.left_out] == [
        "request 'Design/Create integration package' (POST /IntegrationPackages): not "
        "read-only; cpi-preflight only reads",
        "request 'Design/Custom entity set' (GET /ZCustomReports): ZCustomReports is not in "
        "the catalog; `cpi-preflight catalog` lists the entity sets it knows",
        f"request 'Fetch token by hand' (POST {TOKEN_URL}): a token request "
        "(grant_type=client_credentials); cpi-preflight fetches its own token",
    ]


def test_init_postman_writes_a_profile_with_the_secret_only_in_a_variable(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "init", "--postman", str(COLLECTION),
                          f"--postman-environment={ENVIRONMENT}", "--name", "pm")
    assert (code, err) == (0, "")
    text = Path("profiles/pm.yaml").read_text(encoding="utf-8")
    assert "FAKE" not in text
    assert "\nclient_secret: ${CPI_PM_CLIENT_SECRET}\n" in text
    assert "# from the Postman collection sap-cpi-cf.postman_collection.json." in text
    exports = [line for line in out.splitlines() if line.startswith("export ")]
    assert exports == [f"export CPI_PM_CLIENT_SECRET={shlex.quote(SECRET)}"]
    loaded = profile.load("pm", Path("profiles"), {"CPI_PM_CLIENT_SECRET": SECRET})
    assert (loaded.api_url, loaded.token_url, loaded.client_id) == (API_URL, TOKEN_URL,
                                                                    CLIENT_ID)
    assert loaded.required_roles == ("MonitoringDataRead", "WorkspacePackagesRead")
    assert loaded.endpoints[:2] == ("MessageProcessingLogs", "MessageProcessingLogsCount")


def test_init_postman_prints_what_it_took_and_what_it_left_out(
        capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _run(capsys, "init", "--postman", str(COLLECTION), "--postman-environment",
                     str(ENVIRONMENT), "--name", "pm")
    lines = out.splitlines()
    assert lines[:14] == [
        "Wrote profiles/pm.yaml (Cloud Foundry, client secret).",
        "",
        f"From the collection: API {API_URL}, client {CLIENT_ID} (OAuth 2.0 authorization of "
        "the collection), environment cf (from the token URL).",
        "Endpoints: MessageProcessingLogs, MessageProcessingLogsCount, "
        "IntegrationRuntimeArtifacts, IntegrationPackages, KeystoreEntries; required roles: "
        "MonitoringDataRead, WorkspacePackagesRead.",
        "Changed from the collection:",
        "  - request 'Monitoring/Message processing logs (last 10)' (GET "
        "/MessageProcessingLogs): query options $top, $format are not sent; the check sends "
        "GET /MessageProcessingLogs?$top=1",
        "  - request 'Monitoring/Count failed messages' (GET /MessageProcessingLogs/$count): "
        "query option $filter is not sent; the check sends GET /MessageProcessingLogs/$count",
        "  - request 'Design/Integration packages' (GET /IntegrationPackages): query option "
        "$top is not sent; the check sends GET /IntegrationPackages?$top=1",
        "Left out (not written to the profile):",
        "  - request 'Design/Create integration package' (POST /IntegrationPackages): not "
        "read-only; cpi-preflight only reads",
        "  - request 'Design/Custom entity set' (GET /ZCustomReports): ZCustomReports is not in "
        "the catalog; `cpi-preflight catalog` lists the entity sets it knows",
        f"  - request 'Fetch token by hand' (POST {TOKEN_URL}): a token request "
        "(grant_type=client_credentials); cpi-preflight fetches its own token",
        "",
        "The secret is not in the profile; it is read from CPI_PM_CLIENT_SECRET. Set it in this "
        "shell (in CI, store it as the secret CPI_PM_CLIENT_SECRET):",
    ]
    assert lines[-1] == f"{printed_pytest()} --profile pm"


def test_roles_and_endpoints_options_win_over_the_collection(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = _run(capsys, "init", "--postman", str(COLLECTION), "--postman-environment",
                      str(ENVIRONMENT), "--name", "pm", "--endpoints", "IntegrationPackages",
                      "--roles", "WorkspacePackagesRead")
    assert code == 0
    data = yaml.safe_load(Path("profiles/pm.yaml").read_text(encoding="utf-8"))
    assert (data["required_roles"], data["endpoints"]) == (["WorkspacePackagesRead"],
                                                           ["IntegrationPackages"])


# --- variables, auth levels, URL shapes --------------------------------------------------------

def test_environment_values_win_over_collection_variables_and_disabled_ones_are_ignored() -> None:
    collection = _collection()
    collection["variable"].append({"key": "url", "value": "https://other.example.com"})
    values = postman.variables(collection, json.loads(ENVIRONMENT.read_text(encoding="utf-8")))
    assert values["url"] == API_URL
    assert values["top"] == "10"  # the environment's "top" is disabled


def test_request_level_auth_beats_folder_and_collection() -> None:
    collection = _resolved(_collection())
    monitoring = collection["item"][0]["item"][0]["request"]
    monitoring["auth"] = copy.deepcopy(collection["auth"])
    folder = collection["item"][1]
    folder["auth"] = {"type": "inherit"}
    found = postman.requests(collection)
    owners = {r.name: r.auth_owner for r in found}
    assert owners["Monitoring/Message processing logs (last 10)"] == (
        "request 'Monitoring/Message processing logs (last 10)'")
    assert owners["Design/Integration packages"] == "the collection"
    assert owners["Fetch token by hand"] == "request 'Fetch token by hand'"


def test_url_as_plain_string_and_as_host_path_object() -> None:
    collection = _resolved(_collection())
    leaf = collection["item"][0]["item"][0]["request"]
    leaf["url"] = f"{API_URL}/api/v1/DataStores"
    other = collection["item"][2]["item"][0]["request"]
    other["url"] = {"protocol": "https", "host": API_URL.removeprefix("https://").split("."),
                    "path": ["api", "v1", "NumberRanges"]}
    path = _write(collection)
    found = postman.read(path, None, None)
    assert "DataStores" in found.endpoints
    assert "NumberRanges" in found.endpoints


@pytest.mark.parametrize(("token_url", "environment"), [
    (TOKEN_URL, "cf"),
    ("https://sub.authentication.cert.eu10.hana.ondemand.com/oauth/token", "cf"),
    ("https://oauthasservices-abc123.hana.ondemand.com/oauth2/api/v1/token", "neo"),
    ("https://127.0.0.1:8443/oauth2/api/v1/token", "neo"),
    ("https://127.0.0.1:8443/oauth/token", "cf"),
    ("https://idp.example.com/token", None),
])
def test_environment_from_the_token_url_shape(token_url: str, environment: str | None) -> None:
    assert postman.environment_of(token_url) == environment


def test_neo_collection_gets_neo_roles() -> None:
    collection = _resolved(_collection())
    for entry in collection["auth"]["oauth2"]:
        if entry["key"] == "accessTokenUrl":
            entry["value"] = "https://oauthasservices-abc123.hana.ondemand.com/oauth2/api/v1/token"
    collection["item"] = [collection["item"][0]]
    found = postman.read(_write(collection), None, None)
    assert found.environment == "neo"
    assert postman.roles_for(found.endpoints, "neo") == ["IntegrationOperationServer.read",
                                                         "NodeManager.read"]


def test_an_unresolved_secret_is_fine_the_export_line_asks_for_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    environment = json.loads(ENVIRONMENT.read_text(encoding="utf-8"))
    environment["values"] = [v for v in environment["values"] if v["key"] != "clientsecret"]
    code, out, _ = _run(capsys, "init", "--postman", str(COLLECTION), "--postman-environment",
                        str(_write(environment, "env.json")), "--name", "pm")
    assert code == 0
    assert "export CPI_PM_CLIENT_SECRET='<client secret>'" in out.splitlines()


# --- errors: one line, exit 2, nothing written -------------------------------------------------

def test_basic_auth_collection_is_refused_with_what_to_do(
        capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "basic-auth.postman_collection.json"
    assert _error(capsys, "--postman", str(path)) == (
        f"cpi-preflight init: --postman {path}: the collection uses Basic authentication (user "
        f"and password); {BASIC_HELP}\n")


def test_unresolved_variables_name_the_request_and_the_option(
        capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "unresolved-variables.postman_collection.json"
    assert _error(capsys, "--postman", str(path)) == (
        f"cpi-preflight init: --postman {path}: request 'Monitoring/Message processing logs': "
        "url: {{url}} is not defined; give the Postman environment that defines it with "
        "--postman-environment ENV.json\n")


def test_unresolved_variable_with_an_environment_says_it_lacks_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    env = _write({"name": "empty", "values": [{"key": "url", "value": API_URL,
                                               "enabled": True}]}, "env.json")
    path = FIXTURES / "unresolved-variables.postman_collection.json"
    assert _error(capsys, "--postman", str(path), "--postman-environment", str(env)) == (
        f"cpi-preflight init: --postman {path}: the collection: accessTokenUrl: {{{{tokenurl}}}} "
        "is not defined; the environment file does not define it either; add it there or to "
        "the collection's variables\n")


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c.update(info={"name": "x", "schema": "https://schema.getpostman.com/json/"
                                                     "collection/v2.0.0/collection.json"}),
     "info.schema is https://schema.getpostman.com/json/collection/v2.0.0/collection.json; "
     "only Collection v2.1 is read: export it again from Postman (Collection > ... > Export > "
     "Collection v2.1)"),
    (lambda c: c.pop("info"),
     "info.schema is missing; this is not a Postman collection (export it again from Postman "
     "(Collection > ... > Export > Collection v2.1))"),
    (lambda c: c["auth"]["oauth2"].__setitem__(3, {"key": "grant_type",
                                                   "value": "authorization_code"}),
     f"the collection: OAuth 2.0 grant type is authorization_code, not client_credentials; "
     f"{AUTH_HELP}"),
    (lambda c: c.update(auth={"type": "noauth"}),
     f"request 'Monitoring/Message processing logs (last 10)' has no authorization; {AUTH_HELP}"),
    (lambda c: c.update(auth={"type": "apikey", "apikey": []}),
     f"the collection uses auth apikey; {AUTH_HELP}"),
    (lambda c: c.update(item=[c["item"][3]]),
     "no request calls <API host>/api/v1/<entity set>; add one (e.g. GET "
     "{{url}}/api/v1/MessageProcessingLogs) or give --api-url"),
])
def test_collection_errors(change: Any, message: str,
                           capsys: pytest.CaptureFixture[str]) -> None:
    collection = _resolved(_collection())
    change(collection)
    path = _write(collection)
    assert _error(capsys, "--postman", str(path)) == (
        f"cpi-preflight init: --postman {path}: {message}\n")


def test_two_api_hosts_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    collection = _resolved(_collection())
    collection["item"][2]["item"][0]["request"]["url"] = "https://other.example.com/api/v1/X"
    path = _write(collection)
    assert _error(capsys, "--postman", str(path)) == (
        f"cpi-preflight init: --postman {path}: the requests call two API hosts ({API_URL} in "
        "request 'Monitoring/Message processing logs (last 10)', https://other.example.com in "
        "request 'Security/Keystore entries'); a profile checks one tenant: import one "
        "tenant's requests\n")


def test_two_clients_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    collection = _resolved(_collection())
    other = copy.deepcopy(collection["auth"])
    other["oauth2"][1]["value"] = "sb-other!b1|it!b2"
    collection["item"][2]["auth"] = other
    path = _write(collection)
    assert _error(capsys, "--postman", str(path)) == (
        f"cpi-preflight init: --postman {path}: the requests use two OAuth clients (the "
        f"collection: {CLIENT_ID}; folder 'Security': sb-other!b1|it!b2); a profile checks "
        "one client: import a collection (or folder export) that uses one\n")


def test_unknown_token_url_shape_asks_for_the_environment(
        capsys: pytest.CaptureFixture[str]) -> None:
    collection = _resolved(_collection())
    collection["auth"]["oauth2"][2]["value"] = "https://idp.example.com/token"
    path = _write(collection)
    assert _error(capsys, "--postman", str(path)) == (
        f"cpi-preflight init: --postman {path}: the collection: cannot tell Cloud Foundry from "
        "Neo by the token URL https://idp.example.com/token; give --environment cf or "
        "--environment neo\n")


@pytest.mark.parametrize(("content", "message"), [
    (b"{", "invalid JSON at line 1, column 2: Expecting property name enclosed in double "
           "quotes; export it again from Postman (Collection > ... > Export > Collection v2.1)"),
    (b"\xff\xfe{}", "is not UTF-8 text; export it again from Postman (Collection > ... > "
                    "Export > Collection v2.1)"),
    (b"[]", "expected a JSON object, found list; export it again from Postman (Collection > "
            "... > Export > Collection v2.1)"),
    (b"[" * 100000 + b"]" * 100000, "nested more than 200 levels deep; export it again from "
     "Postman (Collection > ... > Export > Collection v2.1)"),
])
def test_unreadable_files(content: bytes, message: str,
                          capsys: pytest.CaptureFixture[str]) -> None:
    Path("c.json").write_bytes(content)
    assert _error(capsys, "--postman", "c.json") == (
        f"cpi-preflight init: --postman c.json: {message}\n")


def test_reads_are_bounded(monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(postman, "MAX_BYTES", 1024)
    assert _error(capsys, "--postman", str(COLLECTION)) == (
        f"cpi-preflight init: --postman {COLLECTION}: is "
        f"{COLLECTION.stat().st_size / 1024:.0f} KiB, more than the 1 KiB this file may have; "
        "export only the collection that calls the Cloud Integration API\n")


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "c.json"
    os.mkfifo(fifo)
    assert _error(capsys, "--postman", str(fifo)) == (
        f"cpi-preflight init: --postman {fifo}: is a FIFO (named pipe), not a regular file; "
        "export only the collection that calls the Cloud Integration API\n")


def test_folders_nested_too_deep_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    collection = _resolved(_collection())
    node: dict[str, Any] = {"name": "f", "item": []}
    collection["item"] = [node]
    for _ in range(postman.MAX_DEPTH + 2):
        child: dict[str, Any] = {"name": "f", "item": []}
        node["item"].append(child)
        node = child
    path = _write(collection)
    err = _error(capsys, "--postman", str(path))
    assert err.startswith(f"cpi-preflight init: --postman {path}: folders nested deeper than "
                          f"{postman.MAX_DEPTH} levels (at 'f/f/f/")


@pytest.mark.parametrize(("name", "shown"), [
    ("evil\x1b]0;pwned\x07", "evil"),  # the whole escape sequence goes, its payload with it
    ("\x1b[2K\u202e\u200d", "(unnamed)"),  # nothing visible left
])
def test_control_characters_in_names_do_not_reach_the_terminal(
        capsys: pytest.CaptureFixture[str], name: str, shown: str) -> None:
    collection = _resolved(_collection())
    collection["item"] = [{"name": name, "request": {
        "method": "GET", "url": "{{nope}}/api/v1/MessageProcessingLogs"}}]
    err = _error(capsys, "--postman", str(_write(collection)))
    assert "\x1b" not in err
    assert "\x07" not in err
    assert f"request '{shown}': url: {{{{nope}}}} is not defined" in err


def test_an_error_in_the_collection_names_its_file_as_source() -> None:
    path = FIXTURES / "basic-auth.postman_collection.json"
    with pytest.raises(PostmanError) as caught:
        postman.read(path, None, None)
    assert (caught.value.source, caught.value.problem) == (
        f"--postman {path}",
        f"the collection uses Basic authentication (user and password); {BASIC_HELP}")
    assert str(caught.value) == f"{caught.value.source}: {caught.value.problem}"


def test_an_error_in_the_environment_file_names_that_file_as_source() -> None:
    env = _write([], "env.json")
    with pytest.raises(PostmanError) as caught:
        postman.read(COLLECTION, env, None)
    assert caught.value.source == "--postman-environment env.json"
    assert caught.value.problem.startswith("expected a JSON object, found list; ")


def test_the_schema_error_names_the_collection_as_source() -> None:
    path = _write({"item": []})
    with pytest.raises(PostmanError) as caught:
        postman.read(path, None, None)
    assert caught.value.source == "--postman c.json"


def test_an_error_that_names_no_file_has_no_source() -> None:
    values = {"a": "{{b}}" * 30, "b": "{{c}}" * 30, "c": "ab" * 60}
    with pytest.raises(PostmanError) as caught:
        postman.Resolver(values, has_environment=False).resolve_known("{{a}}")
    assert caught.value.source is None
    assert str(caught.value) == caught.value.problem
    assert str(caught.value).startswith("{{c}}: the collection's variables expand to more ")


def test_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert _error(capsys, "--postman", "nope.json") == (
        "cpi-preflight init: --postman nope.json: no such file; export it again from Postman "
        "(Collection > ... > Export > Collection v2.1) and give its path\n")


@pytest.mark.parametrize(("argv", "message"), [
    (["--postman-environment", "e.json"],
     "--postman-environment: give it together with --postman COLLECTION.json (it only "
     "resolves the collection's {{variables}})"),
    (["--postman", "c.json", "--client-id", "x"],
     "--client-id: give either --postman or --client-id, not both (the collection already "
     "names the API URL, token URL and client)"),
    (["--postman", "c.json", "--service-key", "k.json"],
     "--service-key: give either --postman or --service-key, not both (the collection "
     "already names the API URL, token URL and client)"),
])
def test_option_conflicts(argv: list[str], message: str,
                          capsys: pytest.CaptureFixture[str]) -> None:
    assert _error(capsys, *argv) == f"cpi-preflight init: {message}\n"


def test_the_secret_never_appears_in_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    collection = _resolved(_collection())
    collection["item"][0]["item"][0]["request"]["url"] = f"{API_URL}/api/v1/{SECRET}"
    collection["item"][2]["item"][0]["request"]["url"] = f"https://x.example.com/api/v1/{SECRET}"
    err = _error(capsys, "--postman", str(_write(collection)))
    assert SECRET not in err
    assert "two API hosts" in err


def test_a_variable_exported_without_a_value_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    environment = json.loads(ENVIRONMENT.read_text(encoding="utf-8"))
    for entry in environment["values"]:
        if entry["key"] == "clientid":
            entry["value"] = ""
    env = _write(environment, "env.json")
    assert _error(capsys, "--postman", str(COLLECTION), "--postman-environment", str(env)) == (
        f"cpi-preflight init: --postman {COLLECTION}: the collection: clientId: {{{{clientid}}}} "
        "has no value (Postman exports a variable's initial value, not its current value); "
        "fill it in the exported file, or give it with --postman-environment\n")


def test_variables_that_expand_without_bound_are_refused(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    collection = _resolved(_collection())
    collection["variable"] = [{"key": "url", "value": "{{x}}"},
                              {"key": "x", "value": "{{y}}" * 30},
                              {"key": "y", "value": "{{z}}" * 30},
                              {"key": "z", "value": "{{w}}" * 30},
                              {"key": "w", "value": "ab" * 30}]
    collection["auth"]["oauth2"].append({"key": "accessTokenUrl", "value": "{{url}}"})
    text = json.dumps(collection)
    path = _write(json.loads(text.replace("https://example-sub.it-cpi018.cfapps.eu10-003."
                                          "hana.ondemand.com", "{{url}}")))
    assert _error(capsys, "--postman", str(path)) == (
        "cpi-preflight init: {{z}}: the collection's variables expand to more than 64 KiB "
        "in one value (variables that refer to each other?); export it again from Postman "
        "(Collection > ... > Export > Collection v2.1) with plain values\n")


# --- collections as teams keep them (issue 18.6) -----------------------------------------------

NEWMAN = FIXTURES / "newman-bearer.postman_collection.json"
NEWMAN_ENV = FIXTURES / "newman-bearer.postman_environment.json"
MIXED = FIXTURES / "mixed-auth.postman_collection.json"
NEWMAN_API = "https://example-test.it-cpi019.cfapps.eu20-001.hana.ondemand.com"
NEWMAN_TOKEN_URL = "https://example-test.authentication.eu20.hana.ondemand.com/oauth/token"
NEWMAN_CLIENT = "sb-9e8d7c6b-5a4f-4e3d-2c1b-0a9f8e7d6c5b!b67890|it!b12345"
NEWMAN_SECRET = "FAKE&<newman>\"'$secret="
MIXED_CLIENT = "sb-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d!b11111|it!b22222"


def _newman() -> dict[str, Any]:
    """The Newman fixture with the environment's values written in."""
    text = NEWMAN.read_text(encoding="utf-8")
    for entry in json.loads(NEWMAN_ENV.read_text(encoding="utf-8"))["values"]:
        if entry["enabled"] and entry["value"]:
            text = text.replace("{{" + entry["key"] + "}}", json.dumps(entry["value"])[1:-1])
    data: dict[str, Any] = json.loads(text)
    return data


def _token_request(collection: dict[str, Any]) -> dict[str, Any]:
    request: dict[str, Any] = collection["item"][0]["item"][0]["request"]
    return request


def _first_api_request(collection: dict[str, Any]) -> dict[str, Any]:
    request: dict[str, Any] = collection["item"][1]["item"][0]["request"]
    return request


def _import_gets(*requests: tuple[str, str], keep_first: bool = False) -> postman.Import:
    """The fixture collection's client with GET requests (name, path below /api/v1/) only
    (after its first folder when `keep_first`)."""
    collection = _resolved(_collection())
    collection["item"] = [*collection["item"][:1 if keep_first else 0], *(
        {"name": name, "request": {"method": "GET", "url": f"{API_URL}/api/v1/{path}"}}
        for name, path in requests)]
    return postman.read(_write(collection), None, None)


def test_requests_with_their_own_basic_auth_or_no_auth_are_left_out_not_fatal(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "init", "--postman", str(MIXED), "--name", "pm")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    start = lines.index("Left out (not written to the profile):")
    assert lines[2:4] + lines[start:start + 5] == [
        "From the collection: API https://example-ops.it-cpi018.cfapps.eu10-003.hana."
        f"ondemand.com, client {MIXED_CLIENT} (OAuth 2.0 authorization of the collection), "
        "environment cf (from the token URL).",
        "Endpoints: MessageProcessingLogs, IntegrationRuntimeArtifacts; required roles: "
        "MonitoringDataRead.",
        "Left out (not written to the profile):",
        "  - request 'Old S-user requests/Keystore entries (S-user)' (GET /KeystoreEntries): "
        "uses Basic authentication (user and password), inherited from folder 'Old S-user "
        "requests', not an OAuth client",
        "  - request 'Old S-user requests/Data stores (S-user)' (GET /DataStores): uses Basic "
        "authentication (user and password), inherited from folder 'Old S-user requests', not "
        "an OAuth client",
        "  - request 'Partners, no auth' (GET /Partners): has no authorization (No Auth)",
        "  - request 'Number ranges, API key' (GET /NumberRanges): uses auth apikey, not an "
        "OAuth client",
    ]
    data = yaml.safe_load(Path("profiles/pm.yaml").read_text(encoding="utf-8"))
    assert (data["client_id"], data["endpoints"]) == (
        MIXED_CLIENT, ["MessageProcessingLogs", "IntegrationRuntimeArtifacts"])


def test_the_newman_shape_gives_the_client_from_its_token_request() -> None:
    found = postman.read(NEWMAN, NEWMAN_ENV, None)
    assert _connection(found) == (NEWMAN_API, NEWMAN_TOKEN_URL, NEWMAN_CLIENT, "cf",
                                  NEWMAN_SECRET)
    assert (found.auth_from, found.client_from) == (
        "the token request 'Auth/Get access token'",
        "token request 'Auth/Get access token', for Bearer {{access_token}}")
    assert found.endpoints == ["MessageProcessingLogs", "IntegrationRuntimeArtifacts",
                               "IntegrationPackages"]


def test_init_prints_what_it_took_changed_and_left_out_of_a_newman_collection(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "init", "--postman", str(NEWMAN), "--postman-environment",
                          str(NEWMAN_ENV), "--name", "pm")
    assert (code, err) == (0, "")
    assert out.splitlines()[:14] == [
        "Wrote profiles/pm.yaml (Cloud Foundry, client secret).",
        "",
        f"From the collection: API {NEWMAN_API}, client {NEWMAN_CLIENT} (token request "
        "'Auth/Get access token', for Bearer {{access_token}}), environment cf (from the "
        "token URL).",
        "Endpoints: MessageProcessingLogs, IntegrationRuntimeArtifacts, IntegrationPackages; "
        "required roles: MonitoringDataRead, WorkspacePackagesRead.",
        "Changed from the collection:",
        "  - request 'Monitoring/Failed messages (last 10)' (GET /MessageProcessingLogs): query "
        "options $filter, $top are not sent; the check sends GET /MessageProcessingLogs?$top=1",
        "  - request 'Monitoring/Attachments of one message' (GET /MessageProcessingLogs("
        "'AGYB2x1ZCg7vM9pQ3rT5uW8yZ0aB')/Attachments): the sub-resource /Attachments is not "
        "called; the check reads MessageProcessingLogs",
        "  - request 'Design/Download iFlow' (GET /IntegrationDesigntimeArtifacts(Id='Order_To_"
        "Invoice',Version='active')/$value): checked as IntegrationPackages: "
        "IntegrationDesigntimeArtifacts has no GET on the whole set in SAP's API (it is read "
        "one artifact at a time, or below IntegrationPackages('<Id>')), and IntegrationPackages "
        "checks the role it needs, WorkspacePackagesRead; the sub-resource /$value is not "
        "called",
        "Left out (not written to the profile):",
        f"  - request 'Auth/Get access token' (POST {NEWMAN_TOKEN_URL}): the token request: its "
        "URL and client are the profile's token_url and client_id; cpi-preflight fetches its "
        "own token",
        "  - request 'Legacy/Logs with my S-user' (GET /MessageProcessingLogs): uses Basic "
        "authentication (user and password), not an OAuth client",
        "  - request 'Legacy/Service document' (GET /): has no authorization (No Auth)",
        "",
        "The secret is not in the profile; it is read from CPI_PM_CLIENT_SECRET. Set it in this "
        "shell (in CI, store it as the secret CPI_PM_CLIENT_SECRET):",
    ]
    assert f"export CPI_PM_CLIENT_SECRET={shlex.quote(NEWMAN_SECRET)}" in out.splitlines()
    text = Path("profiles/pm.yaml").read_text(encoding="utf-8")
    assert "FAKE" not in text


BASIC_CLIENT = [{"key": "username", "value": NEWMAN_CLIENT, "type": "string"},
                {"key": "password", "value": NEWMAN_SECRET, "type": "string"}]
FORM = [("grant_type", "client_credentials"), ("client_id", NEWMAN_CLIENT),
        ("client_secret", NEWMAN_SECRET)]


def _fields(pairs: list[tuple[str, str]], kind: str = "text") -> list[dict[str, str]]:
    return [{"key": k, "value": v, "type": kind} for k, v in pairs]


@pytest.mark.parametrize(("auth", "body", "query"), [
    ({"type": "noauth"}, {"mode": "urlencoded", "urlencoded": _fields(FORM)}, ""),
    ({"type": "noauth"}, {"mode": "formdata", "formdata": _fields(FORM)}, ""),
    ({"type": "noauth"}, {"mode": "raw", "raw": "grant_type=client_credentials&client_id="
                          + urllib.parse.quote(NEWMAN_CLIENT) + "&client_secret="
                          + urllib.parse.quote_plus(NEWMAN_SECRET)}, ""),
    ({"type": "basic", "basic": BASIC_CLIENT},
     {"mode": "urlencoded", "urlencoded": _fields(FORM[:1])}, ""),
    ({"type": "basic", "basic": BASIC_CLIENT}, None, "?grant_type=client_credentials"),
    ({"type": "noauth"}, {"mode": "raw", "raw": ""},
     "?grant_type=client_credentials&client_id={{clientid}}&client_secret={{clientsecret}}"),
], ids=["urlencoded", "formdata", "raw", "basic+body", "basic+query", "query"])
def test_token_requests_in_every_form_postman_stores_them(
        auth: dict[str, Any], body: dict[str, Any] | None, query: str) -> None:
    collection = json.loads(NEWMAN.read_text(encoding="utf-8"))
    token = _token_request(collection)
    token["auth"] = auth
    token["url"] = "{{tokenurl}}/oauth/token" + query
    if body is None:
        del token["body"]
    else:
        token["body"] = body
    found = postman.read(_write(collection), NEWMAN_ENV, None)
    assert _connection(found) == (NEWMAN_API, NEWMAN_TOKEN_URL, NEWMAN_CLIENT, "cf",
                                  NEWMAN_SECRET)


PLUS_SECRET = "FAKE+key/b%2F&<x>\"'$=="  # a service key's secret may hold + / and =


@pytest.mark.parametrize(("body", "query"), [
    ({"mode": "raw", "raw": "grant_type=client_credentials&client_id={{clientid}}&"
                            "client_secret={{plus}}"}, ""),
    (None, "?grant_type=client_credentials&client_id={{clientid}}&client_secret={{plus}}"),
], ids=["raw", "query"])
def test_a_variable_in_form_encoded_text_is_used_as_it_is(body: dict[str, Any] | None,
                                                          query: str) -> None:
    """Only the text written around a variable is URL text: the variable holds the secret
    itself (a `+` in it is not a space, `%2F` not a slash)."""
    collection = json.loads(NEWMAN.read_text(encoding="utf-8"))
    collection["variable"].append({"key": "plus", "value": PLUS_SECRET})
    token = _token_request(collection)
    token["url"] = "{{tokenurl}}/oauth/token" + query
    token.pop("body")
    if body is not None:
        token["body"] = body
    found = postman.read(_write(collection), NEWMAN_ENV, None)
    assert _connection(found) == (NEWMAN_API, NEWMAN_TOKEN_URL, NEWMAN_CLIENT, "cf",
                                  PLUS_SECRET)


@pytest.mark.parametrize("script", [
    'pm.environment.set("access_token", pm.response.json().access_token);',
    "pm.collectionVariables.set('access_token', json.access_token)",
    "postman.setEnvironmentVariable(`access_token`, data.access_token);",
])
def test_the_token_request_whose_script_sets_the_variable_is_the_one_used(script: str) -> None:
    collection = _newman()
    collection["item"][0]["item"][0]["event"][0]["script"]["exec"] = ["const x = 1;", script]
    decoy = copy.deepcopy(collection["item"][0]["item"][0])
    decoy["name"] = "Token of another client"
    decoy["event"] = []
    decoy["request"]["body"]["urlencoded"][1]["value"] = "sb-other!b1|it!b2"
    collection["item"][0]["item"].insert(0, decoy)
    found = postman.read(_write(collection), None, None)
    assert (found.client_id, found.auth_from) == (NEWMAN_CLIENT,
                                                  "the token request 'Auth/Get access token'")
    assert found.left_out[0].line() == (
        f"request 'Auth/Token of another client' (POST {NEWMAN_TOKEN_URL}): a token request "
        "(grant_type=client_credentials); cpi-preflight fetches its own token")


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c["item"].pop(0),
     "the collection uses Bearer {{access_token}}, and no request in the collection fetches a "
     "token (a POST to the token URL with grant_type=client_credentials)"),
    (lambda c: c["auth"]["bearer"][0].__setitem__("value", "eyJhbGciOiJSUzI1NiJ9.FAKE.jwt"),
     "the collection uses a Bearer token written into the collection"),
    (lambda c: _token_request(c)["body"]["urlencoded"].pop(1),
     "the collection uses Bearer {{access_token}} from the token request 'Auth/Get access "
     "token', which names no client id (a form field client_id, or Basic auth with the "
     "client id as user name)"),
])
def test_bearer_without_a_client_is_refused_with_what_to_do(
        change: Any, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    collection = _newman()
    change(collection)
    for folder in collection["item"]:
        folder["item"] = [i for i in folder["item"] if "Legacy" not in folder["name"]]
    path = _write(collection)
    err = _error(capsys, "--postman", str(path))
    assert err == f"cpi-preflight init: --postman {path}: {message}; {AUTH_HELP}\n"
    assert "eyJ" not in err


@pytest.mark.parametrize(("path", "reason"), [
    ("", "reads the service root /api/v1/, not an entity set"),
    ("$metadata", "reads $metadata, not an entity set"),
])
def test_left_out_lines_name_the_request_and_what_it_reads(path: str, reason: str) -> None:
    found = _import_gets(("Service document", path), keep_first=True)
    assert found.left_out[-1].line() == (
        f"request 'Service document' (GET /{path}): {reason}")


@pytest.mark.parametrize(("entity_set", "reason"), [
    ("IntegrationAdapterDesigntimeArtifacts",  # not "did you mean IntegrationRuntimeArtifacts?"
     "IntegrationAdapterDesigntimeArtifacts is not in the catalog; `cpi-preflight catalog` "
     "lists the entity sets it knows"),
    ("IntegrationRuntimeArtifact",
     "IntegrationRuntimeArtifact is not in the catalog (did you mean "
     "IntegrationRuntimeArtifacts?); `cpi-preflight catalog` lists the entity sets it knows"),
    ("IntegrationPackage",
     "IntegrationPackage is not in the catalog (did you mean IntegrationPackages?); "
     "`cpi-preflight catalog` lists the entity sets it knows"),
])
def test_suggestions_stay_in_kind(entity_set: str, reason: str) -> None:
    found = _import_gets(("Other", entity_set), keep_first=True)
    assert found.left_out[-1].line() == f"request 'Other' (GET /{entity_set}): {reason}"


def test_a_design_time_artifact_read_is_checked_by_the_entity_set_of_its_role() -> None:
    found = _import_gets(("iFlow", "IntegrationDesigntimeArtifacts(Id='X',Version='active')"))
    assert (found.endpoints, found.left_out) == (["IntegrationPackages"], [])
    assert found.changes == [
        "request 'iFlow' (GET /IntegrationDesigntimeArtifacts(Id='X',Version='active')): "
        "checked as IntegrationPackages: IntegrationDesigntimeArtifacts has no GET on the "
        "whole set in SAP's API (it is read one artifact at a time, or below "
        "IntegrationPackages('<Id>')), and IntegrationPackages checks the role it needs, "
        "WorkspacePackagesRead"]


def test_sub_resources_and_query_options_are_named_not_folded() -> None:
    found = _import_gets(("Attachments", "MessageProcessingLogs('A1')/Attachments?$top=10&"
                                         "$filter=Name eq 'x'&$orderby=a&$skip=1&$select=b&"
                                         "$expand=c&sap-client=100"))
    assert found.endpoints == ["MessageProcessingLogs"]
    assert found.changes == [
        "request 'Attachments' (GET /MessageProcessingLogs('A1')/Attachments): the sub-resource "
        "/Attachments is not called; the check reads MessageProcessingLogs; query options "
        "$top, $filter, $orderby, $skip, $select and 2 more are not sent; the check sends GET "
        "/MessageProcessingLogs?$top=1"]


def test_a_query_option_the_check_sends_itself_is_not_named() -> None:
    assert _import_gets(("Keys", "KeystoreEntries?keystoreName=system")).changes == []


@pytest.mark.parametrize(("where", "message"), [
    ("environment",
     "request 'Monitoring/Message processing logs (last 10)': url: {{url}} is disabled in the "
     "environment file (its checkbox is unticked in Postman); enable it and export the "
     "environment again"),
    ("collection",
     "request 'Monitoring/Message processing logs (last 10)': url: {{url}} is disabled in the "
     "collection's variables (its checkbox is unticked in Postman); enable it and export the "
     "collection again"),
])
def test_a_disabled_variable_is_named_as_disabled(where: str, message: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    environment = json.loads(ENVIRONMENT.read_text(encoding="utf-8"))
    collection = _collection()
    if where == "environment":
        environment["values"][0]["enabled"] = False
    else:
        environment["values"].pop(0)
        collection["variable"].append({"key": "url", "value": API_URL, "disabled": True})
    path = _write(collection)
    assert _error(capsys, "--postman", str(path), "--postman-environment",
                  str(_write(environment, "env.json"))) == (
        f"cpi-preflight init: --postman {path}: {message}\n")


@pytest.mark.parametrize(("argv", "message"), [
    (["--postman", str(ENVIRONMENT)],
     f"--postman {ENVIRONMENT}: this is the Postman environment 'CPI eu10 (api plan)', not a "
     "collection: give it with --postman-environment, and the collection (Collection > ... > "
     "Export > Collection v2.1) with --postman"),
    (["--postman", str(COLLECTION), "--postman-environment", str(NEWMAN)],
     f"--postman-environment {NEWMAN}: this is the Postman collection 'CPI API smoke tests "
     "(Newman)', not an environment: give it with --postman, and the environment "
     "(Environments > ... > Export) with --postman-environment"),
    (["--postman", str(ENVIRONMENT), "--postman-environment", str(COLLECTION)],
     f"--postman and --postman-environment are swapped: --postman {ENVIRONMENT} is the "
     f"Postman environment 'CPI eu10 (api plan)' and --postman-environment {COLLECTION} the "
     "collection 'SAP Cloud Integration OData API (CF)'; give each file with the other option"),
], ids=["environment-as-collection", "collection-as-environment", "swapped"])
def test_a_file_given_to_the_other_option_is_named(argv: list[str], message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert _error(capsys, *argv) == f"cpi-preflight init: {message}\n"


def test_an_environment_without_values_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    env = _write({"name": "x", "id": "1"}, "env.json")
    assert _error(capsys, "--postman", str(COLLECTION), "--postman-environment", str(env)) == (
        "cpi-preflight init: --postman-environment env.json: has no `values` list; this is "
        "not a Postman environment: export it again from Postman (Environments > ... > "
        "Export)\n")


# --- no secret in what init writes (issue 17.5), no user info in URLs (17.4) ------------------

def _forms_of(value: str) -> list[str]:
    """The encodings a secret must not be written in."""
    data = value.encode("utf-8")
    return [value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value),
            base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode()]


def _token_url_in_oauth(collection: dict[str, Any], value: str) -> None:
    for entry in collection["auth"]["oauth2"]:
        if entry["key"] == "accessTokenUrl":
            entry["value"] = value


def _written_profile(capsys: pytest.CaptureFixture[str], collection: dict[str, Any],
                     environment: Path, token_url: str, secret_value: str) -> str:
    """Import `collection`; the profile must name `token_url` and hold no form of the secret.
    Returns what init printed."""
    code, out, err = _run(capsys, "init", "--postman", str(_write(collection)),
                          "--postman-environment", str(environment), "--name", "pm")
    assert (code, err) == (0, "")
    text = Path("profiles/pm.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(text)["token_url"] == token_url
    for form in _forms_of(secret_value):
        assert form not in text
    return out


def test_a_secret_in_the_token_url_query_is_taken_out_and_said(
        capsys: pytest.CaptureFixture[str]) -> None:
    collection = _collection()
    _token_url_in_oauth(collection, "{{tokenurl}}?grant_type=client_credentials&"
                                    "client_secret={{clientsecret}}")
    out = _written_profile(capsys, collection, ENVIRONMENT, TOKEN_URL, SECRET)
    assert ("  - the collection: grant_type, client_secret taken out of the token URL's query "
            "(cpi-preflight sends the grant type and the client itself; the secret is never "
            "written to a profile)") in out.splitlines()


def test_a_newman_token_request_with_the_client_in_its_url_writes_no_secret(
        capsys: pytest.CaptureFixture[str]) -> None:
    collection = json.loads(NEWMAN.read_text(encoding="utf-8"))
    token = _token_request(collection)
    token["url"] = ("{{tokenurl}}/oauth/token?grant_type=client_credentials&client_id="
                    "{{clientid}}&client_secret={{clientsecret}}")
    del token["body"]
    out = _written_profile(capsys, collection, NEWMAN_ENV, NEWMAN_TOKEN_URL, NEWMAN_SECRET)
    assert f"export CPI_PM_CLIENT_SECRET={shlex.quote(NEWMAN_SECRET)}" in out.splitlines()


@pytest.mark.parametrize(("token_url", "variable"), [
    ("{{tokenurl}}?assertion={{clientsecret}}", SECRET),
    ("{{tokenurl}}/{{encoded}}", urllib.parse.quote(SECRET, safe="")),
    ("{{tokenurl}}?auth={{encoded}}", base64.b64encode(SECRET.encode()).decode()),
    ("{{tokenurl}}?auth={{encoded}}", base64.b64encode(b"id:" + SECRET.encode()).decode()),
], ids=["raw", "url-encoded", "base64", "base64-inside"])
def test_a_secret_elsewhere_in_the_token_url_is_refused(
        token_url: str, variable: str, capsys: pytest.CaptureFixture[str]) -> None:
    collection = _collection()
    _token_url_in_oauth(collection, token_url)
    collection["variable"].append({"key": "encoded", "value": variable})
    path = _write(collection)
    err = _error(capsys, "--postman", str(path), "--postman-environment", str(ENVIRONMENT))
    assert err == (f"cpi-preflight init: --postman {path}: the token URL would hold the client "
                   "secret; cpi-preflight never writes a secret into a profile: take it out of "
                   "the token URL in the collection\n")
    for form in _forms_of(SECRET):
        assert form not in err


def test_a_secret_in_the_api_url_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    text = COLLECTION.read_text(encoding="utf-8").replace("{{url}}", "{{url}}/{{clientsecret}}")
    path = Path("c.json")
    path.write_text(text, encoding="utf-8")
    err = _error(capsys, "--postman", str(path), "--postman-environment", str(ENVIRONMENT))
    assert err == (f"cpi-preflight init: --postman {path}: the API URL (from the requests' "
                   "URLs) would hold the client secret; cpi-preflight never writes a secret "
                   "into a profile: take it out of the requests' URLs in the collection\n")


USER_INFO = ("has user info before the host (user:password@); cpi-preflight would send it in "
             "place of the client's credentials: remove it from the URL in the collection (the "
             "client id and secret belong in the OAuth 2.0 authorization or the token request)")


@pytest.mark.parametrize(("change", "where"), [
    (lambda c: c["item"][0]["item"][0]["request"].__setitem__(
        "url", "https://S0012345:" + SECRET + "@example-sub.it-cpi018.cfapps.eu10-003.hana."
        "ondemand.com/api/v1/MessageProcessingLogs"),
     "request 'Monitoring/Message processing logs (last 10)': url"),
    (lambda c: c["item"][0]["item"][0]["request"].__setitem__(
        "url", f"https://{API_URL.removeprefix('https://')}:443@evil.example/api/v1/X"),
     "request 'Monitoring/Message processing logs (last 10)': url"),
    (lambda c: c["item"][-1]["request"].__setitem__(
        "url", f"https://u:{SECRET}@elsewhere.example/health"),
     "request 'Fetch token by hand': url"),
])
def test_user_info_in_a_url_is_refused_without_echoing_it(
        change: Any, where: str, capsys: pytest.CaptureFixture[str]) -> None:
    collection = _resolved(_collection())
    change(collection)
    path = _write(collection)
    err = _error(capsys, "--postman", str(path))
    assert err == f"cpi-preflight init: --postman {path}: {where}: {USER_INFO}\n"
    assert SECRET not in err


def test_user_info_in_a_newman_token_request_is_refused(
        capsys: pytest.CaptureFixture[str]) -> None:
    collection = _newman()
    _token_request(collection)["url"] = (f"https://{NEWMAN_CLIENT}:{SECRET}@example-test."
                                         "authentication.eu20.hana.ondemand.com/oauth/token")
    path = _write(collection)
    err = _error(capsys, "--postman", str(path))
    assert err == (f"cpi-preflight init: --postman {path}: request 'Auth/Get access token': "
                   f"url: {USER_INFO}\n")
    assert SECRET not in err


def test_user_info_in_the_oauth_token_url_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    collection = _resolved(_collection())
    _token_url_in_oauth(collection, f"https://u:{SECRET}@x.authentication.eu10.hana."
                                    "ondemand.com/oauth/token")
    path = _write(collection)
    assert _error(capsys, "--postman", str(path)) == (
        f"cpi-preflight init: --postman {path}: the collection: accessTokenUrl: {USER_INFO}\n")


@pytest.mark.parametrize(("url", "found"), [
    ("https://u:p@h.example/x", True),
    ("https://u@h.example", True),
    ("https://h.example\\@evil.example/", True),
    ("https://h.example/a@b?c=d@e#f@g", False),
    ("https://h.example:443/api", False),
])
def test_user_info_is_found_in_the_authority_only(url: str, found: bool) -> None:
    assert postman.has_user_info(url) is found


# --- Neo (issue 18.7) -------------------------------------------------------------------------

NEO_AUTH_HELP = ("cpi-preflight checks an OAuth client, and Neo has no service keys: create "
                 "the client in the Neo cockpit (Security > OAuth > Clients, subscription "
                 "...tmn, grant type Client Credentials; the token endpoint is on the Branding "
                 "tab), then set it in Postman as OAuth 2.0 with Grant Type Client Credentials, "
                 "or run cpi-preflight init --environment neo --api-url API_URL --token-url "
                 "TOKEN_URL --client-id CLIENT_ID --name NAME")


def test_a_neo_basic_auth_collection_points_to_the_neo_init_form(
        capsys: pytest.CaptureFixture[str]) -> None:
    collection = json.loads((FIXTURES / "basic-auth.postman_collection.json").read_text(
        encoding="utf-8"))
    collection["variable"][0]["value"] = "https://e0123456-tmn.hci.eu2.hana.ondemand.com"
    path = _write(collection)
    err = _error(capsys, "--postman", str(path))
    assert err == (f"cpi-preflight init: --postman {path}: the collection uses Basic "
                   f"authentication (user and password); {NEO_AUTH_HELP}\n")
    assert "--service-key" not in err


def test_environment_neo_points_a_basic_auth_collection_to_the_neo_init_form(
        capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "basic-auth.postman_collection.json"
    assert _error(capsys, "--postman", str(path), "--environment", "neo") == (
        f"cpi-preflight init: --postman {path}: the collection uses Basic authentication (user "
        f"and password); {NEO_AUTH_HELP}\n")
