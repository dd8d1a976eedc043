"""Evidence a reviewer can match and trust, from real runs against the sandbox profiles."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from cpi_preflight import catalog, cli, plan, profile
from tests.e2e.conftest import REPO, run_pytest

MISCONFIGURED = "sandbox-cf-misconfigured"


def _summary(reports: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The summary's rows up to the counts (profile, environment, result, five counts)."""
    assert cli.main(["summary", str(reports)]) == 0
    return [" | ".join(line.split(" | ")[:8]) + " |"
            for line in capsys.readouterr().out.splitlines()]


def _evidence(reports: Path, name: str) -> tuple[dict, str]:
    folder = reports / name
    return (json.loads((folder / "evidence.json").read_text(encoding="utf-8")),
            (folder / "evidence.html").read_text(encoding="utf-8"))


def test_a_strict_run_is_recorded_as_strict(tmp_path: Path) -> None:
    outcome = run_pytest(tmp_path, "--profile", "sandbox-cf", "--strict")
    doc, page = _evidence(outcome.reports, "sandbox-cf")
    assert doc["run"]["strict"] is True
    assert "<dt>Strict mode</dt><dd>yes (--strict)</dd>" in page
    plain = run_pytest(tmp_path / "plain", "--profile", "sandbox-cf")
    doc, page = _evidence(plain.reports, "sandbox-cf")
    assert doc["run"]["strict"] is False
    assert "<dt>Strict mode</dt><dd>no</dd>" in page


def test_sandbox_evidence_is_marked_simulated_and_holds_no_local_path(tmp_path: Path) -> None:
    outcome = run_pytest(tmp_path, "--profile", "sandbox-cf,sandbox-neo")
    for name in ("sandbox-cf", "sandbox-neo"):
        doc, page = _evidence(outcome.reports, name)
        assert doc["tenant"]["simulated"] is True
        assert doc["tenant"]["caveat"] == ("simulated tenant: the built-in sandbox of "
                                           "cpi-preflight (the profile's sandbox:)")
        assert '<p class="simulated" id="simulated">simulated tenant</p>' in page
        assert "<title>Not go-live evidence: " in page
        assert doc["profile"]["file"] == f"profiles/{name}.yaml"
        assert doc["run"]["trust"].endswith("+ sandbox CA")
        for text in (json.dumps(doc), page):
            assert str(REPO) not in text
            assert "/tmp/" not in text
        junit = (outcome.reports / name / "junit.xml").read_text(encoding="utf-8")
        assert f'value="profiles/{name}.yaml"' in junit


def test_role_matrix_names_the_proving_call_as_the_check_does(tmp_path: Path) -> None:
    outcome = run_pytest(tmp_path, "--profile", "sandbox-neo,sandbox-cf-misconfigured")
    for name in ("sandbox-neo", "sandbox-cf-misconfigured"):
        doc, _ = _evidence(outcome.reports, name)
        summaries = {c["id"]: c["summary"] for c in doc["checks"]}
        proven = [r for r in doc["roles"] if r["proven_by"]]
        assert proven
        titles = {c.id: c.title for c in plan.build(
            profile.load(name, REPO / "profiles"), catalog.load()).checks}
        for row in proven:
            method, path, status = row["proven_by"].split(" ")
            assert f"{method} {path} answered {status}" in summaries[row["check"]], row
            assert titles[row["check"]].endswith(f", proven by GET {path.rsplit('/', 1)[-1]}")


def test_a_run_of_one_selected_check_is_incomplete_everywhere(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_pytest(tmp_path, "--profile", MISCONFIGURED, "-k", "token")
    assert outcome.code == 0, outcome.stdout
    doc, page = _evidence(outcome.reports, MISCONFIGURED)
    assert doc["summary"]["result"] == "incomplete"
    assert '<div class="badge incomplete" id="result">INCOMPLETE</div>' in page
    assert '<p class="counts" id="counts">11 checks: 1 passed, 10 not run</p>' in page
    assert "This run is incomplete: 10 of 11 checks were not run" in page
    assert "Approved for go-live" not in page
    assert f"| {MISCONFIGURED} | cf | ⚠️ incomplete | 0 | 0 | 1 | 0 | 10 |" in (
        _summary(outcome.reports, capsys))


def test_x_over_two_profiles_leaves_the_second_incomplete_not_passed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_pytest(tmp_path, "--profile", f"{MISCONFIGURED},sandbox-cf", "-x",
                         "-p", "no:randomly")
    assert outcome.code == 1
    doc, page = _evidence(outcome.reports, "sandbox-cf")
    # 10 built-in checks and checks/test_odata_shape.py, the project's own check: none ran
    assert (doc["summary"]["result"], doc["summary"]["not_run"]) == ("incomplete", 11)
    assert '<p class="counts" id="counts">11 checks: 11 not run</p>' in page
    rows = _summary(outcome.reports, capsys)
    assert "| sandbox-cf | cf | ⚠️ incomplete | 0 | 0 | 0 | 0 | 11 |" in rows
    assert f"| {MISCONFIGURED} | cf | ❌ failed | 1 | 0 | 3 | 0 | 8 |" in rows


def test_terminal_html_and_summary_count_checks_alike(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copy(REPO / "profiles" / f"{MISCONFIGURED}.yaml", profiles)
    wide = {"environment": "cf", "required_roles": ["MonitoringDataRead"],
            "endpoints": ["MessageProcessingLogs"], "attempts": 1,
            "sandbox": {"roles": ["MonitoringDataRead", "AccessPoliciesRead"]}}
    (profiles / "wide.yaml").write_text(yaml.safe_dump(wide), encoding="utf-8")
    outcome = run_pytest(tmp_path, "--profile", f"{MISCONFIGURED},wide", profiles_dir=profiles)
    rows = _summary(outcome.reports, capsys)
    # each profile's built-in checks and checks/test_odata_shape.py, the project's own check
    expected = {MISCONFIGURED: ("3 failed, 7 passed, 2 skipped", "| 3 | 0 | 7 | 2 | 0 |"),
                "wide": ("1 warning, 6 passed", "| 0 | 1 | 6 | 0 | 0 |")}
    for name, (line, columns) in expected.items():
        assert f"{name} (cf): {line}" in outcome.stdout.splitlines(), outcome.stdout
        _, page = _evidence(outcome.reports, name)
        counts = re.search(r'<p class="counts" id="counts">\d+ checks: ([^;<]*)', page)
        assert counts is not None
        assert counts.group(1) == line
        assert any(r.startswith(f"| {name} | cf |") and r.endswith(columns) for r in rows), rows
    _, page = _evidence(outcome.reports, MISCONFIGURED)
    findings = page.split('<section id="findings">', 1)[1].split("</section>", 1)[0]
    assert '<code class="command">cf update-service &lt;instance&gt; -c &#39;' in findings
    assert "`" not in findings
