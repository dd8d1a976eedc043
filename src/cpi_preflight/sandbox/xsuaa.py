"""The simulated XSUAA host: `POST /oauth/token` (client credentials) and `GET /token_keys`.

Tokens copy the claim and header shapes of a real XSUAA client-credentials token
(shared/fixtures/xsuaa); scopes are `it!b<N>.<permission>` for every permission of every granted
role template, plus `uaa.resource`.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from cpi_preflight.sandbox.client_auth import token_error_kind, token_error_response
from cpi_preflight.sandbox.messages import (
    HttpRequest,
    HttpResponse,
    Outcome,
    json_response,
    not_found_page,
)
from cpi_preflight.sandbox.plain import plain_answer
from cpi_preflight.sandbox.tenant import CF_TOKEN_PATH, Tenant

TOKEN_VALIDITY = 43199


def token_scopes(tenant: Tenant) -> list[str]:
    """The scopes a token of this tenant's client carries."""
    identity = tenant.identity
    if tenant.spec.faults.integration_flow_plan:
        return [f"{identity.client_app}.ESBMessaging.send", "uaa.resource"]
    permissions = sorted(tenant.spec.permissions())
    return [f"{identity.xsappname}.{p}" for p in permissions] + ["uaa.resource"]


def _claims(tenant: Tenant, scopes: list[str], now: int) -> dict[str, Any]:
    identity, faults = tenant.identity, tenant.spec.faults
    foreign = faults.foreign_zone
    iat = now - TOKEN_VALIDITY - 60 if faults.expired_token else now
    client = identity.client_id
    return {
        "jti": secrets.token_hex(16),
        "ext_attr": {
            "enhancer": "XSUAA", "subaccountid": identity.subaccount_id,
            "zdn": f"foreign-{identity.subdomain}" if foreign else identity.subdomain,
            "serviceinstanceid": identity.service_instance_id,
        },
        "sub": client, "authorities": list(scopes), "scope": list(scopes),
        "client_id": client, "cid": client, "azp": client,
        "grant_type": "client_credentials", "rev_sig": secrets.token_hex(4),
        "iat": iat, "exp": iat + TOKEN_VALIDITY,
        "iss": f"{tenant.urls['xsuaa']}{CF_TOKEN_PATH}",
        "zid": identity.foreign_zone_id if foreign else identity.zone_id,
        "aud": [client, identity.client_app, "uaa"],
    }


def issue_token(tenant: Tenant) -> HttpResponse:
    """A successful token response in UAA's shape; iat and exp by the tenant's clock."""
    assert tenant.signer is not None, "a CF tenant always has a signing key"
    scopes = token_scopes(tenant)
    claims = _claims(tenant, scopes, int(tenant.now()))
    token = tenant.signer.sign(claims, f"{tenant.urls['xsuaa']}/token_keys")
    tenant.issued_tokens.append(token)
    payload = {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_VALIDITY,
               "scope": " ".join(scopes), "jti": claims["jti"]}
    return json_response(200, payload, ("Cache-Control", "no-store"), ("Pragma", "no-cache"))


def rate_limited(tenant: Tenant) -> HttpResponse:
    """XSUAA's 429 with Retry-After (the rate-limit fault on the token endpoint)."""
    retry = ("Retry-After", str(tenant.spec.faults.retry_after_s))
    return plain_answer(tenant.behaviour.plain_answers["token_rate_limited"], retry)


class XsuaaApp:
    """One XSUAA host; with `mtls` it authenticates clients by their TLS certificate."""

    def __init__(self, tenant: Tenant, *, mtls: bool) -> None:
        self.tenant = tenant
        self.mtls = mtls

    def handle(self, request: HttpRequest) -> Outcome:
        """Route one request."""
        if request.path == "/token_keys":
            return self._token_keys(request)
        if request.path == CF_TOKEN_PATH:
            return self._token(request)
        return not_found_page(request.path)

    def _token_keys(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return token_error_response(self.tenant, "method_not_allowed")
        signer = self.tenant.signer
        keys = [signer.jwk()] if signer else []
        return json_response(200, {"keys": keys})

    def _token(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            response = token_error_response(self.tenant, "method_not_allowed")
            return HttpResponse(response.status, response.body, response.content_type,
                                (*response.headers, ("Allow", "POST")))
        self.tenant.faults.delay(self.tenant.spec.faults.token_latency_ms)
        if self.tenant.faults.rate_limited("token"):
            return rate_limited(self.tenant)
        if self.tenant.spec.faults.token_body_dropped:
            request = replace(request, body=b"")  # an intermediary forwarded headers only
        kind = token_error_kind(request, self.tenant, mtls=self.mtls)
        if kind is not None:
            return token_error_response(self.tenant, kind)
        return issue_token(self.tenant)
