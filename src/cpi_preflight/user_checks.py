"""Checks written by the team: the tests pytest runs beside the built-in checks (the tests of
`checks/`), each with the profile it belongs to, its outcome, its message and its duration.

A test that asks for a preflight fixture is parametrized with a profile name, so its result
belongs to that profile's reports; a test that asks for none runs once for the whole run and
belongs to the reports of every profile of the run: a job that pytest fails never leaves a
report that reads as passed.

The plugin names the selected tests before the first one runs (`expect`: a test the session
stopped before is reported as not run) and hands over each phase's report as pytest makes it
(`record`). The texts are kept as pytest gives them; the evidence document masks them with every
other text of the run (`reporting.document`), in one walk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cpi_preflight.findings import FAILED, PASSED, SKIPPED, Outcome

if TYPE_CHECKING:  # the reports read this module without pytest (`cpi-preflight summary`)
    import pytest

_PHASE_WORDS = {"setup": "error in setup: ", "teardown": "error in teardown: "}
_SKIPPED_PREFIX = "Skipped: "


@dataclass(frozen=True)
class UserCheck:
    """One test of the team's as the reports show it: `message` is the assertion message of a
    failure, the reason of a skip, '' for a pass; `ran` is false for a test the session stopped
    before (its message says why)."""

    nodeid: str
    outcome: Outcome
    message: str
    duration_s: float
    ran: bool = True


@dataclass(frozen=True)
class _Phase:
    when: str
    outcome: Outcome
    message: str
    duration_s: float


def _crash(report: pytest.TestReport) -> str:
    """What a failed phase said: the exception's own text (an assertion's message, with
    pytest's explanation of the comparison), else the last line of the report's text."""
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    if isinstance(message, str):
        return message
    lines = [line for line in str(longrepr or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else ""
    return reason.removeprefix(_SKIPPED_PREFIX)


def phase_of(report: pytest.TestReport) -> _Phase:
    """One phase (setup, call, teardown) of a test: its outcome and what it said."""
    expected = getattr(report, "wasxfail", None)
    if report.failed:
        outcome, message = FAILED, _PHASE_WORDS.get(report.when or "", "") + _crash(report)
    elif report.skipped:
        outcome = SKIPPED
        message = (f"xfail: {expected}" if expected else "xfail") if expected is not None \
            else _skip_reason(report)
    else:
        outcome = PASSED
        message = (f"xpass: {expected}" if expected else "xpass") if expected is not None else ""
    return _Phase(report.when or "", outcome, message, max(report.duration, 0.0))


def _combined(nodeid: str, phases: list[_Phase]) -> UserCheck:
    """A test's result from its phases: failed when a phase failed (the first failure's text),
    else skipped when setup or call skipped, else passed."""
    duration = sum(p.duration_s for p in phases)
    for wanted in (FAILED, SKIPPED):
        said = next((p for p in phases if p.outcome == wanted), None)
        if said is not None:
            return UserCheck(nodeid, wanted, said.message, duration)
    call = next((p for p in phases if p.when == "call"), None)
    return UserCheck(nodeid, PASSED, call.message if call else "", duration)


@dataclass
class UserChecks:
    """The team's tests of one run: which profile each belongs to (None: every profile) and
    the phases pytest reported for it."""

    profile_of: dict[str, str | None] = field(default_factory=dict)
    phases: dict[str, list[_Phase]] = field(default_factory=dict)

    def expect(self, tests: Iterable[tuple[str, str | None]]) -> None:
        """The selected tests (node id, profile or None for every profile), in run order."""
        for nodeid, profile in tests:
            self.profile_of[nodeid] = profile

    def record(self, nodeid: str, report: pytest.TestReport) -> None:
        """One phase's report of an expected test (others are not the run's: ignored)."""
        if nodeid in self.profile_of:
            self.phases.setdefault(nodeid, []).append(phase_of(report))

    def of(self, profile: str, not_reached: str) -> list[UserCheck]:
        """The tests that belong to `profile`, in run order; a test without a report is not
        run, with `not_reached` as its message."""
        return [_combined(nodeid, self.phases[nodeid]) if nodeid in self.phases
                else UserCheck(nodeid, SKIPPED, not_reached, 0.0, ran=False)
                for nodeid, owner in self.profile_of.items() if owner in (None, profile)]
