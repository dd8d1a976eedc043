"""The CI job summary: one Markdown page from the documents of a run's evidence.json files.

Made for the job page of a CI run (GitHub's `$GITHUB_STEP_SUMMARY`): per profile the result and
the counts (`outcomes`), and every failed check and warning with its code and its own fix. The
documents are read back from files (`commands.summary`) and may hold anything: every text goes
through
`markdown.cell` (one visible line, cut, HTML and Markdown escaped), every part of a document is
read without trusting its shape (`Document.section`, `entries`), and a file that is not an
evidence document is shown as a row saying so (`Unreadable`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cpi_preflight.catalog import Severity
from cpi_preflight.findings import FAILED
from cpi_preflight.markdown import cell
from cpi_preflight.reporting import outcomes
from cpi_preflight.reporting.document import Document, Unreadable, left_out
from cpi_preflight.reporting.outcomes import Result, Shown

MAX_CELL = 300
MAX_FIX = 2000  # a fix is our own text with the profile's values: cut only when far too long
TITLE = "## cpi-preflight"
UNREADABLE = "unreadable"
OWN_CHECK = "team's check"  # the Code cell of a failed check of checks/ (it has no code)
# GitHub takes at most 1 MiB (1048576 bytes) of job summary per step; the page stays below this,
# leaving room for the lines a CI step adds after it (the baseline line).
PAGE_LIMIT = 1_000_000
MAX_ROWS = 50  # rows of findings per profile; the others are counted
_CI_RUN = {"github": "GitHub run", "gitlab": "GitLab pipeline"}
_STARTED = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9]{2}:[0-9]{2}:[0-9]{2})Z")
_MARK = {Result.PASSED.value: "✅ passed", Result.FAILED.value: "❌ failed",
         Result.INCOMPLETE.value: "⚠️ incomplete"}


@dataclass(frozen=True)
class Problem:
    """One finding (failure or warning) of a profile, or a failed check without one."""

    check: str
    code: str
    text: str
    fix: str = ""


def problems(document: Document) -> list[Problem]:
    """Every finding with its own fix, failures first, one row each; then any failed check
    without a finding."""
    findings = document.entries("findings")
    failure = Severity.FAILURE.value
    rows = [Problem(str(f.get("check", "?")),
                    f"{f.get('code', '-')}{'' if f.get('severity') == failure else ' (warning)'}",
                    str(f.get("message", "")), str(f.get("fix", "")))
            for f in sorted(findings, key=lambda f: f.get("severity") != failure)]
    explained = {str(f.get("check")) for f in findings if f.get("severity") == failure}
    rows += [Problem(str(c.get("id", "?")), str(c.get("code") or "-"), str(c.get("summary", "")))
             for c in document.entries("checks")
             if c.get("outcome") == FAILED and str(c.get("id")) not in explained]
    rows += [Problem(str(c.get("id", "?")), "-", outcomes.left_out_words(n))
             for c in document.entries("checks") if (n := left_out(c))]
    rows += [Problem(c.id, OWN_CHECK, c.summary) for c in document.user_checks()
             if c.outcome == FAILED]
    return rows


def started(document: Document) -> str:
    """When the run of `document` started, `2026-12-03 10:00:05` (UTC), or '' when its record
    does not say it in the form cpi-preflight writes."""
    found = _STARTED.fullmatch(str(document.section("run").get("started_at", "")))
    return f"{found[1]} {found[2]}" if found else ""


def ci_run(document: Document) -> str:
    """`GitHub run 123`, `GitLab pipeline 77`: the CI run that wrote `document`, or ''."""
    ci = document.section("run").get("ci")
    if not isinstance(ci, dict) or not str(ci.get("run_id", "")).isdigit():
        return ""
    name = _CI_RUN.get(str(ci.get("system")))
    return f"{name} {ci['run_id']}" if name else ""


def _evidence_cell(document: Document) -> str:
    return f"no: {cell(document.caveat_kind, 40)}" if document.caveat else "yes"


def _row(item: Document | Unreadable) -> str:
    if isinstance(item, Unreadable):
        name, environment, totals = item.name, "", {"result": UNREADABLE}
        when = []
    else:
        name, environment, totals = item.name, item.environment, dict(item.section("summary"))
        when = [started(item), cell(ci_run(item), 40), _evidence_cell(item)]
    counts = [str(n) if isinstance(n := totals.get(s), int) else "" for s in Shown]
    result = str(totals.get("result", "unknown"))
    mark = _MARK.get(result) or f"⚠️ {cell(result, 40)}"
    return (f"| {cell(name, 100)} | {cell(environment, 10)} | {mark} | "
            + " | ".join([*counts, *(when or [""] * 3)]) + " |")


def _overview(items: Sequence[Document | Unreadable]) -> list[str]:
    headers = [outcomes.WORDS[s].capitalize() for s in Shown]
    return ["| Profile | Environment | Result | " + " | ".join(headers)
            + " | Started (UTC) | Run | Go-live evidence |",
            "|---|---|---|" + "---:|" * len(headers) + "---|---|---|", *map(_row, items)]


def _caveats(items: Sequence[Document | Unreadable]) -> list[str]:
    """A line per profile whose run is no go-live evidence for a real tenant, saying why."""
    lines = [f"- **{cell(item.name, 100)}** is not go-live evidence for a real tenant: "
             f"{cell(item.caveat, MAX_CELL)}"
             for item in items if isinstance(item, Document) and item.caveat]
    return ["", *lines] if lines else []


def _details(item: Document | Unreadable) -> list[str]:
    if isinstance(item, Unreadable):
        return ["", f"**{cell(item.name, 100)}**: {cell(item.error, MAX_CELL)}"]
    found = problems(item)
    if not found:
        return []
    lines = ["", f"### {cell(item.name, 100)}", "", "| Check | Code | What happened | Fix |",
             "|---|---|---|---|"]
    lines += [f"| {cell(p.check, 100)} | {cell(p.code, 60)} | {cell(p.text, MAX_CELL)} "
              f"| {cell(p.fix, MAX_FIX)} |" for p in found[:MAX_ROWS]]
    if len(found) > MAX_ROWS:
        lines.append(f"| | | {len(found) - MAX_ROWS} more rows not shown (at most {MAX_ROWS} "
                     "per profile): see the profile's evidence.html | |")
    return lines


def _size(lines: Sequence[str]) -> int:
    return sum(len(line.encode("utf-8")) + 1 for line in lines)


def _within(blocks: Sequence[list[str]], room: int) -> tuple[list[str], int]:
    """The blocks that fit in `room` bytes, in order, and how many did not."""
    kept: list[str] = []
    used = missing = 0
    for block in blocks:
        size = _size(block)
        if used + size <= room:
            kept += block
            used += size
        else:
            missing += 1
    return kept, missing


def render(items: Sequence[Document | Unreadable], *, left_out: int = 0,
           earlier: int = 0) -> str:
    """The page for the documents of a run (those that could not be read included), at most
    `PAGE_LIMIT` bytes: every profile's row first, then the details of as many profiles as
    fit, and a line for what was left out. `left_out`: how many more evidence files there were
    than were read; `earlier`: how many reports of earlier runs are not shown."""
    notes = []
    if earlier:
        notes += ["", f"{earlier} report{'' if earlier == 1 else 's'} of earlier runs "
                      f"{'is' if earlier == 1 else 'are'} not shown; add --all to show every "
                      "report."]
    if left_out:
        notes += ["", f"Only the first {len(items) + earlier} of "
                      f"{len(items) + earlier + left_out} evidence files were read."]
    room = PAGE_LIMIT - _size(notes) - 400  # the line saying what was cut
    rows, missing_rows = _within([[TITLE, "", *_overview([])], *([_row(i)] for i in items)],
                                 room)
    details, missing = _within([_caveats(items), *map(_details, items)], room - _size(rows))
    lines = [*rows, *details]
    if missing_rows or missing:
        lines += ["", f"This page stays under GitHub's 1 MiB limit for a job summary: "
                      f"{_cut_words(missing_rows, missing)} left out; every profile's "
                      "evidence.html in the reports has them all."]
    return "\n".join([*lines, *notes]) + "\n"


def _cut_words(rows: int, details: int) -> str:
    parts = [f"{rows} profile row{'' if rows == 1 else 's'}" if rows else "",
             f"the details of {details} profile{'' if details == 1 else 's'}" if details else ""]
    return " and ".join(p for p in parts if p) + (" are" if rows + details > 1 else " is")


def no_reports(folder: str) -> str:
    """The page when a run wrote no reports into `folder` (it stopped before writing any)."""
    return (f"{TITLE}\n\nNo reports in {cell(folder, MAX_CELL)}: the run stopped before writing "
            "any; see the log of the check step.\n")
