"""Checks written by the team (`user_checks`): how a test's phases become one result, which
profile it belongs to, and how every report shows it, masked in the document's one walk."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from cpi_preflight import run
from cpi_preflight.findings import FAILED, PASSED, SKIPPED
from cpi_preflight.reporting import document, evidence, html, junit, markdown, terminal
from cpi_preflight.reporting.document import MAX_USER_MESSAGE, Document
from cpi_preflight.secret import MASK, Secret
from cpi_preflight.user_checks import UserCheck, UserChecks

from .test_evidence import sample_observations, sample_plan, sample_token, sample_verdicts

SECRET = "s3cr&t<>\"'$HOME-value"


def report(when: str, outcome: str, longrepr: Any = None, duration: float = 0.5,
           **extra: Any) -> pytest.TestReport:
    return pytest.TestReport(nodeid="checks/test_x.py::test_x[p]", location=("x", 1, "x"),
                             keywords={}, outcome=outcome, longrepr=longrepr,  # type: ignore[arg-type]
                             when=when, duration=duration, **extra)  # type: ignore[arg-type]


def crash(message: str) -> SimpleNamespace:
    return SimpleNamespace(reprcrash=SimpleNamespace(message=message))


def result(*phases: pytest.TestReport, profile: str | None = "p") -> UserCheck:
    checks = UserChecks()
    checks.expect([("checks/test_x.py::test_x[p]", profile)])
    for phase in phases:
        checks.record("checks/test_x.py::test_x[p]", phase)
    (only,) = checks.of("p", run.NOT_REACHED)
    return only


def test_a_failed_call_gives_its_assertion_message_and_the_time_of_every_phase() -> None:
    said = crash("AssertionError: expected 201\nassert 200 == 201")
    found = result(report("setup", "passed", duration=0.25),
                   report("call", "failed", said, duration=0.5),
                   report("teardown", "passed", duration=0.25))
    assert found == UserCheck("checks/test_x.py::test_x[p]", FAILED,
                              "AssertionError: expected 201\nassert 200 == 201", 1.0)


@pytest.mark.parametrize(("phases", "outcome", "message"), [
    ([report("setup", "failed", crash("RuntimeError: no queue"))], FAILED,
     "error in setup: RuntimeError: no queue"),
    ([report("setup", "passed"), report("call", "passed"),
      report("teardown", "failed", "E   OSError: closed\n\n")], FAILED,
     "error in teardown: E   OSError: closed"),
    ([report("setup", "skipped", ("x", 1, "Skipped: no token was issued"))], SKIPPED,
     "no token was issued"),
    ([report("setup", "passed"), report("call", "skipped", crash("AssertionError"),
                                        wasxfail="known bug")], SKIPPED, "xfail: known bug"),
    ([report("setup", "passed"), report("call", "passed", wasxfail="")], PASSED, "xpass"),
    ([report("setup", "passed"), report("call", "passed"), report("teardown", "passed")],
     PASSED, ""),
])
def test_phases_combine_into_one_result(phases: list[pytest.TestReport], outcome: str,
                                        message: str) -> None:
    found = result(*phases)
    assert (found.outcome, found.message) == (outcome, message)


def test_each_test_belongs_to_its_profile_and_one_without_a_fixture_to_every_profile() -> None:
    checks = UserChecks()
    checks.expect([("t[a]", "a"), ("t[b]", "b"), ("plain", None), ("later[a]", "a")])
    for nodeid in ("t[a]", "t[b]", "plain"):
        checks.record(nodeid, report("call", "passed"))
    checks.record("not-selected", report("call", "failed", "boom"))
    assert [(c.nodeid, c.outcome, c.ran) for c in checks.of("a", run.NOT_REACHED)] == [
        ("t[a]", PASSED, True), ("plain", PASSED, True), ("later[a]", SKIPPED, False)]
    assert checks.of("a", run.NOT_REACHED)[-1].message == run.NOT_REACHED
    assert [c.nodeid for c in checks.of("b", run.NOT_REACHED)] == ["t[b]", "plain"]
    assert checks.of("c", run.NOT_REACHED) == [
        UserCheck("plain", PASSED, "", 0.5)]


def built(*user_checks: UserCheck) -> Document:
    the_plan = sample_plan()
    return document.build(
        the_plan, sample_observations(), sample_verdicts(the_plan),
        started_at=datetime(2026, 5, 1, tzinfo=UTC), duration_s=1.0, token=sample_token(),
        trust="system CAs", proxy="direct", baseline=None, user_checks=user_checks)


def test_a_failed_user_check_fails_the_profile_in_every_report_masked() -> None:
    Secret(SECRET)
    failed = UserCheck("checks/test_x.py::test_x[prod-cf]", FAILED,
                       f"AssertionError: got {SECRET}\nassert 200 == 201", 0.1234)
    doc = built(failed, UserCheck("checks/test_y.py::test_y", PASSED, "", 0.01))
    assert doc.record["user_checks"] == [
        {"nodeid": "checks/test_x.py::test_x[prod-cf]", "outcome": "failed", "ran": True,
         "message": f"AssertionError: got {MASK} assert 200 == 201", "duration_s": 0.123},
        {"nodeid": "checks/test_y.py::test_y", "outcome": "passed", "ran": True, "message": "",
         "duration_s": 0.01}]
    assert doc.record["summary"]["result"] == "failed"
    assert doc.record["summary"]["passed"] == 5  # 4 built-in checks and the passed user check
    assert document.verify_sha256(doc.record)
    rendered = {"evidence.json": evidence.render(doc), "evidence.html": html.render(doc),
                "junit.xml": junit.render(doc),
                "terminal": "\n".join(terminal.render(doc, width=100, verbosity=0)),
                "summary": markdown.render([Document(json.loads(evidence.render(doc)))])}
    for name, text in rendered.items():
        assert "s3cr" not in text, name
    case = ET.fromstring(rendered["junit.xml"].encode()).find(
        ".//testcase[@name='checks/test_x.py::test_x[prod-cf]']")
    assert case is not None
    assert case.get("classname") == "cpi_preflight.prod-cf.checks"
    assert case.find("failure").get("message") == (  # type: ignore[union-attr]
        f"AssertionError: got {MASK} assert 200 == 201")
    assert ("  failed   checks/test_x.py::test_x[prod-cf]" in rendered["terminal"].splitlines())
    assert ("| checks/test\\_x.py::test\\_x\\[prod-cf\\] | team's check | AssertionError: got "
            "\\*\\*\\* assert 200 == 201 |  |") in rendered["summary"].splitlines()
    assert "<h2>Checks written by this team</h2>" in rendered["evidence.html"]


def test_a_long_message_is_cut_after_masking() -> None:
    Secret(SECRET)
    long = UserCheck("t", FAILED, "x" * (MAX_USER_MESSAGE - 10) + SECRET + "y" * 100, 0.0)
    message = built(long).record["user_checks"][0]["message"]
    assert len(message) == MAX_USER_MESSAGE
    assert message.startswith("x" * (MAX_USER_MESSAGE - 10) + MASK + "y")
    assert message.endswith("y...")
    assert "s3cr" not in message


def test_a_document_without_user_checks_reads_as_none() -> None:
    record = dict(built().record)
    del record["user_checks"]  # a document of schema 1
    assert Document(record).user_checks() == []
    odd = Document({"user_checks": [None, {"nodeid": 3, "outcome": "maybe", "duration_s": True}]})
    assert [(c.id, c.outcome, c.ran, c.elapsed_ms) for c in odd.user_checks()] == [
        ("3", SKIPPED, False, None)]
