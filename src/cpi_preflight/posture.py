"""Rules beyond "does it work": least privilege, certificate expiry, drift against a baseline.

Registered through `rules.rule`; pure like the rest of the diagnosis. Least privilege is decided
in permissions: role templates overlap (SecurityMaterialDownload holds every permission of the
monitor-overview rows), so a template is named only to explain a permission the token carries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from cpi_preflight import grants
from cpi_preflight.catalog import Catalog, Severity
from cpi_preflight.claims import TokenFacts, split_scopes
from cpi_preflight.findings import (
    FAILED,
    PASSED,
    SKIPPED,
    Certificates,
    Facts,
    Finding,
    Privilege,
    Verdict,
)
from cpi_preflight.observation import TlsCertificate
from cpi_preflight.plan import TOKEN, Check, CheckKind, neo_roles_of
from cpi_preflight.rules import Context, json_list, rule


def _own(catalog: Catalog, template: str) -> set[str]:
    """What stands for `template` in a token: its name, its permissions and, for a persona,
    its authorization group."""
    persona = catalog.personas.get(template)
    return ({template} | set(catalog.roles[template].permissions or ())
            | ({persona.group} if persona is not None else set()))


def needed_permissions(roles: Iterable[str], catalog: Catalog) -> frozenset[str]:
    """The permissions `roles` need: each template's documented set, its name (the scope
    reading `template_name`), a persona's group, or the role itself when it is a Neo role."""
    needed: set[str] = set()
    for role in roles:
        needed.update(_own(catalog, role) if role in catalog.roles else {role})
    return frozenset(needed)


def _holds(catalog: Catalog, template: str, permissions: frozenset[str]) -> bool:
    perms = catalog.roles[template].permissions
    persona = catalog.personas.get(template)
    return (template in permissions or (bool(perms) and set(perms or ()) <= permissions)
            or (persona is not None and persona.group in permissions))


def _covered(catalog: Catalog, template: str, wanted: set[str]) -> set[str]:
    return wanted & _own(catalog, template)


def _fewest_templates(catalog: Catalog, extra: set[str], held: list[str]) -> list[str]:
    """A small set of fully held templates that explains as many extra permissions as possible
    (greedy: the template explaining most of what is left first; smaller sets win ties)."""
    chosen: list[str] = []
    left = set(extra)
    while left:
        gains = sorted((-len(_covered(catalog, t, left)), len(catalog.roles[t].permissions or ()),
                        t) for t in held if t not in chosen)
        if not gains or gains[0][0] == 0:
            break
        chosen.append(gains[0][2])
        left -= _covered(catalog, gains[0][2], left)
    return sorted(chosen)


def _unserved(facts: TokenFacts, required: tuple[str, ...], catalog: Catalog) -> list[str]:
    """Required roles the token grants neither by its own scopes nor through a persona."""
    return [r for r in required if grants.holds_directly(r, facts, catalog).granted != "yes"
            and not grants.covering_persona(r, facts, catalog)]


def _kept_personas(facts: TokenFacts, required: tuple[str, ...],
                   catalog: Catalog) -> dict[str, tuple[str, ...]]:
    """Personas the token holds that allow the calls of a required role they do not cover
    (AuthGroup_ReadOnly reads the Partner Directory, AuthGroup_TenantPartnerDirectoryConfigurator
    also writes it): no template they cover can replace them, and the role's own template would
    add permissions. Persona -> the roles whose calls it allows."""
    kept: dict[str, tuple[str, ...]] = {}
    for name in grants.held_personas(facts, catalog):
        if name in required:
            continue
        reach = grants.reach(catalog.personas[name], catalog)
        served = tuple(r for r in _unserved(facts, required, catalog)
                       if any(set(e.neo_roles) <= reach for e in catalog.endpoints.values()
                              if e.role == r))
        if served:
            kept[name] = served
    return kept


def _replacements(facts: TokenFacts, required: tuple[str, ...], excess: list[str],
                  catalog: Catalog) -> dict[str, tuple[str, ...]]:
    """For each excess persona, the required templates it covers that the token does not grant
    by its own scopes: they replace it without adding anything."""
    return {name: tuple(r for r in required if grants.covers(catalog.personas[name], r)
                        and grants.holds_directly(r, facts, catalog).granted != "yes")
            for name in excess if name in catalog.personas}


def analyse(facts: TokenFacts | None, roles: Iterable[str], catalog: Catalog) -> Privilege:
    """Compare the token's permissions with what `roles` need (pure)."""
    required = tuple(roles)
    needed = needed_permissions(required, catalog)
    if facts is None or facts.format != "jwt":
        return Privilege(needed, {}, (), (), ())
    held_perms = facts.permissions
    kept = _kept_personas(facts, required, catalog)
    extra = set(held_perms - needed - catalog.neutral_permissions) - {
        p for name in kept for p in _own(catalog, name)}
    held = [name for name in catalog.roles if _holds(catalog, name, held_perms)]
    excess = _fewest_templates(catalog, extra, [t for t in held if t not in required
                                                and t not in kept])
    explained = {p: tuple(t for t in excess if p in _covered(catalog, t, {p}))
                 or tuple(catalog.templates_with(p)) for p in sorted(extra)}
    unknown = {p for p, names in explained.items() if not names}
    scopes = tuple(s for s, (_, p) in zip(facts.scopes, split_scopes(facts.scopes), strict=True)
                   if p in unknown)
    personas = grants.held_personas(facts, catalog)
    granted = tuple(sorted({t for t in required if t in held} | set(excess) | set(personas)))
    return Privilege(needed, explained, tuple(excess), granted, scopes, personas,
                     _replacements(facts, required, excess, catalog), kept)


def granted_templates(facts: TokenFacts | None, catalog: Catalog,
                      required: Iterable[str] = ()) -> list[str]:
    """Role templates the token shows: the required ones it holds in full, the personas it
    carries, and the fewest others that explain what it carries beyond them."""
    return list(analyse(facts, required, catalog).granted)


def roles_after_json(ctx: Context, add: Iterable[str] = (),
                     remove: Iterable[str] = ()) -> str:
    """The instance's `roles` to send, as a JSON list: the role templates this token shows,
    with `add` added and `remove` taken out (the profile's roles first). Without a token: `add`.
    The current parameters may hold more; the fixes say to keep what others need."""
    shown = analyse(ctx.token, ctx.plan.roles, ctx.catalog).granted
    added, removed = list(add), set(remove)
    first = [r for r in ctx.plan.roles if r in shown or r in added]
    return json_list([r for r in dict.fromkeys([*first, *shown, *added]) if r not in removed])


def _outcome(check: Check, findings: list[Finding], summary: str,
             facts: Facts = None) -> Verdict:
    failed = any(f.severity == Severity.FAILURE for f in findings)
    text = findings[0].message if findings else summary
    return Verdict(check, FAILED if failed else PASSED, text, tuple(findings), facts)


@rule(CheckKind.LEAST_PRIVILEGE)
def least_privilege_rule(ctx: Context, check: Check) -> Verdict:
    """Does the token carry permissions beyond what the required roles need?"""
    if ctx.token is None or ctx.token.format != "jwt":
        return Verdict(check, SKIPPED, "not checked: the token carries no scopes to compare")
    found = analyse(ctx.token, ctx.plan.roles, ctx.catalog)
    if not found.extra:
        return Verdict(check, PASSED, _only_needed(ctx, found), facts=found)
    return _outcome(check, [ctx.graded(_excess_finding(ctx, found))], "", found)


def _only_needed(ctx: Context, found: Privilege) -> str:
    """The summary of a token without excess; a persona kept for want of a narrower template
    is named with the permissions that template would add."""
    if not found.kept:
        return f"the token carries only the permissions of {_needed_roles(ctx)}"
    parts = []
    for persona, roles in found.kept.items():
        reach = grants.reach(ctx.catalog.personas[persona], ctx.catalog)
        adds = sorted({p for r in roles for p in ctx.catalog.roles[r].permissions or ()} - reach)
        parts.append(f"persona {persona} covers more than {_needed_roles(ctx)} need, but no "
                     f"narrower role template allows the calls of {', '.join(roles)} without "
                     f"adding permissions ({' and '.join(roles)} would add {', '.join(adds)})")
    return "; ".join(parts)


def _explanation(permission: str, templates: tuple[str, ...], excess: tuple[str, ...]) -> str:
    if set(templates) <= set(excess):
        if len(templates) > 1:
            return f"{permission} (for example from {templates[0]})"
        return f"{permission} (from {templates[0]})"
    return f"{permission} (part of {' or '.join(templates)}, not held in full)"


def _needed_roles(ctx: Context) -> str:
    """The roles the profile needs, named by where they come from: `required_roles (A, B)`, or
    `required_roles and the endpoints' roles (A, B, C)` when its endpoints add roles."""
    roles = ", ".join(ctx.plan.roles) or "none"
    if set(ctx.plan.roles) <= set(ctx.plan.profile.required_roles):
        return f"required_roles ({roles})"
    return f"required_roles and the endpoints' roles ({roles})"


def _persona_words(ctx: Context, persona: str) -> str:
    count = len(ctx.catalog.personas[persona].covers)
    return f"persona {persona} (it covers {count} role templates in SAP's tasks table)"


def _replacement(found: Privilege) -> str:
    """`; AuthGroup_X can be replaced by the role template A, which it covers, so nothing is
    added`."""
    parts = []
    for persona, roles in found.replaced_by.items():
        if roles:
            one = len(roles) == 1
            parts.append(f"{persona} can be replaced by the role template{'' if one else 's'} "
                         f"{', '.join(roles)}, which it covers, so nothing is added")
    return "; " + "; ".join(parts) if parts else ""


def _excess_finding(ctx: Context, found: Privilege) -> Finding:
    personas = [t for t in found.excess if t in ctx.catalog.personas]
    groups = {p for name in personas for p in (name, ctx.catalog.personas[name].group)}
    known = [_explanation(p, t, found.excess) for p, t in found.extra.items()
             if t and p not in groups]
    parts = [_persona_words(ctx, name) for name in personas]
    parts += [f"permissions {'; '.join(known)}"] if known else []
    if found.unknown_scopes:
        parts.append(f"unknown scopes {', '.join(found.unknown_scopes)} (no role template in the "
                     "catalog grants them)")
    message = (f"the token of client {ctx.client} carries {' and '.join(parts)} beyond what "
               f"{_needed_roles(ctx)} need{_replacement(found)}")
    subject = ", ".join(found.excess or found.unknown_scopes or tuple(found.extra))
    after = roles_after_json(ctx, add=[r for roles in found.replaced_by.values() for r in roles],
                             remove=found.excess)
    return ctx.finding("EXCESS_ROLES", subject, message, roles=subject, roles_after_json=after)


def _days_left(not_after: str, now: datetime) -> float:
    return (datetime.fromisoformat(not_after) - now).total_seconds() / 86400


def _expiry_findings(ctx: Context, certs: Iterable[TlsCertificate]) -> list[Finding]:
    window = ctx.plan.profile.expiry_warning_days
    found = []
    for cert in certs:
        left = _days_left(cert.not_after, ctx.now)
        if left < window:
            found.append(ctx.graded(ctx.finding(
                "TLS_CERT_EXPIRING", cert.host,
                f"the server certificate of {cert.host} ({cert.subject}) expires "
                f"{cert.not_after} (in {max(left, 0):.0f} days, warning window {window} days)")))
    return found


@rule(CheckKind.TLS_EXPIRY)
def tls_expiry_rule(ctx: Context, check: Check) -> Verdict:
    """Are the token and API hosts' server certificates valid beyond the warning window?"""
    certs = sorted(ctx.seen.server_certificates.values(), key=lambda c: c.not_after)
    if not certs:
        return Verdict(check, SKIPPED, "not checked: no TLS connection was completed")
    facts = Certificates(tuple(certs))
    first = certs[0]
    return _outcome(check, _expiry_findings(ctx, certs),
                    f"{len(certs)} server certificate(s) valid beyond "
                    f"{ctx.plan.profile.expiry_warning_days} days (earliest: {first.host} "
                    f"until {first.not_after})", facts)


@rule(CheckKind.CREDENTIAL_EXPIRY)
def credential_expiry_rule(ctx: Context, check: Check) -> Verdict:
    """Is the client certificate valid beyond the warning window (and not expired)?"""
    cert = ctx.seen.client_certificate
    if cert is None:
        return Verdict(check, SKIPPED, f"not checked: {check.subject} holds no readable "
                       "certificate")
    token = ctx.verdicts.get(TOKEN)
    if token is not None and token.code == "CREDENTIAL_EXPIRED":  # one root cause, one failure
        return Verdict(check, SKIPPED, f"not checked again: {TOKEN} failed (CREDENTIAL_EXPIRED)",
                       facts=Certificates((cert,)))
    left, window = _days_left(cert.not_after, ctx.now), ctx.plan.profile.expiry_warning_days
    facts = Certificates((cert,))
    if left >= window:
        return Verdict(check, PASSED, f"the client certificate ({cert.subject}) is valid until "
                       f"{cert.not_after}", facts=facts)
    state = "expired" if left < 0 else f"expires in {left:.0f} days"
    finding = ctx.finding("CREDENTIAL_EXPIRING", cert.subject,
                          f"the client certificate of client {ctx.client} ({cert.subject}) "
                          f"{state}: valid until {cert.not_after} (warning window {window} days)")
    finding = replace(finding, severity=Severity.FAILURE) if left < 0 else ctx.graded(finding)
    return _outcome(check, [finding], "", facts)


def _rows(baseline: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    rows = baseline.get(key)
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _lost(ctx: Context, role: str, source: str, *, required: bool) -> Finding:
    finding = ctx.finding("ROLE_LOST", role, f"role {role} was granted in the baseline "
                          f"({source}) and is not now"
                          + ("" if required else " (the profile does not require it)"), role=role,
                          neo_roles=", ".join(neo_roles_of(role, ctx.catalog)),
                          roles_after_json=roles_after_json(ctx, add=[role]))
    return finding if required else ctx.graded(replace(finding, severity=Severity.WARNING))


def _role_drift(ctx: Context, source: str) -> list[Finding]:
    """ROLE_LOST for a required role whose check now fails or any other role the baseline's
    token granted and this token does not; ROLE_GAINED for the reverse."""
    assert ctx.baseline is not None
    rows = _rows(ctx.baseline, "roles")
    found = []
    for row in rows:
        verdict = ctx.verdicts.get(f"role[{row.get('role')}]")
        if row.get("result") == "passed" and verdict is not None and verdict.outcome == FAILED:
            found.append(_lost(ctx, str(row["role"]), source, required=True))
    if ctx.token is None or ctx.token.format != "jwt":
        return found  # without scopes, only the role checks above can tell
    before = {str(r.get("role")) for r in rows if r.get("granted_by_token") == "yes"}
    now = set(granted_templates(ctx.token, ctx.catalog, ctx.plan.roles))
    reported = {f.subject for f in found}
    for role in sorted(before - now - reported):
        if role not in ctx.plan.roles:
            found.append(_lost(ctx, role, source, required=False))
    for role in sorted(now - before) if before else ():
        found.append(ctx.graded(ctx.finding(
            "ROLE_GAINED", role, f"role {role} is granted now but was not in the baseline "
            f"({source})", role=role)))
    return found


def _drift_findings(ctx: Context) -> list[Finding]:
    assert ctx.baseline is not None
    source = str(ctx.baseline.get("_path", "the baseline"))
    found = _role_drift(ctx, source)
    for row in _rows(ctx.baseline, "endpoints"):
        verdict = ctx.verdicts.get(f"endpoint[{row.get('name')}]")
        if row.get("result") == "passed" and verdict is not None and verdict.outcome != PASSED:
            name = str(row["name"])  # a planned endpoint: the path is the catalog's, not the file's
            found.append(ctx.finding(
                "ENDPOINT_REGRESSED", name,
                f"GET /api/v1{ctx.catalog.endpoints[name].path} answered in the baseline "
                f"({source}) and now {verdict.outcome}: {verdict.summary}", baseline=source))
    return found


@rule(CheckKind.DRIFT)
def drift_rule(ctx: Context, check: Check) -> Verdict:
    """Did roles or endpoints change since the baseline run?"""
    if ctx.baseline is None:
        return Verdict(check, SKIPPED, "not checked: the baseline holds no evidence for "
                       f"profile {ctx.plan.profile.name}")
    return _outcome(check, _drift_findings(ctx), "roles and endpoints are as in the baseline "
                    f"({ctx.baseline.get('_path', 'baseline')})")
