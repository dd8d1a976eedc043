"""Start and stop: clean, idempotent, no thread, port or file left; cost printed with -s."""

from __future__ import annotations

import contextlib
import socket
import statistics
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from cpi_preflight.sandbox import Sandbox, SandboxSpec


def sandbox_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in set(threading.enumerate()) - before
            if t.name.startswith("cpi-sandbox") and t.is_alive()]


def refused(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.parametrize(("mapping", "environment"), [
    ({}, "cf"), ({"credential": "certificate"}, "cf"), ({}, "neo"),
])
def test_stop_frees_ports_threads_and_files(mapping: dict[str, Any], environment: str,
                                            make_client: Any) -> None:
    before = set(threading.enumerate())
    sandbox = Sandbox.start(SandboxSpec.from_mapping(mapping, environment=environment))
    client = make_client(sandbox, client_cert=True)
    client.token()  # leaves a keep-alive connection (and its thread) open on purpose
    assert sandbox_threads(before)
    directory = Path(sandbox.connection.ca_path).parent
    assert directory.is_dir()
    sandbox.stop()
    assert sandbox_threads(before) == []
    assert all(refused(url) for url in sandbox.urls.values())
    assert not directory.exists()
    sandbox.stop()  # idempotent


def test_context_manager_stops(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    with Sandbox.start(SandboxSpec.from_mapping(None, environment="cf")) as sandbox:
        assert "running" in repr(sandbox)
        api = sandbox.urls["api"]
        assert not refused(api)
    assert refused(api)
    assert "stopped" in repr(sandbox)
    assert sandbox_threads(before) == []


def test_stop_wakes_a_request_sleeping_in_latency(make_client: Any) -> None:
    before = set(threading.enumerate())
    spec = SandboxSpec.from_mapping({"faults": {"latency_ms": 60000}}, environment="cf")
    sandbox = Sandbox.start(spec)
    client = make_client(sandbox)

    def call() -> None:
        with contextlib.suppress(httpx.TransportError):
            client.api("/")  # answered or dropped: either way it must not wait a minute

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 5
    while not any(t.name == "cpi-sandbox-api" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the request never reached the api host"
        time.sleep(0.01)
    sandbox.stop()
    caller.join(5)
    assert not caller.is_alive()
    assert sandbox_threads(before) == []


def test_two_sandboxes_do_not_trust_each_other(make_client: Any) -> None:
    with Sandbox.start(SandboxSpec.from_mapping(None, environment="cf")) as one, \
            Sandbox.start(SandboxSpec.from_mapping(None, environment="cf")) as two:
        first, second = make_client(one), make_client(two)
        assert second.api("/MessageProcessingLogs", first.token()).status_code == 401
        assert one.connection.client_id != two.connection.client_id


def test_print_start_stop_cost() -> None:
    """Not an assertion: run with -s to see what starting and stopping costs here."""
    for label, mapping, environment in [("cf secret", {}, "cf"),
                                        ("cf certificate", {"credential": "certificate"}, "cf"),
                                        ("neo", {}, "neo")]:
        spec = SandboxSpec.from_mapping(mapping, environment=environment)
        starts, stops = [], []
        for _ in range(10):
            t0 = time.perf_counter()
            sandbox = Sandbox.start(spec)
            t1 = time.perf_counter()
            sandbox.stop()
            starts.append(t1 - t0)
            stops.append(time.perf_counter() - t1)
        print(f"\nsandbox {label}: start median {statistics.median(starts) * 1000:.1f} ms "
              f"(max {max(starts) * 1000:.1f}), stop median "
              f"{statistics.median(stops) * 1000:.1f} ms (max {max(stops) * 1000:.1f})")
