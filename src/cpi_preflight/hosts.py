"""Which host is which: the hosts of SAP's API and token endpoints, the hosts that look like
them but are not, and what answers from something else (the Cloud Foundry router, a proxy, Edge
Integration Cell's local API) look like.

The knowledge is data (data/hosts.yaml, each entry with its source and confidence); these are
pure functions over URLs, used before any call (profile, plan) and to explain answers (diagnosis).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import httpx
import yaml

from cpi_preflight.catalog import SAFE_LOADER
from cpi_preflight.errors import CatalogError


@dataclass(frozen=True)
class WrongHost:
    """A URL whose host is known not to be what it is used for, and what to use instead."""

    host: str
    what: str  # what the host is, e.g. "the tenant's runtime host (-rt), which ..."
    right: str  # the URL to use instead (may hold a <placeholder> the host cannot tell)
    confidence: str


@cache
def data() -> dict[str, Any]:
    """The shipped host knowledge (data/hosts.yaml), read once."""
    text = resources.files("cpi_preflight").joinpath("data", "hosts.yaml").read_text("utf-8")
    loaded = yaml.load(text, Loader=SAFE_LOADER)
    if not isinstance(loaded, dict):
        raise CatalogError("data/hosts.yaml must hold a mapping")
    return loaded


@cache
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


def host_of(url: str) -> str:
    """The host name of `url` in lower case, without port ('' when it has none)."""
    try:
        return httpx.URL(url).host.lower()
    except (httpx.InvalidURL, ValueError):
        return ""


def _path_of(url: str) -> str:
    try:
        return httpx.URL(url).path
    except (httpx.InvalidURL, ValueError):
        return ""


def _match(entry: dict[str, Any], host: str) -> re.Match[str] | None:
    return _pattern(entry["pattern"]).match(host) if host else None


def wrong_api_host(api_url: str) -> WrongHost | None:
    """What the host of `api_url` is when its shape says it is not the API (runtime host, the
    Integration Suite UI, Neo's runtime host), with the host to use instead; else None."""
    host = host_of(api_url)
    for entry in data()["api_hosts"]["wrong"]:
        found = _match(entry, host)
        if found is not None:
            return WrongHost(host, entry["what"], entry["right"].format(**found.groupdict()),
                             entry["confidence"])
    return None


def is_documented_api_host(api_url: str) -> bool:
    """Whether the host of `api_url` has the shape SAP documents for a tenant's API."""
    host = host_of(api_url)
    return any(_match(e, host) for e in data()["api_hosts"]["documented"])


def _token_entry(token_url: str) -> tuple[dict[str, Any], re.Match[str]] | None:
    host = host_of(token_url)
    for entry in data()["token_hosts"]:
        found = _match(entry, host)
        if found is not None:
            return entry, found
    return None


def is_documented_token_url(token_url: str) -> bool:
    """Whether `token_url` has a shape SAP documents for a token endpoint: host and path."""
    known = _token_entry(token_url)
    return known is not None and _path_of(token_url).rstrip("/") == known[0]["path"]


def is_certificate_token_url(token_url: str) -> bool:
    """Whether `token_url` is on XSUAA's mTLS host (`authentication.cert`)."""
    known = _token_entry(token_url)
    return known is not None and bool(known[0].get("mtls"))


def certificate_token_url(token_url: str) -> str | None:
    """The mTLS token URL for a token URL on XSUAA's plain `authentication` host (a certificate
    client must use the `authentication.cert` host); None for any other URL."""
    wrong = wrong_certificate_token_url(token_url)
    return wrong.right if wrong is not None else None


def wrong_certificate_token_url(token_url: str) -> WrongHost | None:
    """For a certificate client: a token URL on XSUAA's plain host, with the mTLS one to use."""
    known = _token_entry(token_url)
    if known is None or "certificate" not in known[0]:
        return None
    entry, found = known
    return WrongHost(found.group(0), entry["certificate_note"],
                     entry["certificate"].format(**found.groupdict()), entry["confidence"])


def _first_segment(url: str) -> tuple[str, str]:
    """The first path segment of `url` in lower case, and the part of `url` before it."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?#]*)/([^/?#]*)", url)
    return (match.group(2).lower(), match.group(1)) if match else ("", url)


def without_ui_path(url: str) -> str:
    """`url` without a UI page's path (`/itspaces/...`, `/shell/...`): the API's host is the UI
    address without them."""
    segment, before = _first_segment(url)
    return before if segment in data()["ui_paths"]["segments"] else url


def path_after_host(api_url: str) -> str:
    """The path `api_url` has after its host ('' for none): SAP's API is at the host's root."""
    return _path_of(api_url).rstrip("/")


def is_edge_local(api_url: str) -> bool:
    """Whether `api_url` points at Edge Integration Cell's local API (its path starts /local)."""
    return _first_segment(api_url)[0] == str(data()["edge_integration_cell"]["path_segment"])


def edge_facts() -> str:
    """What Edge Integration Cell's local API is like, and where to check its client instead."""
    edge = data()["edge_integration_cell"]
    return (f"Edge Integration Cell's local OData API ({edge['root']}) takes "
            f"{edge['authentication']}, and offers only {', '.join(edge['entity_sets'])}: "
            f"{edge['elsewhere']}. {edge['cloud_check'][0].upper()}{edge['cloud_check'][1:]}")


def router_error(value: str) -> str:
    """What a Cloud Foundry router error named in X-Cf-Routererror means ('' when unknown)."""
    router = data()["router"]
    return str(router["meaning"]) if value == router["unknown_route"] else ""


def rate_limit(kind: str) -> str:
    """Who limits requests and how, for `kind` 'token' or 'api'."""
    return str(data()["rate_limits"][kind]["says"])


def proxy_authentication_required(status: int) -> bool:
    """Whether a proxy's `status` asks for proxy credentials (407)."""
    return status == int(data()["proxy"]["authentication_required"])
