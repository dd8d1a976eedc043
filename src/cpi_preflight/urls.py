"""URLs as cpi-preflight reads and names them: parsed by httpx itself (so that validation and
use agree), loopback hosts told apart, the API URL normalised, the host named in messages.

The profile loader, the HTTP layer, the diagnosis, the reports and `init` all use this module;
it depends on nothing of the package, so none of them has to import another for a URL.
"""

from __future__ import annotations

import ipaddress

import httpx

from cpi_preflight import hosts


def normalize_api_url(url: str) -> str:
    """Strip a UI page's path (`/itspaces/...`, `/shell/...`: the API is on the UI's host), a
    trailing slash and a trailing `/api/v1` (or `/api`): the tool appends `/api/v1`."""
    url = hosts.without_ui_path(url.strip()).rstrip("/")
    for suffix in ("/api/v1", "/api"):
        if url.lower().endswith(suffix):
            url = url[: -len(suffix)]
    return url.rstrip("/")


def is_loopback(host: str) -> bool:
    """`localhost`, or an IP address in 127.0.0.0/8 or ::1 (names are not resolved)."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_url(url: str) -> tuple[httpx.URL | None, str]:
    """`url` as httpx will send to it, or why it cannot (checked with httpx itself, so that
    validation and use agree); (None, '') for what is no http(s) URL at all."""
    if any(c.isspace() or not c.isprintable() for c in url):
        return None, ""
    try:
        parts = httpx.URL(url)
        host = parts.host  # decodes an IDNA name, which can fail on its own
    except (httpx.InvalidURL, ValueError) as exc:  # IDNA errors are ValueErrors
        return None, str(exc) or type(exc).__name__
    if parts.scheme not in ("http", "https") or not host:
        return None, ""
    if parts.port is not None and not 0 < parts.port < 65536:
        return None, f"port {parts.port} is not between 1 and 65535"
    return parts, ""


def host(url: str) -> str:
    """`host[:port]` of `url` as written (`https://h.example:8443/api` -> `h.example:8443`)."""
    return url.split("://", 1)[-1].split("/", 1)[0]


def netloc(url: str) -> str:
    """`host[:port]` of `url` as httpx sends to it (lower-case host, default port left out): how
    the probe keys the server certificates it saw."""
    try:
        return httpx.URL(url).netloc.decode("ascii")
    except (httpx.InvalidURL, ValueError, UnicodeDecodeError):
        return host(url)
