"""HTTP/2 in the sandbox: offered through ALPN only when asked for, many requests on one
connection answered side by side, stream resets for the reset fault, and the broken_http2 fault."""

from __future__ import annotations

import asyncio
import os
import resource
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cpi_preflight.sandbox import Sandbox
from cpi_preflight.sandbox.__main__ import build_parser, build_spec

from .conftest import JSON, Launch, TenantClient

PATHS = ["/MessageProcessingLogs", "/IntegrationRuntimeArtifacts", "/KeystoreEntries",
         "/IntegrationPackages", "/DataStores", "/NumberRanges"]


def together(sandbox: Sandbox, token: str, paths: list[str], *, http2: bool = True,
             http1: bool = True) -> list[httpx.Response | BaseException]:
    """GET every path at once through one async client; its answers (or errors)."""
    context = ssl.create_default_context(cafile=sandbox.connection.ca_path)
    headers = {**JSON, "Authorization": f"Bearer {token}"}

    async def go() -> list[httpx.Response | BaseException]:
        async with httpx.AsyncClient(verify=context, http2=http2, http1=http1,
                                     timeout=10) as client:
            calls = (client.get(f"{sandbox.connection.api_url}/api/v1{p}", headers=headers)
                     for p in paths)
            return await asyncio.gather(*calls, return_exceptions=True)
    return asyncio.run(go())


def statuses(answers: list[httpx.Response | BaseException]) -> list[Any]:
    return [a.status_code if isinstance(a, httpx.Response) else type(a).__name__
            for a in answers]


def api_connections(sandbox: Sandbox) -> list[str]:
    return [c.protocol for c in sandbox.connections if c.host == "api"]


def test_offered_http2_carries_every_request_on_one_connection(
        fresh: Launch, make_client: Callable[..., TenantClient]) -> None:
    sandbox = fresh({"http2": True})
    answers = together(sandbox, make_client(sandbox).token(), PATHS)
    assert statuses(answers) == [200] * len(PATHS)
    assert {a.http_version for a in answers if isinstance(a, httpx.Response)} == {"HTTP/2"}
    assert api_connections(sandbox) == ["HTTP/2"]
    api = [r for r in sandbox.requests if r.host == "api"]
    assert {(r.connection, r.protocol) for r in api} == {(sandbox.connections[-1].number,
                                                          "HTTP/2")}
    assert sorted(r.path for r in api) == sorted(f"/api/v1{p}" for p in PATHS)


def test_without_http2_the_sandbox_speaks_http1_to_a_client_offering_both(
        fresh: Launch, make_client: Callable[..., TenantClient]) -> None:
    sandbox = fresh()
    answers = together(sandbox, make_client(sandbox).token(), PATHS[:2])
    assert {a.http_version for a in answers if isinstance(a, httpx.Response)} == {"HTTP/1.1"}
    assert set(api_connections(sandbox)) == {"HTTP/1.1"}


def test_a_client_offering_only_http1_gets_http1_from_an_http2_host(
        fresh: Launch, make_client: Callable[..., TenantClient]) -> None:
    sandbox = fresh({"http2": True})
    answers = together(sandbox, make_client(sandbox).token(), PATHS[:1], http2=False)
    assert statuses(answers) == [200]
    assert api_connections(sandbox) == ["HTTP/1.1"]


def test_requests_on_one_connection_are_answered_side_by_side(
        fresh: Launch, make_client: Callable[..., TenantClient]) -> None:
    sandbox = fresh({"http2": True, "faults": {"latency_ms": 300}})
    token = make_client(sandbox).token()
    began = time.monotonic()
    answers = together(sandbox, token, PATHS)
    took = time.monotonic() - began
    assert statuses(answers) == [200] * len(PATHS)
    assert api_connections(sandbox) == ["HTTP/2"]
    api = [r for r in sandbox.requests if r.host == "api"]
    assert max(r.started for r in api) < min(r.finished for r in api)  # all in flight at once
    assert took < 300 * len(PATHS) / 1000 / 2


def test_the_reset_fault_resets_the_stream_and_spares_the_connection(
        fresh: Launch, make_client: Callable[..., TenantClient]) -> None:
    sandbox = fresh({"http2": True, "faults": {"connection_resets": {"KeystoreEntries": 1}}})
    answers = together(sandbox, make_client(sandbox).token(), PATHS[:3])
    assert statuses(answers) == [200, 200, "RemoteProtocolError"]
    assert "StreamReset" in str(answers[2])
    assert api_connections(sandbox) == ["HTTP/2"]
    assert [r.status for r in sandbox.requests if r.path.endswith("/KeystoreEntries")] == [None]


def test_broken_http2_drops_the_connection_at_the_first_request(
        fresh: Launch, make_client: Callable[..., TenantClient]) -> None:
    sandbox = fresh({"faults": {"broken_http2": True}})
    token = make_client(sandbox).token()  # TenantClient speaks HTTP/1.1: unaffected
    broken = together(sandbox, token, PATHS[:2])
    assert set(statuses(broken)) <= {"ReadError", "RemoteProtocolError"}
    assert statuses(together(sandbox, token, PATHS[:2], http2=False)) == [200, 200]
    first, *then = api_connections(sandbox)
    assert (first, set(then)) == ("HTTP/2", {"HTTP/1.1"})
    dropped = [r for r in sandbox.requests if r.protocol == "HTTP/2"]
    assert [r.status for r in dropped] == [None]


def test_the_command_line_offers_http2_with_a_flag() -> None:
    assert build_spec(build_parser().parse_args(["--http2"])).http2 is True
    assert build_spec(build_parser().parse_args([])).http2 is False


@pytest.mark.parametrize(("mapping", "offers"), [
    ({}, False), ({"http2": True}, True), ({"faults": {"broken_http2": True}}, True)])
def test_which_specs_offer_http2(fresh: Launch, mapping: dict[str, Any], offers: bool) -> None:
    assert fresh(mapping).spec.offers_http2 is offers


def test_http2_works_on_descriptors_past_1023(
        fresh: Launch, make_client: Callable[..., TenantClient]) -> None:
    """A sandbox of 100 tenants holds more than 1024 descriptors (select() cannot watch those)."""
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 1200:
        pytest.skip("the descriptor limit is below 1200")
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        sandbox = fresh({"http2": True})
        answers = together(sandbox, make_client(sandbox).token(), PATHS[:2])
    finally:
        for fd in held:
            os.close(fd)
    assert statuses(answers) == [200, 200]
