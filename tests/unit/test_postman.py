"""`cpi-preflight init --postman`: Postman v2.1 collections (as exported) -> a profile."""

from __future__ import annotations

import copy
import json
import os
import shlex
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


# --- the fixture collection, as Postman exports it ----------------------------------------------

def test_import_reads_the_client_the_api_and_the_entity_sets() -> None:
    found = postman.read(COLLECTION, ENVIRONMENT, None)
    assert (found.api_url, found.token_url, found.client_id, found.environment) == (
        API_URL, TOKEN_URL, CLIENT_ID, "cf")
    assert found.client_secret is not None
    assert found.client_secret.reveal() == SECRET
    assert found.endpoints == ["MessageProcessingLogs", "MessageProcessingLogsCount",
                               "IntegrationRuntimeArtifacts", "IntegrationPackages",
                               "KeystoreEntries"]
    assert found.auth_from == "the collection"


def test_left_out_requests_are_reported_with_the_reason() -> None:
    found = postman.read(COLLECTION, ENVIRONMENT, None)
    assert [item.line() for item in found.left_out] == [
        f"request 'Fetch token by hand' (POST {TOKEN_URL}): not a call to <API host>/api/v1/",
        "request 'Design/Create integration package' (POST /IntegrationPackages): not "
        "read-only; cpi-preflight only reads",
        "request 'Design/Custom entity set' (GET /ZCustomReports): ZCustomReports is not in "
        "the catalog; `cpi-preflight catalog` lists the entity sets it knows",
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
    assert lines[:7] == [
        "Wrote profiles/pm.yaml (Cloud Foundry, client secret).",
        "",
        f"From the collection: API {API_URL}, client {CLIENT_ID} (OAuth 2.0 authorization of "
        "the collection), environment cf (from the token URL).",
        "Endpoints: MessageProcessingLogs, MessageProcessingLogsCount, "
        "IntegrationRuntimeArtifacts, IntegrationPackages, KeystoreEntries; required roles: "
        "MonitoringDataRead, WorkspacePackagesRead.",
        "Left out (not written to the profile):",
        f"  - request 'Fetch token by hand' (POST {TOKEN_URL}): not a call to "
        "<API host>/api/v1/",
        "  - request 'Design/Create integration package' (POST /IntegrationPackages): not "
        "read-only; cpi-preflight only reads",
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
