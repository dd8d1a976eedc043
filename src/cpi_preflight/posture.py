"""Rules beyond "does it work": least privilege, certificate expiry, drift against a baseline.

Registered into `diagnosis.RULES`; pure like the rest of the diagnosis.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from cpi_preflight.catalog import Catalog
from cpi_preflight.claims import TokenFacts
from cpi_preflight.findings import FAILED, PASSED, SKIPPED, Finding, Verdict
from cpi_preflight.observation import TlsCertificate
from cpi_preflight.plan import Check
from cpi_preflight.rules import Context, rule

NEUTRAL_PERMISSIONS = frozenset({"Default", "resource"})


def granted_templates(facts: TokenFacts | None, catalog: Catalog) -> list[str]:
    """Role templates whose every permission (or whose name) is in the token's scopes."""
    if facts is None or facts.format != "jwt":
        return []
    perms = facts.permissions
    named = {scope.rsplit(".", 1)[-1] for scope in facts.scopes}
    return sorted(name for name, role in catalog.roles.items()
                  if (role.permissions and set(role.permissions) <= perms) or name in named)


def _required_permissions(ctx: Context) -> set[str]:
    needed: set[str] = set()
    for role in ctx.plan.roles:
        template = ctx.catalog.roles.get(role)
        needed.update(template.permissions or () if template else (role,))
    return needed


def _graded(ctx: Context, finding: Finding) -> Finding:
    return replace(finding, severity="failure") if ctx.strict else finding


def _outcome(check: Check, findings: list[Finding], summary: str,
             facts: Mapping[str, Any] | None = None) -> Verdict:
    failed = any(f.severity == "failure" for f in findings)
    text = findings[0].message if findings else summary
    return Verdict(check, FAILED if failed else PASSED, text, tuple(findings), facts or {})


@rule("least-privilege")
def least_privilege_rule(ctx: Context, check: Check) -> Verdict:
    """Does the token grant more than the profile requires?"""
    if ctx.token is None or ctx.token.format != "jwt":
        return Verdict(check, SKIPPED, "not checked: the token carries no scopes to compare")
    granted = granted_templates(ctx.token, ctx.catalog)
    needed = _required_permissions(ctx)
    excess = [t for t in granted if t not in ctx.plan.roles
              and not set(ctx.catalog.roles[t].permissions or ()) <= needed]
    stray = sorted(p for p in ctx.token.permissions - needed - NEUTRAL_PERMISSIONS
                   if not any(p in (ctx.catalog.roles[t].permissions or ()) for t in excess))
    facts = {"granted": granted, "excess": excess, "unexplained_scopes": stray}
    if not excess and not stray:
        return Verdict(check, PASSED, f"the token grants only what is required "
                       f"({', '.join(granted) or 'no known role template'})", facts=facts)
    return _outcome(check, [_graded(ctx, _excess_finding(ctx, excess, stray))], "", facts)


def _excess_finding(ctx: Context, excess: list[str], stray: list[str]) -> Finding:
    parts = []
    if excess:
        parts.append(f"role templates {', '.join(excess)}")
    if stray:
        parts.append(f"scopes {', '.join(stray)}")
    message = (f"the token of client {ctx.client} grants {' and '.join(parts)} beyond "
               f"required_roles ({', '.join(ctx.plan.roles) or 'none'})")
    return ctx.finding("EXCESS_ROLES", ", ".join(excess or stray), message,
                       roles=", ".join(excess or stray))


def _days_left(not_after: str, now: datetime) -> float:
    return (datetime.fromisoformat(not_after) - now).total_seconds() / 86400


def _expiry_findings(ctx: Context, certs: Iterable[TlsCertificate]) -> list[Finding]:
    window = ctx.plan.profile.expiry_warning_days
    found = []
    for cert in certs:
        left = _days_left(cert.not_after, ctx.now)
        if left < window:
            found.append(_graded(ctx, ctx.finding(
                "TLS_CERT_EXPIRING", cert.host,
                f"the server certificate of {cert.host} ({cert.subject}) expires "
                f"{cert.not_after} (in {max(left, 0):.0f} days, warning window {window} days)")))
    return found


@rule("tls-expiry")
def tls_expiry_rule(ctx: Context, check: Check) -> Verdict:
    """Are the token and API hosts' server certificates valid beyond the warning window?"""
    certs = sorted(ctx.seen.server_certificates.values(), key=lambda c: c.not_after)
    if not certs:
        return Verdict(check, SKIPPED, "not checked: no TLS connection was completed")
    facts = {"certificates": {c.host: c.not_after for c in certs}}
    first = certs[0]
    return _outcome(check, _expiry_findings(ctx, certs),
                    f"{len(certs)} server certificate(s) valid beyond "
                    f"{ctx.plan.profile.expiry_warning_days} days (earliest: {first.host} "
                    f"until {first.not_after})", facts)


@rule("credential-expiry")
def credential_expiry_rule(ctx: Context, check: Check) -> Verdict:
    """Is the client certificate valid beyond the warning window (and not expired)?"""
    cert = ctx.seen.client_certificate
    if cert is None:
        return Verdict(check, SKIPPED, f"not checked: {check.subject} holds no readable "
                       "certificate")
    left, window = _days_left(cert.not_after, ctx.now), ctx.plan.profile.expiry_warning_days
    facts = {"not_after": cert.not_after, "subject": cert.subject}
    if left >= window:
        return Verdict(check, PASSED, f"the client certificate ({cert.subject}) is valid until "
                       f"{cert.not_after}", facts=facts)
    state = "expired" if left <= 0 else f"expires in {left:.0f} days"
    finding = ctx.finding("CREDENTIAL_EXPIRING", cert.subject,
                          f"the client certificate of client {ctx.client} ({cert.subject}) "
                          f"{state}: valid until {cert.not_after} (warning window {window} days)")
    finding = replace(finding, severity="failure") if left <= 0 else _graded(ctx, finding)
    return _outcome(check, [finding], "", facts)


def _rows(baseline: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    rows = baseline.get(key)
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _drift_findings(ctx: Context) -> list[Finding]:
    assert ctx.baseline is not None
    source = str(ctx.baseline.get("_path", "the baseline"))
    found = []
    for row in _rows(ctx.baseline, "roles"):
        verdict = ctx.verdicts.get(f"role[{row.get('role')}]")
        if row.get("result") == "passed" and verdict is not None and verdict.outcome == FAILED:
            found.append(ctx.finding("ROLE_LOST", str(row["role"]),
                                     f"role {row['role']} was granted in the baseline "
                                     f"({source}) and is not now", role=str(row["role"])))
    before = {str(r.get("role")) for r in _rows(ctx.baseline, "roles")
              if r.get("granted_by_token") == "yes"}
    for role in granted_templates(ctx.token, ctx.catalog):
        if before and role not in before:
            found.append(_graded(ctx, ctx.finding(
                "ROLE_GAINED", role, f"role {role} is granted now but was not in the baseline "
                f"({source})", role=role)))
    for row in _rows(ctx.baseline, "endpoints"):
        verdict = ctx.verdicts.get(f"endpoint[{row.get('name')}]")
        if row.get("result") == "passed" and verdict is not None and verdict.outcome != PASSED:
            found.append(ctx.finding(
                "ENDPOINT_REGRESSED", str(row["name"]),
                f"GET {row.get('path', row['name'])} answered in the baseline ({source}) and "
                f"now {verdict.outcome}: {verdict.summary}", baseline=source))
    return found


@rule("drift")
def drift_rule(ctx: Context, check: Check) -> Verdict:
    """Did roles or endpoints change since the baseline run?"""
    if ctx.baseline is None:
        return Verdict(check, SKIPPED, "not checked: the baseline holds no evidence for "
                       f"profile {ctx.plan.profile.name}")
    return _outcome(check, _drift_findings(ctx), "roles and endpoints are as in the baseline "
                    f"({ctx.baseline.get('_path', 'baseline')})")
