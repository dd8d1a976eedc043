"""The product's catalog and the sandbox's own SAP table must agree, endpoint by endpoint.

For each role, a sandbox grants only that role and a profile calls every endpoint both know.
The catalog predicts which calls succeed; the sandbox (written separately from the reference)
decides. A disagreement names the endpoint whose mapping is wrong in one of the two tables.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cpi_preflight import catalog
from cpi_preflight.plan import neo_roles_of

from .conftest import Outcome, run_pytest

SANDBOX_TABLE = (Path(__file__).resolve().parents[2] / "src" / "cpi_preflight" / "sandbox"
                 / "sap_behaviour.yaml")
# SecurityMaterialDownload holds every permission the monitoring reads need (SAP's table): the
# calls succeed although the documented template for them is MonitoringDataRead.
CF_ROLES = ["MonitoringDataRead", "WorkspacePackagesRead", "DataStoresAndQueuesRead",
            "AccessPoliciesRead", "AuthGroup_TenantPartnerDirectoryConfigurator",
            "SecurityMaterialDownload"]
NEO_ROLES = [["IntegrationOperationServer.read", "NodeManager.read"],
             ["WebToolingWorkspace.Read"],
             ["IntegrationOperationServer.read", "ESBDataStore.read"],
             ["IntegrationOperationServer.read"]]


def _shared_endpoints(environment: str) -> list[str]:
    """Endpoints both tables know that the product calls (an unprobeable one is never called)."""
    served = yaml.safe_load(SANDBOX_TABLE.read_text())["entity_sets"]
    return sorted(name for name, endpoint in catalog.load().endpoints.items()
                  if name in served and environment in served[name].get("environments", [])
                  and environment in endpoint.environments and not endpoint.unprobeable)


def _cases() -> dict[str, tuple[str, list[str]]]:
    cases = {f"cf-{role}": ("cf", [role]) for role in CF_ROLES}
    cases.update({f"neo-{'_'.join(r)}": ("neo", r) for r in NEO_ROLES})
    return cases


@pytest.fixture(scope="module")
def agreement_run(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    root = tmp_path_factory.mktemp("oracle")
    profiles = root / "profiles"
    profiles.mkdir()
    for name, (environment, roles) in _cases().items():
        body = {"environment": environment, "required_roles": roles,
                "endpoints": _shared_endpoints(environment), "attempts": 1,
                "sandbox": {"roles": roles}}
        (profiles / f"{name}.yaml").write_text(yaml.safe_dump(body))
    return run_pytest(root, "--profile", "all", profiles_dir=profiles)


def _expected_to_pass(environment: str, roles: list[str], endpoint: str) -> bool:
    # Both tables agree that the API checks permissions (scopes / Neo roles), so a role template
    # other than the documented one grants the call when it carries every permission it needs.
    entry = catalog.load().endpoints[endpoint]
    held = {r for role in roles for r in neo_roles_of(role, catalog.load())}
    return (environment == "cf" and entry.role in roles) or set(entry.neo_roles) <= held


@pytest.mark.parametrize("name", list(_cases()))
def test_catalog_and_sandbox_agree(agreement_run: Outcome, name: str) -> None:
    environment, roles = _cases()[name]
    cases = agreement_run.cases(name)
    disagreements = []
    for endpoint in _shared_endpoints(environment):
        case = cases[f"endpoint[{endpoint}]"]
        passed = case.find("failure") is None and case.find("skipped") is None
        if passed != _expected_to_pass(environment, roles, endpoint):
            disagreements.append(f"{endpoint}: catalog predicts "
                                 f"{'success' if not passed else 'refusal'}, sandbox disagrees")
    assert disagreements == []
    for role in roles:
        assert cases[f"role[{role}]"].find("failure") is None, role


def test_both_tables_give_a_role_template_the_same_permissions() -> None:
    """Both were written from SAP's tasks table; where both map a template, they must agree."""
    sandbox = yaml.safe_load(SANDBOX_TABLE.read_text())["role_templates"]
    disagreements = {name: (sorted(catalog.load().roles[name].permissions or ()),
                            sorted(entry["permissions"]))
                     for name, entry in sandbox.items()
                     if set(catalog.load().roles[name].permissions or ()) != set(
                         entry["permissions"])}
    assert disagreements == {}
    assert "Roles.Read" in sandbox["MonitoringDataRead"]["permissions"]


def test_the_sandbox_serves_every_catalog_endpoint() -> None:
    """Issue 16, item 9: every path of the catalog, in each of its environments, is a path the
    sandbox's own table serves (names listed from both files, nothing imported by the sandbox)."""
    served = yaml.safe_load(SANDBOX_TABLE.read_text())["entity_sets"]
    paths = {(path, environment) for entry in served.values() for path in entry["paths"]
             for environment in entry["environments"]}
    missing = sorted(f"{name} {endpoint.path} ({environment})"
                     for name, endpoint in catalog.load().endpoints.items()
                     for environment in endpoint.environments
                     if (endpoint.path, environment) not in paths)
    assert missing == []


def test_an_unprobeable_catalog_endpoint_is_still_answered_by_the_sandbox() -> None:
    """The catalog never calls IdempotentRepositoryEntries (it needs a parameter id nobody
    knows); the sandbox answers it as SAP's spec says: 400 without id."""
    served = yaml.safe_load(SANDBOX_TABLE.read_text())["entity_sets"]
    assert catalog.load().endpoints["IdempotentRepositoryEntries"].unprobeable
    assert served["IdempotentRepositoryEntries"]["required_query"] == "id"
