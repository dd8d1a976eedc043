"""The output of the diagnosis: a verdict per check, with findings that carry code and fix,
and the facts the check established, typed by the kind of check.

Facts are what readers after the diagnosis take from a verdict (the token for the evidence
and the fixtures, a role's proof for the role matrix, a call's time for JUnit); they hold
values, never texts made to be parsed again. A verdict of a check pytest did not run has
`ran` false.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from cpi_preflight.catalog import Severity
from cpi_preflight.plan import Check

if TYPE_CHECKING:  # types only: the claims and observations are a run's, not collection's
    from cpi_preflight.claims import TokenFacts
    from cpi_preflight.observation import TlsCertificate


class Outcome(StrEnum):
    """The result of one check (a passed check may carry warnings)."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


PASSED, FAILED, SKIPPED = Outcome.PASSED, Outcome.FAILED, Outcome.SKIPPED
# What a token's scopes say about a role: granted, not granted, or they cannot tell (Neo, an
# opaque token, a role template without a known permission list).
Granted = Literal["yes", "no", "unknown"]


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


# --- facts, one type per kind of check ---------------------------------------------------


@dataclass(frozen=True)
class TokenAnswer:
    """Token check: the status of the token endpoint's answer and, when the check passed, its
    time and what the token says about itself."""

    status: int | None
    elapsed_ms: float | None = None
    token: TokenFacts | None = None


@dataclass(frozen=True)
class Call:
    """A read-only GET of an entity set and the status it answered."""

    path: str  # below the API root (`/api/v1`), as the catalog names it
    status: int


@dataclass(frozen=True)
class RoleFacts:
    """Role check: what the token's scopes say, and the call that proves (or disproves) it."""

    granted: Granted
    proof: Call | None


@dataclass(frozen=True)
class EndpointAnswer:
    """Endpoint check: the status of the call (None: no answer) and, but for a 403, its time."""

    path: str
    status: int | None
    elapsed_ms: float | None


@dataclass(frozen=True)
class Privilege:
    """Least-privilege check: what a token carries beyond what the required roles need,
    decided in permissions.

    `extra` maps each permission the required roles do not need to the role templates that would
    explain it (empty when none does: then it is also in `unknown`). `granted` are the role
    templates the token shows: required ones it holds in full, the personas it carries, and the
    fewest fully held ones that explain the extra permissions (`excess`). `personas` are the
    personas (`AuthGroup_*`) the token carries; `replaced_by` gives, per excess persona, the
    required templates it covers (they replace it without adding anything); `kept` the personas
    that allow the calls of a required role they do not cover, which no narrower template can
    replace without adding permissions (persona -> those roles).
    """

    needed: frozenset[str]
    extra: Mapping[str, tuple[str, ...]]
    excess: tuple[str, ...]
    granted: tuple[str, ...]
    unknown_scopes: tuple[str, ...]
    personas: tuple[str, ...] = ()
    replaced_by: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    kept: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Certificates:
    """Expiry checks: the certificates read (the hosts' server certificates, or the client's)."""

    certificates: tuple[TlsCertificate, ...]


Facts = TokenAnswer | RoleFacts | EndpointAnswer | Privilege | Certificates | None


class WithFindings:
    """Something that holds findings (a verdict, a check as a report shows it): its failures and
    its warnings, each in the order of `findings`."""

    findings: tuple[Finding, ...]

    @property
    def failures(self) -> tuple[Finding, ...]:
        """Findings that fail the check."""
        return tuple(f for f in self.findings if f.severity == Severity.FAILURE)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """Findings shown but not failing."""
        return tuple(f for f in self.findings if f.severity == Severity.WARNING)


@dataclass(frozen=True)
class Verdict(WithFindings):
    """The outcome of one check: passed (maybe with warnings), failed, or skipped.

    `ran` is false for a check pytest did not run (deselected, or the session stopped before
    it): its verdict is a skip that proves nothing.
    """

    check: Check
    outcome: Outcome
    summary: str
    findings: tuple[Finding, ...] = ()
    facts: Facts = None
    ran: bool = True
    left_out: int = 0  # findings beyond MAX_FINDINGS: counted, not listed (`bounded`)

    @property
    def code(self) -> str:
        """The code of the first failure (or warning), or '' when clean."""
        first = self.failures or self.warnings
        return first[0].code if first else ""

    @property
    def elapsed_ms(self) -> float | None:
        """How long the check's call took, when its facts time one."""
        facts = self.facts
        return facts.elapsed_ms if isinstance(facts, TokenAnswer | EndpointAnswer) else None


MAX_FINDINGS = 25  # findings listed per check; a report says how many more there were


def bounded(verdict: Verdict, limit: int = MAX_FINDINGS) -> Verdict:
    """`verdict` with at most `limit` findings, failures first, and the others counted in
    `left_out`: what comes from outside (a baseline, a token's scopes) cannot make a check's
    findings, and with them every report, grow without end."""
    if len(verdict.findings) <= limit:
        return verdict
    kept = (*verdict.failures, *verdict.warnings)[:limit]
    return replace(verdict, findings=kept,
                   left_out=verdict.left_out + len(verdict.findings) - limit)


def issued_token(verdict: Verdict | None) -> TokenFacts | None:
    """What the token read by a passed token check says about itself (None without one)."""
    facts = verdict.facts if verdict is not None else None
    return facts.token if isinstance(facts, TokenAnswer) else None
