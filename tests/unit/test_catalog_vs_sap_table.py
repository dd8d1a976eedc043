"""The catalog's role templates follow SAP's "Tasks and Permissions" table, row by row.

A template's permission set is the union of the "Role (Neo)" cells of every row naming it. The
test reads the parsed table from tests/fixtures (its source is noted there) and fails when the
catalog contradicts it, except for the rows and roles listed below with their reason.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from cpi_preflight import catalog

CAT = catalog.load()
TABLE = Path(__file__).resolve().parents[1] / "fixtures" / "sap-tasks-and-permissions.txt"
NOT_GIVEN = {"", "n.a."}

# "Role template" cells that are not one template name: what the catalog reads them as, and why.
ODD_TEMPLATE_CELLS = {
    "MonitoringDataRead (only for tests without authentication) CredentialsRead": (
        ("CredentialsRead",),
        "MonitoringDataRead is enough only for connectivity tests without authentication, which "
        "read no credentials; NodeManager.readcredentials belongs to CredentialsRead"),
    "HealthCheckMonitoringData.Read": (
        (),
        "a Neo role in the template column: SAP's Cloud ALM setup page assigns the Neo role "
        "HealthCheckMonitoringData.Read; the CF template HealthCheckMonitoringDataRead has its "
        "own row"),
}

# Rows whose permissions no CF template takes (empty template cell), by task, with the reason.
ROWS_WITHOUT_TEMPLATE = {
    "View payload of stored messages from message storage (also trace and message processing "
    "log attachments)": "the same permission has its own row for MessagePayloadsRead",
    "Change log level": "a second 'Change log level' row names TraceConfigurationEdit",
    "View audit log entries": "no CF template; AuditLog.Read is a Neo role (Log Files API)",
    "View and change runtime profile": "settings of the Neo tenant; no CF template",
    "Set transport system": "settings of the Neo tenant; no CF template",
}

# Catalog roles whose permission set is not the table's union, with the reason. The catalog data
# says the same in the role's `note` and `confidence`.
ROLE_EXCEPTIONS = {
    "DataArchivingRead": "the table leaves its Neo role empty; a real api-plan token carries "
                         "DataArchiving.Read (CCI), so the catalog keeps that reading (inferred)",
}

# Endpoints SAP documents for Neo only.
NEO_ONLY = {
    "CertificateUserMappings": "SAP's specification: only available in the Neo environment",
    "LogFiles": "the Log Files API is documented for Neo only (SD-logfiles)",
}


@dataclass(frozen=True)
class Row:
    """One task row of SAP's table."""

    area: str
    task: str
    permissions: tuple[str, ...]
    template_cell: str


def read_table(path: Path = TABLE) -> list[Row]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        area, task, perms, template, _persona = (c.strip() for c in line.split(" | "))
        permissions = () if perms in NOT_GIVEN else tuple(perms.split())
        rows.append(Row(area, task, permissions, template))
    return rows


def templates_of(row: Row) -> tuple[str, ...]:
    if row.template_cell in ODD_TEMPLATE_CELLS:
        return ODD_TEMPLATE_CELLS[row.template_cell][0]
    return () if row.template_cell in NOT_GIVEN else (row.template_cell,)


def table_permissions() -> dict[str, set[str]]:
    """Template -> union of its rows' permissions (empty where SAP gives none)."""
    union: dict[str, set[str]] = defaultdict(set)
    for row in read_table():
        for template in templates_of(row):
            union[template].update(row.permissions)
    return dict(union)


TABLE_ROLES = table_permissions()


def test_the_fixture_is_the_table_with_its_source() -> None:
    text = TABLE.read_text(encoding="utf-8")
    assert text.startswith("# SOURCE: ")
    assert "SAP-docs/btp-integration-suite" in text.split("\n\n", 1)[0]
    assert len(read_table()) == 78


def test_every_odd_template_cell_is_still_in_the_table() -> None:
    cells = {row.template_cell for row in read_table()}
    assert set(ODD_TEMPLATE_CELLS) <= cells
    odd = {c for c in cells if c not in NOT_GIVEN and c not in CAT.roles}
    assert odd == set(ODD_TEMPLATE_CELLS)


def test_rows_without_a_template_are_the_listed_ones() -> None:
    orphans = {row.task for row in read_table() if not templates_of(row) and row.permissions
               and row.template_cell not in ODD_TEMPLATE_CELLS}
    assert orphans == set(ROWS_WITHOUT_TEMPLATE)


def test_every_template_of_the_table_is_in_the_catalog_and_back() -> None:
    assert set(TABLE_ROLES) == set(CAT.roles)


@pytest.mark.parametrize("role", sorted(set(CAT.roles) - set(ROLE_EXCEPTIONS)))
def test_role_permissions_are_the_union_of_the_table_rows(role: str) -> None:
    expected = TABLE_ROLES[role]
    permissions = CAT.roles[role].permissions
    if not expected:
        assert permissions is None, f"{role}: SAP gives no permissions"
        assert CAT.roles[role].confidence == "unconfirmed"
        return
    assert permissions is not None, role
    assert set(permissions) == expected
    assert len(permissions) == len(expected), f"{role}: a permission is listed twice"


@pytest.mark.parametrize("role", sorted(ROLE_EXCEPTIONS))
def test_listed_exceptions_still_differ_and_say_why(role: str) -> None:
    entry = CAT.roles[role]
    assert set(entry.permissions or ()) != TABLE_ROLES[role], f"{role}: exception is stale"
    assert entry.confidence != "documented"
    assert entry.note


def test_the_differences_the_issue_names() -> None:
    roles = CAT.roles
    assert "Roles.Read" in (roles["MonitoringDataRead"].permissions or ())
    assert set(roles["DataStoresAndQueuesConfig"].permissions or ()) == {
        "IntegrationOperationServer.read", "ESBDataStore.Config"}
    assert set(roles["QueuesActivate"].permissions or ()) == {
        "IntegrationOperationServer.read", "ESBDataStore.Activate"}
    assert set(roles["CatalogPackageArtifactsRead"].permissions or ()) == {
        "WebToolingCatalog.OverviewRead", "WebToolingCatalog.DetailsRead"}
    for name in ("CatalogPackagesRead", "CredentialsRead", "ExternalLoggingActivationRead"):
        assert roles[name].confidence == "documented", name
    assert "NodeManager.readcredentials" not in (roles["MonitoringDataRead"].permissions or ())


def test_documented_roles_cite_the_table() -> None:
    for role in CAT.roles.values():
        if role.confidence == "documented" or role.permissions is None:
            assert role.source == "SD-tasks", role.name


def test_every_permission_of_the_table_is_a_known_neo_role() -> None:
    named = {p for row in read_table() for p in row.permissions}
    assert named - set(CAT.neo_roles) == set()


def test_every_catalog_row_names_a_defined_source() -> None:
    rows = [*CAT.roles.values(), *CAT.endpoints.values()]
    assert all(r.source in CAT.sources for r in rows), [r.name for r in rows
                                                          if r.source not in CAT.sources]


@pytest.mark.parametrize("name", sorted(NEO_ONLY))
def test_neo_only_endpoints_are_not_offered_on_cloud_foundry(name: str) -> None:
    assert CAT.endpoints[name].environments == ("neo",)
    assert CAT.endpoints[name].note


@pytest.mark.parametrize("name", sorted(n for n, e in CAT.endpoints.items()
                                        if "cf" in e.environments))
def test_a_cf_endpoint_s_role_template_carries_what_the_call_needs(name: str) -> None:
    endpoint = CAT.endpoints[name]
    assert set(endpoint.neo_roles) <= set(CAT.roles[endpoint.role].permissions or ())


# --- personas: the Persona column ---------------------------------------------------------------

# How the Persona column names each persona of the catalog, longest first (a cell lists several:
# "Integration Developer Business Expert Read-Only Persona/System Developer Tenant
# Administrator"). "ReadOnly" appears once, in the row "Read archiving enablement".
PERSONA_NAMES = {
    "Read-Only Persona/System Developer": "AuthGroup_ReadOnly",
    "Partner Directory configurator": "AuthGroup_TenantPartnerDirectoryConfigurator",
    "Integration Developer": "AuthGroup_IntegrationDeveloper",
    "Tenant Administrator": "AuthGroup_Administrator",
    "Read-Only Persona": "AuthGroup_ReadOnly",
    "Business Expert": "AuthGroup_BusinessExpert",
    "Administrator": "AuthGroup_Administrator",
    "ReadOnly": "AuthGroup_ReadOnly",
}
# Persona cells that name no persona of the catalog.
NO_PERSONA = {"", "n.a.", "Specific for CALM"}


def persona_cells() -> list[tuple[str, str]]:
    """(role template cell, persona cell) per row of the table."""
    cells = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            *_, template, persona = (c.strip() for c in line.split(" | "))
            cells.append((template, persona))
    return cells


def personas_in(cell: str) -> set[str]:
    found = set()
    for name in sorted(PERSONA_NAMES, key=len, reverse=True):
        if name in cell:
            found.add(PERSONA_NAMES[name])
            cell = cell.replace(name, " ")
    assert cell.strip() in NO_PERSONA, f"an unknown persona in the table: {cell!r}"
    return found


def table_coverage() -> dict[str, set[str]]:
    """Persona -> the role templates of the rows that name it (itself left out)."""
    covered: dict[str, set[str]] = defaultdict(set)
    for template_cell, persona_cell in persona_cells():
        row = Row("", "", (), template_cell)
        for persona in personas_in(persona_cell):
            covered[persona].update(t for t in templates_of(row) if t != persona)
    return dict(covered)


def test_a_persona_covers_the_templates_of_the_rows_its_column_names() -> None:
    coverage = table_coverage()
    for name, persona in CAT.personas.items():
        assert set(persona.covers) == coverage.get(name, set()), name
        assert len(persona.covers) == len(set(persona.covers)), f"{name}: listed twice"


def test_every_persona_is_a_role_template_with_its_group_as_a_neo_role() -> None:
    for persona in CAT.personas.values():
        assert persona.name in CAT.roles
        assert persona.group == persona.name.replace("AuthGroup_", "AuthGroup.", 1)
        assert persona.group in CAT.neo_roles
        assert persona.source in CAT.sources
        assert persona.also_source in ("", *CAT.sources)
        assert bool(persona.also) == bool(persona.also_source), persona.name


def test_read_only_reads_the_partner_directory_but_does_not_cover_its_configurator() -> None:
    read_only = CAT.personas["AuthGroup_ReadOnly"]
    assert "TenantPartnerDirectory.read" in read_only.also
    assert "AuthGroup_TenantPartnerDirectoryConfigurator" not in read_only.covers
    assert "TenantPartnerDirectory.write" not in read_only.also


def test_neo_roles_include_the_groups_sap_s_neo_pages_tell_users_to_assign() -> None:
    assert {"AuthGroup.TenantPartnerDirectoryConfigurator", "AuthGroup.SystemDeveloper"} <= set(
        CAT.neo_roles)


@pytest.mark.parametrize("name", sorted(CAT.endpoints))
def test_an_endpoint_s_area_is_the_area_of_its_role_s_tasks(name: str) -> None:
    """`area` is the table's Area column for a task naming the endpoint's role template
    (MonitoringDataRead's tasks are Monitor and one Inspect row: monitor)."""
    endpoint = CAT.endpoints[name]
    areas = {row.area.lower() for row in read_table() if endpoint.role in templates_of(row)}
    assert endpoint.area in areas, (name, areas)
