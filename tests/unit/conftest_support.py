"""Builders shared by the unit tests: a profile on disk, a signed XSUAA-like token, a run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from cpi_preflight.findings import Verdict
from cpi_preflight.run import Run, Settings

TOKEN_URL = "https://sub.authentication.eu10.hana.ondemand.com/oauth/token"
JWKS_URL = "https://sub.authentication.eu10.hana.ondemand.com/token_keys"
API = "https://sub.it-cpi018.cfapps.eu10.hana.ondemand.com"
CLIENT_ID = "sb-1234abcd!b100|it!b182722"
SECRET = "Ab$c=d+e/fSECRET=="
APP = "it!b182722"

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks(kid: str = "key-1") -> dict[str, Any]:
    public = jwt.algorithms.RSAAlgorithm.to_jwk(_KEY.public_key(), as_dict=True)
    return {"keys": [{**public, "kid": kid, "alg": "RS256", "use": "sig"}]}


def signed_token(scopes: list[str], *, kid: str = "key-1", expires_in: int = 3600,
                 client_id: str = CLIENT_ID, **claims: Any) -> str:
    now = int(time.time())
    body = {"scope": scopes, "iat": now, "exp": now + expires_in, "zid": "zone-1",
            "iss": TOKEN_URL, "cid": client_id, "client_id": client_id,
            "grant_type": "client_credentials", "aud": [client_id, APP], **claims}
    return jwt.encode(body, _KEY, "RS256", headers={"kid": kid, "jku": JWKS_URL})


def scopes_of(*permissions: str) -> list[str]:
    return [f"{APP}.{p}" for p in permissions] + ["uaa.resource"]


def write_profile(folder: Path, name: str = "t", **overrides: Any) -> Path:
    body: dict[str, Any] = {"environment": "cf", "api_url": API, "token_url": TOKEN_URL,
                            "client_id": CLIENT_ID, "client_secret": SECRET, "attempts": 1,
                            "required_roles": ["MonitoringDataRead"],
                            "endpoints": ["MessageProcessingLogs"]}
    body.update(overrides)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(body))
    return folder


def run_profile(folder: Path, name: str = "t") -> dict[str, Verdict]:
    run = Run.load([name], Settings(folder, folder / "reports"))
    run.execute()
    return run.verdicts[name]
