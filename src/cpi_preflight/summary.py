"""`cpi-preflight summary REPORTS`: one Markdown page from the reports' evidence.json files.

Made for the job page of a CI run (GitHub's `$GITHUB_STEP_SUMMARY`): per profile the result,
and every failed check and warning with its code. The files are read as untrusted input: each
read is bounded, every text goes through `markdown.cell` (one visible line, cut, HTML and
Markdown escaped), and a file that is not an evidence document becomes a row saying so instead
of stopping the page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cpi_preflight import files
from cpi_preflight.errors import ConfigError, StructureError
from cpi_preflight.markdown import cell

MAX_EVIDENCE_BYTES = 4 * 1024 * 1024
MAX_PROFILES = 500
MAX_CELL = 300
_MARK = {"passed": "✅ passed", "failed": "❌ failed", "incomplete": "⚠️ incomplete"}
# The overview's count columns, as the terminal counts checks: (header, evidence summary key).
COLUMNS = (("Failed", "failed"), ("Warning", "warning"), ("Passed", "passed"),
           ("Skipped", "skipped"), ("Not run", "not_run"))


@dataclass(frozen=True)
class Problem:
    """One finding (failure or warning) of a profile, or a failed check without one."""

    check: str
    code: str
    text: str


@dataclass(frozen=True)
class ProfileResult:
    """What the summary shows of one profile's evidence.json."""

    name: str
    environment: str = ""
    result: str = "unreadable"
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    error: str = ""


def _read_bounded(path: Path) -> dict[str, Any]:
    raw = files.read_bytes(path, MAX_EVIDENCE_BYTES)  # a regular file, bounded, never a FIFO
    doc = files.load_json(raw.decode("utf-8"), max_depth=64)
    if not isinstance(doc, dict) or not isinstance(doc.get("profile"), dict):
        raise ValueError("no profile section; not an evidence.json written by cpi-preflight")
    return doc


def _entries(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = doc.get(key)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _problems(doc: dict[str, Any]) -> list[Problem]:
    """Every finding, failures first, one row each; then any failed check without a finding."""
    findings = _entries(doc, "findings")
    rows = [Problem(str(f.get("check", "?")),
                    f"{f.get('code', '-')}{'' if f.get('severity') == 'failure' else ' (warning)'}",
                    str(f.get("message", "")))
            for f in sorted(findings, key=lambda f: f.get("severity") != "failure")]
    explained = {str(f.get("check")) for f in findings if f.get("severity") == "failure"}
    rows += [Problem(str(c.get("id", "?")), str(c.get("code") or "-"), str(c.get("summary", "")))
             for c in _entries(doc, "checks")
             if c.get("outcome") == "failed" and str(c.get("id")) not in explained]
    return rows


def read_result(path: Path) -> ProfileResult:
    """The summary of one evidence.json; problems reading it are kept as the row's error."""
    folder = path.parent.name
    try:
        doc = _read_bounded(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError,
            StructureError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return ProfileResult(folder, error=f"{path}: cannot be read ({reason})")
    profile, totals = doc["profile"], doc.get("summary")
    totals = totals if isinstance(totals, dict) else {}
    counts = {k: v for _, k in COLUMNS if isinstance(v := totals.get(k), int)}
    return ProfileResult(name=str(profile.get("name", folder)),
                         environment=str(profile.get("environment", "")),
                         result=str(totals.get("result", "unknown")), counts=counts,
                         problems=_problems(doc))


def collect(reports: Path) -> list[ProfileResult]:
    """Every `<reports>/<profile>/evidence.json` (also a single evidence.json given directly);
    none for a folder that does not exist (the run stopped before writing any)."""
    if reports.is_file():
        return [read_result(reports)]
    if not reports.exists() and not reports.is_symlink():
        return []
    if not reports.is_dir():
        raise ConfigError(f"{reports}: not a folder or an evidence.json file; give the reports "
                          "folder of a run (pytest --reports-dir, default reports/)")
    paths = sorted(reports.glob("*/evidence.json"))
    return [read_result(p) for p in paths[:MAX_PROFILES]]


def _overview(results: list[ProfileResult]) -> list[str]:
    lines = ["| Profile | Environment | Result | "
             + " | ".join(header for header, _ in COLUMNS) + " |",
             "|---|---|---|" + "---:|" * len(COLUMNS)]
    for item in results:
        counts = [str(item.counts.get(k, "")) for _, k in COLUMNS]
        result = _MARK.get(item.result, f"⚠️ {cell(item.result, 40)}")
        lines.append(f"| {cell(item.name, 100)} | {cell(item.environment, 10)} | {result} | "
                     + " | ".join(counts) + " |")
    return lines


def _details(item: ProfileResult) -> list[str]:
    if item.error:
        return ["", f"**{cell(item.name, 100)}**: {cell(item.error, MAX_CELL)}"]
    if not item.problems:
        return []
    lines = ["", f"### {cell(item.name, 100)}", "", "| Check | Code | What happened |",
             "|---|---|---|"]
    lines += [f"| {cell(p.check, 100)} | {cell(p.code, 60)} | {cell(p.text, MAX_CELL)} |"
              for p in item.problems]
    return lines


def markdown(reports: Path) -> str:
    """The summary page for the reports folder `reports`."""
    results = collect(reports)
    lines = ["## cpi-preflight", ""]
    if not results:
        shown = cell(reports.as_posix().rstrip("/") + "/", MAX_CELL)
        return "\n".join([*lines, f"No reports in {shown}: the run stopped before writing any; "
                                  "see the log of the check step."]) + "\n"
    lines += _overview(results)
    for item in results:
        lines += _details(item)
    found = len(list(reports.glob("*/evidence.json"))) if reports.is_dir() else 1
    if found > MAX_PROFILES:
        lines += ["", f"Only the first {MAX_PROFILES} of {found} profiles are shown."]
    return "\n".join(lines) + "\n"
