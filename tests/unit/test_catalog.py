"""catalog: the shipped knowledge loads, agrees with itself and with SAP's API specs."""

from __future__ import annotations

import dataclasses
import json
import re
import string
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import cpi_preflight
from cpi_preflight import catalog as catalog_module
from cpi_preflight.catalog import ENVIRONMENTS, Catalog, closest
from cpi_preflight.errors import CatalogError

from .conftest import FIXTURES

CAT = catalog_module.load()
SPECS = FIXTURES / "sap-api-specs"
PACKAGE = Path(cpi_preflight.__file__).parent
CONFIDENCE = {"documented", "inferred", "unconfirmed"}
# Placeholders the diagnosis and posture rules fill in (see Context.finding).
PLACEHOLDERS = {"key", "client_id", "role", "neo_roles", "zone", "endpoint", "note", "roles",
                "baseline", "request", "grant_type", "required_roles_json",
                "roles_after_json", "host"}


@pytest.fixture(scope="module")
def spec_paths() -> dict[str, dict[str, Any]]:
    """Every path of SAP's specs (relative to /cpi/api/v1) with its operations."""
    assert sorted(p.name for p in SPECS.glob("*.json")), f"no SAP API specs in {SPECS}"
    paths: dict[str, dict[str, Any]] = {}
    for spec_file in sorted(SPECS.glob("*.json")):
        spec = json.loads(spec_file.read_text(encoding="utf-8"))
        assert spec["basePath"] == "/cpi/api/v1", spec_file.name
        for path, operations in spec["paths"].items():
            paths[path] = {**operations, "_spec": spec}
    return paths


def _parameter_names(operations: dict[str, Any]) -> set[str]:
    spec = operations["_spec"]
    names = set()
    for parameter in [*operations.get("parameters", []),
                      *operations.get("get", {}).get("parameters", [])]:
        if "$ref" in parameter:
            parameter = spec["parameters"][parameter["$ref"].rsplit("/", 1)[-1]]
        names.add(parameter["name"])
    return names


# --- loading -----------------------------------------------------------------------------


def test_the_catalog_loads_once_per_process() -> None:
    assert isinstance(CAT, Catalog)
    assert catalog_module.load() is CAT
    for part in (CAT.roles, CAT.neo_roles, CAT.endpoints, CAT.codes, CAT.sources):
        assert part


def test_scope_readings_are_both_accepted() -> None:
    assert CAT.scope_readings == ("permissions", "template_name")


def test_an_unknown_code_is_our_bug() -> None:
    with pytest.raises(CatalogError) as caught:
        CAT.code("NO_SUCH_CODE")
    assert str(caught.value) == "failure code NO_SUCH_CODE is not defined in data/codes.yaml"


# --- endpoints against SAP's specs ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CAT.endpoints))
def test_every_endpoint_path_is_a_get_in_sap_s_specs(spec_paths: dict[str, dict[str, Any]],
                                                     name: str) -> None:
    endpoint = CAT.endpoints[name]
    assert endpoint.path in spec_paths, f"{name}: {endpoint.path} is not in SAP's specs"
    assert "get" in spec_paths[endpoint.path], f"{name}: {endpoint.path} has no GET"


QUERY_NOT_IN_SPEC = {"IdempotentRepositoryEntries", "KeystoreEntries", "CertificateUserMappings",
                     "NumberRanges", "Partners"}


@pytest.mark.parametrize("name", sorted(set(CAT.endpoints) - QUERY_NOT_IN_SPEC))
def test_every_query_option_sent_is_declared_by_the_spec(
        spec_paths: dict[str, dict[str, Any]], name: str) -> None:
    endpoint = CAT.endpoints[name]
    declared = _parameter_names(spec_paths[endpoint.path])
    assert {k for k, _ in endpoint.query} <= declared


@pytest.mark.parametrize("name", sorted(QUERY_NOT_IN_SPEC))
def test_query_options_the_spec_does_not_declare(spec_paths: dict[str, dict[str, Any]],
                                                 name: str) -> None:
    endpoint = CAT.endpoints[name]
    assert {k for k, _ in endpoint.query} <= _parameter_names(spec_paths[endpoint.path])


@pytest.mark.parametrize("name", ["DataStores", "DataStoreEntries", "Variables",
                                  "UserCredentials", "SecureParameters"])
def test_entity_sets_known_to_reject_top_are_called_without_it(name: str) -> None:
    assert dict(CAT.endpoints[name].query) == {}


def test_endpoints_are_well_formed() -> None:
    for endpoint in CAT.endpoints.values():
        assert endpoint.path.startswith("/"), endpoint.name
        assert endpoint.role in CAT.roles, endpoint.name
        assert set(endpoint.neo_roles) <= set(CAT.neo_roles), endpoint.name
        assert endpoint.neo_roles, endpoint.name
        assert set(endpoint.environments) <= set(ENVIRONMENTS), endpoint.name
        assert endpoint.confidence in CONFIDENCE, endpoint.name


# --- roles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(r.name for r in CAT.roles.values() if r.proof))
def test_a_role_s_proof_endpoint_needs_that_role(role: str) -> None:
    proof = CAT.roles[role].proof
    assert proof is not None
    assert CAT.endpoints[proof].role == role


def test_roles_are_well_formed() -> None:
    for role in CAT.roles.values():
        assert role.confidence in CONFIDENCE, role.name
        assert role.permissions is None or len(role.permissions) > 0, role.name
        if role.permissions is None:
            assert role.confidence == "unconfirmed", role.name


def test_the_role_is_called_monitoring_data_read() -> None:
    assert "MonitoringDataRead" in CAT.roles
    assert "MonitorDataRead" not in CAT.roles


def test_endpoints_needing_a_role_or_neo_role() -> None:
    assert {e.name for e in CAT.endpoints_needing("DataStorePayloadsRead")} == {"Variables"}
    assert {e.name for e in CAT.endpoints_needing("TenantPartnerDirectory.read")} == {
        "Partners", "StringParameters"}
    assert CAT.endpoints_needing("UserRolesEdit") == []


# --- sources -------------------------------------------------------------------------------


def test_every_source_tag_used_is_defined() -> None:
    used = ({r.source for r in CAT.roles.values()} | {e.source for e in CAT.endpoints.values()}
            | {n.source for n in CAT.not_endpoints.values()})
    assert used - set(CAT.sources) == set()


def test_source_text_gives_the_citation_or_the_tag() -> None:
    assert CAT.source_text("SD-mpl").startswith(
        'SAP Help Portal, "Message Processing Logs" (SAP Integration Suite); the page\'s source: '
        "docs/ci/Development/message-processing-logs-827a2d7.md at 0cb9189b in "
        "https://github.com/SAP-docs/btp-integration-suite")
    assert CAT.source_text("unknown-tag") == "unknown-tag"


# --- codes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CAT.codes))
def test_every_code_has_its_texts(name: str) -> None:
    code = CAT.codes[name]
    assert code.name == name
    assert code.severity in {"failure", "warning"}
    for text in (code.title, code.cause, code.source):
        assert text.strip()
    assert code.fix
    assert set(code.fix) <= {"cf", "neo", "any"}
    assert all(text.strip() for text in code.fix.values())


@pytest.mark.parametrize("name", sorted(CAT.codes))
def test_every_fix_placeholder_is_one_the_rules_fill(name: str) -> None:
    for text in CAT.codes[name].fix.values():
        fields = {f for _, f, _, _ in string.Formatter().parse(text) if f}
        assert fields <= PLACEHOLDERS, (name, fields)
        text.format_map(defaultdict(str))


def test_fix_for_prefers_the_environment_then_any_then_the_first() -> None:
    missing = CAT.code("ROLE_MISSING")
    assert missing.fix_for("neo") == missing.fix["neo"]
    assert missing.fix_for("cf") == missing.fix["cf"]
    assert CAT.code("SERVER_ERROR").fix_for("neo") == CAT.code("SERVER_ERROR").fix["any"]
    plan = CAT.code("WRONG_SERVICE_PLAN")
    assert plan.fix_for("neo") == plan.fix["cf"]


def _emitted_codes() -> set[str]:
    emitted = set()
    for path in PACKAGE.glob("*.py"):
        emitted |= set(re.findall(r'finding\(\s*"([A-Z_]+)"', path.read_text()))
    return emitted


def test_every_code_the_rules_emit_is_defined() -> None:
    assert _emitted_codes() - set(CAT.codes) == set()


def test_every_defined_code_is_emitted_somewhere() -> None:
    texts = "".join(p.read_text() for p in PACKAGE.glob("*.py"))
    assert {c for c in CAT.codes if f'"{c}"' not in texts} == set()


# --- closest -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "candidates", "expected"), [
    ("MonitorDataRead", list(CAT.roles), "MonitoringDataRead"),
    ("monitoringdataread", list(CAT.roles), "MonitoringDataRead"),
    ("WorkspacePackageRead", list(CAT.roles), "WorkspacePackagesRead"),
    ("IntegrationPackage", list(CAT.endpoints), "IntegrationPackages"),
    ("nodemanager.read", CAT.neo_roles, "NodeManager.read"),
    ("Zzzzzzzzzz", list(CAT.roles), None),
    ("anything", [], None),
    ("", ["a", "b"], None),
])
def test_closest_suggests_a_near_name_or_nothing(name: str, candidates: list[str],
                                                 expected: str | None) -> None:
    assert closest(name, candidates) == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("IntegrationPackage", "IntegrationPackages"),
    ("IntegrationRuntimeArtifact", "IntegrationRuntimeArtifacts"),
    ("MessageMappingDesigntimeArtifact", "MessageMappingDesigntimeArtifacts"),
    ("IntegrationDesigntimeArtifacts", None),  # all catalog.closest offers is the runtime set
    ("IntegrationAdapterDesigntimeArtifacts", None),
    ("Keystores", None),  # another entity set, not a typo of KeystoreEntries
])
def test_closest_endpoint_suggests_a_near_spelling_of_the_same_area(
        name: str, expected: str | None) -> None:
    assert CAT.closest_endpoint(name) == expected


def _other_area_names() -> list[tuple[str, str]]:
    """Each endpoint name with an area word, that word swapped for the other area's, and that
    area: IntegrationRuntimeArtifacts -> (IntegrationDesigntimeArtifacts, design)."""
    (one, [one_word]), (two, [two_word]) = CAT.area_words.items()
    swapped = {one_word: (two_word, two), two_word: (one_word, one)}
    return [(name.replace(word, other), area) for name in CAT.endpoints
            for word, (other, area) in swapped.items() if word in name]


@pytest.mark.parametrize(("name", "area"), _other_area_names())
def test_a_name_of_one_area_is_never_offered_an_endpoint_of_the_other(name: str,
                                                                    area: str) -> None:
    assert CAT.area_of(name) == area
    for variant in (name, name[:-1], name.lower()):
        hint = CAT.closest_endpoint(variant)
        assert hint is None or CAT.endpoints[hint].area == area, variant


def test_every_endpoint_name_with_an_area_word_is_of_that_area() -> None:
    for name, endpoint in CAT.endpoints.items():
        told = CAT.area_of(name + "X")  # not the endpoint itself: its words decide
        assert told in (None, endpoint.area), name


def test_an_entity_set_that_is_not_an_endpoint_is_checked_by_one_needing_its_role() -> None:
    assert {n: (o.checked_by, CAT.endpoints[o.checked_by].role)
            for n, o in CAT.not_endpoints.items()} == {
        "IntegrationDesigntimeArtifacts": ("IntegrationPackages", "WorkspacePackagesRead"),
        "ScriptCollectionDesigntimeArtifacts": ("IntegrationPackages", "WorkspacePackagesRead"),
    }


def test_not_endpoints_have_no_collection_get_in_sap_s_specs(
        spec_paths: dict[str, dict[str, Any]]) -> None:
    for name in CAT.not_endpoints:
        assert "get" not in spec_paths.get(f"/{name}", {}), name
        assert any(p.startswith(f"/{name}(Id=") and "get" in spec_paths[p]
                   for p in spec_paths), name


def test_an_unknown_area_is_our_bug() -> None:
    endpoint = next(iter(CAT.endpoints.values()))
    broken = replace(CAT, endpoints={endpoint.name: replace(endpoint, area="runtime")})
    with pytest.raises(CatalogError, match=f"endpoint {endpoint.name} has area 'runtime'"):
        catalog_module._check(broken)


# --- required parameters ---------------------------------------------------------------------


def _required_query(operations: dict[str, Any]) -> set[str]:
    spec = operations["_spec"]
    names = set()
    for parameter in [*operations.get("parameters", []),
                      *operations.get("get", {}).get("parameters", [])]:
        if "$ref" in parameter:
            parameter = spec["parameters"][parameter["$ref"].rsplit("/", 1)[-1]]
        if parameter.get("required") and parameter.get("in") == "query":
            names.add(parameter["name"])
    return names


@pytest.mark.parametrize("name", sorted(CAT.endpoints))
def test_a_required_query_parameter_is_supplied_or_the_endpoint_is_not_called(
        spec_paths: dict[str, dict[str, Any]], name: str) -> None:
    endpoint = CAT.endpoints[name]
    missing = _required_query(spec_paths[endpoint.path]) - {k for k, _ in endpoint.query}
    assert not missing or endpoint.unprobeable, f"{name}: {missing} required by SAP's spec"


def test_the_deprecated_idempotent_repository_read_is_not_probed() -> None:
    endpoint = CAT.endpoints["IdempotentRepositoryEntries"]
    assert "requires the query parameter id" in endpoint.unprobeable
    assert [n for n, e in CAT.endpoints.items() if e.unprobeable] == [
        "IdempotentRepositoryEntries"]
    assert dict(CAT.endpoints["KeystoreEntries"].query) == {"keystoreName": "system"}


def test_a_plan_keeps_the_check_of_an_unprobeable_endpoint_but_never_calls_it() -> None:
    from cpi_preflight import plan

    from .conftest import cf_data, parse
    profile = parse(cf_data(endpoints=["IdempotentRepositoryEntries"]))
    built = plan.build(profile, CAT)
    assert "endpoint[IdempotentRepositoryEntries]" in {c.id for c in built.checks}
    assert [e.name for e in built.calls] == ["MessageProcessingLogs"]
    assert built.proof_for == {"MonitoringDataRead": "MessageProcessingLogs"}


def test_the_check_of_an_unprobeable_endpoint_is_skipped_with_the_reason() -> None:
    from cpi_preflight import diagnosis, plan
    from cpi_preflight.findings import SKIPPED
    from cpi_preflight.observation import ProfileObservations
    from cpi_preflight.rules import Context

    from .conftest import NOW, cf_data, parse
    profile = parse(cf_data(endpoints=["IdempotentRepositoryEntries"]))
    built = plan.build(profile, CAT)
    check = built.check("endpoint[IdempotentRepositoryEntries]")
    verdict = diagnosis.endpoint_rule(Context(built, ProfileObservations(profile.name), CAT, NOW),
                                      check)
    assert verdict.outcome == SKIPPED
    assert verdict.summary == ("not checked: " + CAT.endpoints["IdempotentRepositoryEntries"]
                               .unprobeable)


def test_a_code_with_an_unknown_severity_is_our_bug() -> None:
    raw = {"severity": "info", "title": "t", "cause": "c", "fix": {"any": "f"}, "source": "s"}
    with pytest.raises(CatalogError) as caught:
        catalog_module._code("SOME_CODE", raw)
    assert str(caught.value) == ("code SOME_CODE in data/codes.yaml has severity 'info'; "
                                 "expected one of failure, warning")


# --- fixes that keep what others need (issue 16, item 7) and smaller corrections (item 9) -------

READ_PARAMS = ("First read the instance's current parameters: `cf service <instance> --params` "
               "(cf CLI v8), or View Parameters on the instance in the BTP cockpit.")
SEND_ALL = ("SAP documents neither whether an update merges the parameters it is given into the "
            "current ones nor whether it replaces them, so send the full object: every role and "
            "parameter of the current ones that others still need stays in it.")


def _instance_updates() -> list[tuple[str, str]]:
    return [(name, text) for name, code in CAT.codes.items() for text in code.fix.values()
            if "update-service" in text]


def test_the_fixes_that_update_the_instance_are_the_known_ones() -> None:
    assert sorted({name for name, _ in _instance_updates()}) == [
        "EXCESS_ROLES", "GRANT_TYPE_NOT_ALLOWED", "ROLE_LOST", "ROLE_MISSING",
        "ROLE_NOT_EFFECTIVE"]


@pytest.mark.parametrize(("name", "text"), _instance_updates())
def test_every_instance_update_reads_the_parameters_first_and_sends_them_all(
        name: str, text: str) -> None:
    assert READ_PARAMS in text, name
    assert text.index(READ_PARAMS) < text.index("`cf update-service")
    assert SEND_ALL in text, name
    assert ("`cf update-service <instance> -c '{{\"roles\":{roles_after_json},"
            "\"grant-types\":[\"{grant_type}\"]}}'`") in text, name
    assert "merg" not in text.replace(SEND_ALL, ""), name  # one sentence says it, everywhere


def test_a_phrase_is_put_in_when_the_codes_are_loaded() -> None:
    raw = {"severity": "failure", "title": "t", "cause": "c", "source": "s",
           "fix": {"cf": "Do it. {phrase:first} Then {role}."}}
    code = catalog_module._code("SOME_CODE", raw, {"first": "First `cf x`."})
    assert code.fix["cf"] == "Do it. First `cf x`. Then {role}."


def test_an_unknown_phrase_is_our_bug() -> None:
    raw = {"severity": "failure", "title": "t", "cause": "c", "source": "s",
           "fix": {"cf": "{phrase:nope}"}}
    with pytest.raises(CatalogError) as caught:
        catalog_module._code("SOME_CODE", raw, {"first": "x"})
    assert str(caught.value) == ("code SOME_CODE in data/codes.yaml uses an unknown phrase "
                                 "{phrase:nope}; known: first")


def test_grant_type_not_allowed_asks_for_a_new_token_not_a_new_key() -> None:
    text = CAT.codes["GRANT_TYPE_NOT_ALLOWED"].fix["cf"]
    assert "create-service-key" not in text
    assert "new service key" not in text
    assert text.endswith("Then fetch a new token; the service key stays valid, as the OAuth "
                         "client belongs to the instance (inferred: SAP does not say so).")
    assert "inferred" in CAT.codes["GRANT_TYPE_NOT_ALLOWED"].source


def test_token_url_wrong_makes_no_claim_about_a_query_string() -> None:
    # SAP's API-client page documents `<tokenurl>?grant_type=client_credentials` (20e26a8)
    assert "query string" not in " ".join(CAT.codes["TOKEN_URL_WRONG"].fix.values())


def test_role_lost_on_neo_does_not_speak_of_an_instance() -> None:
    lost = CAT.codes["ROLE_LOST"]
    assert "instance" not in lost.fix_for("neo")
    assert "oauth_client_{client_id}" in lost.fix_for("neo")


def test_a_rejected_token_on_neo_names_the_tmn_subscription() -> None:
    assert "for the ...tmn subscription" in CAT.codes["TOKEN_REJECTED_BY_API"].fix["neo"]


def test_role_not_effective_does_not_blame_an_old_token() -> None:
    # every run fetches a new token, so "a token issued before the change" cannot be the cause
    assert "issued before" not in CAT.codes["ROLE_NOT_EFFECTIVE"].fix["cf"]


def test_a_new_certificate_key_asks_for_the_longest_documented_validity() -> None:
    text = CAT.codes["CREDENTIAL_EXPIRING"].fix["cf"]
    assert "-c '{{\"key-type\":\"certificate\",\"validity\":365}}'" in text
    assert "0fc1446" in CAT.codes["CREDENTIAL_EXPIRING"].source


def test_secure_parameters_carries_the_contested_note() -> None:
    note = CAT.endpoints["SecureParameters"].note
    assert note.startswith("Contested: SAP's specification says the resource is only available "
                           "in the Neo environment; MCS reports a 200")
    assert CAT.endpoints["SecureParameters"].environments == ("cf", "neo")


def test_the_count_asks_for_text_as_well_as_json() -> None:
    assert CAT.endpoints["MessageProcessingLogsCount"].accept == "text/plain, application/json"
    assert {e.accept for n, e in CAT.endpoints.items()
            if n != "MessageProcessingLogsCount"} == {"application/json"}


def test_the_neo_notice_carries_a_date_sap_publishes_and_its_source() -> None:
    (notice,) = CAT.notices
    assert (notice.environment, notice.date, notice.confidence) == ("neo", "2028-12-31",
                                                                    "documented")
    assert notice.text == "SAP: the Neo environment sunsets on 2028-12-31 (SAP Note 3351844)"
    assert "December 31, 2028" in CAT.sources[notice.source]
    assert "3351844" in CAT.sources[notice.source]
    assert CAT.notices_for("cf") == ()


@pytest.mark.parametrize(("change", "message"), [
    ({"covers": ("MonitoringDataRaed",)},
     "persona AuthGroup_ReadOnly covers unknown role templates ['MonitoringDataRaed']"),
    ({"also": ("TenantPartnerDirectory.reed",)},
     "persona AuthGroup_ReadOnly names permissions that are not Neo roles: "
     "['TenantPartnerDirectory.reed']"),
    ({"name": "AuthGroup_Nobody"}, "persona AuthGroup_Nobody is not a role template"),
])
def test_a_persona_that_names_what_the_catalog_does_not_know_is_our_bug(
        change: dict[str, Any], message: str) -> None:
    persona = dataclasses.replace(CAT.personas["AuthGroup_ReadOnly"], **change)
    broken = dataclasses.replace(CAT, personas={persona.name: persona})
    with pytest.raises(CatalogError) as caught:
        catalog_module._check(broken)
    assert str(caught.value) == message
