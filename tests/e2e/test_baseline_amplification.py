"""Issue 17.7, as a user meets it: a crafted baseline of a few MB (any strings as granted roles
and passed endpoints) against a failing profile. Before: every string became a ROLE_LOST
finding with its fix (MBs of terminal output and reports), and the job summary showed the
failed run as "unreadable"."""

from __future__ import annotations

import json
from pathlib import Path

from cpi_preflight import catalog, cli

from .conftest import run_pytest

PROFILE = "sandbox-cf-misconfigured"
HOSTILE = "`cf delete-service prod -f` & < > \" ' $"


def _baseline(path: Path) -> Path:
    cat = catalog.load()
    granted = [*cat.roles, *(f"Forged{i}{HOSTILE}" for i in range(30_000))]
    doc = {"profile": {"name": PROFILE},
           "roles": [{"role": r, "granted_by_token": "yes", "result": "passed"} for r in granted],
           "endpoints": [{"name": e, "result": "passed", "path": f"/api/v1/{HOSTILE}"}
                         for e in [*cat.endpoints, *(f"Fake{i}" for i in range(5_000))]]}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_a_huge_baseline_gives_one_warning_bounded_reports_and_a_failed_summary(
        tmp_path: Path, capsys) -> None:
    base = _baseline(tmp_path / "base.json")
    assert base.stat().st_size > 2_000_000
    outcome = run_pytest(tmp_path, "--profile", PROFILE, f"--baseline={base}", "-p",
                         "no:randomly")
    assert outcome.code == 1, outcome.stdout[-3000:]
    assert len(outcome.stdout) < 100_000
    said = " ".join(outcome.stdout.split())
    assert (f"warning: --baseline {base}: the evidence of profile {PROFILE} lists 30000 roles "
            "and 5000 endpoints that cpi-preflight does not know (not in its catalog); they "
            "were ignored, and drift is checked for the roles and endpoints it knows") in said
    assert said.count("cpi-preflight does not know") == 1
    assert "Forged" not in outcome.stdout
    assert "Fake" not in outcome.stdout
    assert "more findings not listed (at most 25 are listed per check)" in said

    folder = outcome.reports / PROFILE
    assert sum(p.stat().st_size for p in folder.iterdir()) < 500_000
    evidence = json.loads((folder / "evidence.json").read_text(encoding="utf-8"))
    drift = next(c for c in evidence["checks"] if c["id"] == "drift")
    listed = [f for f in evidence["findings"] if f["check"] == "drift"]
    assert len(listed) == 25
    assert drift["findings_left_out"] > 0
    assert {f["subject"] for f in listed} <= {*catalog.load().roles, *catalog.load().endpoints}
    assert evidence["summary"]["result"] == "failed"
    page = (folder / "evidence.html").read_text(encoding="utf-8")
    assert (f'<p class="left-out"><code>drift</code>: {drift["findings_left_out"]} more findings '
            "not listed (at most 25 are listed per check)</p>") in page

    capsys.readouterr()
    assert cli.main(["summary", str(outcome.reports)]) == 0
    summary = capsys.readouterr().out
    assert len(summary.encode("utf-8")) < 1_048_576
    row = next(line for line in summary.splitlines() if line.startswith(f"| {PROFILE} |"))
    assert row.split(" | ")[2] == "❌ failed"
