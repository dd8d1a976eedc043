"""Least privilege, expiry and drift, end to end against the sandbox with the real command."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .conftest import run_pytest

BODY = {"environment": "cf", "required_roles": ["MonitoringDataRead", "WorkspacePackagesRead"],
        "endpoints": ["MessageProcessingLogs", "IntegrationPackages"], "attempts": 1}


def _write(folder: Path, name: str, body: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(body))
    return folder


def test_excess_roles_warn_by_default_and_fail_when_strict(tmp_path: Path) -> None:
    sandbox = {"roles": ["MonitoringDataRead", "WorkspacePackagesRead", "AccessPoliciesRead"]}
    profiles = _write(tmp_path / "profiles", "wide", {**BODY, "sandbox": sandbox})
    relaxed = run_pytest(tmp_path / "a", "--profile", "wide", profiles_dir=profiles)
    assert relaxed.code == 0, relaxed.stdout
    assert re.search(r"^  least-privilege +warning  EXCESS_ROLES$", relaxed.stdout, re.M)
    case = relaxed.cases("wide")["least-privilege"]
    assert "warning EXCESS_ROLES: the token of client" in (case.findtext("system-out") or "")
    doc = json.loads((relaxed.reports / "wide" / "evidence.json").read_text())
    assert [f["code"] for f in doc["findings"]] == ["EXCESS_ROLES"]
    strict = run_pytest(tmp_path / "b", "--profile", "wide", "--strict", profiles_dir=profiles)
    assert strict.code == 1
    assert strict.failure_types("wide") == {"least-privilege": "EXCESS_ROLES"}
    message = strict.cases("wide")["least-privilege"].find("failure").get("message", "")
    assert message.startswith("the token of client ")
    assert message.split(": ", 1)[0].endswith("grants role templates AccessPoliciesRead beyond "
                                               "required_roles (MonitoringDataRead, "
                                               "WorkspacePackagesRead) -- fix")


def test_drift_against_a_baseline(tmp_path: Path) -> None:
    before = {"roles": ["MonitoringDataRead", "WorkspacePackagesRead"]}
    profiles = _write(tmp_path / "p1", "prod", {**BODY, "sandbox": before})
    first = run_pytest(tmp_path / "first", "--profile", "prod", profiles_dir=profiles)
    assert first.code == 0, first.stdout
    baseline = first.reports / "prod" / "evidence.json"
    after = {"roles": ["MonitoringDataRead", "AccessPoliciesRead"]}
    profiles = _write(tmp_path / "p2", "prod", {**BODY, "sandbox": after})
    second = run_pytest(tmp_path / "second", "--profile", "prod", f"--baseline={baseline}",
                        profiles_dir=profiles)
    assert second.code == 1
    drift = second.cases("prod")["drift"].find("failure")
    assert drift is not None
    assert drift.get("type") == "ROLE_LOST"
    codes = [f["code"] for f in json.loads(
        (second.reports / "prod" / "evidence.json").read_text())["findings"]
        if f["check"] == "drift"]
    assert sorted(codes) == ["ENDPOINT_REGRESSED", "ROLE_GAINED", "ROLE_LOST"]


def test_baseline_that_is_not_evidence_is_a_usage_error(tmp_path: Path) -> None:
    bogus = tmp_path / "x.json"
    bogus.write_text("{}")
    outcome = run_pytest(tmp_path, "--profile", "sandbox-cf", f"--baseline={bogus}")
    assert outcome.code == 4
    assert (f"--baseline {bogus}: is not an evidence.json written by cpi-preflight (no "
            "profile.name); pass reports/<profile>/evidence.json or reports/") in outcome.stderr


def _expired_pair(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired-client")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(now - datetime.timedelta(days=400))
            .not_valid_after(now - datetime.timedelta(days=3))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "client.crt", folder / "client.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_an_expired_client_certificate_fails_even_without_strict(tmp_path: Path) -> None:
    cert, key = _expired_pair(tmp_path)
    body = {"environment": "cf", "api_url": "https://127.0.0.1:9", "attempts": 1,
            "token_url": "https://127.0.0.1:9/oauth/token", "client_id": "sb-x!b1|it!b2",
            "certificate": str(cert), "key": str(key), "required_roles": ["MonitoringDataRead"]}
    profiles = _write(tmp_path / "profiles", "old-cert", body)
    outcome = run_pytest(tmp_path, "--profile", "old-cert", profiles_dir=profiles)
    assert outcome.code == 1
    assert outcome.failure_types("old-cert")["credential-expiry"] == "CREDENTIAL_EXPIRING"
    message = outcome.cases("old-cert")["credential-expiry"].find("failure").get("message", "")
    assert message.startswith("the client certificate of client sb-x!b1|it!b2 "
                              "(CN=expired-client) expired: valid until ")


def test_a_failing_run_still_writes_both_reports(tmp_path: Path) -> None:
    outcome = run_pytest(tmp_path, "--profile", "sandbox-cf-misconfigured")
    assert outcome.code == 1
    for name in ("junit.xml", "evidence.json", "evidence.html"):
        assert (outcome.reports / "sandbox-cf-misconfigured" / name).is_file()
    assert f"report: {outcome.reports}/sandbox-cf-misconfigured/evidence.html" in outcome.stdout
