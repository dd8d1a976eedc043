"""No secret and no token in anything the product prints or writes, whatever fails.

Real profiles (not sandbox sections) point at sandboxes started here, so the test knows every
client secret. Each profile fails in a different way; a user check in checks/ deliberately puts
the bearer token into its locals, its captured output and its assertion message. Then stdout,
stderr and every file under the reports folder (ours and pytest's own --junitxml) are searched
for the secrets, their Basic-header encodings, and anything shaped like a JWT.
"""

from __future__ import annotations

import base64
import datetime
import html
import http.server
import ipaddress
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
import xml.sax.saxutils
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from cpi_preflight import catalog, transport
from cpi_preflight.sandbox import Sandbox, SandboxSpec

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")

# profile name -> (environment, sandbox mapping, extra profile keys, expected failure codes)
FAULTS: dict[str, tuple[str, dict, dict, set[str]]] = {
    "healthy": ("cf", {"roles": ["MonitoringDataRead"]}, {}, set()),
    "wrong-secret": ("cf", {"faults": {"wrong_secret": True}}, {},
                     {"CLIENT_CREDENTIALS_REJECTED"}),
    "grant": ("cf", {"faults": {"grant_type_disabled": True}}, {}, {"GRANT_TYPE_NOT_ALLOWED"}),
    "plan": ("cf", {"faults": {"integration_flow_plan": True}}, {}, {"WRONG_SERVICE_PLAN"}),
    "token-url": ("cf", {"faults": {"token_url": "api"}}, {}, {"TOKEN_URL_WRONG"}),
    "api-url": ("cf", {"faults": {"api_url": "ui"}}, {}, {"API_URL_WRONG"}),
    "zone": ("cf", {"faults": {"foreign_zone": True}}, {}, {"TOKEN_REJECTED_BY_API"}),
    # strict: the clock warning fails the token check, and the API's 401 still shows
    "expired": ("cf", {"roles": ["MonitoringDataRead"], "faults": {"expired_token": True}},
                {"strict": True},
                {"CLOCK_SKEW", "TOKEN_REJECTED_BY_API"}),
    "dead": ("cf", {"faults": {"dead_host": "token"}}, {}, {"HOST_UNREACHABLE"}),
    "untrusted": ("cf", {}, {"ca_bundle": None}, {"TLS_UNTRUSTED"}),
    "roles": ("cf", {"roles": ["MonitoringDataRead", "DataStoresAndQueuesRead"],
                     "faults": {"server_errors": {"NumberRanges": "always"}}},
              {"required_roles": ["MonitoringDataRead", "WorkspacePackagesRead"],
               "endpoints": ["MessageProcessingLogs", "NumberRanges", "LogFiles"],
               "strict": True, "expiry_warning_days": 400},
              {"ROLE_MISSING", "SERVER_ERROR", "ENDPOINT_NOT_FOUND", "EXCESS_ROLES",
               "TLS_CERT_EXPIRING", "ROLE_LOST", "ROLE_GAINED", "ENDPOINT_REGRESSED"}),
    "certificate": ("cf", {"credential": "certificate"},
                    {"expiry_warning_days": 400, "strict": True},
                    {"CREDENTIAL_EXPIRING", "TLS_CERT_EXPIRING", "EXCESS_ROLES"}),
    "rejected": ("cf", {"faults": {"query_rejections": {"MessageProcessingLogs": "$top"}}},
                 {"endpoints": ["MessageProcessingLogs", "NumberRanges"]}, {"REQUEST_REJECTED"}),
    "pending": ("cf", {"roles": ["MonitoringDataRead"],
                       "faults": {"pending_roles": ["MonitoringDataRead"]}}, {},
                {"ROLE_NOT_EFFECTIVE"}),
    "neo": ("neo", {"roles": ["IntegrationOperationServer.read"],
                    "faults": {"wrong_secret": False}},
            {"required_roles": ["IntegrationOperationServer.read", "NodeManager.read"]},
            {"ROLE_MISSING"}),
    # issue 16: the sandbox's faults for them, with the secrets (and a proxy password) live
    "rate": ("cf", {"faults": {"too_many_requests": {"token": "always"}}}, {},
             {"RATE_LIMITED"}),
    "cert-host": ("cf", {"credential": "certificate",
                         "faults": {"token_url": "plain_authentication"}}, {},
                  {"CLIENT_CERTIFICATE_REJECTED"}),
    "cert-expired": ("cf", {"credential": "certificate", "faults": {"client_cert_expired": True}},
                     {}, {"CREDENTIAL_EXPIRED"}),
    # a cf profile pointed at a Neo tenant's OAuth: an opaque token where XSUAA issues JWTs
    "not-xsuaa": ("neo", {"roles": ["IntegrationOperationServer.read", "NodeManager.read"]},
                  {"environment": "cf", "required_roles": ["MonitoringDataRead"]},
                  {"TOKEN_INVALID"}),
    # each alone, with its own HTTPS_PROXY (PROXIED below)
    "proxy-auth": ("cf", {"faults": {"proxy": "auth_required"}}, {}, {"PROXY_AUTH_REQUIRED"}),
    "web-filter": ("cf", {"faults": {"proxy": "block_page"}},
                   {"api_url": "https://leak.it-cpi018.cfapps.eu10.hana.ondemand.com",
                    "token_url": "https://leak.authentication.eu10.hana.ondemand.com/oauth/token"},
                   {"INTERCEPTED"}),
}
# Profiles that need a proxy variable of their own: each runs alone, its HTTPS_PROXY carrying a
# user name and a password the proxy does not know (the web filter wants none and ignores them).
PROXIED = ("proxy-auth", "web-filter")
PROXY_PASSWORD = "pr&x<y>\"'$"
# Profiles whose token request fails, so their sandbox issues no token.
NO_TOKEN = {"wrong-secret", "grant", "token-url", "dead", "untrusted", "rate", "cert-host",
            "cert-expired", "proxy-auth", "web-filter"}

# An earlier run of profile "roles" in which more worked: drift findings follow.
BASELINE = {
    "profile": {"name": "roles"},
    "roles": [{"role": "WorkspacePackagesRead", "granted_by_token": "yes", "result": "passed"},
              {"role": "MonitoringDataRead", "granted_by_token": "yes", "result": "passed"}],
    "endpoints": [{"name": "LogFiles", "path": "/LogFiles", "result": "passed"}],
}

USER_CHECK = '''
def test_user_check_leaks_on_purpose(preflight_api, preflight_profile):
    response = preflight_api.get("/MessageProcessingLogs", params={"$top": "1"})
    headers = dict(preflight_api.headers)
    bearer = headers["authorization"]
    print("headers:", headers)
    assert response.status_code == 999, bearer
'''


def _profile(name: str, environment: str, sandbox: Sandbox, extra: dict) -> dict:
    conn = sandbox.connection
    body: dict = {"environment": environment, "api_url": conn.api_url,
                  "token_url": conn.token_url, "client_id": conn.client_id,
                  "ca_bundle": conn.ca_path, "attempts": 1,
                  "required_roles": ["MonitoringDataRead"] if environment == "cf"
                  else ["IntegrationOperationServer.read"],
                  "endpoints": ["MessageProcessingLogs"]}
    if conn.client_secret is not None:
        body["client_secret"] = "${SECRET_" + name.upper().replace("-", "_") + "}"
    else:
        body["certificate"], body["key"] = conn.certificate_path, conn.key_path
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[dict[str, Sandbox]]:
    started = {name: Sandbox.start(SandboxSpec.from_mapping(mapping, environment=env))
               for name, (env, mapping, _, _) in FAULTS.items()}
    yield started
    for sandbox in started.values():
        sandbox.stop()


def _proxy_variable(sandbox: Sandbox) -> str:
    """The sandbox proxy's URL with a user name and PROXY_PASSWORD, percent-encoded."""
    assert sandbox.connection.proxy_url is not None
    return sandbox.connection.proxy_url.replace("://", f"://me:{quote(PROXY_PASSWORD, safe='')}@")


@dataclass
class LeakRuns:
    """The main run (every profile but the proxied ones) and one run per proxied profile."""

    runs: list[subprocess.CompletedProcess[str]]

    @property
    def returncode(self) -> int:
        return max(run.returncode for run in self.runs)

    @property
    def stdout(self) -> str:
        return "\n".join(run.stdout for run in self.runs)

    @property
    def stderr(self) -> str:
        return "\n".join(run.stderr for run in self.runs)


@pytest.fixture(scope="module")
def leak_run(sandboxes, tmp_path_factory):
    project = tmp_path_factory.mktemp("leaks")
    (project / "profiles").mkdir()
    (project / "checks").mkdir()
    (project / "checks" / "test_user.py").write_text(USER_CHECK)
    env = {k: v for k, v in os.environ.items() if k.upper() not in transport.PROXY_VARIABLES}
    secrets: list[str] = [PROXY_PASSWORD, quote(PROXY_PASSWORD, safe="")]
    for name, (environment, _, extra, _) in FAULTS.items():
        sandbox = sandboxes[name]
        body = _profile(name, environment, sandbox, extra)
        folder = project / (f"proxied-{name}" if name in PROXIED else ".") / "profiles"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(body))
        if sandbox.connection.client_secret:
            env["SECRET_" + name.upper().replace("-", "_")] = sandbox.connection.client_secret
            secrets.append(sandbox.connection.client_secret)
            pair = f"{sandbox.connection.client_id}:{sandbox.connection.client_secret}"
            secrets.append(base64.b64encode(pair.encode()).decode())
        else:
            secrets.append(Path(sandbox.connection.key_path).read_text().splitlines()[1])
    baseline = project / "baseline"
    (baseline / "roles").mkdir(parents=True)
    (baseline / "roles" / "evidence.json").write_text(json.dumps(BASELINE))
    reports = project / "reports"
    command = [sys.executable, "-m", "pytest", "-vv", "-l", "--showlocals", "-rA", "--tb=long",
               "-p", "no:cacheprovider", f"--reports-dir={reports}"]
    runs = [subprocess.run([*command, "--profile", "all", f"--baseline={baseline}",
                            f"--junitxml={reports / 'pytest-junit.xml'}",
                            f"--metrics-file={reports / 'metrics.prom'}"],
                           cwd=project, env=env, capture_output=True, text=True, timeout=180,
                           check=False)]
    for name in PROXIED:
        runs.append(subprocess.run(
            [*command, "--profile", name, f"--junitxml={reports / f'pytest-junit-{name}.xml'}"],
            cwd=project / f"proxied-{name}", capture_output=True, text=True, timeout=180,
            env={**env, "HTTPS_PROXY": _proxy_variable(sandboxes[name])}, check=False))
    return LeakRuns(runs), reports, secrets, sandboxes


def _written(reports: Path) -> dict[str, str]:
    return {str(p): p.read_text(errors="replace") for p in reports.rglob("*") if p.is_file()}


def test_the_run_failed_in_every_planned_way(leak_run):
    done, reports, _, _ = leak_run
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr
    for name, (_, _, _, codes) in FAULTS.items():
        junit = (reports / name / "junit.xml").read_text()
        evidence = json.loads((reports / name / "evidence.json").read_text())
        failures = {f["code"] for f in evidence["findings"] if f["severity"] == "failure"}
        assert failures == codes, (name, failures)
        assert set(re.findall(r'type="([A-Z_]+)"', junit)) <= failures


# Codes no sandbox fault produces, with the reason and where another run over real sockets does.
# None is left: every code of codes.yaml is produced above while the secrets are live.
NOT_SIMULATED: dict[str, str] = {}


def test_every_code_is_exercised_while_secrets_are_live() -> None:
    exercised = set().union(*(codes for _, _, _, codes in FAULTS.values()))
    assert exercised.isdisjoint(NOT_SIMULATED)
    assert exercised | set(NOT_SIMULATED) == set(catalog.load().codes)


def test_user_check_really_exposed_the_token_to_pytest(leak_run):
    done, _, _, _ = leak_run
    assert "test_user_check_leaks_on_purpose" in done.stdout
    assert "Bearer ***" in done.stdout


def test_no_secret_anywhere(leak_run):
    done, reports, secrets, _ = leak_run
    texts = {"stdout": done.stdout, "stderr": done.stderr, **_written(reports)}
    assert any(p.endswith("pytest-junit.xml") for p in texts)
    assert any(p.endswith("metrics.prom") for p in texts)
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a secret leaked into {where}"


def test_no_token_anywhere(leak_run):
    done, reports, _, sandboxes = leak_run
    texts = {"stdout": done.stdout, "stderr": done.stderr, **_written(reports)}
    issued = [t for s in sandboxes.values() for t in s.issued_tokens]
    assert {name for name, s in sandboxes.items() if not s.issued_tokens} == NO_TOKEN
    for where, text in texts.items():
        assert not JWT.search(text), f"a JWT leaked into {where}"
        for token in issued:
            assert token not in text, f"a token leaked into {where}"


# --- other paths to the screen: logging and INTERNALERROR (issue 11, class 3) -------------

LOGGING_CHECK = '''
import logging
import warnings

def test_user_check_logs_the_bearer(preflight_api):
    logging.getLogger("user.check").warning("calling with %s",
                                            preflight_api.headers["authorization"])
    assert preflight_api.get("/MessageProcessingLogs", params={"$top": "1"}).status_code == 200


def test_user_check_warns_with_the_bearer(preflight_api):
    warnings.warn(f"sent {preflight_api.headers['authorization']}", stacklevel=1)
'''

BROKEN_DIAGNOSIS = '''
import os

import cpi_preflight.diagnosis


def _broken(*args, **kwargs):
    secret = os.environ["SECRET_P"]  # a local holding the secret
    raise RuntimeError("diagnosis broke")


cpi_preflight.diagnosis.diagnose = _broken  # run imports the module when it runs, then calls it
'''


@pytest.fixture(scope="module")
def one_sandbox() -> Iterator[Sandbox]:
    sandbox = Sandbox.start(SandboxSpec.from_mapping({"roles": ["MonitoringDataRead"]},
                                                     environment="cf"))
    yield sandbox
    sandbox.stop()


def _project(root: Path, sandbox: Sandbox, **files: str) -> dict[str, str]:
    (root / "profiles").mkdir(parents=True)
    (root / "checks").mkdir()
    (root / "profiles" / "p.yaml").write_text(
        yaml.safe_dump(_profile("p", "cf", sandbox, {})))
    for name, text in files.items():
        (root / name).write_text(text)
    kept = {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH")}
    return {**kept, "SECRET_P": sandbox.connection.client_secret or "",
            "PYTHONDONTWRITEBYTECODE": "1"}


def _forbidden(sandbox: Sandbox) -> list[str]:
    conn = sandbox.connection
    pair = f"{conn.client_id}:{conn.client_secret}".encode()
    return [conn.client_secret or "", base64.b64encode(pair).decode(), *sandbox.issued_tokens]


def test_debug_logging_and_warnings_show_no_secret_and_no_token(one_sandbox: Sandbox,
                                                                tmp_path: Path) -> None:
    env = _project(tmp_path, one_sandbox, **{"checks/test_logging.py": LOGGING_CHECK})
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--profile", "p", "--log-cli-level=DEBUG", "-rA",
         "-p", "no:cacheprovider", f"--reports-dir={tmp_path / 'reports'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "receive_response_headers.complete" in output  # httpcore's DEBUG lines were shown
    assert "calling with Bearer ***" in output
    assert "UserWarning: sent Bearer ***" in output  # the warnings summary
    assert one_sandbox.issued_tokens
    for value in _forbidden(one_sandbox):
        assert value not in output
    assert not JWT.search(output)


def test_an_internal_error_with_locals_shows_no_secret(one_sandbox: Sandbox,
                                                      tmp_path: Path) -> None:
    env = _project(tmp_path, one_sandbox, **{"conftest.py": BROKEN_DIAGNOSIS})
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--profile", "p", "-l", "--full-trace", "-vv",
         "-p", "no:cacheprovider", f"--reports-dir={tmp_path / 'reports'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False)
    output = done.stdout + done.stderr
    assert "INTERNALERROR> E       RuntimeError: diagnosis broke" in output, output[-3000:]
    assert re.search(r"INTERNALERROR> secret += '\*\*\*'", output)  # the locals were shown
    for value in _forbidden(one_sandbox):
        assert value not in output


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    """A tenant that hands the token out in a cookie too and echoes the secret in a header."""

    token = ""
    secret = ""

    def _answer(self, body: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", f"session={self.token}; Secure; HttpOnly")
        self.send_header("X-Echo", self.secret)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._answer(json.dumps({"access_token": self.token, "token_type": "bearer",
                                 "expires_in": 3600}).encode())

    def do_GET(self) -> None:  # a refusal whose OData message echoes the secret
        self._answer(json.dumps({"error": {"code": "Forbidden", "message": {
            "lang": "en", "value": f"denied for {self.secret}"}}}).encode(), 403)

    def log_message(self, *args: object) -> None:
        pass


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "echo.crt", folder / "echo.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_debug_logging_masks_a_token_in_set_cookie_and_an_echoed_secret(tmp_path: Path) -> None:
    secret, token = "ech0-s3cr3t&<>\"'$", "opaque-token-" + "x7Kq" * 8
    handler = type("Echo", (_EchoHandler,), {"token": token, "secret": secret})
    cert, key = _self_signed(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"https://127.0.0.1:{server.server_address[1]}"
    try:
        (tmp_path / "profiles").mkdir()
        (tmp_path / "profiles" / "echo.yaml").write_text(yaml.safe_dump({
            "environment": "neo", "api_url": base, "token_url": f"{base}/oauth2/api/v1/token",
            "client_id": "3c1d2e4f5a6b", "client_secret": "${SECRET_ECHO}",
            "ca_bundle": str(cert), "attempts": 1, "endpoints": ["MessageProcessingLogs"]}))
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH")}
        env["SECRET_ECHO"] = secret
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "--profile", "echo", "--log-cli-level=DEBUG",
             "-p", "no:cacheprovider", f"--reports-dir={tmp_path / 'reports'}",
             "--metrics-file", "echo.prom"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False)
    finally:
        server.shutdown()
        server.server_close()
    output = done.stdout + done.stderr
    assert "Set-Cookie" in output, output[-3000:]  # httpcore showed the response headers
    assert "session=***" in output
    reports = tmp_path / "reports" / "echo"
    written = {p.name: p.read_text(encoding="utf-8") for p in reports.iterdir()}
    assert "denied for ***" in written["junit.xml"]  # the echo reached the reports, masked
    written["echo.prom"] = (tmp_path / "echo.prom").read_text(encoding="utf-8")
    assert 'code="ROLE_MISSING",outcome="failed"} 1' in written["echo.prom"]
    for outside in ("denied", "Forbidden", "127.0.0.1", "3c1d2e4f5a6b"):  # labels: our words
        assert outside not in written["echo.prom"]
    escaped = {secret, json.dumps(secret)[1:-1], html.escape(secret),
               xml.sax.saxutils.escape(secret, {"'": "&apos;", '"': "&quot;"}),
               xml.sax.saxutils.quoteattr(secret)[1:-1], secret.replace('"', '\\"'), token}
    for where, text in {"output": output, **written}.items():
        for value in escaped:
            assert value not in text, where
    root = ET.fromstring(written["junit.xml"].encode("utf-8"))
    for element in root.iter():
        assert secret not in (element.text or "")
        assert not [v for v in element.attrib.values() if secret in v]
