"""`python -m cpi_preflight.sandbox`: JSON and human output, serving until SIGTERM/SIGINT."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cpi_preflight.sandbox import SandboxConnection
from cpi_preflight.sandbox.__main__ import build_parser, build_spec, main

from ..background import Background

SRC = Path(__file__).resolve().parents[2] / "src"
FIELDS = {"environment", "api_url", "token_url", "client_id", "client_secret",
          "certificate_path", "key_path", "ca_path", "service_key", "instance_parameters",
          "proxy_url", "proxy_user", "proxy_password"}


class Served(Background):
    """`python -m cpi_preflight.sandbox ARGS` from the source tree."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        super().__init__([sys.executable, "-m", "cpi_preflight.sandbox", *args], Path.cwd(), env)


@pytest.fixture
def served() -> Iterator[list[Served]]:
    running: list[Served] = []
    yield running
    for item in running:
        item.kill()


def test_json_lines_then_ready_then_sigterm(served: list[Served], make_client: Any) -> None:
    cli = Served("--json", "--count", "2", "--roles", "MonitoringDataRead")
    served.append(cli)
    lines = cli.until("ready")
    tenants = [json.loads(line) for line in lines[:-1]]
    assert len(tenants) == 2
    assert all(set(t) == FIELDS for t in tenants)
    assert tenants[0]["client_id"] != tenants[1]["client_id"]
    first = tenants[0]
    assert Path(first["ca_path"]).is_file()
    client = make_client(SandboxConnection(**first))
    assert client.api("/MessageProcessingLogs", client.token()).status_code == 200
    assert cli.stop(signal.SIGTERM) == 0
    assert not Path(first["ca_path"]).exists()


def test_human_output_then_sigint(served: list[Served]) -> None:
    cli = Served("--credential", "certificate", "--latency-ms", "1")
    served.append(cli)
    text = "\n".join(cli.until("Serving; press Ctrl-C to stop."))
    for expected in ("cpi-preflight sandbox 1 of 1 (cf)", "xsuaa_cert", "client id",
                     "certificate", "Profile (paste into profiles/<name>.yaml):",
                     "  environment: cf", "  ca_bundle: ", "curl --cacert", "--cert "):
        assert expected in text
    assert cli.stop(signal.SIGINT) == 0


def test_bad_flags_exit_2_with_the_spec_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--roles", "MonitorDataRead"]) == 2
    assert capsys.readouterr().err == (
        "error: command line: sandbox.roles[0]: unknown role template 'MonitorDataRead'; "
        "did you mean 'MonitoringDataRead'?\n")


def test_spec_file_may_be_a_profile_and_flags_win(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("environment: neo\nsandbox:\n  roles: [NodeManager.read]\n"
                    "  faults: {token_latency_ms: 5}\n")
    spec = build_spec(build_parser().parse_args(["--spec", str(path), "--latency-ms", "3"]))
    assert (spec.environment, spec.roles, spec.source) == ("neo", ("NodeManager.read",), str(path))
    assert (spec.faults.latency_ms, spec.faults.token_latency_ms) == (3, 5)


def test_spec_file_may_be_a_bare_mapping(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("roles: [WorkspacePackagesRead]\n")
    args = build_parser().parse_args(["--spec", str(path), "--environment", "neo",
                                 "--roles", "MonitoringDataRead"])
    spec = build_spec(args)
    assert (spec.environment, spec.roles) == ("neo", ("MonitoringDataRead",))


def test_text_output_prints_a_ready_service_key_and_the_init_line(served: list[Served]) -> None:
    cli = Served()
    served.append(cli)
    lines = cli.until("Serving; press Ctrl-C to stop.")
    ca = next(line.split()[1] for line in lines if line.startswith("  CA "))
    start = next(i for i, line in enumerate(lines) if line.startswith("Service key (save as "))
    assert lines[start] == (
        "Service key (save as sandbox-key.json, or start the sandbox with --service-key "
        "sandbox-key.json; then: cpi-preflight init --service-key sandbox-key.json --name "
        f"my-sandbox-cf --ca-bundle {ca}):")
    end = lines.index("", start)
    key = json.loads("\n".join(line[2:] for line in lines[start + 1:end]))
    assert set(key["oauth"]) == {"clientid", "clientsecret", "url", "tokenurl", "createdate"}
    assert key["cpi_preflight"] == {"simulated": "sandbox"}
    assert cli.stop(signal.SIGTERM) == 0


def test_service_key_file_is_written_private_and_read_by_init(
        served: list[Served], tmp_path: Path) -> None:
    from cpi_preflight.service_key import read_service_key

    path = tmp_path / "key.json"
    cli = Served("--service-key", str(path))
    served.append(cli)
    lines = cli.until("Serving; press Ctrl-C to stop.")
    assert f"Wrote the service key to {path} (mode 0600). Set up a profile from it:" in lines
    assert not any(line.startswith("Service key (save as") for line in lines)
    assert os.stat(path).st_mode & 0o777 == 0o600
    key = read_service_key(path)
    assert key.key_type == "secret"
    assert key.token_url.startswith("https://127.0.0.1:")
    assert key.api_url.startswith("https://127.0.0.1:")
    assert cli.stop(signal.SIGTERM) == 0


def test_service_key_of_a_certificate_tenant_holds_the_pems(
        served: list[Served], tmp_path: Path) -> None:
    from cpi_preflight.service_key import read_service_key

    path = tmp_path / "cert-key.json"
    cli = Served("--credential", "certificate", "--service-key", str(path))
    served.append(cli)
    cli.until("Serving; press Ctrl-C to stop.")
    key = read_service_key(path)
    assert key.key_type == "certificate"
    assert key.certificate is not None
    assert "BEGIN CERTIFICATE" in key.certificate.read_text(encoding="utf-8")
    assert cli.stop(signal.SIGTERM) == 0


@pytest.mark.parametrize(("argv", "message"), [
    (["--environment", "neo"], "--service-key: Neo has no service keys; drop --service-key (the "
                               "text output lists the URLs, client id and secret)"),
    (["--count", "2"], "--service-key: one file holds one tenant's key; drop --count 2 or "
                       "--service-key"),
])
def test_service_key_option_errors(argv: list[str], message: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--service-key", str(tmp_path / "k.json")]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"
    assert not (tmp_path / "k.json").exists()


def test_help_names_python_m_when_run_as_a_module(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert capsys.readouterr().out.startswith("usage: python -m cpi_preflight.sandbox [-h]")


@pytest.mark.parametrize("kind", ["symlink", "missing folder"])
def test_service_key_that_cannot_be_written_is_a_one_line_error(
        kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    path = tmp_path / "key.json"
    if kind == "symlink":
        path.symlink_to(victim)
        reason = "it is a symbolic link"
    else:
        path = tmp_path / "no" / "key.json"
        reason = "No such file or directory"
    assert main(["--service-key", str(path)]) == 2
    assert capsys.readouterr().err == (f"error: --service-key {path}: cannot write ({reason}); "
                                       "give a path in a writable folder\n")
    assert victim.read_text() == "keep me"


@pytest.mark.parametrize("count", ["0", "201", "5000"])
def test_count_outside_its_range_is_a_usage_error(count: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--count", count]) == 2
    assert capsys.readouterr().err == (f"error: --count {count}: serve 1 to 200 tenants at once; "
                                       "start several sandboxes for more\n")


# --- the key file: never over an existing file unless --force ----------------------------------

def test_an_existing_key_file_is_kept_before_any_tenant_starts(
        served: list[Served], tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text('{"oauth": {"clientsecret": "real&<>\\"\'$"}}')
    cli = Served("--service-key", str(path))  # a process: were it not refused, it would serve
    served.append(cli)
    assert cli.proc.wait(timeout=20) == 2
    assert cli.proc.stderr is not None
    assert cli.proc.stderr.read() == (
        f"error: --service-key {path}: the file already exists (it may be a real service key); "
        "pass --force to replace it, or give another file\n")
    assert path.read_text() == '{"oauth": {"clientsecret": "real&<>\\"\'$"}}'


def test_the_key_file_is_created_exclusively_and_replaced_only_with_force(
        tmp_path: Path) -> None:
    from cpi_preflight.sandbox import Sandbox, SandboxSpec
    from cpi_preflight.sandbox.__main__ import write_service_key

    path = tmp_path / "key.json"
    with Sandbox.start(SandboxSpec.from_mapping({}, environment="cf")) as sandbox:
        path.write_text("appeared meanwhile")
        with pytest.raises(FileExistsError):
            write_service_key(path, sandbox)
        assert path.read_text() == "appeared meanwhile"
        write_service_key(path, sandbox, force=True)
        assert json.loads(path.read_text())["oauth"]["clientid"] == sandbox.connection.client_id
        assert os.stat(path).st_mode & 0o777 == 0o600


def test_force_replaces_an_existing_key_file(served: list[Served], tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text("old")
    cli = Served("--service-key", str(path), "--force")
    served.append(cli)
    lines = cli.until("Serving; press Ctrl-C to stop.")
    assert f"Wrote the service key to {path} (mode 0600). Set up a profile from it:" in lines
    assert json.loads(path.read_text())["cpi_preflight"] == {"simulated": "sandbox"}
    assert cli.stop(signal.SIGTERM) == 0


# --- what the text output asks the user to paste -----------------------------------------------

def _block(text: str, heading: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(heading) + 1
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("  "))
    return lines[start:end]


@pytest.mark.parametrize("environment", ["cf", "neo"])
def test_the_profile_to_paste_holds_no_secret(environment: str) -> None:
    from cpi_preflight.sandbox import Sandbox, SandboxSpec
    from cpi_preflight.sandbox.describe import describe

    with Sandbox.start(SandboxSpec.from_mapping({}, environment=environment)) as sandbox:
        text = describe(sandbox, 1, 1)
        secret = sandbox.connection.client_secret
        assert secret
        pasted = _block(text, "Profile (paste into profiles/<name>.yaml):")
        assert not any(secret in line for line in pasted)
        assert "  client_secret: ${CPI_SANDBOX_CLIENT_SECRET}" in pasted
        assert "  simulated: sandbox" in pasted
        assert _block(text, "Its secret, read from the environment (set it in this shell):") == [
            f"  export CPI_SANDBOX_CLIENT_SECRET={shlex.quote(secret)}"]


def test_the_neo_sandbox_prints_its_init_lines() -> None:
    from cpi_preflight.sandbox import Sandbox, SandboxSpec
    from cpi_preflight.sandbox.describe import describe

    with Sandbox.start(SandboxSpec.from_mapping({}, environment="neo")) as sandbox:
        conn = sandbox.connection
        assert _block(describe(sandbox, 1, 1),
                      "Set up a profile for it (Neo has no service key):") == [
            f"  export CPI_MY_SANDBOX_NEO_CLIENT_SECRET={shlex.quote(conn.client_secret or '')}",
            f"  cpi-preflight init --environment neo --name my-sandbox-neo --api-url "
            f"{conn.api_url} --token-url {conn.token_url} --client-id {conn.client_id} "
            f"--ca-bundle {conn.ca_path} --simulated"]
