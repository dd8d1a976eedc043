"""How one profile's requests share connections, host by host.

Each TLS connection costs a handshake on both sides, so the probe opens as few as serve the
requests in time. Where the server offers HTTP/2 (ALPN), every request to a host rides the one
connection. HTTP/1.1 carries one request at a time per connection, so a `Lane` lets requests to
a host go only as its connections allow: one to begin with, another only when requests are
waiting and the host's observed round trip says that waiting costs more than a handshake
(`connections_for`), never more than `--max-per-host`. The lane learns from httpx's `trace`
extension: how long the handshake took, which protocol ALPN chose, and each round trip. While
the event loop itself runs late (`LoopLag`), the round trips measure the client's own CPU, which
another connection would only burden with a handshake more, so no connection is added then.

A host whose connection breaks under HTTP/2 (a proxy that offers it and cannot carry it) is sent
on over HTTP/1.1 from then on, with a note; `ConnectionUse` records per host what the evidence
shows: protocol, connections opened, requests sent.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

from cpi_preflight.observation import ConnectionUse, Failure

HTTP11 = "HTTP/1.1"
HTTP2 = "HTTP/2"
# Failures that say the connection itself broke (not a refused stream, not a slow server).
BREAKING_FAILURES = frozenset({"protocol", "reset"})
# The event loop's lateness above this share of a round trip means the round trip measures
# mostly the client's own CPU (a loaded machine, a loopback tenant), not waiting on the tenant.
CPU_BOUND = 4


class Estimate:
    """A running estimate of a duration in seconds (exponentially weighted, None until seen)."""

    def __init__(self) -> None:
        self.value: float | None = None

    def add(self, seconds: float) -> None:
        """Take one measured duration."""
        self.value = seconds if self.value is None else (self.value + seconds) / 2


class Least(Estimate):
    """The shortest duration seen: what a handshake costs by itself (handshakes made side by
    side take longer each, a cost the model counts already)."""

    def add(self, seconds: float) -> None:
        self.value = seconds if self.value is None else min(self.value, seconds)


class Estimates:
    """What one profile's hosts showed so far: the handshake, for a host whose first
    connection is still being made."""

    def __init__(self) -> None:
        self.handshake = Least()


class LoopLag:
    """How late the event loop runs a timer that is due, as a run-wide running estimate."""

    PERIOD = 0.005

    def __init__(self) -> None:
        self.value = 0.0  # seconds
        self._due = 0.0
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Begin measuring (in the running loop)."""
        self._next(asyncio.get_running_loop())

    def stop(self) -> None:
        """Stop measuring."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _next(self, loop: asyncio.AbstractEventLoop) -> None:
        self._due = loop.time() + self.PERIOD
        self._handle = loop.call_at(self._due, self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self.value = (self.value + max(0.0, loop.time() - self._due)) / 2
        self._next(loop)


def connections_for(requests: int, current: int, cap: int, round_trip: float,
                    handshake: float = 1.0) -> int:
    """How many HTTP/1.1 connections serve `requests` (in flight and waiting) soonest, when
    `current` are open: each round of requests costs a round trip, and each new connection a
    handshake (counted one after the other: on a busy machine handshakes compete for the CPU)."""
    best = current
    cost = math.ceil(requests / current) * round_trip
    for count in range(current + 1, min(cap, requests) + 1):
        candidate = math.ceil(requests / count) * round_trip + (count - current) * handshake
        if candidate < cost:
            best, cost = count, candidate
    return best


class Lane:
    """The requests of one profile to one host through one client."""

    def __init__(self, host: str, cap: int, shared: Estimates, protocol: str | None,
                 lag: LoopLag | None = None) -> None:
        self.host = host
        self.cap = max(1, cap)
        self.shared = shared
        self.lag = lag or LoopLag()
        self.protocol = protocol  # None until the first connection tells
        self.allowed = 1  # requests in flight at once (HTTP/1.1: connections)
        self.unlimited = False  # HTTP/2, or a host no connection reaches
        self.round_trip = Estimate()
        self.handshake = Least()
        self.connections = 0
        self.requests = 0
        self.spoken = ""  # the protocol the last answer came over
        self._busy: dict[int, float | None] = {}  # ticket -> when it was sent (None: not yet)
        self._tickets = itertools.count(1)
        self._waiting: deque[asyncio.Future[int]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    # --- taking and giving back a place ---------------------------------------------------

    async def acquire(self) -> int:
        """Wait until a request to this host may go; returns the ticket to `release`."""
        self.requests += 1
        if self._free():
            return self._enter()
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        self._plan()
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(waiter.result())  # granted, then cancelled before it could go
            else:
                self._waiting.remove(waiter)
            raise

    def release(self, ticket: int) -> None:
        """The request holding `ticket` has its answer (or failed): let the next one go."""
        self._busy.pop(ticket, None)
        self._dispatch()

    def _free(self) -> bool:
        return self.unlimited or len(self._busy) < self.allowed

    def _enter(self) -> int:
        ticket = next(self._tickets)
        self._busy[ticket] = None
        return ticket

    def sending(self, ticket: int, now: float) -> None:
        """The request holding `ticket` is going out on a standing connection."""
        if ticket in self._busy:
            self._busy[ticket] = now

    def _dispatch(self) -> None:
        while self._waiting and self._free():
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(self._enter())

    # --- learning -------------------------------------------------------------------------

    def opened(self) -> None:
        """A new TCP connection to this host (or to the proxy towards it) stands."""
        self.connections += 1

    def learned(self, protocol: str, handshake: float) -> None:
        """A connection is ready: the protocol it speaks and how long it took to set up."""
        self.handshake.add(handshake)
        self.shared.handshake.add(handshake)
        self.protocol = protocol
        self.unlimited = self.unlimited or protocol == HTTP2
        self._dispatch()
        self._plan()

    def unreachable(self) -> None:
        """A connection could not be made: requests go on their own, as no connection can
        be shared (each fails or succeeds by itself, within its retries)."""
        self.unlimited = True
        self._dispatch()

    def answered(self, protocol: str, round_trip: float) -> None:
        """One request's round trip on a standing connection (headers sent to headers in)."""
        self.spoken = protocol
        self.took(round_trip)

    def took(self, seconds: float) -> None:
        """A request sent on a standing connection took `seconds` to its answer, or to its
        failure (a read timeout, a reset: its round trip was at least that long)."""
        self.round_trip.add(seconds)

    # --- deciding -------------------------------------------------------------------------

    def _plan(self) -> None:
        """Open more HTTP/1.1 connections when waiting costs more than handshakes."""
        if self.unlimited or self.protocol != HTTP11 or not self._waiting:
            return
        handshake = self.handshake.value or self.shared.handshake.value
        if handshake is None:
            return  # the first handshake is under way; it will tell
        ratio = self._ratio(handshake)
        if ratio > 0 and not self._cpu_bound(ratio * handshake):
            waiting = len(self._busy) + len(self._waiting)
            self.allowed = max(self.allowed, connections_for(
                waiting, self.allowed, self.cap, ratio))
            self._dispatch()
        self._recheck(handshake)

    def _ratio(self, handshake: float) -> float:
        """The round trip as this host's answers showed it, in handshakes (the shortest this
        host took); before its first answer, twice what the request out has taken so far (a
        request out for a while is expected to take about as long again; rechecked after each
        handshake's time, so that a slow host is seen within a few)."""
        if self.round_trip.value is not None and self.handshake.value:
            return self.round_trip.value / self.handshake.value
        now = time.monotonic()
        longest = max((now - sent for sent in self._busy.values() if sent is not None),
                      default=0.0)
        return 2 * longest / handshake

    def _cpu_bound(self, round_trip: float) -> bool:
        return self.lag.value * CPU_BOUND >= round_trip

    def _recheck(self, after: float) -> None:
        """Look again once a handshake's time has passed: a request still out by then says
        its round trip is at least that long."""
        if self._timer is None and self._waiting and self.allowed < self.cap:
            self._timer = asyncio.get_running_loop().call_later(after, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._plan()

    def close(self) -> None:
        """Stop the recheck timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def tracer(self, https: bool) -> Trace:
        """A `trace` extension for one try of a request through this lane."""
        return Trace(self, https)


class Trace:
    """httpx's `trace` extension for one try: tells its lane what the connection showed."""

    def __init__(self, lane: Lane, https: bool) -> None:
        self.lane = lane
        self.https = https
        self.began = 0.0
        self.sent = 0.0
        self.protocol = ""  # the protocol the request went out on, once it did
        self.ticket = 0  # its place in the lane, once it has one

    async def __call__(self, name: str, info: dict[str, Any]) -> None:
        now = time.monotonic()
        layer, step, phase = _parts(name)
        if step == "connect_tcp":
            self._connecting(phase, now)
        elif step == "start_tls" and phase == "complete":
            self.lane.learned(_alpn(info.get("return_value")), now - self.began)
        elif step == "start_tls" and phase == "failed":
            self.lane.unreachable()
        elif step == "send_request_headers" and phase == "started":
            self.sent, self.protocol = now, HTTP2 if layer == "http2" else HTTP11
            self.lane.sending(self.ticket, now)
        elif step == "receive_response_headers" and phase == "complete":
            self.lane.answered(self.protocol, now - self.sent)

    def _connecting(self, phase: str, now: float) -> None:
        if phase == "started":
            self.began = now
        elif phase == "complete":
            self.lane.opened()
            if not self.https:
                self.lane.learned(HTTP11, now - self.began)
        elif phase == "failed":
            self.lane.unreachable()


def _parts(name: str) -> tuple[str, str, str]:
    layer, _, rest = name.partition(".")
    step, _, phase = rest.rpartition(".")
    return layer, step, phase


def _alpn(stream: Any) -> str:
    get = getattr(stream, "get_extra_info", None)
    ssl_object = get("ssl_object") if get is not None else None
    chosen = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
    return HTTP2 if chosen == "h2" else HTTP11


def breaks_http2(trace: Trace, failure: Failure, exc: BaseException) -> bool:
    """Whether a failed try says its host cannot carry HTTP/2: the request went out on an
    HTTP/2 connection and the connection broke (a reset stream is the server's answer to one
    request, not a broken connection)."""
    if trace.protocol != HTTP2 or failure.kind not in BREAKING_FAILURES:
        return False
    import h2.events  # here, not at start-up: only a failed HTTP/2 try needs it

    seen: BaseException | None = exc
    while seen is not None:
        if any(isinstance(arg, h2.events.StreamReset) for arg in seen.args):
            return False
        seen = seen.__cause__ or seen.__context__
    return True


class Clients:
    """A profile's client (offering HTTP/2 unless switched off), the HTTP/1.1 client made when
    a host breaks under HTTP/2, and a lane per client and host."""

    def __init__(self, make: Callable[[bool], httpx.AsyncClient], *, http2: bool,
                 per_host: int, lag: LoopLag | None = None) -> None:
        self._make = make
        self.http2 = http2
        self.per_host = per_host
        self.lag = lag or LoopLag()
        self.primary = make(http2)
        self.fallback: httpx.AsyncClient | None = None
        self.notes: dict[str, str] = {}  # host -> why it went over to HTTP/1.1
        self.shared = Estimates()
        self._lanes: dict[tuple[bool, str], Lane] = {}

    def route(self, host: str) -> tuple[httpx.AsyncClient, Lane]:
        """The client and lane a request to `host` goes through now."""
        if host not in self.notes:
            return self.primary, self._lane(self.http2, host)
        if self.fallback is None:
            self.fallback = self._make(False)
        return self.fallback, self._lane(False, host)

    def _lane(self, http2: bool, host: str) -> Lane:
        key = (http2, host)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = Lane(host, self.per_host, self.shared,
                                           None if http2 else HTTP11, self.lag)
        return lane

    def fall_back(self, host: str, failure: Failure) -> None:
        """Send `host` over HTTP/1.1 from now on, noting why."""
        self.notes.setdefault(host, f"HTTP/2 broke ({failure.kind}: {failure.detail}); "
                                    "this host was retried over HTTP/1.1")

    def uses(self) -> dict[str, ConnectionUse]:
        """Per host: the protocol its answers came over, connections opened, requests sent."""
        hosts = sorted({host for _, host in self._lanes})
        return {host: self._use(host) for host in hosts}

    def _use(self, host: str) -> ConnectionUse:
        lanes = [lane for (_, name), lane in self._lanes.items() if name == host]
        last = self._lanes.get((False, host)) if host in self.notes else \
            self._lanes.get((self.http2, host))
        return ConnectionUse(
            host=host, protocol=last.spoken if last is not None else "",
            connections=sum(lane.connections for lane in lanes),
            requests=sum(lane.requests for lane in lanes), note=self.notes.get(host, ""))

    async def aclose(self) -> None:
        """Close both clients and stop the lanes' timers."""
        for lane in self._lanes.values():
            lane.close()
        await self.primary.aclose()
        if self.fallback is not None:
            await self.fallback.aclose()
