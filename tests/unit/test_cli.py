"""`cpi-preflight`: init from service keys and options, catalog and codes output, delegation."""

from __future__ import annotations

import datetime
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from cpi_preflight import __version__, catalog, cli, docs, profile, profile_writer
from cpi_preflight.commands import init as init_command
from cpi_preflight.commands import sandbox as sandbox_command

SECRET = "Fake$secret'with=quote"
API_URL = "https://example.it-cpi018.cfapps.eu10-003.hana.ondemand.com"
TOKEN_URL = "https://example.authentication.eu10.hana.ondemand.com/oauth/token"
CERT_TOKEN_URL = "https://example.authentication.cert.eu10.hana.ondemand.com/oauth/token"
CLIENT_ID = "sb-00000000-0000-4000-8000-000000000000!b12345|it!b1234"
NEO = ["init", "--environment", "neo", "--name", "prod-neo",
       "--api-url", "https://acc-tmn.hci.eu1.hana.ondemand.com",
       "--token-url", "https://oauthasservices-acc.hana.ondemand.com/oauth2/api/v1/token",
       "--client-id", "3f1c0000"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def secret_key(tmp_path: Path) -> Path:
    return _write_json(tmp_path / "key.json", {"oauth": {
        "clientid": CLIENT_ID, "clientsecret": SECRET, "url": API_URL, "tokenurl": TOKEN_URL,
        "createdate": "2024-01-01T00:00:00.000Z"}})


def _certificate_pems() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sb-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


@pytest.fixture(scope="module")
def pems() -> tuple[str, str]:
    return _certificate_pems()


@pytest.fixture
def certificate_key(tmp_path: Path, pems: tuple[str, str]) -> Path:
    return _write_json(tmp_path / "cert-key.json", {"oauth": {
        "clientid": CLIENT_ID, "certificate": pems[0], "key": pems[1], "url": API_URL,
        "tokenurl": TOKEN_URL, "certurl": "https://example.authentication.cert.eu10.hana.ondemand.com",
        "certificatedetails": {"validuntil": "2026-07-01T00:00:00Z", "subjectdn": "CN=sb-test"}}})


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _exports(out: str) -> dict[str, str]:
    lines = [line for line in out.splitlines() if line.startswith("export ")]
    return dict(shlex.split(line)[1].split("=", 1) for line in lines)


def _load(name: str, environ: dict[str, str], profiles_dir: str = "profiles") -> profile.Profile:
    return profile.load(name, Path(profiles_dir), environ)


def printed_pytest() -> str:
    """How `init` writes pytest in its next command, on this machine's PATH: plain `pytest` when
    the `pytest` found there is this Python's, else this Python's `-m pytest` (the choice
    itself is pinned by the two `test_printed_command_*` tests, which fix what PATH answers)."""
    found = shutil.which("pytest")
    here = Path(sys.executable).parent.resolve()
    if found is not None and Path(found).parent.resolve() == here:
        return "pytest"
    return f"{shlex.quote(sys.executable)} -m pytest"


# --- init from a client-secret service key ------------------------------------------------------

def test_init_secret_key_writes_a_profile_without_the_secret(
        secret_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "init", "--service-key", str(secret_key), "--name", "prod-cf")
    assert (code, err) == (0, "")
    text = Path("profiles/prod-cf.yaml").read_text(encoding="utf-8")
    assert "Fake" not in text
    assert "\nclient_secret: ${CPI_PROD_CF_CLIENT_SECRET}\n" in text
    assert yaml.safe_load(text)["client_id"] == CLIENT_ID


def test_init_secret_key_profile_loads_with_the_key_values(
        secret_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, "init", "--service-key", str(secret_key), "--name", "prod-cf")
    loaded = _load("prod-cf", {"CPI_PROD_CF_CLIENT_SECRET": SECRET})
    assert (loaded.environment, loaded.api_url, loaded.token_url, loaded.client_id) == (
        "cf", API_URL, TOKEN_URL, CLIENT_ID)
    assert loaded.client_secret is not None
    assert loaded.client_secret.reveal() == SECRET
    assert loaded.required_roles == ("MonitoringDataRead",)
    assert loaded.endpoints == ("MessageProcessingLogs", "IntegrationRuntimeArtifacts")


def test_init_secret_key_prints_a_shell_safe_export_and_the_next_command(
        secret_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _run(capsys, "init", "--service-key", str(secret_key), "--name", "prod-cf")
    lines = out.splitlines()
    assert lines[0] == "Wrote profiles/prod-cf.yaml (Cloud Foundry, client secret)."
    assert f"export CPI_PROD_CF_CLIENT_SECRET={shlex.quote(SECRET)}" in lines
    assert _exports(out) == {"CPI_PROD_CF_CLIENT_SECRET": SECRET}
    assert lines[-1] == f"{printed_pytest()} --profile prod-cf"


def test_init_comments_every_key_it_writes(
        secret_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, "init", "--service-key", str(secret_key), "--name", "prod-cf")
    lines = Path("profiles/prod-cf.yaml").read_text(encoding="utf-8").splitlines()
    keys = [i for i, line in enumerate(lines) if line and line[0].isalpha()]
    uncommented = [lines[i] for i in keys if i == 0 or not lines[i - 1].startswith("#")]
    assert uncommented in ([], ["key: ${CPI_PROD_CF_KEY}"])


def test_init_takes_roles_endpoints_and_profiles_dir(
        secret_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "init", "--service-key", str(secret_key), "--name", "eu.prod-2",
                        "--roles", "MonitoringDataRead, WorkspacePackagesRead",
                        "--endpoints", "IntegrationPackages", "--profiles-dir", "tenants")
    assert code == 0
    loaded = _load("eu.prod-2", {"CPI_EU_PROD_2_CLIENT_SECRET": SECRET}, "tenants")
    assert loaded.required_roles == ("MonitoringDataRead", "WorkspacePackagesRead")
    assert loaded.endpoints == ("IntegrationPackages",)
    assert out.splitlines()[-1] == (f"{printed_pytest()} --profile eu.prod-2 "
                                    "--profiles-dir=tenants")


@pytest.mark.parametrize(("name", "prefix"), [
    ("prod-cf", "CPI_PROD_CF"), ("eu.prod-2", "CPI_EU_PROD_2"), ("1st", "CPI_1ST")])
def test_variable_prefix_comes_from_the_name(name: str, prefix: str) -> None:
    names = profile_writer.Variables.for_name(name)
    assert (names.prefix, names.client_secret, names.certificate, names.key) == (
        prefix, f"{prefix}_CLIENT_SECRET", f"{prefix}_CERTIFICATE", f"{prefix}_KEY")


def test_init_refuses_to_overwrite_without_force(
        secret_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, "init", "--service-key", str(secret_key), "--name", "prod-cf")
    before = Path("profiles/prod-cf.yaml").read_text(encoding="utf-8")
    code, out, err = _run(capsys, "init", "--service-key", str(secret_key), "--name", "prod-cf",
                          "--roles", "WorkspacePackagesRead")
    assert (code, out) == (2, "")
    assert err == ("cpi-preflight init: profiles/prod-cf.yaml already exists; pass --force to "
                   "overwrite it, or choose another --name\n")
    assert Path("profiles/prod-cf.yaml").read_text(encoding="utf-8") == before


def test_init_force_overwrites(secret_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, "init", "--service-key", str(secret_key), "--name", "prod-cf")
    code, _, _ = _run(capsys, "init", "--service-key", str(secret_key), "--name", "prod-cf",
                      "--roles", "WorkspacePackagesRead", "--force")
    assert code == 0
    loaded = _load("prod-cf", {"CPI_PROD_CF_CLIENT_SECRET": SECRET})
    assert loaded.required_roles == ("WorkspacePackagesRead",)


def test_init_warns_about_an_integration_flow_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = _write_json(tmp_path / "rt.json", {"oauth": {
        "clientid": "sb-1!b2|it-rt-example!b3", "clientsecret": SECRET,
        "url": API_URL.replace(".it-cpi018.", ".it-cpi018-rt."), "tokenurl": TOKEN_URL}})
    code, _, err = _run(capsys, "init", "--service-key", str(key), "--name", "rt")
    assert code == 0
    assert err == (f"warning: {key}: the client id ends in |it-rt-...: this is a key of the "
                   "integration-flow plan, which cannot call the API; create a service key of "
                   "an instance with plan api and run init again\n")


# --- init from a certificate service key --------------------------------------------------------

def test_init_certificate_key_refers_to_pem_paths_only(
        certificate_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "init", "--service-key", str(certificate_key), "--name",
                          "prod-cf")
    assert (code, err) == (0, "")
    text = Path("profiles/prod-cf.yaml").read_text(encoding="utf-8")
    assert "BEGIN" not in text
    data = yaml.safe_load(text)
    assert (data["certificate"], data["key"]) == ("${CPI_PROD_CF_CERTIFICATE}",
                                                  "${CPI_PROD_CF_KEY}")
    assert "client_secret" not in data
    assert data["token_url"] == CERT_TOKEN_URL
    assert _exports(out) == {"CPI_PROD_CF_CERTIFICATE": "/path/to/prod-cf.crt",
                             "CPI_PROD_CF_KEY": "/path/to/prod-cf.key"}
    assert "--write-pem DIR" in out
    assert "The certificate is valid until 2026-07-01T00:00:00Z." in out.splitlines()


def test_init_write_pem_writes_private_files_and_exports_their_paths(
        certificate_key: Path, pems: tuple[str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "init", "--service-key", str(certificate_key), "--name",
                        "prod-cf", "--write-pem", "keys")
    assert code == 0
    crt, key = tmp_path / "keys" / "prod-cf.crt", tmp_path / "keys" / "prod-cf.key"
    assert (crt.read_text(encoding="utf-8"), key.read_text(encoding="utf-8")) == pems
    assert stat.S_IMODE(crt.stat().st_mode) == stat.S_IMODE(key.stat().st_mode) == 0o600
    exports = _exports(out)
    assert exports == {"CPI_PROD_CF_CERTIFICATE": str(crt), "CPI_PROD_CF_KEY": str(key)}
    loaded = _load("prod-cf", exports)
    assert (loaded.certificate, loaded.key, loaded.client_secret) == (crt, key, None)


def test_init_write_pem_refuses_to_overwrite_pems_without_force(
        certificate_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("keys").mkdir()
    Path("keys/prod-cf.key").write_text("mine", encoding="utf-8")
    code, _, err = _run(capsys, "init", "--service-key", str(certificate_key), "--name",
                        "prod-cf", "--write-pem", "keys")
    assert code == 2
    assert err == ("cpi-preflight init: keys/prod-cf.key already exists; pass --force to "
                   "overwrite it, or choose another --write-pem directory\n")
    assert not Path("profiles/prod-cf.yaml").exists()
    assert Path("keys/prod-cf.key").read_text(encoding="utf-8") == "mine"


# --- init --ca-bundle and the printed command ----------------------------------------------------

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_init_ca_bundle_below_this_folder_is_written_relative_to_the_profile(
        secret_key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("certs").mkdir()
    Path("certs/corp-ca.pem").write_text(CA_PEM, encoding="utf-8")
    code, _, err = _run(capsys, "init", "--service-key", str(secret_key), "--name", "prod-cf",
                        "--ca-bundle=certs/corp-ca.pem")
    assert (code, err) == (0, "")
    text = Path("profiles/prod-cf.yaml").read_text(encoding="utf-8")
    assert "\nca_bundle: ../certs/corp-ca.pem\n" in text
    assert "# ca_bundle:" not in text
    loaded = _load("prod-cf", {"CPI_PROD_CF_CLIENT_SECRET": SECRET})
    assert loaded.ca_bundle is not None
    assert loaded.ca_bundle.resolve() == tmp_path / "certs" / "corp-ca.pem"


def test_init_ca_bundle_outside_this_folder_is_written_absolute(
        secret_key: Path, tmp_path_factory: pytest.TempPathFactory,
        capsys: pytest.CaptureFixture[str]) -> None:
    ca = tmp_path_factory.mktemp("elsewhere") / "ca.pem"
    ca.write_text(CA_PEM, encoding="utf-8")
    code, _, _ = _run(capsys, "init", "--service-key", str(secret_key), "--name", "prod-cf",
                      "--ca-bundle", str(ca))
    assert code == 0
    data = yaml.safe_load(Path("profiles/prod-cf.yaml").read_text(encoding="utf-8"))
    assert data["ca_bundle"] == str(ca.resolve())


def test_init_without_ca_bundle_keeps_it_as_an_optional_comment(
        secret_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, "init", "--service-key", str(secret_key), "--name", "prod-cf")
    text = Path("profiles/prod-cf.yaml").read_text(encoding="utf-8")
    assert "ca_bundle" not in yaml.safe_load(text)
    assert "\n# ca_bundle: corporate-ca.pem " in text


@pytest.mark.parametrize(("content", "problem"), [
    (None, "no such file"),
    ("MIIB only base64", "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
])
def test_init_ca_bundle_errors(secret_key: Path, content: str | None, problem: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    if content is not None:
        Path("ca.pem").write_text(content, encoding="utf-8")
    err = _error(capsys, "init", "--service-key", str(secret_key), "--name", "x",
                 "--ca-bundle", "ca.pem")
    tail = (", converted to PEM if it is DER (openssl x509 -inform der -in CA.cer -out CA.pem)"
            if content else "")
    assert err == (f"cpi-preflight init: --ca-bundle ca.pem: {problem}; give the PEM file of "
                   f"the CA that signed the tenant's (or the proxy's) server certificate{tail}\n")


def test_init_ca_bundle_larger_than_the_limit_is_refused(
        secret_key: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(init_command, "CA_READ_LIMIT", 64)
    Path("ca.pem").write_text(CA_PEM * 3, encoding="utf-8")
    err = _error(capsys, "init", "--service-key", str(secret_key), "--name", "x",
                 "--ca-bundle", "ca.pem")
    assert err.startswith("cpi-preflight init: --ca-bundle ca.pem: is ")
    assert "KiB, more than the 0 KiB this file may have; give the PEM file" in err


def test_printed_command_uses_this_python_when_pytest_on_path_is_another(
        secret_key: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(init_command.shutil, "which", lambda _: "/elsewhere/bin/pytest")
    _, out, _ = _run(capsys, "init", "--service-key", str(secret_key), "--name", "prod-cf")
    assert out.splitlines()[-1] == f"{shlex.quote(sys.executable)} -m pytest --profile prod-cf"


def test_printed_command_is_plain_pytest_when_it_is_this_installations(
        secret_key: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    here = str(Path(sys.executable).parent / "pytest")
    monkeypatch.setattr(init_command.shutil, "which", lambda _: here)
    _, out, _ = _run(capsys, "init", "--service-key", str(secret_key), "--name", "prod-cf",
                     "--profiles-dir", "my tenants")
    assert out.splitlines()[-1] == "pytest --profile prod-cf '--profiles-dir=my tenants'"


# --- init for Neo ------------------------------------------------------------------------------

def test_init_neo_writes_a_profile_from_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, *NEO)
    assert (code, err) == (0, "")
    data = yaml.safe_load(Path("profiles/prod-neo.yaml").read_text(encoding="utf-8"))
    assert data["client_secret"] == "${CPI_PROD_NEO_CLIENT_SECRET}"
    assert "export CPI_PROD_NEO_CLIENT_SECRET='<client secret>'" in out.splitlines()
    loaded = _load("prod-neo", {"CPI_PROD_NEO_CLIENT_SECRET": "s3cret-value"})
    assert loaded.environment == "neo"
    assert loaded.required_roles == ("IntegrationOperationServer.read", "NodeManager.read")


def test_init_cf_without_a_service_key_takes_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "init", "--name", "dev", "--api-url", API_URL + "/api/v1/",
                        "--token-url", TOKEN_URL, "--client-id", CLIENT_ID)
    assert code == 0
    assert "export CPI_DEV_CLIENT_SECRET='<client secret>'" in out.splitlines()
    loaded = _load("dev", {"CPI_DEV_CLIENT_SECRET": "s3cret-value"})
    assert (loaded.environment, loaded.api_url) == ("cf", API_URL)


# --- init errors -------------------------------------------------------------------------------

def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = _run(capsys, *argv)
    assert (code, out) == (2, "")
    assert not Path("profiles").exists(), "nothing may be written on an error"
    return err


def test_missing_service_key_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert _error(capsys, "init", "--service-key", "nope.json", "--name", "x") == (
        "cpi-preflight init: --service-key nope.json: no such file; download the service key "
        "of the Process Integration Runtime instance (plan api) from the BTP cockpit and give "
        "its path\n")


def test_service_key_that_is_not_an_object(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = _write_json(tmp_path / "list.json", [1])
    assert _error(capsys, "init", "--service-key", str(key), "--name", "x") == (
        f"cpi-preflight init: {key.name}: a service key must be a JSON object like "
        '{"oauth": {"clientid": ..., "url": ..., "tokenurl": ...}}\n')


def test_service_key_without_client_id(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = _write_json(tmp_path / "partial.json", {"oauth": {"url": API_URL}})
    assert _error(capsys, "init", "--service-key", str(key), "--name", "x") == (
        f"cpi-preflight init: {key.name}: oauth.clientid: missing or empty (the key has: url); "
        "download the service key again from the BTP cockpit\n")


def test_service_key_that_is_not_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "broken.json"
    key.write_text("{", encoding="utf-8")
    assert _error(capsys, "init", "--service-key", str(key), "--name", "x") == (
        f"cpi-preflight init: {key.name}: invalid JSON at line 1, column 2: Expecting property "
        "name enclosed in double quotes; download the service key again from the BTP cockpit\n")


def test_unknown_role_is_named_and_nothing_is_written(
        secret_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(capsys, "init", "--service-key", str(secret_key), "--name", "x",
                 "--roles", "MonitorDataRead")
    assert err == ("cpi-preflight init: profiles/x.yaml: required_roles item 1: unknown CF role "
                   "template 'MonitorDataRead'; did you mean 'MonitoringDataRead'? (nothing was "
                   "written; correct --roles and run init again)\n")
    assert "Fake" not in err


def test_the_option_to_correct_is_named_for_an_absolute_profiles_dir(
        secret_key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the message shows the profile relative to the current folder; the option comes from the
    # error's key, not from the message (which once made this say "correct the options")
    err = _error(capsys, "init", "--service-key", str(secret_key), "--name", "x",
                 "--profiles-dir", str(tmp_path / "tenants"), "--endpoints", "Queues")
    assert err == ("cpi-preflight init: tenants/x.yaml: endpoints item 1: unknown endpoint "
                   "'Queues'; run `cpi-preflight catalog` (nothing was written; correct "
                   "--endpoints and run init again)\n")


def test_plain_http_api_url_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.replace("https://acc-tmn", "http://acc-tmn") for a in NEO]
    assert _error(capsys, *argv) == (
        "cpi-preflight init: profiles/prod-neo.yaml: api_url: "
        "'http://acc-tmn.hci.eu1.hana.ondemand.com' uses plain http://; secrets and tokens must "
        "travel over https:// (http is only allowed for loopback hosts) (nothing was written; "
        "correct --api-url or the key's url and run init again)\n")


@pytest.mark.parametrize(("argv", "message"), [
    (["--name", "x"], "without --service-key, give --api-url --token-url --client-id; or give "
                      "--service-key KEY.json instead"),
    (["--name", "x", "--environment", "neo", "--client-id", "c"],
     "without --service-key, give --api-url --token-url; Neo has no service key: take them "
     "from the Neo cockpit (Security > OAuth)"),
    (["--name", "a b"], "--name 'a b': use letters, digits, '.', '_' and '-', starting with a "
                        "letter or digit (it becomes profiles/NAME.yaml)"),
    (["--name", "all"], "--name all: 'all' is reserved (`pytest --profile all` runs every "
                        "profile); choose another name"),
])
def test_wrong_options(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _error(capsys, "init", *argv) == f"cpi-preflight init: {message}\n"


def test_service_key_for_neo_is_refused(
        secret_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _error(capsys, "init", "--service-key", str(secret_key), "--name", "x",
                  "--environment", "neo") == (
        "cpi-preflight init: --service-key: Neo has no service keys; give --api-url, "
        "--token-url and --client-id from the Neo cockpit (Security > OAuth)\n")


def test_service_key_and_connection_options_together_are_refused(
        secret_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _error(capsys, "init", "--service-key", str(secret_key), "--name", "x",
                  "--client-id", "c") == (
        "cpi-preflight init: --client-id: give either --service-key or "
        "--api-url/--token-url/--client-id, not both\n")


def test_write_pem_with_a_secret_key_is_refused(
        secret_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _error(capsys, "init", "--service-key", str(secret_key), "--name", "x",
                  "--write-pem", "keys") == (
        "cpi-preflight init: --write-pem: the key holds a client secret, not a certificate; "
        "drop --write-pem\n")
    assert not Path("keys").exists()


def test_argument_errors_exit_2_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "init")
    assert code == 2
    assert err.splitlines()[-1] == ("cpi-preflight init: error: the following arguments are "
                                    "required: --name")


def test_console_script_reports_errors_without_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cpi_preflight.cli", "init", "--service-key", "nope.json",
         "--name", "x"], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("cpi-preflight init: --service-key nope.json: no such file")
    assert "Traceback" not in done.stderr


# --- catalog and codes --------------------------------------------------------------------------

def test_catalog_text_on_a_wide_terminal_lists_endpoints_roles_and_sources_as_tables(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    code, out, _ = _run(capsys, "catalog")
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split("  ")[0] == "Endpoint"
    for name in catalog.load().endpoints:
        assert any(line.startswith(f"{name} ") for line in lines), name
    row = next(line for line in lines if line.startswith("MessageProcessingLogs "))
    assert row.split() == ["MessageProcessingLogs", "GET", "/MessageProcessingLogs?$top=1",
                           "MonitoringDataRead", "IntegrationOperationServer.read,",
                           "NodeManager.read", "documented", "SD-mpl"]
    assert any(line.startswith("MonitoringDataRead ") for line in lines)
    assert any(line.startswith("  SD-tasks ") for line in lines)


def test_catalog_text_narrower_than_its_tables_shows_one_block_per_endpoint_and_role(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    code, out, _ = _run(capsys, "catalog")
    assert code == 0
    lines = out.splitlines()
    assert lines[:8] == [
        "Endpoints (GET <api_url>/api/v1/...):",
        "MessageProcessingLogs",
        "  Request: GET /MessageProcessingLogs?$top=1",
        "  Cloud Foundry role template: MonitoringDataRead",
        "  Neo roles: IntegrationOperationServer.read,",
        "    NodeManager.read",
        "  Confidence: documented",
        "  Source: SD-mpl",
    ]
    for name in catalog.load().endpoints:
        assert name in lines, name
    partners = lines.index("Partners")
    assert lines[partners + 2:partners + 4] == [
        "  Cloud Foundry role template:", "    AuthGroup_TenantPartnerDirectoryConfigurator"]
    start = lines.index("AuthGroup_TenantPartnerDirectoryConfigurator")
    assert lines[start:start + 3] == ["AuthGroup_TenantPartnerDirectoryConfigurator",
                                      "  Proven by: Partners", "  Confidence: documented"]
    assert "  SD-mpl       SAP Help Portal, \"Message Processing Logs\"" in lines


@pytest.mark.parametrize("columns", [60, 80, 120])
@pytest.mark.parametrize("environment", [[], ["--environment", "cf"], ["--environment", "neo"]])
def test_catalog_text_fits_the_terminal_but_for_one_long_word_alone(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, columns: int,
        environment: list[str]) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    _, out, _ = _run(capsys, "catalog", *environment)
    too_wide = [line for line in out.splitlines() if len(line) > columns]
    assert [line for line in too_wide if len(line.split()) > 1] == []
    # only words of the sources (paths) longer than the line, each alone on its line
    words = {word for text in catalog.load().sources.values() for word in text.split()}
    assert {line.strip() for line in too_wide} <= words


def test_catalog_for_cf_has_no_neo_columns(capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    _, out, _ = _run(capsys, "catalog", "--environment", "cf")
    assert "Neo roles:" not in out
    assert out.splitlines()[1].split() == ["Endpoint", "Request", "Cloud", "Foundry", "role",
                                           "template", "Confidence", "Source"]
    monkeypatch.setenv("COLUMNS", "80")
    _, out, _ = _run(capsys, "catalog", "--environment", "cf")
    assert not any(line.startswith("  Neo roles:") for line in out.splitlines())
    assert "  Cloud Foundry role template: MonitoringDataRead" in out.splitlines()


def test_catalog_for_neo_leaves_out_templates_without_neo_roles(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    _, out, _ = _run(capsys, "catalog", "--environment", "neo")
    assert "Cloud Foundry role template" not in out
    assert "UserRolesEdit" not in out
    assert "Neo roles: IntegrationOperationServer.read, NodeManager.read," in out


def test_catalog_json(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _run(capsys, "catalog", "--format", "json")
    data: dict[str, Any] = json.loads(out)
    cat = catalog.load()
    assert [e["name"] for e in data["endpoints"]] == list(cat.endpoints)
    assert [r["name"] for r in data["roles"]] == list(cat.roles)
    first = data["endpoints"][0]
    assert (first["name"], first["role"], first["query"]) == (
        "MessageProcessingLogs", "MonitoringDataRead", {"$top": "1"})
    assert data["neo_roles"] == list(cat.neo_roles)
    assert data["sources"]["SD-mpl"] == cat.sources["SD-mpl"]


def test_catalog_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _run(capsys, "catalog", "--format", "markdown", "--environment", "cf")
    lines = out.splitlines()
    assert lines[:3] == ["## Endpoints", "",
                         "| Endpoint | Request | Cloud Foundry role template | Confidence | "
                         "Source |"]
    assert "## Role templates" in lines
    assert "## Neo roles" not in lines


def test_codes_text_gives_cause_and_fix_per_environment(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "codes")
    assert code == 0
    for name in catalog.load().codes:
        assert any(line.startswith(f"{name} (") for line in out.splitlines()), name
    lines = out.splitlines()
    assert "ROLE_MISSING (failure): Role not granted" in lines
    assert not re.search(r"\{[a-z_]+\}|\{\{", out)  # placeholders shown as <name>, JSON as is
    assert "Then send them back with <role> added, `grant-types` included;" in " ".join(
        out.split())
    assert ("        cf update-service <instance> -c "
            "'{\"roles\":<roles_after_json>,\"grant-types\":[\"<grant_type>\"]}'") in lines
    assert "        cf service <instance> --params" in lines
    neo = lines.index("ROLE_NOT_EFFECTIVE (failure): Refused although the token carries the role")
    assert lines[neo:].index("  fix on Neo:") + 1 == lines[neo:].index(
        "    Does not occur on Neo (Cloud Foundry only).")


# --- explain -----------------------------------------------------------------------------------


def test_explain_prints_one_code_for_both_environments(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = _run(capsys, "explain", "role_missing")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:3] == ["ROLE_MISSING (failure): Role not granted", "", "What it means:"]
    assert "Fix on Cloud Foundry:" in lines
    assert "Fix on Neo:" in lines
    command = ("      cf update-service <instance> -c "
               "'{\"roles\":<roles_after_json>,\"grant-types\":[\"<grant_type>\"]}'")
    assert command in lines
    assert "      cf service <instance> --params" in lines
    assert "Role collections do not apply" in " ".join(out.split())
    # prose fits; a command stands whole on its line, to be copied (the terminal folds it)
    # a URL of its sources too stands whole on its line
    assert [line for line in lines if len(line) > 80 and len(line.split()) > 1] == [command]
    assert "EXCESS_ROLES" not in out


@pytest.mark.parametrize(("argument", "message"), [
    ("ROLE_MISING", "cpi-preflight explain: no failure code 'ROLE_MISING'; did you mean "
                    "ROLE_MISSING? (list them with `cpi-preflight codes`)"),
    ("request-rejected", "cpi-preflight explain: no failure code 'request-rejected'; did you "
                         "mean REQUEST_REJECTED? (list them with `cpi-preflight codes`)"),
])
def test_explain_suggests_the_closest_code(capsys: pytest.CaptureFixture[str], argument: str,
                                           message: str) -> None:
    code, out, err = _run(capsys, "explain", argument)
    assert (code, out, err) == (2, "", message + "\n")


def test_explain_of_nothing_like_a_code_lists_the_codes(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "explain", "zzz")
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("cpi-preflight explain: no failure code 'zzz'; known codes: "
                          "HOST_UNREACHABLE, TLS_UNTRUSTED, ")
    assert all(name in err for name in catalog.load().codes)


def test_codes_markdown_is_the_readme_table(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _run(capsys, "codes", "--format", "markdown")
    assert out == docs.codes_table_markdown() + "\n"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--version")
    assert (code, out.strip()) == (0, f"cpi-preflight {__version__}")


# --- sandbox ------------------------------------------------------------------------------------

def test_sandbox_hands_its_arguments_to_the_sandbox_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str] | None] = []

    def fake_main(argv: list[str] | None = None, prog: str = "") -> int:
        seen.append(argv)
        assert prog == "cpi-preflight sandbox"
        return 7

    module = types.ModuleType(sandbox_command.SANDBOX_MODULE)
    module.main = fake_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, sandbox_command.SANDBOX_MODULE, module)
    assert cli.main(["sandbox", "--port", "8443", "--help"]) == 7
    assert seen == [["--port", "8443", "--help"]]


def test_sandbox_help_names_the_command_it_was_called_as(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "sandbox", "--help")
    assert code == 0
    assert out.startswith("usage: cpi-preflight sandbox [-h]")
    assert "--service-key FILE" in out


def test_init_ca_bundle_that_is_a_fifo_is_refused_not_waited_on(
        secret_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo("ca.pem")
    err = _error(capsys, "init", "--service-key", str(secret_key), "--name", "x",
                 "--ca-bundle", "ca.pem")
    assert err == ("cpi-preflight init: --ca-bundle ca.pem: is a FIFO (named pipe), not a "
                   "regular file; give the PEM file of the CA that signed the tenant's (or the "
                   "proxy's) server certificate\n")
