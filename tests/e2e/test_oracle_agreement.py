"""The product's catalog and the sandbox's own SAP table must agree, endpoint by endpoint.

For each role, a sandbox grants only that role and a profile calls every endpoint both know.
The catalog predicts which calls succeed; the sandbox (written separately from the reference)
decides. A disagreement names the endpoint whose mapping is wrong in one of the two tables.
Personas the same way: a sandbox granting one persona only, the catalog's `personas` (which
templates it covers, grants.reach) against the sandbox's own `personas` table.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cpi_preflight import catalog, grants
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


# Personas both tables know (catalog `personas` with tasks; the sandbox's `personas`), per
# environment: the name a sandbox grants (a role template on cf, the group role on Neo).
PERSONAS = {"cf": ["AuthGroup_IntegrationDeveloper", "AuthGroup_Administrator",
                   "AuthGroup_BusinessExpert", "AuthGroup_ReadOnly"],
            "neo": ["AuthGroup.IntegrationDeveloper", "AuthGroup.Administrator",
                    "AuthGroup.BusinessExpert", "AuthGroup.ReadOnly"]}


def _persona_cases() -> dict[str, tuple[str, str]]:
    """profile name -> (environment, what the sandbox grants: one persona and nothing else)."""
    return {f"persona-{env}-{name.replace('.', '_')}": (env, name)
            for env, names in PERSONAS.items() for name in names}


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
    for name, (environment, granted) in _persona_cases().items():
        body = {"environment": environment, "required_roles": [],
                "endpoints": _shared_endpoints(environment), "attempts": 1,
                "sandbox": {"roles": [granted]}}
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


# --- personas: the catalog's `personas` against the sandbox's own `personas` ------------------
#
# The catalog says which role templates a persona covers (the Persona column of SAP's tasks
# table); the sandbox honours, per group role, the permissions of every row naming the persona.
# Where they differ, the difference is listed here with its reason; a new one fails.

# Permissions the catalog's covered templates hold that no persona row of SAP's table names.
NOT_HONOURED = {
    # DataArchivingRead: SAP's table leaves its Neo role empty; the catalog takes
    # DataArchiving.Read from a real token's scopes (catalog.yaml). No entity set needs it.
    name: {"DataArchiving.Read"} for name in (*PERSONAS["cf"], *PERSONAS["neo"])
}
# Permissions the sandbox honours for a persona beyond the catalog's reach (grants.reach: its
# group, its covered templates' permissions and `also`).
BEYOND_REACH = {
    # rows naming the Tenant Administrator with no Cloud Foundry role template (audit log, runtime
    # profile, transport settings): no template to cover, so the catalog's persona (which models
    # templates) does not hold them; only Neo's LogFiles needs AuditLog.Read, and on Neo the
    # product decides roles by calls, not by personas. Predictions below count them as held.
    name: {"AuditLog.Read", "WebToolingSettingsProductProfiles.savetenantconfiguration"}
    for name in ("AuthGroup_Administrator", "AuthGroup.Administrator")
}
# The catalog's `also` (Partner Directory access, SAP's permissions page) is documented for Neo's
# groups; on Cloud Foundry the page names only AuthGroup_TenantPartnerDirectoryConfigurator. The
# catalog counts it on both (a Partners call a persona answers proves nothing about the
# configurator); the sandbox honours it on Neo only. Both readings: on cf the call may go
# either way, and the product must not say "granted" in either.
ALSO_NEO_ONLY = {"TenantPartnerDirectory.read", "TenantPartnerDirectory.write"}


def _sandbox_personas(environment: str) -> dict[str, set[str]]:
    table = yaml.safe_load(SANDBOX_TABLE.read_text())["personas"][environment]
    return {group: set(permissions) for group, permissions in table.items()}


def _persona(name: str) -> catalog.Persona:
    """The catalog's persona for a template name (cf) or a group role (neo)."""
    return next(p for p in catalog.load().personas.values() if name in (p.name, p.group))


def _covered(persona: catalog.Persona) -> set[str]:
    return {perm for role in persona.covers
            for perm in (catalog.load().roles[role].permissions or ())}


def test_both_tables_know_the_same_personas() -> None:
    cat = catalog.load()
    with_tasks = {p.group for p in cat.personas.values() if p.covers}
    assert set(_sandbox_personas("cf")) == with_tasks
    assert {_persona(n).group for n in PERSONAS["cf"]} == with_tasks
    # every Neo group the sandbox honours is a Neo role a profile may require
    assert set(_sandbox_personas("neo")) <= set(cat.neo_roles)
    # "Read-Only Persona/System Developer": one persona, two Neo groups with the same rows
    neo = _sandbox_personas("neo")
    assert neo["AuthGroup.SystemDeveloper"] == neo["AuthGroup.ReadOnly"]


@pytest.mark.parametrize(("environment", "name"),
                         [(env, n) for env, names in PERSONAS.items() for n in names])
def test_a_persona_honours_what_the_catalog_says_it_covers(environment: str, name: str) -> None:
    persona = _persona(name)
    honoured = _sandbox_personas(environment)[persona.group]
    assert _covered(persona) - honoured == NOT_HONOURED.get(name, set())
    reach = set(grants.reach(persona, catalog.load()))
    if environment == "cf":
        reach -= ALSO_NEO_ONLY
    assert honoured - reach == BEYOND_REACH.get(name, set())


def _persona_prediction(environment: str, granted: str, endpoint: str) -> str:
    """"pass" where the catalog says the persona covers the endpoint's role (Cloud Foundry; on
    Neo an endpoint's role template is a label, its Neo roles decide) or holds every permission
    it needs, "refuse" where it needs one beyond the persona's reach, "either" where the two
    readings of ALSO_NEO_ONLY differ."""
    persona, entry = _persona(granted), catalog.load().endpoints[endpoint]
    if environment == "cf" and grants.covers(persona, entry.role):
        return "pass"
    reach = set(grants.reach(persona, catalog.load())) | BEYOND_REACH.get(granted, set())
    if set(entry.neo_roles) <= reach - (ALSO_NEO_ONLY if environment == "cf" else set()):
        return "pass"
    return "either" if set(entry.neo_roles) <= reach else "refuse"


@pytest.mark.parametrize("name", list(_persona_cases()))
def test_catalog_and_sandbox_agree_on_personas(agreement_run: Outcome, name: str) -> None:
    environment, granted = _persona_cases()[name]
    cases = agreement_run.cases(name)
    disagreements = []
    for endpoint in _shared_endpoints(environment):
        case = cases[f"endpoint[{endpoint}]"]
        passed = case.find("failure") is None and case.find("skipped") is None
        expected = _persona_prediction(environment, granted, endpoint)
        if expected != "either" and passed != (expected == "pass"):
            disagreements.append(f"{endpoint}: catalog predicts {expected}, sandbox "
                                 f"{'allows' if passed else 'refuses'}")
    assert disagreements == []


@pytest.mark.parametrize("name", [n for n, (env, _) in _persona_cases().items() if env == "cf"])
def test_a_persona_grants_only_the_roles_it_covers(agreement_run: Outcome, name: str) -> None:
    """Every role check of a persona client: "granted via persona" exactly where the catalog
    says the persona covers the role; never "granted" otherwise, whatever a call answered."""
    _, granted = _persona_cases()[name]
    persona = _persona(granted)
    for check, case in agreement_run.cases(name).items():
        if not check.startswith("role["):
            continue
        role = check[len("role["):-1]
        out = case.findtext("system-out") or ""
        passed = case.find("failure") is None and case.find("skipped") is None
        assert passed == grants.covers(persona, role), (check, out)
        if passed:
            assert out.startswith(f"role {role} is granted via persona {granted}: "), out
