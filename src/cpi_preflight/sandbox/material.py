"""Writes one sandbox's TLS material into its temporary directory and builds its TLS contexts."""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cpi_preflight.sandbox import tls
from cpi_preflight.sandbox.connection import ClientCertificate
from cpi_preflight.sandbox.identity import TenantIdentity
from cpi_preflight.sandbox.spec import SandboxSpec


@dataclass(frozen=True)
class TlsMaterial:
    """Paths of the CA and server files, plus the client certificate of the certificate key."""

    ca_path: Path
    server_cert: Path
    server_key: Path
    client: ClientCertificate | None
    accepted_client_cert: bytes | None
    ca: tls.CertificateAuthority

    def server_context(self, *, require_client_cert: bool, http2: bool,
                       accept_client_cert: bool = False) -> ssl.SSLContext:
        """A server context; the mTLS host requires a client certificate from the sandbox CA,
        the Edge Integration Cell's host accepts one (or Basic credentials instead); `http2`
        offers HTTP/2 through ALPN."""
        client_ca = self.ca_path if require_client_cert or accept_client_cert else None
        return tls.server_context(self.server_cert, self.server_key, client_ca,
                                  optional=accept_client_cert and not require_client_cert,
                                  http2=http2)

    def impersonating_context(self, host: str) -> ssl.SSLContext:
        """A server context whose certificate names `host`, signed by the sandbox's CA: what a
        TLS-inspecting proxy presents for every host it is asked for (signed by the company CA
        its clients trust). Key and certificate go into one new file beside the others."""
        cert_pem, key_pem = tls.issue_server_cert(self.ca, host)
        fd, name = tempfile.mkstemp(prefix="impersonated-", suffix=".pem",
                                    dir=self.ca_path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key_pem + cert_pem)
        return tls.server_context(Path(name), None, None)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def _client(directory: Path, ca: tls.CertificateAuthority, spec: SandboxSpec,
            identity: TenantIdentity) -> tuple[ClientCertificate, bytes]:
    key = tls.new_rsa_key()
    expired = spec.faults.client_cert_expired
    accepted = tls.issue_client_cert(ca, key, identity.client_id, expired=expired)
    # wrong_secret on a certificate key: hand out a certificate the token endpoint never issued
    handed = tls.issue_client_cert(ca, key, identity.client_id, expired=expired) \
        if spec.faults.wrong_secret else accepted
    chain = (tls.cert_pem(handed) + ca.pem()).decode()
    key_pem = tls.rsa_key_pem(key).decode()
    details = {
        "issuerdn": handed.issuer.rfc4514_string(),
        "subjectdn": handed.subject.rfc4514_string(),
        "serialnumber": format(handed.serial_number, "x"),
        "validuntil": handed.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }
    cert = ClientCertificate(
        certificate_path=str(_write(directory / "client-cert.pem", chain.encode())),
        key_path=str(_write(directory / "client-key.pem", key_pem.encode())),
        chain_pem=chain, key_pem=key_pem, details=details,
    )
    return cert, tls.cert_der(accepted)


def create_material(directory: Path, spec: SandboxSpec, identity: TenantIdentity) -> TlsMaterial:
    """Generate the CA, the server certificate and (certificate key type) the client certificate."""
    ca = tls.new_ca()
    cert_pem, key_pem = tls.issue_server_cert(ca)
    client, accepted = (None, None)
    if spec.credential == "certificate":
        client, accepted = _client(directory, ca, spec, identity)
    return TlsMaterial(
        ca_path=_write(directory / "ca.pem", ca.pem()),
        server_cert=_write(directory / "server-cert.pem", cert_pem),
        server_key=_write(directory / "server-key.pem", key_pem),
        client=client, accepted_client_cert=accepted, ca=ca,
    )
