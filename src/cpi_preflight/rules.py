"""The rule registry and what every rule reads: the `Context` of one profile's diagnosis.

`diagnosis` (token, api, roles, endpoints) and `posture` (least privilege, expiry, drift) both
register their rules here, so neither imports the other's rules.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cpi_preflight.catalog import Catalog
from cpi_preflight.claims import TokenFacts
from cpi_preflight.errors import CatalogError
from cpi_preflight.findings import FAILED, Finding, Verdict
from cpi_preflight.observation import ProfileObservations
from cpi_preflight.plan import Check, Plan


@dataclass
class Context:
    """What the rules read: the plan, the observations, the catalog, and earlier verdicts."""

    plan: Plan
    seen: ProfileObservations
    catalog: Catalog
    now: datetime
    token: TokenFacts | None = None
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    strict: bool = False
    baseline: Mapping[str, Any] | None = None

    @property
    def environment(self) -> str:
        return self.plan.profile.environment

    @property
    def client(self) -> str:
        """The client id, in full: it names the service key and is not a secret."""
        return self.plan.profile.client_id

    def finding(self, code: str, subject: str, message: str, **values: str) -> Finding:
        """A finding whose fix text comes from the codes data, placeholders filled."""
        entry = self.catalog.code(code)
        slots: defaultdict[str, str] = defaultdict(str, client_id=self.client, **values)
        fix = entry.fix_for(self.environment).format_map(slots)
        return Finding(code, entry.severity, subject, message, fix)

    def fail(self, check: Check, finding: Finding, **facts: Any) -> Verdict:
        return Verdict(check, FAILED, finding.message, (finding,), facts)


Rule = Callable[[Context, Check], Verdict]
RULES: dict[str, Rule] = {}


def rule(kind: str) -> Callable[[Rule], Rule]:
    """Register the rule for checks of `kind` (one rule per kind)."""
    def register(function: Rule) -> Rule:
        if kind in RULES:
            raise CatalogError(f"a rule for check kind '{kind}' is already registered")
        RULES[kind] = function
        return function
    return register
