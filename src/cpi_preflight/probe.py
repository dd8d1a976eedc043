"""The probe phase: every HTTP request of a run, concurrently, recorded as observations.

Per profile: the token request and the issuer's key set in parallel, then every planned endpoint
in parallel; all profiles at once, bounded by the shared `Limits`. Nothing here judges an answer.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import httpx

from cpi_preflight import files, oauth
from cpi_preflight.catalog import Endpoint
from cpi_preflight.connections import Clients
from cpi_preflight.network_settings import MAX_CONCURRENCY, MAX_PER_HOST
from cpi_preflight.observation import Exchange, Failure, ProfileObservations, TlsCertificate
from cpi_preflight.plan import Plan
from cpi_preflight.profile import Profile
from cpi_preflight.secret import Secret
from cpi_preflight.transport import (
    Limits,
    ReadOnlyGuard,
    RetryPolicy,
    Sender,
    build_client,
    proxy_for,
    trust_settings,
)


def endpoint_request(plan: Plan, endpoint: Endpoint, token: Secret) -> httpx.Request:
    """GET `<api_root><path>` with the bearer token, asking for what the catalog says (JSON;
    `$count` also text/plain)."""
    url = httpx.URL(plan.profile.api_root + endpoint.path, params=dict(endpoint.query))
    headers = {"Accept": endpoint.accept, "Authorization": f"Bearer {token.reveal()}"}
    return httpx.Request("GET", url, headers=headers)


def read_client_certificate(path: Path) -> TlsCertificate | None:
    """The first certificate of a PEM file (the client certificate of a certificate key)."""
    from cryptography import x509  # here: only a certificate profile needs it, and it is slow

    try:
        cert = x509.load_pem_x509_certificate(files.read_bytes(path, files.PEM_LIMIT))
    except (OSError, ValueError):
        return None
    return TlsCertificate(host="client certificate", subject=cert.subject.rfc4514_string(),
                          issuer=cert.issuer.rfc4514_string(),
                          not_after=cert.not_valid_after_utc.isoformat())


def proxies_of(profile: Profile) -> dict[str, str]:
    """The proxy each of the profile's hosts is reached through (masked), by `host[:port]`."""
    found = {}
    for url in (profile.token_url, profile.api_url):
        proxy = proxy_for(url, os.environ)
        if proxy:
            found[httpx.URL(url).netloc.decode()] = proxy
    return found


def _missing(method: str, url: str, why: str) -> Exchange:
    return Exchange(method, url, None, failure=Failure("deadline", why))


async def _endpoints(plan: Plan, sender: Sender, token: Secret,
                     observations: ProfileObservations) -> None:
    async def one(endpoint: Endpoint) -> None:
        request = endpoint_request(plan, endpoint, token)
        observations.endpoints[endpoint.name] = await sender.exchange(request)

    await asyncio.gather(*(one(e) for e in plan.calls))


async def _flow(plan: Plan, sender: Sender, observations: ProfileObservations) -> None:
    profile = plan.profile
    if plan.wrong_token_url is not None:
        return  # a certificate client's token URL that cannot take the certificate: not called
    jwks = None
    if profile.environment == "cf":
        jwks_request = httpx.Request("GET", oauth.jwks_url(profile.token_url),
                                     headers={"Accept": "application/json"})
        jwks = asyncio.ensure_future(sender.exchange(jwks_request))
    exchange = await sender.exchange(oauth.token_request(profile))
    observations.token, observations.access_token = oauth.take_token(exchange)
    if observations.access_token is not None:
        await _endpoints(plan, sender, observations.access_token, observations)
    if jwks is not None:
        observations.jwks = await jwks


def _fill_after_deadline(plan: Plan, observations: ProfileObservations) -> None:
    why = f"the profile's deadline of {plan.profile.deadline:g} s ran out first"
    if observations.token is None and plan.wrong_token_url is None:
        observations.token = _missing("POST", plan.profile.token_url, why)
    if observations.access_token is not None:
        for endpoint in plan.calls:
            url = plan.profile.api_root + endpoint.path
            observations.endpoints.setdefault(endpoint.name, _missing("GET", url, why))


async def probe_profile(plan: Plan, limits: Limits, *, http2: bool = True
                        ) -> ProfileObservations:
    """Run every request of one profile; never raises for network trouble. HTTP/2 is offered
    unless `http2` (the run's switch) or the profile's `http2: false` turns it off."""
    profile = plan.profile
    observations = ProfileObservations(profile.name,
                                       started_at=datetime.now(UTC).isoformat(timespec="seconds"))
    began = time.monotonic()
    if profile.certificate is not None:
        observations.client_certificate = read_client_certificate(profile.certificate)
    observations.proxies = proxies_of(profile)
    settings = trust_settings(profile.ca_bundle, profile.certificate, profile.key)
    guard = oauth_guard(profile)

    def client(offer_http2: bool) -> httpx.AsyncClient:
        return build_client(settings, guard, profile.timeouts.connect, profile.timeouts.read,
                            targets=(profile.token_url, profile.api_url), http2=offer_http2)

    try:
        clients = Clients(client, http2=http2 and profile.http2, per_host=limits.per_host,
                          lag=limits.lag)
    except (OSError, ssl.SSLError) as exc:
        observations.setup_problem = f"cannot load TLS material ({settings.describe()}): {exc}"
        return observations
    sender = Sender(clients, limits, RetryPolicy(attempts=profile.attempts), profile.deadline)
    try:
        async with asyncio.timeout(profile.deadline):
            await _flow(plan, sender, observations)
    except TimeoutError:
        _fill_after_deadline(plan, observations)
    finally:
        await clients.aclose()
    observations.server_certificates = dict(sender.certificates)
    observations.connections = sender.uses()
    observations.duration_ms = (time.monotonic() - began) * 1000
    return observations


def oauth_guard(profile: Profile) -> ReadOnlyGuard:
    """The read-only guard for a profile: POST only to its token URL."""
    return ReadOnlyGuard(profile.token_url)


Done = Callable[[Plan, ProfileObservations], None]  # told of each profile as it is observed


async def probe_plans(plans: Iterable[Plan], limits: Limits, *, http2: bool = True,
                      done: Done | None = None) -> dict[str, ProfileObservations]:
    """Probe every plan concurrently; `done` is told of each profile's observations as soon as
    its own requests are over, while other profiles still wait for their answers."""
    plans = list(plans)

    async def observed(plan: Plan) -> ProfileObservations:
        seen = await probe_profile(plan, limits, http2=http2)
        if done is not None:
            done(plan, seen)
        return seen

    limits.lag.start()
    try:
        results = await asyncio.gather(*(observed(p) for p in plans))
    finally:
        limits.lag.stop()
    return {plan.profile.name: result for plan, result in zip(plans, results, strict=True)}


def run(plans: Iterable[Plan], *, total: int = MAX_CONCURRENCY, per_host: int = MAX_PER_HOST,
        http2: bool = True, done: Done | None = None) -> dict[str, ProfileObservations]:
    """Probe every plan from synchronous code (the pytest plugin)."""
    return asyncio.run(probe_plans(plans, Limits(total=total, per_host=per_host), http2=http2,
                                   done=done))
