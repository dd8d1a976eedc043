"""What a Cloud Foundry token's scopes grant: role templates, and personas.

Pure functions over what a token says about itself (`TokenFacts`) and the shipped catalog; no
verdicts. A role template is granted by the token when it carries the template's permissions or
a scope named after the template (the two scope readings of data/catalog.yaml), or a persona
(`AuthGroup_*`) whose tasks include the template's (the catalog's `personas`, from the Persona
column of SAP's tasks table). A token holding an authorization group the catalog does not know
leaves every other role open: the answer is "unknown", never "no".
"""

from __future__ import annotations

from dataclasses import dataclass

from cpi_preflight.catalog import Catalog, Persona
from cpi_preflight.claims import TokenFacts
from cpi_preflight.findings import Granted

GROUP_PREFIX = "AuthGroup."


@dataclass(frozen=True)
class Grant:
    """What the token's scopes say about one role: granted or not or unknown, the permissions
    it lacks (when not), and the persona that grants it (when one does)."""

    granted: Granted
    missing: tuple[str, ...] = ()
    persona: str = ""


def held_personas(facts: TokenFacts | None, catalog: Catalog) -> tuple[str, ...]:
    """The personas whose authorization group (`AuthGroup.X`) or template name (`AuthGroup_X`)
    is a scope of the token, in the catalog's order."""
    if facts is None or facts.format != "jwt":
        return ()
    held = facts.permissions
    return tuple(p.name for p in catalog.personas.values() if p.group in held or p.name in held)


def unknown_groups(facts: TokenFacts | None, catalog: Catalog) -> tuple[str, ...]:
    """The token's `AuthGroup.*` scopes that are no persona of the catalog (full scope names):
    what the tenant grants for them is unknown."""
    if facts is None or facts.format != "jwt":
        return ()
    known = {p.group for p in catalog.personas.values()}
    return tuple(scope for scope in facts.scopes
                 if (perm := scope.partition(".")[2]).startswith(GROUP_PREFIX)
                 and perm not in known)


def covers(persona: Persona, role: str) -> bool:
    """Whether `persona` grants `role`: it is the persona's own template or one of its tasks."""
    return role == persona.name or role in persona.covers


def reach(persona: Persona, catalog: Catalog) -> frozenset[str]:
    """Every permission the persona stands for: its group, the permissions of the templates it
    covers, and what SAP names for it beyond them."""
    perms = {persona.group, *persona.also}
    for name in (persona.name, *persona.covers):
        perms.update(catalog.roles[name].permissions or ())
    return frozenset(perms)


def holds_directly(role: str, facts: TokenFacts, catalog: Catalog) -> Grant:
    """What the token's own scopes say about `role`, personas aside."""
    if any(scope.endswith("." + role) for scope in facts.scopes):
        return Grant("yes")
    template = catalog.roles.get(role)
    needed = template.permissions if template is not None else (role,)
    if needed is None:
        return Grant("unknown")
    missing = tuple(p for p in needed if p not in facts.permissions)
    return Grant("no", missing) if missing else Grant("yes")


def grant(role: str, facts: TokenFacts | None, catalog: Catalog) -> Grant:
    """Whether the token grants `role` (a role template, or a Neo role by name)."""
    if facts is None or facts.format != "jwt":
        return Grant("unknown")
    direct = holds_directly(role, facts, catalog)
    if direct.granted == "yes":
        return direct
    persona = covering_persona(role, facts, catalog)
    if persona:
        return Grant("yes", persona=persona)
    if unknown_groups(facts, catalog):
        return Grant("unknown", direct.missing)
    return direct


def covering_persona(role: str, facts: TokenFacts | None, catalog: Catalog) -> str:
    """The first persona the token holds that covers `role` ('' when none does)."""
    for name in held_personas(facts, catalog):
        if covers(catalog.personas[name], role):
            return name
    return ""


def serving_persona(permissions: tuple[str, ...], role: str, facts: TokenFacts | None,
                    catalog: Catalog) -> str:
    """A persona the token holds that allows a call needing `permissions` without covering
    `role` ('' when none): then that call's success says nothing about `role`."""
    for name in held_personas(facts, catalog):
        persona = catalog.personas[name]
        if not covers(persona, role) and set(permissions) <= reach(persona, catalog):
            return name
    return ""
