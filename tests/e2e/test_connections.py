"""Connections as the sandbox's servers counted them: HTTP/2 where offered (one connection per
host), few HTTP/1.1 connections at 0 ms and enough at 200 ms, never more than --max-per-host,
HTTP/1.1 again for a host that breaks under HTTP/2, and the switches that turn HTTP/2 off."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from cpi_preflight.run import Run, Settings
from cpi_preflight.sandbox import RecordedConnection, Sandbox, SandboxSpec

from .conftest import Outcome, run_pytest

ENDPOINTS = ["MessageProcessingLogs", "IntegrationRuntimeArtifacts", "KeystoreEntries",
             "UserCredentials", "NumberRanges", "SecureParameters"]
BROKE = ("HTTP/2 broke (reset: [Errno 104] Connection reset by peer); this host was retried "
         "over HTTP/1.1")


@contextmanager
def tenant(tmp_path: Path, spec: dict[str, Any], **profile_keys: Any) -> Iterator[Sandbox]:
    """A running sandbox and profiles/p.yaml pointing at it."""
    mapping = {"roles": ["MonitoringDataRead"], **spec}
    with Sandbox.start(SandboxSpec.from_mapping(mapping, environment="cf")) as sandbox:
        conn = sandbox.connection
        body = {"environment": "cf", "api_url": conn.api_url, "token_url": conn.token_url,
                "client_id": conn.client_id, "client_secret": conn.client_secret,
                "ca_bundle": conn.ca_path, "required_roles": ["MonitoringDataRead"],
                "endpoints": ENDPOINTS, **profile_keys}
        (tmp_path / "profiles").mkdir()
        (tmp_path / "profiles" / "p.yaml").write_text(yaml.safe_dump(body))
        yield sandbox


def probe(tmp_path: Path, **settings: Any) -> Run:
    run = Run.load(["p"], Settings(tmp_path / "profiles", tmp_path / "reports", **settings))
    run.execute()
    return run


def per_host(connections: list[RecordedConnection]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for connection in connections:
        found.setdefault(connection.host, []).append(connection.protocol)
    return found


def passed(run: Run) -> bool:
    return all(v.outcome == "passed" for k, v in run.verdicts["p"].items() if k != "tls-expiry")


def test_http2_carries_each_host_on_one_connection(tmp_path: Path) -> None:
    with tenant(tmp_path, {"http2": True, "faults": {"latency_ms": 100}}) as sandbox:
        run = probe(tmp_path)
        seen = per_host(sandbox.connections)
        requests = sandbox.requests
    assert passed(run)
    assert seen == {"xsuaa": ["HTTP/2"], "api": ["HTTP/2"]}
    assert {r.protocol for r in requests} == {"HTTP/2"}
    uses = run.observations["p"].connections.values()
    assert sorted((u.protocol, u.connections, u.requests, u.note) for u in uses) == [
        ("HTTP/2", 1, 2, ""), ("HTTP/2", 1, len(ENDPOINTS), "")]
    assert {e.protocol for e in run.observations["p"].endpoints.values()} == {"HTTP/2"}


def test_http1_at_0_ms_needs_a_connection_or_two_per_host(tmp_path: Path) -> None:
    with tenant(tmp_path, {}) as sandbox:
        run = probe(tmp_path)
        seen = per_host(sandbox.connections)
    assert passed(run)
    assert set(seen) == {"xsuaa", "api"}
    assert all(len(protocols) <= 2 and set(protocols) == {"HTTP/1.1"}
               for protocols in seen.values()), seen
    uses = {u.connections for u in run.observations["p"].connections.values()}
    assert uses == {len(seen["xsuaa"]), len(seen["api"])}
    # each host's certificate is read once, from its first answer, and kept
    assert set(run.observations["p"].server_certificates) == set(
        run.observations["p"].connections)


def test_http1_at_200_ms_opens_a_connection_per_waiting_request(tmp_path: Path) -> None:
    with tenant(tmp_path, {"faults": {"latency_ms": 200}}) as sandbox:
        run = probe(tmp_path)
        seen = per_host(sandbox.connections)
    assert passed(run)
    assert len(seen["api"]) == len(ENDPOINTS)


@pytest.mark.parametrize("http2", [False, True])
def test_never_more_connections_to_a_host_than_max_per_host(tmp_path: Path,
                                                           http2: bool) -> None:
    with tenant(tmp_path, {"http2": http2, "faults": {"latency_ms": 200}}) as sandbox:
        run = probe(tmp_path, max_per_host=2)
        seen = per_host(sandbox.connections)
        api = [r for r in sandbox.requests if r.host == "api"]
    assert passed(run)
    assert len(seen["api"]) == (1 if http2 else 2)
    edges = sorted([(r.started, 1) for r in api] + [(r.finished, -1) for r in api])
    depth = [sum(step for _, step in edges[:i + 1]) for i in range(len(edges))]
    assert max(depth) == 2


def test_a_host_that_breaks_under_http2_is_retried_over_http1_and_the_evidence_says_so(
        tmp_path: Path) -> None:
    with tenant(tmp_path, {"faults": {"broken_http2": True}}) as sandbox:
        run = probe(tmp_path)
        seen = per_host(sandbox.connections)
        requests = sandbox.requests
    assert passed(run)
    for protocols in seen.values():
        assert protocols[0] == "HTTP/2"
        assert set(protocols[1:]) == {"HTTP/1.1"}
    answered = [r for r in requests if r.status is not None]
    assert {r.protocol for r in answered} == {"HTTP/1.1"}
    uses = run.observations["p"].connections.values()
    assert {(u.protocol, u.note) for u in uses} == {("HTTP/1.1", BROKE)}
    evidence = run.document("p", {}).record
    assert {h["note"] for h in evidence["run"]["connections"]} == {BROKE}
    mpl = run.observations["p"].endpoints["MessageProcessingLogs"]
    assert mpl.status == 200
    assert mpl.protocol == "HTTP/1.1"


def preflight(tmp_path: Path, *args: str) -> Outcome:
    """`pytest --profile p ...` in the folder that holds profiles/ (the clone's checks/ would
    open connections of their own)."""
    return run_pytest(tmp_path, "--profile", "p", *args, profiles_dir=tmp_path / "profiles",
                      cwd=tmp_path)


def connections_written(outcome: Outcome) -> list[dict[str, Any]]:
    evidence = json.loads((outcome.reports / "p" / "evidence.json").read_text())
    found: list[dict[str, Any]] = evidence["run"]["connections"]
    return found


@pytest.mark.parametrize("switch", [["--http2", "off"], ["--http2=off"]])
def test_the_command_line_turns_http2_off(tmp_path: Path, switch: list[str]) -> None:
    with tenant(tmp_path, {"http2": True}) as sandbox:
        outcome = preflight(tmp_path, *switch)
        seen = per_host(sandbox.connections)
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    assert set(seen) == {"xsuaa", "api"}
    assert {p for protocols in seen.values() for p in protocols} == {"HTTP/1.1"}
    assert {h["protocol"] for h in connections_written(outcome)} == {"HTTP/1.1"}


def test_a_profile_turns_http2_off_for_its_tenant(tmp_path: Path) -> None:
    with tenant(tmp_path, {"http2": True}, http2=False) as sandbox:
        outcome = preflight(tmp_path)
        seen = per_host(sandbox.connections)
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    assert {p for protocols in seen.values() for p in protocols} == {"HTTP/1.1"}


def test_by_default_the_command_offers_http2_and_writes_what_it_used(tmp_path: Path) -> None:
    with tenant(tmp_path, {"http2": True}) as sandbox:
        outcome = preflight(tmp_path)
        seen = per_host(sandbox.connections)
        api_port = sandbox.connection.api_url.rsplit(":", 1)[1]
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    assert seen == {"xsuaa": ["HTTP/2"], "api": ["HTTP/2"]}
    api = [h for h in connections_written(outcome) if h["host"].endswith(f":{api_port}")]
    assert api == [{"host": f"127.0.0.1:{api_port}", "protocol": "HTTP/2", "connections": 1,
                    "requests": len(ENDPOINTS), "note": ""}]
    page = (outcome.reports / "p" / "evidence.html").read_text()
    assert f"127.0.0.1:{api_port}: HTTP/2, 1 connection, {len(ENDPOINTS)} requests" in page


def test_a_wrong_http2_value_is_a_usage_error(tmp_path: Path) -> None:
    outcome = run_pytest(tmp_path, "--profile", "sandbox-cf", "--http2", "of")
    assert outcome.code == 4
    assert "argument --http2: invalid choice: 'of' (choose from 'on', 'off')" in outcome.stderr
