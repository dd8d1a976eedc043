"""Selection (-k, -x, --deselect) tells one story in the terminal, JUnit, evidence and exit code.

The rule: a check pytest did not run has no result. Its verdict is not reported; table, JUnit
and evidence list it as skipped with the reason it did not run, and the exit code counts only
the checks that ran.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from cpi_preflight.run import NOT_REACHED, NOT_SELECTED

from .conftest import REPO, Outcome

PROFILE = "sandbox-cf-misconfigured"
CHECKS = ["token", "api", "role[MonitoringDataRead]", "role[WorkspacePackagesRead]",
          "role[DataStoresAndQueuesRead]", "endpoint[MessageProcessingLogs]",
          "endpoint[IntegrationPackages]", "endpoint[DataStores]", "endpoint[NumberRanges]",
          "least-privilege", "tls-expiry"]
# the project's own check of checks/, reported with the profile it ran for
USER_CHECK = f"checks/test_odata_shape.py::test_message_logs_answer_odata_v2_json[{PROFILE}]"


def junit_story(outcome) -> dict[str, str]:
    """check -> passed | failed:CODE | skipped:message, from junit.xml."""
    story = {}
    for name, case in outcome.cases(PROFILE).items():
        failure, skipped = case.find("failure"), case.find("skipped")
        if failure is not None:
            story[name] = f"failed:{failure.get('type')}"
        elif skipped is not None:
            story[name] = f"skipped:{skipped.get('message')}"
        else:
            story[name] = "passed"
    return story


def evidence(outcome) -> dict:
    return json.loads((outcome.reports / PROFILE / "evidence.json").read_text())


def test_k_token_reports_only_the_token_check(product):
    outcome = product("--profile", PROFILE, "-k", "token")
    assert outcome.code == 0, outcome.stdout
    assert outcome.stdout.splitlines()[-1].strip("= ").startswith("1 passed, 11 deselected in ")
    assert junit_story(outcome) == {"token": "passed",
                                    **dict.fromkeys(CHECKS[1:], f"skipped:{NOT_SELECTED}")}
    doc = evidence(outcome)
    assert doc["summary"] == {"failed": 0, "warning": 0, "passed": 1, "skipped": 0,
                              "not_run": 10, "warning_findings": 0, "result": "incomplete"}
    skipped = {c["id"]: c["summary"] for c in doc["checks"] if c["outcome"] == "skipped"}
    assert skipped == dict.fromkeys(CHECKS[1:], NOT_SELECTED)
    assert f"{PROFILE} (cf): 1 passed, 10 not run" in outcome.stdout.splitlines()


def test_x_stops_and_the_reports_stop_with_it(product):
    outcome = product("--profile", PROFILE, "-x", "-p", "no:randomly")
    assert outcome.code == 1
    assert outcome.stdout.splitlines()[-1].strip("= ").startswith("1 failed, 3 passed in ")
    story = junit_story(outcome)
    assert story == {"token": "passed", "api": "passed", "role[MonitoringDataRead]": "passed",
                     "role[WorkspacePackagesRead]": "failed:ROLE_MISSING",
                     **dict.fromkeys([*CHECKS[4:], USER_CHECK], f"skipped:{NOT_REACHED}")}
    assert evidence(outcome)["summary"] == {"failed": 1, "warning": 0, "passed": 3,
                                            "skipped": 0, "not_run": 8, "warning_findings": 0,
                                            "result": "failed"}
    assert f"{PROFILE} (cf): 1 failed, 3 passed, 8 not run" in outcome.stdout.splitlines()


def test_deselecting_every_failure_makes_a_green_run_but_incomplete_reports(product):
    deselect = [arg for check in ("role[WorkspacePackagesRead]", "role[DataStoresAndQueuesRead]",
                                  "endpoint[NumberRanges]")
                for arg in ("--deselect", f"profiles/{PROFILE}.yaml::{check}")]
    outcome = product("--profile", PROFILE, *deselect)
    assert outcome.code == 0, outcome.stdout
    assert outcome.failure_types(PROFILE) == {}
    story = junit_story(outcome)
    assert story["endpoint[NumberRanges]"] == f"skipped:{NOT_SELECTED}"
    assert evidence(outcome)["summary"]["result"] == "incomplete"  # 3 checks did not run
    assert story[USER_CHECK] == "passed"
    assert f"{PROFILE} (cf): 7 passed, 2 skipped, 3 not run" in outcome.stdout.splitlines()


def test_a_full_run_reports_every_verdict(product):
    outcome = product("--profile", PROFILE)
    assert outcome.code == 1
    assert NOT_SELECTED not in outcome.stdout
    assert evidence(outcome)["summary"] == {"failed": 3, "warning": 0, "passed": 7,
                                            "skipped": 2, "not_run": 0, "warning_findings": 0,
                                            "result": "failed"}
    assert f"{PROFILE} (cf): 3 failed, 7 passed, 2 skipped" in outcome.stdout.splitlines()


def test_lf_reruns_the_failures_and_the_reports_say_so(tmp_path):
    """--lf (pytest's cache, on outside this clone) deselects what passed last time."""
    folder = tmp_path / "project"
    shutil.copytree(REPO / "profiles", folder / "profiles")
    command = [sys.executable, "-m", "pytest", "--profile", PROFILE, "-p", "no:randomly",
               f"--reports-dir={tmp_path / 'reports'}"]
    first = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=180,
                           check=False)
    assert first.returncode == 1, first.stdout
    again = subprocess.run([*command, "--lf"], cwd=folder, capture_output=True, text=True,
                           timeout=180, check=False)
    outcome = Outcome(again.returncode, again.stdout, again.stderr, tmp_path / "reports")
    assert outcome.code == 1
    assert outcome.stdout.splitlines()[-1].strip("= ").startswith("3 failed, 8 deselected in ")
    failed = {"role[WorkspacePackagesRead]": "failed:ROLE_MISSING",
              "role[DataStoresAndQueuesRead]": "failed:ROLE_MISSING",
              "endpoint[NumberRanges]": "failed:SERVER_ERROR"}
    assert junit_story(outcome) == {
        c: failed.get(c, f"skipped:{NOT_SELECTED}") for c in CHECKS}
    assert f"{PROFILE} (cf): 3 failed, 8 not run" in outcome.stdout.splitlines()
