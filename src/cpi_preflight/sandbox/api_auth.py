"""Who is calling the simulated API host: bearer-token checks for CF (JWT) and Neo (opaque)."""

from __future__ import annotations

from dataclasses import dataclass

import jwt

from cpi_preflight.sandbox.messages import HttpRequest
from cpi_preflight.sandbox.tenant import Tenant


@dataclass(frozen=True)
class Caller:
    """An authenticated caller and the Neo-style permissions its token carries."""

    permissions: frozenset[str]
    integration_flow: bool = False


@dataclass(frozen=True)
class Refusal:
    """Why the caller is not authenticated: a key of `api_rejections`."""

    kind: str


def _bearer(request: HttpRequest) -> str | None:
    scheme, _, token = (request.header("authorization") or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _cf_caller(token: str, tenant: Tenant) -> Caller | Refusal:
    assert tenant.signer is not None, "a CF tenant always has a signing key"
    try:
        claims = tenant.signer.verify(token)
    except jwt.ExpiredSignatureError:
        return Refusal("expired_token")
    except jwt.InvalidTokenError:
        return Refusal("invalid_token")
    if claims.get("zid") != tenant.identity.zone_id:
        return Refusal("foreign_zone")
    scopes = [s for s in claims.get("scope", []) if isinstance(s, str)]
    prefix = f"{tenant.identity.xsappname}."
    permissions = frozenset(s.removeprefix(prefix) for s in scopes if s.startswith(prefix))
    return Caller(permissions, any(s.startswith("it-rt-") for s in scopes))


def _neo_caller(token: str, tenant: Tenant) -> Caller | Refusal:
    record = tenant.opaque_tokens.lookup(token)
    if record is None:
        return Refusal("invalid_token")
    if record.foreign:
        return Refusal("foreign_zone")
    if record.expired:
        return Refusal("expired_token")
    return Caller(tenant.spec.permissions())


def authenticate(request: HttpRequest, tenant: Tenant) -> Caller | Refusal:
    """The caller behind the request's bearer token, or why there is none."""
    token = _bearer(request)
    if token is None:
        return Refusal("missing_token")
    if tenant.spec.environment == "cf":
        return _cf_caller(token, tenant)
    return _neo_caller(token, tenant)


def authorize(caller: Caller, needed: tuple[str, ...]) -> Refusal | None:
    """None when the caller holds every needed permission, else the refusal to send."""
    if set(needed) <= caller.permissions:
        return None
    return Refusal("integration_flow_token" if caller.integration_flow else "missing_permission")
