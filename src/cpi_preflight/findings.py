"""The output of the diagnosis: a verdict per check, with findings that carry code and fix."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cpi_preflight.plan import Check

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass(frozen=True)
class Finding:
    """Something wrong (or worth a warning) with the thing a check is about."""

    code: str
    severity: str  # failure | warning
    subject: str
    message: str
    fix: str

    def text(self) -> str:
        """`CODE: message` and the fix on its own line."""
        return f"{self.code}: {self.message}\n  fix: {self.fix}"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: passed (maybe with warnings), failed, or skipped."""

    check: Check
    outcome: str
    summary: str
    findings: tuple[Finding, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def failures(self) -> tuple[Finding, ...]:
        """Findings that fail the check."""
        return tuple(f for f in self.findings if f.severity == "failure")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """Findings shown but not failing."""
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def code(self) -> str:
        """The code of the first failure (or warning), or '' when clean."""
        first = self.failures or self.warnings
        return first[0].code if first else ""
