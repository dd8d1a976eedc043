"""From observations to verdicts: pure functions, no I/O.

Each check kind has one rule function. Rules run in plan order (token, api, roles, endpoints),
so a rule can read the verdicts it depends on: a check whose dependency failed is skipped with
the root cause named, so one root cause gives one failure. A token check that failed only
because --strict made its warning a failure (CLOCK_SKEW) still carries the issued token: what
depends on the token runs, so a local clock never hides the tenant's answers.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from cpi_preflight import grants, hosts, posture, urls  # posture also registers its rules
from cpi_preflight.catalog import Catalog, Endpoint, Severity
from cpi_preflight.claims import TokenFacts, read_token
from cpi_preflight.findings import (
    FAILED,
    PASSED,
    SKIPPED,
    Call,
    EndpointAnswer,
    Finding,
    RoleFacts,
    TokenAnswer,
    Verdict,
    bounded,
    issued_token,
)
from cpi_preflight.grants import Grant
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
from cpi_preflight.rules import ACCESS_ALL, RULES, Context, rule
from cpi_preflight.server_text import quote
from cpi_preflight.transport import RETRY_AFTER_CAP, RETRY_STATUSES
from cpi_preflight.urls import is_loopback

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
    if failure.kind == "proxy":
        return _proxy_refused(ctx, exchange, what)
    if failure.kind == "tls_client" and ctx.plan.profile.uses_certificate:
        return _certificate_rejected(ctx, exchange, f"{what} {host} refused the client "
                                     f"certificate of client {ctx.client} during the TLS "
                                     f"handshake: {failure.detail}")
    if failure.kind in ("tls", "tls_client"):
        return ctx.finding("TLS_UNTRUSTED", host,
                           f"TLS handshake with {what} {host} failed: {failure.detail}", key=key)
    words = FAILURE_WORDS.get(failure.kind, failure.kind)
    return ctx.finding("HOST_UNREACHABLE", host,
                       f"{what} {host} is unreachable: {words} ({_attempts(exchange)}; "
                       f"{failure.detail})", key=key)


# Codes that say nothing about the tenant's setup: what depends on them is not decided.
UNDECIDED = frozenset({"RATE_LIMITED"})


def _skip_for(ctx: Context, check: Check) -> Verdict | None:
    for dependency in check.depends_on:
        verdict = ctx.verdicts.get(dependency)
        if verdict is not None and verdict.outcome != PASSED and issued_token(verdict) is None:
            cause = verdict.code or verdict.outcome
            if cause in UNDECIDED:
                return Verdict(check, SKIPPED, f"not decided: {dependency} could not be "
                               f"checked ({cause}); rerun later")
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
        verdict = (_decided_before_any_call(ctx, check) or _skip_for(ctx, check)
                   or RULES[check.kind](ctx, check))
        ctx.verdicts[check.id] = bounded(verdict)
    return ctx.verdicts


def _decided_before_any_call(ctx: Context, check: Check) -> Verdict | None:
    """An API host whose shape says it is not the API fails the api check whatever the token
    check found: no call was needed to know it."""
    if check.kind != CheckKind.API:
        return None
    wrong = _wrong_api_host(ctx)
    return ctx.fail(check, wrong) if wrong is not None else None


# --- token -------------------------------------------------------------------------------


def _token_error(exchange: Exchange) -> tuple[str, str]:
    return exchange.oauth_error


def _token_http_problem(ctx: Context, exchange: Exchange) -> Finding | None:
    status, url = exchange.status, ctx.plan.profile.token_url
    assert status is not None
    error, description = _token_error(exchange)
    said = f"{status} {error}: {description}".strip().rstrip(":") if error else f"{status}"
    if status == 429:
        return _rate_limited(ctx, exchange, f"token endpoint {urls.host(url)}", "token",
                             key="token_url")
    if hosts.proxy_authentication_required(status):
        return _proxy_authentication(ctx, exchange, "token endpoint")
    if exchange.is_html and hosts.is_documented_token_url(url) and status not in (404, 405) \
            and not 300 <= status < 400:
        return _in_between(ctx, exchange) if status < 500 else _token_server_error(ctx, exchange)
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
    if (status == 401 or (status == 400 and error in rejected)) \
            and ctx.plan.profile.uses_certificate:
        return _certificate_rejected(ctx, exchange, f"token endpoint {urls.host(url)} rejected the "
                                     f"client certificate of client {ctx.client}: {said}")
    if status == 401 or (status == 400 and error in rejected):
        return ctx.finding("CLIENT_CREDENTIALS_REJECTED", ctx.client,
                           f"token endpoint {urls.host(url)} rejected client {ctx.client}: {said}",
                           key="client_secret")
    if status >= 500:
        return _token_server_error(ctx, exchange)
    if status != 200 or exchange.is_html or not isinstance(exchange.json, dict):
        return _token_url_wrong(ctx, exchange)
    return None


def _token_server_error(ctx: Context, exchange: Exchange) -> Finding:
    host = urls.host(ctx.plan.profile.token_url)
    kind = " with an HTML page" if exchange.is_html else ""
    return ctx.finding("SERVER_ERROR", host, f"token endpoint {host} answered {exchange.status}"
                       f"{kind} ({_attempts(exchange)}{_not_retried(exchange)})",
                       key="token_url")


def _not_retried(exchange: Exchange) -> str:
    """`; 500 is not retried` when the last answer was a server error the retry policy does not
    retry (SAP returns business errors as 500), so that `1 attempt` with `attempts: 3` reads as
    the policy, not a miscount; '' otherwise."""
    status = exchange.status
    if status is None or not _is_server_error(status) or status in RETRY_STATUSES:
        return ""
    return f"; {status} is not retried"


def _waits(exchange: Exchange) -> str:
    """`3 attempts; Retry-After: 30; waited 20.0 s in all, at most 10 s before each retry`."""
    parts = [_attempts(exchange)]
    parts.append(f"Retry-After: {exchange.retry_after}" if exchange.retry_after
                 else "no Retry-After")
    if len(exchange.attempts) > 1:
        parts.append(f"waited {exchange.waited_ms / 1000:.1f} s in all, at most "
                     f"{RETRY_AFTER_CAP:g} s before each retry")
    return "; ".join(parts)


def _rate_limited(ctx: Context, exchange: Exchange, what: str, kind: str, **values: str
                  ) -> Finding:
    """429 on every attempt: the server limits requests; nothing was decided about the setup."""
    return ctx.finding("RATE_LIMITED", urls.host(exchange.url),
                       f"{what} answered 429 Too Many Requests ({_waits(exchange)}): "
                       f"{hosts.rate_limit(kind)}; the check could not be decided", **values)


def _proxy_of(ctx: Context, exchange: Exchange) -> str:
    return ctx.seen.proxies.get(urls.host(exchange.url), "")


def _through_proxy(ctx: Context, exchange: Exchange) -> str:
    proxy = _proxy_of(ctx, exchange)
    if not proxy:
        return ""
    return f"; requests to {urls.host(exchange.url)} go through the proxy of {proxy}"


def _proxy_authentication(ctx: Context, exchange: Exchange, what: str) -> Finding:
    """The proxy answered 407 (to the tunnel, or to the request itself)."""
    proxy = _proxy_of(ctx, exchange)
    said = exchange.failure.detail if exchange.failure else f"{exchange.status}"
    given = ("; it did not accept the user name and password given there" if "***@" in proxy
             else "; no user name and password are given there" if proxy else "")
    return ctx.finding(
        "PROXY_AUTH_REQUIRED", proxy or urls.host(exchange.url),
        f"the proxy requires authentication: {'the proxy of ' + proxy if proxy else 'a proxy'} "
        f"answered {said} to the request for {what} {urls.host(exchange.url)}{given}",
        host=urls.host(exchange.url))


def _proxy_refused(ctx: Context, exchange: Exchange, what: str) -> Finding:
    """The proxy refused to open the tunnel (CONNECT answered outside 2xx)."""
    assert exchange.failure is not None
    detail = exchange.failure.detail
    status = int(detail[:3]) if detail[:3].isdigit() else 0
    if hosts.proxy_authentication_required(status):
        return _proxy_authentication(ctx, exchange, what)
    proxy = _proxy_of(ctx, exchange)
    return ctx.finding("INTERCEPTED", urls.host(exchange.url),
                       f"{'the proxy of ' + proxy if proxy else 'a proxy'} refused to connect to "
                       f"{what} {urls.host(exchange.url)}: it answered {detail}",
                       host=urls.host(exchange.url))


def _in_between(ctx: Context, exchange: Exchange) -> Finding:
    """An HTML page from a token URL of the documented shape: XSUAA and Neo's OAuth service answer
    JSON, so something in between (a proxy, a web filter) answered."""
    url = ctx.plan.profile.token_url
    return ctx.finding(
        "INTERCEPTED", urls.host(url),
        f"token_url {url} has the documented shape, but something between this machine and SAP "
        f"answered: {exchange.status}{_said(exchange)}, where the token endpoint answers JSON"
        f"{_through_proxy(ctx, exchange)}", host=urls.host(url))


def _certificate_rejected(ctx: Context, exchange: Exchange, said: str) -> Finding:
    """A certificate client refused (401, or a TLS alert about its certificate): name the token
    host a certificate key must use, and a proxy that may have removed the certificate."""
    url = ctx.plan.profile.token_url
    host = hosts.host_of(url)
    hints = []
    if urls.host(exchange.url) == urls.host(url) and not hosts.is_certificate_token_url(url) \
            and not is_loopback(host):
        hints.append(f"a certificate key's token endpoint is on XSUAA's authentication.cert host "
                     f"(the key's certurl + /oauth/token), and {host} is not one")
    proxy = _proxy_of(ctx, exchange)
    if proxy:
        hints.append(f"the request went through the proxy of {proxy}: a proxy that inspects TLS "
                     "opens its own connection, without the client certificate")
    return ctx.finding("CLIENT_CERTIFICATE_REJECTED", ctx.client,
                       "; ".join([said, *hints]), key="certificate")


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
    exp, iat = facts.expires_at, facts.issued_at
    if exp is not None and iat is not None and exp <= iat:
        return (f"the token's lifetime is not positive: it expires at {exp.isoformat()} and "
                f"was issued at {iat.isoformat()} (exp minus iat: "
                f"{(exp - iat).total_seconds():.0f} s)")
    return ""


def _lifetime(facts: TokenFacts) -> timedelta | None:
    """exp minus iat: how long the issuer made the token valid (None without both claims)."""
    if facts.expires_at is None or facts.issued_at is None:
        return None
    return facts.expires_at - facts.issued_at


# A token is fetched new on every run, so its iat is this machine's "now" give or take the run's
# duration; beyond this, the clocks differ (codes.yaml CLOCK_SKEW says "more than 5 minutes").
CLOCK_TOLERANCE = timedelta(minutes=5)


def _duration(span: timedelta) -> str:
    """`13 h 0 min`, `7 min`, `45 s`."""
    seconds = int(abs(span.total_seconds()))
    hours, minutes = divmod(seconds // 60, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


def _clock_skew(ctx: Context, facts: TokenFacts) -> Finding | None:
    """CLOCK_SKEW when the fresh token's iat is far from this machine's time (or, without iat,
    when it looks expired by this machine's clock); the calls decide the rest."""
    if facts.format != "jwt":
        return None
    now = ctx.now.isoformat(timespec="seconds")
    host = urls.host(ctx.plan.profile.token_url)
    if facts.issued_at is not None:
        skew = ctx.now - facts.issued_at
        if abs(skew) <= CLOCK_TOLERANCE:
            return None
        lifetime = _lifetime(facts)
        judged = (f"its lifetime is judged from exp minus iat ({_duration(lifetime)})"
                  if lifetime is not None else "it carries no exp")
        message = (f"this machine's clock is {_duration(skew)} "
                   f"{'ahead of' if skew > timedelta(0) else 'behind'} the token issuer's: "
                   f"{host} issued the token at {facts.issued_at.isoformat()} (iat) while this "
                   f"machine's time was {now}; {judged}, and the API's answers decide whether "
                   "the tenant accepts it")
    elif facts.expires_at is not None and facts.expires_at <= ctx.now:
        message = (f"the token {host} just issued expires at {facts.expires_at.isoformat()}, "
                   f"before this machine's time {now}, and carries no iat to judge its "
                   "lifetime: this machine's clock may be ahead; the API's answers decide "
                   "whether the tenant accepts the token")
    else:
        return None
    return ctx.graded(ctx.finding("CLOCK_SKEW", "this machine's clock", message))


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


def _before_the_call(ctx: Context) -> Finding | None:
    """What the client certificate's dates and the token URL's shape decide, whatever the token
    endpoint answered (or before it is asked at all)."""
    cert = ctx.seen.client_certificate
    if cert is not None and datetime.fromisoformat(cert.not_after) < ctx.now:
        return ctx.finding(
            "CREDENTIAL_EXPIRED", cert.subject,
            f"the client certificate expired on {cert.not_after[:10]}: create a new key "
            f"(certificate {cert.subject} of client {ctx.client}, valid until {cert.not_after})",
            key="certificate")
    wrong = ctx.plan.wrong_token_url
    if wrong is None:
        return None
    url = ctx.plan.profile.token_url
    return ctx.finding(
        "TOKEN_URL_WRONG", url,
        f"token_url {url} is on {wrong.what}: client {ctx.client} authenticates with a "
        f"certificate, and a certificate key's token endpoint is {wrong.right} (the key's "
        "certurl + /oauth/token); not called", key="token_url")


@rule(CheckKind.TOKEN)
def token_rule(ctx: Context, check: Check) -> Verdict:
    """Did the token endpoint issue a usable token?"""
    if ctx.seen.setup_problem:
        return ctx.fail(check, ctx.finding("TLS_UNTRUSTED", ctx.plan.profile.token_url,
                                           ctx.seen.setup_problem, key="ca_bundle"))
    before = _before_the_call(ctx)
    if before is not None:
        return ctx.fail(check, before)
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
    facts = TokenAnswer(exchange.status, exchange.elapsed_ms, token)
    skew = _clock_skew(ctx, token)
    if skew is not None and skew.severity == Severity.FAILURE:
        return ctx.fail(check, skew, facts)  # --strict; the token stays usable (`_skip_for`)
    return Verdict(check, PASSED, _token_summary(ctx, token), (skew,) if skew else (),
                   facts=facts)


# --- api ---------------------------------------------------------------------------------


def _exchanges(ctx: Context) -> list[tuple[Endpoint, Exchange]]:
    return [(e, ctx.seen.endpoints[e.name]) for e in ctx.plan.endpoints
            if e.name in ctx.seen.endpoints]


def _path_hint(api: str) -> str:
    path = hosts.path_after_host(api)
    return (f"; api_url has the path {path} after the host, and the API is at the root of the "
            "tenant's host (the service key's url has no path)" if path else "")


def _wrong_api(ctx: Context, endpoint: Endpoint, exchange: Exchange) -> Finding:
    api = ctx.plan.profile.api_url
    return ctx.finding("API_URL_WRONG", api,
                       f"api_url {api} is not the Cloud Integration API: GET /api/v1"
                       f"{endpoint.path} answered {_describe_answer(exchange)}{_path_hint(api)}",
                       key="api_url")


def _wrong_api_host(ctx: Context) -> Finding | None:
    """The API host's shape says it is not the API: decided before any call."""
    wrong, api = ctx.plan.wrong_api_host, ctx.plan.profile.api_url
    if wrong is None:
        return None
    return ctx.finding("API_URL_WRONG", api, f"api_url {api} is {wrong.what}: the API is at "
                       f"{wrong.right} (the url of a service key of plan api); not called",
                       key="api_url")


def _router_answered(ctx: Context, endpoint: Endpoint, exchange: Exchange) -> Finding:
    """The Cloud Foundry router answered: no application has the host name."""
    api = ctx.plan.profile.api_url
    return ctx.finding(
        "API_URL_WRONG", api,
        f"api_url {api} is not the Cloud Integration API: the Cloud Foundry router answered GET "
        f"/api/v1{endpoint.path} with {exchange.status} \"{quote(exchange.body, 200)}\" "
        f"(X-Cf-Routererror: {exchange.router_error}): {hosts.router_error(exchange.router_error)}",
        key="api_url")


def _foreign_page(ctx: Context, endpoint: Endpoint, exchange: Exchange) -> Finding:
    """Every call answered an HTML 401/403 on Cloud Foundry, where the API answers errors as
    OData JSON: not the API, or something in between when the host has the API's shape."""
    api, host = ctx.plan.profile.api_url, urls.host(exchange.url)
    answer = (f"every call answered with an HTML page, where the API answers errors as OData "
              f"JSON: GET /api/v1{endpoint.path} answered {exchange.status}{_said(exchange)}")
    if hosts.is_documented_api_host(api):
        return ctx.finding(
            "INTERCEPTED", host, f"api_url {api} has the documented shape, but something between "
            f"this machine and SAP answered: {answer}{_through_proxy(ctx, exchange)}", host=host)
    return ctx.finding("API_URL_WRONG", api, f"api_url {api} is not the Cloud Integration API "
                       f"on Cloud Foundry: {answer}{_path_hint(api)}", key="api_url")


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


def _rejected(ctx: Context, endpoint: Endpoint, exchange: Exchange, hint: str = "") -> Finding:
    token = ctx.token
    origin = (f"; the token was issued by {token.issuer} for identity zone {token.zone}"
              if token is not None and token.format == "jwt" else "")
    return ctx.finding("TOKEN_REJECTED_BY_API", urls.host(exchange.url),
                       f"the API at {urls.host(exchange.url)} rejected a freshly issued token: "
                       f"GET /api/v1{endpoint.path} answered 401{_said(exchange)}{origin}{hint}",
                       zone=token.zone if token is not None else "?", key="token_url")


def _edge_hint(ctx: Context, exchange: Exchange) -> str:
    """An Edge Integration Cell's virtual host answers 401 to calls outside /local: say so when
    every call got a 401 that is no OData error from a host that is no SAP Cloud Integration
    host (then the 401 is no token problem)."""
    host = hosts.host_of(exchange.url)
    if ctx.environment != "cf" or hosts.is_documented_api_host(exchange.url) \
            or is_loopback(host) or _is_odata_error(exchange):
        return ""
    return (f"; if {host} is an Edge Integration Cell's virtual host: its local API is under "
            "/local and takes no token, and cpi-preflight does not check it yet")


def _is_server_error(status: int | None) -> bool:
    return (status or 0) >= 500


def _all_server_errors(ctx: Context, answered: list[tuple[Endpoint, Exchange]],
                       statuses: set[int | None]) -> Finding:
    exchange = answered[0][1]
    said = next((x.odata_message for _, x in answered if x.odata_message), "")
    return ctx.finding("SERVER_ERROR", urls.host(exchange.url),
                       f"the API at {urls.host(exchange.url)} answered only server errors "
                       f"({', '.join(str(s) for s in sorted(statuses, key=str))}) to "
                       f"{_calls(len(answered))}" + (f"; the API said \"{said}\"" if said else ""),
                       key="api_url")


def _calls(count: int) -> str:
    return f"{count} call" + ("s" if count != 1 else "")


def _api_rate_limited(ctx: Context, answered: list[tuple[Endpoint, Exchange]]) -> Finding:
    exchange = max((x for _, x in answered), key=lambda x: x.waited_ms)
    return _rate_limited(ctx, exchange, f"the API at {urls.host(exchange.url)} "
                         f"({_calls(len(answered))})", "api", key="api_url")


def _api_problem(ctx: Context, pairs: list[tuple[Endpoint, Exchange]]) -> Finding | None:
    """Status before body: the API is wrong only on positive evidence, and only when no call
    answered as the API; otherwise each endpoint's own answer is judged by its own check."""
    answered = [(e, x) for e, x in pairs if x.failure is None]
    if not answered:
        return _unreachable(ctx, pairs[0][1], "API host", "api_url")
    statuses = {x.status for _, x in answered}
    as_api = any(_answered_as_api(x) for _, x in answered)
    routed = [(e, x) for e, x in answered if hosts.router_error(x.router_error)]
    if routed and not as_api:
        return _router_answered(ctx, *routed[0])
    if statuses == {429}:
        return _api_rate_limited(ctx, answered)
    if len(statuses) == 1 and hosts.proxy_authentication_required(answered[0][1].status or 0):
        return _proxy_authentication(ctx, answered[0][1], "API host")
    if ctx.environment == "cf" and all(x.is_html and x.status in (401, 403) for _, x in answered):
        return _foreign_page(ctx, *answered[0])
    if statuses == {401}:
        return _rejected(ctx, *answered[0], hint=_edge_hint(ctx, answered[0][1]))
    if all(_is_server_error(s) or s == 429 for s in statuses):
        return _all_server_errors(ctx, answered, statuses)
    if as_api:
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
    return Verdict(check, PASSED, f"{ctx.plan.profile.api_root} answered {_calls(len(pairs))} "
                   f"as the Cloud Integration API (status {', '.join(statuses)})")


# --- roles -------------------------------------------------------------------------------


def token_grant(role: str, facts: TokenFacts | None, catalog: Catalog,
                environment: str = "cf") -> Grant:
    """What the token's scopes say about `role`, a persona that grants it included."""
    if environment == "neo":
        return Grant("unknown")  # Neo scopes are not documented: only calls decide there
    return grants.grant(role, facts, catalog)


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


def _personas_note(ctx: Context) -> str:
    """`; the token carries persona X, which does not cover it in SAP's tasks table`."""
    held = grants.held_personas(ctx.token, ctx.catalog) if ctx.environment == "cf" else ()
    if not held:
        return ""
    many = len(held) > 1
    return (f"; the token carries persona{'s' if many else ''} {', '.join(held)}, which "
            f"do{'' if many else 'es'} not cover it in SAP's tasks table")


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
        message = (f"role {role} is not granted to client {ctx.client}: "
                   f"{_token_lacks(ctx, missing)}{call}{_personas_note(ctx)}; needed by "
                   f"{_needed_by(ctx, role)}")
    else:
        message = (f"role {role} is not granted to client {ctx.client}{call}; the token's scopes "
                   f"cannot tell (no known permission list){_personas_note(ctx)}; needed by "
                   f"{_needed_by(ctx, role)}")
    return ctx.finding("ROLE_MISSING", role, message, role=role, neo_roles=neo,
                       roles_after_json=_roles_with_missing(ctx))


def _token_lacks(ctx: Context, missing: tuple[str, ...]) -> str:
    """`the token lacks scope(s) it!b<N>.X, ...` for permissions the token does not carry."""
    return (f"the token lacks scope{'s' if len(missing) > 1 else ''} "
            f"{', '.join(_app(ctx.token) + '.' + p for p in missing)}")


def _roles_with_missing(ctx: Context) -> str:
    """The instance roles to send: those the token shows, and the profile's roles it lacks."""
    lacking = [r for r in ctx.plan.roles
               if token_grant(r, ctx.token, ctx.catalog).granted != "yes"]
    return posture.roles_after_json(ctx, add=lacking)


def _carried(ctx: Context, permissions: tuple[str, ...]) -> str:
    """The token's scopes that carry `permissions` (by the permission or role-template name)."""
    scopes = ctx.token.scopes if ctx.token is not None else ()
    return ", ".join(s for s in scopes if any(s.endswith("." + p) for p in permissions))


def _persona_scope(ctx: Context, persona: str) -> str:
    """The token's scope that carries `persona` (its group, or its template name)."""
    group = ctx.catalog.personas[persona].group
    return _carried(ctx, (group, persona))


def _what_carries(ctx: Context, said: Grant, permissions: tuple[str, ...]) -> str:
    """How the token carries a role: its scopes, or the persona that covers it."""
    if said.persona:
        return (f"persona {said.persona} ({_persona_scope(ctx, said.persona)}), which covers "
                f"it in SAP's tasks table")
    return f"every permission it needs ({_carried(ctx, permissions)})"


def _not_effective(ctx: Context, role: str, said: Grant,
                   proof: tuple[Endpoint, Exchange]) -> Finding:
    """403 although the token carries every permission of `role` (Cloud Foundry only)."""
    endpoint, exchange = proof
    carried = _what_carries(ctx, said, (*neo_roles_of(role, ctx.catalog), role))
    return ctx.finding(
        "ROLE_NOT_EFFECTIVE", role,
        f"role {role}: the token of client {ctx.client} carries {carried}, and still "
        f"GET /api/v1{endpoint.path} answered 403{_said(exchange)}",
        role=role, roles_after_json=posture.roles_after_json(ctx, add=[ACCESS_ALL]))


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


def _role_passed(ctx: Context, check: Check, said: Grant,
                 proof: tuple[Endpoint, Exchange] | None, note: str = "") -> Verdict:
    role = check.subject
    how = []
    if said.granted == "yes":
        how.append(f"the token carries {_persona_scope(ctx, said.persona)}, and SAP's tasks "
                   "table puts the role's tasks in that persona" if said.persona
                   else "the token carries its scopes")
    if proof is not None:
        how.append(f"GET /api/v1{proof[0].path} answered {proof[1].status}")
    elif said.granted == "yes":
        how.append("no read-only call proves it")
    if said.granted == "no":
        how.append("although the catalog's scope list for it is not in the token")
    via = f" via persona {said.persona}" if said.persona else ""
    return Verdict(check, PASSED, f"role {role} is granted{via}: {'; '.join(how)}{note}",
                   facts=RoleFacts(said.granted, _call(proof)))


def _why_unknown(ctx: Context, proof: tuple[Endpoint, Exchange] | None) -> str:
    groups = grants.unknown_groups(ctx.token, ctx.catalog) if ctx.environment == "cf" else ()
    call = (f"its proof call answered {proof[1].status}" if proof is not None else
            "no read-only call proves it")
    if groups:
        return (f"the token carries {', '.join(groups)}, an authorization group whose roles "
                f"the catalog does not know, and {call}")
    if proof is not None:
        return call
    if ctx.environment == "neo":
        return "no read-only API call needs it, and a Neo token carries no scopes to read"
    return "the catalog has no confirmed scope list for it and no read-only call proves it"


def _cannot_tell(check: Check, reason: str, facts: RoleFacts) -> Verdict:
    return Verdict(check, SKIPPED, f"cannot tell whether role {check.subject} is granted: "
                   f"{reason}", facts=facts)


def _served_by_persona(ctx: Context, role: str, said: Grant,
                       proof: tuple[Endpoint, Exchange]) -> str:
    """Why a successful proof call does not prove `role`: a persona the token holds allows the
    call without covering the role ('' when the call does prove it)."""
    if said.granted == "yes" or ctx.environment != "cf":
        return ""
    endpoint, exchange = proof
    persona = grants.serving_persona(endpoint.neo_roles, role, ctx.token, ctx.catalog)
    if not persona:
        return ""
    return (f"GET /api/v1{endpoint.path} answered {exchange.status}, but persona {persona} "
            f"({_persona_scope(ctx, persona)}) allows that call too ("
            f"{', '.join(endpoint.neo_roles)}) and does not cover {role} in SAP's tasks table; "
            "the token does not carry the role's own scopes")


@rule(CheckKind.ROLE)
def role_rule(ctx: Context, check: Check) -> Verdict:
    """Is the role granted: by the token's scopes or a persona, and proven by a call?"""
    role = check.subject
    said = token_grant(role, ctx.token, ctx.catalog, ctx.environment)
    proof = _proof(ctx, role)
    status = proof[1].status if proof else None
    facts = RoleFacts(said.granted, _call(proof))
    if proof is not None and status is not None and 200 <= status < 300:
        other = _served_by_persona(ctx, role, said, proof)
        if other:
            return _cannot_tell(check, other, RoleFacts("unknown", _call(proof)))
        return _role_passed(ctx, check, said, proof, _unchecked_neo_roles(ctx, role))
    if status == 403 and said.granted == "yes" and proof is not None:
        return ctx.fail(check, _not_effective(ctx, role, said, proof), facts)
    if status == 403 or (said.granted == "no" and (status is None or status != 404)):
        return ctx.fail(check, _role_missing(ctx, role, said.missing, proof if status == 403
                                             else None), facts)
    if said.granted == "yes":
        failed_call = _no_call_succeeded(ctx, role)
        if failed_call:
            return _not_proven(ctx, check, said, failed_call, facts)
        return _role_passed(ctx, check, said, None)
    return _cannot_tell(check, _why_unknown(ctx, proof), facts)


def _no_call_succeeded(ctx: Context, role: str) -> str:
    """Why the call planned to prove `role` proved nothing: the api check did not pass, or the
    call got no answer or an unsuccessful one ('' when no read-only call can prove the role)."""
    name = ctx.plan.proof_for.get(role)
    if name is None:
        return ""
    api = ctx.verdicts.get(API)
    if api is not None and api.outcome != PASSED:
        return f"{API} {api.outcome} ({api.code or api.outcome})"
    call = f"GET /api/v1{ctx.catalog.endpoints[name].path}"
    exchange = ctx.seen.endpoints.get(name)
    if exchange is None or exchange.status is None:
        return f"{call} got no answer"
    return f"{call} answered {exchange.status}"


def _not_proven(ctx: Context, check: Check, said: Grant, failed_call: str,
                facts: RoleFacts) -> Verdict:
    """A role the token carries whose proof call could not succeed: skipped, never passed (the
    README defines a role as granted by its scopes and proven by a successful call)."""
    carried = (f"persona {said.persona} ({_persona_scope(ctx, said.persona)}), which covers it "
               "in SAP's tasks table" if said.persona else "its scopes")
    return Verdict(check, SKIPPED, f"role {check.subject}: granted in the token (it carries "
                   f"{carried}); not proven: no call succeeded ({failed_call})", facts=facts)


# --- endpoints ---------------------------------------------------------------------------


def _role_verdict_for(ctx: Context, endpoint: Endpoint) -> Verdict | None:
    for role in ctx.plan.roles:
        covers = (endpoint.role == role if ctx.environment == "cf"
                  else bool(set(neo_roles_of(role, ctx.catalog)) & set(endpoint.neo_roles)))
        verdict = ctx.verdicts.get(f"role[{role}]")
        if covers and verdict is not None and verdict.outcome == FAILED:
            return verdict
    return None


def _token_carries(ctx: Context, endpoint: Endpoint) -> str:
    """How a CF token carries every permission `endpoint` needs: its scopes, or a persona that
    covers the endpoint's role ('' when it does not; Neo tokens tell nothing)."""
    token = ctx.token
    if ctx.environment != "cf" or token is None or token.format != "jwt":
        return ""
    if endpoint.neo_roles and set(endpoint.neo_roles) <= token.permissions:
        return f"every permission it needs ({_carried(ctx, endpoint.neo_roles)})"
    persona = grants.covering_persona(endpoint.role, token, ctx.catalog)
    return (f"persona {persona} ({_persona_scope(ctx, persona)}), which covers role "
            f"{endpoint.role} in SAP's tasks table" if persona else "")


def _scopes_lacking(ctx: Context, endpoint: Endpoint) -> str:
    """`: the token lacks scope it!b<N>.X` for the permissions of `endpoint` a CF token does not
    carry ('' on Neo or without a readable token): its role may have passed by another call, so
    naming the role alone would contradict that check."""
    token = ctx.token
    if ctx.environment != "cf" or token is None or token.format != "jwt":
        return ""
    missing = tuple(p for p in endpoint.neo_roles if p not in token.permissions)
    return f": {_token_lacks(ctx, missing)}" if missing else ""


def _forbidden(endpoint: Endpoint) -> EndpointAnswer:
    """The facts of a failed 403 call: its status, no time (JUnit shows none for it)."""
    return EndpointAnswer(endpoint.path, 403, elapsed_ms=None)


def _endpoint_forbidden(ctx: Context, check: Check, endpoint: Endpoint,
                        exchange: Exchange) -> Verdict:
    failed_role = _role_verdict_for(ctx, endpoint)
    if failed_role is not None:
        return Verdict(check, SKIPPED, f"GET /api/v1{endpoint.path} answered 403 because "
                       f"{failed_role.check.id} failed ({failed_role.code}); fix that first")
    carried = _token_carries(ctx, endpoint)
    if carried:
        return ctx.fail(check, ctx.finding(
            "ROLE_NOT_EFFECTIVE", endpoint.role,
            f"GET /api/v1{endpoint.path} answered 403{_said(exchange)} although the token of "
            f"client {ctx.client} carries {carried}", role=endpoint.role,
            roles_after_json=posture.roles_after_json(ctx, add=[ACCESS_ALL])),
            _forbidden(endpoint))
    role = endpoint.role if ctx.environment == "cf" else ", ".join(endpoint.neo_roles)
    return ctx.fail(check, ctx.finding(
        "ROLE_MISSING", role, f"GET /api/v1{endpoint.path} answered 403{_said(exchange)}: client "
        f"{ctx.client} lacks {'role' if ctx.environment == 'cf' else 'Neo roles'} {role}"
        f"{_scopes_lacking(ctx, endpoint)}",
        role=endpoint.role, neo_roles=", ".join(endpoint.neo_roles),
        roles_after_json=_roles_with_missing(ctx)), _forbidden(endpoint))


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
    said = (f" with the OData message \"{exchange.odata_message}\""
            if exchange.odata_message else "")
    return ctx.finding("SERVER_ERROR", endpoint.name,
                       f"GET /api/v1{endpoint.path} answered {exchange.status}{kind}{said} "
                       f"({_attempts(exchange)}: {tries}{_not_retried(exchange)})",
                       key="api_url")


def _endpoint_problem(ctx: Context, endpoint: Endpoint, exchange: Exchange) -> Finding | None:
    """Status before body: the status decides the code; the body only adds words."""
    status = exchange.status
    if exchange.failure is not None:
        return _unreachable(ctx, exchange, "API host", "api_url")
    assert status is not None
    if status == 401:
        return _rejected(ctx, endpoint, exchange)
    if status == 429:
        return _rate_limited(ctx, exchange, f"GET /api/v1{endpoint.path}", "api", key="api_url")
    if hosts.proxy_authentication_required(status):
        return _proxy_authentication(ctx, exchange, "API host")
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


__all__ = ["RULES", "Context", "diagnose", "endpoint_check_id", "rule", "token_grant"]
