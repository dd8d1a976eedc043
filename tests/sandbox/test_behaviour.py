"""The sandbox's SAP table: consistent, backed by SAP's specs, independent of the product."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cpi_preflight.sandbox.behaviour import load_behaviour, read_data_file
from cpi_preflight.sandbox.records import load_samples

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SPECS = FIXTURES / "sap-api-specs"
PACKAGE = Path(__file__).resolve().parents[2] / "src" / "cpi_preflight" / "sandbox"
CONFIDENCE = {"documented", "inferred", "unconfirmed"}
FORBIDDEN = {"catalog", "probe", "diagnosis", "plan", "oauth", "claims"}


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data: dict[str, Any] = read_data_file("sap_behaviour.yaml")
    return data


@pytest.fixture(scope="module")
def specs() -> dict[str, dict[str, Any]]:
    found = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in SPECS.glob("*.json")}
    assert found, f"no SAP API specs in {SPECS} (see tests/fixtures/README.md)"
    return found


def test_every_served_path_exists_in_sap_specs(specs: dict[str, dict[str, Any]]) -> None:
    for entity in load_behaviour().entity_sets.values():
        assert entity.spec in specs, f"{entity.name}: no spec file {entity.spec}"
        spec = specs[entity.spec]
        assert spec["basePath"] == "/cpi/api/v1"
        for path in entity.paths:
            assert path in spec["paths"], f"{path} is not in {entity.spec}"
            assert "get" in spec["paths"][path], f"{path} has no GET in {entity.spec}"


def test_every_sample_type_and_field_exists_in_sap_specs(
        specs: dict[str, dict[str, Any]]) -> None:
    definitions = {k: v for s in specs.values() for k, v in s["definitions"].items()}
    for name, sample in load_samples().items():
        assert sample.entity_type in definitions, f"{name}: {sample.entity_type} unknown"
        fields = _properties(definitions, sample.entity_type)
        for record in sample.records:
            unknown = set(record) - fields
            if fields:
                assert not unknown, f"{name}: fields {unknown} not in {sample.entity_type}"


def _properties(definitions: dict[str, Any], name: str) -> set[str]:
    found: set[str] = set()
    definition = definitions[name]
    for part in [definition, *definition.get("allOf", [])]:
        if "$ref" in part:
            found |= _properties(definitions, part["$ref"].rsplit("/", 1)[-1])
        found |= set(part.get("properties", {}))
    if name.endswith("KeystoreEntry"):  # SAP's own example adds these to the allOf parts
        found |= {"Alias", "KeyType", "KeySize", "ValidNotBefore", "ValidNotAfter",
                  "SerialNumber", "SignatureAlgorithm", "SubjectDN", "IssuerDN"}
    return found


def test_every_entity_set_has_samples_and_every_sample_is_served() -> None:
    assert set(load_samples()) == set(load_behaviour().entity_sets)


def test_role_template_of_each_entity_set_grants_what_it_needs() -> None:
    behaviour = load_behaviour()
    for entity in behaviour.entity_sets.values():
        if entity.cf_role_template is None:
            assert entity.environments == ("neo",), entity.name
            continue
        granted = behaviour.permissions_of([entity.cf_role_template])
        assert set(entity.neo_roles) <= granted, entity.name


def test_reference_mappings_the_brief_names() -> None:
    behaviour = load_behaviour()
    templates = behaviour.role_templates
    assert templates["MonitoringDataRead"].permissions == (
        "IntegrationOperationServer.read", "NodeManager.read", "Roles.Read")
    assert templates["WorkspacePackagesRead"].permissions == ("WebToolingWorkspace.Read",)
    assert templates["DataStoresAndQueuesRead"].permissions == (
        "IntegrationOperationServer.read", "ESBDataStore.read")
    assert behaviour.entity_sets["DataStores"].cf_role_template == "DataStoresAndQueuesRead"


def test_every_entry_has_source_and_confidence(raw: dict[str, Any]) -> None:
    sources = set(raw["sources"])
    sections = [raw["entity_sets"], raw["role_templates"], raw["api_rejections"],
                *raw["token_errors"].values()]
    for section in sections:
        for name, entry in section.items():
            assert entry["confidence"] in CONFIDENCE, name
            assert entry["source"] in sources, name


def test_neo_token_errors_are_marked_unconfirmed() -> None:
    for kind, error in load_behaviour().token_errors["neo"].items():
        assert error.confidence == "unconfirmed", kind


def test_integration_flow_rejection_is_a_documented_choice() -> None:
    rejection = load_behaviour().api_rejections["integration_flow_token"]
    assert (rejection.status, rejection.confidence) == (403, "unconfirmed")


def test_unmapped_templates_do_not_overlap_mapped_ones() -> None:
    behaviour = load_behaviour()
    assert not set(behaviour.unmapped_role_templates) & set(behaviour.role_templates)


def test_yaml_has_no_duplicate_keys() -> None:
    class Strict(yaml.SafeLoader):
        pass

    def construct(loader: Strict, node: yaml.MappingNode) -> dict[Any, Any]:
        keys = [loader.construct_object(k) for k, _ in node.value]
        assert len(keys) == len(set(keys)), f"duplicate key near line {node.start_mark.line}"
        return loader.construct_mapping(node)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct)
    for name in ("sap_behaviour.yaml", "sample_records.yaml"):
        yaml.load((PACKAGE / name).read_text(encoding="utf-8"), Strict)


def test_sandbox_never_imports_the_modules_it_checks() -> None:
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "cpi_preflight" and len(parts) > 1:
                    # files: bounded reading; text: the one cleaning of text from outside (a
                    # replayed HAR's), which imports nothing of the package
                    allowed = {"errors", "secret", "files", "text", "sandbox"}
                    assert parts[1] in allowed, f"{path.name}: {name}"
                    assert parts[1] not in FORBIDDEN


# --- the role rows against SAP's tasks table (read here, not through the product's catalog) ----

SAP_TABLE = Path(__file__).resolve().parents[1] / "fixtures" / "sap-tasks-and-permissions.txt"
# Template cells the sandbox reads differently from their text, and why.
SAP_ODD_CELLS = {
    "MonitoringDataRead (only for tests without authentication) CredentialsRead": "CredentialsRead",
    "HealthCheckMonitoringData.Read": None,  # a Neo role (Cloud ALM setup), not a CF template
}
# Templates whose permissions the sandbox takes from elsewhere, with the source tag it cites.
SAP_TABLE_EXCEPTIONS = {"DataArchivingRead": "cci"}


def _sap_table() -> dict[str, set[str]]:
    union: dict[str, set[str]] = {}
    for line in SAP_TABLE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        _area, _task, perms, cell, _persona = (c.strip() for c in line.split(" | "))
        template = SAP_ODD_CELLS.get(cell, cell) if cell not in ("", "n.a.") else None
        if template is not None:
            union.setdefault(template, set()).update(
                perms.split() if perms not in ("", "n.a.") else [])
    return union


def test_sandbox_role_rows_follow_sap_s_table() -> None:
    table, behaviour = _sap_table(), load_behaviour()
    assert set(behaviour.role_templates) | set(behaviour.unmapped_role_templates) == set(table)
    for name, template in behaviour.role_templates.items():
        if name in SAP_TABLE_EXCEPTIONS:
            assert template.source == SAP_TABLE_EXCEPTIONS[name], name
            continue
        assert set(template.permissions) == table[name], name
        assert len(template.permissions) == len(table[name]), name
        assert (template.source, template.confidence) == ("tasks", "documented"), name


def test_a_monitoring_token_carries_roles_read() -> None:
    behaviour = load_behaviour()
    assert "Roles.Read" in behaviour.permissions_of(["MonitoringDataRead"])
    assert behaviour.role_templates["MonitoringDataRead"].source == "tasks"
    assert behaviour.permissions_of(["QueuesActivate"]) == {"IntegrationOperationServer.read",
                                                             "ESBDataStore.Activate"}


# --- personas (issue 16) against the parsed Persona column ---------------------------------------

PERSONAS = FIXTURES / "sap-personas.yaml"


def test_persona_grants_follow_sap_s_persona_column() -> None:
    """The sandbox's own persona table equals the one parsed from SAP's tasks table
    (tests/fixtures/sap-personas.yaml, itself re-derived by tests/unit/test_personas_table.py),
    group roles themselves left out."""
    parsed = yaml.safe_load(PERSONAS.read_text(encoding="utf-8"))
    grants = load_behaviour().persona_grants

    def without_groups(perms: list[str]) -> set[str]:
        return {p for p in perms if not p.startswith("AuthGroup.")}

    expected_cf = {entry["token_scopes"][0]: without_groups(entry["permissions"])
                   for name, entry in parsed["personas"].items()
                   if entry["token_scopes"][0].startswith("AuthGroup.")
                   and without_groups(entry["permissions"])}
    assert {k: set(v) for k, v in grants["cf"].items()} == expected_cf
    expected_neo = {group: without_groups(parsed["personas"][entry["persona"]]["permissions"])
                    | set(entry["extra_permissions"])
                    for group, entry in parsed["neo_groups"].items()}
    assert {k: set(v) for k, v in grants["neo"].items()} == expected_neo


def test_a_persona_template_puts_its_group_role_into_the_token() -> None:
    behaviour = load_behaviour()
    assert behaviour.permissions_of(["AuthGroup_Administrator"]) == {
        "AuthGroup.Administrator", "WebToolingWorkspace.RuntimeConfigure"}
    honoured = behaviour.honoured(frozenset({"AuthGroup.IntegrationDeveloper"}), "cf")
    assert {"NodeManager.deploycontent", "IntegrationOperationServer.read"} <= honoured
    assert "TenantPartnerDirectory.read" not in honoured  # CF: only the configurator template
    assert "TenantPartnerDirectory.read" in behaviour.honoured(
        frozenset({"AuthGroup.IntegrationDeveloper"}), "neo")
