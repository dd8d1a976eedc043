"""The cpi-preflight section of pytest's terminal summary: lines from verdicts, nothing else.

Per profile a summary line, then one row per check: its outcome and, for a failure, the code
and message on one line (the full text with its fix is in pytest's FAILURES section above); for
a warning, the message and its fix in full (nothing else on screen shows them); for a skip, the
reason. Checks that pytest did not run are listed together in one row. Rows fit `width`; what
does not fit is moved to the next lines rather than cut (an id, the codes, a client id are never
cut, so that they can be read and copied whole); only a failure's one-line message is cut, with
`...`, as its full text is in FAILURES.

Verbosity follows pytest's: `-q` keeps only failures, warnings and the summary lines; `-qq`
keeps only the summary lines.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence

from cpi_preflight.findings import FAILED, PASSED, SKIPPED, Finding, Verdict
from cpi_preflight.secret import scrub

WARNING = "warning"
NOT_RUN = "not run"
_ID_WIDTH_LIMIT = 40
_OUTCOME_WIDTH = 8
_NARROWEST_TEXT = 40
DETAIL = "    "


def _printable(text: str) -> str:
    """One line of scrubbed text without control characters (they could drive the terminal)."""
    return "".join(c if c.isprintable() else " " for c in scrub(text))


def shown_outcome(verdict: Verdict) -> str:
    """passed, failed, skipped, or warning for a passed check that carries warnings."""
    return WARNING if verdict.outcome == PASSED and verdict.warnings else verdict.outcome


def counts_line(verdicts: Iterable[Verdict], not_run: int) -> str:
    """`3 failed, 1 warning, 5 passed, 2 skipped, 4 not run` (zero counts left out)."""
    shown = [shown_outcome(v) for v in verdicts]
    parts = [(shown.count(o), o) for o in (FAILED, WARNING, PASSED, SKIPPED)]
    parts.append((not_run, NOT_RUN))
    words = [f"{n} {o}{'s' if o == WARNING and n > 1 else ''}" for n, o in parts if n]
    return ", ".join(words) if words else "no checks"


COMMAND = re.compile(r"`((?:cf|export) [^`]*)`")  # commands printed whole, to paste
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


def fitted(text: str, width: int) -> str:
    """`text` (lines of `CODE: message` and an indented `fix: ...`) wrapped to `width`, each
    line's continuation indented two more than the line itself; words are never split, and a
    fix's `cf` commands stand alone on their lines, ready to paste."""
    out: list[str] = []
    width = max(width, _NARROWEST_TEXT)
    for line in text.splitlines():
        indent = line[: len(line) - len(line.lstrip())]
        clean = _printable(line.strip())
        if clean.startswith("fix: "):
            out.extend(fix_lines(clean, width, indent, indent + "  "))
            continue
        out.extend(wrap_prose(clean, width, indent, indent + "  ") or [""])
    return "\n".join(out)


def wrapped(text: str, width: int) -> list[str]:
    """One message as lines of at most `width`, continued two spaces in."""
    return _Layout([], width).wrap(text, indent="")


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 3)] + "..."


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
        check_id = _printable(check_id)
        if len(check_id) <= self.id_width:
            return [f"  {check_id:<{self.id_width}} {outcome:<{_OUTCOME_WIDTH}}"]
        return [f"  {check_id}", f"  {'':<{self.id_width}} {outcome:<{_OUTCOME_WIDTH}}"]

    def cut(self, text: str) -> list[str]:
        return [_cut(DETAIL + _printable(text), self.width)]

    def wrap(self, text: str, indent: str = DETAIL) -> list[str]:
        """`text` wrapped, continued two further in; a word longer than a line (a client id)
        is never split: it stands alone on its line."""
        return textwrap.wrap(_printable(text), self.width, initial_indent=indent,
                             subsequent_indent=indent + "  ", break_long_words=False,
                             break_on_hyphens=False)

    def beside(self, head: str, text: str) -> list[str]:
        """The row `head text`, or, when `text` does not fit after the head, the head alone and
        all of `text` wrapped on the lines below it: a code or a reason is never cut."""
        if len(head) + 1 + len(text) <= self.width:
            return [f"{head} {text}".rstrip()]
        return [head.rstrip(), *self.wrap(text)]

    def rows(self, verdict: Verdict) -> list[str]:
        *named_alone, head = self.head(verdict.check.id, shown_outcome(verdict))
        if verdict.outcome == SKIPPED:
            return [*named_alone, *self.beside(head, _printable(verdict.summary))]
        codes = ", ".join(dict.fromkeys(f.code for f in verdict.findings))
        lines = [*named_alone, *self.beside(head, codes)]
        named = len(verdict.findings) > 1  # several findings: say which is which
        for finding in verdict.failures:
            lines.extend(self.cut(_said(finding, named)))
        for finding in verdict.warnings:
            lines.extend(self.wrap(_said(finding, named)))
            lines.extend(fix_lines(_printable(f"fix: {finding.fix}"), self.width, DETAIL,
                                   DETAIL + "  "))
        return lines


def _said(finding: Finding, named: bool) -> str:
    return f"{finding.code}: {finding.message}" if named else finding.message


def profile_lines(title: str, verdicts: Mapping[str, Verdict], not_run: Mapping[str, str], *,
                  width: int, verbosity: int) -> list[str]:
    """The lines for one profile. `verdicts`: the checks pytest ran, by id; `not_run`: the
    others, id -> why (deselected, or the session stopped first)."""
    layout = _Layout([*verdicts, *not_run], width)
    lines = layout.wrap(f"{title}: {counts_line(verdicts.values(), len(not_run))}", indent="")
    if verbosity <= -2:
        return lines
    for verdict in verdicts.values():
        if verbosity < 0 and shown_outcome(verdict) not in (FAILED, WARNING):
            continue
        lines.extend(layout.rows(verdict))
    if verbosity >= 0:
        for reason in dict.fromkeys(not_run.values()):
            ids = [i for i, r in not_run.items() if r == reason]
            text = _printable(f"{NOT_RUN} ({len(ids)}): {', '.join(ids)}; {reason}")
            lines.extend(layout.wrap(text, indent="  "))
    return lines
