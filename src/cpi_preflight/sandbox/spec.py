"""`SandboxSpec`: the `sandbox:` section of a profile, validated into what the sandbox simulates.

Every problem raises `SandboxSpecError` naming the source file, the full key path, the bad value
and, where one is close, the valid name that was probably meant.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cpi_preflight.errors import SandboxSpecError
from cpi_preflight.sandbox.behaviour import Behaviour, load_behaviour

ENVIRONMENTS = ("cf", "neo")
CREDENTIALS = ("secret", "certificate")
API_URL_TARGETS = ("api", "ui", "xsuaa")
TOKEN_URL_TARGETS = ("token", "api", "ui")
DEAD_HOSTS = ("none", "api", "token")
TOP_KEYS = ("roles", "credential", "faults", "extra_scopes", "http2")
# A permission name as it follows the "<xsappname>." prefix of a scope.
PERMISSION = re.compile(r"[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")
# A healthy tenant whose client reads monitoring, workspace, data-store and access-policy data
# (every served entity set except the Partner Directory, which needs a compound role).
DEFAULT_ROLES = ("MonitoringDataRead", "WorkspacePackagesRead", "DataStoresAndQueuesRead",
                 "AccessPoliciesRead")

ServerErrors = Mapping[str, int | Literal["always"]]
_Check = Callable[[str, object], object]


@dataclass(frozen=True)
class FaultSpec:
    """The faults to simulate; the defaults describe a healthy tenant."""

    wrong_secret: bool = False
    grant_type_disabled: bool = False
    integration_flow_plan: bool = False
    foreign_zone: bool = False
    api_url: str = "api"
    token_url: str = "token"
    server_errors: ServerErrors = field(default_factory=dict)
    latency_ms: int = 0
    token_latency_ms: int = 0
    connection_resets: Mapping[str, int] = field(default_factory=dict)
    expired_token: bool = False
    dead_host: str = "none"
    # 403 although the token carries the scopes (see `fault_behaviours` in sap_behaviour.yaml)
    access_policy: tuple[str, ...] = ()  # entity sets whose artifacts an access policy protects
    pending_roles: tuple[str, ...] = ()  # granted role templates the tenant does not honour yet
    query_rejections: Mapping[str, str] = field(default_factory=dict)  # entity set -> option
    unavailable_pages: tuple[str, ...] = ()  # entity sets behind a persistent HTML 503 page
    token_body_dropped: bool = False  # something in front of XSUAA drops the POST body
    broken_http2: bool = False  # HTTP/2 is offered, but the first request drops the connection


FAULT_KEYS = tuple(FaultSpec.__dataclass_fields__)


@dataclass(frozen=True)
class SandboxSpec:
    """What one simulated tenant grants and how it misbehaves."""

    environment: str
    roles: tuple[str, ...] = DEFAULT_ROLES
    credential: str = "secret"
    faults: FaultSpec = field(default_factory=FaultSpec)
    source: str = "<sandbox spec>"
    extra_scopes: tuple[str, ...] = ()  # permissions the token carries beyond its templates
    http2: bool = False  # the hosts offer HTTP/2 through ALPN (as SAP BTP's CF routing does)

    @property
    def offers_http2(self) -> bool:
        """Whether the hosts offer HTTP/2 (`http2`, or the fault that breaks it)."""
        return self.http2 or self.faults.broken_http2

    @classmethod
    def from_mapping(
        cls, mapping: object, *, environment: str, source: str = "<sandbox spec>",
    ) -> SandboxSpec:
        """Validate a `sandbox:` mapping (None means all defaults) for `environment`."""
        return _Parser(source, environment).spec(mapping)

    def permissions(self) -> frozenset[str]:
        """The Neo-style permissions the simulated client holds (its token scopes or Neo roles)."""
        return self._permissions_of(self.roles) | frozenset(self.extra_scopes)

    def effective_permissions(self) -> frozenset[str]:
        """The permissions the API honours: the pending roles' own ones are not honoured yet."""
        return self._permissions_of(tuple(r for r in self.roles
                                          if r not in self.faults.pending_roles)
                                    ) | frozenset(self.extra_scopes)

    @staticmethod
    def _permissions_of(roles: tuple[str, ...]) -> frozenset[str]:
        behaviour = load_behaviour()
        templates = [r for r in roles if r in behaviour.role_templates]
        direct = [r for r in roles if r not in behaviour.role_templates]
        return behaviour.permissions_of(templates) | frozenset(direct)


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The valid name most similar to `word`, if any is reasonably close."""
    by_lower = {c.lower(): c for c in choices}
    prefixed = [c for low, c in by_lower.items() if low.startswith(word.lower())]
    if len(prefixed) == 1 and word:
        return prefixed[0]
    found = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[found[0]] if found else None


def _hint(word: str, choices: Iterable[str], noun: str) -> str:
    options = list(choices)
    match = closest(word, options)
    if match:
        return f"; did you mean '{match}'?"
    return f"; valid {noun}: {', '.join(options)}"


class _Parser:
    """Validates one mapping, remembering where it came from for error messages."""

    def __init__(self, source: str, environment: str) -> None:
        self.source = source
        self.environment = environment
        self.behaviour: Behaviour = load_behaviour()

    def fail(self, key: str, problem: str) -> SandboxSpecError:
        where = f"sandbox.{key}" if key else "sandbox"
        return SandboxSpecError(f"{self.source}: {where}: {problem}")

    def spec(self, mapping: object) -> SandboxSpec:
        if self.environment not in ENVIRONMENTS:
            raise SandboxSpecError(f"{self.source}: environment: '{self.environment}' is not one "
                                   f"of {', '.join(ENVIRONMENTS)}")
        data = self.mapping("", {} if mapping is None else mapping)
        for key in data:
            if key not in TOP_KEYS:
                raise self.fail(key, "unknown key" + _hint(key, TOP_KEYS, "keys"))
        credential = self.choice("credential", data.get("credential", "secret"), CREDENTIALS)
        if credential == "certificate" and self.environment == "neo":
            raise self.fail("credential", "'certificate' is only possible on cf; Neo OAuth "
                            "clients authenticate with a client secret")
        roles = self.roles(data.get("roles", list(DEFAULT_ROLES)))
        faults = self.faults(data.get("faults"))
        for i, role in enumerate(faults.pending_roles):
            if role not in roles:
                raise self.fail(f"faults.pending_roles[{i}]", f"'{role}' is not in sandbox.roles; "
                                "only a granted role can be not yet effective")
        return SandboxSpec(self.environment, roles, credential, faults, self.source,
                           self.extra_scopes(data.get("extra_scopes", [])),
                           self.flag("http2", data.get("http2", False)))

    def mapping(self, key: str, value: object) -> dict[str, object]:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise self.fail(key, f"expected a mapping, got {value!r}")
        return value

    def choice(self, key: str, value: object, choices: tuple[str, ...]) -> str:
        if isinstance(value, str) and value in choices:
            return value
        hint = _hint(value, choices, "values") if isinstance(value, str) else ""
        raise self.fail(key, f"{value!r} is not one of {', '.join(choices)}{hint}")

    def flag(self, key: str, value: object) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {value!r}")
        return value

    def count(self, key: str, value: object, *, low: int, what: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise self.fail(key, f"expected {what} (a whole number >= {low}), got {value!r}")
        return value

    def roles(self, value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list):
            raise self.fail("roles", f"expected a list of role names, got {value!r}")
        return tuple(self.role(f"roles[{i}]", item) for i, item in enumerate(value))

    def extra_scopes(self, value: object) -> tuple[str, ...]:
        """Permissions the simulated token carries beyond its role templates (cf only)."""
        if value and self.environment != "cf":
            raise self.fail("extra_scopes", "only a cf token carries scopes; on neo name the "
                            "Neo roles in sandbox.roles")
        if not isinstance(value, list):
            raise self.fail("extra_scopes", f"expected a list of permission names, got {value!r}")
        for i, item in enumerate(value):
            if not isinstance(item, str) or not PERMISSION.fullmatch(item):
                raise self.fail(f"extra_scopes[{i}]", f"expected a permission name such as "
                                f"'Custom.Read' (the part after '<xsappname>.'), got {item!r}")
        return tuple(value)

    def role(self, key: str, value: object) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"expected a role name, got {value!r}")
        known = self.behaviour.role_templates
        if value in known or (self.environment == "neo" and value in self.neo_roles):
            return value
        if value in self.behaviour.unmapped_role_templates:
            raise self.fail(key, f"role template '{value}' {self.behaviour.unmapped_reason}")
        if self.environment == "cf" and value in self.neo_roles:
            raise self.fail(key, f"'{value}' is a Neo role; on cf name the role template that "
                            f"grants it{self.granting(value)}")
        noun = "role templates" if self.environment == "cf" else "roles"
        kind = "role template" if self.environment == "cf" else "Neo role or role template"
        valid = list(known) + (list(self.neo_roles) if self.environment == "neo" else [])
        raise self.fail(key, f"unknown {kind} '{value}'" + _hint(value, valid, noun))

    @property
    def neo_roles(self) -> tuple[str, ...]:
        return self.behaviour.neo_role_names

    def granting(self, permission: str) -> str:
        names = [t.name for t in self.behaviour.role_templates.values()
                 if permission in t.permissions]
        return f" (e.g. '{names[0]}')" if names else ""

    def faults(self, value: object) -> FaultSpec:
        if value is None:
            return FaultSpec()
        data = self.mapping("faults", value)
        for key in data:
            if key not in FAULT_KEYS:
                raise self.fail(f"faults.{key}", "unknown fault" + _hint(key, FAULT_KEYS, "faults"))
        values: dict[str, Any] = {k: self.fault(k, v) for k, v in data.items()}
        faults = FaultSpec(**values)
        if faults.integration_flow_plan and self.environment == "neo":
            raise self.fail("faults.integration_flow_plan",
                            "the integration-flow plan exists on cf only")
        if faults.token_body_dropped and self.environment == "neo":
            raise self.fail("faults.token_body_dropped", "the Neo token request carries its "
                            "grant type in the query string, not in a body; cf only")
        if faults.pending_roles and self.environment == "neo":
            raise self.fail("faults.pending_roles", "Neo tokens carry no scopes; a role that "
                            "is not effective yet is simply a missing role there")
        return faults

    def fault(self, key: str, value: object) -> object:
        path = f"faults.{key}"
        if key in ("latency_ms", "token_latency_ms"):
            return self.count(path, value, low=0, what="milliseconds")
        if key == "api_url":
            return self.choice(path, value, API_URL_TARGETS)
        if key == "token_url":
            return self.choice(path, value, TOKEN_URL_TARGETS)
        if key == "dead_host":
            return self.choice(path, value, DEAD_HOSTS)
        if key == "server_errors":
            return self.per_entity_set(path, value, self.error_count)
        if key == "connection_resets":
            return self.per_entity_set(path, value, self.reset_count)
        if key == "query_rejections":
            return self.per_entity_set(path, value, self.option_name)
        if key in ("access_policy", "unavailable_pages"):
            return self.entity_sets(path, value)
        if key == "pending_roles":
            names = self.names(path, value)
            return tuple(self.role(f"{path}[{i}]", r) for i, r in enumerate(names))
        return self.flag(path, value)

    def names(self, path: str, value: object) -> list[object]:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list of names, got {value!r}")
        return value

    def entity_sets(self, path: str, value: object) -> tuple[str, ...]:
        names = self.behaviour.entity_sets
        found = []
        for i, name in enumerate(self.names(path, value)):
            if not isinstance(name, str) or name not in names:
                hint = _hint(name, names, "entity sets") if isinstance(name, str) else ""
                raise self.fail(f"{path}[{i}]", f"unknown entity set {name!r}{hint}")
            found.append(name)
        return tuple(found)

    def option_name(self, key: str, value: object) -> object:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a query option such as '$top' or a parameter name "
                            f"such as 'id', got {value!r}")
        return value.strip()

    def per_entity_set(self, path: str, value: object, check: _Check) -> dict[str, object]:
        data = self.mapping(path, {} if value is None else value)
        names = self.behaviour.entity_sets
        for name in data:
            if name not in names:
                raise self.fail(f"{path}.{name}", "unknown entity set"
                                + _hint(name, names, "entity sets"))
        return {name: check(f"{path}.{name}", v) for name, v in data.items()}

    def error_count(self, key: str, value: object) -> object:
        if value == "always":
            return "always"
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(key, f"expected a number of requests >= 1 or 'always', got {value!r}")
        return value

    def reset_count(self, key: str, value: object) -> object:
        return self.count(key, value, low=1, what="a number of requests")
