"""Who is calling the simulated API host: bearer-token checks for CF (JWT) and Neo (opaque)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import jwt

from cpi_preflight.sandbox.client_auth import presented_credentials
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
        claims = tenant.signer.verify(token, tenant.now())
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


def _edge_caller(request: HttpRequest, tenant: Tenant) -> Caller | Refusal:
    """The Edge Integration Cell's local API: the key's client certificate, or Basic with its
    client id and secret (no token)."""
    accepted = tenant.accepted_client_cert
    if accepted is not None and request.peer_cert is not None and hmac.compare_digest(
            request.peer_cert, accepted):
        return Caller(tenant.spec.permissions())
    presented = presented_credentials(request)
    identity = tenant.identity
    if identity.secret is not None and _same(presented.client_id, identity.client_id) and _same(
            presented.secret, identity.secret):
        return Caller(tenant.spec.permissions())
    return Refusal("missing_token")


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


def authenticate(request: HttpRequest, tenant: Tenant) -> Caller | Refusal:
    """The caller behind the request's bearer token (or, on edge, its credentials), or why
    there is none."""
    if tenant.spec.environment == "edge":
        return _edge_caller(request, tenant)
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
