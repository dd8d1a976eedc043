"""The rule registry and what every rule reads: the `Context` of one profile's diagnosis.

`diagnosis` (token, api, roles, endpoints) and `posture` (least privilege, expiry, drift) both
register their rules here, so neither imports the other's rules.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from cpi_preflight import fixes
from cpi_preflight.catalog import Catalog, Severity
from cpi_preflight.claims import TokenFacts
from cpi_preflight.findings import FAILED, Facts, Finding, Verdict, issued_token
from cpi_preflight.observation import ProfileObservations
from cpi_preflight.plan import TOKEN, Check, CheckKind, Plan

GRANT_TYPE = "client_credentials"
ACCESS_ALL = "AccessAllAccessPoliciesArtifacts"  # the role template that passes access policies


def json_list(names: list[str]) -> str:
    """`["A","B"]`: role names as the JSON list a `cf ... -c` parameter takes."""
    return json.dumps(list(dict.fromkeys(names)), separators=(",", ":"))


@dataclass(frozen=True)
class Context:
    """What the rules read: the plan, the observations, the catalog, and earlier verdicts."""

    plan: Plan
    seen: ProfileObservations
    catalog: Catalog
    now: datetime
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    strict: bool = False
    baseline: Mapping[str, Any] | None = None

    @property
    def token(self) -> TokenFacts | None:
        """What the token says about itself, from the token check's verdict (None until that
        check has passed)."""
        return issued_token(self.verdicts.get(TOKEN))

    @property
    def environment(self) -> str:
        return self.plan.profile.environment

    @property
    def client(self) -> str:
        """The client id, in full: it names the service key and is not a secret."""
        return self.plan.profile.client_id

    def finding(self, code: str, subject: str, message: str, **values: str) -> Finding:
        """A finding whose fix text comes from the codes data, placeholders filled as their
        place allows (`fixes.fill`: text from outside is never part of a command)."""
        entry = self.catalog.code(code)
        fix = fixes.fill(entry.fix_for(self.environment), {**self.known_values(), **values},
                         self.catalog.names)
        return Finding(code, entry.severity, subject, message, fix)

    def known_values(self) -> dict[str, str]:
        """What every fix text may name: client id, grant type, and the profile's roles as a
        JSON list (`roles_after_json` too, unless a rule gives the roles the fix sends)."""
        roles = json_list(list(self.plan.roles))
        return {"client_id": self.client, "grant_type": GRANT_TYPE,
                "required_roles_json": roles, "roles_after_json": roles}

    def graded(self, finding: Finding) -> Finding:
        """`finding` as a failure when the run is strict (warnings fail), else as it is."""
        return replace(finding, severity=Severity.FAILURE) if self.strict else finding

    def fail(self, check: Check, finding: Finding, facts: Facts = None) -> Verdict:
        return Verdict(check, FAILED, finding.message, (finding,), facts)


Rule = Callable[[Context, Check], Verdict]
RULES: dict[CheckKind, Rule] = {}


def rule(kind: CheckKind) -> Callable[[Rule], Rule]:
    """Register the rule for checks of `kind` (one rule per kind: a second one is a bug in
    this package, so it raises `AssertionError`, even under `python -O`)."""
    def register(function: Rule) -> Rule:
        if kind in RULES:
            raise AssertionError(f"a rule for check kind '{kind}' is already registered: "
                                 f"{RULES[kind].__qualname__}")
        RULES[kind] = function
        return function
    return register
