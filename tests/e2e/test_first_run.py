"""A new user's first run, as printed: `cpi-preflight sandbox --service-key key.json` ->
the `init` line it prints -> the export and pytest lines init prints, run in bash verbatim."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ..background import Background
from .conftest import BIN


def sandbox_command(folder: Path, *args: str) -> Background:
    """`cpi-preflight sandbox ARGS` running in `folder`."""
    return Background([str(BIN / "cpi-preflight"), "sandbox", *args], folder)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Background, list[str]]]:
    sandbox = sandbox_command(tmp_path, "--service-key", "key.json")
    try:
        yield sandbox, sandbox.until("Serving; press Ctrl-C to stop.")
    finally:
        sandbox.proc.send_signal(signal.SIGTERM)
        sandbox.proc.wait(timeout=10)


def _user_env() -> dict[str, str]:
    """The user's shell: this venv first on PATH, no SSL_CERT_FILE, no secret set yet."""
    env = {k: v for k, v in os.environ.items()
           if k != "SSL_CERT_FILE" and not k.startswith("CPI_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _bash(folder: Path, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-e", "-c", script], cwd=folder, env=_user_env(),
                          capture_output=True, text=True, timeout=180, check=False)


def test_sandbox_key_then_printed_init_then_printed_commands_pass(
        served: tuple[Background, list[str]], tmp_path: Path) -> None:
    _, printed = served
    key = tmp_path / "key.json"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert set(json.loads(key.read_text(encoding="utf-8"))["oauth"]) >= {
        "clientid", "clientsecret", "url", "tokenurl"}
    init_line = printed[printed.index("Wrote the service key to key.json (mode 0600). Set up a "
                                      "profile from it:") + 2].strip()
    ca = next(line.split()[1] for line in printed if line.startswith("  CA "))
    assert init_line == f"cpi-preflight init --service-key key.json --name my-sandbox-cf " \
                        f"--ca-bundle {ca}"
    init = _bash(tmp_path, init_line)
    assert (init.returncode, init.stderr) == (0, "")
    profile = yaml.safe_load((tmp_path / "profiles" / "my-sandbox-cf.yaml").read_text())
    assert profile["ca_bundle"] == ca
    told = [line for line in init.stdout.splitlines()
            if line.startswith(("export ", "pytest ", f"{sys.executable} "))]
    assert told[-1] == "pytest --profile my-sandbox-cf"
    run = _bash(tmp_path, "\n".join(told))
    assert run.returncode == 0, run.stdout[-3000:]
    assert re.search(r"^  token +passed$", run.stdout, re.M)
    assert re.search(r"^  endpoint\[MessageProcessingLogs\] +passed$", run.stdout, re.M)


def test_without_the_ca_bundle_the_same_run_is_untrusted(
        served: tuple[Background, list[str]], tmp_path: Path) -> None:
    init = _bash(tmp_path, "cpi-preflight init --service-key key.json --name no-ca")
    assert init.returncode == 0, init.stderr
    told = [line for line in init.stdout.splitlines() if line.startswith(("export ", "pytest "))]
    run = _bash(tmp_path, "\n".join(told))
    assert run.returncode == 1
    assert re.search(r"^  token +failed   TLS_UNTRUSTED$", run.stdout, re.M)


def test_printed_command_with_a_profiles_dir_works_from_the_same_folder(
        served: tuple[Background, list[str]], tmp_path: Path) -> None:
    _, printed = served
    ca = next(line.split()[1] for line in printed if line.startswith("  CA "))
    init = _bash(tmp_path, f"cpi-preflight init --service-key key.json --name eu.dev "
                           f"--profiles-dir 'my tenants' --ca-bundle {ca}")
    assert init.returncode == 0, init.stderr
    told = [line for line in init.stdout.splitlines() if line.startswith(("export ", "pytest "))]
    assert told[-1] == "pytest --profile eu.dev '--profiles-dir=my tenants'"
    run = _bash(tmp_path, "\n".join(told))
    assert run.returncode == 0, run.stdout[-3000:]


def test_a_certificate_key_runs_as_printed_too(tmp_path: Path) -> None:
    sandbox = sandbox_command(tmp_path, "--credential", "certificate", "--service-key",
                              "key.json")
    try:
        printed = sandbox.until("Serving; press Ctrl-C to stop.")
        init_line = printed[printed.index("Wrote the service key to key.json (mode 0600). Set "
                                          "up a profile from it:") + 2].strip()
        assert init_line.endswith(" --write-pem my-sandbox-cf-pem")
        init = _bash(tmp_path, init_line)
        assert (init.returncode, init.stderr) == (0, "")
        told = [line for line in init.stdout.splitlines()
                if line.startswith(("export ", "pytest ", f"{sys.executable} "))]
        assert "/path/to/" not in "\n".join(told)
        run = _bash(tmp_path, "\n".join(told))
        assert run.returncode == 0, run.stdout[-3000:]
        assert re.search(r"^  credential-expiry +passed$", run.stdout, re.M)
    finally:
        sandbox.proc.send_signal(signal.SIGTERM)
        sandbox.proc.wait(timeout=10)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the printed lines use curl")
def test_the_try_it_lines_fetch_a_token_and_call_the_api(
        served: tuple[Background, list[str]], tmp_path: Path) -> None:
    _, printed = served
    start = printed.index("Try it:")
    lines = [line.strip() for line in printed[start + 1:start + 3]]
    assert lines[0].startswith("TOKEN=$(curl ")
    done = _bash(tmp_path, "\n".join(lines))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["d"]["results"] is not None
