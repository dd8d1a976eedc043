"""HTTP plumbing over TLS: framing, keep-alive, malformed bodies, the Server header, the CA."""

from __future__ import annotations

import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography import x509

from cpi_preflight.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox(launch: Any) -> Sandbox:
    started: Sandbox = launch(None)
    return started


def exchange(sandbox: Sandbox, host: str, raw_request: bytes) -> bytes:
    """Send bytes over TLS to one host and read until the server closes."""
    parts = urlsplit(sandbox.urls[host])
    context = ssl.create_default_context(cafile=sandbox.connection.ca_path)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(raw_request)
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.parametrize("headers", [b"Transfer-Encoding: chunked\r\n",
                                     b"Content-Length: many\r\n",
                                     b"Content-Length: 99999999\r\n"])
def test_unusable_body_length_is_400_and_closes(sandbox: Sandbox, headers: bytes) -> None:
    answer = exchange(sandbox, "xsuaa", b"POST /oauth/token HTTP/1.1\r\nHost: x\r\n" + headers
                      + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"Connection: close" in answer


def test_http_1_0_gets_an_answer_and_a_close(sandbox: Sandbox) -> None:
    answer = exchange(sandbox, "api", b"GET /api/v1/ HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 401 ")  # a 1.1 server may answer 1.0 this way
    assert b"Content-Length: " in answer


def test_server_header_hides_python(sandbox: Sandbox) -> None:
    with httpx.Client(verify=ssl.create_default_context(cafile=sandbox.connection.ca_path)) as http:
        response = http.get(sandbox.urls["ui"] + "/login")
    assert response.headers["server"] == "cpi-preflight-sandbox"


def test_server_certificate_names_localhost_and_127_0_0_1(sandbox: Sandbox) -> None:
    port = urlsplit(sandbox.urls["api"]).port
    assert port is not None
    pem = ssl.get_server_certificate(("127.0.0.1", port))
    names = x509.load_pem_x509_certificate(pem.encode()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_untrusting_client_fails_verification(sandbox: Sandbox) -> None:
    with httpx.Client() as http, pytest.raises(httpx.ConnectError):
        http.get(sandbox.urls["api"] + "/api/v1/")
