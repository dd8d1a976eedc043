"""What to verify for a profile: the checks (pytest items) and the calls that answer them.

A plan is derived from the profile and the catalog only. Roles come from `required_roles` and
from what the listed endpoints need (on Cloud Foundry); each role gets a read-only proof call when
the catalog knows one and the profile does not already call an endpoint that needs the role.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cpi_preflight import hosts
from cpi_preflight.catalog import Catalog, Endpoint
from cpi_preflight.hosts import WrongHost
from cpi_preflight.profile import Profile


class CheckKind(StrEnum):
    """What a check is about; each kind has one rule (`rules.rule`)."""

    TOKEN = "token"
    API = "api"
    ROLE = "role"
    ENDPOINT = "endpoint"
    LEAST_PRIVILEGE = "least-privilege"
    TLS_EXPIRY = "tls-expiry"
    CREDENTIAL_EXPIRY = "credential-expiry"
    DRIFT = "drift"


# the ids of the checks a profile has at most one of
TOKEN = "token"
API = "api"
LEAST_PRIVILEGE = "least-privilege"
TLS_EXPIRY = "tls-expiry"
CREDENTIAL_EXPIRY = "credential-expiry"
DRIFT = "drift"


@dataclass(frozen=True)
class Check:
    """One verifiable statement about a profile; one pytest item and one JUnit testcase."""

    id: str
    kind: CheckKind
    subject: str
    title: str
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """The checks of one profile and the endpoints the probe must call for them."""

    profile: Profile
    checks: tuple[Check, ...]
    endpoints: tuple[Endpoint, ...]
    roles: tuple[str, ...]
    proof_for: dict[str, str]
    # what the URLs' shapes tell before any call (hosts.yaml): an API host that is not the API,
    # a token URL a certificate client cannot use; the calls to it are not made
    wrong_api_host: WrongHost | None = None
    wrong_token_url: WrongHost | None = None

    def check(self, check_id: str) -> Check:
        """The check with id `check_id`."""
        return next(c for c in self.checks if c.id == check_id)

    @property
    def calls(self) -> tuple[Endpoint, ...]:
        """The endpoints the probe calls: all but those the catalog marks as not probe-able,
        and none on an API host known not to be the API."""
        if self.wrong_api_host is not None:
            return ()
        return tuple(e for e in self.endpoints if not e.unprobeable)


def role_check_id(role: str) -> str:
    """`role[MonitoringDataRead]`."""
    return f"role[{role}]"


def endpoint_check_id(name: str) -> str:
    """`endpoint[MessageProcessingLogs]`."""
    return f"endpoint[{name}]"


def roles_to_verify(profile: Profile, catalog: Catalog) -> tuple[str, ...]:
    """Required roles plus, on Cloud Foundry, the role templates the endpoints need."""
    roles = list(profile.required_roles)
    if profile.environment == "cf":
        roles += [catalog.endpoints[name].role for name in profile.endpoints]
    return tuple(dict.fromkeys(roles))


def neo_roles_of(role: str, catalog: Catalog) -> tuple[str, ...]:
    """The Neo roles a named role stands for: itself, or a CF template's permissions."""
    template = catalog.roles.get(role)
    if template is not None and template.permissions is not None:
        return template.permissions
    return (role,)


def api_neo_roles(role: str, catalog: Catalog) -> tuple[str, ...]:
    """The Neo roles of `role` that some API call needs: only those can a call prove.

    A template may carry permissions the OData API never asks for (MonitoringDataRead's
    Roles.Read lets the web UI show user roles); on Neo those cannot be checked at all.
    """
    used = {neo for endpoint in catalog.endpoints.values() for neo in endpoint.neo_roles}
    return tuple(neo for neo in neo_roles_of(role, catalog) if neo in used)


def covers(endpoint: Endpoint, role: str, environment: str, catalog: Catalog) -> bool:
    """Whether a successful call to `endpoint` shows that `role` is granted."""
    if environment == "cf":
        return endpoint.role == role
    needed = set(api_neo_roles(role, catalog))
    return bool(needed) and needed <= set(endpoint.neo_roles)


def _proof_endpoint(role: str, environment: str, catalog: Catalog) -> Endpoint | None:
    template = catalog.roles.get(role)
    if template is not None and template.proof is not None:
        candidate = catalog.endpoints[template.proof]
        if covers(candidate, role, environment, catalog):
            return candidate
    fitting = [e for e in catalog.endpoints.values() if environment in e.environments
               and not e.unprobeable and covers(e, role, environment, catalog)]
    fitting.sort(key=lambda e: (len(e.neo_roles), e.confidence != "documented"))
    return fitting[0] if fitting else None


def _best_proof(role: str, endpoints: list[Endpoint], environment: str,
                catalog: Catalog) -> Endpoint | None:
    """The call that proves `role` most directly.

    On Cloud Foundry any listed endpoint of the role template will do. On Neo a 403 only says
    that one of the endpoint's Neo roles is missing, so the endpoint needing the fewest other
    roles wins, even if the catalog has to add it to the calls.
    """
    covering = [e for e in endpoints
                if not e.unprobeable and covers(e, role, environment, catalog)]
    fallback = _proof_endpoint(role, environment, catalog)
    if environment == "cf":
        return covering[0] if covering else fallback
    candidates = covering + ([fallback] if fallback is not None else [])
    return min(candidates, key=lambda e: len(e.neo_roles), default=None)


def _endpoints_and_proofs(profile: Profile, catalog: Catalog,
                          roles: tuple[str, ...]) -> tuple[list[Endpoint], dict[str, str]]:
    endpoints = [catalog.endpoints[name] for name in profile.endpoints]
    proof_for: dict[str, str] = {}
    for role in roles:
        proof = _best_proof(role, endpoints, profile.environment, catalog)
        if proof is None:
            continue
        proof_for[role] = proof.name
        if proof not in endpoints:
            endpoints.append(proof)
    return endpoints, proof_for


def _role_title(role: str, proof: str | None) -> str:
    how = f", proven by GET {proof}" if proof else ""
    return f"role {role} is granted{how}"


def _posture_checks(profile: Profile, with_baseline: bool) -> list[Check]:
    checks = [Check(TLS_EXPIRY, CheckKind.TLS_EXPIRY, "server certificates",
                    "server certificates of token and API hosts are not about to expire")]
    if profile.environment == "cf":
        checks.insert(0, Check(LEAST_PRIVILEGE, CheckKind.LEAST_PRIVILEGE, "roles",
                               "the token carries no permissions beyond what the required "
                               "roles need", (TOKEN,)))
    if profile.uses_certificate:
        checks.append(Check(CREDENTIAL_EXPIRY, CheckKind.CREDENTIAL_EXPIRY,
                            str(profile.certificate or "client certificate"),
                            "the client certificate is not about to expire"))
    if with_baseline:
        checks.append(Check(DRIFT, CheckKind.DRIFT, "baseline",
                            "roles and endpoints are as in the baseline run", (TOKEN,)))
    return checks


def build(profile: Profile, catalog: Catalog, *, with_baseline: bool = False) -> Plan:
    """Plan the checks and calls for `profile`."""
    roles = roles_to_verify(profile, catalog)
    endpoints, proof_for = _endpoints_and_proofs(profile, catalog, roles)
    checks = [
        Check(TOKEN, CheckKind.TOKEN, profile.token_url, f"token endpoint issues a token for "
              f"{profile.client_id or 'the client'}"),
        Check(API, CheckKind.API, profile.api_root,
              "API URL answers as the Cloud Integration API", (TOKEN,)),
    ]
    checks += [Check(role_check_id(r), CheckKind.ROLE, r, _role_title(r, proof_for.get(r)),
                     (TOKEN,)) for r in roles]
    checks += [Check(endpoint_check_id(e.name), CheckKind.ENDPOINT, e.name,
                     f"GET {e.path} answers", (TOKEN, API)) for e in endpoints]
    checks += _posture_checks(profile, with_baseline)
    return Plan(profile, tuple(checks), tuple(endpoints), roles, proof_for,
                hosts.wrong_api_host(profile.api_url), _wrong_token_url(profile))


def _wrong_token_url(profile: Profile) -> WrongHost | None:
    """A certificate client's token URL that cannot take its certificate."""
    if not profile.uses_certificate:
        return None
    return hosts.wrong_certificate_token_url(profile.token_url)
