"""connections: how many HTTP/1.1 connections serve a host, HTTP/2 multiplexing, what the trace
tells a lane, when HTTP/2 counts as broken, and the per-host record for the evidence."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import h2.events
import httpcore
import httpx
import pytest

from cpi_preflight.connections import (
    HTTP2,
    HTTP11,
    Clients,
    Estimates,
    Lane,
    LoopLag,
    Trace,
    breaks_http2,
    connections_for,
)
from cpi_preflight.observation import ConnectionUse, Failure


@pytest.mark.parametrize(("requests", "current", "cap", "ratio", "expected"), [
    (10, 1, 10, 0.1, 1),  # round trips far cheaper than a handshake: wait on one connection
    (10, 1, 10, 0.5, 2),  # a loopback tenant: a second connection pays, a third does not
    (10, 1, 10, 20.0, 10),  # a slow tenant: every request its own connection
    (10, 1, 3, 20.0, 3),  # never more than the per-host cap
    (3, 1, 10, 20.0, 3),  # never more than there are requests
    (10, 4, 10, 0.1, 4),  # connections already open stay
    (1, 1, 10, 50.0, 1),
])
def test_connections_for(requests: int, current: int, cap: int, ratio: float,
                         expected: int) -> None:
    assert connections_for(requests, current, cap, ratio) == expected


def run(body: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(body())  # type: ignore[arg-type]


def lane(cap: int = 10, protocol: str | None = HTTP11, lag: float = 0.0) -> Lane:
    busy = LoopLag()
    busy.value = lag
    return Lane("h:1", cap, Estimates(), protocol, busy)


async def take(into: Lane, count: int) -> tuple[list[asyncio.Task[int]], list[int]]:
    """Ask for `count` places at once; the tickets granted so far, and the tasks."""
    tasks = [asyncio.ensure_future(into.acquire()) for _ in range(count)]
    await asyncio.sleep(0)
    return tasks, [t.result() for t in tasks if t.done()]


def test_a_lane_begins_with_one_request_in_flight_and_lets_the_next_go_on_release() -> None:
    async def body() -> None:
        one = lane()
        tasks, granted = await take(one, 3)
        assert (len(granted), one.allowed, one.requests) == (1, 1, 3)
        one.release(granted[0])
        await asyncio.sleep(0)
        assert sum(t.done() for t in tasks) == 2
    run(body)


def test_http2_lets_every_waiting_request_go_on_the_one_connection() -> None:
    async def body() -> None:
        one = lane(protocol=None)
        tasks, _ = await take(one, 10)
        one.opened()
        one.learned(HTTP2, 0.005)
        await asyncio.sleep(0)
        assert all(t.done() for t in tasks)
        assert (one.protocol, one.connections, one.unlimited) == (HTTP2, 1, True)
    run(body)


def test_http1_opens_connections_as_the_round_trip_says_and_never_beyond_the_cap() -> None:
    async def body() -> list[int]:
        seen = []
        for ratio in (0.1, 0.5, 20.0):
            one = lane(cap=4, protocol=None)
            one.round_trip.add(ratio * 0.005)
            tasks, _ = await take(one, 10)
            one.learned(HTTP11, 0.005)
            await asyncio.sleep(0)
            seen.append(sum(t.done() for t in tasks))
            one.close()
        return seen
    assert run(body) == [1, 2, 4]


def test_no_connection_is_added_while_the_client_itself_is_the_bottleneck() -> None:
    async def body() -> int:
        one = lane(protocol=None, lag=0.050)  # the loop runs 50 ms late
        one.round_trip.add(0.100)
        tasks, _ = await take(one, 10)
        one.learned(HTTP11, 0.005)  # 20 handshakes = 100 ms, only twice the lag
        await asyncio.sleep(0)
        one.close()
        return sum(t.done() for t in tasks)
    assert run(body) == 1


def test_a_host_no_connection_reaches_is_not_held_to_one_at_a_time() -> None:
    async def body() -> None:
        one = lane(protocol=None)
        tasks, _ = await take(one, 5)
        one.unreachable()
        await asyncio.sleep(0)
        assert all(t.done() for t in tasks)
    run(body)


def test_a_cancelled_waiter_gives_its_place_back() -> None:
    async def body() -> None:
        one = lane()
        tasks, granted = await take(one, 3)
        tasks[1].cancel()
        await asyncio.sleep(0)
        one.release(granted[0])
        await asyncio.sleep(0)
        assert tasks[2].done()
        assert not tasks[2].cancelled()
    run(body)


def test_a_request_out_longer_than_a_handshake_counts_as_a_slow_round_trip() -> None:
    async def body() -> int:
        one = lane(protocol=None)
        tasks, granted = await take(one, 6)
        one.learned(HTTP11, 0.002)
        one.sending(granted[0], asyncio.get_running_loop().time() - 1.0)  # out for a second
        await asyncio.sleep(0.01)  # the recheck after one handshake
        one.close()
        return sum(t.done() for t in tasks)
    assert run(body) == 6


class FakeSsl:
    def __init__(self, chosen: str | None) -> None:
        self.chosen = chosen

    def selected_alpn_protocol(self) -> str | None:
        return self.chosen


class FakeStream:
    def __init__(self, chosen: str | None) -> None:
        self.ssl = FakeSsl(chosen)

    def get_extra_info(self, name: str) -> Any:
        return self.ssl if name == "ssl_object" else None


@pytest.mark.parametrize(("chosen", "protocol"), [("h2", HTTP2), ("http/1.1", HTTP11),
                                                  (None, HTTP11)])
def test_the_trace_tells_the_lane_what_alpn_chose(chosen: str | None, protocol: str) -> None:
    async def body() -> Lane:
        one = lane(protocol=None)
        trace = one.tracer(https=True)
        await trace("connection.connect_tcp.started", {})
        await trace("connection.connect_tcp.complete", {"return_value": object()})
        await trace("connection.start_tls.started", {})
        await trace("connection.start_tls.complete", {"return_value": FakeStream(chosen)})
        await trace(f"{'http2' if chosen == 'h2' else 'http11'}.send_request_headers.started",
                    {})
        await trace("http11.receive_response_headers.complete", {})
        one.close()
        assert trace.protocol == protocol
        return one
    seen = run(body)
    assert (seen.protocol, seen.connections, seen.spoken) == (protocol, 1, protocol)
    assert seen.handshake.value is not None
    assert seen.round_trip.value is not None


def test_plain_http_is_http1_once_connected_and_a_failed_connect_frees_the_lane() -> None:
    async def body() -> tuple[Lane, Lane]:
        plain, dead = lane(protocol=None), lane(protocol=None)
        await plain.tracer(https=False)("connection.connect_tcp.complete", {})
        await dead.tracer(https=True)("connection.connect_tcp.failed", {"exception": OSError()})
        return plain, dead
    plain, dead = run(body)
    assert (plain.protocol, plain.unlimited, dead.unlimited) == (HTTP11, False, True)


def on(protocol: str) -> Trace:
    trace = Trace(lane(), https=True)
    trace.protocol = protocol
    return trace


def stream_reset() -> Exception:
    event = h2.events.StreamReset(stream_id=3)
    try:
        try:
            raise httpcore.RemoteProtocolError(event)
        except httpcore.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from exc
    except httpx.RemoteProtocolError as exc:
        return exc


@pytest.mark.parametrize(("trace", "failure", "error", "broken"), [
    (on(HTTP2), Failure("reset", "Connection reset by peer"), httpx.ReadError(""), True),
    (on(HTTP2), Failure("protocol", "Server disconnected"),
     httpx.RemoteProtocolError("Server disconnected"), True),
    (on(HTTP2), Failure("reset", "StreamReset"), stream_reset(), False),
    (on(HTTP2), Failure("timeout", "read"), httpx.ReadTimeout(""), False),
    (on(HTTP11), Failure("reset", "Connection reset by peer"), httpx.ReadError(""), False),
    (on(""), Failure("tls", "certificate"), httpx.ConnectError(""), False),
])
def test_when_http2_counts_as_broken(trace: Trace, failure: Failure, error: Exception,
                                     broken: bool) -> None:
    assert breaks_http2(trace, failure, error) is broken


def test_a_host_that_broke_under_http2_goes_over_to_an_http1_client_with_a_note() -> None:
    made: list[bool] = []

    def make(http2: bool) -> httpx.AsyncClient:
        made.append(http2)
        return httpx.AsyncClient()

    async def body() -> dict[str, ConnectionUse]:
        clients = Clients(make, http2=True, per_host=10)
        first, broken = clients.route("api:443")
        broken.requests, broken.connections = 3, 1
        clients.fall_back("api:443", Failure("reset", "Connection reset by peer"))
        second, retried = clients.route("api:443")
        retried.requests, retried.connections, retried.spoken = 3, 2, HTTP11
        other, kept = clients.route("token:443")
        kept.requests, kept.connections, kept.spoken = 2, 1, HTTP2
        assert (first is clients.primary, second is clients.fallback, other is first) == (
            True, True, True)
        await clients.aclose()
        return clients.uses()
    assert run(body) == {
        "api:443": ConnectionUse("api:443", HTTP11, 3, 6, "HTTP/2 broke (reset: Connection "
                                 "reset by peer); this host was retried over HTTP/1.1"),
        "token:443": ConnectionUse("token:443", HTTP2, 1, 2)}
    assert made == [True, False]


def test_switched_off_http2_means_one_http1_client_that_knows_its_protocol() -> None:
    made: list[bool] = []

    def make(http2: bool) -> httpx.AsyncClient:
        made.append(http2)
        return httpx.AsyncClient()

    async def body() -> str | None:
        clients = Clients(make, http2=False, per_host=10)
        protocol = clients.route("api:443")[1].protocol
        await clients.aclose()
        return protocol
    assert run(body) == HTTP11
    assert made == [False]
