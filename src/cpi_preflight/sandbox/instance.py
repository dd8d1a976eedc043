"""`Sandbox`: one running simulated tenant (its hosts, keys, temporary files and request log)."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

from cpi_preflight.sandbox.api import ApiApp
from cpi_preflight.sandbox.behaviour import load_behaviour
from cpi_preflight.sandbox.connection import SandboxConnection, build_connection
from cpi_preflight.sandbox.faults import FaultState
from cpi_preflight.sandbox.identity import new_identity
from cpi_preflight.sandbox.material import TlsMaterial, create_material
from cpi_preflight.sandbox.neo import NeoOAuthApp
from cpi_preflight.sandbox.plain import FixedAnswerApp
from cpi_preflight.sandbox.proxy import ForwardProxy
from cpi_preflight.sandbox.recording import RecordedConnection, RecordedRequest, RequestLog
from cpi_preflight.sandbox.server import (
    JOIN_TIMEOUT,
    Acceptor,
    App,
    Hooks,
    HostServer,
    closed_port,
)
from cpi_preflight.sandbox.signing import TokenSigner
from cpi_preflight.sandbox.spec import SandboxSpec
from cpi_preflight.sandbox.tenant import Tenant
from cpi_preflight.sandbox.ui import UiApp
from cpi_preflight.sandbox.xsuaa import XsuaaApp


def _app(name: str, tenant: Tenant) -> App:
    answers = tenant.behaviour.plain_answers
    if name in ("xsuaa", "xsuaa_cert"):
        return XsuaaApp(tenant, mtls=name == "xsuaa_cert")
    if name == "neo_oauth":
        return NeoOAuthApp(tenant)
    if name == "runtime":
        return FixedAnswerApp(answers["runtime_forbidden"])
    if name == "integration_suite":
        return FixedAnswerApp(answers["login_required"])
    if name == "router":
        return FixedAnswerApp(tenant.behaviour.router["unknown_route"])
    return ApiApp(tenant) if name == "api" else UiApp()


class Sandbox:
    """A simulated CPI tenant over real HTTPS on 127.0.0.1; start with `Sandbox.start(spec)`."""

    def __init__(self, spec: SandboxSpec, tenant: Tenant, servers: list[HostServer],
                 directory: Path, stopping: threading.Event, log: RequestLog,
                 connection: SandboxConnection) -> None:
        self.spec = spec
        self.connection = connection
        self._tenant = tenant
        self._servers = servers
        self._directory = directory
        self._stopping = stopping
        self._log = log
        self._acceptor = Acceptor(servers, name="cpi-sandbox-acceptor")
        self._reserved: list[socket.socket] = []  # ports kept closed for the dead_host fault
        self._proxy: ForwardProxy | None = None
        self._stopped = False

    @classmethod
    def start(cls, spec: SandboxSpec) -> Sandbox:
        """Generate keys and certificates, bind ephemeral ports and serve in daemon threads."""
        directory = Path(tempfile.mkdtemp(prefix="cpi-sandbox-"))
        try:
            return cls._start_in(spec, directory)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise

    @classmethod
    def _start_in(cls, spec: SandboxSpec, directory: Path) -> Sandbox:
        identity = new_identity(spec)
        material = create_material(directory, spec, identity)
        stopping, log = threading.Event(), RequestLog()
        tenant = Tenant(spec, identity, load_behaviour(), FaultState(spec.faults, stopping),
                        TokenSigner.create() if spec.environment == "cf" else None,
                        material.accepted_client_cert)
        reserved: list[socket.socket] = []
        hooks = Hooks(log, stopping, spec.faults.latency_ms, spec.faults.clock_offset_s,
                      spec.faults.broken_http2)
        servers = _bind(tenant, material, hooks, reserved)
        proxy = _proxy(tenant, material, servers, log)
        connection = build_connection(tenant, str(material.ca_path), material.client,
                                      proxy.settings() if proxy else None)
        sandbox = cls(spec, tenant, servers, directory, stopping, log, connection)
        sandbox._reserved = reserved
        sandbox._proxy = proxy
        sandbox._acceptor.start()
        if proxy is not None:
            proxy.start()
        return sandbox

    @property
    def urls(self) -> dict[str, str]:
        """Base URL per simulated host ("xsuaa", "xsuaa_cert" or "neo_oauth", "api", "ui")."""
        return dict(self._tenant.urls)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far (a failed TLS handshake is no request)."""
        return self._log.snapshot()

    @property
    def connections(self) -> list[RecordedConnection]:
        """A snapshot of every connection accepted so far, with the protocol it spoke."""
        return self._log.connections()

    @property
    def issued_tokens(self) -> list[str]:
        """Every access token this sandbox issued (tests search outputs for them)."""
        return list(self._tenant.issued_tokens)

    def stop(self) -> None:
        """Close sockets, join threads and delete the temporary files; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        self._acceptor.stop()
        deadline = time.monotonic() + JOIN_TIMEOUT
        if self._proxy is not None:
            self._proxy.stop(deadline)
        for server in self._servers:
            server.close(deadline)
        for held in self._reserved:
            held.close()
        shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return f"<Sandbox {self.spec.environment} {state} api={self._tenant.urls.get('api')}>"


def _bind(tenant: Tenant, material: TlsMaterial, hooks: Hooks,
          reserved: list[socket.socket]) -> list[HostServer]:
    """Start listening for every live host; the dead one gets a port that is bound (so that no
    other server takes it while this sandbox runs) but never listens."""
    servers: list[HostServer] = []
    try:
        for name in tenant.hosts():
            if name == tenant.dead_host():
                reserved.append(closed_port())
                tenant.urls[name] = f"https://127.0.0.1:{reserved[-1].getsockname()[1]}"
                continue
            edge_api = name == "api" and tenant.spec.environment == "edge"
            context = material.server_context(require_client_cert=name == "xsuaa_cert",
                                              accept_client_cert=edge_api,
                                              http2=tenant.spec.offers_http2)
            server = HostServer(name, _app(name, tenant), context, hooks)
            servers.append(server)
            tenant.urls[name] = server.url
    except BaseException:
        for server in servers:
            server.server_close()
        for held in reserved:
            held.close()
        raise
    return servers


def _proxy(tenant: Tenant, material: TlsMaterial, servers: list[HostServer],
           log: RequestLog) -> ForwardProxy | None:
    """The forward proxy of the proxy fault, reaching only this sandbox's ports."""
    mode = tenant.spec.faults.proxy
    if mode == "none":
        return None
    return ForwardProxy(mode, tenant.behaviour.proxy_answers[mode],
                        {s.server_port for s in servers},
                        material.server_context(require_client_cert=False, http2=False), log,
                        material.impersonating_context)
