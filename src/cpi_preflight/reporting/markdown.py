"""The CI job summary: one Markdown page from the documents of a run's evidence.json files.

Made for the job page of a CI run (GitHub's `$GITHUB_STEP_SUMMARY`): per profile the result and
the counts (`outcomes`), and every failed check and warning with its code. The documents are
read back from files (`commands.summary`) and may hold anything: every text goes through
`markdown.cell` (one visible line, cut, HTML and Markdown escaped), every part of a document is
read without trusting its shape (`Document.section`, `entries`), and a file that is not an
evidence document is shown as a row saying so (`Unreadable`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cpi_preflight.catalog import Severity
from cpi_preflight.findings import FAILED
from cpi_preflight.markdown import cell
from cpi_preflight.reporting import outcomes
from cpi_preflight.reporting.document import Document, Unreadable, left_out
from cpi_preflight.reporting.outcomes import Result, Shown

MAX_CELL = 300
TITLE = "## cpi-preflight"
UNREADABLE = "unreadable"
_MARK = {Result.PASSED.value: "✅ passed", Result.FAILED.value: "❌ failed",
         Result.INCOMPLETE.value: "⚠️ incomplete"}


@dataclass(frozen=True)
class Problem:
    """One finding (failure or warning) of a profile, or a failed check without one."""

    check: str
    code: str
    text: str


def problems(document: Document) -> list[Problem]:
    """Every finding, failures first, one row each; then any failed check without a finding."""
    findings = document.entries("findings")
    failure = Severity.FAILURE.value
    rows = [Problem(str(f.get("check", "?")),
                    f"{f.get('code', '-')}{'' if f.get('severity') == failure else ' (warning)'}",
                    str(f.get("message", "")))
            for f in sorted(findings, key=lambda f: f.get("severity") != failure)]
    explained = {str(f.get("check")) for f in findings if f.get("severity") == failure}
    rows += [Problem(str(c.get("id", "?")), str(c.get("code") or "-"), str(c.get("summary", "")))
             for c in document.entries("checks")
             if c.get("outcome") == FAILED and str(c.get("id")) not in explained]
    rows += [Problem(str(c.get("id", "?")), "-", outcomes.left_out_words(n))
             for c in document.entries("checks") if (n := left_out(c))]
    return rows


def _row(item: Document | Unreadable) -> str:
    if isinstance(item, Unreadable):
        name, environment, totals = item.name, "", {"result": UNREADABLE}
    else:
        name, environment, totals = item.name, item.environment, dict(item.section("summary"))
    counts = [str(n) if isinstance(n := totals.get(s), int) else "" for s in Shown]
    result = str(totals.get("result", "unknown"))
    mark = _MARK.get(result) or f"⚠️ {cell(result, 40)}"
    return (f"| {cell(name, 100)} | {cell(environment, 10)} | {mark} | " + " | ".join(counts)
            + " |")


def _overview(items: Sequence[Document | Unreadable]) -> list[str]:
    headers = [outcomes.WORDS[s].capitalize() for s in Shown]
    return ["| Profile | Environment | Result | " + " | ".join(headers) + " |",
            "|---|---|---|" + "---:|" * len(headers), *map(_row, items)]


def _details(item: Document | Unreadable) -> list[str]:
    if isinstance(item, Unreadable):
        return ["", f"**{cell(item.name, 100)}**: {cell(item.error, MAX_CELL)}"]
    found = problems(item)
    if not found:
        return []
    lines = ["", f"### {cell(item.name, 100)}", "", "| Check | Code | What happened |",
             "|---|---|---|"]
    return lines + [f"| {cell(p.check, 100)} | {cell(p.code, 60)} | {cell(p.text, MAX_CELL)} |"
                    for p in found]


def render(items: Sequence[Document | Unreadable], *, left_out: int = 0) -> str:
    """The page for the documents of a run (those that could not be read included);
    `left_out`: how many more profiles there were than are shown."""
    lines = [TITLE, "", *_overview(items)]
    for item in items:
        lines += _details(item)
    if left_out:
        lines += ["", f"Only the first {len(items)} of {len(items) + left_out} profiles are "
                      "shown."]
    return "\n".join(lines) + "\n"


def no_reports(folder: str) -> str:
    """The page when a run wrote no reports into `folder` (it stopped before writing any)."""
    return (f"{TITLE}\n\nNo reports in {cell(folder, MAX_CELL)}: the run stopped before writing "
            "any; see the log of the check step.\n")
