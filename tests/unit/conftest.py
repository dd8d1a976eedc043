"""Builders shared by the unit tests: profiles, signed tokens, PEM files, a mocked tenant."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import respx
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from cpi_preflight import profile as profile_module
from cpi_preflight.profile import Profile

CLIENT_ID = "sb-123456789!b1|it!b182722"
MASKED_CLIENT = CLIENT_ID  # shown in full: a client id is not a secret
CLIENT_SECRET = "Ab$c=d+e/f=="
APP = "it!b182722"
API_URL = "https://tenant.example.com"
API_ROOT = f"{API_URL}/api/v1"
TOKEN_HOST = "sub.authentication.example.com"
TOKEN_URL = f"https://{TOKEN_HOST}/oauth/token"
JWKS_URL = f"https://{TOKEN_HOST}/token_keys"
NEO_TOKEN_URL = "https://oauthasservices-acct.hana.ondemand.com/oauth2/api/v1/token"
NEO_API_URL = "https://acct-tmn.hci.eu1.hana.ondemand.com"
NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# A MonitoringDataRead token: SAP's table gives the template Roles.Read too ("View user roles").
MONITORING_SCOPES = (f"{APP}.IntegrationOperationServer.read", f"{APP}.NodeManager.read",
                     f"{APP}.Roles.Read")


# --- profiles ----------------------------------------------------------------------------


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` applied; an override of None removes the key."""
    merged = {**base, **overrides}
    return {k: v for k, v in merged.items() if v is not None}


def cf_data(**overrides: Any) -> dict[str, Any]:
    """A valid Cloud Foundry profile mapping (client secret), with `overrides`."""
    base = {"environment": "cf", "api_url": API_URL, "token_url": TOKEN_URL,
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "required_roles": ["MonitoringDataRead"], "attempts": 1}
    return _merge(base, overrides)


def neo_data(**overrides: Any) -> dict[str, Any]:
    """A valid Neo profile mapping, with `overrides`."""
    base = {"environment": "neo", "api_url": NEO_API_URL, "token_url": NEO_TOKEN_URL,
            "client_id": "0123456789abcdef0123", "client_secret": CLIENT_SECRET,
            "required_roles": ["IntegrationOperationServer.read"], "attempts": 1}
    return _merge(base, overrides)


def parse(data: object, *, name: str = "t", path: Path = Path("profiles/t.yaml"),
          environ: dict[str, str] | None = None) -> Profile:
    """`profile.parse` with an empty environment unless given."""
    return profile_module.parse(name, path, data, environ or {})


def write_yaml(directory: Path, name: str, data: object) -> Path:
    """Write `data` as `directory/name.yaml`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`tmp_path` as the current folder, so profile errors name `profiles/<name>.yaml`."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- PEM material ------------------------------------------------------------------------


@dataclass(frozen=True)
class PemPair:
    certificate: str
    key: str

    def write(self, directory: Path, stem: str = "client") -> tuple[Path, Path]:
        cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert.write_text(self.certificate, encoding="utf-8")
        key.write_text(self.key, encoding="utf-8")
        return cert, key


def make_pem_pair(common_name: str = "cpi-preflight test client",
                  valid_for: timedelta = timedelta(days=365)) -> PemPair:
    """A real self-signed certificate and its private key, as PEM text."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = datetime.now(UTC) - timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + valid_for)
            .sign(key, hashes.SHA256()))
    return PemPair(
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()).decode(),
    )


@pytest.fixture(scope="session")
def pem_pair() -> PemPair:
    return make_pem_pair()


# --- tokens ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    """An RS256 signing key with a key id, and the JWKS that publishes it."""

    key: rsa.RSAPrivateKey
    kid: str = "k1"

    def jwks(self) -> dict[str, Any]:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def token(self, *, kid: str | None = None, **claims: Any) -> str:
        return jwt.encode(claims, self.key, "RS256", headers={"kid": kid or self.kid})


def cf_claims(*scopes: str, now: datetime = NOW, **extra: Any) -> dict[str, Any]:
    """Claims of an XSUAA client-credentials token issued at `now` for an hour."""
    issued = int(now.timestamp())
    claims = {"iss": TOKEN_URL, "zid": "zone-1", "cid": CLIENT_ID, "client_id": CLIENT_ID,
              "grant_type": "client_credentials", "iat": issued, "exp": issued + 3600,
              "scope": [*scopes, "uaa.resource"], "aud": [APP, "uaa"],
              "ext_attr": {"enhancer": "XSUAA", "subaccountid": "sub-1"}}
    return {**claims, **extra}


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="session")
def other_signer() -> Signer:
    return Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def xsuaa_fixture(name: str) -> Path:
    return FIXTURES / "xsuaa" / name


# --- a mocked tenant ---------------------------------------------------------------------


def odata_error(value: str, code: str = "Forbidden") -> dict[str, Any]:
    return {"error": {"code": code, "message": {"lang": "en", "value": value}}}


ODATA_OK = {"d": {"results": []}}


@dataclass
class Tenant:
    """respx routes for one token endpoint, its token_keys, and API entity sets."""

    router: respx.MockRouter
    api_root: str = API_ROOT
    token_url: str = TOKEN_URL
    jwks_url: str = JWKS_URL
    calls: dict[str, respx.Route] = field(default_factory=dict)

    def token(self, *args: Any, **kwargs: Any) -> respx.Route:
        route = self.router.post(url__startswith=self.token_url)
        self.calls["token"] = route
        return route.respond(*args, **kwargs) if (args or kwargs) else route

    def keys(self, jwks: Any, status: int = 200) -> respx.Route:
        route = self.router.get(self.jwks_url).respond(status, json=jwks)
        self.calls["jwks"] = route
        return route

    def api(self, path: str, *args: Any, **kwargs: Any) -> respx.Route:
        pattern = "^" + re.escape(self.api_root + path) + r"(\?.*)?$"
        route = self.router.route(method="GET", url__regex=pattern)
        self.calls[path] = route
        return route.respond(*args, **kwargs) if (args or kwargs) else route


@pytest.fixture
def tenant() -> Iterator[Tenant]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        yield Tenant(router)
