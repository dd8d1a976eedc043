"""The parsed persona table (tests/fixtures/sap-personas.yaml) against SAP's tasks table.

The persona file is data for the product and the sandbox; this test re-derives every persona's
covered templates, partly covered templates and permissions from the Persona column of SAP's
table, so that a wrong hand edit of either file fails here.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TABLE = FIXTURES / "sap-tasks-and-permissions.txt"
PERSONAS = FIXTURES / "sap-personas.yaml"
# Template cells that name more or other than one template (as in tests/sandbox/test_behaviour.py).
ODD_CELLS = {
    "MonitoringDataRead (only for tests without authentication) CredentialsRead":
        ["MonitoringDataRead", "CredentialsRead"],
    "HealthCheckMonitoringData.Read": [],  # a Neo role (Cloud ALM setup), not a CF template
}


def _templates(cell: str) -> list[str]:
    return ODD_CELLS.get(cell, [cell] if cell not in ("", "n.a.") else [])


def split_personas(cell: str, names: list[str]) -> list[str]:
    """The persona names of one Persona cell, whose paragraphs the parsed copy joins by spaces."""
    by_length = sorted(names, key=len, reverse=True)
    found, rest = [], cell.strip()
    while rest:
        name = next((n for n in by_length if rest.startswith(n)), None)
        if name is None:
            raise AssertionError(f"unknown persona text {rest!r}: add it to display_names")
        found.append(name)
        rest = rest[len(name):].lstrip()
    return found


@pytest.fixture(scope="module")
def personas() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(PERSONAS.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def rows(personas: dict[str, Any]) -> list[tuple[str, list[str], list[str], list[str]]]:
    names = list(personas["display_names"])
    parsed = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        _area, task, perms, cell, persona = (c.strip() for c in line.split(" | "))
        groups = [g for name in split_personas(persona, names)
                  for g in personas["display_names"][name]["templates"]]
        parsed.append((task, perms.split() if perms not in ("", "n.a.") else [],
                       _templates(cell), groups))
    return parsed


def _derived(rows: list[tuple[str, list[str], list[str], list[str]]]) -> dict[str, Any]:
    rows_of_template: dict[str, set[int]] = defaultdict(set)
    rows_of_persona: dict[str, set[int]] = defaultdict(set)
    for i, (_task, _perms, templates, groups) in enumerate(rows):
        for template in templates:
            rows_of_template[template].add(i)
        for group in groups:
            rows_of_persona[group].add(i)
    derived = {}
    for group, mine in rows_of_persona.items():
        named = {t for i in mine for t in rows[i][2]} - {group}
        derived[group] = {
            "covers": sorted(t for t in named if rows_of_template[t] <= mine),
            "partly_covers": {t: [rows[i][0] for i in sorted(rows_of_template[t] & mine)]
                              for t in sorted(named) if not rows_of_template[t] <= mine},
            "permissions": sorted({p for i in mine for p in rows[i][1]}),
        }
    return derived


def test_every_persona_text_of_sap_s_table_is_mapped(personas: dict[str, Any],
                                                      rows: list[Any]) -> None:
    assert rows, "SAP's tasks table is empty"
    for name, entry in personas["display_names"].items():
        assert entry["confidence"] in ("documented", "inferred", "unconfirmed"), name
        assert set(entry["templates"]) <= set(personas["personas"]), name


def test_persona_coverage_follows_sap_s_persona_column(personas: dict[str, Any],
                                                       rows: list[Any]) -> None:
    derived = _derived(rows)
    for group, expected in derived.items():
        entry = personas["personas"][group]
        assert entry["covers"] == expected["covers"], group
        assert entry["partly_covers"] == expected["partly_covers"], group
        assert entry["permissions"] == expected["permissions"], group


def test_token_scopes_are_the_general_rows_of_sap_s_table(personas: dict[str, Any]) -> None:
    cells: dict[str, set[str]] = defaultdict(set)
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            _area, _task, perms, cell, _persona = (c.strip() for c in line.split(" | "))
            cells[cell].update(perms.split() if perms not in ("", "n.a.") else [])
    for group, entry in personas["personas"].items():
        assert set(entry["token_scopes"]) == cells[group], group


def test_the_mappings_issue_16_names() -> None:
    data = yaml.safe_load(PERSONAS.read_text(encoding="utf-8"))
    developer = data["personas"]["AuthGroup_IntegrationDeveloper"]
    assert "WorkspaceArtifactsDeploy" in developer["covers"]
    assert "MonitoringDataRead" in developer["covers"]
    read_only = data["personas"]["AuthGroup_ReadOnly"]
    # the read-only persona does not hold the Partner Directory template on CF, and no write
    assert "AuthGroup_TenantPartnerDirectoryConfigurator" not in read_only["covers"]
    assert not {p for p in read_only["permissions"] if p.endswith((".write", ".Write"))}
    assert data["neo_groups"]["AuthGroup.SystemDeveloper"]["extra_permissions"] == [
        "TenantPartnerDirectory.read"]


def test_splitting_a_persona_cell() -> None:
    names = ["Integration Developer", "Business Expert", "Read-Only Persona",
             "Read-Only Persona/System Developer", "Tenant Administrator"]
    assert split_personas("Integration Developer Read-Only Persona/System Developer Tenant "
                          "Administrator", names) == [
        "Integration Developer", "Read-Only Persona/System Developer", "Tenant Administrator"]
    with pytest.raises(AssertionError, match="unknown persona text 'Nobody'"):
        split_personas("Business Expert Nobody", names)
