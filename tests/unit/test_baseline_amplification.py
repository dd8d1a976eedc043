"""Issue 17.7: a baseline (a file from outside) may list any strings as roles and endpoints; they
must not turn into findings, and no check's findings may grow the reports without end."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from cpi_preflight import baseline, catalog, diagnosis, rules
from cpi_preflight.catalog import Severity
from cpi_preflight.findings import FAILED, MAX_FINDINGS, PASSED, Finding, Verdict, bounded
from cpi_preflight.plan import CheckKind
from cpi_preflight.reporting import document, junit, terminal
from cpi_preflight.reporting import markdown as summary_page
from cpi_preflight.reporting.document import Document
from tests.unit.test_evidence import (
    STARTED,
    VALIDATOR,
    render_html,
    sample_observations,
    sample_plan,
    sample_verdicts,
)

CAT = catalog.load()
HOSTILE = "Forged`cf delete-service prod -f` & < > \" ' $"
LEFT_OUT = "15 more findings not listed (at most 25 are listed per check)"


def _role(name: object) -> dict[str, object]:
    return {"role": name, "granted_by_token": "yes", "result": "passed"}


def _endpoint(name: object) -> dict[str, object]:
    return {"name": name, "result": "passed", "path": f"/api/v1/{HOSTILE}"}


# --- the baseline: only what the catalog knows ----------------------------------------------


def test_roles_and_endpoints_outside_the_catalog_are_ignored_with_one_warning() -> None:
    doc = {"_path": "base/evidence.json", "profile": {"name": "prod"},
           "roles": [_role("MonitoringDataRead"), _role("IntegrationOperationServer.read"),
                     _role(HOSTILE), *(_role(f"Role{i}") for i in range(1000)), "a string",
                     {"role": 5}],
           "endpoints": [_endpoint("MessageProcessingLogs"), _endpoint(HOSTILE), 7]}
    kept, warnings = baseline.within_catalog(Path("base"), {"prod": doc}, CAT)
    assert [r["role"] for r in kept["prod"]["roles"]] == ["MonitoringDataRead",
                                                          "IntegrationOperationServer.read"]
    assert [e["name"] for e in kept["prod"]["endpoints"]] == ["MessageProcessingLogs"]
    assert kept["prod"]["_path"] == "base/evidence.json"
    assert warnings == [
        "--baseline base: the evidence of profile prod lists 1003 roles and 2 endpoints that "
        "cpi-preflight does not know (not in its catalog); they were ignored, and drift is "
        "checked for the roles and endpoints it knows"]


@pytest.mark.parametrize(("doc", "said"), [
    ({"roles": [_role("MonitoringDataRead")], "endpoints": [_endpoint("X")]}, "1 endpoint"),
    ({"roles": [_role("X")]}, "1 role"),
    ({"roles": "not a list", "endpoints": [_endpoint("X"), _endpoint("Y")]}, "2 endpoints"),
])
def test_the_warning_counts_only_what_there_is(doc: dict[str, Any], said: str) -> None:
    _, warnings = baseline.within_catalog(Path("b.json"), {"p": doc}, CAT)
    assert warnings == [f"--baseline b.json: the evidence of profile p lists {said} that "
                        "cpi-preflight does not know (not in its catalog); they were ignored, "
                        "and drift is checked for the roles and endpoints it knows"]


def test_a_baseline_of_known_names_gives_no_warning() -> None:
    doc = {"roles": [_role(r) for r in CAT.roles], "endpoints": [_endpoint(e)
                                                                 for e in CAT.endpoints]}
    kept, warnings = baseline.within_catalog(Path("b.json"), {"p": doc}, CAT)
    assert warnings == []
    assert kept["p"]["roles"] == doc["roles"]
    assert kept["p"]["endpoints"] == doc["endpoints"]


# --- bounded findings -----------------------------------------------------------------------


def _findings(count: int, severity: Severity, code: str = "ROLE_GAINED") -> tuple[Finding, ...]:
    return tuple(Finding(code, severity, f"R{i}", f"role R{i} {HOSTILE}", "fix it")
                 for i in range(count))


def test_a_check_keeps_at_most_25_findings_failures_first() -> None:
    check = sample_plan().check("least-privilege")
    warnings, failures = _findings(30, Severity.WARNING), _findings(3, Severity.FAILURE,
                                                                    "ROLE_LOST")
    kept = bounded(Verdict(check, FAILED, "s", (*warnings, *failures)))
    assert MAX_FINDINGS == 25
    assert kept.findings == (*failures, *warnings[:22])
    assert kept.left_out == 8
    few = Verdict(check, PASSED, "s", warnings[:25])
    assert bounded(few) is few


def test_the_diagnosis_bounds_what_any_rule_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    many = _findings(40, Severity.FAILURE, "TOKEN_INVALID")
    monkeypatch.setitem(rules.RULES, CheckKind.TOKEN,
                        lambda ctx, check: Verdict(check, FAILED, "x", many))
    verdicts = diagnosis.diagnose(sample_plan(), sample_observations(), CAT, STARTED)
    assert (len(verdicts["token"].findings), verdicts["token"].left_out) == (25, 15)


def _document_with_left_out() -> Document:
    the_plan = sample_plan()
    verdicts = sample_verdicts(the_plan)
    many = _findings(40, Severity.FAILURE, "EXCESS_ROLES")
    verdicts["least-privilege"] = bounded(Verdict(the_plan.check("least-privilege"), FAILED,
                                                  many[0].message, many))
    return document.build(the_plan, sample_observations(), verdicts, started_at=STARTED,
                          duration_s=1.0, token=None, trust="", proxy="", baseline=None)


def test_every_report_says_how_many_findings_were_left_out() -> None:
    doc = _document_with_left_out()
    record = dict(doc.record)
    assert not list(VALIDATOR.iter_errors(json.loads(json.dumps(record))))
    check = next(c for c in record["checks"] if c["id"] == "least-privilege")
    assert check["findings_left_out"] == 15
    assert sum(f["check"] == "least-privilege" for f in record["findings"]) == 25
    assert f"    {LEFT_OUT}" in terminal.render(doc, width=200, verbosity=0)
    case = next(c for c in ET.fromstring(junit.render(doc).encode()).iter("testcase")
                if c.get("name") == "least-privilege")
    failure = case.find("failure")
    assert failure is not None
    assert failure.text is not None
    assert failure.text.endswith(f"\n{LEFT_OUT}")
    assert (f'<p class="left-out"><code>least-privilege</code>: {LEFT_OUT}</p>'
            in render_html(record))
    assert f"| least-privilege | - | {LEFT_OUT} |  |" in summary_page.render([doc]).splitlines()


def test_a_record_read_back_with_an_odd_count_lists_nothing_left_out() -> None:
    record = dict(_document_with_left_out().record)
    for odd in (True, -3, "15", None, 2.5):
        checks = [{**c, "findings_left_out": odd} for c in record["checks"]]
        read = Document({**record, "checks": checks})
        assert all(row.left_out == 0 for row in read.checks())
        assert "more finding" not in summary_page.render([read])


def test_a_record_with_findings_left_out_reads_back_as_failed(tmp_path: Path) -> None:
    """The end-to-end story (a crafted huge baseline) is in
    tests/e2e/test_baseline_amplification.py."""
    record = dict(_document_with_left_out().record)
    path = tmp_path / "prod-cf" / "evidence.json"
    path.parent.mkdir()
    path.write_text(json.dumps(record), encoding="utf-8")
    from cpi_preflight.commands import summary

    row = next(line for line in summary.markdown_page(tmp_path).splitlines()
               if line.startswith("| prod-cf |"))
    assert row.split(" | ")[2] == "❌ failed"
