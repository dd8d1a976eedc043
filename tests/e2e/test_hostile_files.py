"""Reports against hostile file systems, end to end: the real `pytest --profile ...` command.

An unusable --reports-dir or a report that is a symbolic link is a usage error (exit 4) before
any request; an interrupted run leaves no report from an earlier run; the evidence shows a
proxy password in no form.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cpi_preflight.sandbox import Sandbox, SandboxSpec

PROXY_PASSWORD = "p@ss/w0rd"
ENCODED_PROXY_PASSWORD = "p%40ss%2Fw0rd"  # as a proxy URL must carry it


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    started = Sandbox.start(SandboxSpec.from_mapping(
        {"roles": ["MonitoringDataRead"], "faults": {"token_latency_ms": 1500}},
        environment="cf"))
    yield started
    started.stop()


def _project(root: Path, sandbox: Sandbox) -> dict[str, str]:
    conn = sandbox.connection
    (root / "profiles").mkdir(parents=True)
    (root / "profiles" / "p.yaml").write_text(yaml.safe_dump({
        "environment": "cf", "api_url": conn.api_url, "token_url": conn.token_url,
        "client_id": conn.client_id, "client_secret": "${SECRET_P}", "ca_bundle": conn.ca_path,
        "attempts": 1, "required_roles": ["MonitoringDataRead"],
        "endpoints": ["MessageProcessingLogs"]}))
    kept = {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "HOME")}
    return {**kept, "SECRET_P": conn.client_secret or ""}


def _command(reports: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "--profile", "p", "-p", "no:cacheprovider",
            f"--reports-dir={reports}", *extra]


def _run(root: Path, env: dict[str, str], reports: Path,
         *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_command(reports, *extra), cwd=root, env=env, capture_output=True,
                          text=True, timeout=180, check=False)


@pytest.mark.parametrize("setup", ["a-file", "under-a-file", "linked-junit", "linked-folder"])
def test_an_unusable_reports_dir_is_a_usage_error_before_any_request(
        sandbox: Sandbox, tmp_path: Path, setup: str) -> None:
    env = _project(tmp_path, sandbox)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    reports = tmp_path / "reports"
    if setup in ("a-file", "under-a-file"):
        reports.write_text("")
        reports = reports / "sub" if setup == "under-a-file" else reports
    elif setup == "linked-junit":
        (reports / "p").mkdir(parents=True)
        (reports / "p" / "junit.xml").symlink_to(Path("..") / ".." / "victim")
    else:
        reports.mkdir()
        (reports / "p").symlink_to(tmp_path)
    issued = len(sandbox.issued_tokens)
    done = _run(tmp_path, env, reports)
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr
    expected = {
        "a-file": f"ERROR: --reports-dir {reports}: cannot write reports there: is not a "
                  "folder; give a writable folder with --reports-dir=DIR",
        "under-a-file": f"ERROR: --reports-dir {reports}: cannot write reports there: Not a "
                        "directory; give a writable folder with --reports-dir=DIR",
        "linked-junit": f"ERROR: --reports-dir {reports}: {reports / 'p' / 'junit.xml'} is a "
                        "symbolic link; cpi-preflight does not write through links: remove "
                        "it, or choose another --reports-dir",
        "linked-folder": f"ERROR: --reports-dir {reports}: {reports / 'p'} is a symbolic link; "
                         "cpi-preflight does not write through links: remove it, or choose "
                         "another --reports-dir",
    }[setup]
    assert expected in done.stderr.splitlines()
    assert len(sandbox.issued_tokens) == issued  # not one request went out
    assert victim.read_text() == "precious"


def test_an_interrupted_run_leaves_no_earlier_report(sandbox: Sandbox, tmp_path: Path) -> None:
    env = _project(tmp_path, sandbox)
    reports = tmp_path / "reports"
    (reports / "p").mkdir(parents=True)
    for name in ("junit.xml", "evidence.json", "evidence.html"):
        (reports / "p" / name).write_text('{"summary": {"result": "passed"}}')
    child = subprocess.Popen(_command(reports), cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while (reports / "p" / "junit.xml").exists():  # removed as the network phase starts
            assert time.monotonic() < deadline, "the earlier report was never removed"
            assert child.poll() is None, child.communicate()
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)  # the token answer takes 1.5 s: still in flight
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 2, out[-2000:] + err
    assert sorted(p.name for p in (reports / "p").iterdir()) == []


def test_evidence_shows_no_part_of_a_proxy_password(sandbox: Sandbox, tmp_path: Path) -> None:
    env = _project(tmp_path, sandbox)
    env.update({"HTTPS_PROXY": f"http://user:{ENCODED_PROXY_PASSWORD}@127.0.0.1:9",
                "NO_PROXY": "127.0.0.1"})  # recorded, but the sandbox is reached directly
    reports = tmp_path / "reports"
    done = _run(tmp_path, env, reports)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    evidence = json.loads((reports / "p" / "evidence.json").read_text())
    assert evidence["run"]["proxy"] == "HTTPS_PROXY=http://***@127.0.0.1:9, NO_PROXY=127.0.0.1"
    texts = [done.stdout, done.stderr, *(p.read_text() for p in (reports / "p").iterdir())]
    for text in texts:
        for part in (ENCODED_PROXY_PASSWORD, PROXY_PASSWORD, "w0rd", "p@ss", "p%40ss"):
            assert part not in text


def test_an_unencoded_proxy_password_is_refused_without_showing_it(sandbox: Sandbox,
                                                                   tmp_path: Path) -> None:
    env = _project(tmp_path, sandbox)
    env["HTTPS_PROXY"] = f"http://user:{PROXY_PASSWORD}@127.0.0.1:9"
    done = _run(tmp_path, env, tmp_path / "reports")
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr
    assert "percent-encode '/' and '@'" in done.stderr
    for part in (PROXY_PASSWORD, "w0rd", "p@ss"):
        assert part not in done.stdout + done.stderr


def test_a_fifo_as_ssl_cert_file_is_a_usage_error_not_a_hang(sandbox: Sandbox,
                                                               tmp_path: Path) -> None:
    env = _project(tmp_path, sandbox)
    os.mkfifo(tmp_path / "ca.fifo")
    env["SSL_CERT_FILE"] = str(tmp_path / "ca.fifo")
    try:
        done = subprocess.run(_command(tmp_path / "reports"), cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("the run blocked on the FIFO")
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr
    assert (f"ERROR: SSL_CERT_FILE {tmp_path / 'ca.fifo'}: cannot be read: is a FIFO (named "
            "pipe), not a regular file; point it at a PEM file of CA certificates, or unset it"
            ) in done.stderr.splitlines()


def test_sigterm_stops_the_run_s_sandboxes_and_removes_their_keys(tmp_path: Path) -> None:
    """A CI job cancelled mid-run (SIGTERM) must not leave a sandbox's private keys behind."""
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "c.yaml").write_text(yaml.safe_dump({
        "environment": "cf", "required_roles": ["MonitoringDataRead"],
        "sandbox": {"credential": "certificate", "faults": {"latency_ms": 3000}}}))
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "HOME")}
    env["TMPDIR"] = str(temp)
    child = subprocess.Popen([sys.executable, "-m", "pytest", "--profile", "c", "-p",
                              "no:cacheprovider", f"--reports-dir={tmp_path / 'reports'}"],
                             cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not any(temp.glob("cpi-sandbox-*/client-key.pem")):  # the sandbox is up
            assert time.monotonic() < deadline, "the sandbox never started"
            assert child.poll() is None, child.communicate()
            time.sleep(0.05)
        time.sleep(0.5)  # the token request is in flight (3 s latency)
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 2, out[-2000:] + err
    assert sorted(p.name for p in temp.iterdir() if p.name.startswith("cpi-")) == []
