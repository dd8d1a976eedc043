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

ENVIRONMENTS = ("cf", "neo", "edge")
CREDENTIALS = ("secret", "certificate")
# Hosts the key's url may point at: the API, the UI (302 to a login page), XSUAA, and (issue 16)
# the runtime host, the Integration Suite host and a host the CF router has no route for.
API_URL_TARGETS = ("api", "ui", "xsuaa", "runtime", "integration_suite", "unknown_route")
TOKEN_URL_TARGETS = ("token", "api", "ui", "plain_authentication")
DEAD_HOSTS = ("none", "api", "token")
PROXIES = ("none", "auth_required", "block_page")
MAX_CLOCK_OFFSET_S = 10 * 24 * 3600
# Faults about the token endpoint; the Edge Integration Cell's local API has none.
TOKEN_FAULTS = ("grant_type_disabled", "integration_flow_plan", "foreign_zone", "token_url",
                "token_latency_ms", "expired_token", "pending_roles", "token_body_dropped",
                "instance_grant_types")
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
    # issue 16 (see `fault_behaviours` in sap_behaviour.yaml)
    client_cert_expired: bool = False  # the certificate key's client certificate has expired
    instance_grant_types: tuple[str, ...] | None = None  # the instance's grant-types; None: default
    too_many_requests: ServerErrors = field(default_factory=dict)  # "token" or entity set -> N
    retry_after_s: int = 1  # the Retry-After of every 429
    clock_offset_s: int = 0  # the tenant's clock minus this machine's
    proxy: str = "none"  # a forward proxy in front of every host: auth_required | block_page
    absent_entity_sets: tuple[str, ...] = ()  # entity sets this tenant does not have (404)
    count_accept_strict: bool = False  # $count answers 406 to an Accept without text/plain
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
        self.credential = "secret"
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
        self.credential = credential
        if credential == "certificate" and self.environment == "neo":
            raise self.fail("credential", "'certificate' is only possible on cf; Neo OAuth "
                            "clients authenticate with a client secret")
        roles = self.roles(data.get("roles", list(DEFAULT_ROLES)))
        faults = self.faults(data.get("faults"))
        self.check_credential_faults(faults, credential)
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
        if value and self.environment == "edge":
            raise self.fail("extra_scopes", "the Edge Integration Cell's local API takes no "
                            "token, so there are no scopes; name role templates in sandbox.roles")
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
        if self.environment != "neo" and value in self.neo_roles:
            raise self.fail(key, f"'{value}' is a Neo role; on {self.environment} name the role "
                            f"template that grants it{self.granting(value)}")
        noun = "roles" if self.environment == "neo" else "role templates"
        kind = "Neo role or role template" if self.environment == "neo" else "role template"
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
            if self.environment == "edge" and key in TOKEN_FAULTS:
                raise self.fail(f"faults.{key}", "the Edge Integration Cell's local API takes "
                                "Basic credentials or a client certificate; it has no token "
                                "endpoint")
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
        self.check_environment_faults(faults)
        return faults

    def check_environment_faults(self, faults: FaultSpec) -> None:
        """Faults that need a host or a token endpoint this environment does not have."""
        cf_hosts = ("xsuaa", "runtime", "integration_suite", "unknown_route")
        if self.environment != "cf" and faults.api_url in cf_hosts:
            raise self.fail("faults.api_url", f"'{faults.api_url}' is a Cloud Foundry host; "
                            f"on {self.environment} use api or ui")
        if self.environment == "edge" and faults.api_url != "api":
            raise self.fail("faults.api_url", "the Edge Integration Cell's local API has one "
                            "host, its virtual host; only 'api' is possible")
        if self.environment == "edge" and faults.dead_host == "token":
            raise self.fail("faults.dead_host", "the Edge Integration Cell's local API has no "
                            "token endpoint; only 'api' can be dead")
        if "token" in faults.too_many_requests and self.environment != "cf":
            raise self.fail("faults.too_many_requests.token", "only XSUAA's rate limit (429 "
                            "with Retry-After) is documented; cf only")
        if faults.instance_grant_types is not None and faults.grant_type_disabled:
            raise self.fail("faults.instance_grant_types", "grant_type_disabled already sets "
                            "the instance's grant types to none; use one of the two")
        if faults.instance_grant_types is not None and self.environment == "neo":
            raise self.fail("faults.instance_grant_types", "Neo OAuth clients have no "
                            "service instance; cf only")

    def check_credential_faults(self, faults: FaultSpec, credential: str) -> None:
        """Faults that only a certificate key can have."""
        if credential == "certificate":
            return
        if faults.client_cert_expired:
            raise self.fail("faults.client_cert_expired", "only a certificate key has a client "
                            "certificate; set sandbox.credential: certificate")
        if faults.token_url == "plain_authentication":
            raise self.fail("faults.token_url", "'plain_authentication' is the secret host; it "
                            "is a fault only for a certificate key (sandbox.credential: "
                            "certificate)")

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
        if key == "proxy":
            return self.choice(path, value, PROXIES)
        if key == "server_errors":
            return self.per_entity_set(path, value, self.error_count)
        if key == "too_many_requests":
            return self.per_entity_set(path, value, self.error_count, extra=("token",))
        if key == "retry_after_s":
            return self.count(path, value, low=0, what="seconds")
        if key == "clock_offset_s":
            return self.offset(path, value)
        if key == "instance_grant_types":
            return self.grant_types(path, value)
        if key == "connection_resets":
            return self.per_entity_set(path, value, self.reset_count)
        if key == "query_rejections":
            return self.per_entity_set(path, value, self.option_name)
        if key in ("access_policy", "unavailable_pages", "absent_entity_sets"):
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
        return self.known_names(path, value, list(self.behaviour.entity_sets), "entity set")

    def known_names(self, path: str, value: object, known: list[str],
                    noun: str) -> tuple[str, ...]:
        """A list (or comma-separated string) of names, each one of `known`."""
        found = []
        for i, name in enumerate(self.names(path, value)):
            if not isinstance(name, str) or name not in known:
                hint = _hint(name, known, f"{noun}s") if isinstance(name, str) else ""
                raise self.fail(f"{path}[{i}]", f"unknown {noun} {name!r}{hint}")
            found.append(name)
        return tuple(found)

    def option_name(self, key: str, value: object) -> object:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a query option such as '$top' or a parameter name "
                            f"such as 'id', got {value!r}")
        return value.strip()

    def per_entity_set(self, path: str, value: object, check: _Check,
                       extra: tuple[str, ...] = ()) -> dict[str, object]:
        data = self.mapping(path, {} if value is None else value)
        names = [*extra, *self.behaviour.entity_sets]
        for name in data:
            if name not in names:
                raise self.fail(f"{path}.{name}", "unknown entity set"
                                + _hint(name, names, "entity sets"))
        return {name: check(f"{path}.{name}", v) for name, v in data.items()}

    def offset(self, key: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or (
                abs(value) > MAX_CLOCK_OFFSET_S):
            raise self.fail(key, f"expected seconds between -{MAX_CLOCK_OFFSET_S} and "
                            f"{MAX_CLOCK_OFFSET_S} (the tenant's clock minus this machine's, "
                            f"e.g. -46800 for 13 hours behind), got {value!r}")
        return value

    def grant_types(self, key: str, value: object) -> tuple[str, ...]:
        return self.known_names(key, value, list(self.behaviour.known_grant_types), "grant type")

    def error_count(self, key: str, value: object) -> object:
        if value == "always":
            return "always"
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(key, f"expected a number of requests >= 1 or 'always', got {value!r}")
        return value

    def reset_count(self, key: str, value: object) -> object:
        return self.count(key, value, low=1, what="a number of requests")
