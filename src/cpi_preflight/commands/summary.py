"""`cpi-preflight summary REPORTS`: the CI job summary from a run's evidence.json files.

Reads `<REPORTS>/<profile>/evidence.json` (or one evidence.json given directly) back into
documents and prints the page `reporting.markdown` renders from them. The files are untrusted
input: each read is bounded (`files.read_bytes`, `files.load_json`), and a file that is not an
evidence document becomes an `Unreadable` row instead of stopping the page. An empty folder
means the run stopped before writing any report: a note. A folder that does not exist is a
usage error (exit 2): it names no run's reports.

A folder can hold reports of several runs (a profile left out of the latest one keeps its
reports of an earlier run). By default only the latest run's are shown (`latest_run`): the
reports of the CI run (GitHub run id, GitLab pipeline id, recorded at write time) of the newest
report, or, outside CI, those of the newest report's session (the same `started_at`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cpi_preflight import files
from cpi_preflight.errors import ConfigError, StructureError
from cpi_preflight.reporting import markdown
from cpi_preflight.reporting.document import Document, Unreadable

MAX_EVIDENCE_BYTES = 4 * 1024 * 1024
MAX_PROFILES = 500
EVIDENCE_FILE = "evidence.json"


def _read_bounded(path: Path) -> dict[str, Any]:
    raw = files.read_bytes(path, MAX_EVIDENCE_BYTES)  # a regular file, bounded, never a FIFO
    record = files.load_json(raw.decode("utf-8"), max_depth=64)
    if not isinstance(record, dict) or not isinstance(record.get("profile"), dict):
        raise ValueError("no profile section; not an evidence.json written by cpi-preflight")
    return record


def read_result(path: Path) -> Document | Unreadable:
    """The document of one evidence.json (a profile without a name is named by its folder);
    problems reading it are kept as the row's error."""
    folder = path.parent.name
    try:
        record = _read_bounded(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError,
            StructureError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return Unreadable(folder, f"{path}: cannot be read ({reason})")
    record["profile"].setdefault("name", folder)
    return Document(record)


def _paths(reports: Path) -> list[Path]:
    """Every `<reports>/<profile>/evidence.json` (also a single evidence.json given directly);
    a folder that does not exist is a `ConfigError`."""
    if reports.is_file():
        return [reports]
    if not reports.exists() and not reports.is_symlink():
        raise ConfigError(f"{reports}: no such folder; give the folder a run of pytest "
                          "--profile wrote its reports to (--reports-dir, default reports/)")
    if not reports.is_dir():
        raise ConfigError(f"{reports}: not a folder or an evidence.json file; give the reports "
                          "folder of a run (pytest --reports-dir, default reports/)")
    return sorted(reports.glob(f"*/{EVIDENCE_FILE}"))


RunKey = tuple[str, ...]


def run_key(document: Document) -> RunKey:
    """What makes reports one run: the CI run that wrote them, else their session's start."""
    ci = markdown.ci_run(document)
    return ("ci", ci) if ci else ("started", markdown.started(document))


def latest_run(items: list[Document | Unreadable]) -> list[Document | Unreadable]:
    """The reports of the run of the newest report (by `run.started_at`), in their order, and
    every file that could not be read (it may be of any run)."""
    documents = [i for i in items if isinstance(i, Document)]
    if not documents:
        return items
    newest = run_key(max(documents, key=markdown.started))
    return [i for i in items if not isinstance(i, Document) or run_key(i) == newest]


def markdown_page(reports: Path, *, every_run: bool = False) -> str:
    """The summary page for the reports folder `reports`: the latest run's reports, or every
    report with `every_run`."""
    paths = _paths(reports)
    if not paths:
        return markdown.no_reports(reports.as_posix().rstrip("/") + "/")
    read = [read_result(p) for p in paths[:MAX_PROFILES]]
    shown = read if every_run else latest_run(read)
    return markdown.render(shown, left_out=len(paths) - len(read),
                           earlier=len(read) - len(shown))
