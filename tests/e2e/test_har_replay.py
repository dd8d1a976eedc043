"""exchanges.har end to end: a misconfigured run is recorded, the HAR is valid HAR 1.2, a HAR
reader imports it, nothing secret is in it, and `cpi-preflight sandbox --replay` of it makes
`pytest --profile` give the same verdict on every check, for Cloud Foundry and for Neo.

The recorded tenants run in this process (so the test knows their secret and every token they
issued); the product and the replay run as the commands users type.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from haralyzer import HarParser

from cpi_preflight.sandbox import Sandbox, SandboxSpec
from cpi_preflight.secret import forms

from ..background import Background
from .conftest import BIN, REPO, Outcome, run_pytest

FIXTURES = REPO / "tests" / "fixtures" / "har"
SCHEMA = json.loads((FIXTURES / "har-1.2.schema.json").read_text(encoding="utf-8"))
SERVING = "Serving; press Ctrl-C to stop."
SECRET_VARIABLE = "RECORDED_CLIENT_SECRET"

# environment -> (the profile's checks, the tenant's roles and faults)
MISCONFIGURED: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # a role template missing, an entity set failing with 500, a 429 before the first answer
    "cf": ({"required_roles": ["MonitoringDataRead", "WorkspacePackagesRead"],
            "endpoints": ["MessageProcessingLogs", "IntegrationPackages", "NumberRanges"]},
           {"roles": ["MonitoringDataRead"],
            "faults": {"server_errors": {"NumberRanges": "always"},
                       "too_many_requests": {"MessageProcessingLogs": 1}}}),
    # a Neo role missing
    "neo": ({"required_roles": ["IntegrationOperationServer.read", "WebToolingWorkspace.Read"],
             "endpoints": ["MessageProcessingLogs", "IntegrationPackages"]},
            {"roles": ["IntegrationOperationServer.read", "NodeManager.read"]}),
}
# what the committed recordings (tests/fixtures/har/*.har) gave when they were recorded
RECORDED_VERDICTS: dict[str, dict[str, tuple[str, str]]] = {
    "cf-missing-role.har": {
        "token": ("passed", ""), "api": ("passed", ""),
        "role[MonitoringDataRead]": ("passed", ""),
        "role[WorkspacePackagesRead]": ("failed", "ROLE_MISSING"),
        "endpoint[MessageProcessingLogs]": ("passed", ""),
        "endpoint[IntegrationPackages]": ("skipped", ""),
        "endpoint[NumberRanges]": ("failed", "SERVER_ERROR"),
        "least-privilege": ("passed", ""), "tls-expiry": ("passed", "")},
    "neo-missing-role.har": {
        "token": ("passed", ""), "api": ("passed", ""),
        "role[IntegrationOperationServer.read]": ("passed", ""),
        "role[WebToolingWorkspace.Read]": ("failed", "ROLE_MISSING"),
        "endpoint[MessageProcessingLogs]": ("passed", ""),
        "endpoint[IntegrationPackages]": ("skipped", ""),
        "endpoint[NumberRanges]": ("passed", ""),  # a call the plan adds to prove a role
        "tls-expiry": ("passed", "")},
}


def verdicts(outcome: Outcome, profile: str) -> dict[str, tuple[str, str]]:
    """Outcome and code per check, from the run's evidence.json."""
    record = json.loads((outcome.reports / profile / "evidence.json").read_text("utf-8"))
    return {c["id"]: (c["outcome"], c["code"]) for c in record["checks"]}


@pytest.fixture
def tenant(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    environment = request.param
    spec = SandboxSpec.from_mapping(MISCONFIGURED[environment][1], environment=environment)
    with Sandbox.start(spec) as running:
        yield running


def record(tmp_path: Path, tenant: Sandbox) -> tuple[Outcome, Path]:
    """Run the product against `tenant` with a plain profile; the run and its HAR."""
    conn = tenant.connection
    checks = MISCONFIGURED[conn.environment][0]
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    name = f"recorded-{conn.environment}"
    profile = {"environment": conn.environment, "api_url": conn.api_url,
               "token_url": conn.token_url, "client_id": conn.client_id,
               "client_secret": "${" + SECRET_VARIABLE + "}", "ca_bundle": conn.ca_path,
               "attempts": 2, **checks}
    (profiles / f"{name}.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    env = {**os.environ, SECRET_VARIABLE: conn.client_secret or ""}
    outcome = run_pytest(tmp_path, f"--profile={name}", profiles_dir=profiles, env=env)
    assert outcome.code == 1, outcome.stdout + outcome.stderr
    return outcome, outcome.reports / name / "exchanges.har"


def replaying(command: str, folder: Path) -> Background:
    """A `cpi-preflight sandbox --replay ...` line run in bash in `folder`, as a user types it."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return Background(["bash", "-c", f"exec {command}"], folder, env)


@pytest.fixture
def replays() -> Iterator[list[Background]]:
    running: list[Background] = []
    yield running
    for item in running:
        item.kill()


def replayed(tmp_path: Path, har: Path, replays: list[Background]) -> tuple[Outcome, list[str]]:
    """Replay `har` as a user would, run the written profile, and stop the replay."""
    folder = tmp_path / "replay"
    (folder / "profiles").mkdir(parents=True)
    replay = replaying(f"cpi-preflight sandbox --replay {har} --write-profile "
                       "profiles/replay.yaml", folder)
    replays.append(replay)
    printed = replay.until(SERVING, timeout=60)
    outcome = run_pytest(folder, "--profile=replay", profiles_dir=folder / "profiles")
    assert replay.stop() == 0
    return outcome, printed


@pytest.mark.parametrize("tenant", ["cf", "neo"], indirect=True)
def test_a_recorded_run_replays_to_the_same_verdicts(tmp_path: Path, tenant: Sandbox,
                                                     replays: list[Background]) -> None:
    original, har = record(tmp_path, tenant)
    outcome, printed = replayed(tmp_path, har, replays)
    assert printed[-5:] == ["Wrote the profile to profiles/replay.yaml. Run the recorded "
                            "profile's checks against the replay:", "",
                            "  pytest --profile replay", "", SERVING]
    name = f"recorded-{tenant.connection.environment}"
    assert verdicts(outcome, "replay") == verdicts(original, name)
    assert outcome.code == original.code == 1


@pytest.mark.parametrize("tenant", ["cf", "neo"], indirect=True)
def test_the_har_is_valid_readable_and_holds_nothing_secret(tmp_path: Path,
                                                            tenant: Sandbox) -> None:
    _, har = record(tmp_path, tenant)
    text = har.read_text(encoding="utf-8")
    data = json.loads(text)
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data)) == []
    # a HAR reader library imports it: pages, entries, requests and answers
    page = HarParser(data).pages[0]
    assert len(page.entries) == len(data["log"]["entries"]) >= 3
    token = page.entries[0]
    assert (token.request.method, token.url, token.status) == (
        "POST", tenant.connection.token_url + (
            "?grant_type=client_credentials" if tenant.connection.environment == "neo" else ""),
        200)
    assert "jwt_claims" in token.response.text or '"access_token": "***"' in token.response.text
    assert {(e.startTime is not None, e.serverAddress, bool(e.response.mimeType))
            for e in page.entries} == {(True, "127.0.0.1", True)}
    # nothing secret: the client secret in any form, any token the tenant issued
    conn = tenant.connection
    assert conn.client_secret
    for form in forms(conn.client_secret):
        assert form not in text
    assert tenant.issued_tokens
    for token in tenant.issued_tokens:
        assert token not in text
        assert token.rsplit(".", 1)[-1] not in text  # no signature either
    authorization = {h["value"] for e in data["log"]["entries"]
                     for h in e["request"]["headers"] if h["name"].lower() == "authorization"}
    assert authorization == {"Basic ***", "Bearer ***"}


@pytest.mark.parametrize("fixture", sorted(RECORDED_VERDICTS))
def test_a_committed_recording_replays_to_its_recorded_verdicts(
        tmp_path: Path, fixture: str, replays: list[Background]) -> None:
    outcome, _ = replayed(tmp_path, FIXTURES / fixture, replays)
    assert verdicts(outcome, "replay") == RECORDED_VERDICTS[fixture]


def _readme_replay_lines() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- replay example -->\n```sh\n(.*?)```", text, re.S)
    assert block is not None, "README.md must hold the replay example"
    return [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines()
            if line.strip() and not line.startswith("#")]


def test_the_readme_replay_example_runs_as_printed(tmp_path: Path,
                                                   replays: list[Background]) -> None:
    """The README's lines after the recording run, exactly as written, from a project folder
    that holds a run's reports (a committed recording stands in for that run)."""
    first, serve, check = _readme_replay_lines()
    assert first == "pytest --profile prod-cf"
    har = tmp_path / "reports" / "prod-cf" / "exchanges.har"
    har.parent.mkdir(parents=True)
    shutil.copy(FIXTURES / "cf-missing-role.har", har)
    (tmp_path / "profiles").mkdir()
    assert serve.endswith(" &")
    replay = replaying(serve.removesuffix(" &"), tmp_path)
    replays.append(replay)
    printed = replay.until(SERVING, timeout=60)
    assert f"  {check}" in printed
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", "-c", check], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=180, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "replay-prod-cf (cf): 2 failed, 6 passed, 1 skipped" in done.stdout
    assert replay.stop() == 0
