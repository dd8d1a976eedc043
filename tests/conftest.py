"""Shared by every test: each test starts with the secret registry it found.

`secret` keeps the secrets of the process in one registry, as the product needs (every output
is scrubbed of every secret read so far). In the test process that would let one test's secret
(a generated one-letter secret, say) mask the text another test compares, so each test's
registrations are undone after it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cpi_preflight import secret


@pytest.fixture(autouse=True)
def _own_secret_registry() -> Iterator[None]:
    with secret._lock:
        before = set(secret._live)
    yield
    with secret._lock:
        if secret._live != before:
            secret._live.clear()
            secret._live.update(before)
            secret._stale = True
