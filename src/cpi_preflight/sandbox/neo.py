"""The simulated Neo OAuth host: `POST /oauth2/api/v1/token` issuing opaque tokens.

The success body is SAP's documented sample shape; error bodies are unconfirmed (see
`sap_behaviour.yaml`). `token_format=jwt` is ignored: the answer is always an opaque token.
"""

from __future__ import annotations

from cpi_preflight.sandbox.client_auth import token_error_kind, token_error_response
from cpi_preflight.sandbox.messages import (
    HttpRequest,
    HttpResponse,
    Outcome,
    json_response,
    not_found_page,
)
from cpi_preflight.sandbox.tenant import NEO_TOKEN_PATH, OpaqueToken, Tenant


class NeoOAuthApp:
    """The `oauthasservices-<account>` host of a Neo subaccount."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant

    def handle(self, request: HttpRequest) -> Outcome:
        """Route one request."""
        if request.path != NEO_TOKEN_PATH:
            return not_found_page(request.path)
        if request.method != "POST":
            response = token_error_response(self.tenant, "method_not_allowed")
            return HttpResponse(response.status, response.body, response.content_type,
                                (*response.headers, ("Allow", "POST")))
        self.tenant.faults.delay(self.tenant.spec.faults.token_latency_ms)
        kind = token_error_kind(request, self.tenant)
        if kind is not None:
            return token_error_response(self.tenant, kind)
        return self._issue()

    def _issue(self) -> HttpResponse:
        faults = self.tenant.spec.faults
        record = OpaqueToken(self.tenant.identity.client_id, faults.expired_token,
                             faults.foreign_zone)
        token = self.tenant.opaque_tokens.issue(record)
        self.tenant.issued_tokens.append(token)
        payload = {"access_token": token, "token_type": "Bearer", "expires_in": 0, "scopes": []}
        return json_response(200, payload, ("Cache-Control", "no-store"))
