"""One wording for outcomes and counts, in every report.

A check's verdict is passed, failed or skipped (`findings.Outcome`). Reports show and count a
check as one of five `Shown` outcomes: a passed check that carries warnings is shown as
`warning`, and a check pytest did not run (deselected, or the session stopped first: its
verdict has `ran` false) as `not run`. Such a check proves nothing, so a run with one is
`incomplete`, never `passed` (`run_result`).

The counts are always given in the order of `Shown` and leave zero counts out:
`3 failed, 1 warning, 5 passed, 2 skipped, 4 not run` (`counts_words`). The terminal shows that
line after the profile's name, evidence.html after the number of checks, and the CI job summary
uses the same words as its column headers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from cpi_preflight.findings import MAX_FINDINGS, PASSED


class Shown(StrEnum):
    """How a check is shown and counted; the value is its key in evidence.json's summary."""

    FAILED = "failed"
    WARNING = "warning"
    PASSED = "passed"
    SKIPPED = "skipped"
    NOT_RUN = "not_run"


class Result(StrEnum):
    """The result of one profile's run."""

    PASSED = "passed"
    FAILED = "failed"
    INCOMPLETE = "incomplete"


# The word a report uses for each shown outcome (a count of warnings takes the plural).
WORDS = {**{shown: shown.value for shown in Shown}, Shown.NOT_RUN: "not run"}


def shown(outcome: str, *, ran: bool, warned: bool) -> Shown:
    """How a check with `outcome` is shown: not run when pytest did not run it; warning when it
    passed with a warning; else its outcome."""
    if not ran:
        return Shown.NOT_RUN
    return Shown.WARNING if outcome == PASSED and warned else Shown(outcome)


def count(outcomes: Iterable[Shown]) -> dict[str, int]:
    """How many checks are shown as each outcome, by the outcome's key, every outcome listed."""
    listed = list(outcomes)
    return {s.value: listed.count(s) for s in Shown}


def run_result(counts: Mapping[str, int]) -> Result:
    """failed if a check failed; else incomplete if a check was not run; else passed."""
    if counts.get(Shown.FAILED):
        return Result.FAILED
    return Result.INCOMPLETE if counts.get(Shown.NOT_RUN) else Result.PASSED


def counts_words(counts: Mapping[str, object]) -> str:
    """`3 failed, 1 warning, 5 passed, 2 skipped, 4 not run`: zero counts left out, '' when
    every count is zero. `counts` maps the keys of `Shown` to numbers (a missing or odd value
    counts as zero)."""
    numbers = [(_number(counts.get(s)), s) for s in Shown]
    return ", ".join(f"{n} {WORDS[s]}{'s' if s == Shown.WARNING and n > 1 else ''}"
                     for n, s in numbers if n)


def left_out_words(count: int) -> str:
    """`3 more findings not listed (at most 25 are listed per check)`: the line every report
    shows for a check whose findings were bounded (`findings.bounded`)."""
    return (f"{count} more finding{'' if count == 1 else 's'} not listed (at most "
            f"{MAX_FINDINGS} are listed per check)")


def total(counts: Mapping[str, object]) -> int:
    """The number of checks `counts` counts."""
    return sum(_number(counts.get(s)) for s in Shown)


def _number(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


__all__ = ["WORDS", "Result", "Shown", "count", "counts_words", "left_out_words", "run_result",
           "shown", "total"]
