"""junit.xml holds one testcase per check, and its outcome as CI tools read it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from cpi_preflight import run
from cpi_preflight.findings import SKIPPED, Verdict

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
        "least-privilege": ("passed", ""),
        "tls-expiry": ("skipped", "not selected in this run (-k, -m, --deselect, --lf or --sw "
                                  "left it out)"),
    }
    suite = ET.fromstring(text.encode("utf-8")).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("8", "1", "2")
