"""The shipped sandbox profiles, run as a user runs them: real pytest, real sockets and TLS."""

from __future__ import annotations

import re

CORE_CHECKS = ["token", "api"]


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
        "needed by IntegrationPackages -- fix: In the BTP cockpit, open the Process Integration "
        "Runtime instance (plan api) of this client, Update > Roles, add WorkspacePackagesRead, "
        "then fetch a new token. Role changes can take up to an hour to reach the tenant.")
    pattern = re.escape(expected).replace(re.escape("<N>"), r"\d+").replace(
        re.escape("<odata>"), r"[^)]+")
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


def test_without_profile_nothing_runs_and_pytest_exits_5(product):
    outcome = product()
    assert outcome.code == 5, outcome.stdout + outcome.stderr
    assert NO_PROFILE_HINT in outcome.stdout.splitlines()
    assert "collected 1 item / 1 deselected / 0 selected" in outcome.stdout
    assert " 1 deselected in " in outcome.stdout.splitlines()[-1]


def test_without_profile_an_explicit_checks_run_also_exits_5(product):
    outcome = product("checks")
    assert outcome.code == 5, outcome.stdout + outcome.stderr
    assert NO_PROFILE_HINT in outcome.stdout.splitlines()


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
