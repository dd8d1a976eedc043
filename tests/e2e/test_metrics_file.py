"""`pytest --profile ... --metrics-file PATH` as a scheduled job runs it: the real command against
sandboxes over real sockets and TLS, the file parsed with prometheus_client's OpenMetrics
parser and held against the run's own junit.xml and evidence.json. (No secret, token or
server text in it: tests/e2e/test_secret_leaks.py runs with --metrics-file too.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from .conftest import REPO
from .test_command_line import collected, expected_items, pytest_command

FAMILIES = {
    "cpi_preflight_check_outcome": ("", ["profile", "check", "code", "outcome"]),
    "cpi_preflight_token_latency_seconds": ("seconds", ["profile"]),
    "cpi_preflight_endpoint_latency_seconds": ("seconds", ["profile", "endpoint"]),
    "cpi_preflight_certificate_expiry_days": ("days", ["profile", "certificate"]),
    "cpi_preflight_run_timestamp_seconds": ("seconds", ["profile"]),
}
SHOWN = ["failed", "warning", "passed", "skipped", "not_run"]
Samples = dict[str, list[tuple[dict[str, str], float]]]


def pytest_in(folder: Path, *args: str, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
    """`pytest ARGS` exactly as typed, in `folder`."""
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=folder, env=env or dict(os.environ), capture_output=True,
                          text=True, timeout=180, check=False)


def read_metrics(path: Path) -> Samples:
    """Every family of the file, parsed by prometheus_client, checked for type, unit and the
    label names of each sample."""
    found: Samples = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        unit, labels = FAMILIES[family.name]
        assert (family.type, family.unit) == ("gauge", unit), family.name
        assert all(list(s.labels) == labels for s in family.samples), family.name
        found[family.name] = [(s.labels, s.value) for s in family.samples]
    return found


def of(samples: Samples, name: str, profile: str) -> list[tuple[dict[str, str], float]]:
    return [(labels, value) for labels, value in samples[name] if labels["profile"] == profile]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's folder with the shipped profiles, outside the clone."""
    folder = tmp_path / "project"
    shutil.copytree(REPO / "profiles", folder / "profiles")
    return folder


def _junit_outcomes(reports: Path, profile: str) -> list[tuple[str, str, str]]:
    """(check, code, outcome) of each testcase of the profile's junit.xml and evidence.json."""
    evidence = json.loads((reports / profile / "evidence.json").read_text(encoding="utf-8"))
    return [(c["id"], c["code"], "passed" if c["outcome"] == "passed" else c["outcome"])
            for c in evidence["checks"]]


def test_a_scheduled_run_writes_one_file_of_every_profile(project: Path) -> None:
    done = pytest_in(project, "--profile", "sandbox-cf,sandbox-cf-misconfigured",
                     "--metrics-file", "textfile/cpi-preflight.prom")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr
    path = project / "textfile" / "cpi-preflight.prom"
    assert "report: textfile/cpi-preflight.prom" in done.stdout.splitlines()  # from here
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n# EOF\n")
    samples = read_metrics(path)
    assert list(samples) == list(FAMILIES)
    reports = project / "reports"
    for profile in ("sandbox-cf", "sandbox-cf-misconfigured"):
        evidence = json.loads((reports / profile / "evidence.json").read_text(encoding="utf-8"))
        expected = [({"profile": profile, "check": c["id"], "code": c["code"], "outcome": s},
                     1.0 if s == c["outcome"] else 0.0)
                    for c in evidence["checks"] for s in SHOWN]
        assert of(samples, "cpi_preflight_check_outcome", profile) == expected
        assert [labels["endpoint"] for labels, _ in
                of(samples, "cpi_preflight_endpoint_latency_seconds", profile)] == [
            e["name"] for e in evidence["endpoints"]]
        assert all(0 < value < 30 for _, value in
                   of(samples, "cpi_preflight_endpoint_latency_seconds", profile))
        [(_, token_latency)] = of(samples, "cpi_preflight_token_latency_seconds", profile)
        assert 0 < token_latency < 30
        expiry = of(samples, "cpi_preflight_certificate_expiry_days", profile)
        assert [labels["certificate"] for labels, _ in expiry] == ["token-host", "api-host"]
        assert all(364 < days <= 365 for _, days in expiry)  # the sandbox's one-year certificates
        started = datetime.fromisoformat(evidence["run"]["started_at"]).timestamp()
        assert of(samples, "cpi_preflight_run_timestamp_seconds", profile) == [
            ({"profile": profile}, started)]
    failed = [(labels["profile"], labels["check"], labels["code"])
              for labels, value in samples["cpi_preflight_check_outcome"]
              if labels["outcome"] == "failed" and value == 1]
    assert failed == [
        ("sandbox-cf-misconfigured", "role[WorkspacePackagesRead]", "ROLE_MISSING"),
        ("sandbox-cf-misconfigured", "role[DataStoresAndQueuesRead]", "ROLE_MISSING"),
        ("sandbox-cf-misconfigured", "endpoint[NumberRanges]", "SERVER_ERROR")]
    assert [p.name for p in path.parent.iterdir()] == ["cpi-preflight.prom"]  # no temp file


def test_the_space_form_with_the_file_of_the_last_run_is_read_right(tmp_path: Path) -> None:
    """From the second scheduled run on, the value names an existing file: in the clone,
    pytest must not take it for a test path (rootdir moved, testpaths lost, checks/ not
    collected), so the space form collects what the `=` form does."""
    path = tmp_path / "textfile" / "cpi-preflight.prom"
    path.parent.mkdir()
    path.write_text("# EOF\n")
    common = ("--profile", "sandbox-cf", f"--reports-dir={tmp_path / 'reports'}",
              "--collect-only", "-q")
    spaced = pytest_command(REPO, "-p", "no:cacheprovider", *common, "--metrics-file", str(path))
    joined = pytest_command(REPO, "-p", "no:cacheprovider", *common, f"--metrics-file={path}")
    assert collected(spaced) == collected(joined) == expected_items("--metrics-file")
    done = pytest_in(tmp_path, "--profile", "sandbox-cf", f"--profiles-dir={REPO / 'profiles'}",
                     "--metrics-file", str(path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert 'cpi_preflight_run_timestamp_seconds{profile="sandbox-cf"}' in path.read_text()


def test_nothing_selected_or_collect_only_leaves_the_file_alone(project: Path) -> None:
    path = project / "cpi-preflight.prom"
    path.write_text("# EOF\n")
    for args in (["--collect-only"], ["-k", "no-such-check"]):
        done = pytest_in(project, "--profile", "sandbox-cf", f"--metrics-file={path}", *args)
        assert done.returncode in (0, 5), done.stdout[-3000:] + done.stderr
        assert path.read_text() == "# EOF\n"


def test_client_certificate_days_to_expiry_are_in_the_file(project: Path) -> None:
    profiles = project / "profiles"
    for name, faults in (("cert", {}), ("expired", {"client_cert_expired": True})):
        body: dict[str, Any] = {"environment": "cf", "required_roles": ["MonitoringDataRead"],
                                "endpoints": ["MessageProcessingLogs"],
                                "sandbox": {"roles": ["MonitoringDataRead"],
                                            "credential": "certificate", "faults": faults}}
        (profiles / f"{name}.yaml").write_text(yaml.safe_dump(body))
    done = pytest_in(project, "--profile", "cert,expired", "--metrics-file", "m.prom")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr
    samples = read_metrics(project / "m.prom")
    days = {(labels["profile"], labels["certificate"]): value
            for labels, value in samples["cpi_preflight_certificate_expiry_days"]}
    assert 364 < days["cert", "client"] <= 365
    assert -3 < days["expired", "client"] < -1  # expired two days ago
    failed = {(labels["profile"], labels["check"], labels["code"])
              for labels, value in samples["cpi_preflight_check_outcome"]
              if labels["outcome"] == "failed" and value == 1}
    assert ("expired", "token", "CREDENTIAL_EXPIRED") in failed


def test_an_unusable_metrics_file_stops_the_run_before_any_request(project: Path) -> None:
    (project / "textfile").mkdir()
    done = pytest_in(project, "--profile", "sandbox-cf", "--metrics-file", "textfile")
    assert done.returncode == 4
    assert ("ERROR: --metrics-file textfile: is a folder; name a file in it, such as "
            "--metrics-file=textfile/cpi-preflight.prom") in done.stderr
    assert not list((project / "reports").iterdir())  # checked for writing, nothing written


def test_the_readme_cron_command_writes_the_file_node_exporter_reads(project: Path) -> None:
    """The README's crontab line, run as printed but for the textfile folder."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    [line] = [x for x in readme.splitlines() if x.startswith("*/15 * * * * ")]
    command = line.split(" && .venv/bin/pytest ", 1)[1]
    textfile = project / "textfile"
    textfile.mkdir()
    args = command.replace("/var/lib/node_exporter/textfile", str(textfile)).split()
    done = pytest_in(project, *args)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr  # misconfigured fails
    samples = read_metrics(textfile / "cpi-preflight.prom")
    assert sorted({labels["profile"] for labels, _ in
                   samples["cpi_preflight_run_timestamp_seconds"]}) == [
        "sandbox-cf", "sandbox-cf-misconfigured", "sandbox-neo"]
