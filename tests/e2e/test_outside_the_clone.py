"""The installed plugin in a user's own folder: service key -> `cpi-preflight init` -> pytest.

The folder holds only what a user would have: a service key, profiles/ written by init, and a
check of their own in checks/ using the documented fixtures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cpi_preflight.sandbox import Sandbox, SandboxSpec

USER_CHECK = '''
def test_message_logs_are_json(preflight_api, preflight_profile, preflight_token):
    response = preflight_api.get("/MessageProcessingLogs", params={"$top": "1"})
    assert response.status_code == 200
    assert "results" in response.json()["d"]
    assert preflight_profile.environment == "cf"
    assert any(s.endswith(".IntegrationOperationServer.read") for s in preflight_token.scopes)


def test_the_client_refuses_writes(preflight_api):
    import pytest
    from cpi_preflight.errors import ReadOnlyViolationError
    with pytest.raises(ReadOnlyViolationError):
        preflight_api.delete("/MessageProcessingLogs('x')")
'''


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox.start(SandboxSpec.from_mapping({"roles": ["MonitoringDataRead"]},
                                                environment="cf")) as running:
        yield running


def _cli(folder: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cpi_preflight.cli", *args], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=60, check=False)


def test_init_then_pytest_in_a_users_folder(sandbox, tmp_path: Path) -> None:
    key = tmp_path / "prod-cf-key.json"
    key.write_text(json.dumps(sandbox.connection.service_key))
    env = {**os.environ, "SSL_CERT_FILE": sandbox.connection.ca_path}
    made = _cli(tmp_path, "init", "--service-key", str(key), "--name", "prod-cf", env=env)
    assert made.returncode == 0, made.stderr
    secret = sandbox.connection.client_secret
    assert secret is not None
    assert secret not in (tmp_path / "profiles" / "prod-cf.yaml").read_text()
    assert "export CPI_PROD_CF_CLIENT_SECRET=" in made.stdout
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "test_mine.py").write_text(USER_CHECK)
    env["CPI_PROD_CF_CLIENT_SECRET"] = secret
    done = subprocess.run([sys.executable, "-m", "pytest", "--profile", "prod-cf", "-p",
                           "no:cacheprovider", "-rA"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 9 passed in " in done.stdout.splitlines()[-1]
    assert (tmp_path / "reports" / "prod-cf" / "junit.xml").is_file()
    # the written reports named as the user can open them from here (issue 18.13)
    assert [line for line in done.stdout.splitlines() if line.startswith("report: ")] == [
        "report: reports/prod-cf/junit.xml", "report: reports/prod-cf/evidence.json",
        "report: reports/prod-cf/evidence.html", "report: reports/prod-cf/exchanges.har"]
    assert "PASSED checks/test_mine.py::test_message_logs_are_json[prod-cf]" in done.stdout
    assert "PASSED checks/test_mine.py::test_the_client_refuses_writes[prod-cf]" in done.stdout
    assert secret not in done.stdout
