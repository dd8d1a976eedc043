"""GitHub Actions annotations: each failure and warning as a workflow command in the job log.

Under GitHub Actions (`GITHUB_ACTIONS=true`) the runner turns a log line
`::error file=profiles/prod-cf.yaml,title=ROLE_MISSING::...` into an annotation on the run's
page and in the Checks UI, where a warning such as EXCESS_ROLES shows although the check passed
(JUnit has no warnings). `render` gives those lines for the documents of a run: one per
finding (failures first, then warnings), and one per failed check without a finding. The file is
the profile, the title the code, the message the check, what happened and the fix.

What the lines hold comes from the documents (masked, one visible line each); every text is
made a log line (`text.log_line`: no workflow command of its own) and then escaped as the
runner unescapes it (actions/runner ActionCommand: data `%` `\\r` `\\n`; properties also `:`
and `,`), so nothing from outside ends a property or the command.

GitHub shows at most 10 error and 10 warning annotations per step (actions/toolkit,
docs/problem-matchers.md, "Limitations"); past that, the 10th of a kind says how many more the
log and the reports hold, rather than GitHub dropping them without a word.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cpi_preflight.catalog import Severity
from cpi_preflight.findings import FAILED
from cpi_preflight.reporting.document import Document
from cpi_preflight.text import log_line

PER_KIND = 10  # annotations of one kind GitHub shows per step
ERROR, WARNING = "error", "warning"


def enabled(environ: Mapping[str, str]) -> bool:
    """Whether this run is a GitHub Actions step (the runner sets GITHUB_ACTIONS=true)."""
    return environ.get("GITHUB_ACTIONS") == "true"


def data(text: str) -> str:
    """`text` as the data of a workflow command (after its `::`)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def prop(text: str) -> str:
    """`text` as the value of a workflow command's property (`file=`, `title=`)."""
    return data(text).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, file: str, title: str, message: str) -> str:
    """One annotation line: `::error file=F,title=T::message`."""
    return f"::{kind} file={prop(log_line(file))},title={prop(log_line(title))}::{data(message)}"


def _items(document: Document) -> list[tuple[str, str, str]]:
    """(kind, title, message) per finding of `document`, failures first, then per failed check
    that has no failure finding."""
    found = sorted(document.entries("findings"),
                   key=lambda f: f.get("severity") != Severity.FAILURE)
    items = []
    for finding in found:
        kind = ERROR if finding.get("severity") == Severity.FAILURE else WARNING
        text = (f"{log_line(str(finding.get('check', '?')))}: "
                f"{log_line(str(finding.get('message', '')))}")
        fix = log_line(str(finding.get("fix", "")))
        items.append((kind, str(finding.get("code", "")), text + (f"\nfix: {fix}" if fix else "")))
    explained = {str(f.get("check")) for f in found if f.get("severity") == Severity.FAILURE}
    items += [(ERROR, str(c.get("id", "?")), log_line(str(c.get("summary", ""))))
              for c in document.entries("checks")
              if c.get("outcome") == FAILED and str(c.get("id")) not in explained]
    return items


def render(documents: Sequence[Document]) -> list[str]:
    """The annotation lines for the documents of a run, at most `PER_KIND` of each kind."""
    every = [(kind, str(d.section("profile").get("file") or d.name), title, message)
             for d in documents for kind, title, message in _items(d)]
    lines = []
    for kind in (ERROR, WARNING):
        mine = [item for item in every if item[0] == kind]
        if len(mine) > PER_KIND:
            rest = len(mine) - PER_KIND + 1
            mine = [*mine[: PER_KIND - 1],
                    (kind, mine[PER_KIND - 1][1], "cpi-preflight",
                     f"{rest} more {kind}s: GitHub shows {PER_KIND} annotations of a kind per "
                     "step; the job log and the reports hold them all")]
        lines += [command(*item) for item in mine]
    return lines
