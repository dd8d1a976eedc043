"""SandboxSpec validation: defaults, role mapping, and every error message asserted exactly."""

from __future__ import annotations

from typing import Any

import pytest

from cpi_preflight.errors import ConfigError, SandboxSpecError
from cpi_preflight.sandbox import FaultSpec, SandboxSpec
from cpi_preflight.sandbox.spec import DEFAULT_ROLES

SRC = "profiles/x.yaml"


def parse(mapping: Any, environment: str = "cf") -> SandboxSpec:
    return SandboxSpec.from_mapping(mapping, environment=environment, source=SRC)


def test_none_means_a_healthy_default_tenant() -> None:
    spec = parse(None)
    assert spec.environment == "cf"
    assert spec.roles == DEFAULT_ROLES
    assert spec.credential == "secret"
    assert spec.faults == FaultSpec()
    assert spec.source == SRC


def test_full_mapping_is_kept() -> None:
    spec = parse({
        "roles": ["MonitoringDataRead"], "credential": "certificate",
        "faults": {"wrong_secret": True, "api_url": "ui", "token_url": "api",
                   "server_errors": {"MessageProcessingLogs": 2, "IntegrationPackages": "always"},
                   "latency_ms": 5, "token_latency_ms": 7,
                   "connection_resets": {"DataStores": 1}, "dead_host": "token"},
    })
    assert spec.roles == ("MonitoringDataRead",)
    assert spec.credential == "certificate"
    assert spec.faults.server_errors == {"MessageProcessingLogs": 2,
                                         "IntegrationPackages": "always"}
    assert spec.faults.connection_resets == {"DataStores": 1}
    assert (spec.faults.latency_ms, spec.faults.token_latency_ms) == (5, 7)
    assert (spec.faults.api_url, spec.faults.token_url, spec.faults.dead_host) == (
        "ui", "api", "token")


def test_roles_may_be_a_comma_separated_string() -> None:
    assert parse({"roles": "MonitoringDataRead, WorkspacePackagesRead"}).roles == (
        "MonitoringDataRead", "WorkspacePackagesRead")


def test_cf_permissions_come_from_the_role_templates() -> None:
    spec = parse({"roles": ["MonitoringDataRead", "DataStoresAndQueuesRead"]})
    assert spec.permissions() == {"IntegrationOperationServer.read", "NodeManager.read",
                                  "Roles.Read", "ESBDataStore.read"}


def test_extra_scopes_join_the_permissions_of_a_cf_token() -> None:
    spec = parse({"roles": ["WorkspacePackagesRead"], "extra_scopes": ["Custom.Thing"]})
    assert spec.extra_scopes == ("Custom.Thing",)
    assert spec.permissions() == {"WebToolingWorkspace.Read", "Custom.Thing"}
    assert parse(None).extra_scopes == ()


@pytest.mark.parametrize(("mapping", "environment", "message"), [
    ({"extra_scopes": ["Custom.Thing"]}, "neo",
     "sandbox.extra_scopes: only a cf token carries scopes; on neo name the Neo roles in "
     "sandbox.roles"),
    ({"extra_scopes": "Custom.Thing"}, "cf",
     "sandbox.extra_scopes: expected a list of permission names, got 'Custom.Thing'"),
    ({"extra_scopes": ["it!b1 x"]}, "cf",
     "sandbox.extra_scopes[0]: expected a permission name such as 'Custom.Read' (the part after "
     "'<xsappname>.'), got 'it!b1 x'"),
])
def test_bad_extra_scopes_are_named(mapping: Any, environment: str, message: str) -> None:
    with pytest.raises(SandboxSpecError) as caught:
        parse(mapping, environment)
    assert str(caught.value).endswith(message)


def test_neo_accepts_neo_roles_and_maps_template_names() -> None:
    spec = parse({"roles": ["IntegrationOperationServer.read", "WorkspacePackagesRead"]}, "neo")
    assert spec.permissions() == {"IntegrationOperationServer.read", "WebToolingWorkspace.Read"}


def test_partner_directory_compound_is_mapped() -> None:
    spec = parse({"roles": ["AuthGroup_TenantPartnerDirectoryConfigurator"]})
    assert "TenantPartnerDirectory.read" in spec.permissions()


def test_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse({"bogus": 1})


@pytest.mark.parametrize(("mapping", "environment", "message"), [
    ({"faults": {"wrong_secrt": True}}, "cf",
     "sandbox.faults.wrong_secrt: unknown fault; did you mean 'wrong_secret'?"),
    ({"faults": {"zzz": True}}, "cf",
     "sandbox.faults.zzz: unknown fault; valid faults: wrong_secret, grant_type_disabled, "
     "integration_flow_plan, foreign_zone, api_url, token_url, server_errors, latency_ms, "
     "token_latency_ms, connection_resets, expired_token, dead_host, access_policy, pending_roles, "
     "query_rejections, unavailable_pages, token_body_dropped, client_cert_expired, "
     "instance_grant_types, too_many_requests, retry_after_s, clock_offset_s, proxy, "
     "absent_entity_sets, count_accept_strict, broken_http2"),
    ({"rolez": []}, "cf", "sandbox.rolez: unknown key; did you mean 'roles'?"),
    ({"bogus": 1}, "cf",
     "sandbox.bogus: unknown key; valid keys: roles, credential, faults, extra_scopes, http2"),
    ({"http2": "yes"}, "cf", "sandbox.http2: expected true or false, got 'yes'"),
    (["roles"], "cf", "sandbox: expected a mapping, got ['roles']"),
    ({"roles": 5}, "cf", "sandbox.roles: expected a list of role names, got 5"),
    ({"roles": [5]}, "cf", "sandbox.roles[0]: expected a role name, got 5"),
    ({"roles": ["WorkspacePackagesRead", "MonitorDataRead"]}, "cf",
     "sandbox.roles[1]: unknown role template 'MonitorDataRead'; "
     "did you mean 'MonitoringDataRead'?"),
    ({"roles": ["IntegrationOperationServer.read"]}, "cf",
     "sandbox.roles[0]: 'IntegrationOperationServer.read' is a Neo role; on cf name the role "
     "template that grants it (e.g. 'MonitoringDataRead')"),
    ({"roles": ["UserRolesEdit"]}, "cf",
     "sandbox.roles[0]: role template 'UserRolesEdit' exists in SAP's list, but SAP's "
     "tasks table gives no permissions it could simulate ('n.a.' or an empty cell); name a role "
     "template whose permissions the table lists"),
    ({"roles": ["IntegrationOperationServer.reed"]}, "neo",
     "sandbox.roles[0]: unknown Neo role or role template 'IntegrationOperationServer.reed'; "
     "did you mean 'IntegrationOperationServer.read'?"),
    ({"credential": "certificate"}, "neo",
     "sandbox.credential: 'certificate' is only possible on cf; Neo OAuth clients authenticate "
     "with a client secret"),
    ({"credential": "cert"}, "cf",
     "sandbox.credential: 'cert' is not one of secret, certificate; "
     "did you mean 'certificate'?"),
    ({"credential": "x509"}, "cf",
     "sandbox.credential: 'x509' is not one of secret, certificate; "
     "valid values: secret, certificate"),
    ({"faults": {"latency_ms": "fast"}}, "cf",
     "sandbox.faults.latency_ms: expected milliseconds (a whole number >= 0), got 'fast'"),
    ({"faults": {"token_latency_ms": -5}}, "cf",
     "sandbox.faults.token_latency_ms: expected milliseconds (a whole number >= 0), got -5"),
    ({"faults": {"latency_ms": True}}, "cf",
     "sandbox.faults.latency_ms: expected milliseconds (a whole number >= 0), got True"),
    ({"faults": {"wrong_secret": "yes"}}, "cf",
     "sandbox.faults.wrong_secret: expected true or false, got 'yes'"),
    ({"faults": {"api_url": "uii"}}, "cf",
     "sandbox.faults.api_url: 'uii' is not one of api, ui, xsuaa, runtime, integration_suite, "
     "unknown_route; did you mean 'ui'?"),
    ({"faults": {"token_url": "tokn"}}, "cf",
     "sandbox.faults.token_url: 'tokn' is not one of token, api, ui, plain_authentication; "
     "did you mean 'token'?"),
    ({"faults": {"dead_host": "apii"}}, "cf",
     "sandbox.faults.dead_host: 'apii' is not one of none, api, token; did you mean 'api'?"),
    ({"faults": {"server_errors": {"MessageProcesingLogs": 2}}}, "cf",
     "sandbox.faults.server_errors.MessageProcesingLogs: unknown entity set; "
     "did you mean 'MessageProcessingLogs'?"),
    ({"faults": {"server_errors": {"MessageProcessingLogs": 0}}}, "cf",
     "sandbox.faults.server_errors.MessageProcessingLogs: expected a number of requests >= 1 "
     "or 'always', got 0"),
    ({"faults": {"server_errors": ["MessageProcessingLogs"]}}, "cf",
     "sandbox.faults.server_errors: expected a mapping, got ['MessageProcessingLogs']"),
    ({"faults": {"connection_resets": {"DataStore": 1}}}, "cf",
     "sandbox.faults.connection_resets.DataStore: unknown entity set; did you mean 'DataStores'?"),
    ({"faults": {"connection_resets": {"DataStores": "always"}}}, "cf",
     "sandbox.faults.connection_resets.DataStores: expected a number of requests (a whole "
     "number >= 1), got 'always'"),
    ({"faults": {"integration_flow_plan": True}}, "neo",
     "sandbox.faults.integration_flow_plan: the integration-flow plan exists on cf only"),
    ({"faults": []}, "cf", "sandbox.faults: expected a mapping, got []"),
])
def test_spec_errors_name_source_key_value_and_closest_name(
        mapping: Any, environment: str, message: str) -> None:
    with pytest.raises(SandboxSpecError) as caught:
        parse(mapping, environment)
    assert str(caught.value) == f"{SRC}: {message}"


def test_unknown_environment() -> None:
    with pytest.raises(SandboxSpecError) as caught:
        parse({}, "kyma")
    assert str(caught.value) == f"{SRC}: environment: 'kyma' is not one of cf, neo, edge"
