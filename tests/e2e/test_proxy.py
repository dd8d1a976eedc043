"""HTTPS_PROXY is honoured: a CONNECT proxy on loopback sees the tunnels to token and API host."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cpi_preflight.run import Run, Settings
from cpi_preflight.sandbox import Sandbox, SandboxSpec


class ConnectProxy:
    """A minimal HTTP CONNECT proxy in a thread; remembers which targets were tunnelled."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.targets: list[str] = []
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        target = head.split(b" ")[1].decode()
        self.targets.append(target)
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        for one, other in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(one, other), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    running = ConnectProxy()
    yield running
    running.close()


def test_requests_go_through_the_proxy(proxy: ConnectProxy, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    spec = SandboxSpec.from_mapping({"roles": ["MonitoringDataRead"]}, environment="cf")
    with Sandbox.start(spec) as sandbox:
        conn = sandbox.connection
        body = {"environment": "cf", "api_url": conn.api_url, "token_url": conn.token_url,
                "client_id": conn.client_id, "client_secret": conn.client_secret,
                "ca_bundle": conn.ca_path, "required_roles": ["MonitoringDataRead"]}
        (tmp_path / "p.yaml").write_text(yaml.safe_dump(body))
        run = Run.load(["p"], Settings(tmp_path, tmp_path / "reports"))
        run.execute()
        urls = sandbox.urls
    assert run.verdicts["p"]["token"].outcome == "passed"
    assert run.verdicts["p"]["role[MonitoringDataRead]"].outcome == "passed"
    tunnelled = set(proxy.targets)
    assert urls["xsuaa"].removeprefix("https://") in tunnelled
    assert urls["api"].removeprefix("https://") in tunnelled
    doc = run.document("p", {"HTTPS_PROXY": proxy.url}).record
    assert doc["run"]["proxy"] == f"HTTPS_PROXY={proxy.url}"


def test_a_proxy_password_never_shows_whatever_it_holds(proxy: ConnectProxy,
                                                        tmp_path: Path) -> None:
    import json
    import os

    from .conftest import run_pytest

    password = "Pa@ss%2Fw0rd&<>$'"  # '@' as is, '/' percent-encoded (as a URL needs it)
    value = proxy.url.replace("http://", f"http://corp-user:{password}@")
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "p.yaml").write_text(yaml.safe_dump({
        "environment": "cf", "required_roles": ["MonitoringDataRead"],
        "sandbox": {"roles": ["MonitoringDataRead"]}}))
    env = {k: v for k, v in os.environ.items()
           if k.upper() not in ("NO_PROXY", "HTTP_PROXY", "ALL_PROXY", "HTTPS_PROXY")}
    outcome = run_pytest(tmp_path, "--profile", "p", profiles_dir=profiles,
                         env={**env, "HTTPS_PROXY": value})
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    shown = proxy.url.replace("http://", "http://***@")
    assert f"cpi-preflight: network: HTTPS_PROXY={shown};" in outcome.stdout
    evidence = json.loads((outcome.reports / "p" / "evidence.json").read_text())
    assert evidence["run"]["proxy"] == f"HTTPS_PROXY={shown}"
    written = outcome.stdout + outcome.stderr + "".join(
        f.read_text(errors="replace") for f in outcome.reports.rglob("*") if f.is_file())
    for part in ("Pa@ss", "w0rd", "corp-user"):
        assert part not in written
    assert proxy.targets  # the tunnels went through it
