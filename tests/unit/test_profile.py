"""profile: every validation path, with the exact message a user reads."""

from __future__ import annotations

import datetime
import hashlib
import os
import pickle
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from cpi_preflight import catalog, files, plan
from cpi_preflight import profile as profile_module
from cpi_preflight.errors import ConfigError, ProfileError, ProfilesError, SandboxSpecError
from cpi_preflight.profile import KEYS, Timeouts, resolve_names
from cpi_preflight.secret import MASK, Secret, scrub
from cpi_preflight.urls import normalize_api_url

from .conftest import (
    API_URL,
    CLIENT_ID,
    CLIENT_SECRET,
    TOKEN_URL,
    PemPair,
    cf_data,
    neo_data,
    parse,
    write_json,
    write_yaml,
)

WHERE = "profiles/t.yaml"


def problem(data: object, environ: dict[str, str] | None = None) -> str:
    """The message `parse` raises for `data` (as profiles/t.yaml)."""
    with pytest.raises(ProfileError) as caught:
        parse(data, environ=environ)
    return str(caught.value)


def load(workdir: Path, data: object, environ: dict[str, str] | None = None,
         name: str = "t") -> profile_module.Profile:
    write_yaml(workdir / "profiles", name, data)
    return profile_module.load(name, workdir / "profiles", environ or {})


def load_problem(workdir: Path, text: str | bytes, name: str = "t") -> str:
    return str(load_error(workdir, text, name))


def load_error(workdir: Path, text: str | bytes, name: str = "t") -> ProfileError:
    """The error loading `text` as profiles/NAME.yaml raises."""
    folder = workdir / "profiles"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError) as caught:
        profile_module.load(name, folder, {})
    return caught.value


def sandbox_spec_available() -> None:
    """Skip unless `cpi_preflight.sandbox.SandboxSpec` can be imported (built elsewhere)."""
    sandbox = pytest.importorskip("cpi_preflight.sandbox")
    if not hasattr(sandbox, "SandboxSpec"):
        pytest.skip("cpi_preflight.sandbox.SandboxSpec does not exist yet")


# --- a valid profile ---------------------------------------------------------------------


def test_a_valid_cf_profile_is_read_into_a_typed_profile(workdir: Path) -> None:
    prof = load(workdir, cf_data(description="  monitoring client  ", strict=True,
                                 endpoints=["IntegrationPackages"],
                                 timeout={"connect": 2, "read": 9.5}, deadline=30,
                                 expiry_warning_days=7, attempts=4))
    assert prof.name == "t"
    assert prof.path == workdir / "profiles" / "t.yaml"
    assert prof.environment == "cf"
    assert prof.api_url == API_URL
    assert prof.api_root == f"{API_URL}/api/v1"
    assert prof.token_url == TOKEN_URL
    assert prof.client_id == CLIENT_ID
    assert prof.client_secret == Secret(CLIENT_SECRET)
    assert (prof.certificate, prof.key, prof.ca_bundle) == (None, None, None)
    assert not prof.uses_certificate
    assert prof.required_roles == ("MonitoringDataRead",)
    assert prof.endpoints == ("IntegrationPackages",)
    assert prof.strict is True
    assert prof.attempts == 4
    assert prof.timeouts == Timeouts(connect=2.0, read=9.5)
    assert prof.deadline == 30.0
    assert prof.expiry_warning_days == 7
    assert prof.description == "monitoring client"
    assert prof.sandbox is None


def test_defaults_apply_when_optional_keys_are_absent() -> None:
    prof = parse(cf_data(attempts=None))
    assert (prof.strict, prof.attempts, prof.deadline, prof.expiry_warning_days) == (
        False, 3, 120.0, 30)
    assert prof.timeouts == Timeouts(connect=5.0, read=15.0)
    assert prof.endpoints == ()
    assert prof.description == ""


def test_environment_is_case_insensitive() -> None:
    assert parse(cf_data(environment="CF")).environment == "cf"


def test_roles_and_endpoints_may_be_comma_separated_text_and_are_deduplicated() -> None:
    prof = parse(cf_data(required_roles="MonitoringDataRead, WorkspacePackagesRead,,",
                         endpoints=["DataStores", "DataStores", " Variables "]))
    assert prof.required_roles == ("MonitoringDataRead", "WorkspacePackagesRead")
    assert prof.endpoints == ("DataStores", "Variables")


def test_endpoints_alone_are_enough() -> None:
    prof = parse(cf_data(required_roles=None, endpoints=["MessageProcessingLogs"]))
    assert prof.required_roles == ()


def test_numbers_and_words_are_accepted_as_text() -> None:
    assert parse(cf_data(client_id=12345)).client_id == "12345"


def test_neo_accepts_neo_roles_and_role_templates_with_known_permissions() -> None:
    prof = parse(neo_data(required_roles=["NodeManager.read", "MonitoringDataRead"]))
    assert prof.required_roles == ("NodeManager.read", "MonitoringDataRead")


def test_neo_accepts_the_authorization_groups_sap_s_neo_pages_name() -> None:
    groups = ["AuthGroup.TenantPartnerDirectoryConfigurator", "AuthGroup.SystemDeveloper"]
    assert parse(neo_data(required_roles=groups)).required_roles == tuple(groups)


def test_fingerprint_ignores_the_secret_and_follows_the_settings() -> None:
    first = parse(cf_data()).fingerprint()
    assert parse(cf_data(client_secret="another-secret")).fingerprint() == first
    assert parse(cf_data(required_roles=["WorkspacePackagesRead"])).fingerprint() != first
    assert len(first) == 64


FINGERPRINTED = {"environment": "cf", "api_url": "https://a.example.com",
                 "token_url": "https://t.example.com/oauth/token", "client_id": "c1",
                 "required_roles": ["WorkspacePackagesRead", "MonitoringDataRead"],
                 "endpoints": ["MessageProcessingLogs", "DataStores"], "strict": True}


def canonical_fingerprint(credential: str) -> str:
    """The SHA-256 of the canonical JSON (sorted keys, lists sorted) of `FINGERPRINTED`'s
    settings, written out: evidence of earlier runs carries fingerprints made this way, so a
    change of the recipe would tell every unchanged setup apart from its own past runs."""
    blob = ('{"api_url": "https://a.example.com", "client_id": "c1", '
            f'"credential": "{credential}", "endpoints": ["DataStores", "MessageProcessingLogs"], '
            '"environment": "cf", "required_roles": ["MonitoringDataRead", '
            '"WorkspacePackagesRead"], "strict": true, '
            '"token_url": "https://t.example.com/oauth/token"}')
    return hashlib.sha256(blob.encode()).hexdigest()


def test_the_fingerprint_of_a_secret_client_is_the_hash_of_its_canonical_settings() -> None:
    prof = parse({**FINGERPRINTED, "client_secret": "s&<>\"'$"})
    assert prof.fingerprint() == canonical_fingerprint("secret")


def test_the_fingerprint_of_a_certificate_client_says_certificate(
        workdir: Path, pem_pair: PemPair) -> None:
    cert, key = pem_pair.write(workdir)
    prof = parse({**FINGERPRINTED, "certificate": str(cert), "key": str(key)})
    assert prof.fingerprint() == canonical_fingerprint("certificate")
    assert prof.fingerprint() != parse({**FINGERPRINTED, "client_secret": "s"}).fingerprint()


# --- the secret --------------------------------------------------------------------------


def test_the_client_secret_is_a_secret_that_never_shows_its_value() -> None:
    prof = parse(cf_data())
    secret = prof.client_secret
    assert isinstance(secret, Secret)
    assert secret.reveal() == CLIENT_SECRET
    assert repr(secret) == "Secret(***)"
    assert str(secret) == MASK
    assert f"{secret}|{secret:>20}|{secret!r}" == "***|***|Secret(***)"
    assert CLIENT_SECRET not in repr(prof)
    assert CLIENT_SECRET not in str(prof)


def test_a_secret_cannot_be_pickled() -> None:
    with pytest.raises(TypeError, match="a Secret cannot be pickled"):
        pickle.dumps(parse(cf_data()).client_secret)


# --- ${VAR} expansion --------------------------------------------------------------------


def test_variables_are_expanded_in_the_credential_keys(tmp_path: Path,
                                                       pem_pair: PemPair) -> None:
    prof = parse(cf_data(client_secret="${CPI_SECRET}"), environ={"CPI_SECRET": "s3cr$t="})
    assert prof.client_secret is not None
    assert prof.client_secret.reveal() == "s3cr$t="
    cert, key = pem_pair.write(tmp_path)
    prof = parse(cf_data(client_secret=None, certificate="${CRT}", key="${KEY}"),
                 environ={"CRT": str(cert), "KEY": str(key)})
    assert (prof.certificate, prof.key) == (cert, key)
    assert scrub(f"read {cert}") == "read ***", "what a variable held is masked"


SECRET_LIKE = "gh&<>\"'$token"


@pytest.mark.parametrize(("key", "value"), [
    ("description", "${GITHUB_TOKEN}"), ("api_url", "https://${GITHUB_TOKEN}.example.com"),
    ("token_url", "https://t.example.com/oauth/token?x=${GITHUB_TOKEN}"),
    ("client_id", "sb-${GITHUB_TOKEN}"), ("ca_bundle", "${GITHUB_TOKEN}"),
    ("environment", "${GITHUB_TOKEN}"),
])
def test_a_variable_outside_the_credential_keys_is_refused_unread(key: str, value: str) -> None:
    message = problem(cf_data(**{key: value}), environ={"GITHUB_TOKEN": SECRET_LIKE})
    assert message == (
        f"{WHERE}: {key}: ${{GITHUB_TOKEN}}: environment variables are read only in "
        "client_secret, certificate, key, service_key, and what they hold is masked as a "
        "secret; write the value itself here")
    assert scrub(SECRET_LIKE) == SECRET_LIKE, "an unread variable is not registered"


def test_a_variable_in_a_list_is_refused_naming_the_item() -> None:
    assert problem(cf_data(required_roles=["MonitoringDataRead", "${ROLE}"]),
                   environ={"ROLE": "WorkspacePackagesRead"}) == (
        f"{WHERE}: required_roles item 2: ${{ROLE}}: environment variables are read only in "
        "client_secret, certificate, key, service_key, and what they hold is masked as a "
        "secret; write the value itself here")


def test_what_a_variable_holds_is_masked_even_as_a_path() -> None:
    path_like = "keys/&<>\"'$.pem"
    message = problem(cf_data(client_secret=None, certificate="${CRT}", key="${CRT}"),
                      environ={"CRT": path_like})
    assert message == (f"{WHERE}: certificate: file profiles/{path_like} does not exist or is "
                       "not a file")
    assert scrub(message) == (f"{WHERE}: certificate: file profiles/*** does not exist or is "
                              "not a file")


def test_an_unset_variable_names_the_key_and_the_variable() -> None:
    assert problem(cf_data(client_secret="${CPI_SECRET}")) == (
        f"{WHERE}: client_secret: environment variable CPI_SECRET is not set; export "
        "CPI_SECRET='...' (single quotes: secrets may hold $) before running; in CI, pass the "
        "secret or variable to this job")


@pytest.mark.parametrize("requested", [[""], [" , "]])
def test_an_empty_profile_name_is_named_as_such(tmp_path: Path, requested: list[str]) -> None:
    (tmp_path / "p.yaml").write_text("environment: cf\n")
    with pytest.raises(ProfileError) as caught:
        profile_module.resolve_names(requested, tmp_path)
    assert str(caught.value) == (
        f"--profile was given an empty name; name a profile (--profile NAME for "
        f"{tmp_path}/NAME.yaml) or use --profile all")


SET_BUT_EMPTY = ("environment variable {0} is set but empty; export {0}=... with the value "
                 "before running (in CI, check that the secret or variable is passed to this job)")


def test_a_variable_set_to_nothing_is_named_for_a_required_key() -> None:
    assert problem(cf_data(client_secret=None, certificate="c.pem", key="${KEY}"),
                   environ={"KEY": ""}) == f"{WHERE}: key: {SET_BUT_EMPTY.format('KEY')}"


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_secret_variable_is_named_not_called_missing(value: str) -> None:
    data = cf_data(client_secret="${CPI_X_CLIENT_SECRET}")
    assert problem(data, environ={"CPI_X_CLIENT_SECRET": value}) == (
        f"{WHERE}: client_secret: {SET_BUT_EMPTY.format('CPI_X_CLIENT_SECRET')}")


def test_a_key_written_empty_without_a_variable_keeps_the_plain_message() -> None:
    assert problem(cf_data(client_id="")) == f"{WHERE}: client_id: is empty"


def test_dollar_signs_that_are_not_references_stay_literal() -> None:
    prof = parse(cf_data(client_secret="a$b$$c${notavar"))
    assert prof.client_secret is not None
    assert prof.client_secret.reveal() == "a$b$$c${notavar"


# --- the file as a whole ----------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("environment: cf\napi_url: [unclosed\n",
     "invalid YAML at line 3, column 1: expected ',' or ']', but got '<stream end>'"),
    ("environment: cf\n  bad: indent\n",
     "invalid YAML at line 2, column 6: mapping values are not allowed here"),
    ('environment: "cf\n', "invalid YAML at line 2, column 1: found unexpected end of stream"),
])
def test_broken_yaml_names_line_and_column(workdir: Path, text: str, expected: str) -> None:
    assert load_problem(workdir, text) == (
        f"{WHERE}: {expected}; correct it there (indentation, quotes, brackets), or write the "
        "profile anew with `cpi-preflight init`")


def test_a_control_character_is_invalid_yaml_without_a_position(workdir: Path) -> None:
    assert load_problem(workdir, "a: \x01\n") == (
        f"{WHERE}: invalid YAML: unacceptable character #x0001: special characters are not "
        'allowed in "<unicode string>", position 3; correct it there (indentation, quotes, '
        "brackets), or write the profile anew with `cpi-preflight init`")


def test_a_file_that_is_not_utf8_is_refused(workdir: Path) -> None:
    assert load_problem(workdir, b"environment: \xff\xfe\n") == f"{WHERE}: is not UTF-8 text"


@pytest.mark.parametrize("text", [
    b"environment: \xff\xfe\n",  # not UTF-8
    "a: \x01\n",  # a YAML error without a position
    "a: " + "[" * 40 + "]" * 40 + "\n",  # nested too deep
])
def test_an_error_in_the_yaml_file_carries_the_file_as_shown(workdir: Path,
                                                            text: str | bytes) -> None:
    error = load_error(workdir, text)
    assert (error.path, error.key) == (Path(WHERE), None)


@pytest.mark.parametrize(("failure", "expected"), [
    (RecursionError("maximum recursion depth exceeded"),
     "the YAML is nested too deeply to be a profile"),
    (yaml.MarkedYAMLError(problem="found something odd"),
     "invalid YAML at somewhere: found something odd; correct it there (indentation, quotes, "
     "brackets), or write the profile anew with `cpi-preflight init`"),
])
def test_a_loader_failure_without_a_place_is_a_profile_error(
        workdir: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception,
        expected: str) -> None:
    """PyYAML's own errors carry a position, and the loader's depth limit comes before Python's
    stack limit; the loader failing without either is still a one-line error about the file."""
    def fail(text: str) -> object:
        raise failure

    monkeypatch.setattr(files, "load_yaml", fail)
    error = load_error(workdir, "environment: cf\n")
    assert str(error) == f"{WHERE}: {expected}"
    assert (error.path, error.key) == (Path(WHERE), None)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_an_empty_file_points_at_the_example(workdir: Path, text: str) -> None:
    assert load_problem(workdir, text) == (
        f"{WHERE}: the file is empty; write one with `cpi-preflight init --service-key "
        "KEY.json --name NAME` (README: Writing a profile)")


@pytest.mark.parametrize(("text", "kind"), [
    ("- environment: cf\n", "a list"),
    ("just words\n", "a string"),
    ("42\n", "a number"),
    ("true\n", "true/false"),
])
def test_a_file_must_hold_a_mapping(workdir: Path, text: str, kind: str) -> None:
    assert load_problem(workdir, text) == (
        f"{WHERE}: must hold a mapping of keys (environment, api_url, ...), not {kind}")


def test_a_missing_file_cannot_be_read(workdir: Path) -> None:
    (workdir / "profiles").mkdir()
    with pytest.raises(ProfileError) as caught:
        profile_module.load("absent", workdir / "profiles", {})
    assert str(caught.value) == "profiles/absent.yaml: cannot be read: No such file or directory"
    assert (caught.value.path, caught.value.key) == (Path("profiles/absent.yaml"), None)


def test_read_yaml_returns_the_data(workdir: Path) -> None:
    path = write_yaml(workdir, "x", {"a": [1, 2]})
    assert profile_module.read_yaml(path) == {"a": [1, 2]}


def test_a_file_outside_the_current_folder_is_named_in_full(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "elsewhere", "t", [])
    with pytest.raises(ProfileError) as caught:
        profile_module.load("t", tmp_path / "elsewhere", {})
    assert str(caught.value).startswith(f"{path}: must hold a mapping")


@pytest.mark.parametrize("name", ["bad name", "../up", "-dash-first", "x/y"])
def test_the_profile_name_must_be_usable_as_a_folder_name(workdir: Path, name: str) -> None:
    folder = workdir / "profiles"
    with pytest.raises(ProfileError) as caught:
        profile_module.load(name, folder, {})
    assert str(caught.value) == (
        f"{folder / (name + '.yaml')}: the file name must be letters, digits, '_', '.' or '-' "
        "(it names the report folder); rename the file")
    assert (caught.value.path, caught.value.key) == (folder / (name + ".yaml"), None)


def test_profile_errors_are_config_errors() -> None:
    assert issubclass(ProfileError, ConfigError)


# --- where a profile error is, as attributes -----------------------------------------------


def where(data: object) -> tuple[Path | None, str | None, str]:
    """`path`, `key` and message of the error `parse` raises for `data` (as profiles/t.yaml)."""
    with pytest.raises(ProfileError) as caught:
        parse(data)
    return caught.value.path, caught.value.key, str(caught.value)


@pytest.mark.parametrize(("data", "key", "named"), [
    (cf_data(api_url="http://tenant.example.com"), "api_url", "api_url"),
    (cf_data(client_secret="${CPI_SECRET}"), "client_secret", "client_secret"),
    ({**cf_data(), "zzz": 1}, "zzz", "zzz"),
    (cf_data(timeout={"connect": 0}), "timeout.connect", "timeout.connect"),
    (cf_data(timeout={"retries": 1}), "timeout.retries", "timeout.retries"),
    (cf_data(required_roles=["MonitoringDataRead", "MonitorDataRead"]), "required_roles",
     "required_roles item 2"),
    (cf_data(required_roles=["MonitoringDataRead", "${ROLE}"]), "required_roles",
     "required_roles item 2"),
    (cf_data(required_roles=["MonitoringDataRead", 3]), "required_roles", "required_roles item 2"),
    (neo_data(required_roles=["UserRolesEdit"]), "required_roles", "required_roles item 1"),
    (cf_data(endpoints=["MessageProcessingLogs", "Queues"]), "endpoints", "endpoints item 2"),
])
def test_a_profile_error_carries_the_file_and_the_key_it_names(
        data: dict[str, Any], key: str, named: str) -> None:
    path, found, message = where(data)
    assert (path, found) == (Path(WHERE), key)
    assert message.startswith(f"{WHERE}: {named}: ")


@pytest.mark.parametrize("data", [None, ["environment: cf"]])
def test_an_error_about_the_whole_file_has_no_key(data: object) -> None:
    assert where(data)[:2] == (Path(WHERE), None)


def test_a_yaml_error_carries_the_file_as_shown(workdir: Path) -> None:
    (workdir / "profiles").mkdir()
    (workdir / "profiles" / "t.yaml").write_text("a: [\n", encoding="utf-8")
    with pytest.raises(ProfileError) as caught:
        profile_module.load("t", workdir / "profiles", {})
    assert (caught.value.path, caught.value.key) == (Path(WHERE), None)


def test_an_error_in_a_command_line_option_names_no_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        profile_module.resolve_names(["nope"], tmp_path)
    assert (caught.value.path, caught.value.key) == (None, None)


# --- keys and types ----------------------------------------------------------------------


@pytest.mark.parametrize(("key", "hint"), [
    ("client_secrt", "client_secret"),
    ("Environment", "environment"),
    ("requiredroles", "required_roles"),
    ("endpoint", "endpoints"),
    ("timeouts", "timeout"),
])
def test_an_unknown_key_suggests_the_closest(key: str, hint: str) -> None:
    assert problem({**cf_data(), key: "x"}) == (
        f"{WHERE}: {key}: unknown key; did you mean '{hint}'?")


def test_an_unknown_key_without_a_close_match_lists_the_valid_keys() -> None:
    assert problem({**cf_data(), "zzz": 1}) == (
        f"{WHERE}: zzz: unknown key; valid keys: environment, description, api_url, "
        "token_url, client_id, client_secret, certificate, key, service_key, ca_bundle, "
        "required_roles, endpoints, strict, attempts, timeout, deadline, expiry_warning_days, "
        "sandbox, http2, simulated")
    assert len(KEYS) == 20


@pytest.mark.parametrize(("written", "offered"), [({}, True), ({"http2": True}, True),
                                                 ({"http2": False}, False)])
def test_http2_is_offered_unless_the_profile_turns_it_off(written: dict[str, bool],
                                                         offered: bool) -> None:
    assert parse({**cf_data(), **written}).http2 is offered


def test_a_non_text_key_is_reported_as_text() -> None:
    assert problem({**cf_data(), 7: "x"}).startswith(f"{WHERE}: 7: unknown key; ")


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"environment": None}, "environment: is required"),
    ({"environment": ""}, "environment: is empty"),
    ({"environment": "aws"}, "environment: must be 'cf' or 'neo', not 'aws'"),
    ({"environment": ["cf"]}, "environment: must be a string, not a list"),
    ({"api_url": None}, "api_url: is required"),
    ({"token_url": "  "}, "token_url: is empty"),
    ({"client_id": None}, "client_id: is required"),
    ({"client_id": ["sb-1"]}, "client_id: must be a string, not a list"),
    ({"client_id": {"a": 1}}, "client_id: must be a string, not a mapping"),
    ({"client_id": True}, "client_id: must be a string, not true/false"),
    ({"client_secret": None}, "client_secret: is required (or certificate + key, or "
                              "service_key)"),
    ({"description": ["a"]}, "description: must be a string, not a list"),
    ({"strict": "yes"}, "strict: must be true or false, not a string"),
    ({"strict": 1}, "strict: must be true or false, not a number"),
    ({"strict": 1.5}, "strict: must be true or false, not a number"),
    ({"client_id": datetime.date(2025, 1, 1)}, "client_id: must be a string, not date"),
    ({"http2": "off"}, "http2: must be true or false, not a string"),
    ({"attempts": "3"}, "attempts: must be a number, not a string"),
    ({"attempts": True}, "attempts: must be a number, not true/false"),
    ({"attempts": 0}, "attempts: must be between 1 and 10, not 0"),
    ({"attempts": 11}, "attempts: must be between 1 and 10, not 11"),
    ({"deadline": 5000}, "deadline: must be between 1 and 3600, not 5000"),
    ({"deadline": 0.5}, "deadline: must be between 1 and 3600, not 0.5"),
    ({"expiry_warning_days": -1}, "expiry_warning_days: must be between 0 and 3650, not -1"),
    ({"timeout": 5}, "timeout: must be a mapping with connect/read, not a number"),
    ({"timeout": {"retries": 1}}, "timeout.retries: unknown key; valid: connect, read"),
    ({"required_roles": 5}, "required_roles: must be a list of names, not a number"),
    ({"required_roles": {"a": 1}}, "required_roles: must be a list of names, not a mapping"),
    ({"required_roles": ["MonitoringDataRead", 3]},
     "required_roles item 2: must be a name, not a number"),
    ({"endpoints": [None]}, "endpoints item 1: must be a name, not empty"),
    ({"required_roles": []}, "required_roles: name at least one role or endpoint to verify "
                             "(required_roles: [...] or endpoints: [...])"),
    ({"required_roles": None}, "required_roles: name at least one role or endpoint to verify "
                               "(required_roles: [...] or endpoints: [...])"),
])
def test_wrong_values_name_the_key_and_the_problem(overrides: dict[str, Any],
                                                   expected: str) -> None:
    assert problem(cf_data(**overrides)) == f"{WHERE}: {expected}"


@pytest.mark.parametrize(("bound", "values"), [
    ("low", {"attempts": 1, "deadline": 1, "expiry_warning_days": 0,
             "timeout": {"connect": 0.1, "read": 0.1}}),
    ("high", {"attempts": 10, "deadline": 3600, "expiry_warning_days": 3650,
              "timeout": {"connect": 300, "read": 600}}),
])
def test_numbers_on_the_bounds_are_accepted(bound: str, values: dict[str, Any]) -> None:
    prof = parse(cf_data(**values))
    assert (prof.attempts, prof.deadline, prof.expiry_warning_days) == (
        values["attempts"], values["deadline"], values["expiry_warning_days"])
    assert prof.timeouts == Timeouts(**values["timeout"])


def test_a_timeout_value_error_names_the_full_key() -> None:
    assert problem(cf_data(timeout={"connect": 0})) == (
        f"{WHERE}: timeout.connect: must be between 0.1 and 300, not 0")


# --- roles and endpoints -----------------------------------------------------------------


@pytest.mark.parametrize(("data", "expected"), [
    (cf_data(required_roles=["MonitorDataRead"]),
     "required_roles item 1: unknown CF role template 'MonitorDataRead'; did you mean "
     "'MonitoringDataRead'?"),
    (cf_data(required_roles=["MonitoringDataRead", "workspacepackagesread"]),
     "required_roles item 2: unknown CF role template 'workspacepackagesread'; did you mean "
     "'WorkspacePackagesRead'?"),
    (cf_data(required_roles=["Zzzzzzzz"]),
     "required_roles item 1: unknown CF role template 'Zzzzzzzz'; run `cpi-preflight catalog` "
     "for the list"),
    (cf_data(required_roles=["NodeManager.read"]),
     "required_roles item 1: unknown CF role template 'NodeManager.read'; 'NodeManager.read' is a "
     "Neo role: on Cloud Foundry name the role template"),
    (neo_data(required_roles=["NodeManager.reed"]),
     "required_roles item 1: unknown CF role template or Neo role 'NodeManager.reed'; did you "
     "mean 'NodeManager.read'?"),
    (neo_data(required_roles=["UserRolesEdit"]),
     "required_roles item 1: role template 'UserRolesEdit' has no known Neo roles; name the "
     "Neo roles instead (see `cpi-preflight catalog --environment neo`)"),
    (cf_data(endpoints=["MessageProcessingLogs", "MessageProcessingLog"]),
     "endpoints item 2: unknown endpoint 'MessageProcessingLog'; did you mean "
     "'MessageProcessingLogs'?"),
    (cf_data(endpoints=["Queues"]),
     "endpoints item 1: unknown endpoint 'Queues'; run `cpi-preflight catalog`"),
])
def test_unknown_roles_and_endpoints_suggest_the_closest(data: dict[str, Any],
                                                         expected: str) -> None:
    assert problem(data) == f"{WHERE}: {expected}"


def test_a_mistyped_neo_role_on_cloud_foundry_is_not_offered_as_a_hint() -> None:
    assert problem(cf_data(required_roles=["NodeManager.reed"])) == (
        f"{WHERE}: required_roles item 1: unknown CF role template 'NodeManager.reed'; run "
        "`cpi-preflight catalog` for the list")


def test_the_module_docstring_example_reads_as_promised(workdir: Path) -> None:
    write_yaml(workdir / "profiles", "prod-cf", cf_data(required_roles=["MonitorDataRead"]))
    with pytest.raises(ProfileError) as caught:
        profile_module.load("prod-cf", workdir / "profiles", {})
    assert str(caught.value) == (
        "profiles/prod-cf.yaml: required_roles item 1: unknown CF role template 'MonitorDataRead'; "
        "did you mean 'MonitoringDataRead'?")


# --- URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("given", [
    "https://tenant.example.com", "https://tenant.example.com/", "https://tenant.example.com/api",
    "https://tenant.example.com/api/", "https://tenant.example.com/api/v1",
    "https://tenant.example.com/api/v1/", "https://tenant.example.com/API/V1",
    "  https://tenant.example.com/api/v1//  ",
])
def test_api_url_is_normalised_to_the_tenant_root(given: str) -> None:
    assert normalize_api_url(given) == "https://tenant.example.com"
    assert parse(cf_data(api_url=given)).api_root == "https://tenant.example.com/api/v1"


def test_api_url_keeps_a_path_that_is_not_the_api_suffix() -> None:
    assert normalize_api_url("https://h.example.com/cpi/api/v1") == "https://h.example.com/cpi"
    assert normalize_api_url("https://h.example.com/apiv1") == "https://h.example.com/apiv1"


@pytest.mark.parametrize("key", ["api_url", "token_url"])
@pytest.mark.parametrize("url", ["http://tenant.example.com/x", "http://10.0.0.1:8080"])
def test_plain_http_is_refused_for_remote_hosts(key: str, url: str) -> None:
    assert problem(cf_data(**{key: url})) == (
        f"{WHERE}: {key}: '{url}' uses plain http://; secrets and tokens must travel over "
        "https:// (http is only allowed for loopback hosts)")


@pytest.mark.parametrize("url", ["http://localhost:8080/oauth/token", "http://127.0.0.1/x",
                                 "http://127.1.2.3:9/oauth/token"])
def test_plain_http_is_allowed_for_loopback(url: str) -> None:
    assert parse(cf_data(token_url=url)).token_url == url


def test_plain_http_is_allowed_for_ipv6_loopback() -> None:
    url = "http://[::1]:8080/oauth/token"
    assert parse(cf_data(token_url=url)).token_url == url


def test_plain_http_to_a_host_that_merely_starts_with_127_is_refused() -> None:
    with pytest.raises(ProfileError, match="uses plain http://"):
        parse(cf_data(token_url="http://127.example.com/oauth/token"))


def test_plain_http_to_a_loopback_user_name_before_another_host_is_refused() -> None:
    assert problem(cf_data(token_url="http://127.0.0.1@evil.example.com/oauth/token")) == (
        f"{WHERE}: token_url: the URL holds a user name or password before '@' "
        "(http://***@evil.example.com/oauth/token); it would connect to evil.example.com and "
        "send them instead of the client's credentials: remove everything between :// and @")


@pytest.mark.parametrize("key", ["api_url", "token_url"])
@pytest.mark.parametrize("url", ["http://localhost.evil.example/oauth/token",
                                 "http://localhost-proxy.corp/api/v1",
                                 "http://LOCALHOSTX/oauth/token"])
def test_plain_http_to_a_host_that_merely_starts_with_localhost_is_refused(key: str,
                                                                          url: str) -> None:
    assert problem(cf_data(**{key: url})) == (
        f"{WHERE}: {key}: '{url}' uses plain http://; secrets and tokens must travel over "
        "https:// (http is only allowed for loopback hosts)")


@pytest.mark.parametrize("url", ["tenant.example.com", "ftp://tenant.example.com",
                                 "https://", "https:// spaced"])
def test_a_value_that_is_not_a_url_is_refused(url: str) -> None:
    assert problem(cf_data(api_url=url)) == (
        f"{WHERE}: api_url: '{url}' is not a URL; expected https://host[/path]")


def test_a_url_that_http_cannot_use_says_why() -> None:
    assert problem(cf_data(api_url="https://tenant.example.com:99999")) == (
        f"{WHERE}: api_url: 'https://tenant.example.com:99999' is not a usable URL: port 99999 "
        "is not between 1 and 65535; expected https://host[/path]")


# --- certificate, key and CA files --------------------------------------------------------


def test_a_certificate_and_key_pair_replaces_the_secret(workdir: Path, pem_pair: PemPair
                                                        ) -> None:
    (workdir / "profiles").mkdir()
    cert, key = pem_pair.write(workdir / "profiles")
    prof = load(workdir, cf_data(client_secret=None, certificate="client.crt", key=str(key)))
    assert prof.certificate == cert
    assert prof.key == key
    assert prof.client_secret is None
    assert prof.uses_certificate


def test_relative_files_are_found_next_to_the_profile(workdir: Path, pem_pair: PemPair) -> None:
    (workdir / "profiles" / "pki").mkdir(parents=True)
    cert, key = pem_pair.write(workdir / "profiles" / "pki")
    prof = load(workdir, cf_data(client_secret=None, certificate="pki/client.crt",
                                 key="pki/client.key"))
    assert (prof.certificate, prof.key) == (cert, key)


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"certificate": "c.pem", "key": "k.pem"},
     "certificate: set client_secret or certificate + key, not both"),
    ({"client_secret": None, "certificate": "c.pem"},
     "key: certificate and key go together (PEM files of the key)"),
    ({"client_secret": None, "key": "k.pem"},
     "certificate: certificate and key go together (PEM files of the key)"),
])
def test_credentials_must_be_one_complete_kind(overrides: dict[str, Any], expected: str) -> None:
    assert problem(cf_data(**overrides)) == f"{WHERE}: {expected}"


def test_certificates_are_cf_only() -> None:
    data = neo_data(client_secret=None, certificate="c.pem", key="k.pem")
    assert problem(data) == f"{WHERE}: certificate: client certificates are supported on cf only"


def test_a_missing_certificate_file_is_named(workdir: Path, pem_pair: PemPair) -> None:
    folder = workdir / "profiles"
    folder.mkdir()
    pem_pair.write(folder)
    data = cf_data(client_secret=None, certificate="absent.crt", key="client.key")
    with pytest.raises(ProfileError) as caught:
        load(workdir, data)
    assert str(caught.value) == (
        f"{WHERE}: certificate: file {folder / 'absent.crt'} does not exist or is not a file")


def test_a_folder_is_not_a_file(workdir: Path) -> None:
    (workdir / "profiles" / "dir.pem").mkdir(parents=True)
    with pytest.raises(ProfileError) as caught:
        load(workdir, cf_data(ca_bundle="dir.pem"))
    assert str(caught.value) == (
        f"{WHERE}: ca_bundle: file {workdir / 'profiles' / 'dir.pem'} cannot be read: is a "
        "folder, not a regular file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_file_is_named(workdir: Path, pem_pair: PemPair) -> None:
    folder = workdir / "profiles"
    folder.mkdir()
    cert, _ = pem_pair.write(folder)
    cert.chmod(0)
    with pytest.raises(ProfileError) as caught:
        load(workdir, cf_data(ca_bundle="client.crt"))
    assert str(caught.value) == f"{WHERE}: ca_bundle: file {cert} cannot be read: Permission denied"


@pytest.mark.parametrize(("swap", "key", "label"), [
    ("cert-is-key", "certificate", "certificate"),
    ("key-is-cert", "key", "private key"),
])
def test_pem_files_must_hold_what_their_key_says(workdir: Path, pem_pair: PemPair, swap: str,
                                                 key: str, label: str) -> None:
    folder = workdir / "profiles"
    folder.mkdir()
    cert, private = pem_pair.write(folder)
    both = {"certificate": str(private), "key": str(private)} if swap == "cert-is-key" else \
        {"certificate": str(cert), "key": str(cert)}
    data = cf_data(client_secret=None, **both)
    with pytest.raises(ProfileError) as caught:
        load(workdir, data)
    assert str(caught.value) == f"{WHERE}: {key}: {folder / Path(both[key]).name} is not a PEM " \
                                f"file holding a {label}"


def test_a_ca_bundle_must_be_a_pem_certificate(workdir: Path, pem_pair: PemPair) -> None:
    folder = workdir / "profiles"
    folder.mkdir()
    (folder / "ca.txt").write_text("not pem at all")
    cert, _ = pem_pair.write(folder)
    assert load(workdir, cf_data(ca_bundle="client.crt")).ca_bundle == cert
    with pytest.raises(ProfileError) as caught:
        load(workdir, cf_data(ca_bundle="ca.txt"))
    assert str(caught.value) == (
        f"{WHERE}: ca_bundle: {folder / 'ca.txt'} is not a PEM file holding a certificate")


def test_a_binary_certificate_is_not_a_pem_file(workdir: Path) -> None:
    """A DER certificate (binary, not UTF-8) gets the same message as any other non-PEM file."""
    folder = workdir / "profiles"
    folder.mkdir()
    (folder / "ca.der").write_bytes(b"\x30\x82\x03\xff\xfe\x80 CERTIFICATE \xc3")
    with pytest.raises(ProfileError) as caught:
        load(workdir, cf_data(ca_bundle="ca.der"))
    assert str(caught.value) == (
        f"{WHERE}: ca_bundle: {folder / 'ca.der'} is not a PEM file holding a certificate")


def test_a_path_in_an_unknown_home_is_a_profile_error() -> None:
    with pytest.raises(ProfileError) as caught:
        parse(cf_data(ca_bundle="~nosuchuser-cpi/ca.pem"))
    assert str(caught.value) == (
        f"{WHERE}: ca_bundle: '~nosuchuser-cpi/ca.pem' names the home folder of an unknown user")
    assert (caught.value.path, caught.value.key) == (Path(WHERE), "ca_bundle")


def test_an_overlong_path_is_a_profile_error() -> None:
    with pytest.raises(ProfileError):
        parse(cf_data(ca_bundle="a" * 5000))


# --- service keys -------------------------------------------------------------------------


def secret_key(**overrides: Any) -> dict[str, Any]:
    oauth = {"clientid": CLIENT_ID, "clientsecret": CLIENT_SECRET, "url": f"{API_URL}/",
             "tokenurl": TOKEN_URL, "createdate": "2025-01-01"}
    return {"oauth": {k: v for k, v in {**oauth, **overrides}.items() if v is not None}}


def certificate_key(pem: PemPair, **overrides: Any) -> dict[str, Any]:
    oauth = {"clientid": CLIENT_ID, "url": API_URL, "tokenurl": TOKEN_URL,
             "certurl": "https://sub.authentication.cert.example.com/",
             "certificate": pem.certificate, "key": pem.key,
             "certificatedetails": {"validuntil": "2026-01-01T00:00:00Z"}}
    return {"oauth": {k: v for k, v in {**oauth, **overrides}.items() if v is not None}}


def with_service_key(workdir: Path, content: object | str) -> tuple[profile_module.Profile, Path]:
    folder = workdir / "profiles"
    folder.mkdir(exist_ok=True)
    path = folder / "key.json"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        write_json(path, content)
    data = {"environment": "cf", "service_key": "key.json",
            "required_roles": ["MonitoringDataRead"]}
    return load(workdir, data), path


def service_key_problem(workdir: Path, content: object | str) -> tuple[str, Path]:
    with pytest.raises(ProfileError) as caught:
        with_service_key(workdir, content)
    # messages name files relative to the current folder (the fixture works inside workdir)
    return str(caught.value), Path("profiles") / "key.json"


@pytest.mark.parametrize(("content", "key"), [
    (secret_key(clientid=None), "oauth.clientid"),
    ({"oauth": "x"}, "oauth"),
    ({"oauth": {"clientid": CLIENT_ID, "url": API_URL, "tokenurl": TOKEN_URL}}, "oauth"),
    ("[1]", None),
    ("{", None),
])
def test_a_service_key_error_carries_the_key_file_and_its_key(
        workdir: Path, content: object | str, key: str | None) -> None:
    with pytest.raises(ProfileError) as caught:
        with_service_key(workdir, content)
    assert (caught.value.path, caught.value.key) == (Path("profiles") / "key.json", key)


def test_a_secret_service_key_fills_the_connection(workdir: Path) -> None:
    prof, _ = with_service_key(workdir, secret_key())
    assert prof.api_url == API_URL
    assert prof.token_url == TOKEN_URL
    assert prof.client_id == CLIENT_ID
    assert prof.client_secret == Secret(CLIENT_SECRET)
    assert not prof.uses_certificate


@pytest.mark.parametrize(("field", "url"), [("url", "http://tenant.example.com"),
                                            ("tokenurl", "http://sub.example.com/oauth/token")])
def test_a_service_key_url_over_plain_http_names_the_service_key_field(
        workdir: Path, field: str, url: str) -> None:
    with pytest.raises(ProfileError) as caught:
        with_service_key(workdir, secret_key(**{field: url}))
    assert str(caught.value) == (
        f"{WHERE}: service_key ({field}): '{url}' uses plain http://; secrets and tokens must "
        "travel over https:// (http is only allowed for loopback hosts)")
    assert caught.value.key == f"service_key ({field})"


def test_a_service_key_larger_than_a_service_key_may_be_is_refused(workdir: Path) -> None:
    padded = {**secret_key(), "padding": "x" * (300 * 1024)}
    with pytest.raises(ProfileError) as caught:
        with_service_key(workdir, padded)
    assert str(caught.value) == (
        f"{WHERE}: service_key: file {workdir / 'profiles' / 'key.json'} cannot be read: is 300 "
        "KiB, more than the 256 KiB this file may have")


def test_a_flat_service_key_without_oauth_is_read_too(workdir: Path) -> None:
    prof, _ = with_service_key(workdir, secret_key()["oauth"])
    assert prof.client_id == CLIENT_ID


def test_a_certificate_service_key_writes_private_pem_files(workdir: Path, pem_pair: PemPair
                                                            ) -> None:
    prof, _ = with_service_key(workdir, certificate_key(pem_pair))
    assert prof.token_url == "https://sub.authentication.cert.example.com/oauth/token"
    assert prof.client_secret is None
    assert prof.certificate is not None
    assert prof.key is not None
    assert prof.certificate.read_text() == pem_pair.certificate.strip()
    assert prof.key.read_text() == pem_pair.key
    assert stat.S_IMODE(prof.key.stat().st_mode) == 0o600
    assert stat.S_IMODE(prof.certificate.stat().st_mode) == 0o600


def test_escaped_newlines_in_inline_pem_become_real_newlines(workdir: Path, pem_pair: PemPair
                                                            ) -> None:
    squashed = pem_pair.key.replace("\n", "\\n")
    prof, _ = with_service_key(workdir, certificate_key(pem_pair, key=squashed))
    assert prof.key is not None
    assert prof.key.read_text() == pem_pair.key


def test_a_certificate_key_without_certurl_uses_the_tokenurl(workdir: Path, pem_pair: PemPair
                                                             ) -> None:
    prof, _ = with_service_key(workdir, certificate_key(pem_pair, certurl=None))
    assert prof.token_url == TOKEN_URL


def test_service_key_details_are_read(tmp_path: Path, pem_pair: PemPair) -> None:
    from cpi_preflight.service_key import parse_service_key

    found = parse_service_key(tmp_path / "k.json", certificate_key(pem_pair))
    assert found.key_type == "certificate"
    assert found.certificate_valid_until == "2026-01-01T00:00:00Z"
    assert parse_service_key(tmp_path / "k.json", secret_key()).key_type == "secret"


@pytest.mark.parametrize(("content", "expected"), [
    ([1, 2], 'a service key must be a JSON object like {"oauth": {"clientid": ..., "url": ..., '
             '"tokenurl": ...}}'),
    ("null", 'a service key must be a JSON object like {"oauth": {"clientid": ..., "url": ..., '
             '"tokenurl": ...}}'),
    ({"oauth": "x"}, "oauth: must be an object with clientid, url, tokenurl"),
    (secret_key(tokenurl=None),
     "oauth.tokenurl: missing or empty (the key has: clientid, clientsecret, createdate, url); "
     "download the service key again from the BTP cockpit"),
    (secret_key(clientid="  "),
     "oauth.clientid: missing or empty (the key has: clientid, clientsecret, createdate, "
     "tokenurl, url); download the service key again from the BTP cockpit"),
    (secret_key(clientsecret=""),
     "oauth.clientsecret: missing or empty (the key has: clientid, clientsecret, createdate, "
     "tokenurl, url); download the service key again from the BTP cockpit"),
    ({"oauth": {}}, "oauth.clientid: missing or empty (the key has: nothing); download the "
                    "service key again from the BTP cockpit"),
    (secret_key(clientsecret=None),
     "oauth: has neither clientsecret nor certificate; is this a service key of a Process "
     "Integration Runtime instance?"),
    ("{oops", "invalid JSON at line 1, column 2: Expecting property name enclosed in double "
              "quotes; download the service key again from the BTP cockpit"),
    ("", "invalid JSON at line 1, column 1: Expecting value; download the service key again "
         "from the BTP cockpit"),
])
def test_a_broken_service_key_names_the_file_and_the_field(workdir: Path, content: object,
                                                           expected: str) -> None:
    message, path = service_key_problem(workdir, content)
    assert message == f"{path}: {expected}"


def test_a_certificate_key_without_private_key_asks_for_own_pem_files(
        workdir: Path, pem_pair: PemPair) -> None:
    message, path = service_key_problem(workdir, certificate_key(pem_pair, key=None))
    assert message == (
        f"{path}: oauth.key: missing; a certificate_external key holds no private key, so set "
        "`certificate:` and `key:` in the profile to your own PEM files instead")


def test_a_certificate_key_with_a_non_pem_certificate_is_refused(
        workdir: Path, pem_pair: PemPair) -> None:
    message, path = service_key_problem(workdir, certificate_key(pem_pair, certificate="MIIB"))
    assert message == f"{path}: oauth.certificate: is not a PEM certificate"


def test_a_service_key_that_is_not_utf8_is_refused(workdir: Path) -> None:
    folder = workdir / "profiles"
    folder.mkdir()
    (folder / "key.json").write_bytes(b'{"oauth": "\xff"}')
    with pytest.raises(ProfileError) as caught:
        load(workdir, {"environment": "cf", "service_key": "key.json",
                       "required_roles": ["MonitoringDataRead"]})
    assert str(caught.value) == (
        f"{Path('profiles') / 'key.json'}: is not UTF-8 text; download the service key again "
        "from the "
        "BTP cockpit")


def test_a_missing_service_key_file_is_named(workdir: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        load(workdir, {"environment": "cf", "service_key": "absent.json",
                       "required_roles": ["MonitoringDataRead"]})
    assert str(caught.value) == (
        f"{WHERE}: service_key: file {workdir / 'profiles' / 'absent.json'} does not exist or "
        "is not a file")


@pytest.mark.parametrize("key", ["api_url", "token_url", "client_id", "client_secret",
                                 "certificate", "key"])
def test_a_service_key_excludes_the_connection_keys(key: str) -> None:
    data = {"environment": "cf", "service_key": "key.json", key: "x",
            "required_roles": ["MonitoringDataRead"]}
    assert problem(data) == (
        f"{WHERE}: {key}: set either service_key or the connection keys, not both")


def test_the_service_key_secret_is_a_secret(workdir: Path) -> None:
    prof, _ = with_service_key(workdir, secret_key())
    assert CLIENT_SECRET not in repr(prof)
    assert repr(prof.client_secret) == "Secret(***)"


# --- sandbox section ----------------------------------------------------------------------


def test_a_sandbox_section_excludes_connection_keys() -> None:
    data = {"environment": "cf", "required_roles": ["MonitoringDataRead"],
            "token_url": TOKEN_URL, "sandbox": {}}
    assert problem(data) == (
        f"{WHERE}: token_url: a sandbox profile gets its connection from the sandbox; remove "
        "this key or the sandbox section")


def test_a_sandbox_section_excludes_a_service_key() -> None:
    data = {"environment": "cf", "required_roles": ["MonitoringDataRead"], "sandbox": {},
            "service_key": "k.json"}
    assert problem(data) == (
        f"{WHERE}: service_key: a sandbox profile gets its connection from the sandbox; remove "
        "this key or the sandbox section")


def test_a_sandbox_section_the_sandbox_cannot_simulate_names_the_file() -> None:
    data = {"environment": "cf", "required_roles": ["MonitoringDataRead"],
            "sandbox": {"roles": ["nope-x"]}}
    with pytest.raises(SandboxSpecError) as caught:
        parse(data)
    assert str(caught.value).startswith(
        f"{WHERE}: sandbox.roles[0]: unknown role template 'nope-x'; valid role templates: "
        "CatalogPackagesRead, ")


def test_a_sandbox_section_must_be_a_mapping() -> None:
    data = {"environment": "cf", "required_roles": ["MonitoringDataRead"], "sandbox": [1]}
    assert problem(data) == f"{WHERE}: sandbox: must be a mapping, not a list"


@pytest.mark.parametrize("section", [None, {}, {"roles": ["MonitoringDataRead"]}])
def test_a_sandbox_profile_needs_no_connection(section: dict[str, Any] | None) -> None:
    sandbox_spec_available()
    prof = parse({"environment": "cf", "required_roles": ["MonitoringDataRead"],
                  "sandbox": section})
    assert prof.sandbox == (section or {})
    assert (prof.api_url, prof.token_url, prof.client_id, prof.client_secret) == (
        "", "", "", None)


@pytest.mark.parametrize(("credential", "uses"), [("certificate", True), ("secret", False)])
def test_a_sandbox_certificate_key_is_known_before_the_sandbox_starts(credential: str,
                                                                      uses: bool) -> None:
    """pytest's items are made from the plan before any sandbox runs: a `credential:
    certificate` sandbox must plan its credential-expiry check then, or the check planned after
    binding is reported as "not run: the session stopped before it"."""
    sandbox_spec_available()
    prof = parse({"environment": "cf", "required_roles": ["MonitoringDataRead"],
                  "sandbox": {"credential": credential}})
    assert prof.certificate is None
    assert prof.uses_certificate is uses
    checks = [c.id for c in plan.build(prof, catalog.load()).checks]
    assert ("credential-expiry" in checks) is uses


# --- --profile resolution -----------------------------------------------------------------


@pytest.fixture
def profiles_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "profiles"
    for name in ("prod-cf", "qa-cf", "sandbox-neo"):
        write_yaml(folder, name, cf_data())
    (folder / "notes.txt").write_text("not a profile")
    return folder


@pytest.mark.parametrize(("requested", "expected"), [
    (["qa-cf"], ["qa-cf"]),
    (["qa-cf,prod-cf"], ["qa-cf", "prod-cf"]),
    ([" qa-cf , prod-cf ,", "sandbox-neo"], ["qa-cf", "prod-cf", "sandbox-neo"]),
    (["all"], ["prod-cf", "qa-cf", "sandbox-neo"]),
    (["qa-cf", "all"], ["qa-cf", "prod-cf", "sandbox-neo"]),
    (["qa-cf", "qa-cf,qa-cf"], ["qa-cf"]),
    (["qa-cf,,prod-cf"], ["qa-cf", "prod-cf"]),
    ([",qa-cf"], ["qa-cf"]),
])
def test_profile_names_resolve(profiles_dir: Path, requested: list[str],
                               expected: list[str]) -> None:
    assert resolve_names(requested, profiles_dir) == expected


def test_an_unknown_profile_suggests_the_closest(profiles_dir: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        resolve_names(["prd-cf"], profiles_dir)
    assert str(caught.value) == (
        f"--profile prd-cf: no file {profiles_dir / 'prd-cf.yaml'}; did you mean 'prod-cf'? "
        f"(available in {profiles_dir}: prod-cf, qa-cf, sandbox-neo; another folder: "
        "--profiles-dir DIR)")


def test_an_unknown_profile_without_a_close_match_lists_them(profiles_dir: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        resolve_names(["qa-cf,zzzzzz"], profiles_dir)
    assert str(caught.value) == (
        f"--profile zzzzzz: no file {profiles_dir / 'zzzzzz.yaml'} "
        f"(available in {profiles_dir}: prod-cf, qa-cf, sandbox-neo; another folder: "
        "--profiles-dir DIR)")


def test_an_unknown_profile_in_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        resolve_names(["prod"], tmp_path)
    assert str(caught.value) == (
        f"--profile prod: no file {tmp_path / 'prod.yaml'} (available in {tmp_path}: none; "
        "another folder: --profiles-dir DIR)")


def test_an_unknown_profile_in_a_missing_folder_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    with pytest.raises(ProfileError) as caught:
        resolve_names(["prod"], folder)
    assert str(caught.value) == (
        f"--profile prod: the profiles folder {folder} does not exist; run pytest in the folder "
        "that holds profiles/, or pass --profiles-dir DIR (`cpi-preflight init` writes "
        "profiles/NAME.yaml)")


@pytest.mark.parametrize("spelled", ["profiles/qa-cf.yaml", "profiles/qa-cf.yml", "qa-cf.yaml",
                                     "qa-cf.yml", "./profiles/qa-cf.yaml", "profiles/qa-cf",
                                     "elsewhere/qa-cf.yaml"])
def test_a_profile_file_path_inside_the_folder_is_understood(
        profiles_dir: Path, spelled: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A path to no file (qa-cf.yaml here, elsewhere/qa-cf.yaml) names the profile of its
    name in the profiles folder."""
    monkeypatch.chdir(profiles_dir.parent)
    assert profile_module.resolve_files([spelled], profiles_dir) == [profiles_dir / "qa-cf.yaml"]
    assert resolve_names([spelled], profiles_dir) == ["qa-cf"]


def test_a_mistyped_profile_path_gets_a_did_you_mean(
        profiles_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(profiles_dir.parent)
    with pytest.raises(ProfileError) as caught:
        resolve_names(["profiles/prd-cf.yaml"], profiles_dir)
    assert str(caught.value) == (
        f"--profile profiles/prd-cf.yaml: no file {profiles_dir / 'prd-cf.yaml'}; did you mean "
        f"'prod-cf'? (available in {profiles_dir}: prod-cf, qa-cf, sandbox-neo; another folder: "
        "--profiles-dir DIR)")


@pytest.mark.parametrize("spelled", ["elsewhere/prod-cf.yaml", "{absolute}", "elsewhere/prod-cf",
                                     "{absolute_without_suffix}"])
def test_a_profile_file_in_another_folder_is_read_where_it_is(
        profiles_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        spelled: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    write_yaml(elsewhere, "prod-cf", cf_data(description="the one elsewhere"))
    monkeypatch.chdir(tmp_path)
    requested = spelled.format(absolute=elsewhere / "prod-cf.yaml",
                               absolute_without_suffix=elsewhere / "prod-cf")
    assert profile_module.resolve_files([requested], profiles_dir) == [
        elsewhere / "prod-cf.yaml"]
    assert resolve_names([requested], profiles_dir) == ["prod-cf"]
    [loaded] = profile_module.load_selected([requested], profiles_dir)
    assert (loaded.name, loaded.path, loaded.description) == (
        "prod-cf", elsewhere / "prod-cf.yaml", "the one elsewhere")


def test_a_yml_file_in_another_folder_is_read_where_it_is(
        profiles_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "prod-cf.yml").write_text(yaml.safe_dump(cf_data(description="yml")),
                                           encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert profile_module.resolve_files(["elsewhere/prod-cf.yml"], profiles_dir) == [
        elsewhere / "prod-cf.yml"]
    [loaded] = profile_module.load_selected(["elsewhere/prod-cf.yml"], profiles_dir)
    assert (loaded.name, loaded.description) == ("prod-cf", "yml")


def test_a_dotted_profile_name_given_without_its_suffix_keeps_its_dots(
        profiles_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    write_yaml(elsewhere, "prod.eu", cf_data())
    assert profile_module.resolve_files([str(elsewhere / "prod.eu")], profiles_dir) == [
        elsewhere / "prod.eu.yaml"]


def test_one_file_spelled_two_ways_is_selected_once(
        profiles_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    write_yaml(elsewhere, "prod-cf", cf_data())
    roundabout = elsewhere / ".." / "elsewhere" / "prod-cf.yaml"
    assert profile_module.resolve_files([str(elsewhere / "prod-cf.yaml"), str(roundabout)],
                                        profiles_dir) == [elsewhere / "prod-cf.yaml"]


def test_an_absolute_profile_path_works_from_any_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    write_yaml(project / "profiles", "prod-cf", cf_data())
    somewhere = tmp_path / "somewhere"
    somewhere.mkdir()
    monkeypatch.chdir(somewhere)
    [loaded] = profile_module.load_selected([str(project / "profiles" / "prod-cf.yaml")],
                                            somewhere / "profiles")
    assert loaded.path == project / "profiles" / "prod-cf.yaml"


def test_two_selected_files_of_one_name_are_refused(
        profiles_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_yaml(tmp_path / "elsewhere", "prod-cf", cf_data())
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProfileError) as caught:
        resolve_names(["prod-cf", "elsewhere/prod-cf.yaml"], profiles_dir)
    assert str(caught.value) == (
        "--profile elsewhere/prod-cf.yaml: elsewhere/prod-cf.yaml and profiles/prod-cf.yaml are "
        "both named prod-cf, and the name names the report folder; select one of them, or "
        "rename one")


def test_every_profile_that_cannot_be_used_is_named_at_once(
        workdir: Path) -> None:
    folder = workdir / "profiles"
    for name in ("a", "b", "c"):
        write_yaml(folder, name, cf_data(client_secret=f"${{CPI_{name.upper()}_CLIENT_SECRET}}"))
    with pytest.raises(ProfilesError) as caught:
        profile_module.load_files([folder / f"{n}.yaml" for n in ("a", "b", "c")],
                                  {"CPI_B_CLIENT_SECRET": "s&<>\"'$"})
    assert [(e.path, e.key) for e in caught.value.errors] == [
        (Path("profiles/a.yaml"), "client_secret"), (Path("profiles/c.yaml"), "client_secret")]
    unset = ("environment variable CPI_{0}_CLIENT_SECRET is not set; export "
             "CPI_{0}_CLIENT_SECRET='...' (single quotes: secrets may hold $) before running; "
             "in CI, pass the secret or variable to this job")
    assert str(caught.value) == (
        "2 profiles cannot be used:\n"
        f"  profiles/a.yaml: client_secret: {unset.format('A')}\n"
        f"  profiles/c.yaml: client_secret: {unset.format('C')}")


def test_one_profile_that_cannot_be_used_keeps_its_own_error(workdir: Path) -> None:
    folder = workdir / "profiles"
    write_yaml(folder, "a", cf_data())
    write_yaml(folder, "b", cf_data(client_secret="${NOPE}"))
    with pytest.raises(ProfileError) as caught:
        profile_module.load_all(["a", "b"], folder)
    assert (caught.value.path, caught.value.key) == (Path("profiles/b.yaml"), "client_secret")


@pytest.mark.parametrize("requested", [[], ["all"]])
def test_nothing_to_run_says_where_profiles_go(tmp_path: Path, requested: list[str]) -> None:
    folder = tmp_path / "absent"
    with pytest.raises(ProfileError) as caught:
        resolve_names(requested, folder)
    assert str(caught.value) == (
        f"no profiles found in {folder}; create {folder}/NAME.yaml (`cpi-preflight init` writes "
        "one), or point --profiles-dir at the folder that holds them")


def test_load_all_loads_each_name_in_order(profiles_dir: Path) -> None:
    loaded = profile_module.load_all(["qa-cf", "prod-cf"], profiles_dir)
    assert [p.name for p in loaded] == ["qa-cf", "prod-cf"]


def test_bind_fills_in_a_connection(tmp_path: Path) -> None:
    prof = parse(cf_data())
    bound = profile_module.bind(prof, api_url="https://x.example.com/api/v1/",
                                token_url="https://t.example.com/oauth/token", client_id="c",
                                client_secret=None, certificate=None, key=None, ca_bundle=None)
    assert (bound.api_url, bound.token_url, bound.client_id) == (
        "https://x.example.com", "https://t.example.com/oauth/token", "c")
    assert bound.required_roles == prof.required_roles
    assert (bound.client_secret, bound.certificate, bound.key, bound.ca_bundle) == (
        None, None, None, None)


def test_bind_fills_in_the_credential_and_the_ca_file() -> None:
    prof = parse({"environment": "cf", "required_roles": ["MonitoringDataRead"],
                  "sandbox": {"credential": "certificate"}})
    bound = profile_module.bind(prof, api_url="https://x.example.com", token_url="https://t",
                                client_id="c", client_secret=Secret("s&<>\"'$"),
                                certificate=Path("c.pem"), key=Path("k.pem"),
                                ca_bundle=Path("ca.pem"))
    assert (bound.client_secret, bound.certificate, bound.key, bound.ca_bundle) == (
        Secret("s&<>\"'$"), Path("c.pem"), Path("k.pem"), Path("ca.pem"))


def test_bind_keeps_the_profile_s_own_ca_file_when_given_none(workdir: Path,
                                                              pem_pair: PemPair) -> None:
    cert, _ = pem_pair.write(workdir)
    prof = parse({"environment": "cf", "required_roles": ["MonitoringDataRead"],
                  "sandbox": {}, "ca_bundle": str(cert)})
    bound = profile_module.bind(prof, api_url="https://x.example.com", token_url="https://t",
                                client_id="c", client_secret=None, certificate=None, key=None,
                                ca_bundle=None)
    assert bound.ca_bundle == cert


# --- a profile of a sandbox that was started on its own (`simulated: sandbox`) -------------------


@pytest.mark.parametrize(("data", "command"), [
    (cf_data(), "cpi-preflight sandbox --service-key sandbox-key.json --force"),
    (neo_data(), "cpi-preflight sandbox --environment neo"),
])
def test_a_stopped_sandbox_is_named_with_how_to_start_it_again(
        workdir: Path, data: dict[str, Any], command: str) -> None:
    gone = workdir / "cpi-sandbox-gone" / "ca.pem"
    message = problem({**data, "simulated": "sandbox", "ca_bundle": str(gone)})
    assert message == (
        f"{WHERE}: ca_bundle: file {gone} does not exist: the sandbox that wrote this profile is "
        f"no longer running; start it again with `{command}` and run the `cpi-preflight init` "
        "line it prints with `--name t --force`")


def test_a_stopped_certificate_sandbox_is_started_again_with_its_credential(
        workdir: Path, pem_pair: PemPair) -> None:
    cert, key = pem_pair.write(workdir)
    data = cf_data(client_secret=None, certificate=str(cert), key=str(key),
                   simulated="sandbox", ca_bundle="/nonexistent/cpi-sandbox-x/ca.pem")
    assert "`cpi-preflight sandbox --credential certificate --service-key sandbox-key.json " \
           "--force`" in problem(data)


def test_a_missing_ca_file_of_a_real_tenant_keeps_its_message(workdir: Path) -> None:
    assert problem(cf_data(ca_bundle="/nonexistent/ca.pem")) == (
        f"{WHERE}: ca_bundle: file /nonexistent/ca.pem does not exist or is not a file")


def test_simulated_is_read_and_only_sandbox_is_known() -> None:
    assert parse(cf_data(simulated="sandbox")).simulated == "sandbox"
    assert parse(cf_data()).simulated is None
    assert problem(cf_data(simulated="real")) == (
        f"{WHERE}: simulated: must be 'sandbox' (`cpi-preflight init` writes it for a tenant "
        "of `cpi-preflight sandbox`), not 'real'; remove the key for a real tenant")


@pytest.mark.parametrize(("credential", "planned"), [("certificate", True), ("secret", False)])
def test_a_sandbox_certificate_profile_plans_its_credential_expiry_check_before_the_sandbox_runs(
        credential: str, planned: bool) -> None:
    """Items are made from the plan at collection, before the sandbox starts and hands over its
    certificate: a plan without the check there meant it was never run ("1 not run")."""
    from cpi_preflight import catalog, plan

    prof = profile_module.parse(
        "cert", Path("profiles/cert.yaml"),
        {"environment": "cf", "required_roles": ["MonitoringDataRead"],
         "sandbox": {"roles": ["MonitoringDataRead"], "credential": credential}}, {})
    assert prof.certificate is None
    assert prof.uses_certificate is planned
    checks = {c.id: c for c in plan.build(prof, catalog.load()).checks}
    assert ("credential-expiry" in checks) is planned
    if planned:
        assert checks["credential-expiry"].subject == "client certificate"
