"""Client authentication at the token endpoints, shared by the XSUAA and Neo OAuth hosts.

The Basic header is decoded literally (no URL-decoding of the secret) unless the request carries
`X-CF-ENCODED-CREDENTIALS: true`, as XSUAA documents; form-body credentials are form-decoded.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from urllib.parse import unquote_plus

from cpi_preflight.sandbox.messages import HttpRequest, HttpResponse, json_response
from cpi_preflight.sandbox.tenant import Tenant


@dataclass(frozen=True)
class Credentials:
    """What the caller presented: a client id and maybe a secret."""

    client_id: str | None
    secret: str | None


def _basic(value: str, encoded: bool) -> Credentials:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return Credentials(None, None)
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return Credentials(client_id, None)
    if encoded:
        return Credentials(unquote_plus(client_id), unquote_plus(secret))
    return Credentials(client_id, secret)


def presented_credentials(request: HttpRequest) -> Credentials:
    """Credentials from the Basic header, else from the form body."""
    authorization = request.header("authorization") or ""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "basic":
        encoded = (request.header("x-cf-encoded-credentials") or "").lower() == "true"
        return _basic(value, encoded)
    form = request.form()
    return Credentials(form.get("client_id"), form.get("client_secret"))


def grant_type(request: HttpRequest) -> str | None:
    """The grant type from the form body, else from the query string."""
    return request.form().get("grant_type") or request.query.get("grant_type")


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


def _authenticated(request: HttpRequest, tenant: Tenant, *, mtls: bool) -> bool:
    presented = presented_credentials(request)
    identity = tenant.identity
    if not _same(presented.client_id, identity.client_id):
        return False
    if mtls:
        return _same_cert(request.peer_cert, tenant.accepted_client_cert)
    return _same(presented.secret, identity.secret)


def _same_cert(presented: bytes | None, accepted: bytes | None) -> bool:
    return presented is not None and accepted is not None and hmac.compare_digest(
        presented, accepted)


def token_error_kind(request: HttpRequest, tenant: Tenant, *, mtls: bool = False) -> str | None:
    """Why the token request fails (a key of `token_errors`), or None if it succeeds."""
    if not _authenticated(request, tenant, mtls=mtls):
        return "bad_credentials"
    grant = grant_type(request)
    if not grant:
        return "missing_grant_type"
    if grant not in tenant.behaviour.known_grant_types:
        return "unsupported_grant_type"
    if grant not in tenant.identity.grant_types:
        return "unauthorized_grant_type"
    return None


def token_error_response(tenant: Tenant, kind: str) -> HttpResponse:
    """The token endpoint's error answer of this environment, from the behaviour table."""
    error = tenant.behaviour.token_errors[tenant.spec.environment][kind]
    headers = [("Cache-Control", "no-store")]
    if error.www_authenticate:
        headers.append(("WWW-Authenticate", error.www_authenticate))
    return json_response(error.status, dict(error.body), *headers)
