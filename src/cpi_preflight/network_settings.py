"""What decides how requests reach the tenants, known before any HTTP client exists: the
defaults of the limits on requests in flight, and the proxy variables httpx reads.

It imports nothing, so the options and the checks at load can name these without importing
the HTTP layer (httpx's client, asyncio), which only a run with requests needs.
"""

from __future__ import annotations

from collections.abc import Iterable

# The defaults of --max-concurrency and --max-per-host: the per-host limit protects each tenant;
# the global one only bounds the process (a landscape of 20 tenants keeps its 10 per host).
MAX_CONCURRENCY = 256
MAX_PER_HOST = 10
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
_READ = frozenset(name.lower() for name in PROXY_VARIABLES)  # httpx reads either spelling


def names_a_proxy_variable(names: Iterable[str]) -> bool:
    """Whether any of `names` (an environment's) is a proxy variable, in any spelling."""
    return any(name.lower() in _READ for name in names)
