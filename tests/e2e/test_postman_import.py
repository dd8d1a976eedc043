"""From Postman to a green run: import the fixture collection with an environment that points
at a running sandbox, then run the export and pytest lines init prints, verbatim."""

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

COLLECTION = (Path(__file__).resolve().parents[1] / "fixtures" / "postman"
              / "sap-cpi-cf.postman_collection.json")
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    spec = SandboxSpec.from_mapping({"roles": ["MonitoringDataRead", "WorkspacePackagesRead"]},
                                    environment="cf")
    with Sandbox.start(spec) as running:
        yield running


def _environment_file(sandbox: Sandbox, folder: Path) -> Path:
    """The Postman environment a user would have made for this tenant (exported shape)."""
    conn = sandbox.connection
    values = {"url": conn.api_url, "tokenurl": conn.token_url, "clientid": conn.client_id,
              "clientsecret": conn.client_secret}
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
    told = [line for line in init.stdout.splitlines() if line.startswith(("export ", "pytest "))]
    assert told[-1] == "pytest --profile pm-sandbox"
    run = _bash(tmp_path, "\n".join(told))
    assert run.returncode == 0, run.stdout[-3000:]
    for check in ("token", "role[MonitoringDataRead]", "role[WorkspacePackagesRead]",
                  "endpoint[MessageProcessingLogsCount]", "endpoint[IntegrationPackages]",
                  "endpoint[KeystoreEntries]"):
        assert re.search(rf"^  {re.escape(check)} +passed$", run.stdout, re.M), check
