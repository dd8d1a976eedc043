"""The terminal: the cpi-preflight section of pytest's summary, and text laid out for a terminal.

`render` gives the section's lines for one profile's document: a summary line (the counts of
`outcomes`), then one row per check: its outcome and, for a failure, the code and message on one
line (the full text with its fix is in pytest's FAILURES section above); for a warning, the
message and its fix in full (nothing else on screen shows them); for a skip, the reason. A row
with several findings (drift: ROLE_LOST, ROLE_GAINED, ENDPOINT_REGRESSED) gives each its own
fix under it, so that no fix reads as the row's. Checks
that pytest did not run are listed together in one row. Rows fit `width`; what does not fit is
moved to the next lines rather than cut (an id, the codes, a client id are never cut, so that
they can be read and copied whole); only a failure's one-line message is cut (`text.cut`), as its
full text is in FAILURES. The document is already masked; every text is made one visible line
that forms no CI workflow command (`text.log_line`) before it is laid out, so a line break
cannot put a tenant's `::error::` at the start of a line of the CI log.

Verbosity follows pytest's: `-q` keeps only failures, warnings and the summary lines; `-qq`
keeps only the summary lines.

The layout helpers serve other terminal text too: `fitted` (a check's FAILURES text), `wrapped`
(hints), `wrap_prose` and `fix_lines` (`cpi-preflight explain`, `catalog`). Text that does not
come from a document is masked by them first (`printable`).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cpi_preflight import catalog, files, fixes
from cpi_preflight.findings import FAILED, SKIPPED, Finding
from cpi_preflight.reporting import outcomes
from cpi_preflight.reporting.outcomes import Shown
from cpi_preflight.secret import scrub
from cpi_preflight.text import cut, log_line

if TYPE_CHECKING:  # the document is built after a run; collection shows only printable lines
    from cpi_preflight.reporting.document import CheckRow, Document

OWN_CHECKS = "checks written by this team"  # the heading of the checks/ tests' rows
_ID_WIDTH_LIMIT = 40
_OUTCOME_WIDTH = 8
_NARROWEST_TEXT = 40
DETAIL = "    "


def printable(text: str) -> str:
    """`text` masked and made one visible line that forms no CI workflow command
    (`text.log_line`): nothing in it can drive the terminal or the CI runner."""
    return log_line(scrub(text))


def counts_line(checks: Sequence[CheckRow]) -> str:
    """`3 failed, 1 warning, 5 passed, 2 skipped, 4 not run` (`outcomes.counts_words`), or
    `no checks`."""
    return outcomes.counts_words(outcomes.count(c.shown for c in checks)) or "no checks"


# commands printed whole, to paste: a fix's command spans (`fixes`: only its template's)
COMMAND = re.compile(rf"`({fixes.COMMAND_START.pattern}[^`]*)`")
_CODE_SPAN = re.compile(r"(`[^`]*`)")
_GLUE = "\x00"  # stands for a space inside a code span while wrapping


def wrap_prose(text: str, width: int, indent: str = "  ",
               subsequent: str | None = None) -> list[str]:
    """`text` wrapped to `width`; words and `code spans` are never split across lines."""
    glued = _CODE_SPAN.sub(lambda m: m.group(1).replace(" ", _GLUE), text)
    lines = textwrap.wrap(glued, width=width, initial_indent=indent,
                          subsequent_indent=indent if subsequent is None else subsequent,
                          break_long_words=False, break_on_hyphens=False)
    return [line.replace(_GLUE, " ") for line in lines]


def fix_lines(text: str, width: int, indent: str = "  ", subsequent: str | None = None
              ) -> list[str]:
    """A fix for a terminal: prose wrapped, each `cf ...` or `export ...` command alone on a
    line, without backticks, so that it can be copied and pasted whole (a command longer than
    the terminal is left for the terminal to fold rather than broken)."""
    lines: list[str] = []
    follow = indent if subsequent is None else subsequent
    for number, part in enumerate(COMMAND.split(" ".join(text.split()))):
        if number % 2:
            lines.append(f"{follow}    {part}")
            continue
        prose = part.strip() if number == 0 else part.lstrip(" ,;:).").strip()
        if prose:
            lines += wrap_prose(prose, width, indent if not lines else follow, follow)
    return lines


def fitted(finding: Finding, width: int) -> str:
    """A failure as pytest's FAILURES section shows it: `CODE: message` and an indented
    `fix: ...`, wrapped to `width`, each line's continuation indented two more than the line
    itself; words are never split. Only the fix's `cf` commands stand alone on their lines,
    ready to paste: the message, which quotes what the tenant said, is words wrapped as they
    come (one line of them: nothing in it can start a line of its own, nor keep a `span` whole
    on a line)."""
    width = max(width, _NARROWEST_TEXT)
    lines = textwrap.wrap(printable(f"{finding.code}: {finding.message}"), width,
                          subsequent_indent="  ", break_long_words=False,
                          break_on_hyphens=False)
    return "\n".join([*lines, *fix_lines(printable(f"fix: {finding.fix}"), width, "  ", "    ")])


def wrapped(text: str, width: int) -> list[str]:
    """One message as lines of at most `width`, continued two spaces in."""
    return _Layout([], width).wrap(printable(text), indent="")


class _Layout:
    """Rows of one profile: `  id  outcome  CODE` with details on indented lines below."""

    def __init__(self, ids: Sequence[str], width: int) -> None:
        self.width = max(width, _NARROWEST_TEXT)
        # the id column leaves room for the outcome; a longer id is on a line of its own
        column = min(_ID_WIDTH_LIMIT, self.width - len("   ") - _OUTCOME_WIDTH)
        self.id_width = max((len(i) for i in ids if len(i) <= column), default=0)

    def head(self, check_id: str, outcome: str) -> list[str]:
        """`  id  outcome`; an id wider than its column is never cut: it stands on a line of its
        own, the outcome below it in its column."""
        check_id = log_line(check_id)
        if len(check_id) <= self.id_width:
            return [f"  {check_id:<{self.id_width}} {outcome:<{_OUTCOME_WIDTH}}"]
        return [f"  {check_id}", f"  {'':<{self.id_width}} {outcome:<{_OUTCOME_WIDTH}}"]

    def cut_row(self, text: str) -> list[str]:
        return [cut(DETAIL + log_line(text), self.width)]

    def wrap(self, text: str, indent: str = DETAIL) -> list[str]:
        """`text` wrapped, continued two further in; a word longer than a line (a client id)
        is never split: it stands alone on its line."""
        return textwrap.wrap(log_line(text), self.width, initial_indent=indent,
                             subsequent_indent=indent + "  ", break_long_words=False,
                             break_on_hyphens=False)

    def beside(self, head: str, text: str) -> list[str]:
        """The row `head text`, or, when `text` does not fit after the head, the head alone and
        all of `text` wrapped on the lines below it: a code or a reason is never cut."""
        if len(head) + 1 + len(text) <= self.width:
            return [f"{head} {text}".rstrip()]
        return [head.rstrip(), *self.wrap(text)]

    def rows(self, check: CheckRow) -> list[str]:
        *named_alone, head = self.head(check.id, check.shown)
        if check.outcome == SKIPPED:
            return [*named_alone, *self.beside(head, log_line(check.summary))]
        codes = ", ".join(dict.fromkeys(f.code for f in check.findings))
        lines = [*named_alone, *self.beside(head, codes)]
        named = len(check.findings) > 1  # several findings: say which is which, each its fix
        for finding in check.failures:
            lines.extend(self.cut_row(_said(finding, named)))
            if named:
                lines.extend(self.fix(finding))
        for finding in check.warnings:
            lines.extend(self.wrap(_said(finding, named)))
            lines.extend(self.fix(finding))
        if check.left_out:
            lines.extend(self.wrap(outcomes.left_out_words(check.left_out)))
        return lines

    def own_rows(self, check: CheckRow) -> list[str]:
        """A check of the team's: `  outcome  node id` (the id, often longer than the id
        column, on the next line when it does not fit), then a skip's reason or a failure's
        message cut to one line (pytest's FAILURES section above has it whole)."""
        head = f"  {check.shown:<{_OUTCOME_WIDTH}} "
        check_id = log_line(check.id)
        lines = ([head + check_id] if len(head) + len(check_id) <= self.width
                 else [head.rstrip(), DETAIL + check_id])
        if check.outcome == SKIPPED and check.summary:
            lines.extend(self.wrap(check.summary))
        elif check.outcome == FAILED and check.summary:
            lines.extend(self.cut_row(check.summary))
        return lines

    def fix(self, finding: Finding) -> list[str]:
        """`fix: ...` under a finding's row, each `cf` command alone on a line."""
        return fix_lines(log_line(f"fix: {finding.fix}"), self.width, DETAIL, DETAIL + "  ")


def _said(finding: Finding, named: bool) -> str:
    return f"{finding.code}: {finding.message}" if named else finding.message


def profile_lines(title: str, checks: Sequence[CheckRow], *, width: int, verbosity: int,
                  own: Sequence[CheckRow] = ()) -> list[str]:
    """The lines for one profile titled `title`: its checks in order, then the checks written
    by the team (`own`, under their own heading), then those pytest did not run (deselected, or
    the session stopped first; their summary says why) grouped by reason. The counts are of
    both."""
    every = [*checks, *own]
    ran = [c for c in checks if c.shown != Shown.NOT_RUN]
    not_run = [c for c in every if c.shown == Shown.NOT_RUN]
    layout = _Layout([c.id for c in (*ran, *not_run)], width)
    lines = layout.wrap(f"{title}: {counts_line(every)}", indent="")
    if verbosity <= -2:
        return lines
    for check in ran:
        if verbosity < 0 and check.shown not in (Shown.FAILED, Shown.WARNING):
            continue
        lines.extend(layout.rows(check))
    shown_own = [c for c in own if c.shown != Shown.NOT_RUN
                 and (verbosity >= 0 or c.shown == Shown.FAILED)]
    if shown_own:
        lines.append(f"  {OWN_CHECKS}:")
        for check in shown_own:
            lines.extend(layout.own_rows(check))
    if verbosity >= 0:
        for reason in dict.fromkeys(c.summary for c in not_run):
            ids = [c.id for c in not_run if c.summary == reason]
            text = f"{outcomes.WORDS[Shown.NOT_RUN]} ({len(ids)}): {', '.join(ids)}; {reason}"
            lines.extend(layout.wrap(text, indent="  "))
    return lines


def render(document: Document, *, width: int, verbosity: int) -> list[str]:
    """The lines of the cpi-preflight section for one profile's document, then what SAP
    announces for its environment (Neo's end of life, from the catalog) unless -qq."""
    lines = profile_lines(f"{document.name} ({document.environment})", document.checks(),
                          width=width, verbosity=verbosity, own=document.user_checks())
    if verbosity > -2:
        notices = catalog.load().notices_for(document.environment)
        lines.extend(notice_lines([n.text for n in notices], width))
    return lines


def notice_lines(notices: Iterable[str], width: int) -> list[str]:
    """`  notice: ...` per notice, wrapped to `width` (the catalog's dated announcements)."""
    layout = _Layout([], width)
    return [line for text in notices for line in layout.wrap(f"notice: {text}", indent="  ")]


def report_lines(paths: Iterable[Path]) -> list[str]:
    """`report: reports/prod-cf/junit.xml` per written file: relative to the current folder
    when the file lies below it, else the path as written (`files.message_path`)."""
    return [f"report: {printable(str(files.message_path(path)))}" for path in paths]
