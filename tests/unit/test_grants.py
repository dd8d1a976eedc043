"""grants: what a Cloud Foundry token's scopes grant, role by role and persona by persona."""

from __future__ import annotations

import pytest

from cpi_preflight import catalog, grants
from cpi_preflight.claims import TokenFacts
from cpi_preflight.grants import Grant

CAT = catalog.load()
APP = "it!b182722"
MONITORING = ("IntegrationOperationServer.read", "NodeManager.read", "Roles.Read")


def token(*permissions: str, fmt: str = "jwt") -> TokenFacts:
    return TokenFacts(format=fmt, scopes=tuple(f"{APP}.{p}" for p in permissions))


@pytest.mark.parametrize("facts", [None, token("AuthGroup.Administrator", fmt="opaque")])
def test_without_a_readable_token_nothing_is_known(facts: TokenFacts | None) -> None:
    assert grants.held_personas(facts, CAT) == ()
    assert grants.unknown_groups(facts, CAT) == ()
    assert grants.grant("MonitoringDataRead", facts, CAT) == Grant("unknown")


def test_personas_are_held_by_group_or_by_template_name_in_the_catalog_s_order() -> None:
    facts = token("AuthGroup.ReadOnly", "AuthGroup_Administrator", "NodeManager.read")
    assert grants.held_personas(facts, CAT) == ("AuthGroup_Administrator", "AuthGroup_ReadOnly")


def test_unknown_groups_are_the_full_scopes_of_groups_no_persona_has() -> None:
    facts = token("AuthGroup.ReadOnly", "AuthGroup.SystemDeveloper", "NodeManager.read",
                  "Other.AuthGroup.X")
    assert grants.unknown_groups(facts, CAT) == (f"{APP}.AuthGroup.SystemDeveloper",)


def test_a_persona_covers_its_own_template_and_its_tasks_only() -> None:
    read_only = CAT.personas["AuthGroup_ReadOnly"]
    assert grants.covers(read_only, "AuthGroup_ReadOnly")
    assert grants.covers(read_only, "MonitoringDataRead")
    assert not grants.covers(read_only, "MessagePayloadsRead")


def test_a_persona_reaches_its_group_its_extras_and_its_templates_permissions() -> None:
    configurator = CAT.personas["AuthGroup_TenantPartnerDirectoryConfigurator"]
    own = CAT.roles["AuthGroup_TenantPartnerDirectoryConfigurator"].permissions or ()
    assert grants.reach(configurator, CAT) == frozenset(
        {"AuthGroup.TenantPartnerDirectoryConfigurator", *own})
    read_only = grants.reach(CAT.personas["AuthGroup_ReadOnly"], CAT)
    assert {"AuthGroup.ReadOnly", "TenantPartnerDirectory.read", *MONITORING} <= read_only
    assert "TenantPartnerDirectory.write" not in read_only


def test_a_role_is_held_directly_by_its_permissions_or_a_scope_named_after_it() -> None:
    assert grants.holds_directly("MonitoringDataRead", token(*MONITORING), CAT) == Grant("yes")
    assert grants.holds_directly("MonitoringDataRead", token("MonitoringDataRead"),
                                 CAT) == Grant("yes")
    assert grants.holds_directly("MonitoringDataRead", token("XMonitoringDataRead"),
                                 CAT) == Grant("no", MONITORING)
    assert grants.holds_directly("MonitoringDataRead", token("NodeManager.read"), CAT) == Grant(
        "no", ("IntegrationOperationServer.read", "Roles.Read"))


def test_a_role_without_a_permission_list_is_unknown_and_a_neo_role_is_its_own_permission(
        ) -> None:
    assert grants.holds_directly("UserRolesEdit", token(*MONITORING), CAT) == Grant("unknown")
    assert grants.holds_directly("NodeManager.read", token("NodeManager.read"),
                                 CAT) == Grant("yes")
    assert grants.holds_directly("NodeManager.read", token(), CAT) == Grant(
        "no", ("NodeManager.read",))


def test_grant_directly_by_persona_or_unknown_behind_an_unknown_group() -> None:
    assert grants.grant("MonitoringDataRead", token(*MONITORING, "AuthGroup.ReadOnly"),
                        CAT) == Grant("yes")
    assert grants.grant("MonitoringDataRead", token("AuthGroup.ReadOnly"), CAT) == Grant(
        "yes", persona="AuthGroup_ReadOnly")
    assert grants.grant("MonitoringDataRead", token("NodeManager.read",
                                                    "AuthGroup.SystemDeveloper"), CAT) == Grant(
        "unknown", ("IntegrationOperationServer.read", "Roles.Read"))
    assert grants.grant("MessagePayloadsRead", token("AuthGroup.ReadOnly"), CAT).granted == "no"


def test_the_covering_persona_is_the_first_held_that_covers_the_role() -> None:
    facts = token("AuthGroup.BusinessExpert", "AuthGroup.ReadOnly")
    assert grants.covering_persona("MonitoringDataRead", facts, CAT) == "AuthGroup_BusinessExpert"
    assert grants.covering_persona("AccessPoliciesRead", facts, CAT) == "AuthGroup_ReadOnly"
    assert grants.covering_persona("QueuesRetry", facts, CAT) == ""


def test_a_serving_persona_allows_the_call_without_covering_the_role() -> None:
    facts = token("AuthGroup.ReadOnly")
    partners = ("TenantPartnerDirectory.read",)
    role = "AuthGroup_TenantPartnerDirectoryConfigurator"
    assert grants.serving_persona(partners, role, facts, CAT) == "AuthGroup_ReadOnly"
    assert grants.serving_persona(partners, "AuthGroup_ReadOnly", facts, CAT) == ""
    assert grants.serving_persona(("TenantPartnerDirectory.write",), role, facts, CAT) == ""
    assert grants.serving_persona(partners, role, None, CAT) == ""
    everything = tuple(sorted(grants.reach(CAT.personas["AuthGroup_ReadOnly"], CAT)))
    assert grants.serving_persona(everything, role, facts, CAT) == "AuthGroup_ReadOnly"
