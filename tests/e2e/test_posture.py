"""Least privilege, expiry and drift, end to end against the sandbox with the real command."""

from __future__ import annotations

import datetime
import html
import json
import re
import subprocess
import sys
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
    # JUnit has no warning state: the testcase is named with its code, its system-out says it
    case = relaxed.cases("wide")["least-privilege"]
    assert case.get("name") == "least-privilege (WARNING EXCESS_ROLES)"
    out = case.findtext("system-out") or ""
    assert out.startswith("WARNING EXCESS_ROLES: the token of client"), out
    assert out.count("the token of client") == 1, out
    doc = json.loads((relaxed.reports / "wide" / "evidence.json").read_text())
    assert [f["code"] for f in doc["findings"]] == ["EXCESS_ROLES"]
    granted_only = [r for r in doc["roles"] if not r["required"] and r["role"] not in BODY[
        "required_roles"]]
    assert [(r["role"], r["code"]) for r in granted_only] == [("AccessPoliciesRead",
                                                                "EXCESS_ROLES")]
    strict = run_pytest(tmp_path / "b", "--profile", "wide", "--strict", profiles_dir=profiles)
    assert strict.code == 1
    assert strict.failure_types("wide") == {"least-privilege": "EXCESS_ROLES"}
    message = strict.cases("wide")["least-privilege"].find("failure").get("message", "")
    assert message.startswith("the token of client ")
    assert message.split(" -- fix", 1)[0].endswith(
        " carries permissions AccessPolicies.Read (from AccessPoliciesRead) beyond what "
        "required_roles (MonitoringDataRead, WorkspacePackagesRead) need")


def test_excess_names_permissions_their_templates_and_unknown_scopes(tmp_path: Path) -> None:
    sandbox = {"roles": ["MonitoringDataRead", "WorkspacePackagesRead", "SecurityMaterialDownload"],
               "extra_scopes": ["Custom.Thing"]}
    profiles = _write(tmp_path / "profiles", "odd", {**BODY, "sandbox": sandbox})
    outcome = run_pytest(tmp_path, "--profile", "odd", profiles_dir=profiles)
    assert outcome.code == 0, outcome.stdout
    doc = json.loads((outcome.reports / "odd" / "evidence.json").read_text())
    (finding,) = doc["findings"]
    app = next(s.split(".", 1)[0] for s in doc["token"]["scopes"] if s.startswith("it!b"))
    assert (finding["code"], finding["severity"]) == ("EXCESS_ROLES", "warning")
    assert finding["message"].endswith(
        " carries permissions NodeManager.readsecuritycontent (from SecurityMaterialDownload) and "
        f"unknown scopes {app}.Custom.Thing (no role template in the catalog grants them) beyond "
        "what required_roles (MonitoringDataRead, WorkspacePackagesRead) need")


def test_a_monitoring_token_with_roles_read_passes_least_privilege_when_strict(
        tmp_path: Path) -> None:
    body = {"environment": "cf", "required_roles": ["MonitoringDataRead"],
            "endpoints": ["MessageProcessingLogs"], "attempts": 1,
            "sandbox": {"roles": ["MonitoringDataRead"]}}
    profiles = _write(tmp_path / "profiles", "narrow", body)
    outcome = run_pytest(tmp_path, "--profile", "narrow", "--strict", profiles_dir=profiles)
    assert outcome.code == 0, outcome.stdout
    doc = json.loads((outcome.reports / "narrow" / "evidence.json").read_text())
    assert any(s.endswith(".Roles.Read") for s in doc["token"]["scopes"])
    line = next(x for x in outcome.stdout.splitlines() if x.strip().startswith("least-privilege"))
    print(line)
    assert line.split() == ["least-privilege", "passed"]
    assert outcome.cases("narrow")["least-privilege"].find("failure") is None


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
    findings = [f for f in json.loads((second.reports / "prod" / "evidence.json").read_text())[
        "findings"] if f["check"] == "drift"]
    assert sorted((f["code"], f["severity"]) for f in findings) == [
        ("ENDPOINT_REGRESSED", "failure"), ("ROLE_GAINED", "warning"), ("ROLE_LOST", "failure")]
    lost = next(f for f in findings if f["code"] == "ROLE_LOST")
    # named without the local absolute path (the run's folder is elsewhere)
    assert lost["message"] == ("role WorkspacePackagesRead was granted in the baseline "
                               "(prod/evidence.json) and is not now")
    # each code with its own fix: terminal, evidence and summary alike (issue 18.4)
    fixes = {f["code"]: f["fix"] for f in findings}
    assert fixes["ROLE_GAINED"].startswith("Confirm the change was intended")
    assert fixes["ROLE_LOST"].startswith("Find out who changed the instance's roles")
    assert fixes["ENDPOINT_REGRESSED"].startswith("See the endpoint's own finding")
    section = second.stdout[second.stdout.index("  drift "):].split("report: ")[0]
    heads = [line.split(":")[0].strip() if not line.startswith("    fix: ")
             else line[len("    fix: "):].split()[0]
             for line in section.splitlines() if re.match(r"    (fix|[A-Z_]+): ", line)]
    assert heads == ["ROLE_LOST", "Find", "ENDPOINT_REGRESSED", "See", "ROLE_GAINED",
                     "Confirm"], section
    page = html.unescape((second.reports / "prod" / "evidence.html").read_text())
    assert all(fixes[code].split(";")[0][:40] in page for code in fixes)
    summary = subprocess.run([sys.executable, "-m", "cpi_preflight.cli", "summary",
                              str(second.reports)], capture_output=True, text=True, check=True)
    rows = [line for line in summary.stdout.splitlines() if line.startswith("| drift |")]
    assert [row.split(" | ")[1] for row in rows] == [
        "ROLE\\_LOST", "ENDPOINT\\_REGRESSED", "ROLE\\_GAINED (warning)"]
    assert [row.split(" | ")[3][:20] for row in rows] == [
        fixes[c][:20] for c in ("ROLE_LOST", "ENDPOINT_REGRESSED", "ROLE_GAINED")]


def test_a_role_not_required_that_is_gone_is_lost_as_a_warning(tmp_path: Path) -> None:
    wide = {"roles": ["MonitoringDataRead", "WorkspacePackagesRead", "AccessPoliciesRead"]}
    profiles = _write(tmp_path / "p1", "prod", {**BODY, "sandbox": wide})
    first = run_pytest(tmp_path / "first", "--profile", "prod", profiles_dir=profiles)
    assert first.code == 0, first.stdout
    baseline = first.reports / "prod" / "evidence.json"
    narrow = {"roles": ["MonitoringDataRead", "WorkspacePackagesRead"]}
    profiles = _write(tmp_path / "p2", "prod", {**BODY, "sandbox": narrow})
    second = run_pytest(tmp_path / "second", "--profile", "prod", f"--baseline={baseline}",
                        profiles_dir=profiles)
    assert second.code == 0, second.stdout
    line = next(x for x in second.stdout.splitlines() if x.strip().startswith("drift "))
    print(line)
    assert line.split() == ["drift", "warning", "ROLE_LOST"]
    (finding,) = [f for f in json.loads((second.reports / "prod" / "evidence.json").read_text())[
        "findings"] if f["check"] == "drift"]
    assert (finding["code"], finding["severity"]) == ("ROLE_LOST", "warning")
    assert finding["message"] == ("role AccessPoliciesRead was granted in the baseline "
                                  "(prod/evidence.json) and is not now (the profile does not "
                                  "require it)")


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
    # the token check fails on the certificate's dates, whatever the host answers (issue 16);
    # the expiry check does not fail a second time for the same cause
    assert outcome.failure_types("old-cert") == {"token": "CREDENTIAL_EXPIRED"}
    failure = outcome.cases("old-cert")["token"].find("failure").get("message", "")
    message = failure.split(" -- fix: ")[0]
    assert re.fullmatch(r"the client certificate expired on \d{4}-\d\d-\d\d: create a new key "
                        r"\(certificate CN=expired-client of client sb-x!b1\|it!b2, valid until "
                        r"\d{4}-\d\d-\d\dT[0-9:]+\+00:00\)", message), message
    assert outcome.cases("old-cert")["credential-expiry"].find("skipped") is not None


def test_a_failing_run_still_writes_both_reports(tmp_path: Path) -> None:
    outcome = run_pytest(tmp_path, "--profile", "sandbox-cf-misconfigured")
    assert outcome.code == 1
    for name in ("junit.xml", "evidence.json", "evidence.html"):
        assert (outcome.reports / "sandbox-cf-misconfigured" / name).is_file()
    assert f"report: {outcome.reports}/sandbox-cf-misconfigured/evidence.html" in outcome.stdout
