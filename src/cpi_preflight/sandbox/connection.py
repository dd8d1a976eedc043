"""`SandboxConnection`: what a user would copy into a profile to reach the simulated tenant."""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass, field
from typing import Any

from cpi_preflight.sandbox.tenant import Tenant


@dataclass(frozen=True)
class ClientCertificate:
    """The certificate key type's material as handed out: files plus the service-key fields."""

    certificate_path: str
    key_path: str
    chain_pem: str
    key_pem: str
    details: dict[str, str]


@dataclass(frozen=True)
class SandboxConnection:
    """The connection settings of a running sandbox, shaped like a real service key's content."""

    environment: str
    api_url: str
    token_url: str
    client_id: str
    client_secret: str | None
    certificate_path: str | None
    key_path: str | None
    ca_path: str
    service_key: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready mapping."""
        return asdict(self)


def _api_url(tenant: Tenant) -> str:
    target = tenant.spec.faults.api_url
    if target == "xsuaa":
        return tenant.urls[tenant.token_host]
    return tenant.urls[target]


def _token_url(tenant: Tenant) -> str:
    target = tenant.spec.faults.token_url
    host = tenant.token_host if target == "token" else target
    return tenant.urls[host] + tenant.token_path


def _service_key(tenant: Tenant, api_url: str, token_url: str,
                 cert: ClientCertificate | None) -> dict[str, Any]:
    if tenant.spec.environment == "neo":
        return {}
    oauth: dict[str, Any] = {"clientid": tenant.identity.client_id}
    if cert is None:
        oauth["clientsecret"] = tenant.identity.presented_secret
    else:
        oauth.update(certificate=cert.chain_pem, key=cert.key_pem,
                     certificatedetails=dict(cert.details))
    created = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
    oauth.update(url=api_url, tokenurl=token_url, createdate=created.replace("+00:00", "Z"))
    # the marker `cpi-preflight init` copies into the profile (`simulated: sandbox`): this
    # tenant is simulated, and its reports are no evidence for a real one
    return {"oauth": oauth, "cpi_preflight": {"simulated": "sandbox"}}


def build_connection(tenant: Tenant, ca_path: str,
                     cert: ClientCertificate | None) -> SandboxConnection:
    """The connection a user of this tenant would be given (faults included)."""
    api_url, token_url = _api_url(tenant), _token_url(tenant)
    return SandboxConnection(
        environment=tenant.spec.environment, api_url=api_url, token_url=token_url,
        client_id=tenant.identity.client_id, client_secret=tenant.identity.presented_secret,
        certificate_path=cert.certificate_path if cert else None,
        key_path=cert.key_path if cert else None, ca_path=ca_path,
        service_key=_service_key(tenant, api_url, token_url, cert),
    )
