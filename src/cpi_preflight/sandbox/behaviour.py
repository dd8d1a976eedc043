"""The sandbox's own table of SAP behaviour, loaded from `sap_behaviour.yaml`.

This is the test oracle: it is written from the reference independently of the product's catalog,
and nothing here may import `cpi_preflight.catalog`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True)
class EntitySet:
    """One served entity set: its paths and the permissions a caller needs to read it."""

    name: str
    paths: tuple[str, ...]
    spec: str
    cf_role_template: str | None
    neo_roles: tuple[str, ...]
    environments: tuple[str, ...]
    source: str
    confidence: str
    rejects_format_json: bool = False
    direct_query: str | None = None
    parent_field: str | None = None
    single_entity: bool = False  # the path names one entity (JmsBrokers('Broker1')), no collection
    required_query: str | None = None  # a query parameter the request must carry (else 400)


@dataclass(frozen=True)
class RoleTemplate:
    """A CF role template and the Neo-style permissions it puts into the token."""

    name: str
    permissions: tuple[str, ...]
    source: str
    confidence: str


@dataclass(frozen=True)
class TokenError:
    """One token-endpoint error answer, sent exactly as written."""

    status: int
    body: Mapping[str, str]
    www_authenticate: str | None
    confidence: str


@dataclass(frozen=True)
class Rejection:
    """How the API host refuses a request: status and OData error code."""

    status: int
    code: str
    message: str
    confidence: str


@dataclass(frozen=True)
class PlainAnswer:
    """A refusal that is not an OData error body: an HTML page or an empty body."""

    status: int
    body: str  # html | empty | text (the message) | login (a login form)
    title: str
    message: str
    www_authenticate: str | None
    confidence: str


@dataclass(frozen=True)
class RouterAnswer:
    """The Cloud Foundry router's own answer (no application behind the host)."""

    status: int
    content_type: str
    body: str  # `{host}` stands for the request's Host header
    headers: Mapping[str, str]
    confidence: str


@dataclass(frozen=True)
class EdgeApi:
    """The Edge Integration Cell's local OData API: its root and its refusals."""

    root: str
    without_local: str  # key of plain_answers
    not_exposed: str  # key of plain_answers


@dataclass(frozen=True)
class ProxyAnswer:
    """What the sandbox's forward proxy answers instead of forwarding."""

    status: int
    challenge: str | None
    title: str
    message: str
    confidence: str


@dataclass(frozen=True)
class FaultBehaviour:
    """What one profile fault simulates, and how sure the table is that SAP behaves so."""

    behaviour: str
    source: str
    confidence: str


@dataclass(frozen=True)
class Behaviour:
    """Everything the sandbox believes about SAP, as loaded from the YAML table."""

    entity_sets: Mapping[str, EntitySet]
    role_templates: Mapping[str, RoleTemplate]
    unmapped_role_templates: tuple[str, ...]
    unmapped_reason: str
    token_errors: Mapping[str, Mapping[str, TokenError]]
    known_grant_types: tuple[str, ...]
    api_rejections: Mapping[str, Rejection]
    plain_answers: Mapping[str, PlainAnswer]
    fault_behaviours: Mapping[str, FaultBehaviour]
    # environment -> persona group role -> the permissions the API honours for it
    persona_grants: Mapping[str, Mapping[str, frozenset[str]]]
    router: Mapping[str, RouterAnswer]
    edge: EdgeApi
    proxy_answers: Mapping[str, ProxyAnswer]

    @property
    def neo_role_names(self) -> tuple[str, ...]:
        """Every Neo role name the table mentions (for validating Neo specs)."""
        names = {p for t in self.role_templates.values() for p in t.permissions}
        names.update(r for e in self.entity_sets.values() for r in e.neo_roles)
        names.update(self.persona_grants.get("neo", {}))
        return tuple(sorted(names))

    def honoured(self, permissions: frozenset[str], environment: str) -> frozenset[str]:
        """The permissions the API honours for a caller holding `permissions`: each persona
        group role among them adds what the persona covers (see `personas` in the table)."""
        grants = self.persona_grants.get("neo" if environment == "neo" else "cf", {})
        derived = (grants[p] for p in permissions if p in grants)
        return permissions.union(*derived)

    def permissions_of(self, templates: Iterable[str]) -> frozenset[str]:
        """The union of the permissions the given role templates grant."""
        return frozenset(p for t in templates for p in self.role_templates[t].permissions)


def _entity_set(name: str, raw: Mapping[str, Any]) -> EntitySet:
    return EntitySet(
        name=name,
        paths=tuple(raw["paths"]),
        spec=str(raw["spec"]),
        cf_role_template=raw["cf_role_template"],
        neo_roles=tuple(raw["neo_roles"]),
        environments=tuple(raw["environments"]),
        source=str(raw["source"]),
        confidence=str(raw["confidence"]),
        rejects_format_json=bool(raw.get("rejects_format_json", False)),
        direct_query=raw.get("direct_query"),
        parent_field=raw.get("parent_field"),
        single_entity=bool(raw.get("single_entity", False)),
        required_query=raw.get("required_query"),
    )


def _role_template(name: str, raw: Mapping[str, Any]) -> RoleTemplate:
    return RoleTemplate(name, tuple(raw["permissions"]), str(raw["source"]),
                        str(raw["confidence"]))


def _token_error(raw: Mapping[str, Any]) -> TokenError:
    return TokenError(int(raw["status"]), dict(raw["body"]), raw.get("www_authenticate"),
                      str(raw["confidence"]))


def _plain_answer(raw: Mapping[str, Any]) -> PlainAnswer:
    return PlainAnswer(int(raw["status"]), str(raw["body"]), str(raw.get("title", "")),
                       str(raw.get("message", "")), raw.get("www_authenticate"),
                       str(raw["confidence"]))


def _persona_grants(raw: Mapping[str, Any]) -> dict[str, dict[str, frozenset[str]]]:
    return {env: {group: frozenset(perms) for group, perms in raw[env].items()}
            for env in ("cf", "neo")}


def _router_answer(raw: Mapping[str, Any]) -> RouterAnswer:
    return RouterAnswer(int(raw["status"]), str(raw["content_type"]), str(raw["body"]),
                        dict(raw["headers"]), str(raw["confidence"]))


def _proxy_answer(raw: Mapping[str, Any]) -> ProxyAnswer:
    return ProxyAnswer(int(raw["status"]), raw.get("challenge"), str(raw.get("title", "")),
                       str(raw.get("message", "")), str(raw["confidence"]))


def _from_mapping(raw: Mapping[str, Any]) -> Behaviour:
    unmapped = raw["unmapped_role_templates"]
    edge = raw["edge"]
    return Behaviour(
        entity_sets={n: _entity_set(n, v) for n, v in raw["entity_sets"].items()},
        role_templates={n: _role_template(n, v) for n, v in raw["role_templates"].items()},
        unmapped_role_templates=tuple(unmapped["names"]),
        unmapped_reason=str(unmapped["reason"]),
        token_errors={
            env: {kind: _token_error(v) for kind, v in errors.items()}
            for env, errors in raw["token_errors"].items()
        },
        known_grant_types=tuple(raw["known_grant_types"]),
        api_rejections={
            k: Rejection(int(v["status"]), str(v["code"]), str(v["message"]),
                         str(v["confidence"]))
            for k, v in raw["api_rejections"].items()
        },
        plain_answers={k: _plain_answer(v) for k, v in raw["plain_answers"].items()},
        fault_behaviours={
            k: FaultBehaviour(str(v["behaviour"]), str(v["source"]), str(v["confidence"]))
            for k, v in raw["fault_behaviours"].items()
        },
        persona_grants=_persona_grants(raw["personas"]),
        router={k: _router_answer(v) for k, v in raw["router"].items()},
        edge=EdgeApi(str(edge["root"]), str(edge["without_local"]), str(edge["not_exposed"])),
        proxy_answers={k: _proxy_answer(v) for k, v in raw["proxy_answers"].items()},
    )


def read_data_file(name: str) -> Any:
    """Parse one YAML file shipped inside this package."""
    text = resources.files("cpi_preflight.sandbox").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


@functools.cache
def load_behaviour() -> Behaviour:
    """The parsed `sap_behaviour.yaml` (cached: it never changes while running)."""
    return _from_mapping(read_data_file("sap_behaviour.yaml"))
