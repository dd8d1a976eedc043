"""A throwaway certificate authority, server and client certificates, and TLS contexts.

TLS keys are EC P-256 so that start-up stays fast; only the client key of the certificate key type
is RSA 2048, written as PKCS#1 PEM (label "RSA PRIVATE KEY") like SAP's generated service keys.
Certificates satisfy strict X.509 checking (key identifiers, critical constraints).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=365)  # like SAP-generated keys; no expiry warnings
_BACKDATE = datetime.timedelta(hours=1)
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class CertificateAuthority:
    """The sandbox's own CA: it signs every server and client certificate of one sandbox."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def pem(self) -> bytes:
        """The CA certificate as PEM, for clients' trust stores."""
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str, unit: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cpi-preflight sandbox"),
    ])


def _builder(subject: x509.Name, issuer: x509.Name, key: PrivateKey,
             shift: datetime.timedelta = datetime.timedelta(0),
             not_after: datetime.datetime | None = None) -> x509.CertificateBuilder:
    """A builder valid from an hour ago for a year, the whole window moved by `shift`; or, with
    `not_after`, valid until then (from a year before it, or from an hour ago if that is
    earlier)."""
    now = datetime.datetime.now(datetime.UTC) + shift
    end = not_after if not_after is not None else now + _VALIDITY
    start = min(now - _BACKDATE, end - _VALIDITY) if not_after is not None else now - _BACKDATE
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def new_ca() -> CertificateAuthority:
    """Create a fresh self-signed EC CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("cpi-preflight sandbox CA", "Throwaway test CA")
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )
    cert = (
        _builder(name, name, key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(key, cert)


def _leaf(ca: CertificateAuthority, subject: x509.Name, key: PrivateKey,
          purpose: x509.ObjectIdentifier, shift: datetime.timedelta = datetime.timedelta(0),
          not_after: datetime.datetime | None = None) -> x509.CertificateBuilder:
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key())
    return (
        _builder(subject, ca.cert.subject, key, shift, not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(aki, critical=False)
        .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
    )


def _subject_names(host: str | None) -> list[x509.GeneralName]:
    """127.0.0.1 and localhost, or the one `host` (a name or an IP address)."""
    if host is None:
        return [x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
    try:
        return [x509.IPAddress(ipaddress.ip_address(host))]
    except ValueError:
        return [x509.DNSName(host)]


def issue_server_cert(ca: CertificateAuthority, host: str | None = None,
                      not_after: datetime.datetime | None = None) -> tuple[bytes, bytes]:
    """A server certificate for 127.0.0.1 and localhost (or for `host` alone, as a TLS-inspecting
    proxy makes one for each host it is asked for), valid for a year or until `not_after`:
    (certificate PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName(_subject_names(host))
    cert = (
        _leaf(ca, _name(host or "localhost", "Simulated SAP hosts"), key,
              ExtendedKeyUsageOID.SERVER_AUTH, not_after=not_after)
        .add_extension(san, critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def new_rsa_key() -> rsa.RSAPrivateKey:
    """A fresh RSA 2048 key (JWT signing and the certificate key type's client key)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def rsa_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    """The key as SAP ships it: PKCS#1 PEM (the "RSA PRIVATE KEY" label)."""
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


EXPIRED_SINCE = datetime.timedelta(days=2)  # how long an expired client certificate is expired


def issue_client_cert(ca: CertificateAuthority, key: rsa.RSAPrivateKey,
                      common_name: str, *, expired: bool = False,
                      not_after: datetime.datetime | None = None) -> x509.Certificate:
    """A client certificate for mTLS at the certificate token endpoint; `expired`: its year of
    validity ended EXPIRED_SINCE ago; `not_after`: valid until then."""
    subject = _name(common_name, "SAP Cloud Platform Clients")
    shift = -(_VALIDITY + EXPIRED_SINCE) if expired else datetime.timedelta(0)
    builder = _leaf(ca, subject, key, ExtendedKeyUsageOID.CLIENT_AUTH, shift, not_after)
    return builder.sign(ca.key, hashes.SHA256())


def cert_pem(cert: x509.Certificate) -> bytes:
    """PEM encoding of one certificate."""
    return cert.public_bytes(serialization.Encoding.PEM)


def cert_der(cert: x509.Certificate) -> bytes:
    """DER encoding of one certificate (what the TLS layer reports for the peer)."""
    return cert.public_bytes(serialization.Encoding.DER)


def server_context(cert_file: Path, key_file: Path | None, client_ca: Path | None, *,
                   optional: bool = False, http2: bool = False) -> ssl.SSLContext:
    """A server TLS context; with `client_ca` it requires a client certificate signed by it
    (`optional`: asks for one and verifies it, but also serves clients that send none); with
    `http2` it offers h2 (and http/1.1) through ALPN, else it offers no ALPN at all."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if http2:
        context.set_alpn_protocols(["h2", "http/1.1"])
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.num_tickets = 0  # no unsolicited TLS 1.3 tickets: a reset reaches the client as RST
    context.load_cert_chain(cert_file, key_file)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_OPTIONAL if optional else ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=str(client_ca))
    return context

