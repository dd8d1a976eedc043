"""The simulated CPI tenant host: a read-only OData v2 service under `/api/v1`.

Order of checks: connection-reset fault, method (read-only: 405), unavailable-page, rate-limit
(429 + Retry-After) and server-error faults, bearer token (401), path (404, or 501 for a direct
query SAP only serves by navigation), permissions from the sandbox's own table (403; roles not
yet effective are not honoured; persona group roles honour what the persona covers),
access-policy fault (403, empty body), query options (400), $count's Accept (406, a fault).

On Neo the servlet container answers 401 and 403 itself: an empty 401 with WWW-Authenticate and
an HTML 403 page, not OData error bodies (`plain_answers` in the behaviour table).

On the Edge Integration Cell (`environment: edge`) the same service is the local API under
`/local/api/v1`, reached with Basic credentials or a client certificate; `/api/v1` without
`/local` answers 401, and an entity set the local API does not expose answers 403 (`edge`).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from cpi_preflight.sandbox import odata
from cpi_preflight.sandbox.api_auth import Caller, Refusal, authenticate, authorize
from cpi_preflight.sandbox.behaviour import EntitySet
from cpi_preflight.sandbox.messages import (
    RESET,
    HttpRequest,
    HttpResponse,
    Outcome,
    not_found_page,
)
from cpi_preflight.sandbox.plain import plain_answer
from cpi_preflight.sandbox.records import load_samples
from cpi_preflight.sandbox.routes import Match, Routes
from cpi_preflight.sandbox.tenant import Tenant

ROOT = "/api/v1"
_READ_METHODS = ("GET", "HEAD")
ACCESS_ALL = "AccessPoliciesArtifacts.AccessAll"
_UNAUTHENTICATED = ("missing_token", "invalid_token", "expired_token", "foreign_zone")
_COUNT_TYPES = ("text/plain", "text/*", "*/*")


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


def _admits_text(accept: str | None) -> bool:
    """Whether an Accept header admits text/plain (no header admits everything)."""
    if accept is None:
        return True
    return any(part.split(";")[0].strip().lower() in _COUNT_TYPES for part in accept.split(","))


def wants_json(request: HttpRequest) -> bool:
    """Whether the client asked for JSON ($format wins over Accept)."""
    requested = request.query.get("$format")
    if requested is not None:
        return requested.lower() == "json"
    return "application/json" in (request.header("accept") or "").lower()


class ApiApp:
    """The `<tenant>.it-cpi<nnn>.cfapps...` (CF) or `<account>-tmn...` (Neo) API host."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.samples = load_samples()
        self.routes = Routes(tenant.behaviour.entity_sets.values(), tenant.spec.environment)
        self.edge = tenant.spec.environment == "edge"
        self.root = tenant.behaviour.edge.root if self.edge else ROOT

    def handle(self, request: HttpRequest) -> Outcome:
        """Answer one request."""
        path = request.path.rstrip("/")
        if self.edge and _under(path, ROOT):  # the local API without /local
            return self.plain(self.tenant.behaviour.edge.without_local)
        if not _under(path, self.root):
            return not_found_page(request.path)
        rest = path[len(self.root) + 1:]
        match = self.routes.match(rest)
        entity = match.route.entity if match else self.routes.named(rest)
        if entity is not None and self.tenant.faults.should_reset(entity.name):
            return RESET
        return self._checked(request, rest, entity, match)

    def _checked(self, request: HttpRequest, rest: str, entity: EntitySet | None,
                 match: Match | None) -> HttpResponse:
        if request.method not in _READ_METHODS:
            allow = ("Allow", "GET, HEAD")
            return self.reject(request, "method_not_allowed", request.method, allow)
        if entity is not None and entity.name in self.tenant.spec.faults.unavailable_pages:
            return self.plain("unavailable_page")
        if entity is not None and self.tenant.faults.rate_limited(entity.name):
            retry = ("Retry-After", str(self.tenant.spec.faults.retry_after_s))
            return self.reject(request, "rate_limited", "", retry)
        status = self.tenant.faults.server_error(entity.name) if entity else None
        if status is not None:
            return self.reject(request, "server_unavailable" if status == 503 else "server_error")
        caller = authenticate(request, self.tenant)
        if isinstance(caller, Refusal):
            return self.refuse(request, caller.kind)
        if not rest:
            names = [n for n in self.routes.entity_sets
                     if n not in self.tenant.spec.faults.absent_entity_sets]
            doc = odata.service_document(request.base_url + self.root, names,
                                         as_json=wants_json(request))
            return self._csrf(request, doc)
        if match is None or match.route.entity.name in self.tenant.spec.faults.absent_entity_sets:
            return self._unrouted(request, rest, entity)
        return self._routed(request, rest, match, caller)

    def _unrouted(self, request: HttpRequest, rest: str, entity: EntitySet | None) -> HttpResponse:
        if self.edge:  # the local API answers 403 for everything it does not expose
            return self.plain(self.tenant.behaviour.edge.not_exposed)
        if entity is not None and entity.direct_query == "not_implemented" and rest == entity.name:
            return self.reject(request, "not_implemented", entity.name)
        return self.reject(request, "unknown_entity_set", rest.split("/")[-1])

    def _routed(self, request: HttpRequest, rest: str, match: Match,
                caller: Caller) -> HttpResponse:
        entity = match.route.entity
        refusal = authorize(self._honoured(caller), entity.neo_roles)
        if refusal is not None:
            return self.refuse(request, refusal.kind)
        faults = self.tenant.spec.faults
        if entity.name in faults.access_policy and ACCESS_ALL not in caller.permissions:
            return self.plain("access_policy_denied")
        rejected = self._query_rejection(request, entity)
        if rejected is not None:
            return rejected
        if entity.required_query and entity.required_query not in request.query:
            return self.reject(request, "missing_query_parameter", entity.required_query)
        if entity.rejects_format_json and request.query.get("$format", "").lower() == "json":
            return self.reject(request, "format_json_rejected")
        records = self._records(entity, match.keys)
        if records is None:
            return self.reject(request, "unknown_entity_set", rest.split("/")[0])
        if match.route.count:
            return self._count(request, records)
        if entity.single_entity:
            return self._csrf(request, odata.entity(
                request.base_url + self.root, entity.name, self.samples[entity.name],
                records[0], as_json=wants_json(request)))
        return self._csrf(request, self._collection(request, entity, records))

    def _count(self, request: HttpRequest, records: list[Mapping[str, Any]]) -> HttpResponse:
        strict = self.tenant.spec.faults.count_accept_strict
        if strict and not _admits_text(request.header("accept")):
            return self.reject(request, "not_acceptable")
        body = str(len(records)).encode()
        return self._csrf(request, HttpResponse(200, body, "text/plain;charset=utf-8"))

    def _honoured(self, caller: Caller) -> Caller:
        """The caller as the API sees it: permissions of roles not yet effective left out, and
        what each persona group role covers added (`personas` in the behaviour table)."""
        spec = self.tenant.spec
        pending = spec.permissions() - spec.effective_permissions()
        held = self.tenant.behaviour.honoured(caller.permissions - pending, spec.environment)
        return Caller(held, caller.integration_flow)

    def _query_rejection(self, request: HttpRequest, entity: EntitySet) -> HttpResponse | None:
        option = self.tenant.spec.faults.query_rejections.get(entity.name)
        if option is None:
            return None
        if option.startswith("$") and option in request.query:
            return self.reject(request, "unsupported_query_option", option)
        if not option.startswith("$") and option not in request.query:
            return self.reject(request, "missing_query_parameter", option)
        return None

    def _records(self, entity: EntitySet,
                 keys: Mapping[str, str]) -> list[Mapping[str, Any]] | None:
        records = list(self.samples[entity.name].records)
        if not keys or entity.parent_field is None:
            return records
        parent_id = next(iter(keys.values()))
        parents = self.samples["IntegrationPackages"].records
        if not any(p.get("Id") == parent_id for p in parents):
            return None
        return [r for r in records if r.get(entity.parent_field) == parent_id]

    def _collection(self, request: HttpRequest, entity: EntitySet,
                    records: list[Mapping[str, Any]]) -> HttpResponse:
        try:
            skip = int(request.query.get("$skip", "0"))
            top = int(request.query.get("$top", str(len(records))))
        except ValueError:
            return self.reject(request, "bad_query_option", "$top/$skip")
        inline = request.query.get("$inlinecount") == "allpages"
        total = len(records) if inline and entity.name == "MessageProcessingLogs" else None
        return odata.collection(request.base_url + self.root, entity.name,
                                self.samples[entity.name],
                                records[max(skip, 0):][:max(top, 0)],
                                as_json=wants_json(request), total=total)

    def _csrf(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if (request.header("x-csrf-token") or "").lower() != "fetch":
            return response
        token = ("X-CSRF-Token", secrets.token_hex(16))
        return HttpResponse(response.status, response.body, response.content_type,
                            (*response.headers, token))

    def refuse(self, request: HttpRequest, kind: str) -> HttpResponse:
        """A 401/403: on Neo the container's own answer, on CF the OData error; on the Edge
        Integration Cell a 401 asking for Basic credentials."""
        if self.edge and kind in _UNAUTHENTICATED:
            return self.plain(self.tenant.behaviour.edge.without_local)
        if self.tenant.spec.environment == "neo":
            if kind in _UNAUTHENTICATED:
                return self.plain("neo_unauthorized")
            if kind == "missing_permission":
                return self.plain("neo_forbidden")
        return self.reject(request, kind)

    def plain(self, kind: str) -> HttpResponse:
        """A refusal of the behaviour table that is an HTML page or an empty body."""
        return plain_answer(self.tenant.behaviour.plain_answers[kind])

    def reject(self, request: HttpRequest, kind: str, segment: str = "",
               *headers: tuple[str, str]) -> HttpResponse:
        """The OData error answer for one rejection kind of the behaviour table."""
        rejection = self.tenant.behaviour.api_rejections[kind]
        message = rejection.message.replace("{segment}", segment)
        return odata.error(rejection.status, rejection.code, message,
                           as_json=wants_json(request), headers=headers)
