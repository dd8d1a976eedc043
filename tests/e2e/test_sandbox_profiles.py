"""The shipped sandbox profiles, run as a user runs them: real pytest, real sockets and TLS."""

from __future__ import annotations

import os
import re

from .conftest import REPO

CORE_CHECKS = ["token", "api"]
NEO_NOTICE = "  notice: SAP: the Neo environment sunsets on 2028-12-31 (SAP Note 3351844)"


def test_healthy_cf_profile_passes(product):
    outcome = product("--profile", "sandbox-cf")
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    cases = outcome.cases("sandbox-cf")
    assert [n for n in CORE_CHECKS if n in cases] == CORE_CHECKS
    assert "role[MonitoringDataRead]" in cases
    assert "endpoint[KeystoreEntries]" in cases
    assert outcome.failure_types("sandbox-cf") == {}


def test_healthy_neo_profile_passes(product):
    outcome = product("--profile", "sandbox-neo")
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    assert outcome.failure_types("sandbox-neo") == {}
    assert "role[NodeManager.read]" in outcome.cases("sandbox-neo")
    assert NEO_NOTICE in outcome.stdout.splitlines()  # only a date SAP publishes (catalog)


def test_a_cloud_foundry_run_has_no_neo_notice(product):
    outcome = product("--profile", "sandbox-cf")
    assert "notice:" not in outcome.stdout


def test_misconfigured_profile_names_each_root_cause_once(product):
    outcome = product("--profile", "sandbox-cf-misconfigured")
    assert outcome.code == 1
    assert outcome.failure_types("sandbox-cf-misconfigured") == {
        "role[WorkspacePackagesRead]": "ROLE_MISSING",
        "role[DataStoresAndQueuesRead]": "ROLE_MISSING",
        "endpoint[NumberRanges]": "SERVER_ERROR",
    }
    cases = outcome.cases("sandbox-cf-misconfigured")
    skipped = cases["endpoint[IntegrationPackages]"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == (
        "GET /api/v1/IntegrationPackages answered 403 because role[WorkspacePackagesRead] "
        "failed (ROLE_MISSING); fix that first")


def test_role_missing_message_names_role_scope_and_endpoint(product):
    outcome = product("--profile", "sandbox-cf-misconfigured")
    client = outcome.property("sandbox-cf-misconfigured", "client_id")
    failure = outcome.cases("sandbox-cf-misconfigured")["role[WorkspacePackagesRead]"].find(
        "failure")
    assert failure is not None
    expected = (
        f"role WorkspacePackagesRead is not granted to client {client}: the token lacks scope "
        "it!b<N>.WebToolingWorkspace.Read; GET /api/v1/IntegrationPackages answered 403 (<odata>); "
        "needed by IntegrationPackages -- fix: Add WorkspacePackagesRead to the roles of the "
        f"Process Integration Runtime instance (plan api) of client {client}. First read the "
        "instance's current parameters: `cf service <instance> --params` (cf CLI v8), or View "
        "Parameters on the instance in the BTP cockpit. Then send them back with "
        "WorkspacePackagesRead added, `grant-types` included; with the roles this token shows "
        "that is `cf update-service <instance> -c '{\"roles\":<roles>,\"grant-types\":"
        "[\"client_credentials\"]}'` (cockpit: the instance > Update). SAP documents neither "
        "whether an update merges the parameters it is given into the current ones nor whether "
        "it replaces them, so send the full object: every role and parameter of the current "
        "ones that others still need stays in it. Then fetch a new token; the change can take up "
        "to an hour to reach the tenant. Role collections do not apply: a client-credentials "
        "client gets its roles only from the instance's role templates.")
    pattern = re.escape(expected).replace(re.escape("<N>"), r"\d+").replace(
        re.escape("<odata>"), r"[^)]+").replace(re.escape("<roles>"), r"\[[^]]*\]")
    assert re.fullmatch(pattern, failure.get("message", "")), failure.get("message")


def test_several_profiles_in_one_run(product):
    outcome = product("--profile", "sandbox-cf,sandbox-neo")
    assert outcome.code == 0, outcome.stdout
    assert (outcome.reports / "sandbox-cf" / "junit.xml").is_file()
    assert (outcome.reports / "sandbox-neo" / "junit.xml").is_file()
    assert "sandbox-neo (neo):" in outcome.stdout


def test_unknown_profile_is_a_usage_error(product):
    outcome = product("--profile", "sandbox-cff")
    assert outcome.code == 4
    assert "--profile sandbox-cff: no file" in outcome.stderr
    assert "did you mean 'sandbox-cf'?" in outcome.stderr
    assert "Traceback" not in outcome.stderr + outcome.stdout


NO_PROFILE_HINT = ("cpi-preflight: no profile selected, so no check ran; run `pytest --profile "
                   "NAME` or `pytest --profile all` (profiles: sandbox-cf, "
                   "sandbox-cf-misconfigured, sandbox-neo)")


def said(outcome) -> str:
    """The cpi-preflight section as one line of text (it is wrapped to the terminal)."""
    section = outcome.stdout.split(" cpi-preflight ", 1)[1].split("\n", 1)[1]
    return " ".join(line.strip() for line in section.split("\n=")[0].splitlines())


def test_without_profile_nothing_runs_and_pytest_exits_5(product):
    outcome = product()
    assert outcome.code == 5, outcome.stdout + outcome.stderr
    assert said(outcome) == NO_PROFILE_HINT
    assert "collected 1 item / 1 deselected / 0 selected" in outcome.stdout
    assert " 1 deselected in " in outcome.stdout.splitlines()[-1]


def test_without_profile_an_explicit_checks_run_also_exits_5(product):
    outcome = product("checks")
    assert outcome.code == 5, outcome.stdout + outcome.stderr
    assert said(outcome) == NO_PROFILE_HINT


def test_without_profile_other_test_paths_run_as_usual(product):
    outcome = product("tests/unit/test_readme.py")
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    assert "no profile selected" not in outcome.stdout
    assert "= cpi-preflight =" not in outcome.stdout
    assert " 3 passed in " in outcome.stdout.splitlines()[-1]


def test_help_always_works(product):
    outcome = product("--help")
    assert outcome.code == 0
    assert "--profile=NAME" in outcome.stdout


# --- errors that name the thing (usage errors, exit 4, before any network call) ------------


def test_a_profile_given_as_its_file_path_runs(product):
    outcome = product("--profile", "profiles/sandbox-cf.yaml", "--collect-only", "-q")
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    assert "profiles/sandbox-cf.yaml::token" in outcome.stdout.splitlines()


def test_a_mistyped_profile_path_gets_a_did_you_mean(product):
    outcome = product("--profile", "profiles/sandbox-cff.yaml")
    assert outcome.code == 4
    folder = REPO / "profiles"
    assert outcome.stderr.strip() == (
        f"ERROR: --profile profiles/sandbox-cff.yaml: no file {folder / 'sandbox-cff.yaml'}; did "
        f"you mean 'sandbox-cf'? (available in {folder}: sandbox-cf, sandbox-cf-misconfigured, "
        "sandbox-neo; another folder: --profiles-dir DIR)")


def test_an_unknown_profile_in_a_missing_folder_names_the_folder(product, tmp_path):
    folder = tmp_path / "nowhere"
    outcome = product("--profile", "prod-cf", profiles_dir=folder)
    assert outcome.code == 4
    assert outcome.stderr.strip() == (
        f"ERROR: --profile prod-cf: the profiles folder {folder} does not exist; run pytest in "
        "the folder that holds profiles/, or pass --profiles-dir DIR (`cpi-preflight init` "
        "writes profiles/NAME.yaml)")


def test_a_secret_variable_set_but_empty_is_named(product, tmp_path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "x.yaml").write_text(
        "environment: cf\n"
        "api_url: https://mysub.it-cpi018.cfapps.eu10-003.hana.ondemand.com\n"
        "token_url: https://mysub.authentication.eu10.hana.ondemand.com/oauth/token\n"
        "client_id: sb-1|it!b1\n"
        "client_secret: ${CPI_X_CLIENT_SECRET}\n"
        "required_roles: [MonitoringDataRead]\n")
    outcome = product("--profile", "x", profiles_dir=folder,
                      env={**os.environ, "CPI_X_CLIENT_SECRET": ""})
    assert outcome.code == 4
    assert outcome.stderr.strip() == (
        f"ERROR: {folder / 'x.yaml'}: client_secret: environment variable CPI_X_CLIENT_SECRET is "
        "set but empty; export CPI_X_CLIENT_SECRET=... with the value before running (in CI, "
        "check that the secret or variable is passed to this job)")
