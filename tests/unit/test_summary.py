"""`cpi-preflight summary`: the Markdown page a CI job shows, from hostile evidence files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from cpi_preflight import cli
from cpi_preflight.commands import summary
from cpi_preflight.markdown import cell
from cpi_preflight.reporting.markdown import MAX_CELL, PAGE_LIMIT


def _evidence(name: str, result: str = "failed", **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "profile": {"name": name, "environment": "cf"},
        "summary": {"failed": 1, "warning": 1, "passed": 2, "skipped": 1, "not_run": 1,
                    "warning_findings": 1, "result": result},
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
    assert summary.markdown_page(tmp_path).splitlines() == [
        "## cpi-preflight",
        "",
        "| Profile | Environment | Result | Failed | Warning | Passed | Skipped | Not run "
        "| Started (UTC) | Run | Go-live evidence |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---|---|",
        "| dev-cf | cf | ✅ passed | 1 | 1 | 2 | 1 | 1 |  |  | yes |",
        "| prod-cf | cf | ❌ failed | 1 | 1 | 2 | 1 | 1 |  |  | yes |",
        "",
        "### prod-cf",
        "",
        "| Check | Code | What happened | Fix |",
        "|---|---|---|---|",
        "| role\\[WorkspacePackagesRead\\] | ROLE\\_MISSING | not granted |  |",
        "| least-privilege | EXCESS\\_ROLES (warning) | grants AccessPoliciesRead beyond "
        "required\\_roles |  |",
    ]


def test_hostile_text_cannot_break_the_table_or_inject_markup(tmp_path: Path) -> None:
    doc = _evidence("p")
    doc["findings"][1]["message"] = "a|b\n## x <script>alert(1)</script> `c` \x1b[31m[l](u)"
    _write(tmp_path, "p", doc)
    row = summary.markdown_page(tmp_path).splitlines()[-2]
    assert row == ("| role\\[WorkspacePackagesRead\\] | ROLE\\_MISSING | a\\|b ## x "
                   "&lt;script&gt;alert(1)&lt;/script&gt; \\`c\\` \\[l\\](u) |  |")


def test_long_text_is_cut(tmp_path: Path) -> None:
    doc = _evidence("p")
    doc["findings"][1]["message"] = "x" * 1000
    _write(tmp_path, "p", doc)
    row = summary.markdown_page(tmp_path).splitlines()[-2]
    assert row.endswith(" | " + "x" * (MAX_CELL - 3) + "... |  |")


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
    lines = summary.markdown_page(tmp_path).splitlines()
    assert "| bad |  | ⚠️ unreadable |  |  |  |  |  |  |  |  |" in lines
    assert lines[-1] == f"**bad**: {cell(f'{path}: cannot be read ({reason})', MAX_CELL)}"


def test_reads_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summary, "MAX_EVIDENCE_BYTES", 100)
    _write(tmp_path, "big", _evidence("big"))
    assert summary.read_result(tmp_path / "big" / "evidence.json").error.endswith(
        "cannot be read (is 1 KiB, more than the 0 KiB this file may have)")


NO_REPORTS = ("## cpi-preflight\n\nNo reports in reports/: the run stopped before writing any; "
              "see the log of the check step.\n")


def test_an_empty_reports_folder_says_the_run_stopped_early(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reports" / "half-written").mkdir(parents=True)
    assert cli.main(["summary", "reports"]) == 0
    assert capsys.readouterr().out == NO_REPORTS


def test_a_missing_reports_folder_is_an_error_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A folder no run wrote names no reports: exit 2 and one line, not "the run stopped"."""
    monkeypatch.chdir(tmp_path)
    for given in ("reports", "reprots/"):
        assert cli.main(["summary", given]) == 2
        assert capsys.readouterr() == ("", (
            f"cpi-preflight summary: {given.rstrip('/')}: no such folder; give the folder a "
            "run of pytest --profile wrote its reports to (--reports-dir, default "
            "reports/)\n"))


def test_cli_prints_the_page_and_exits_0_even_for_failed_checks(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, "prod-cf", _evidence("prod-cf"))
    assert cli.main(["summary", str(tmp_path)]) == 0
    assert capsys.readouterr().out == summary.markdown_page(tmp_path)


def test_cli_path_that_is_neither_folder_nor_file_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(tmp_path / "pipe")
    assert cli.main(["summary", str(tmp_path / "pipe")]) == 2
    assert capsys.readouterr() == ("", (
        f"cpi-preflight summary: {tmp_path / 'pipe'}: not a folder or an evidence.json file; "
        "give the reports folder of a run (pytest --reports-dir, default reports/)\n"))


def test_every_finding_is_a_row_even_two_failures_of_one_check(tmp_path: Path) -> None:
    drift = [("ROLE_LOST", "failure", "role MonitoringDataRead was granted in the baseline",
              "Add it back: `cf update-service <instance> -c '{...}'`."),
             ("ROLE_GAINED", "warning", "role AccessPoliciesRead is new", "Confirm it."),
             ("ENDPOINT_REGRESSED", "failure", "MessageProcessingLogs answered 200, now 403",
              "See its own finding.")]
    doc = _evidence("p", checks=[{"id": "drift", "outcome": "failed", "code": "ROLE_LOST",
                                  "summary": "2 changes broke the client"}],
                    findings=[{"check": "drift", "code": code, "severity": severity,
                               "message": message, "fix": fix}
                              for code, severity, message, fix in drift])
    _write(tmp_path, "p", doc)
    # each code with its own fix (issue 18.4), the fix shown as text, never as markup
    assert summary.markdown_page(tmp_path).splitlines()[-3:] == [
        "| drift | ROLE\\_LOST | role MonitoringDataRead was granted in the baseline | Add it "
        "back: \\`cf update-service &lt;instance&gt; -c '{...}'\\`. |",
        "| drift | ENDPOINT\\_REGRESSED | MessageProcessingLogs answered 200, now 403 | See its "
        "own finding. |",
        "| drift | ROLE\\_GAINED (warning) | role AccessPoliciesRead is new | Confirm it. |",
    ]


def test_a_failed_check_without_a_finding_still_gets_a_row(tmp_path: Path) -> None:
    _write(tmp_path, "p", _evidence("p", findings=[]))
    assert summary.markdown_page(tmp_path).splitlines()[-1] == (
        "| role\\[WorkspacePackagesRead\\] | ROLE\\_MISSING | role WorkspacePackagesRead is "
        "not granted |  |")


def test_an_incomplete_run_is_marked_so_not_passed(tmp_path: Path) -> None:
    counts = {"failed": 0, "warning": 0, "passed": 1, "skipped": 0, "not_run": 10,
              "warning_findings": 0, "result": "incomplete"}
    _write(tmp_path, "p", _evidence("p", summary=counts, checks=[], findings=[]))
    assert summary.markdown_page(tmp_path).splitlines()[4] == (
        "| p | cf | ⚠️ incomplete | 0 | 0 | 1 | 0 | 10 |  |  | yes |")


def test_a_fifo_or_deep_json_is_a_row_error_not_a_hang(tmp_path: Path) -> None:
    (tmp_path / "pipe").mkdir()
    os.mkfifo(tmp_path / "pipe" / "evidence.json")
    assert summary.read_result(tmp_path / "pipe" / "evidence.json").error.endswith(
        "cannot be read (is a FIFO (named pipe), not a regular file)")
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "evidence.json").write_text("[" * 100_000 + "]" * 100_000)
    assert summary.read_result(tmp_path / "deep" / "evidence.json").error.endswith(
        "cannot be read (nested more than 64 levels deep)")


@pytest.mark.parametrize("odd", [{"checks": 5}, {"findings": True}, {"summary": 7},
                                 {"checks": [1, "x", None]}, {"findings": [{"check": []}]}])
def test_sections_of_the_wrong_type_are_a_row_not_a_crash(tmp_path: Path,
                                                           odd: dict[str, Any]) -> None:
    _write(tmp_path, "odd", {"profile": {"name": "odd"}, **odd})
    page = summary.markdown_page(tmp_path)
    assert "| odd |" in page


# --- issue 18.11: each report's time and run; the latest run by default ----------------------


def _ran(name: str, started: str, ci: object = None, result: str = "passed") -> dict[str, Any]:
    return _evidence(name, result, checks=[], findings=[],
                     run={"started_at": started, "ci": ci})


def _rows(page: str) -> list[str]:
    return [line for line in page.splitlines() if line.startswith("| ") and "---" not in line
            and not line.startswith("| Profile ")]


@pytest.mark.parametrize(("environ", "recorded"), [
    ({"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "9876543210"},
     {"system": "github", "run_id": "9876543210"}),
    ({"GITLAB_CI": "true", "CI_PIPELINE_ID": "77", "CI_JOB_ID": "812"},
     {"system": "gitlab", "run_id": "77"}),
    ({"GITHUB_RUN_ID": "123"}, None),  # not in GitHub Actions
    ({"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "12 & <b> \"$'"}, None),
    ({"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "1" * 21}, None),
    ({"GITLAB_CI": "true", "CI_PIPELINE_ID": ""}, None),
    ({}, None),
])
def test_the_ci_run_is_recorded_from_the_environment(environ: dict[str, str],
                                                     recorded: object) -> None:
    from cpi_preflight.reporting import document

    assert document.ci_run(environ) == recorded


def test_each_row_says_when_and_in_which_run_it_started(tmp_path: Path) -> None:
    _write(tmp_path, "gh", _ran("gh", "2026-12-03T10:00:05Z", {"system": "github",
                                                                "run_id": "123"}))
    assert _rows(summary.markdown_page(tmp_path)) == [
        "| gh | cf | ✅ passed | 1 | 1 | 2 | 1 | 1 | 2026-12-03 10:00:05 | GitHub run 123 | yes |"]
    _write(tmp_path, "gl", _ran("gl", "2026-12-03T10:00:07Z", {"system": "gitlab",
                                                                "run_id": "77"}))
    assert _rows(summary.markdown_page(tmp_path, every_run=True))[1] == (
        "| gl | cf | ✅ passed | 1 | 1 | 2 | 1 | 1 | 2026-12-03 10:00:07 | GitLab pipeline 77 "
        "| yes |")


@pytest.mark.parametrize("run", [
    {"started_at": "<b>2026</b>", "ci": {"system": "github", "run_id": "1 | [x](u)"}},
    {"started_at": 5, "ci": {"system": "<b>", "run_id": "5"}},
    {"started_at": "2026-12-03T10:00:05Z\n## x", "ci": "github"},
    "not an object",
])
def test_odd_times_and_runs_from_a_file_show_as_nothing(tmp_path: Path, run: object) -> None:
    _write(tmp_path, "p", _evidence("p", checks=[], findings=[], run=run))
    assert _rows(summary.markdown_page(tmp_path))[0].endswith(" | 1 |  |  | yes |")


def test_only_the_latest_ci_run_is_shown_unless_all(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, "old", _ran("old", "2026-12-03T11:00:00Z", {"system": "github",
                                                                   "run_id": "1"}, "failed"))
    _write(tmp_path, "b", _ran("b", "2026-12-03T12:00:00Z", {"system": "github",
                                                               "run_id": "2"}))
    _write(tmp_path, "c", _ran("c", "2026-12-03T12:05:00Z", {"system": "github",
                                                               "run_id": "2"}))
    _write(tmp_path, "older", _ran("older", "2026-12-01T08:00:00Z"))
    lines = summary.markdown_page(tmp_path).splitlines()
    assert [row.split(" | ")[0] for row in _rows("\n".join(lines))] == ["| b", "| c"]
    assert lines[-1] == "2 reports of earlier runs are not shown; add --all to show every report."
    assert cli.main(["summary", str(tmp_path), "--all"]) == 0
    every = capsys.readouterr().out
    assert [row.split(" | ")[0] for row in _rows(every)] == ["| b", "| c", "| old", "| older"]
    assert "earlier runs" not in every


def test_outside_ci_a_run_is_one_pytest_session(tmp_path: Path) -> None:
    _write(tmp_path, "a", _ran("a", "2026-12-03T10:00:00Z"))
    _write(tmp_path, "b", _ran("b", "2026-12-03T10:00:00Z"))
    _write(tmp_path, "c", _ran("c", "2026-12-03T09:59:59Z", result="failed"))
    path = tmp_path / "bad" / "evidence.json"
    path.parent.mkdir()
    path.write_text("{", encoding="utf-8")
    page = summary.markdown_page(tmp_path)
    assert [row.split(" | ")[0] for row in _rows(page)] == ["| a", "| b", "| bad"]
    assert page.splitlines()[-1] == ("1 report of earlier runs is not shown; add --all to show "
                                     "every report.")


# --- issue 17.7: the page stays under GitHub's 1 MiB limit; failed rows are kept -------------


def _failed(name: str, findings: int) -> dict[str, Any]:
    text = "a & b < c " * 40  # every & < > grows when escaped
    return {"profile": {"name": name, "environment": "cf"},
            "run": {"started_at": "2026-12-03T10:00:00Z"},
            "summary": {"failed": 1, "result": "failed"},
            "checks": [{"id": "drift", "outcome": "failed", "code": "ROLE_LOST"}],
            "findings": [{"check": "drift", "code": "ROLE_LOST", "severity": "failure",
                          "message": f"{i} {text}"} for i in range(findings)]}


def test_the_page_stays_under_githubs_limit_keeps_every_row_and_says_what_it_cut(
        tmp_path: Path) -> None:
    for i in range(500):
        _write(tmp_path, f"p{i:03}", _failed(f"p{i:03}", 60))
    page = summary.markdown_page(tmp_path)
    assert len(page.encode("utf-8")) <= PAGE_LIMIT < 1048576
    lines = page.splitlines()
    assert [line.split(" | ")[2] for line in lines if line.startswith("| p")] == [
        "❌ failed"] * 500
    detailed = sum(line.startswith("### p") for line in lines)
    assert 0 < detailed < 500
    assert lines[-1] == (
        f"This page stays under GitHub's 1 MiB limit for a job summary: the details of "
        f"{500 - detailed} profiles are left out; every profile's evidence.html in the reports "
        "has them all.")
    more = [line for line in lines if "more rows" in line]
    assert more[0] == ("| | | 10 more rows not shown (at most 50 per profile): see the "
                       "profile's evidence.html | |")
    assert len(more) == detailed


def test_a_small_page_is_not_cut(tmp_path: Path) -> None:
    _write(tmp_path, "p", _failed("p", 3))
    page = summary.markdown_page(tmp_path)
    assert "1 MiB" not in page
    assert "more rows" not in page
    assert page.splitlines()[4].startswith("| p | cf | ❌ failed |")
