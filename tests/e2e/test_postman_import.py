"""From Postman to a green run: import the fixture collections (OAuth 2.0 authorization, and the
Newman shape: Bearer {{access_token}} with a token request) with an environment that points at
a running sandbox, then run the export and pytest lines init prints, verbatim."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cpi_preflight.sandbox import Sandbox, SandboxSpec

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "postman"
COLLECTION = FIXTURES / "sap-cpi-cf.postman_collection.json"
NEWMAN = FIXTURES / "newman-bearer.postman_collection.json"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    spec = SandboxSpec.from_mapping({"roles": ["MonitoringDataRead", "WorkspacePackagesRead"]},
                                    environment="cf")
    with Sandbox.start(spec) as running:
        yield running


def _environment_file(sandbox: Sandbox, folder: Path, token_url: str | None = None) -> Path:
    """The Postman environment a user would have made for this tenant (exported shape)."""
    conn = sandbox.connection
    values = {"url": conn.api_url, "tokenurl": token_url or conn.token_url,
              "clientid": conn.client_id, "clientsecret": conn.client_secret,
              "spassword": "FAKE-s-user&<pass>\"'$", "access_token": ""}
    path = folder / "sandbox.postman_environment.json"
    path.write_text(json.dumps({
        "id": "5c1d7a3e-0000-4000-8000-000000000001", "name": "cpi-preflight sandbox",
        "values": [{"key": k, "value": v, "type": "secret" if k == "clientsecret" else "default",
                    "enabled": True} for k, v in values.items()],
        "_postman_variable_scope": "environment"}), encoding="utf-8")
    return path


def _bash(folder: Path, script: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k != "SSL_CERT_FILE" and not k.startswith("CPI_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(["bash", "-e", "-c", script], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=180, check=False)


def test_imported_collection_passes_against_the_sandbox(sandbox: Sandbox, tmp_path: Path) -> None:
    environment = _environment_file(sandbox, tmp_path)
    init = _bash(tmp_path, f"cpi-preflight init --postman {COLLECTION} --postman-environment "
                           f"{environment} --name pm-sandbox --ca-bundle "
                           f"{sandbox.connection.ca_path}")
    assert (init.returncode, init.stderr) == (0, "")
    secret = sandbox.connection.client_secret
    assert secret is not None
    text = (tmp_path / "profiles" / "pm-sandbox.yaml").read_text(encoding="utf-8")
    assert secret not in text
    data = yaml.safe_load(text)
    assert (data["api_url"], data["token_url"]) == (sandbox.connection.api_url,
                                                    sandbox.connection.token_url)
    _run_as_told(tmp_path, init.stdout, "pm-sandbox", (
        "token", "role[MonitoringDataRead]", "role[WorkspacePackagesRead]",
        "endpoint[MessageProcessingLogsCount]", "endpoint[IntegrationPackages]",
        "endpoint[KeystoreEntries]"))


def _run_as_told(folder: Path, printed: str, name: str, checks: tuple[str, ...]) -> None:
    """Run the export and pytest lines init printed, verbatim; each check passes."""
    told = [line for line in printed.splitlines() if line.startswith(("export ", "pytest "))]
    assert told[-1] == f"pytest --profile {name}"
    run = _bash(folder, "\n".join(told))
    assert run.returncode == 0, run.stdout[-3000:]
    for check in checks:
        assert re.search(rf"^  {re.escape(check)} +passed$", run.stdout, re.M), check


def test_a_newman_collection_passes_against_the_sandbox(sandbox: Sandbox, tmp_path: Path) -> None:
    """The collection a team runs in Newman: its token request gives the client, its Bearer
    requests the endpoints; the S-user and No Auth requests are left out, not fatal."""
    token_url = sandbox.connection.token_url
    assert token_url.endswith("/oauth/token")  # the fixture appends /oauth/token itself
    environment = _environment_file(sandbox, tmp_path, token_url.removesuffix("/oauth/token"))
    init = _bash(tmp_path, f"cpi-preflight init --postman {NEWMAN} --postman-environment "
                           f"{environment} --name newman --ca-bundle "
                           f"{sandbox.connection.ca_path}")
    assert (init.returncode, init.stderr) == (0, "")
    assert "  - request 'Legacy/Logs with my S-user' (GET /MessageProcessingLogs): uses Basic " \
           "authentication (user and password), not an OAuth client" in init.stdout.splitlines()
    secret = sandbox.connection.client_secret
    assert secret is not None
    assert secret not in (tmp_path / "profiles" / "newman.yaml").read_text(encoding="utf-8")
    _run_as_told(tmp_path, init.stdout, "newman", (
        "token", "role[MonitoringDataRead]", "role[WorkspacePackagesRead]",
        "endpoint[MessageProcessingLogs]", "endpoint[IntegrationRuntimeArtifacts]",
        "endpoint[IntegrationPackages]"))
