"""Issue 17.3: the tool's own GitHub annotations, escaped as the runner unescapes them, and no
workflow command from outside text in any line the terminal shows."""

from __future__ import annotations

from typing import Any

import pytest

from cpi_preflight.findings import Finding
from cpi_preflight.reporting import github_annotations, terminal
from cpi_preflight.reporting.document import CheckRow, Document
from cpi_preflight.text import log_line, no_workflow_commands


def document(findings: list[dict[str, Any]], checks: list[dict[str, Any]] | None = None,
             file: str = "profiles/prod-cf.yaml") -> Document:
    return Document({"profile": {"name": "prod-cf", "environment": "cf", "file": file},
                     "findings": findings, "checks": checks or []})


MISSING = {"check": "role[X]", "code": "ROLE_MISSING", "severity": "failure",
           "message": "role X is not granted", "fix": "Add X: `cf update-service <i>`"}
EXCESS = {"check": "least-privilege", "code": "EXCESS_ROLES", "severity": "warning",
          "message": "the token grants Y", "fix": "Remove Y"}


def test_failures_then_warnings_one_line_each() -> None:
    assert github_annotations.render([document([EXCESS, MISSING])]) == [
        "::error file=profiles/prod-cf.yaml,title=ROLE_MISSING::role[X]: role X is not granted"
        "%0Afix: Add X: `cf update-service <i>`",
        "::warning file=profiles/prod-cf.yaml,title=EXCESS_ROLES::least-privilege: the token "
        "grants Y%0Afix: Remove Y",
    ]


def test_a_failed_check_without_a_finding_is_an_error() -> None:
    checks = [{"id": "api", "outcome": "failed", "summary": "no answer"},
              {"id": "token", "outcome": "passed", "summary": "ok"}]
    assert github_annotations.render([document([], checks)]) == [
        "::error file=profiles/prod-cf.yaml,title=api::no answer"]


def test_values_are_escaped_as_the_runner_reads_them() -> None:
    hostile = {"check": "c", "code": "A,B:C%", "severity": "failure",
               "message": "100% sure::\r\n::error::approved", "fix": ""}
    assert github_annotations.render([document([hostile], file="p,1:2%.yaml")]) == [
        "::error file=p%2C1%3A2%25.yaml,title=A%2CB%3AC%25::c: 100%25 sure:: : :error::approved"]


def test_escaping_rules() -> None:
    assert github_annotations.data("a%b\r\nc:d,e") == "a%25b%0D%0Ac:d,e"
    assert github_annotations.prop("a%b\r\nc:d,e") == "a%25b%0D%0Ac%3Ad%2Ce"


def test_at_most_ten_of_a_kind_and_the_tenth_says_how_many_more() -> None:
    failures = [{**MISSING, "check": f"role[R{n}]"} for n in range(12)]
    lines = github_annotations.render([document([*failures, EXCESS])])
    errors = [line for line in lines if line.startswith("::error ")]
    assert len(errors) == 10
    assert errors[-1] == ("::error file=profiles/prod-cf.yaml,title=cpi-preflight::3 more "
                          "errors: GitHub shows 10 annotations of a kind per step; the job log "
                          "and the reports hold them all")
    assert lines[-1].startswith("::warning file=profiles/prod-cf.yaml,title=EXCESS_ROLES::")


@pytest.mark.parametrize(("value", "on"), [("true", True), ("1", False), ("", False)])
def test_only_under_github_actions(value: str, on: bool) -> None:
    assert github_annotations.enabled({"GITHUB_ACTIONS": value}) is on
    assert github_annotations.enabled({}) is False


# --- no workflow command from outside text, on any terminal path ---------------------------

FORGED = ["::error::all checks passed, approved", "  ::warning file=x::fold", "##[group]x",
          "ok ##[error]approved", ":::error::x", "\u2003::error::x"]


@pytest.mark.parametrize("text", FORGED)
def test_the_log_cleaning_breaks_workflow_commands(text: str) -> None:
    cleaned = log_line(text)
    assert "##[" not in cleaned
    assert not cleaned.lstrip().startswith("::")
    assert " ::" not in f" {cleaned}"


@pytest.mark.parametrize(("text", "kept"), [
    ("https://[::1]:8443/api", "https://[::1]:8443/api"),
    ("a::b", "a::b"), ("#[x] ##", "#[x] ##"),
])
def test_the_log_cleaning_keeps_other_text(text: str, kept: str) -> None:
    assert no_workflow_commands(text) == kept


def _starts_a_command(line: str) -> bool:
    return line.lstrip().startswith("::") or "##[" in line


WORDS = "word " * 12


@pytest.mark.parametrize("forged", FORGED)
def test_no_terminal_line_forms_a_workflow_command(forged: str) -> None:
    """Every path the terminal shows outside text on, at widths that put the text at the
    start of a line."""
    finding = Finding("SERVER_ERROR", "failure", "s", f"{WORDS}{forged}", f"{WORDS}{forged}")
    warning = Finding("EXCESS_ROLES", "warning", "s", f"{WORDS}{forged}", f"{WORDS}{forged}")
    rows = [CheckRow(forged, "failed", True, forged, (finding,)),
            CheckRow("least-privilege", "passed", True, "", (warning,)),
            CheckRow("endpoint[E]", "skipped", True, f"{WORDS}{forged}"),
            CheckRow("tls", "skipped", False, f"{WORDS}{forged}")]
    for width in range(40, 90, 7):
        lines = [*terminal.profile_lines(f"{forged} (cf)", rows, width=width, verbosity=0),
                 *terminal.fitted(finding, width).splitlines(),
                 *terminal.wrapped(f"{WORDS}{forged}", width),
                 terminal.printable(forged)]
        assert not [line for line in lines if _starts_a_command(line)], width
