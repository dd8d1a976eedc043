"""The random names of one simulated tenant: zone, subdomain, xsappname, client id and secret."""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass

from cpi_preflight.sandbox.spec import SandboxSpec


@dataclass(frozen=True)
class TenantIdentity:
    """Who the simulated tenant and its API client are."""

    environment: str
    subdomain: str
    zone_id: str
    foreign_zone_id: str
    subaccount_id: str
    service_instance_id: str
    xsappname: str
    client_app: str
    client_id: str
    secret: str | None
    presented_secret: str | None
    grant_types: tuple[str, ...]


def new_secret() -> str:
    """A secret shaped like XSUAA's, holding '$', '+', '/' and '=' on purpose."""
    body = base64.b64encode(secrets.token_bytes(24)).decode()
    return f"{uuid.uuid4()}${body[:10]}+{body[10:20]}/{body[20:31]}="


def _cf_names(spec: SandboxSpec, subdomain: str) -> tuple[str, str, str]:
    n = secrets.randbelow(190000) + 10000
    xsappname = f"it!b{n}"
    client_app = f"it-rt-{subdomain}!b{n}" if spec.faults.integration_flow_plan else xsappname
    clone = secrets.randbelow(90000) + 10000
    return xsappname, client_app, f"sb-{uuid.uuid4()}!b{clone}|{client_app}"


def new_identity(spec: SandboxSpec) -> TenantIdentity:
    """Fresh names for one tenant, shaped by the spec's environment and faults."""
    subdomain = f"sandbox-{secrets.token_hex(4)}"
    if spec.environment != "neo":  # cf, and edge (its client is an it-rt service key's)
        xsappname, client_app, client_id = _cf_names(spec, subdomain)
    else:
        xsappname = client_app = "tmn"
        client_id = secrets.token_hex(16)
    secret = new_secret() if spec.credential == "secret" else None
    presented = new_secret() if secret is not None and spec.faults.wrong_secret else secret
    grants = spec.faults.instance_grant_types
    if grants is None:
        grants = () if spec.faults.grant_type_disabled else ("client_credentials",)
    return TenantIdentity(
        environment=spec.environment, subdomain=subdomain, zone_id=str(uuid.uuid4()),
        foreign_zone_id=str(uuid.uuid4()), subaccount_id=str(uuid.uuid4()),
        service_instance_id=str(uuid.uuid4()), xsappname=xsappname, client_app=client_app,
        client_id=client_id, secret=secret, presented_secret=presented, grant_types=grants,
    )
