"""`cpi-preflight init`: inputs as users hold them, and inputs crafted to break what init writes.

Service keys as `cf service-key` prints them (from a file or standard input), in the
`credentials` wrapper or inside VCAP_SERVICES; Neo told by the token URL's shape; control
characters and URL user info refused, naming the field and never repeating a secret; written
profiles that load back key by key whatever the input file is called; the sandbox's marker.
"""

from __future__ import annotations

import io
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from cpi_preflight import cli, profile
from cpi_preflight.commands import init as init_command

from .test_cli import printed_pytest

SECRET = "s3cr&<>\"'$t="
API_URL = "https://example.it-cpi018.cfapps.eu10-003.hana.ondemand.com"
TOKEN_URL = "https://example.authentication.eu10.hana.ondemand.com/oauth/token"
CLIENT_ID = "sb-00000000-0000-4000-8000-000000000000!b12345|it!b1234"
NEO_API = "https://acc-tmn.hci.eu1.hana.ondemand.com"
NEO_TOKEN = "https://oauthasservices-acc.hana.ondemand.com/oauth2/api/v1/token"
KEY = {"oauth": {"clientid": CLIENT_ID, "clientsecret": SECRET, "url": API_URL,
                 "tokenurl": TOKEN_URL, "createdate": "2024-01-01T00:00:00.000Z"}}
CF_HEADER = "Getting key cpi-key for service instance cpi-api as admin@example.com...\n\n"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CPI_X_CLIENT_SECRET", raising=False)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["init", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = _run(capsys, *argv)
    assert (code, out) == (2, ""), err
    assert not Path("profiles").exists(), "nothing may be written on an error"
    assert SECRET not in err
    return err


def _key_file(name: str, data: object) -> str:
    Path(name).write_text(data if isinstance(data, str) else json.dumps(data, indent=2),
                          encoding="utf-8")
    return name


def _with(**oauth: str) -> dict[str, Any]:
    return {"oauth": {**KEY["oauth"], **oauth}}


def _written(name: str = "x") -> dict[str, Any]:
    loaded = yaml.safe_load(Path(f"profiles/{name}.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


EXPECTED_CF = {"environment": "cf", "description": "x on example.it-cpi018.cfapps.eu10-003."
               "hana.ondemand.com, client secret", "api_url": API_URL, "token_url": TOKEN_URL,
               "client_id": CLIENT_ID, "client_secret": "${CPI_X_CLIENT_SECRET}",
               "required_roles": ["MonitoringDataRead"],
               "endpoints": ["MessageProcessingLogs", "IntegrationRuntimeArtifacts"]}


# --- cf CLI output, the credentials wrapper, VCAP_SERVICES, standard input ---------------------

def _cf_output(key: object = KEY) -> str:
    return CF_HEADER + json.dumps({"credentials": key}, indent=2) + "\n"


@pytest.mark.parametrize("text", [
    json.dumps(KEY), json.dumps({"credentials": KEY}), _cf_output(),
    _cf_output().replace("\n", "\r\n"),
], ids=["bare key", "credentials wrapper", "cf service-key output", "cf output, CRLF"])
def test_a_key_is_read_as_users_hold_it(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--service-key", _key_file("key.txt", text), "--name", "x")
    assert (code, err) == (0, "")
    assert _written() == EXPECTED_CF
    assert f"export CPI_X_CLIENT_SECRET={shlex.quote(SECRET)}" in out.splitlines()


def test_cf_service_key_output_is_read_from_standard_input(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(_cf_output().encode())))
    code, out, err = _run(capsys, "--service-key", "-", "--name", "x")
    assert (code, err) == (0, "")
    assert _written() == EXPECTED_CF
    assert out.splitlines()[-1] == f"{printed_pytest()} --profile x"
    text = Path("profiles/x.yaml").read_text(encoding="utf-8")
    assert "Written by `cpi-preflight init`\n# from a service key read from standard input." in text


def test_a_broken_key_on_standard_input_is_named_as_such(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    broken = CF_HEADER + '{\n  "credentials": {\n    "oauth": {,\n'
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(broken.encode())))
    assert _error(capsys, "--service-key", "-", "--name", "x") == (
        "cpi-preflight init: standard input: invalid JSON at line 5, column 15: Expecting "
        "property name enclosed in double quotes; download the service key again from the BTP "
        "cockpit\n")


def test_cf_output_without_a_key_says_what_cf_printed(capsys: pytest.CaptureFixture[str]) -> None:
    printed = ("Getting key k for service instance cpi as admin...\nFAILED\n"
               "No service key k found for service instance cpi\n")
    assert _error(capsys, "--service-key", _key_file("out.txt", printed), "--name", "x") == (
        "cpi-preflight init: out.txt: holds no JSON object (it starts: 'Getting key k for "
        "service instance cpi as admin... FAILED No service key k found for service inst...'); "
        "give the service key as the BTP cockpit downloads it, or as `cf service-key <instance> "
        "<key>` prints it\n")


def _vcap(*instances: tuple[str, str, str]) -> dict[str, list[dict[str, Any]]]:
    services: dict[str, list[dict[str, Any]]] = {}
    for label, plan, name in instances:
        services.setdefault(label, []).append(
            {"label": label, "plan": plan, "name": name, "credentials": KEY})
    return services


def test_vcap_services_gives_the_instance_of_plan_api_and_says_which(
        capsys: pytest.CaptureFixture[str]) -> None:
    vcap = _vcap(("xsuaa", "application", "uaa"), ("it-rt", "integration-flow", "cpi-rt"),
                 ("it-rt", "api", "cpi-api"))
    code, out, err = _run(capsys, "--service-key", _key_file("vcap.json", vcap), "--name", "x")
    assert (code, err) == (0, "")
    assert _written() == EXPECTED_CF
    assert out.splitlines()[2] == ("Took the credentials of the instance 'cpi-api' (label "
                                   "it-rt, plan api) of VCAP_SERVICES.")


def test_vcap_services_under_its_own_name_is_read_too(capsys: pytest.CaptureFixture[str]) -> None:
    vcap = {"VCAP_SERVICES": _vcap(("it-rt", "api", "cpi-api"))}
    code, _, err = _run(capsys, "--service-key", _key_file("env.json", vcap), "--name", "x")
    assert (code, err) == (0, "")
    assert _written() == EXPECTED_CF


def test_vcap_services_without_an_api_instance_lists_what_it_holds(
        capsys: pytest.CaptureFixture[str]) -> None:
    vcap = _vcap(("xsuaa", "application", "uaa"), ("it-rt", "integration-flow", "cpi-rt"))
    assert _error(capsys, "--service-key", _key_file("vcap.json", vcap), "--name", "x") == (
        "cpi-preflight init: vcap.json: VCAP_SERVICES: no instance has label it-rt and plan api "
        "(Process Integration Runtime, plan api) (it holds 'uaa' (label xsuaa, plan "
        "application); 'cpi-rt' (label it-rt, plan integration-flow)); bind an instance of plan "
        "api, or give its service key as `cf service-key <instance> <key>` prints it\n")


def test_vcap_services_with_two_api_instances_names_both(
        capsys: pytest.CaptureFixture[str]) -> None:
    vcap = _vcap(("it-rt", "api", "cpi-eu"), ("it-rt", "api", "cpi-\x1b[31mus"))
    assert _error(capsys, "--service-key", _key_file("vcap.json", vcap), "--name", "x") == (
        "cpi-preflight init: vcap.json: VCAP_SERVICES: 2 instances have label it-rt and plan "
        "api (Process Integration Runtime, plan api): 'cpi-eu', 'cpi-us'; give the service key "
        "of the one to check, as `cf service-key <instance> <key>` prints it\n")


# --- Neo by the token URL's shape ---------------------------------------------------------------

def test_a_neo_token_url_makes_a_neo_profile_and_init_says_so(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--name", "x", "--api-url", NEO_API, "--token-url", NEO_TOKEN,
                          "--client-id", "3f1c0000")
    assert (code, err) == (0, "")
    assert _written()["environment"] == "neo"
    assert _written()["required_roles"] == ["IntegrationOperationServer.read",
                                            "NodeManager.read"]
    assert out.splitlines()[2] == (
        "Environment: Neo, from the shape of --token-url (Neo's token endpoint: "
        "https://oauthasservices-<account>.<host>/oauth2/api/v1/token); give --environment cf "
        "if the tenant is on Cloud Foundry.")


def test_the_shape_is_read_by_the_same_function_as_for_postman() -> None:
    from cpi_preflight import postman, urls
    assert postman.environment_of is urls.environment_of


@pytest.mark.parametrize(("argv", "environment"), [
    (["--environment", "cf"], "cf"),
    (["--token-url", TOKEN_URL.replace("/oauth/token", "/oauth2/api/v1/token"),
      "--environment", "cf"], "cf"),
])
def test_an_explicit_environment_wins_over_the_shape(
        argv: list[str], environment: str, capsys: pytest.CaptureFixture[str]) -> None:
    token = argv[argv.index("--token-url") + 1] if "--token-url" in argv else NEO_TOKEN
    rest = [a for a in argv if a not in ("--token-url", token)]
    code, out, _ = _run(capsys, "--name", "x", "--api-url", NEO_API, "--token-url", token,
                        "--client-id", "c", *rest)
    assert code == 0
    assert _written()["environment"] == environment
    assert "Environment: Neo" not in out


def test_a_neo_secret_already_in_the_environment_is_not_asked_for_again(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CPI_X_CLIENT_SECRET", SECRET)
    code, out, _ = _run(capsys, "--name", "x", "--api-url", NEO_API, "--token-url", NEO_TOKEN,
                        "--client-id", "c")
    assert code == 0
    assert ("The secret is not in the profile; it is read from CPI_X_CLIENT_SECRET, which is set "
            "in this shell (in CI, store it as the secret CPI_X_CLIENT_SECRET).") in out
    assert "<client secret>" not in out
    assert SECRET not in out


# --- control characters and user info: refused, naming the field ---------------------------------

HIDDEN = [("\x1b[2J", "U+001B at position 4"), ("\r", "U+000D at position 4"),
          ("\x1b]52;c;ZXZpbA==\x07", "U+001B at position 4"), ("\u202e", "U+202E at position 4"),
          ("\n", "U+000A at position 4")]


@pytest.mark.parametrize(("field", "value"), [
    ("clientsecret", "s3c{}ret&<>\"'$"), ("clientid", "sb-{}1!b2|it!b3"),
    ("url", "htt{}ps://example.com"), ("tokenurl", "htt{}ps://example.com/oauth/token"),
])
@pytest.mark.parametrize(("hidden", "where"), HIDDEN)
def test_a_key_value_with_a_control_character_is_refused_naming_the_field(
        field: str, value: str, hidden: str, where: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    key = _key_file("key.json", _with(**{field: value.format(hidden)}))
    err = _error(capsys, "--service-key", key, "--name", "x")
    assert err == (f"cpi-preflight init: key.json: oauth.{field}: holds a control or invisible "
                   f"character ({where}); download the service key again from the BTP "
                   "cockpit\n")
    assert hidden not in err.rstrip("\n")


@pytest.mark.parametrize(("option", "value"), [
    ("--client-id", "3f1{}c"), ("--api-url", "htt{}ps://acc-tmn.hci.eu1.hana.ondemand.com"),
    ("--token-url", "htt{}ps://oauthasservices-acc.hana.ondemand.com/oauth2/api/v1/token"),
])
@pytest.mark.parametrize(("hidden", "where"), HIDDEN)
def test_an_option_with_a_control_character_is_refused_naming_it(
        option: str, value: str, hidden: str, where: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    values = {"--client-id": "3f1c", "--api-url": NEO_API, "--token-url": NEO_TOKEN,
              option: value.format(hidden)}
    argv = [part for pair in values.items() for part in pair]
    err = _error(capsys, "--environment", "neo", "--name", "x", *argv)
    assert err == (f"cpi-preflight init: {option}: holds a control or invisible character "
                   f"({where}); give the value exactly as the cockpit or the service key shows "
                   "it\n")


USER_INFO = ("the URL holds a user name or password before '@' ({shown}); it would connect to "
             "{host} and send them instead of the client's credentials: remove everything "
             "between :// and @")


@pytest.mark.parametrize(("field", "url", "shown", "host"), [
    ("url", f"https://user:{SECRET}@example.it-cpi018.cfapps.eu10-003.hana.ondemand.com",
     "https://***@example.it-cpi018.cfapps.eu10-003.hana.ondemand.com",
     "example.it-cpi018.cfapps.eu10-003.hana.ondemand.com"),
    ("tokenurl", "https://example.authentication.eu10.hana.ondemand.com:443@evil.example/oauth/"
     "token", "https://***@evil.example/oauth/token", "evil.example"),
])
def test_user_info_in_a_key_url_is_refused_without_repeating_it(
        field: str, url: str, shown: str, host: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(capsys, "--service-key", _key_file("key.json", _with(**{field: url})),
                 "--name", "x")
    assert err == (f"cpi-preflight init: key.json: oauth.{field}: "
                   f"{USER_INFO.format(shown=shown, host=host)}\n")
    assert "example.authentication" not in err


def test_user_info_in_a_url_option_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(capsys, "--name", "x", "--api-url", f"https://u:{SECRET}@acc-tmn.example.com",
                 "--token-url", NEO_TOKEN, "--client-id", "c")
    problem = USER_INFO.format(shown="https://***@acc-tmn.example.com",
                               host="acc-tmn.example.com")
    assert err == f"cpi-preflight init: --api-url: {problem}\n"


def test_what_an_error_quotes_from_outside_is_printable(
        capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(capsys, "--service-key", "k\x1b]52;c;ZXZpbA==\x07e\x1b[2Ky\r\nOK.json",
                 "--name", "x")
    assert err == ("cpi-preflight init: --service-key key OK.json: no such file; download the "
                   "service key of the Process Integration Runtime instance (plan api) from the "
                   "BTP cockpit and give its path\n")


# --- what init writes loads back as written, key by key ----------------------------------------

@pytest.mark.parametrize("breaker", ["\u2028", "\u2029", "\x85", "\n", "\r"])
def test_a_crafted_file_name_cannot_add_keys_to_the_profile(
        breaker: str, capsys: pytest.CaptureFixture[str]) -> None:
    name = f"key{breaker}strict: true{breaker}deadline: 1{breaker}x.json"
    code, _, err = _run(capsys, "--service-key", _key_file(name, KEY), "--name", "x")
    assert (code, err) == (0, "")
    text = Path("profiles/x.yaml").read_text(encoding="utf-8")
    assert _written() == EXPECTED_CF
    comments = " ".join(line[2:] for line in text.splitlines() if line.startswith("# "))
    assert "from the service key key strict: true deadline: 1 x.json. The README" in comments
    loaded = profile.load("x", Path("profiles"), {"CPI_X_CLIENT_SECRET": SECRET})
    assert (loaded.strict, loaded.deadline) == (False, 120.0)


@pytest.mark.parametrize("value", ["a: b", "x # y", "'q'", "yes", "ü\u2028x", "t\x85u"])
def test_every_copied_value_is_written_by_the_yaml_emitter(value: str) -> None:
    from cpi_preflight.profile_writer import _yaml_line
    line = _yaml_line("client_id", value)
    assert "\n" not in line
    assert yaml.safe_load(line) == {"client_id": value}


def test_a_ca_bundle_path_with_line_breaks_is_written_as_one_value(
        capsys: pytest.CaptureFixture[str]) -> None:
    folder = Path("ca\u2028strict: true")
    folder.mkdir()
    ca = folder / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    code, _, err = _run(capsys, "--service-key", _key_file("key.json", KEY), "--name", "x",
                        "--ca-bundle", str(ca))
    assert (code, err) == (0, "")
    assert _written() == {**EXPECTED_CF, "ca_bundle": "../ca\u2028strict: true/ca.pem"}


# --- the sandbox's marker -----------------------------------------------------------------------

def test_a_sandbox_key_marks_the_profile_simulated(capsys: pytest.CaptureFixture[str]) -> None:
    key = {**KEY, "cpi_preflight": {"simulated": "sandbox"}}
    code, out, _ = _run(capsys, "--service-key", _key_file("key.json", _cf_output(key)),
                        "--name", "x")
    assert code == 0
    assert _written() == {**EXPECTED_CF, "simulated": "sandbox"}
    assert ("The profile says `simulated: sandbox`: its reports are no evidence for a real "
            "tenant.") in out.splitlines()
    loaded = profile.load("x", Path("profiles"), {"CPI_X_CLIENT_SECRET": SECRET})
    assert loaded.simulated == "sandbox"


def test_the_simulated_option_marks_a_neo_profile(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = _run(capsys, "--name", "x", "--api-url", NEO_API, "--token-url", NEO_TOKEN,
                      "--client-id", "c", "--simulated")
    assert code == 0
    assert _written()["simulated"] == "sandbox"


def test_a_real_key_makes_no_simulated_profile(capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, "--service-key", _key_file("key.json", KEY), "--name", "x")
    assert "simulated" not in _written()


def test_a_forged_marker_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    key = {**KEY, "cpi_preflight": {"simulated": "no\nstrict: true"}}
    assert _error(capsys, "--service-key", _key_file("key.json", key), "--name", "x") == (
        "cpi-preflight init: key.json: cpi_preflight: only a key written by `cpi-preflight "
        'sandbox` has this key, as {"simulated": "sandbox"}; download the service key again '
        "from the BTP cockpit\n")


# --- a Postman import with an endpoint the catalog does not know -------------------------------

def test_an_unknown_endpoint_with_a_collection_is_a_validation_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "postman"
    err = _error(capsys, "--postman", str(fixtures / "sap-cpi-cf.postman_collection.json"),
                 "--postman-environment", str(fixtures / "sap-cpi-cf.postman_environment.json"),
                 "--endpoints", "Nope", "--name", "x")
    assert err == ("cpi-preflight init: profiles/x.yaml: endpoints item 1: unknown endpoint "
                   "'Nope'; run `cpi-preflight catalog` (nothing was written; correct "
                   "--endpoints and run init again)\n")


def test_check_values_names_postman_fields() -> None:
    from cpi_preflight.errors import ConfigError
    from cpi_preflight.secret import Secret
    from cpi_preflight.service_key import ServiceKey

    key = ServiceKey(API_URL, TOKEN_URL, CLIENT_ID, Secret("s\x1b[0mx"), None, None, "secret")
    with pytest.raises(ConfigError) as caught:
        init_command.check_values(key, {"client_secret": "--postman c.json: the collection: "
                                                         "OAuth 2.0 clientSecret"})
    assert str(caught.value) == (
        "--postman c.json: the collection: OAuth 2.0 clientSecret: holds a control or invisible "
        "character (U+001B at position 2); give the value exactly as the cockpit or the service "
        "key shows it")
