"""`cpi-preflight summary`: the Markdown page a CI job shows, from hostile evidence files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from cpi_preflight import cli, summary


def _evidence(name: str, result: str = "failed", **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "profile": {"name": name, "environment": "cf"},
        "summary": {"passed": 3, "failed": 1, "skipped": 2, "warnings": 1, "result": result},
        "checks": [
            {"id": "token", "outcome": "passed", "code": "", "summary": "ok"},
            {"id": "role[WorkspacePackagesRead]", "outcome": "failed", "code": "ROLE_MISSING",
             "summary": "role WorkspacePackagesRead is not granted"},
            {"id": "endpoint[IntegrationPackages]", "outcome": "skipped", "code": "",
             "summary": "skipped"},
        ],
        "findings": [{"check": "least-privilege", "code": "EXCESS_ROLES", "severity": "warning",
                      "message": "grants AccessPoliciesRead beyond required_roles"},
                     {"check": "role[WorkspacePackagesRead]", "code": "ROLE_MISSING",
                      "severity": "failure", "message": "not granted"}],
    }
    doc.update(extra)
    return doc


def _write(reports: Path, name: str, doc: object) -> Path:
    path = reports / name / "evidence.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_page_lists_each_profile_and_its_failed_checks_and_warnings(tmp_path: Path) -> None:
    _write(tmp_path, "prod-cf", _evidence("prod-cf"))
    _write(tmp_path, "dev-cf", {**_evidence("dev-cf", "passed"), "checks": [], "findings": []})
    assert summary.markdown(tmp_path).splitlines() == [
        "## cpi-preflight",
        "",
        "| Profile | Environment | Result | Passed | Failed | Skipped | Warnings |",
        "|---|---|---|---:|---:|---:|---:|",
        "| dev-cf | cf | ✅ passed | 3 | 1 | 2 | 1 |",
        "| prod-cf | cf | ❌ failed | 3 | 1 | 2 | 1 |",
        "",
        "### prod-cf",
        "",
        "| Check | Code | What happened |",
        "|---|---|---|",
        "| role\\[WorkspacePackagesRead\\] | ROLE\\_MISSING | role WorkspacePackagesRead is not "
        "granted |",
        "| least-privilege | EXCESS\\_ROLES (warning) | grants AccessPoliciesRead beyond "
        "required\\_roles |",
    ]


def test_hostile_text_cannot_break_the_table_or_inject_markup(tmp_path: Path) -> None:
    doc = _evidence("p")
    doc["checks"][1]["summary"] = "a|b\n## x <script>alert(1)</script> `c` \x1b[31m[l](u)"
    _write(tmp_path, "p", doc)
    row = summary.markdown(tmp_path).splitlines()[-2]
    assert row == ("| role\\[WorkspacePackagesRead\\] | ROLE\\_MISSING | a\\|b ## x "
                   "&lt;script&gt;alert(1)&lt;/script&gt; \\`c\\` \\[31m\\[l\\](u) |")


def test_long_text_is_cut(tmp_path: Path) -> None:
    doc = _evidence("p")
    doc["checks"][1]["summary"] = "x" * 1000
    _write(tmp_path, "p", doc)
    row = summary.markdown(tmp_path).splitlines()[-2]
    assert row.endswith(" | " + "x" * (summary.MAX_CELL - 1) + "… |")


@pytest.mark.parametrize(("content", "reason"), [
    (b"{", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    (b"[1]", "no profile section; not an evidence.json written by cpi-preflight"),
    (b"\xff\xfe", "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
])
def test_a_bad_file_becomes_a_row_not_a_crash(tmp_path: Path, content: bytes,
                                              reason: str) -> None:
    path = tmp_path / "bad" / "evidence.json"
    path.parent.mkdir()
    path.write_bytes(content)
    _write(tmp_path, "good", {**_evidence("good", "passed"), "checks": [], "findings": []})
    lines = summary.markdown(tmp_path).splitlines()
    assert "| bad |  | ⚠️ unreadable |  |  |  |  |" in lines
    assert lines[-1] == f"**bad**: {summary.cell(f'{path}: cannot be read ({reason})')}"


def test_reads_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summary, "MAX_EVIDENCE_BYTES", 100)
    _write(tmp_path, "big", _evidence("big"))
    assert summary.read_result(tmp_path / "big" / "evidence.json").error.endswith(
        "cannot be read (is 1 KiB, more than the 0 KiB this file may have)")


def test_no_evidence_says_the_run_stopped_early(tmp_path: Path) -> None:
    assert summary.markdown(tmp_path) == (
        f"## cpi-preflight\n\nNo evidence.json under {summary.cell(tmp_path)}: the run stopped "
        "before the checks (see the job log).\n")


def test_cli_prints_the_page_and_exits_0_even_for_failed_checks(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, "prod-cf", _evidence("prod-cf"))
    assert cli.main(["summary", str(tmp_path)]) == 0
    assert capsys.readouterr().out == summary.markdown(tmp_path)


def test_cli_missing_folder_is_a_usage_error(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["summary", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err == (
        f"cpi-preflight summary: {tmp_path / 'nope'}: no such folder; give the reports folder "
        "of a run (pytest --reports-dir, default reports/)\n")


def test_a_fifo_or_deep_json_is_a_row_error_not_a_hang(tmp_path: Path) -> None:
    (tmp_path / "pipe").mkdir()
    os.mkfifo(tmp_path / "pipe" / "evidence.json")
    assert summary.read_result(tmp_path / "pipe" / "evidence.json").error.endswith(
        "cannot be read (is a FIFO (named pipe), not a regular file)")
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "evidence.json").write_text("[" * 100_000 + "]" * 100_000)
    assert summary.read_result(tmp_path / "deep" / "evidence.json").error.endswith(
        "cannot be read (nested more than 64 levels deep)")
