"""posture: least privilege decided in permissions, and drift in both directions."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from cpi_preflight import catalog, plan, posture
from cpi_preflight.claims import TokenFacts
from cpi_preflight.findings import FAILED, PASSED, Privilege, TokenAnswer, Verdict
from cpi_preflight.observation import ProfileObservations, TlsCertificate
from cpi_preflight.rules import Context

from .conftest import APP, NOW, cf_data, neo_data, parse

CAT = catalog.load()
CLIENT = "sb-123456789!b1|it!b182722"
HOST = "sub.authentication.example.com"
MONITORING = ("IntegrationOperationServer.read", "NodeManager.read", "Roles.Read")
DOWNLOAD = ("IntegrationOperationServer.read", "NodeManager.read",
            "NodeManager.readsecuritycontent")
READ_PARAMS = ("First read the instance's current parameters: `cf service <instance> --params` "
               "(cf CLI v8), or View Parameters on the instance in the BTP cockpit.")
SEND_ALL = ("SAP documents neither whether an update merges the parameters it is given into the "
            "current ones nor whether it replaces them, so send the full object: every role and "
            "parameter of the current ones that others still need stays in it.")


def token(*permissions: str, extra: tuple[str, ...] = ()) -> TokenFacts:
    scopes = tuple(f"{APP}.{p}" for p in permissions) + extra + (f"{APP}.Default",
                                                                 "uaa.resource")
    return TokenFacts(format="jwt", scopes=scopes)


def context(roles: list[str], facts: TokenFacts | None, *, strict: bool = False,
            baseline: dict[str, Any] | None = None,
            verdicts: dict[str, Verdict] | None = None) -> Context:
    profile = parse(cf_data(required_roles=roles, client_id=CLIENT))
    built = plan.build(profile, CAT, with_baseline=baseline is not None)
    return Context(built, ProfileObservations(profile.name), CAT, NOW,
                   {**issued(built, facts), **(verdicts or {})}, strict, baseline)


def issued(built: plan.Plan, facts: TokenFacts | None) -> dict[str, Verdict]:
    """The passed verdict of the token check that read `facts` (none without a token)."""
    if facts is None:
        return {}
    check = built.check(plan.TOKEN)
    return {check.id: Verdict(check, PASSED, "issued", facts=TokenAnswer(200, 1.0, facts))}


def least_privilege(ctx: Context) -> Verdict:
    return posture.least_privilege_rule(ctx, ctx.plan.check(plan.LEAST_PRIVILEGE))


# --- the reasoning ---------------------------------------------------------------------------


def test_an_extra_permission_is_reported_with_the_template_that_explains_it() -> None:
    found = posture.analyse(token(*MONITORING, *DOWNLOAD), ["MonitoringDataRead"], CAT)
    assert dict(found.extra) == {"NodeManager.readsecuritycontent": ("SecurityMaterialDownload",)}
    assert found.excess == ("SecurityMaterialDownload",)
    assert found.granted == ("MonitoringDataRead", "SecurityMaterialDownload")
    assert found.unknown_scopes == ()


def test_an_overlapping_template_is_not_counted_as_granted() -> None:
    # SecurityMaterialDownload holds IntegrationOperationServer.read and NodeManager.read; a
    # token of it alone must not make MonitoringDataRead (or any subset) an extra template.
    found = posture.analyse(token(*DOWNLOAD, "WebToolingWorkspace.Read"),
                            ["WorkspacePackagesRead"], CAT)
    assert found.excess == ("SecurityMaterialDownload",)
    assert set(found.extra) == set(DOWNLOAD)
    assert "MonitoringDataRead" not in found.granted


def test_a_token_of_exactly_the_required_templates_carries_nothing_extra() -> None:
    found = posture.analyse(token(*DOWNLOAD), ["SecurityMaterialDownload"], CAT)
    assert (dict(found.extra), found.excess, found.granted) == (
        {}, (), ("SecurityMaterialDownload",))


def test_two_templates_are_named_only_when_both_are_needed_to_explain() -> None:
    found = posture.analyse(token(*MONITORING, *DOWNLOAD, "WebToolingWorkspace.Read"),
                            ["WorkspacePackagesRead"], CAT)
    assert found.excess == ("MonitoringDataRead", "SecurityMaterialDownload")
    assert found.extra["Roles.Read"] == ("MonitoringDataRead",)
    assert found.extra["NodeManager.readsecuritycontent"] == ("SecurityMaterialDownload",)


def test_a_template_inside_another_is_not_named_beside_it() -> None:
    edit = CAT.roles["TraceConfigurationEdit"].permissions or ()
    assert set(CAT.roles["TraceConfigurationRead"].permissions or ()) < set(edit)
    found = posture.analyse(token("WebToolingWorkspace.Read", *edit), ["WorkspacePackagesRead"],
                            CAT)
    assert found.excess == ("TraceConfigurationEdit",)
    assert set(found.extra.values()) == {("TraceConfigurationEdit",)}


def test_unknown_scopes_are_listed_never_dropped() -> None:
    found = posture.analyse(token(*MONITORING, "Custom.Thing", extra=("other!b9.Read",)),
                            ["MonitoringDataRead"], CAT)
    assert found.unknown_scopes == (f"{APP}.Custom.Thing", "other!b9.Read")
    assert dict(found.extra) == {"Custom.Thing": (), "Read": ()}


def test_a_permission_only_part_of_a_template_names_the_templates_that_hold_it() -> None:
    found = posture.analyse(token("WebToolingWorkspace.Read", "NodeManager.readsecuritycontent"),
                            ["WorkspacePackagesRead"], CAT)
    assert found.excess == ()
    assert dict(found.extra) == {"NodeManager.readsecuritycontent": ("SecurityMaterialDownload",)}


def test_a_scope_named_after_a_template_is_that_template() -> None:
    found = posture.analyse(token(*MONITORING, "AccessPoliciesRead"), ["MonitoringDataRead"], CAT)
    assert dict(found.extra) == {"AccessPoliciesRead": ("AccessPoliciesRead",)}
    assert posture.analyse(token("AccessPoliciesRead"), ["AccessPoliciesRead"], CAT).extra == {}


def test_neutral_scopes_are_not_extra() -> None:
    assert posture.analyse(token(*MONITORING), ["MonitoringDataRead"], CAT).extra == {}


# --- the least-privilege rule ----------------------------------------------------------------


def test_a_monitoring_token_with_roles_read_passes_even_when_strict() -> None:
    verdict = least_privilege(context(["MonitoringDataRead"], token(*MONITORING), strict=True))
    assert verdict.outcome == PASSED
    assert verdict.summary == ("the token carries only the permissions of required_roles "
                               "(MonitoringDataRead)")


def test_excess_names_permissions_templates_and_unknown_scopes() -> None:
    facts = token(*MONITORING, *DOWNLOAD, "Custom.Thing")
    verdict = least_privilege(context(["MonitoringDataRead"], facts))
    assert verdict.outcome == PASSED  # a warning unless --strict
    (finding,) = verdict.findings
    assert (finding.code, finding.severity, finding.subject) == (
        "EXCESS_ROLES", "warning", "SecurityMaterialDownload")
    assert finding.message == (
        f"the token of client {CLIENT} carries permissions NodeManager.readsecuritycontent (from "
        f"SecurityMaterialDownload) and unknown scopes {APP}.Custom.Thing (no role template in "
        "the catalog grants them) beyond what required_roles (MonitoringDataRead) need")
    assert finding.fix == (
        "Take SecurityMaterialDownload out of the roles of the Process Integration Runtime "
        "instance, or add them to `required_roles:` if the client really needs them. "
        f"{READ_PARAMS} Then send them back without SecurityMaterialDownload, `grant-types` "
        "included; with the roles this token shows that is `cf update-service <instance> -c "
        "'{\"roles\":[\"MonitoringDataRead\"],\"grant-types\":[\"client_credentials\"]}'` "
        f"(cockpit: the instance > Update). {SEND_ALL} A persona (AuthGroup_*) is only "
        "replaced by role templates it covers, so nothing is added.")
    assert verdict.facts == posture.analyse(facts, ["MonitoringDataRead"], CAT)
    assert verdict.facts.excess == ("SecurityMaterialDownload",)
    assert verdict.facts.unknown_scopes == (f"{APP}.Custom.Thing",)


def test_excess_fails_when_strict() -> None:
    verdict = least_privilege(context(["MonitoringDataRead"], token(*MONITORING, *DOWNLOAD),
                                      strict=True))
    assert verdict.outcome == FAILED
    assert verdict.findings[0].severity == "failure"


def test_a_permission_several_templates_explain_names_one_for_example() -> None:
    facts = token(*MONITORING, *DOWNLOAD, "WebToolingWorkspace.Read")
    verdict = least_privilege(context(["WorkspacePackagesRead"], facts))
    assert verdict.findings[0].message == (
        f"the token of client {CLIENT} carries permissions IntegrationOperationServer.read (for "
        "example from MonitoringDataRead); NodeManager.read (for example from "
        "MonitoringDataRead); NodeManager.readsecuritycontent (from SecurityMaterialDownload); "
        "Roles.Read (from MonitoringDataRead) beyond what required_roles (WorkspacePackagesRead) "
        "need")


def test_a_part_held_template_is_named_as_such() -> None:
    verdict = least_privilege(context(["WorkspacePackagesRead"],
                                      token("WebToolingWorkspace.Read", "AccessPolicies.Read")))
    assert verdict.findings[0].message == (
        f"the token of client {CLIENT} carries permissions AccessPolicies.Read (part of "
        "AccessPoliciesRead, not held in full) beyond what required_roles "
        "(WorkspacePackagesRead) need")


# --- personas ----------------------------------------------------------------------------------


def persona_context(roles: list[str], facts: TokenFacts, endpoints: list[str] | None = None
                    ) -> Context:
    profile = parse(cf_data(required_roles=roles, client_id=CLIENT, endpoints=endpoints or []))
    built = plan.build(profile, CAT)
    return Context(built, ProfileObservations(profile.name), CAT, NOW, issued(built, facts))


def test_a_persona_is_named_as_such_and_replaced_only_by_templates_it_covers() -> None:
    facts = token("AuthGroup.IntegrationDeveloper")
    verdict = least_privilege(persona_context(["MonitoringDataRead", "WorkspaceArtifactsDeploy"],
                                              facts))
    (finding,) = verdict.findings
    assert (finding.code, finding.subject) == ("EXCESS_ROLES", "AuthGroup_IntegrationDeveloper")
    assert finding.message == (
        f"the token of client {CLIENT} carries persona AuthGroup_IntegrationDeveloper (it covers "
        "22 role templates in SAP's tasks table) beyond what required_roles (MonitoringDataRead, "
        "WorkspaceArtifactsDeploy) need; AuthGroup_IntegrationDeveloper can be replaced by the "
        "role templates MonitoringDataRead, WorkspaceArtifactsDeploy, which it covers, so "
        "nothing is added")
    assert ("`cf update-service <instance> -c '{\"roles\":[\"MonitoringDataRead\","
            "\"WorkspaceArtifactsDeploy\"],\"grant-types\":[\"client_credentials\"]}'`"
            ) in finding.fix
    assert isinstance(verdict.facts, Privilege)
    assert verdict.facts.personas == ("AuthGroup_IntegrationDeveloper",)
    assert dict(verdict.facts.replaced_by) == {
        "AuthGroup_IntegrationDeveloper": ("MonitoringDataRead", "WorkspaceArtifactsDeploy")}


def test_a_read_only_persona_is_never_swapped_for_a_template_that_writes() -> None:
    """AuthGroup_ReadOnly reads the Partner Directory; the template Partners names also writes
    it: the least-privilege check must not suggest the swap."""
    ctx = persona_context([], token("AuthGroup.ReadOnly"), endpoints=["Partners"])
    verdict = least_privilege(ctx)
    assert (verdict.outcome, verdict.findings) == (PASSED, ())
    assert verdict.summary == (
        "persona AuthGroup_ReadOnly covers more than required_roles and the endpoints' roles "
        "(AuthGroup_TenantPartnerDirectoryConfigurator) need, but no narrower role template "
        "allows the calls of AuthGroup_TenantPartnerDirectoryConfigurator without adding "
        "permissions (AuthGroup_TenantPartnerDirectoryConfigurator would add "
        "CertificateUserMappings.Read, CertificateUserMappings.Write, "
        "NodeManager.deploycredentials, NodeManager.readcredentials, "
        "TenantPartnerDirectory.write)")
    assert isinstance(verdict.facts, Privilege)
    assert dict(verdict.facts.kept) == {
        "AuthGroup_ReadOnly": ("AuthGroup_TenantPartnerDirectoryConfigurator",)}
    assert verdict.facts.granted == ("AuthGroup_ReadOnly",)


def test_a_required_persona_carried_as_its_group_is_not_excess() -> None:
    found = posture.analyse(token("AuthGroup.TenantPartnerDirectoryConfigurator"),
                            ["AuthGroup_TenantPartnerDirectoryConfigurator"], CAT)
    assert (dict(found.extra), found.excess) == ({}, ())
    assert found.granted == ("AuthGroup_TenantPartnerDirectoryConfigurator",)


def test_a_persona_carried_as_its_group_scope_is_shown_as_its_template() -> None:
    facts = token(*MONITORING, "AuthGroup.TenantPartnerDirectoryConfigurator")
    assert posture.granted_templates(facts, CAT, ["MonitoringDataRead"]) == [
        "AuthGroup_TenantPartnerDirectoryConfigurator", "MonitoringDataRead"]
    assert posture.analyse(facts, ["MonitoringDataRead"], CAT).unknown_scopes == ()


def test_a_fix_sends_the_roles_the_token_shows_with_the_change_applied() -> None:
    ctx = persona_context(["MonitoringDataRead"], token(*MONITORING, "AuthGroup.ReadOnly"))
    assert posture.roles_after_json(ctx, add=["AccessAllAccessPoliciesArtifacts"]) == (
        '["MonitoringDataRead","AuthGroup_ReadOnly","AccessAllAccessPoliciesArtifacts"]')
    assert posture.roles_after_json(ctx, remove=["AuthGroup_ReadOnly"]) == (
        '["MonitoringDataRead"]')


# --- drift -----------------------------------------------------------------------------------


def _row(role: str, granted: str = "yes", result: str = "passed") -> dict[str, str]:
    return {"role": role, "granted_by_token": granted, "result": result}


def drift(ctx: Context) -> Verdict:
    return posture.drift_rule(ctx, ctx.plan.check(plan.DRIFT))


def test_a_role_not_required_and_no_longer_granted_is_lost_as_a_warning() -> None:
    baseline = {"_path": "base.json", "roles": [_row("MonitoringDataRead"),
                                                _row("AccessPoliciesRead")]}
    verdict = drift(context(["MonitoringDataRead"], token(*MONITORING), baseline=baseline))
    assert verdict.outcome == PASSED
    (finding,) = verdict.findings
    assert (finding.code, finding.severity, finding.subject) == (
        "ROLE_LOST", "warning", "AccessPoliciesRead")
    assert finding.message == ("role AccessPoliciesRead was granted in the baseline (base.json) "
                               "and is not now (the profile does not require it)")


def test_a_required_role_whose_check_now_fails_is_lost_as_a_failure() -> None:
    profile_ctx = context(["MonitoringDataRead"], token("IntegrationOperationServer.read"),
                          baseline={"_path": "b.json", "roles": [_row("MonitoringDataRead")]})
    check = profile_ctx.plan.check(plan.role_check_id("MonitoringDataRead"))
    profile_ctx.verdicts[check.id] = Verdict(check, FAILED, "missing")
    verdict = drift(profile_ctx)
    assert verdict.outcome == FAILED
    assert [(f.code, f.severity) for f in verdict.findings] == [("ROLE_LOST", "failure")]
    assert verdict.findings[0].message == (  # no "(the profile does not require it)"
        "role MonitoringDataRead was granted in the baseline (b.json) and is not now")


def test_a_lost_role_on_cloud_foundry_is_added_back_with_the_full_object() -> None:
    ctx = context(["MonitoringDataRead"], token(*MONITORING),
                  baseline={"_path": "b.json", "roles": [_row("MonitoringDataRead"),
                                                         _row("AccessPoliciesRead")]})
    (finding,) = drift(ctx).findings
    assert finding.fix == (
        "Find out who changed the instance's roles (the subaccount's audit log). If "
        f"AccessPoliciesRead is still needed, add it back. {READ_PARAMS} Then send them back "
        "with AccessPoliciesRead added, `grant-types` included; with the roles this token shows "
        "that is `cf update-service <instance> -c '{\"roles\":[\"MonitoringDataRead\","
        "\"AccessPoliciesRead\"],\"grant-types\":[\"client_credentials\"]}'` (cockpit: the "
        f"instance > Update). {SEND_ALL} Then create a new baseline.")


def test_a_lost_role_on_neo_speaks_of_role_assignments_not_of_an_instance() -> None:
    profile = parse(neo_data(client_id="0123456789abcdef0123"))
    built = plan.build(profile, CAT, with_baseline=True)
    ctx = Context(built, ProfileObservations(profile.name), CAT, NOW, {}, False,
                  {"_path": "b.json", "roles": [_row("IntegrationOperationServer.read")]})
    check = built.check(plan.role_check_id("IntegrationOperationServer.read"))
    ctx.verdicts[check.id] = Verdict(check, FAILED, "missing")
    (finding,) = drift(ctx).findings
    assert finding.fix == (
        "Find out who changed the role assignments of user oauth_client_0123456789abcdef0123 on "
        "the ...tmn application (Neo cockpit > Security > Authorizations; the audit log). If "
        "IntegrationOperationServer.read is still needed, assign "
        "IntegrationOperationServer.read again, then create a new baseline.")
    assert "instance" not in finding.fix


def test_a_gained_role_is_reported_and_a_kept_one_is_not() -> None:
    baseline = {"_path": "b.json", "roles": [_row("MonitoringDataRead")]}
    verdict = drift(context(["MonitoringDataRead"], token(*MONITORING, *DOWNLOAD),
                            baseline=baseline))
    assert [(f.code, f.subject) for f in verdict.findings] == [
        ("ROLE_GAINED", "SecurityMaterialDownload")]


@pytest.mark.parametrize("facts", [None, TokenFacts(format="opaque")])
def test_without_scopes_no_role_is_called_lost(facts: TokenFacts | None) -> None:
    baseline = {"_path": "b.json", "roles": [_row("AccessPoliciesRead")]}
    assert drift(context(["MonitoringDataRead"], facts, baseline=baseline)).findings == ()


def test_roles_an_endpoint_adds_are_not_attributed_to_required_roles() -> None:
    profile = parse(cf_data(required_roles=["MonitoringDataRead"], client_id=CLIENT,
                            endpoints=["MessageProcessingLogs", "IntegrationPackages"]))
    built = plan.build(profile, CAT)
    facts = token(*MONITORING, "WebToolingWorkspace.Read", "AccessPolicies.Read")
    ctx = Context(built, ProfileObservations(profile.name), CAT, NOW, issued(built, facts))
    (finding,) = least_privilege(ctx).findings
    assert finding.message == (
        f"the token of client {CLIENT} carries permissions AccessPolicies.Read (from "
        "AccessPoliciesRead) beyond what required_roles and the endpoints' roles "
        "(MonitoringDataRead, WorkspacePackagesRead) need")


# --- server certificates -----------------------------------------------------------------------


def tls_expiry(days_left: float, *, strict: bool = False) -> Verdict:
    """The tls-expiry verdict for a token host whose certificate ends `days_left` after NOW
    (the profile's warning window: the default, 30 days)."""
    ctx = context(["MonitoringDataRead"], None, strict=strict)
    ctx.seen.server_certificates[HOST] = TlsCertificate(
        HOST, "CN=*.example.com", "CN=CA", (NOW + timedelta(days=days_left)).isoformat())
    return posture.tls_expiry_rule(ctx, ctx.plan.check(plan.TLS_EXPIRY))


@pytest.mark.parametrize(("days_left", "strict", "outcome", "severity", "until"), [
    (10, False, PASSED, "warning", "2025-06-11T12:00:00+00:00"),
    (29, False, PASSED, "warning", "2025-06-30T12:00:00+00:00"),
    (10, True, FAILED, "failure", "2025-06-11T12:00:00+00:00")])
def test_a_server_certificate_inside_the_warning_window_is_expiring(
        days_left: int, strict: bool, outcome: str, severity: str, until: str) -> None:
    verdict = tls_expiry(days_left, strict=strict)
    assert verdict.outcome == outcome
    (finding,) = verdict.findings
    assert (finding.code, finding.severity, finding.subject) == (
        "TLS_CERT_EXPIRING", severity, HOST)
    assert finding.message == (
        f"the server certificate of {HOST} (CN=*.example.com) expires {until} "
        f"(in {days_left} days, warning window 30 days)")
    assert verdict.summary == finding.message


def test_a_server_certificate_beyond_the_warning_window_passes() -> None:
    verdict = tls_expiry(30)
    assert (verdict.outcome, verdict.findings) == (PASSED, ())
    assert verdict.summary == ("1 server certificate(s) valid beyond 30 days (earliest: "
                               f"{HOST} until 2025-07-01T12:00:00+00:00)")


# --- pinned by mutation testing (mutation/run posture) -----------------------------------


@pytest.mark.parametrize(("path", "source", "in_fix"), [
    ("b.json", "b.json", "b.json"), (None, "the baseline", '"the baseline"')])
def test_an_endpoint_that_answered_in_the_baseline_and_fails_now_regressed(
        path: str | None, source: str, in_fix: str) -> None:
    endpoints = ["MessageProcessingLogs", "IntegrationPackages", "IntegrationRuntimeArtifacts",
                 "LogFiles"]
    baseline: dict[str, Any] = {
        "roles": [_row("MonitoringDataRead"), _row("WorkspacePackagesRead")],
        "endpoints": [
            {"name": "MessageProcessingLogs", "path": "/elsewhere",  # the catalog's path is shown
             "result": "passed"},
            {"name": "IntegrationPackages", "result": "passed"},
            {"name": "IntegrationRuntimeArtifacts", "result": "failed"},  # failed before too
            {"name": "LogFiles", "result": "passed"},  # passes now
            "not a row"]}
    if path is not None:
        baseline["_path"] = path
    profile = parse(cf_data(required_roles=["MonitoringDataRead"], client_id=CLIENT,
                            endpoints=endpoints))
    built = plan.build(profile, CAT, with_baseline=True)
    ctx = Context(built, ProfileObservations(profile.name), CAT, NOW,
                  issued(built, token(*MONITORING, "WebToolingWorkspace.Read")), False, baseline)
    for name in endpoints:
        check = built.check(f"endpoint[{name}]")
        outcome = PASSED if name == "LogFiles" else FAILED
        ctx.verdicts[check.id] = Verdict(check, outcome, f"{name} said 403")
    verdict = drift(ctx)
    assert verdict.outcome == FAILED
    fix = ("See the endpoint's own finding for the cause; compare with the baseline's evidence "
           f"({in_fix}).")
    assert [(f.code, f.severity, f.subject, f.message, f.fix) for f in verdict.findings] == [
        ("ENDPOINT_REGRESSED", "failure", "MessageProcessingLogs",
         f"GET /api/v1/MessageProcessingLogs answered in the baseline ({source}) and now "
         "failed: MessageProcessingLogs said 403", fix),
        ("ENDPOINT_REGRESSED", "failure", "IntegrationPackages",
         f"GET /api/v1/IntegrationPackages answered in the baseline ({source}) and now failed: "
         "IntegrationPackages said 403", fix)]


def test_an_expired_server_certificate_has_0_days_left() -> None:
    (finding,) = tls_expiry(-3).findings
    assert finding.message == (
        f"the server certificate of {HOST} (CN=*.example.com) expires "
        "2025-05-29T12:00:00+00:00 (in 0 days, warning window 30 days)")


@pytest.mark.parametrize(("roles", "replaced"), [
    (["MonitoringDataRead", "AccessPoliciesRead"],
     "the role templates MonitoringDataRead, AccessPoliciesRead"),
    (["MonitoringDataRead"], "the role template MonitoringDataRead"),
])
def test_a_persona_is_replaced_by_the_templates_it_covers(roles: list[str],
                                                          replaced: str) -> None:
    verdict = least_privilege(context(roles, token(extra=(f"{APP}.AuthGroup.ReadOnly",))))
    assert verdict.summary == (
        f"the token of client {CLIENT} carries persona AuthGroup_ReadOnly (it covers 12 role "
        f"templates in SAP's tasks table) beyond what required_roles ({', '.join(roles)}) "
        f"need; AuthGroup_ReadOnly can be replaced by {replaced}, which it covers, so nothing "
        "is added")


def test_unknown_scopes_are_named_in_full_as_the_subject() -> None:
    verdict = least_privilege(context(["MonitoringDataRead"],
                                      token(*MONITORING, "Weird.one", "Odd.two")))
    scopes = f"{APP}.Weird.one, {APP}.Odd.two"
    assert verdict.summary == (
        f"the token of client {CLIENT} carries unknown scopes {scopes} (no role template in the "
        "catalog grants them) beyond what required_roles (MonitoringDataRead) need")
    assert [f.subject for f in verdict.findings] == [scopes]


def test_a_permission_of_templates_not_held_in_full_names_each() -> None:
    verdict = least_privilege(context(["MonitoringDataRead"],
                                      token(*MONITORING, "WebToolingWorkspace.Write")))
    assert verdict.summary == (
        f"the token of client {CLIENT} carries permissions WebToolingWorkspace.Write (part of "
        "CatalogPackagesCopy or WorkspacePackagesEdit, not held in full) beyond what "
        "required_roles (MonitoringDataRead) need")


def test_the_excess_fix_sends_the_roles_the_token_shows_not_those_required() -> None:
    verdict = least_privilege(context(["MonitoringDataRead", "AccessPoliciesRead"],
                                      token(*MONITORING, *DOWNLOAD)))
    (finding,) = verdict.findings
    assert ("that is `cf update-service <instance> -c '{\"roles\":[\"MonitoringDataRead\"],"
            "\"grant-types\":[\"client_credentials\"]}'`") in finding.fix


# --- mutation: posture ---------------------------------------------------------------------


def catalog_with(endpoint: str, role: str, neo_roles: tuple[str, ...]) -> catalog.Catalog:
    """The shipped catalog with one more endpoint (a copy of Partners): an API SAP may add,
    whose calls a persona allows without covering its role."""
    added = replace(CAT.endpoints["Partners"], name=endpoint, role=role, neo_roles=neo_roles)
    return replace(CAT, endpoints={**CAT.endpoints, endpoint: added})


def context_in(cat: catalog.Catalog, roles: list[str], facts: TokenFacts,
               endpoints: list[str] | None = None) -> Context:
    profile = parse(cf_data(required_roles=roles, client_id=CLIENT, endpoints=endpoints or []))
    built = plan.build(profile, cat)
    return Context(built, ProfileObservations(profile.name), cat, NOW, issued(built, facts))


def test_a_persona_carried_only_as_its_group_is_excess_as_a_persona() -> None:
    # AuthGroup_TenantPartnerDirectoryConfigurator's permissions do not hold its group: the
    # group scope alone makes the token hold the persona
    verdict = least_privilege(context(
        ["MonitoringDataRead"], token(*MONITORING, "AuthGroup.TenantPartnerDirectoryConfigurator")))
    (finding,) = verdict.findings
    assert finding.subject == "AuthGroup_TenantPartnerDirectoryConfigurator"
    assert finding.message == (
        f"the token of client {CLIENT} carries persona "
        "AuthGroup_TenantPartnerDirectoryConfigurator (it covers 0 role templates in SAP's tasks "
        "table) beyond what required_roles (MonitoringDataRead) need")


def test_a_token_of_exactly_one_templates_permissions_holds_that_template() -> None:
    scopes = tuple(f"{APP}.{p}" for p in DOWNLOAD)  # no neutral scope beside them
    found = posture.analyse(TokenFacts(format="jwt", scopes=scopes), ["MonitoringDataRead"], CAT)
    assert (found.excess, found.granted) == (
        ("SecurityMaterialDownload",), ("SecurityMaterialDownload",))


def test_a_held_template_that_explains_nothing_extra_is_not_named() -> None:
    # WorkspacePackagesRead lies inside the required WorkspacePackagesEdit: held, explains
    # nothing beyond it
    edit = CAT.roles["WorkspacePackagesEdit"].permissions or ()
    verdict = least_privilege(context(["WorkspacePackagesEdit"], token(*edit, "Custom.Thing")))
    (finding,) = verdict.findings
    assert finding.subject == f"{APP}.Custom.Thing"
    assert finding.message == (
        f"the token of client {CLIENT} carries unknown scopes {APP}.Custom.Thing (no role "
        "template in the catalog grants them) beyond what required_roles (WorkspacePackagesEdit) "
        "need")
    assert isinstance(verdict.facts, Privilege)
    assert verdict.facts.excess == ()


PARTNER_ADDS = ("CertificateUserMappings.Read, CertificateUserMappings.Write, "
                "NodeManager.deploycredentials, NodeManager.readcredentials, "
                "TenantPartnerDirectory.write")


def test_a_required_persona_does_not_stop_the_others_from_being_kept() -> None:
    ctx = persona_context(["AuthGroup_IntegrationDeveloper"],
                          token("AuthGroup.IntegrationDeveloper", "AuthGroup.ReadOnly"),
                          endpoints=["Partners"])
    verdict = least_privilege(ctx)
    assert (verdict.outcome, verdict.findings) == (PASSED, ())
    assert verdict.summary == (
        "persona AuthGroup_ReadOnly covers more than required_roles and the endpoints' roles "
        "(AuthGroup_IntegrationDeveloper, AuthGroup_TenantPartnerDirectoryConfigurator) need, "
        "but no narrower role template allows the calls of "
        "AuthGroup_TenantPartnerDirectoryConfigurator without adding permissions "
        f"(AuthGroup_TenantPartnerDirectoryConfigurator would add {PARTNER_ADDS})")


def test_two_kept_personas_are_named_one_after_the_other() -> None:
    ctx = persona_context([], token("AuthGroup.IntegrationDeveloper", "AuthGroup.ReadOnly"),
                          endpoints=["Partners"])
    need = ("covers more than required_roles and the endpoints' roles "
            "(AuthGroup_TenantPartnerDirectoryConfigurator) need, but no narrower role template "
            "allows the calls of AuthGroup_TenantPartnerDirectoryConfigurator without adding "
            "permissions (AuthGroup_TenantPartnerDirectoryConfigurator would add")
    assert least_privilege(ctx).summary == (
        f"persona AuthGroup_IntegrationDeveloper {need} CertificateUserMappings.Read, "
        f"CertificateUserMappings.Write, TenantPartnerDirectory.write); persona "
        f"AuthGroup_ReadOnly {need} {PARTNER_ADDS})")


def test_a_persona_kept_for_two_roles_names_both() -> None:
    cat = catalog_with("PartnerCopies", "SecurityMaterialDownload",
                       ("TenantPartnerDirectory.read",))
    verdict = least_privilege(context_in(cat, ["SecurityMaterialDownload"],
                                         token("AuthGroup.ReadOnly"), endpoints=["Partners"]))
    both = "SecurityMaterialDownload, AuthGroup_TenantPartnerDirectoryConfigurator"
    assert (verdict.outcome, verdict.findings) == (PASSED, ())
    assert verdict.summary == (
        f"persona AuthGroup_ReadOnly covers more than required_roles and the endpoints' roles "
        f"({both}) need, but no narrower role template allows the calls of {both} without "
        "adding permissions (SecurityMaterialDownload and "
        "AuthGroup_TenantPartnerDirectoryConfigurator would add CertificateUserMappings.Read, "
        "CertificateUserMappings.Write, NodeManager.deploycredentials, "
        "NodeManager.readcredentials, NodeManager.readsecuritycontent, "
        "TenantPartnerDirectory.write)")


def test_a_persona_whose_reach_is_exactly_what_a_call_needs_is_kept() -> None:
    # AuthGroup_ContentPublisher stands for its group alone; a call needing just that group
    cat = catalog_with("Publications", "SecurityMaterialDownload", ("AuthGroup.ContentPublisher",))
    verdict = least_privilege(context_in(cat, ["SecurityMaterialDownload"],
                                         token("AuthGroup.ContentPublisher")))
    assert (verdict.outcome, verdict.findings) == (PASSED, ())
    assert isinstance(verdict.facts, Privilege)
    assert dict(verdict.facts.kept) == {"AuthGroup_ContentPublisher": ("SecurityMaterialDownload",)}


def test_a_persona_that_neither_covers_nor_serves_a_role_is_excess_and_not_its_replacement(
        ) -> None:
    # AuthGroup_ReadOnly does not cover SecurityMaterialDownload, and no call of that template
    # lies within its reach (others do)
    verdict = least_privilege(context(["SecurityMaterialDownload"], token("AuthGroup.ReadOnly")))
    (finding,) = verdict.findings
    assert finding.message == (
        f"the token of client {CLIENT} carries persona AuthGroup_ReadOnly (it covers 12 role "
        "templates in SAP's tasks table) beyond what required_roles (SecurityMaterialDownload) "
        "need")
    assert isinstance(verdict.facts, Privilege)
    assert (dict(verdict.facts.kept), dict(verdict.facts.replaced_by)) == (
        {}, {"AuthGroup_ReadOnly": ()})


def test_two_replaceable_personas_are_named_one_after_the_other() -> None:
    verdict = least_privilege(context(["MonitoringDataRead"],
                                      token("AuthGroup.ReadOnly", "AuthGroup.BusinessExpert")))
    assert verdict.summary == (
        f"the token of client {CLIENT} carries persona AuthGroup_BusinessExpert (it covers 13 "
        "role templates in SAP's tasks table) and persona AuthGroup_ReadOnly (it covers 12 role "
        "templates in SAP's tasks table) beyond what required_roles (MonitoringDataRead) need; "
        "AuthGroup_BusinessExpert can be replaced by the role template MonitoringDataRead, which "
        "it covers, so nothing is added; AuthGroup_ReadOnly can be replaced by the role template "
        "MonitoringDataRead, which it covers, so nothing is added")


def test_a_template_lost_on_neo_names_each_of_its_neo_roles() -> None:
    profile = parse(neo_data(required_roles=["MonitoringDataRead"]))
    built = plan.build(profile, CAT, with_baseline=True)
    ctx = Context(built, ProfileObservations(profile.name), CAT, NOW, {}, False,
                  {"_path": "b.json", "roles": [_row("MonitoringDataRead")]})
    check = built.check(plan.role_check_id("MonitoringDataRead"))
    ctx.verdicts[check.id] = Verdict(check, FAILED, "missing")
    (finding,) = drift(ctx).findings
    assert finding.fix.endswith(
        "If MonitoringDataRead is still needed, assign IntegrationOperationServer.read, "
        "NodeManager.read, Roles.Read again, then create a new baseline.")


def test_a_required_template_inside_a_gained_one_is_gained_too() -> None:
    # the profile now requires WorkspacePackagesRead; the token carries WorkspacePackagesEdit,
    # which holds it: both are granted now, neither was in the baseline
    edit = CAT.roles["WorkspacePackagesEdit"].permissions or ()
    ctx = context(["WorkspacePackagesRead"], token(*edit),
                  baseline={"_path": "b.json", "roles": [_row("MonitoringDataRead")]})
    assert [(f.code, f.subject) for f in drift(ctx).findings] == [
        ("ROLE_LOST", "MonitoringDataRead"), ("ROLE_GAINED", "WorkspacePackagesEdit"),
        ("ROLE_GAINED", "WorkspacePackagesRead")]


def test_a_baseline_whose_token_granted_nothing_known_gains_nothing() -> None:
    # a baseline from a run whose token showed no scopes: its rows say "unknown"
    baseline = {"_path": "b.json", "roles": [_row("MonitoringDataRead", granted="unknown")]}
    verdict = drift(context(["MonitoringDataRead"], token(*MONITORING, *DOWNLOAD),
                            baseline=baseline))
    assert (verdict.outcome, verdict.findings) == (PASSED, ())
