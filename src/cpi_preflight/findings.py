"""The output of the diagnosis: a verdict per check, with findings that carry code and fix."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cpi_preflight.catalog import Severity
from cpi_preflight.plan import Check


class Outcome(StrEnum):
    """The result of one check (a passed check may carry warnings)."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


PASSED, FAILED, SKIPPED = Outcome.PASSED, Outcome.FAILED, Outcome.SKIPPED


@dataclass(frozen=True)
class Finding:
    """Something wrong (or worth a warning) with the thing a check is about."""

    code: str
    severity: Severity
    subject: str
    message: str
    fix: str

    def text(self) -> str:
        """`CODE: message` and the fix on its own line."""
        return f"{self.code}: {self.message}\n  fix: {self.fix}"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: passed (maybe with warnings), failed, or skipped.

    `ran` is false for a check pytest did not run (deselected, or the session stopped before
    it): its verdict is a skip that proves nothing.
    """

    check: Check
    outcome: Outcome
    summary: str
    findings: tuple[Finding, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)
    ran: bool = True

    @property
    def failures(self) -> tuple[Finding, ...]:
        """Findings that fail the check."""
        return tuple(f for f in self.findings if f.severity == Severity.FAILURE)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """Findings shown but not failing."""
        return tuple(f for f in self.findings if f.severity == Severity.WARNING)

    @property
    def code(self) -> str:
        """The code of the first failure (or warning), or '' when clean."""
        first = self.failures or self.warnings
        return first[0].code if first else ""
