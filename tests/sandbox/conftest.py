"""Fixtures for the sandbox's own tests: real sockets, real TLS, httpx clients trusting its CA."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from cpi_preflight.sandbox import Sandbox, SandboxConnection, SandboxSpec

JSON = {"Accept": "application/json"}

Launch = Callable[..., Sandbox]


class TenantClient:
    """An httpx client for one sandbox, plus the few calls most tests make."""

    def __init__(self, target: Sandbox | SandboxConnection, *, client_cert: bool = False) -> None:
        self.conn = target.connection if isinstance(target, Sandbox) else target
        context = ssl.create_default_context(cafile=self.conn.ca_path)
        if client_cert and self.conn.certificate_path and self.conn.key_path:
            context.load_cert_chain(self.conn.certificate_path, self.conn.key_path)
        self.http = httpx.Client(verify=context, timeout=10)

    def token_response(self, **kwargs: Any) -> httpx.Response:
        """POST the client-credentials request the way most clients do (Basic + form grant)."""
        url = kwargs.pop("url", self.conn.token_url)
        if self.conn.environment == "neo":
            return self.http.post(url, params={"grant_type": "client_credentials"},
                                  auth=(self.conn.client_id, self.conn.client_secret or ""))
        if self.conn.client_secret is None:
            data = {"grant_type": "client_credentials", "client_id": self.conn.client_id}
            return self.http.post(url, data=data)
        return self.http.post(url, data={"grant_type": "client_credentials"},
                              auth=(self.conn.client_id, self.conn.client_secret))

    def token(self) -> str:
        """A fresh access token (fails the test if the token endpoint refuses)."""
        response = self.token_response()
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def api(self, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        """GET `<api_url>/api/v1<path>` with a bearer token (JSON unless headers say otherwise)."""
        headers = dict(kwargs.pop("headers", JSON))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        method = kwargs.pop("method", "GET")
        return self.http.request(method, f"{self.conn.api_url}/api/v1{path}", headers=headers,
                                 **kwargs)

    def close(self) -> None:
        """Close the pooled connections."""
        self.http.close()


def start(mapping: dict[str, Any] | None = None, environment: str = "cf") -> Sandbox:
    """Start a sandbox for a spec mapping."""
    return Sandbox.start(SandboxSpec.from_mapping(mapping, environment=environment,
                                                  source="test"))


def _sandboxes() -> Iterator[Launch]:
    started: list[Sandbox] = []

    def _launch(mapping: dict[str, Any] | None = None, environment: str = "cf") -> Sandbox:
        sandbox = start(mapping, environment)
        started.append(sandbox)
        return sandbox

    yield _launch
    for sandbox in started:
        sandbox.stop()


@pytest.fixture(scope="module")
def launch() -> Iterator[Launch]:
    """Start sandboxes that live until the end of the test module."""
    yield from _sandboxes()


@pytest.fixture
def fresh() -> Iterator[Launch]:
    """Start sandboxes that live for one test (for faults that count requests)."""
    yield from _sandboxes()


@pytest.fixture
def make_client() -> Iterator[Callable[..., TenantClient]]:
    """Build `TenantClient`s that are closed at the end of the test."""
    clients: list[TenantClient] = []

    def _make(target: Sandbox | SandboxConnection, *, client_cert: bool = False) -> TenantClient:
        client = TenantClient(target, client_cert=client_cert)
        clients.append(client)
        return client

    yield _make
    for client in clients:
        client.close()


@pytest.fixture(scope="module")
def connect() -> Iterator[Callable[..., TenantClient]]:
    """Build `TenantClient`s that are closed at the end of the module."""
    clients: list[TenantClient] = []

    def _connect(sandbox: Sandbox, *, client_cert: bool = False) -> TenantClient:
        client = TenantClient(sandbox, client_cert=client_cert)
        clients.append(client)
        return client

    yield _connect
    for client in clients:
        client.close()
