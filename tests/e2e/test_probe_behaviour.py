"""How the probe behaves on the wire, as the sandbox recorded it: overlap, one token, read-only,
and recovery from transient faults (resets, 5xx bursts) versus faults that outlive the retries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from cpi_preflight.findings import Verdict
from cpi_preflight.run import Run, Settings
from cpi_preflight.sandbox import Sandbox, SandboxSpec

ENDPOINTS = ["MessageProcessingLogs", "IntegrationRuntimeArtifacts", "KeystoreEntries",
             "UserCredentials", "NumberRanges", "SecureParameters"]


@contextmanager
def probed(tmp_path: Path, faults: dict[str, Any], **profile_keys: Any
           ) -> Iterator[tuple[dict[str, Verdict], Sandbox]]:
    spec = SandboxSpec.from_mapping({"roles": ["MonitoringDataRead"], "faults": faults},
                                    environment="cf")
    with Sandbox.start(spec) as sandbox:
        conn = sandbox.connection
        body = {"environment": "cf", "api_url": conn.api_url, "token_url": conn.token_url,
                "client_id": conn.client_id, "client_secret": conn.client_secret,
                "ca_bundle": conn.ca_path, "required_roles": ["MonitoringDataRead"],
                "endpoints": ENDPOINTS, **profile_keys}
        (tmp_path / "p.yaml").write_text(yaml.safe_dump(body))
        run = Run.load(["p"], Settings(tmp_path, tmp_path / "reports"))
        run.execute()
        yield run.verdicts["p"], sandbox


def _max_in_flight(requests: list[Any]) -> int:
    edges = sorted([(r.started, 1) for r in requests] + [(r.finished, -1) for r in requests])
    depth = peak = 0
    for _, step in edges:
        depth += step
        peak = max(peak, depth)
    return peak


def test_endpoint_calls_overlap_and_one_token_is_fetched(tmp_path: Path) -> None:
    with probed(tmp_path, {"latency_ms": 200}) as (verdicts, sandbox):
        requests = sandbox.requests
    assert all(v.outcome == "passed" for k, v in verdicts.items() if k != "tls-expiry")
    api_calls = [r for r in requests if r.host == "api"]
    assert len(api_calls) == len(ENDPOINTS)
    assert _max_in_flight(api_calls) == len(ENDPOINTS)
    token_calls = [r for r in requests if r.path.startswith("/oauth/token")]
    assert len(token_calls) == 1


def test_nothing_but_reads_reach_the_tenant(tmp_path: Path) -> None:
    with probed(tmp_path, {}) as (_, sandbox):
        requests = sandbox.requests
    assert {r.method for r in requests if r.host == "api"} == {"GET"}
    assert {(r.method, r.path.split("?")[0]) for r in requests if r.method != "GET"} == {
        ("POST", "/oauth/token")}


def test_a_burst_of_503_is_retried_away(tmp_path: Path) -> None:
    with probed(tmp_path, {"server_errors": {"MessageProcessingLogs": 2}},
                attempts=3) as (verdicts, sandbox):
        mpl = [r for r in sandbox.requests if "/MessageProcessingLogs" in r.path]
    assert verdicts["endpoint[MessageProcessingLogs]"].outcome == "passed"
    assert [r.status for r in mpl] == [503, 503, 200]


def test_a_reset_connection_is_retried_away(tmp_path: Path) -> None:
    with probed(tmp_path, {"connection_resets": {"KeystoreEntries": 1}},
                attempts=2) as (verdicts, _):
        pass
    assert verdicts["endpoint[KeystoreEntries]"].outcome == "passed"


def test_resets_that_outlive_the_retries_are_reported(tmp_path: Path) -> None:
    with probed(tmp_path, {"connection_resets": {"KeystoreEntries": 9}},
                attempts=2) as (verdicts, _):
        pass
    verdict = verdicts["endpoint[KeystoreEntries]"]
    assert verdict.code == "HOST_UNREACHABLE"
    assert "the connection was reset (2 attempts;" in verdict.summary


def test_a_slow_api_times_out_per_request(tmp_path: Path) -> None:
    with probed(tmp_path, {"latency_ms": 1500}, attempts=1,
                timeout={"connect": 2, "read": 0.3}) as (verdicts, _):
        pass
    assert verdicts["token"].code == "HOST_UNREACHABLE"
    assert "it did not answer in time (1 attempt;" in verdicts["token"].summary


def test_the_profile_deadline_bounds_a_hung_run(tmp_path: Path) -> None:
    with probed(tmp_path, {"token_latency_ms": 5000}, attempts=1, deadline=1,
                timeout={"connect": 2, "read": 30}) as (verdicts, _):
        pass
    assert verdicts["token"].code == "HOST_UNREACHABLE"
    assert "the profile's deadline ran out" in verdicts["token"].summary
