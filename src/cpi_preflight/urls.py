"""URLs as cpi-preflight reads and names them: parsed by httpx itself (so that validation and
use agree), loopback hosts told apart, the API URL normalised, the host named in messages, a
user name or password in a URL refused (never shown), and Cloud Foundry told from Neo by the
token URL's shape.

The profile loader, the HTTP layer, the diagnosis, the reports and `init` all use this module;
it depends on nothing of the package, so none of them has to import another for a URL.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse

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


LOOPBACK, PRIVATE = "loopback", "private"
# Ranges whose hosts are not on the internet, where SAP runs no tenant: RFC 1918, unique local
# IPv6 (fc00::/7) and link-local. A real tenant may still be reached through a proxy at such an
# address, but nothing then shows that SAP answered.
_PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "fc00::/7", "fe80::/10"))


def address_kind(url: str) -> str:
    """Where the host of `url` is: `loopback` (this machine: `localhost`, `*.localhost`,
    127.0.0.0/8, ::1, or the unspecified 0.0.0.0/:: that connects to it), `private` (10/8,
    172.16/12, 192.168/16, fc00::/7, link-local), or '' for any other address or a name (names
    are not resolved)."""
    parts, _ = parse_url(url)
    name = (parts.host if parts is not None else host(url)).strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return LOOPBACK
    address = _address(name.partition("%")[0])
    if address is None:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback or address.is_unspecified:
        return LOOPBACK
    return PRIVATE if any(address in n for n in _PRIVATE_NETWORKS) else ""


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address `name` connects to without a name lookup; the resolver also reads the
    short and numeric IPv4 forms (`127.1`, `2130706433`, `0x7f.1`), so they are read too."""
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(name)) if name else None
    except OSError:
        return None


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
    """`host[:port]` of `url` as written (`https://h.example:8443/api` -> `h.example:8443`),
    without any user info (`https://a.example:443@b.example` connects to `b.example`)."""
    return _authority(url)[0].rpartition("@")[2]


def _authority(url: str) -> tuple[str, str, str]:
    """`url` cut into (authority, what is before it, what follows it)."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    return rest[:end], scheme + separator, rest[end:]


def without_user_info(url: str) -> str:
    """`url` fit for a message: a user name and password before `@` replaced by `***`."""
    authority, head, tail = _authority(url)
    if "@" not in authority:
        return url
    return f"{head}***@{authority.rpartition('@')[2]}{tail}"


def user_info_problem(url: str) -> str | None:
    """Why `url` cannot name a tenant when it holds a user name or password before its host
    (httpx would send them as Basic authentication in place of the client's credentials, and
    `https://<tenant>:443@other.example` reads as the tenant but connects to other.example);
    None when it holds none. The problem never repeats the user name or password."""
    authority = _authority(url)[0]
    if "@" not in authority:
        return None
    return (f"holds a user name or password before '@' ({without_user_info(url)}); it would "
            f"connect to {host(url) or 'no host'} and send them instead of the client's "
            "credentials: remove everything between :// and @")


def environment_of(token_url: str) -> str | None:
    """cf or neo from the token URL's shape (None when it says neither): Neo's token endpoint
    is `https://oauthasservices-<account>.<landscape host>/oauth2/api/v1/token`, XSUAA's
    `https://<subdomain>.authentication.<region>.hana.ondemand.com/oauth/token`."""
    try:
        parts = urllib.parse.urlsplit(token_url)
        name = (parts.hostname or "").lower()
    except ValueError:  # an unbalanced [ in the host
        return None
    path = parts.path.rstrip("/")
    if path.endswith("/oauth2/api/v1/token") or name.startswith("oauthasservices-"):
        return "neo"
    if path.endswith("/oauth/token") or ".authentication." in name:
        return "cf"
    return None


def netloc(url: str) -> str:
    """`host[:port]` of `url` as httpx sends to it (lower-case host, default port left out): how
    the probe keys the server certificates it saw."""
    try:
        return httpx.URL(url).netloc.decode("ascii")
    except (httpx.InvalidURL, ValueError, UnicodeDecodeError):
        return host(url)
