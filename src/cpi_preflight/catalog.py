"""The shipped knowledge: roles, Neo roles, endpoints and failure codes, loaded from data files.

Nothing here decides anything about a run; it only answers questions such as "which role does
MessageProcessingLogs need?" or "what is the fix text for ROLE_MISSING on Neo?".
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, cached_property
from importlib import resources
from typing import Any

import yaml

from cpi_preflight import fixes
from cpi_preflight.errors import CatalogError

ENVIRONMENTS = ("cf", "neo")
ENVIRONMENT_NAMES = {"cf": "Cloud Foundry", "neo": "Neo"}
# libyaml's loader when PyYAML has it: the shipped data is trusted and read on every run.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Role:
    """A CF role template of the api plan and the permissions it puts into a token."""

    name: str
    permissions: tuple[str, ...] | None
    proof: str | None
    confidence: str
    source: str
    note: str = ""


@dataclass(frozen=True)
class Endpoint:
    """A read-only call to the CPI OData API and the authorization it needs."""

    name: str
    path: str
    query: tuple[tuple[str, str], ...]
    role: str
    neo_roles: tuple[str, ...]
    environments: tuple[str, ...]
    confidence: str
    source: str
    note: str
    unprobeable: str = ""  # why the endpoint is never called; empty when it is
    accept: str = "application/json"  # the Accept header the probe sends
    area: str = ""  # SAP's task area of its role: design or monitor

    def request_text(self, root: str = "") -> str:
        """`GET <root>/Path?$top=1`, the read-only request a check sends (`root`: `/api/v1`
        for the path on the API host, empty for the path relative to it)."""
        query = "&".join(f"{k}={v}" for k, v in self.query)
        return f"GET {root}{self.path}" + (f"?{query}" if query else "")


@dataclass(frozen=True)
class Persona:
    """A persona role template (`AuthGroup_*`): the one scope its token carries, and the role
    templates SAP's tasks table marks as part of the persona."""

    name: str  # the role template, AuthGroup_IntegrationDeveloper
    group: str  # the authorization group, the scope's permission: AuthGroup.IntegrationDeveloper
    persona: str  # as SAP's Persona column names it
    covers: tuple[str, ...]  # role templates of the rows that name the persona
    also: tuple[str, ...]  # permissions SAP names for the persona beyond those rows
    confidence: str
    source: str
    also_source: str = ""
    note: str = ""


@dataclass(frozen=True)
class Notice:
    """A dated notice SAP publishes about an environment (Neo's announced end of life)."""

    environment: str
    text: str
    date: str
    confidence: str
    source: str
    note: str = ""


@dataclass(frozen=True)
class NotEndpoint:
    """An entity set of SAP's API that is not an endpoint here, and the endpoint that checks the
    role it needs instead."""

    name: str
    checked_by: str
    reason: str
    source: str


class Severity(StrEnum):
    """How a finding counts: a failure fails its check, a warning is shown (fails with
    --strict)."""

    FAILURE = "failure"
    WARNING = "warning"


@dataclass(frozen=True)
class Code:
    """A failure or warning code with its cause and fix texts."""

    name: str
    severity: Severity
    title: str
    cause: str
    fix: dict[str, str]
    source: str  # where the facts were found, for maintainers (not shown to users)
    cites: tuple[str, ...] = ()  # tags of `Catalog.documents`: what users are shown

    def fix_for(self, environment: str) -> str:
        """The fix text template for `environment`, falling back to the generic one."""
        return self.fix.get(environment) or self.fix.get("any") or next(iter(self.fix.values()))


@dataclass(frozen=True)
class Catalog:
    """All shipped knowledge, with lookups that suggest the closest valid name."""

    roles: dict[str, Role]
    neo_roles: tuple[str, ...]
    endpoints: dict[str, Endpoint]
    codes: dict[str, Code]
    sources: dict[str, str]
    scope_readings: tuple[str, ...]
    neutral_permissions: frozenset[str] = frozenset()
    personas: dict[str, Persona] = field(default_factory=dict)
    notices: tuple[Notice, ...] = ()
    area_words: dict[str, tuple[str, ...]] = field(default_factory=dict)
    not_endpoints: dict[str, NotEndpoint] = field(default_factory=dict)
    documents: dict[str, str] = field(default_factory=dict)  # codes.yaml: tag -> citation

    def citations(self, code: Code) -> list[str]:
        """What a user can look up for `code`: titles of SAP documents, URLs (codes.yaml)."""
        return [self.documents[tag] for tag in code.cites]

    @cached_property
    def names(self) -> frozenset[str]:
        """Every name the catalog knows: role templates (personas included), Neo roles and
        entity sets; what a fix shows as a name rather than as quoted data (`fixes`)."""
        return frozenset({*self.roles, *self.neo_roles, *self.endpoints})

    def endpoints_needing(self, role: str) -> list[Endpoint]:
        """Endpoints whose CF role template is `role` (or whose Neo roles include it)."""
        return [e for e in self.endpoints.values() if role == e.role or role in e.neo_roles]

    def templates_with(self, permission: str) -> list[str]:
        """Role templates whose permission set holds `permission`, that are named so, or whose
        persona's authorization group it is."""
        groups = {p.group: p.name for p in self.personas.values()}
        return [r.name for r in self.roles.values()
                if permission == r.name or permission in (r.permissions or ())
                or groups.get(permission) == r.name]

    def notices_for(self, environment: str) -> tuple[Notice, ...]:
        """The notices SAP publishes about `environment` (Neo's announced end of life)."""
        return tuple(n for n in self.notices if n.environment == environment)

    def area_of(self, name: str) -> str | None:
        """The area (design, monitor) of entity set `name`: the catalog's for an endpoint, else
        the one a word of its name tells (`area_words`), else None."""
        if name in self.endpoints:
            return self.endpoints[name].area
        for area, words in self.area_words.items():
            if any(word.lower() in name.lower() for word in words):
                return area
        return None

    def closest_endpoint(self, name: str) -> str | None:
        """The endpoint a mistyped entity set `name` most likely means: only one of the same area
        when the name tells its area (a design-time read is never offered a runtime one), and
        only a near spelling (`TYPO_CUTOFF`), not merely a similar name."""
        area = self.area_of(name)
        same = [n for n, e in self.endpoints.items() if area is None or e.area == area]
        return closest(name, same, cutoff=TYPO_CUTOFF)

    def code(self, name: str) -> Code:
        """The code called `name`; a missing one is our bug."""
        try:
            return self.codes[name]
        except KeyError:
            raise CatalogError(f"failure code {name} is not defined in data/codes.yaml") from None

    def source_text(self, tag: str) -> str:
        """The full citation for a source tag."""
        return self.sources.get(tag, tag)


TYPO_CUTOFF = 0.8  # IntegrationPackage -> IntegrationPackages; Keystores is not KeystoreEntries


def closest(name: str, candidates: list[str] | tuple[str, ...], *,
            cutoff: float = 0.6) -> str | None:
    """The candidate most like `name`, if any is close enough to suggest (difflib's ratio of
    at least `cutoff`)."""
    by_lower = {c.lower(): c for c in candidates}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    found = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[found[0]] if found else None


def _read_data(name: str) -> dict[str, Any]:
    text = resources.files("cpi_preflight").joinpath("data", name).read_text(encoding="utf-8")
    data = yaml.load(text, Loader=SAFE_LOADER)
    if not isinstance(data, dict):
        raise CatalogError(f"data/{name} must hold a mapping")
    return data


def _role(name: str, raw: dict[str, Any]) -> Role:
    perms = raw.get("permissions")
    return Role(
        name=name,
        permissions=None if perms is None else tuple(perms),
        proof=raw.get("proof"),
        confidence=raw["confidence"],
        source=raw["source"],
        note=raw.get("note", ""),
    )


def _endpoint(name: str, raw: dict[str, Any]) -> Endpoint:
    return Endpoint(
        name=name,
        path=raw["path"],
        query=tuple((str(k), str(v)) for k, v in (raw.get("query") or {}).items()),
        role=raw["role"],
        neo_roles=tuple(raw["neo_roles"]),
        environments=tuple(raw["environments"]),
        confidence=raw["confidence"],
        source=raw["source"],
        note=raw.get("note", ""),
        unprobeable=raw.get("unprobeable", ""),
        accept=raw.get("accept", "application/json"),
        area=raw["area"],
    )


def _not_endpoint(name: str, raw: dict[str, Any]) -> NotEndpoint:
    return NotEndpoint(name=name, checked_by=raw["checked_by"], reason=raw["reason"],
                       source=raw["source"])


def _persona(name: str, raw: dict[str, Any]) -> Persona:
    return Persona(name=name, group=raw["group"], persona=raw["persona"],
                   covers=tuple(raw["covers"]), also=tuple(raw.get("also") or ()),
                   confidence=raw["confidence"], source=raw["source"],
                   also_source=raw.get("also_source", ""), note=raw.get("note", ""))


def _notice(raw: dict[str, Any]) -> Notice:
    return Notice(environment=raw["environment"], text=raw["text"], date=str(raw["date"]),
                  confidence=raw["confidence"], source=raw["source"], note=raw.get("note", ""))


PHRASE = re.compile(r"\{phrase:([a-z_]+)\}")


def _with_phrases(code: str, text: str, phrases: dict[str, str]) -> str:
    """`text` with each `{phrase:NAME}` replaced by the shared sentence NAME of codes.yaml."""
    def sentence(match: re.Match[str]) -> str:
        if match.group(1) not in phrases:
            raise CatalogError(f"code {code} in data/codes.yaml uses an unknown phrase "
                               f"{match.group(0)}; known: {', '.join(phrases)}")
        return phrases[match.group(1)]
    return PHRASE.sub(sentence, text)


def _code(name: str, raw: dict[str, Any], phrases: dict[str, str] | None = None) -> Code:
    fix = {env: _with_phrases(name, text, phrases or {}) for env, text in raw["fix"].items()}
    for text in fix.values():
        fixes.check_template(name, text)
    return Code(
        name=name,
        severity=_severity(name, raw["severity"]),
        title=raw["title"],
        cause=raw["cause"],
        fix=fix,
        source=raw["source"],
        cites=tuple(raw.get("cites") or ()),
    )


def _severity(name: str, value: Any) -> Severity:
    try:
        return Severity(value)
    except ValueError:
        raise CatalogError(f"code {name} in data/codes.yaml has severity {value!r}; expected "
                           f"one of {', '.join(Severity)}") from None


def _check(catalog: Catalog) -> None:
    for endpoint in catalog.endpoints.values():
        if endpoint.area not in catalog.area_words:
            raise CatalogError(f"endpoint {endpoint.name} has area {endpoint.area!r}; expected "
                               f"one of {', '.join(catalog.area_words)}")
        if endpoint.role not in catalog.roles:
            raise CatalogError(f"endpoint {endpoint.name} needs unknown role {endpoint.role}")
        unknown = set(endpoint.neo_roles) - set(catalog.neo_roles)
        if unknown:
            raise CatalogError(f"endpoint {endpoint.name} needs unknown Neo roles {unknown}")
    for role in catalog.roles.values():
        if role.proof is not None and role.proof not in catalog.endpoints:
            raise CatalogError(f"role {role.name} is proven by unknown endpoint {role.proof}")
        unknown = set(role.permissions or ()) - set(catalog.neo_roles)
        if unknown:
            raise CatalogError(f"role {role.name} lists permissions that are not Neo roles: "
                               f"{sorted(unknown)}")
    for other in catalog.not_endpoints.values():
        if other.checked_by not in catalog.endpoints or other.name in catalog.endpoints:
            raise CatalogError(f"not_endpoints: {other.name} is an endpoint, or is checked by "
                               f"unknown endpoint {other.checked_by}")
    _check_personas(catalog)
    for code in catalog.codes.values():
        unknown = set(code.cites) - set(catalog.documents)
        if unknown or not code.cites:
            raise CatalogError(f"code {code.name} in data/codes.yaml cites unknown documents "
                               f"{sorted(unknown)}" if unknown else
                               f"code {code.name} in data/codes.yaml cites no document")


def _check_personas(catalog: Catalog) -> None:
    for persona in catalog.personas.values():
        if persona.name not in catalog.roles:
            raise CatalogError(f"persona {persona.name} is not a role template")
        unknown = set(persona.covers) - set(catalog.roles)
        if unknown:
            raise CatalogError(f"persona {persona.name} covers unknown role templates "
                               f"{sorted(unknown)}")
        unknown = {persona.group, *persona.also} - set(catalog.neo_roles)
        if unknown:
            raise CatalogError(f"persona {persona.name} names permissions that are not Neo "
                               f"roles: {sorted(unknown)}")


@cache
def load() -> Catalog:
    """Read and cross-check the shipped catalog and codes (once per process)."""
    data = _read_data("catalog.yaml")
    codes = _read_data("codes.yaml")
    phrases = {str(k): str(v) for k, v in (codes.get("phrases") or {}).items()}
    catalog = Catalog(
        roles={n: _role(n, r) for n, r in data["roles"].items()},
        neo_roles=tuple(data["neo_roles"]),
        endpoints={n: _endpoint(n, e) for n, e in data["endpoints"].items()},
        codes={n: _code(n, c, phrases) for n, c in codes["codes"].items()},
        sources=dict(data["sources"]),
        scope_readings=tuple(r["reading"] for r in data["scope_readings"]),
        neutral_permissions=frozenset(data["neutral_permissions"]["names"]),
        personas={n: _persona(n, p) for n, p in data["personas"].items()},
        notices=tuple(_notice(n) for n in data["notices"]),
        area_words={a: tuple(w) for a, w in data["area_words"]["words"].items()},
        not_endpoints={n: _not_endpoint(n, e) for n, e in data["not_endpoints"].items()},
        documents={str(k): str(v) for k, v in (codes.get("documents") or {}).items()},
    )
    _check(catalog)
    return catalog
