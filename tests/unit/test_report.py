"""junit.xml holds one testcase per check, and its outcome as CI tools read it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

from cpi_preflight import run
from cpi_preflight.findings import FAILED, SKIPPED, Finding, Verdict

from .test_evidence import junit_xml, sample_plan, sample_verdicts

DEPENDENT = ("answered 403 because role[WorkspacePackagesRead] failed (ROLE_MISSING); fix that "
             "first")


def outcomes(xml_text: str) -> dict[str, tuple[str, str]]:
    """testcase name -> (the element saying its outcome, or 'passed'; its message)."""
    found = {}
    for case in ET.fromstring(xml_text.encode("utf-8")).iter("testcase"):
        said = [e for e in case if e.tag in ("failure", "error", "skipped")]
        found[case.get("name", "")] = ((said[0].tag, said[0].get("message", "")) if said
                                       else ("passed", ""))
    return found


def test_every_skipped_check_is_a_skipped_testcase_with_its_reason() -> None:
    the_plan = sample_plan()
    verdicts = sample_verdicts(the_plan)
    verdicts["tls-expiry"] = Verdict(the_plan.check("tls-expiry"), SKIPPED, run.NOT_SELECTED,
                                     ran=False)
    text = junit_xml(the_plan, verdicts.values())
    assert outcomes(text) == {
        "token": ("passed", ""),
        "api": ("passed", ""),
        "role[WorkspacePackagesRead]": (
            "failure", "role WorkspacePackagesRead is not granted <script>alert('x')</script>"
                       " -- fix: Assign WorkspacePackagesRead (not ***)"),
        "role[MonitoringDataRead]": ("passed", ""),
        "endpoint[MessageProcessingLogs]": ("passed", ""),
        "endpoint[IntegrationPackages]": ("skipped", DEPENDENT),
        "least-privilege (WARNING EXCESS_ROLES)": ("passed", ""),
        "tls-expiry": ("skipped", "not selected in this run (-k, -m, --deselect, --lf or --sw "
                                  "left it out)"),
    }
    suite = ET.fromstring(text.encode("utf-8")).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("8", "1", "2")


def test_a_warning_is_said_once_on_a_warning_line_of_its_own() -> None:
    """JUnit has no warning state: the testcase of a check that passed with a warning is named
    with its code (GitLab's Tests tab shows a passed testcase's name only), and its system-out
    gives the warning and its fix once (the summary was the same message, issue 18.2)."""
    the_plan = sample_plan()
    root = ET.fromstring(junit_xml(the_plan, sample_verdicts(the_plan).values()).encode())
    case = root.find(".//testcase[@name='least-privilege (WARNING EXCESS_ROLES)']")
    assert case is not None
    assert [e.tag for e in case] == ["system-out"]
    assert case.findtext("system-out") == (
        "WARNING EXCESS_ROLES: the token grants role templates DataStoresAndQueuesRead beyond "
        "required_roles\n"
        "  fix: Remove the role collection that holds DataStoresAndQueuesRead.")
    passed = root.find(".//testcase[@name='role[MonitoringDataRead]']")
    assert passed is not None
    assert passed.findtext("system-out") == "role MonitoringDataRead is granted"


def test_a_failed_check_keeps_its_warning_beside_its_failure() -> None:
    the_plan = sample_plan()
    verdicts = sample_verdicts(the_plan)
    lost = Finding("ROLE_LOST", "failure", "R", "role R was granted in the baseline", "add R")
    gained = Finding("ROLE_GAINED", "warning", "G", "role G is granted now", "confirm G")
    verdicts["least-privilege"] = replace(verdicts["least-privilege"], outcome=FAILED,
                                          summary=lost.message, findings=(lost, gained))
    root = ET.fromstring(junit_xml(the_plan, verdicts.values()).encode())
    case = root.find(".//testcase[@name='least-privilege']")
    assert case is not None
    assert case.findtext("system-out") == (
        "role R was granted in the baseline\nWARNING ROLE_GAINED: role G is granted now\n"
        "  fix: confirm G")
    failure = case.find("failure")
    assert failure is not None
    assert failure.text == "ROLE_LOST: role R was granted in the baseline\n  fix: add R"
