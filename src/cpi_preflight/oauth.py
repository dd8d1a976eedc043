"""The client-credentials token request, per environment and credential type.

Cloud Foundry (XSUAA): POST <tokenurl> with the client id and secret in a Basic header, sent
literally (XSUAA reads it as is; secrets contain $ = + /), and grant_type in the form body.
Certificate keys: POST to the mTLS token URL with client_id in the body and the client
certificate on the connection. Neo: POST <token endpoint>?grant_type=client_credentials with
Basic auth.

Sources (SAP-docs/btp-integration-suite, docs/ci/ConnectionSetup/): Cloud Foundry and
certificate keys oauth-with-client-credentials-grant-for-api-clients-20e26a8.md; Neo
setting-up-oauth-inbound-authentication-with-client-credentials-grant-for-api-clients-040d811.md.
Basic header or form body: cloudfoundry/uaa docs/UAA-Client-Authentication.md.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import httpx

from cpi_preflight.observation import Exchange
from cpi_preflight.profile import Profile
from cpi_preflight.secret import MASK, Secret, register_basic_credentials

GRANT = "client_credentials"


def _basic(client_id: str, secret: Secret) -> str:
    pair = f"{client_id}:{secret.reveal()}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def token_request(profile: Profile) -> httpx.Request:
    """The token request for `profile` (never logged: it carries the secret)."""
    headers = {"Accept": "application/json"}
    if profile.environment == "neo":
        assert profile.client_secret is not None  # validated by the profile loader
        register_basic_credentials(profile.client_id, profile.client_secret)
        headers["Authorization"] = _basic(profile.client_id, profile.client_secret)
        url = httpx.URL(profile.token_url).copy_merge_params({"grant_type": GRANT})
        return httpx.Request("POST", url, headers=headers)
    form = {"grant_type": GRANT}
    if profile.client_secret is not None:
        register_basic_credentials(profile.client_id, profile.client_secret)
        headers["Authorization"] = _basic(profile.client_id, profile.client_secret)
    else:
        form["client_id"] = profile.client_id
    return httpx.Request("POST", profile.token_url, headers=headers, data=form)


def jwks_url(token_url: str) -> str:
    """The issuer's key set: `/token_keys` on the token URL's host, as SAP's libraries build it
    from the binding rather than trusting the token's `jku` header (SAP/cloud-pysec
    sap/xssec/security_context_xsuaa.py; SAP/cloud-security-services-integration-library
    XsuaaJwtSignatureValidator.java)."""
    url = httpx.URL(token_url)
    return str(url.copy_with(path="/token_keys", query=None))


UNUSABLE = "<not a usable token>"


def usable_token(raw: object) -> bool:
    """A token must be printable ASCII without spaces to travel in an Authorization header."""
    return (isinstance(raw, str) and bool(raw.strip()) and raw.strip().isascii()
            and raw.strip().isprintable() and " " not in raw.strip())


def take_token(exchange: Exchange) -> tuple[Exchange, Secret | None]:
    """Split a token response into the facts (token removed) and the token as a `Secret`."""
    data = exchange.json
    raw = data.get("access_token") if isinstance(data, dict) else None
    if exchange.status != 200 or not isinstance(data, dict) or "access_token" not in data:
        return exchange, None
    cleaned: dict[str, Any] = {k: v for k, v in data.items() if k != "access_token"}
    cleaned["access_token"] = MASK
    if not usable_token(raw):
        cleaned["access_token"] = UNUSABLE
        return dataclasses.replace(exchange, json=cleaned, body=""), None
    assert isinstance(raw, str)
    token = Secret(raw.strip())
    return dataclasses.replace(exchange, json=cleaned, body=""), token
