"""Evidence a reviewer can match and trust, from real runs against the sandbox profiles."""

from __future__ import annotations

import json
from pathlib import Path

from cpi_preflight import catalog, plan, profile
from tests.e2e.conftest import REPO, run_pytest


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
        assert ('<p class="simulated" id="simulated">simulated tenant (built-in sandbox)</p>'
                in page)
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
