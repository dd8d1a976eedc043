"""From observations to verdicts: pure functions, no I/O.

Each check kind has one rule function. Rules run in plan order (token, api, roles, endpoints),
so a rule can read the verdicts it depends on: a check whose dependency failed is skipped with
the root cause named, so one root cause gives one failure.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cpi_preflight import (
    posture,  # noqa: F401  (registers the posture rules)
    urls,
)
from cpi_preflight.catalog import Catalog, Endpoint
from cpi_preflight.claims import TokenFacts, read_token
from cpi_preflight.findings import (
    FAILED,
    PASSED,
    SKIPPED,
    Call,
    EndpointAnswer,
    Finding,
    Granted,
    RoleFacts,
    TokenAnswer,
    Verdict,
)
from cpi_preflight.observation import Exchange, ProfileObservations
from cpi_preflight.plan import (
    API,
    Check,
    CheckKind,
    Plan,
    api_neo_roles,
    covers,
    endpoint_check_id,
    neo_roles_of,
)
from cpi_preflight.rules import RULES, Context, rule
from cpi_preflight.server_text import quote

TOKEN_URL_SHAPE = {
    "cf": "https://<subdomain>.authentication.<region>.hana.ondemand.com/oauth/token",
    "neo": "https://oauthasservices-<account>.<landscape host>/oauth2/api/v1/token",
}
FAILURE_WORDS = {
    "dns": "the host name does not resolve",
    "refused": "the connection was refused",
    "timeout": "it did not answer in time",
    "reset": "the connection was reset",
    "connect": "the connection failed",
    "protocol": "the answer was not valid HTTP",
    "deadline": "the profile's deadline ran out",
}


def _attempts(exchange: Exchange) -> str:
    count = len(exchange.attempts) or 1
    return f"{count} attempt" + ("s" if count != 1 else "")


def _unreachable(ctx: Context, exchange: Exchange, what: str, key: str) -> Finding:
    failure = exchange.failure
    assert failure is not None
    host = urls.host(exchange.url)
    if failure.kind == "tls":
        return ctx.finding("TLS_UNTRUSTED", host,
                           f"TLS handshake with {what} {host} failed: {failure.detail}", key=key)
    words = FAILURE_WORDS.get(failure.kind, failure.kind)
    return ctx.finding("HOST_UNREACHABLE", host,
                       f"{what} {host} is unreachable: {words} ({_attempts(exchange)}; "
                       f"{failure.detail})", key=key)


def _skip_for(ctx: Context, check: Check) -> Verdict | None:
    for dependency in check.depends_on:
        verdict = ctx.verdicts.get(dependency)
        if verdict is not None and verdict.outcome != PASSED:
            cause = verdict.code or verdict.outcome
            return Verdict(check, SKIPPED, f"not checked: {dependency} {verdict.outcome} "
                           f"({cause}); fix that first")
    return None


def diagnose(plan: Plan, seen: ProfileObservations, catalog: Catalog, now: datetime, *,
             strict: bool = False,
             baseline: Mapping[str, Any] | None = None) -> dict[str, Verdict]:
    """A verdict for every check of `plan`, from what the probe saw."""
    ctx = Context(plan, seen, catalog, now, strict=strict or plan.profile.strict,
                  baseline=baseline)
    for check in plan.checks:
        verdict = _skip_for(ctx, check) or RULES[check.kind](ctx, check)
        ctx.verdicts[check.id] = verdict
    return ctx.verdicts


# --- token -------------------------------------------------------------------------------


def _token_error(exchange: Exchange) -> tuple[str, str]:
    return exchange.oauth_error


def _token_http_problem(ctx: Context, exchange: Exchange) -> Finding | None:
    status, url = exchange.status, ctx.plan.profile.token_url
    assert status is not None
    error, description = _token_error(exchange)
    said = f"{status} {error}: {description}".strip().rstrip(":") if error else f"{status}"
    if exchange.is_html or status in (404, 405) or 300 <= status < 400:
        return _token_url_wrong(ctx, exchange)  # a UI, a proxy page or no such endpoint
    if status == 400 and error == "invalid_request" and "missing grant type" in description.lower():
        return _grant_type_unread(ctx, said)
    if status in (400, 401) and (error == "unauthorized_client"
                                 or ("grant type" in description.lower()
                                 and error not in ("unsupported_grant_type", "invalid_request"))):
        return ctx.finding("GRANT_TYPE_NOT_ALLOWED", ctx.client,
                           f"client {ctx.client} may not use grant type client_credentials: "
                           f"{urls.host(url)} answered {said}", key="token_url")
    rejected = ("invalid_client", "unauthorized", "invalid_grant", "access_denied")
    if status == 401 or (status == 400 and error in rejected):
        return ctx.finding("CLIENT_CREDENTIALS_REJECTED", ctx.client,
                           f"token endpoint {urls.host(url)} rejected client {ctx.client}: {said}",
                           key="client_secret")
    if status >= 500 or status == 429:
        return ctx.finding("SERVER_ERROR", urls.host(url),
                           f"token endpoint {urls.host(url)} answered {status} "
                           f"({_attempts(exchange)})", key="token_url")
    if status != 200 or exchange.is_html or not isinstance(exchange.json, dict):
        return _token_url_wrong(ctx, exchange)
    return None


def _describe_answer(exchange: Exchange) -> str:
    if exchange.status is not None and 300 <= exchange.status < 400:
        return f"{exchange.status} redirect to {exchange.location or '(no location)'}"
    kind = "an HTML page" if exchange.is_html else (exchange.content_type or "no content type")
    if exchange.truncated:
        kind += " longer than the 1 MiB the tool reads"
    elif "json" in exchange.content_type and exchange.json is None:
        kind += " that is not readable JSON"
    return f"{exchange.status} with {kind}"


def _token_url_wrong(ctx: Context, exchange: Exchange) -> Finding:
    url = ctx.plan.profile.token_url
    return ctx.finding(
        "TOKEN_URL_WRONG", url,
        f"token_url {url} is not an OAuth token endpoint: it answered "
        f"{_describe_answer(exchange)}; expected {TOKEN_URL_SHAPE[ctx.environment]}",
        key="token_url",
    )


GRANT_SENT = {"cf": "in the form body", "neo": "in the query string"}


def _grant_type_unread(ctx: Context, said: str) -> Finding:
    """400 invalid_request "Missing grant type": the request carried one, so what answered did
    not read it (a proxy that drops the body, a token_url with its own query): not a permission."""
    url = ctx.plan.profile.token_url
    return ctx.finding(
        "TOKEN_URL_WRONG", url,
        f"token_url {url} did not read the grant type the request carried "
        f"(grant_type=client_credentials {GRANT_SENT[ctx.environment]}): it answered {said}; "
        f"expected {TOKEN_URL_SHAPE[ctx.environment]} to issue a token", key="token_url")


def _token_facts_problem(ctx: Context, facts: TokenFacts) -> Finding | None:
    runtime = facts.runtime_applications
    if runtime:
        return ctx.finding(
            "WRONG_SERVICE_PLAN", runtime[0],
            f"the token of client {ctx.client} is for {runtime[0]} (plan integration-flow, "
            f"scopes: {', '.join(facts.scopes) or 'none'}); the API needs a key of plan api "
            "(application it!b<N>)", key="service_key")
    problem = _jwt_problem(ctx, facts)
    if problem:
        return ctx.finding("TOKEN_INVALID", ctx.plan.profile.token_url, problem, key="token_url")
    return None


def _jwt_problem(ctx: Context, facts: TokenFacts) -> str:
    if ctx.environment != "cf":
        return ""
    if facts.format == "opaque":  # Neo's OAuth service issues these; XSUAA issues JWTs
        return ("the token endpoint returned an opaque token (not a JWT), as Neo's OAuth "
                "service does, while XSUAA issues JWTs: this looks like a Neo tenant: set "
                f"`environment: neo` (token_url {ctx.plan.profile.token_url})")
    if facts.format != "jwt":
        return f"{facts.problem} (token_url {ctx.plan.profile.token_url})"
    if facts.signature == "failed":
        return f"the token's signature is not valid: {facts.signature_detail}"
    if facts.expired(ctx.now) and facts.expires_at is not None:
        return (f"the token expired at {facts.expires_at.isoformat()} although it was just "
                f"issued (now {ctx.now.isoformat(timespec='seconds')}): check this machine's "
                "clock")
    return ""


def _token_summary(ctx: Context, facts: TokenFacts | None) -> str:
    host = urls.host(ctx.plan.profile.token_url)
    if facts is None or facts.format != "jwt":
        return f"{host} issued an access token to client {ctx.client}"
    expiry = facts.expires_at.isoformat() if facts.expires_at else "no expiry"
    return (f"{host} issued a JWT to client {ctx.client} (zone {facts.zone or '?'}, "
            f"{len(facts.scopes)} scopes, expires {expiry}, signature {facts.signature})")


def _jwks(ctx: Context) -> Any:
    jwks = ctx.seen.jwks
    return jwks.json if jwks is not None and jwks.status == 200 else None


@rule(CheckKind.TOKEN)
def token_rule(ctx: Context, check: Check) -> Verdict:
    """Did the token endpoint issue a usable token?"""
    if ctx.seen.setup_problem:
        return ctx.fail(check, ctx.finding("TLS_UNTRUSTED", ctx.plan.profile.token_url,
                                           ctx.seen.setup_problem, key="ca_bundle"))
    exchange = ctx.seen.token
    assert exchange is not None
    if exchange.failure is not None:
        return ctx.fail(check, _unreachable(ctx, exchange, "token endpoint", "token_url"))
    problem = _token_http_problem(ctx, exchange)
    if problem is None and ctx.seen.access_token is None:
        fields = exchange.field_names
        what = ("an access_token that is not a usable token (not printable ASCII)"
                if "access_token" in fields else
                f"no access_token (fields: {', '.join(fields) or 'none'})")
        problem = ctx.finding("TOKEN_INVALID", ctx.plan.profile.token_url,
                              f"{urls.host(exchange.url)} answered 200 with {what}",
                              key="token_url")
    if problem is not None:
        return ctx.fail(check, problem, TokenAnswer(exchange.status))
    assert ctx.seen.access_token is not None
    token = read_token(ctx.seen.access_token.reveal(), _jwks(ctx))
    problem = _token_facts_problem(ctx, token)
    if problem is not None:
        return ctx.fail(check, problem, TokenAnswer(exchange.status))
    return Verdict(check, PASSED, _token_summary(ctx, token),
                   facts=TokenAnswer(exchange.status, exchange.elapsed_ms, token))


# --- api ---------------------------------------------------------------------------------


def _exchanges(ctx: Context) -> list[tuple[Endpoint, Exchange]]:
    return [(e, ctx.seen.endpoints[e.name]) for e in ctx.plan.endpoints
            if e.name in ctx.seen.endpoints]


def _wrong_api(ctx: Context, endpoint: Endpoint, exchange: Exchange) -> Finding:
    api = ctx.plan.profile.api_url
    return ctx.finding("API_URL_WRONG", api,
                       f"api_url {api} is not the Cloud Integration API: GET /api/v1"
                       f"{endpoint.path} answered {_describe_answer(exchange)}", key="api_url")


def _is_odata_error(exchange: Exchange) -> bool:
    """An OData error body: the API itself answered, whatever the status."""
    return isinstance(exchange.json, dict) and isinstance(exchange.json.get("error"), dict)


ODATA_TYPES = ("atom", "xml")


def _answered_as_api(exchange: Exchange) -> bool:
    """Positive evidence of the Cloud Integration API: an OData body (JSON or XML/Atom)."""
    if exchange.is_html:
        return False
    if isinstance(exchange.json, dict) and ("d" in exchange.json or _is_odata_error(exchange)):
        return True
    if exchange.url.split("?", 1)[0].endswith("/$count") and exchange.body.strip().isdigit():
        return True  # OData's $count answers a bare number as text/plain
    return any(kind in exchange.content_type.lower() for kind in ODATA_TYPES)


def _looks_wrong_api(exchange: Exchange) -> bool:
    """Positive evidence of another host: a redirect, or an HTML page where data should be."""
    status = exchange.status or 0
    return 300 <= status < 400 or (exchange.is_html and (200 <= status < 300 or status == 404))


TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
TITLE_LIMIT = 80


def _page_title(exchange: Exchange) -> str:
    """The <title> of an HTML answer, as one short printable line ('' when there is none)."""
    found = TITLE.search(exchange.body) if exchange.is_html else None
    if found is None:
        return ""
    return quote(html.unescape(found.group(1)), TITLE_LIMIT)  # masked before it is cut


def _said(exchange: Exchange) -> str:
    """What the answer said, for a message: ` (OData message)`, ` (HTML page "title")`, ..."""
    if exchange.odata_message:
        return f" ({exchange.odata_message})"
    title = _page_title(exchange)
    if title:
        return f' (HTML page "{title}")'
    if exchange.is_html:
        return " (an HTML page)"
    if not exchange.body.strip() and exchange.status in (401, 403):
        return " (empty body)"
    return ""


def _rejected(ctx: Context, endpoint: Endpoint, exchange: Exchange) -> Finding:
    token = ctx.token
    origin = (f"; the token was issued by {token.issuer} for identity zone {token.zone}"
              if token is not None and token.format == "jwt" else "")
    return ctx.finding("TOKEN_REJECTED_BY_API", urls.host(exchange.url),
                       f"the API at {urls.host(exchange.url)} rejected a freshly issued token: "
                       f"GET /api/v1{endpoint.path} answered 401{_said(exchange)}{origin}",
                       zone=token.zone if token is not None else "?", key="token_url")


def _is_server_error(status: int | None) -> bool:
    return (status or 0) >= 500 or status == 429


def _api_problem(ctx: Context, pairs: list[tuple[Endpoint, Exchange]]) -> Finding | None:
    """Status before body: the API is wrong only on positive evidence, and only when no call
    answered as the API; otherwise each endpoint's own answer is judged by its own check."""
    answered = [(e, x) for e, x in pairs if x.failure is None]
    if not answered:
        return _unreachable(ctx, pairs[0][1], "API host", "api_url")
    statuses = {x.status for _, x in answered}
    if statuses == {401}:
        return _rejected(ctx, *answered[0])
    if all(_is_server_error(s) for s in statuses):
        exchange = answered[0][1]
        return ctx.finding("SERVER_ERROR", urls.host(exchange.url),
                           f"the API at {urls.host(exchange.url)} answered only server errors "
                           f"({', '.join(str(s) for s in sorted(statuses, key=str))}) to "
                           f"{len(answered)} calls", key="api_url")
    if any(_answered_as_api(x) for _, x in answered):
        return None
    wrong = [(e, x) for e, x in answered if _looks_wrong_api(x)]
    if wrong:
        return _wrong_api(ctx, *wrong[0])
    if all(200 <= (s or 0) < 300 or s == 404 for s in statuses):
        return _wrong_api(ctx, *answered[0])  # data or "not found", but never in OData
    return None


@rule(CheckKind.API)
def api_rule(ctx: Context, check: Check) -> Verdict:
    """Does the API URL answer like the CPI OData API, and accept the token?"""
    pairs = _exchanges(ctx)
    if not pairs:
        return Verdict(check, SKIPPED, "not checked: no endpoint is called for this profile")
    problem = _api_problem(ctx, pairs)
    if problem is not None:
        return ctx.fail(check, problem)
    statuses = sorted({str(x.status) for _, x in pairs if x.status is not None})
    calls = f"{len(pairs)} call" + ("s" if len(pairs) != 1 else "")
    return Verdict(check, PASSED, f"{ctx.plan.profile.api_root} answered {calls} "
                   f"as the Cloud Integration API (status {', '.join(statuses)})")


# --- roles -------------------------------------------------------------------------------


def granted_by_token(role: str, facts: TokenFacts | None, catalog: Catalog,
                     environment: str = "cf") -> tuple[Granted, tuple[str, ...]]:
    """'yes' / 'no' / 'unknown', and the permissions the token lacks for `role`."""
    if facts is None or facts.format != "jwt" or environment == "neo":
        return "unknown", ()  # Neo scopes are not documented: only calls decide there
    if any(scope.endswith("." + role) for scope in facts.scopes):
        return "yes", ()
    template = catalog.roles.get(role)
    needed = template.permissions if template is not None else (role,)
    if needed is None:
        return "unknown", ()
    missing = tuple(p for p in needed if p not in facts.permissions)
    return ("no", missing) if missing else ("yes", ())


def _succeeded(exchange: Exchange) -> bool:
    return 200 <= (exchange.status or 0) < 300


def _proof(ctx: Context, role: str) -> tuple[Endpoint, Exchange] | None:
    """The planned proof call if it succeeded (the one the check's title names), else another
    successful call that needs `role`, else the planned call whatever it answered, else None."""
    api = ctx.verdicts.get(API)
    if api is None or api.outcome != PASSED:
        return None
    name = ctx.plan.proof_for.get(role)
    planned = ((ctx.catalog.endpoints[name], ctx.seen.endpoints[name])
               if name is not None and name in ctx.seen.endpoints else None)
    if planned is not None and _succeeded(planned[1]):
        return planned
    for endpoint, exchange in _exchanges(ctx):
        if _succeeded(exchange) and covers(endpoint, role, ctx.environment, ctx.catalog):
            return endpoint, exchange
    return planned


def _needed_by(ctx: Context, role: str) -> str:
    names = [e.name for e in ctx.plan.endpoints
             if covers(e, role, ctx.environment, ctx.catalog)]
    return ", ".join(names) if names else "the profile's required_roles"


def _app(facts: TokenFacts | None) -> str:
    apps = [a for a in (facts.applications if facts else ()) if a.startswith("it!")]
    return apps[0] if apps else "it!b<N>"


def _proven_neo_roles(ctx: Context) -> set[str]:
    """Neo roles whose checks already passed: a 403 cannot be their fault."""
    return {neo for verdict in ctx.verdicts.values()
            if verdict.check.kind == CheckKind.ROLE and verdict.outcome == PASSED
            for neo in neo_roles_of(verdict.check.subject, ctx.catalog)}


def _role_missing(ctx: Context, role: str, missing: tuple[str, ...],
                  proof: tuple[Endpoint, Exchange] | None) -> Finding:
    neo = ", ".join(neo_roles_of(role, ctx.catalog))
    call = (f"; GET /api/v1{proof[0].path} answered {proof[1].status}{_said(proof[1])}"
            if proof else "")
    if ctx.environment == "neo":
        others = sorted(set(proof[0].neo_roles) - set(neo_roles_of(role, ctx.catalog))
                        - _proven_neo_roles(ctx)) if proof else []
        which = (f"one or more of {', '.join([*neo_roles_of(role, ctx.catalog), *others])} is "
                 "missing" if others else f"Neo roles {neo}")
        message = (f"role {role} is not granted to user oauth_client_{ctx.client} ({which})"
                   f"{call}; needed by {_needed_by(ctx, role)}")
    elif missing:
        message = (f"role {role} is not granted to client {ctx.client}: the token lacks scope"
                   f"{'s' if len(missing) > 1 else ''} "
                   f"{', '.join(_app(ctx.token) + '.' + p for p in missing)}{call}; "
                   f"needed by {_needed_by(ctx, role)}")
    else:
        message = (f"role {role} is not granted to client {ctx.client}{call}; the token's scopes "
                   f"cannot tell (no known permission list); needed by {_needed_by(ctx, role)}")
    return ctx.finding("ROLE_MISSING", role, message, role=role, neo_roles=neo)


def _carried(ctx: Context, permissions: tuple[str, ...]) -> str:
    """The token's scopes that carry `permissions` (by the permission or role-template name)."""
    scopes = ctx.token.scopes if ctx.token is not None else ()
    return ", ".join(s for s in scopes if any(s.endswith("." + p) for p in permissions))


def _not_effective(ctx: Context, role: str, proof: tuple[Endpoint, Exchange]) -> Finding:
    """403 although the token carries every permission of `role` (Cloud Foundry only)."""
    endpoint, exchange = proof
    carried = _carried(ctx, (*neo_roles_of(role, ctx.catalog), role))
    return ctx.finding(
        "ROLE_NOT_EFFECTIVE", role,
        f"role {role}: the token of client {ctx.client} carries every permission it needs "
        f"({carried}), and still GET /api/v1{endpoint.path} answered 403{_said(exchange)}",
        role=role)


def _unchecked_neo_roles(ctx: Context, role: str) -> str:
    """On Neo: the role's permissions no API call needs, so no call can prove them."""
    if ctx.environment != "neo":
        return ""
    provable = api_neo_roles(role, ctx.catalog)
    unused = [n for n in neo_roles_of(role, ctx.catalog) if n not in provable]
    if not unused:
        return ""
    one = len(unused) == 1
    return (f"; {', '.join(unused)} {'is' if one else 'are'} not used by the API, so no call "
            f"can check {'it' if one else 'them'}")


def _call(proof: tuple[Endpoint, Exchange] | None) -> Call | None:
    """The proof call with the status it answered (None without a call or an answer)."""
    if proof is None or proof[1].status is None:
        return None
    return Call(proof[0].path, proof[1].status)


def _role_passed(check: Check, token_says: Granted, proof: tuple[Endpoint, Exchange] | None,
                 role: str, note: str = "") -> Verdict:
    how = []
    if token_says == "yes":
        how.append("the token carries its scopes")
    if proof is not None:
        how.append(f"GET /api/v1{proof[0].path} answered {proof[1].status}")
    elif token_says == "yes":
        how.append("no read-only call proves it")
    if token_says == "no":
        how.append("although the catalog's scope list for it is not in the token")
    return Verdict(check, PASSED, f"role {role} is granted: {'; '.join(how)}{note}",
                   facts=RoleFacts(token_says, _call(proof)))


@rule(CheckKind.ROLE)
def role_rule(ctx: Context, check: Check) -> Verdict:
    """Is the role granted: by the token's scopes, and proven by a call?"""
    role = check.subject
    token_says, missing = granted_by_token(role, ctx.token, ctx.catalog, ctx.environment)
    proof = _proof(ctx, role)
    status = proof[1].status if proof else None
    facts = RoleFacts(token_says, _call(proof))
    if status is not None and 200 <= status < 300:
        return _role_passed(check, token_says, proof, role, _unchecked_neo_roles(ctx, role))
    if status == 403 and token_says == "yes" and proof is not None:
        return ctx.fail(check, _not_effective(ctx, role, proof), facts)
    if status == 403 or (token_says == "no" and (status is None or status != 404)):
        return ctx.fail(check, _role_missing(ctx, role, missing, proof if status == 403
                                             else None), facts)
    if token_says == "yes":
        return _role_passed(check, token_says, None, role)
    reason = (f"its proof call answered {status}" if proof is not None else
              "no read-only API call needs it, and a Neo token carries no scopes to read"
              if ctx.environment == "neo" else
              "the catalog has no confirmed scope list for it and no read-only call proves it")
    return Verdict(check, SKIPPED, f"role {role} cannot be decided: {reason}", facts=facts)


# --- endpoints ---------------------------------------------------------------------------


def _role_verdict_for(ctx: Context, endpoint: Endpoint) -> Verdict | None:
    for role in ctx.plan.roles:
        covers = (endpoint.role == role if ctx.environment == "cf"
                  else bool(set(neo_roles_of(role, ctx.catalog)) & set(endpoint.neo_roles)))
        verdict = ctx.verdicts.get(f"role[{role}]")
        if covers and verdict is not None and verdict.outcome == FAILED:
            return verdict
    return None


def _token_carries(ctx: Context, endpoint: Endpoint) -> bool:
    """Whether a CF token carries every permission `endpoint` needs (Neo tokens tell nothing)."""
    token = ctx.token
    if ctx.environment != "cf" or token is None or token.format != "jwt":
        return False
    return bool(endpoint.neo_roles) and set(endpoint.neo_roles) <= token.permissions


def _forbidden(endpoint: Endpoint) -> EndpointAnswer:
    """The facts of a failed 403 call: its status, no time (JUnit shows none for it)."""
    return EndpointAnswer(endpoint.path, 403, elapsed_ms=None)


def _endpoint_forbidden(ctx: Context, check: Check, endpoint: Endpoint,
                        exchange: Exchange) -> Verdict:
    failed_role = _role_verdict_for(ctx, endpoint)
    if failed_role is not None:
        return Verdict(check, SKIPPED, f"GET /api/v1{endpoint.path} answered 403 because "
                       f"{failed_role.check.id} failed ({failed_role.code}); fix that first")
    if _token_carries(ctx, endpoint):
        return ctx.fail(check, ctx.finding(
            "ROLE_NOT_EFFECTIVE", endpoint.role,
            f"GET /api/v1{endpoint.path} answered 403{_said(exchange)} although the token of "
            f"client {ctx.client} carries every permission it needs "
            f"({_carried(ctx, endpoint.neo_roles)})", role=endpoint.role), _forbidden(endpoint))
    role = endpoint.role if ctx.environment == "cf" else ", ".join(endpoint.neo_roles)
    return ctx.fail(check, ctx.finding(
        "ROLE_MISSING", role, f"GET /api/v1{endpoint.path} answered 403{_said(exchange)}: client "
        f"{ctx.client} lacks {'role' if ctx.environment == 'cf' else 'Neo roles'} {role}",
        role=endpoint.role, neo_roles=", ".join(endpoint.neo_roles)), _forbidden(endpoint))


def _request_rejected(ctx: Context, endpoint: Endpoint, exchange: Exchange) -> Finding:
    """A 4xx other than 401/403/404/429: the API understood the call and refused the query."""
    said = _said(exchange) or f" ({_describe_answer(exchange)})"
    request = endpoint.request_text("/api/v1")
    return ctx.finding(
        "REQUEST_REJECTED", endpoint.name,
        f"{request} answered {exchange.status}{said}: the API refused this "
        f"request for entity set {endpoint.name}; it is not a server error",
        endpoint=endpoint.name, request=request)


def _server_error(ctx: Context, endpoint: Endpoint, exchange: Exchange) -> Finding:
    tries = ", ".join(str(a.status or a.failure.kind if a.failure else a.status)
                      for a in exchange.attempts)
    kind = " with an HTML page" if exchange.is_html else ""
    return ctx.finding("SERVER_ERROR", endpoint.name,
                       f"GET /api/v1{endpoint.path} answered {exchange.status}{kind} "
                       f"({_attempts(exchange)}: {tries})", key="api_url")


def _endpoint_problem(ctx: Context, endpoint: Endpoint, exchange: Exchange) -> Finding | None:
    """Status before body: the status decides the code; the body only adds words."""
    status = exchange.status
    if exchange.failure is not None:
        return _unreachable(ctx, exchange, "API host", "api_url")
    assert status is not None
    if status == 401:
        return _rejected(ctx, endpoint, exchange)
    if status in (404, 501):
        return ctx.finding("ENDPOINT_NOT_FOUND", endpoint.name,
                           f"GET /api/v1{endpoint.path} answered {status} although other calls "
                           f"to {urls.host(exchange.url)} work", endpoint=endpoint.name,
                           note=(endpoint.note or f"source: {endpoint.source}").rstrip("."))
    if _is_server_error(status):
        return _server_error(ctx, endpoint, exchange)
    if 400 <= status < 500:
        return _request_rejected(ctx, endpoint, exchange)
    if _looks_wrong_api(exchange) or not 200 <= status < 300:
        return _wrong_api(ctx, endpoint, exchange)
    return None


@rule(CheckKind.ENDPOINT)
def endpoint_rule(ctx: Context, check: Check) -> Verdict:
    """Does a read-only GET of the entity set succeed?"""
    endpoint = ctx.catalog.endpoints[check.subject]
    exchange = ctx.seen.endpoints.get(endpoint.name)
    if exchange is None:
        why = endpoint.unprobeable or "the call was not made"
        return Verdict(check, SKIPPED, f"not checked: {why}")
    facts = EndpointAnswer(endpoint.path, exchange.status, exchange.elapsed_ms)
    if exchange.status == 403:
        return _endpoint_forbidden(ctx, check, endpoint, exchange)
    problem = _endpoint_problem(ctx, endpoint, exchange)
    if problem is not None:
        return ctx.fail(check, problem, facts)
    return Verdict(check, PASSED, f"GET /api/v1{endpoint.path} answered {exchange.status} in "
                   f"{exchange.elapsed_ms:.0f} ms", facts=facts)


__all__ = ["RULES", "Context", "diagnose", "endpoint_check_id", "granted_by_token", "rule"]
