"""`SandboxConnection`: what a user would copy into a profile to reach the simulated tenant."""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass, field
from typing import Any

from cpi_preflight.sandbox.tenant import WRONG_API_HOSTS, Tenant


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
    # What `cf service <instance> --params` (or the cockpit's View Parameters) shows: roles,
    # grant-types, redirect-uris of the instance (cf and edge; empty on neo).
    instance_parameters: dict[str, Any] = field(default_factory=dict)
    # faults.proxy: the forward proxy to use (HTTPS_PROXY), and the credentials it wants
    proxy_url: str | None = None
    proxy_user: str | None = None
    proxy_password: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready mapping."""
        return asdict(self)


def _api_url(tenant: Tenant) -> str:
    target = tenant.spec.faults.api_url
    if target == "xsuaa":
        return tenant.urls[tenant.token_host]
    return tenant.urls[WRONG_API_HOSTS.get(target, target)]


def _token_url(tenant: Tenant) -> str:
    """The key's tokenurl ("" on edge, which has no token endpoint)."""
    if not tenant.token_host:
        return ""
    target = tenant.spec.faults.token_url
    host = {"token": tenant.token_host, "plain_authentication": "xsuaa"}.get(target, target)
    return tenant.urls[host] + tenant.token_path


def _instance_parameters(tenant: Tenant) -> dict[str, Any]:
    if tenant.spec.environment == "neo":
        return {}
    return {"roles": list(tenant.spec.roles), "grant-types": list(tenant.identity.grant_types),
            "redirect-uris": []}


def _service_key(tenant: Tenant, api_url: str, token_url: str,
                 cert: ClientCertificate | None) -> dict[str, Any]:
    if tenant.spec.environment != "cf":  # Neo has none; edge: the virtual host is not in a key
        return {}
    oauth: dict[str, Any] = {"clientid": tenant.identity.client_id}
    if cert is None:
        oauth["clientsecret"] = tenant.identity.presented_secret
    else:
        oauth.update(certificate=cert.chain_pem, key=cert.key_pem,
                     certificatedetails=dict(cert.details))
    created = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
    oauth.update(url=api_url, tokenurl=token_url, createdate=created.replace("+00:00", "Z"))
    if tenant.spec.faults.token_url == "plain_authentication":  # reading B of a cert key
        oauth["certurl"] = tenant.urls["xsuaa_cert"]
    # the marker `cpi-preflight init` copies into the profile (`simulated: sandbox`): this
    # tenant is simulated, and its reports are no evidence for a real one
    return {"oauth": oauth, "cpi_preflight": {"simulated": "sandbox"}}


def build_connection(tenant: Tenant, ca_path: str, cert: ClientCertificate | None,
                     proxy: tuple[str, str | None, str | None] | None = None
                     ) -> SandboxConnection:
    """The connection a user of this tenant would be given (faults included); `proxy` is the
    forward proxy's URL, user and password when the proxy fault is on."""
    api_url, token_url = _api_url(tenant), _token_url(tenant)
    proxy_url, proxy_user, proxy_password = proxy or (None, None, None)
    return SandboxConnection(
        environment=tenant.spec.environment, api_url=api_url, token_url=token_url,
        client_id=tenant.identity.client_id, client_secret=tenant.identity.presented_secret,
        certificate_path=cert.certificate_path if cert else None,
        key_path=cert.key_path if cert else None, ca_path=ca_path,
        service_key=_service_key(tenant, api_url, token_url, cert),
        instance_parameters=_instance_parameters(tenant), proxy_url=proxy_url,
        proxy_user=proxy_user, proxy_password=proxy_password,
    )
