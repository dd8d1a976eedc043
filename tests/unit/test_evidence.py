"""The go-live evidence: evidence.json against its schema, its SHA-256, and evidence.html."""

from __future__ import annotations

import copy
import hashlib
import html
import json
import re
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpi_preflight import (
    __version__,
    baseline,
    catalog,
    diagnosis,
    plan,
    posture,
    transport,
)
from cpi_preflight import profile as profile_module
from cpi_preflight.claims import TokenFacts
from cpi_preflight.findings import (
    FAILED,
    PASSED,
    SKIPPED,
    Call,
    Facts,
    Finding,
    Privilege,
    RoleFacts,
    TokenAnswer,
    Verdict,
)
from cpi_preflight.observation import Attempt, ConnectionUse, Exchange, ProfileObservations
from cpi_preflight.plan import Plan
from cpi_preflight.reporting import document, junit, reports, terminal
from cpi_preflight.reporting import html as html_report
from cpi_preflight.reporting.document import Document
from cpi_preflight.secret import MASK, Secret, register
from cpi_preflight.text import one_line

CLIENT_SECRET = "s3cr3t-Value$+="
FAKE_TOKEN = ("eyJhbGciOiJSUzI1NiIsImtpZCI6ImtleS0xIn0.eyJzdWIiOiJldmlkZW5jZS10ZXN0LXRva2VuIn0."
              "ZmFrZS1zaWduYXR1cmUtZm9yLWV2aWRlbmNl")
CLIENT_ID = "sb-a1b2c3d4e5f6!b42|it!b182722"
API_URL = "https://acme.it-cpi018.cfapps.eu10.hana.ondemand.com"
TOKEN_URL = "https://acme.authentication.eu10.hana.ondemand.com/oauth/token"
STARTED = datetime(2025, 5, 1, 10, 0, 0, tzinfo=UTC)
SCRIPT = "<script>alert('x')</script>"
SECRET_FORMS = (CLIENT_SECRET, quote(CLIENT_SECRET, safe=""), quote_plus(CLIENT_SECRET),
                FAKE_TOKEN)

SCHEMA = json.loads(resources.files("cpi_preflight").joinpath("data", "evidence.schema.json")
                    .read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


# --- sample run --------------------------------------------------------------------------


def sample_plan(**keys: Any) -> Plan:
    data = {"environment": "cf", "description": "Monitoring client for the prod tenant",
            "api_url": API_URL, "token_url": TOKEN_URL, "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "required_roles": ["WorkspacePackagesRead"],
            "endpoints": ["MessageProcessingLogs", "IntegrationPackages"], **keys}
    prof = profile_module.parse("prod-cf", Path("profiles/prod-cf.yaml"), data, {})
    return plan.build(prof, catalog.load())


def sample_token() -> TokenFacts:
    return TokenFacts(
        format="jwt", issuer=TOKEN_URL, zone="0d9a1f2e-zone", subaccount="5c1e-subaccount",
        client_id=CLIENT_ID, grant_type="client_credentials",
        expires_at=STARTED + timedelta(hours=12),
        scopes=("it!b182722.MonitoringDataRead", "it!b182722.DataStoresAndQueuesRead",
                "uaa.resource"),
        signature="verified")


def sample_observations() -> ProfileObservations:
    register(FAKE_TOKEN)
    ok = Exchange("GET", f"{API_URL}/api/v1/MessageProcessingLogs", 200, elapsed_ms=123.44,
                  attempts=(Attempt(503, None, 50.0), Attempt(200, None, 123.44)))
    denied = Exchange("GET", f"{API_URL}/api/v1/IntegrationPackages", 403, elapsed_ms=88.0,
                      attempts=(Attempt(403, None, 88.0),))
    endpoints = {"MessageProcessingLogs": ok, "IntegrationPackages": denied}
    return ProfileObservations("prod-cf", access_token=Secret(FAKE_TOKEN), endpoints=endpoints,
                               connections={u.host: u for u in SAMPLE_CONNECTIONS})


API_HOST = API_URL.split("://")[1]
TOKEN_HOST = TOKEN_URL.split("/")[2]
BROKE = f"HTTP/2 broke (reset: peer {SCRIPT}); this host was retried over HTTP/1.1"
SAMPLE_CONNECTIONS = (ConnectionUse(API_HOST, "HTTP/2", 1, 3),
                      ConnectionUse(TOKEN_HOST, "HTTP/1.1", 2, 4, BROKE))


def sample_verdicts(the_plan: Plan) -> dict[str, Verdict]:
    def verdict(check_id: str, outcome: str, summary: str, *found: Finding,
                facts: Facts = None) -> Verdict:
        return Verdict(the_plan.check(check_id), outcome, summary, found, facts)

    missing = Finding("ROLE_MISSING", "failure", "WorkspacePackagesRead",
                      f"role WorkspacePackagesRead is not granted {SCRIPT}",
                      f"Assign WorkspacePackagesRead (not {CLIENT_SECRET})")
    excess = Finding("EXCESS_ROLES", "warning", "DataStoresAndQueuesRead",
                     "the token grants role templates DataStoresAndQueuesRead beyond "
                     "required_roles", "Remove the role collection that holds "
                     "DataStoresAndQueuesRead.")
    found = [
        verdict("token", PASSED, "issued a JWT", facts=TokenAnswer(200, 95.0, sample_token())),
        verdict("api", PASSED, f"answered as the API (sent Bearer {FAKE_TOKEN})"),
        verdict("role[WorkspacePackagesRead]", FAILED, missing.message, missing,
                facts=RoleFacts("no", None)),
        verdict("role[MonitoringDataRead]", PASSED, "role MonitoringDataRead is granted",
                facts=RoleFacts("yes", Call("/MessageProcessingLogs", 200))),
        verdict("endpoint[MessageProcessingLogs]", PASSED, "answered 200"),
        verdict("endpoint[IntegrationPackages]", SKIPPED, "answered 403 because "
                "role[WorkspacePackagesRead] failed (ROLE_MISSING); fix that first"),
        verdict("least-privilege", PASSED, excess.message, excess, facts=Privilege(
            needed=frozenset({"MonitoringDataRead"}),
            extra={"DataStoresAndQueuesRead": ("DataStoresAndQueuesRead",)},
            excess=("DataStoresAndQueuesRead",),
            granted=("DataStoresAndQueuesRead", "MonitoringDataRead"), unknown_scopes=())),
    ]  # tls-expiry has no verdict: it counts as skipped, "not run"
    return {v.check.id: v for v in found}


def build(the_plan: Plan | None = None, verdicts: dict[str, Verdict] | None = None,
          **overrides: Any) -> dict[str, Any]:
    the_plan = the_plan or sample_plan()
    keywords: dict[str, Any] = {
        "started_at": STARTED, "duration_s": 4.25678, "token": sample_token(),
        "trust": "certifi + profiles/corp-ca.pem", "proxy": "direct (no proxy variables set)",
        "baseline": None, **overrides}
    return dict(document.build(the_plan, sample_observations(),
                               sample_verdicts(the_plan) if verdicts is None else verdicts,
                               **keywords).record)


def render_html(record: dict[str, Any]) -> str:
    """evidence.html for a record (as built, or changed by a test)."""
    return html_report.render(Document(record))


def junit_xml(the_plan: Plan, verdicts: Iterable[Verdict]) -> str:
    """junit.xml rendered from the document of exactly these verdicts (the plan cut to their
    checks), as the plugin renders every profile's."""
    given = {v.check.id: v for v in verdicts}
    cut = replace(the_plan, checks=tuple(c for c in the_plan.checks if c.id in given))
    return junit.render(document.build(
        cut, ProfileObservations(the_plan.profile.name), given, started_at=STARTED,
        duration_s=0.0, token=None, trust="", proxy="", baseline=None))


def write_evidence(folder: Path, record: dict[str, Any]) -> tuple[Path, Path]:
    """Write the reports of `record` through the table; the paths of evidence.json and .html."""
    written = {p.name: p for p in reports.write(folder, Document(record))}
    return written["evidence.json"], written["evidence.html"]


def sample_evidence() -> dict[str, Any]:
    """A full document (shared with the browser test)."""
    return build()


def schema_errors(doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in VALIDATOR.iter_errors(doc)]


class _Tables(HTMLParser):
    """Collects the cell texts of every table by id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(page: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


class _Markup(HTMLParser):
    """The page's text, and every element and attribute the parser saw."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _markup(page: str) -> _Markup:
    parser = _Markup()
    parser.feed(page)
    parser.close()
    return parser


def page_text(page: str) -> str:
    return "".join(_markup(page).text)


ALLOWED_ATTRIBUTES = {"lang", "charset", "name", "content", "class", "id", "colspan"}


def broken_markup(page: str) -> list[str]:
    """Tags or attributes the template does not write: signs of markup cut open."""
    found = _markup(page).tags
    return [f"{tag} {name}" for tag, attrs in found for name, _ in attrs
            if name not in ALLOWED_ATTRIBUTES] + [tag for tag, _ in found if tag == "script"]


# --- the schema --------------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_document_matches_the_schema() -> None:
    assert schema_errors(sample_evidence()) == []


def test_document_without_token_or_verdicts_matches_the_schema() -> None:
    doc = build(verdicts={}, token=None)
    assert schema_errors(doc) == []
    assert doc["token"] is None
    assert {c["outcome"] for c in doc["checks"]} == {SKIPPED}


def test_json_round_trip_matches_the_schema() -> None:
    assert schema_errors(json.loads(json.dumps(sample_evidence(), indent=2))) == []


@pytest.mark.parametrize("tamper", [
    lambda d: d.update(extra=1),
    lambda d: d["profile"].update(secret="x"),
    lambda d: d["roles"][0].update(result="maybe"),
    lambda d: d["roles"][0].update(granted_by_token=True),
    lambda d: d["endpoints"][0].pop("status"),
    lambda d: d["checks"][0].update(outcome="error"),
    lambda d: d["findings"][0].update(severity="info"),
    lambda d: d["summary"].update(result="skipped"),
    lambda d: d["run"].update(started_at="2025-05-01 10:00"),
    lambda d: d.update(sha256="abc"),
    lambda d: d.pop("token"),
    lambda d: d["token"].update(access_token="x"),
], ids=["top-level-extra", "profile-extra", "role-result", "granted-type", "endpoint-missing",
        "check-outcome", "severity", "summary-result", "started-at", "sha256", "no-token-key",
        "token-extra"])
def test_schema_rejects_what_is_not_evidence(tamper: Callable[[dict[str, Any]], None]) -> None:
    doc = copy.deepcopy(sample_evidence())
    tamper(doc)
    assert schema_errors(doc)


def test_schema_knows_every_check_kind() -> None:
    assert posture.analyse  # importing posture registers its rules
    kinds = SCHEMA["properties"]["checks"]["items"]["properties"]["kind"]["enum"]
    assert set(kinds) == set(diagnosis.RULES)


# --- the document ------------------------------------------------------------------------


def test_header_facts() -> None:
    doc, the_plan = build(baseline="reports/prod-cf/evidence.json"), sample_plan()
    assert doc["schema_version"] == "2"
    assert doc["tool"] == {"name": "cpi-preflight", "version": __version__}
    assert doc["profile"] == {
        "name": "prod-cf", "environment": "cf",
        "description": "Monitoring client for the prod tenant", "file": "profiles/prod-cf.yaml",
        "fingerprint": the_plan.profile.fingerprint(), "strict": False}
    assert doc["tenant"] == {"api_host": "acme.it-cpi018.cfapps.eu10.hana.ondemand.com",
                             "token_host": "acme.authentication.eu10.hana.ondemand.com",
                             "simulated": False, "go_live_evidence": True, "caveat": ""}
    assert doc["client"] == {"id": CLIENT_ID, "credential": "secret"}
    assert doc["run"] == {"started_at": "2025-05-01T10:00:00Z", "duration_s": 4.257,
                          "trust": "certifi + profiles/corp-ca.pem",
                          "proxy": "direct (no proxy variables set)",
                          "baseline": "reports/prod-cf/evidence.json", "strict": False,
                          "connections": [
                              {"host": API_HOST, "protocol": "HTTP/2", "connections": 1,
                               "requests": 3, "note": ""},
                              {"host": TOKEN_HOST, "protocol": "HTTP/1.1", "connections": 2,
                               "requests": 4, "note": BROKE}], "ci": None}


def test_started_at_is_converted_to_utc() -> None:
    cet = datetime(2025, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert build(started_at=cet)["run"]["started_at"] == "2025-05-01T12:00:00Z"


def test_token_facts_are_the_non_secret_ones() -> None:
    assert build()["token"] == {
        "format": "jwt", "issuer": TOKEN_URL, "zone": "0d9a1f2e-zone",
        "subaccount": "5c1e-subaccount", "grant_type": "client_credentials",
        "expires_at": "2025-05-01T22:00:00Z",
        "scopes": ["it!b182722.MonitoringDataRead", "it!b182722.DataStoresAndQueuesRead",
                   "uaa.resource"],
        "signature": "verified"}


def test_role_matrix() -> None:
    rows = {r["role"]: r for r in build()["roles"]}
    assert list(rows) == ["WorkspacePackagesRead", "MonitoringDataRead",
                          "DataStoresAndQueuesRead"]
    assert rows["WorkspacePackagesRead"] == {
        "role": "WorkspacePackagesRead", "check": "role[WorkspacePackagesRead]",
        "required": True, "needed_by": ["IntegrationPackages"], "granted_by_token": "no",
        "proven_by": "", "result": "failed", "code": "ROLE_MISSING"}
    assert rows["MonitoringDataRead"] == {
        "role": "MonitoringDataRead", "check": "role[MonitoringDataRead]", "required": False,
        "needed_by": ["MessageProcessingLogs"], "granted_by_token": "yes",
        "proven_by": "GET /api/v1/MessageProcessingLogs 200", "result": "passed", "code": ""}
    assert rows["DataStoresAndQueuesRead"] == {
        "role": "DataStoresAndQueuesRead", "check": "least-privilege", "required": False,
        "needed_by": [], "granted_by_token": "yes", "proven_by": "", "result": "passed",
        "code": "EXCESS_ROLES"}


def test_role_matrix_without_least_privilege_verdict() -> None:
    the_plan = sample_plan()
    verdicts = sample_verdicts(the_plan)
    del verdicts["least-privilege"]
    del verdicts["role[MonitoringDataRead]"]
    doc = build(the_plan, verdicts)
    rows = {r["role"]: r for r in doc["roles"]}
    assert list(rows) == ["WorkspacePackagesRead", "MonitoringDataRead"]
    assert rows["MonitoringDataRead"]["granted_by_token"] == "unknown"
    assert rows["MonitoringDataRead"]["result"] == "skipped"
    assert schema_errors(doc) == []


def test_granted_role_that_required_permissions_cover_is_listed_as_passed() -> None:
    the_plan = sample_plan()
    verdicts = sample_verdicts(the_plan)
    lp = verdicts["least-privilege"]
    verdicts["least-privilege"] = Verdict(lp.check, PASSED, "only required", facts=Privilege(
        needed=frozenset(), extra={}, excess=(), granted=("AuthGroup_ReadOnly",),
        unknown_scopes=()))
    extra = build(the_plan, verdicts)["roles"][-1]
    assert (extra["role"], extra["result"], extra["code"]) == ("AuthGroup_ReadOnly", PASSED, "")


def test_endpoint_table() -> None:
    assert build()["endpoints"] == [
        {"name": "MessageProcessingLogs", "method": "GET",
         "path": "/api/v1/MessageProcessingLogs", "status": 200, "latency_ms": 123.4,
         "attempts": 2, "result": "passed", "code": ""},
        {"name": "IntegrationPackages", "method": "GET", "path": "/api/v1/IntegrationPackages",
         "status": 403, "latency_ms": 88.0, "attempts": 1, "result": "skipped", "code": ""},
    ]


def test_endpoint_not_called_has_no_status() -> None:
    the_plan = sample_plan()
    doc = document.build(the_plan, ProfileObservations("prod-cf"), {}, started_at=STARTED,
                         duration_s=0.0, token=None, trust="", proxy="", baseline=None).record
    assert {(e["status"], e["latency_ms"], e["attempts"]) for e in doc["endpoints"]} == {
        (None, None, 0)}


def test_findings_checks_and_summary() -> None:
    doc, the_plan = build(), sample_plan()
    assert [(f["check"], f["code"], f["severity"]) for f in doc["findings"]] == [
        ("role[WorkspacePackagesRead]", "ROLE_MISSING", "failure"),
        ("least-privilege", "EXCESS_ROLES", "warning")]
    assert [c["id"] for c in doc["checks"]] == [c.id for c in the_plan.checks]
    assert doc["checks"][-1] == {"id": "tls-expiry", "kind": "tls-expiry", "outcome": "skipped",
                                 "ran": False, "summary": document.NOT_RUN, "code": "",
                                 "findings_left_out": 0}
    assert doc["checks"][5]["ran"] is True  # endpoint[IntegrationPackages] ran and skipped
    assert doc["summary"] == {"failed": 1, "warning": 1, "passed": 4, "skipped": 1,
                              "not_run": 1, "warning_findings": 1, "result": "failed"}


def every_check_ran(the_plan: Plan) -> dict[str, Verdict]:
    """The sample verdicts with the failure fixed and tls-expiry run too: a complete run."""
    verdicts = sample_verdicts(the_plan)
    for check_id in ("role[WorkspacePackagesRead]", "tls-expiry"):
        verdicts[check_id] = Verdict(the_plan.check(check_id), PASSED, "fine")
    return verdicts


def not_run(verdict: Verdict, reason: str = "not selected in this run") -> Verdict:
    """The skip `run.Run.reported` puts in place of a check pytest did not run."""
    return Verdict(verdict.check, SKIPPED, reason, ran=False)


def test_summary_passes_when_every_check_ran_without_failure() -> None:
    the_plan = sample_plan()
    summary = build(the_plan, every_check_ran(the_plan))["summary"]
    assert (summary["result"], summary["not_run"]) == ("passed", 0)


def test_a_check_not_run_makes_the_run_incomplete_not_passed() -> None:
    the_plan = sample_plan()
    verdicts = every_check_ran(the_plan)
    verdicts["api"] = not_run(verdicts["api"])
    doc = build(the_plan, verdicts)
    assert doc["summary"] == {"failed": 0, "warning": 1, "passed": 5, "skipped": 1,
                              "not_run": 1, "warning_findings": 1, "result": "incomplete"}
    assert schema_errors(doc) == []
    del verdicts["tls-expiry"]  # no verdict at all: not run either
    assert build(the_plan, verdicts)["summary"]["not_run"] == 2


def test_a_failure_wins_over_checks_not_run() -> None:
    the_plan = sample_plan()
    verdicts = sample_verdicts(the_plan)
    verdicts["api"] = not_run(verdicts["api"])
    assert build(the_plan, verdicts)["summary"]["result"] == "failed"


def test_a_skip_that_ran_is_not_counted_as_not_run() -> None:
    the_plan = sample_plan()
    verdicts = every_check_ran(the_plan)
    verdicts["api"] = Verdict(verdicts["api"].check, SKIPPED, "not selected in this run")
    summary = build(the_plan, verdicts)["summary"]
    assert (summary["skipped"], summary["not_run"], summary["result"]) == (2, 0, "passed")


def test_counts_agree_with_the_terminal() -> None:
    the_plan = sample_plan()
    verdicts = sample_verdicts(the_plan)
    verdicts["api"] = not_run(verdicts["api"])
    record = build(the_plan, verdicts)  # tls-expiry has no verdict: not run
    line = terminal.counts_line(Document(record).checks())
    assert line == "1 failed, 1 warning, 3 passed, 1 skipped, 2 not run"
    text = html_report.counts_text(record["summary"])
    assert text == f"8 checks: {line}; 1 warning finding"


# --- the SHA-256 -------------------------------------------------------------------------


def test_sha256_verifies_and_survives_a_json_round_trip(tmp_path: Path) -> None:
    doc = sample_evidence()
    assert document.verify_sha256(doc)
    json_path, _ = write_evidence(tmp_path, doc)
    loaded = json.loads(json_path.read_text(encoding="utf-8"))
    assert loaded == doc
    assert document.verify_sha256(loaded)


def test_sha256_is_over_the_canonical_json_without_the_field() -> None:
    doc = sample_evidence()
    body = {k: v for k, v in doc.items() if k != "sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert doc["sha256"] == hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def test_the_verify_command_shown_in_the_report_works(tmp_path: Path) -> None:
    json_path, _ = write_evidence(tmp_path, sample_evidence())
    done = subprocess.run(["sh", "-c", document.VERIFY_COMMAND], cwd=json_path.parent,
                          capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "True"


@pytest.mark.parametrize("tamper", [
    lambda d: d["summary"].update(result="passed"),
    lambda d: d["roles"][0].update(granted_by_token="yes"),
    lambda d: d["findings"].pop(0),
    lambda d: d["run"].update(duration_s=4.258),
    lambda d: d["profile"].update(name="prod-cf2"),
    lambda d: d.update(sha256="0" * 64),
    lambda d: d.update(sha256="é" * 64),
    lambda d: d.update(sha256=None),
    lambda d: d.pop("sha256"),
    lambda d: d.update(note="added later"),
])
def test_tampering_breaks_the_sha256(tamper: Callable[[dict[str, Any]], None]) -> None:
    doc = copy.deepcopy(sample_evidence())
    tamper(doc)
    assert not document.verify_sha256(doc)


# --- no secrets --------------------------------------------------------------------------


def test_no_secret_in_json_or_html(tmp_path: Path) -> None:
    json_path, html_path = write_evidence(tmp_path, sample_evidence())
    for text in (json_path.read_text(encoding="utf-8"), html_path.read_text(encoding="utf-8")):
        for form in SECRET_FORMS:
            assert form not in text
        assert html.escape(CLIENT_SECRET) not in text
        assert CLIENT_ID in text  # a client id is shown in full: it is not a secret
        assert MASK in text  # the leaks planted in summary and fix were scrubbed


def test_secrets_are_scrubbed_before_the_hash() -> None:
    doc = sample_evidence()
    fixes = [f["fix"] for f in doc["findings"]]
    assert fixes[0] == f"Assign WorkspacePackagesRead (not {MASK})"
    assert document.verify_sha256(json.loads(json.dumps(doc)))


# --- the page ----------------------------------------------------------------------------


def test_html_escapes_markup_from_messages() -> None:
    page = render_html(sample_evidence())
    assert "<script" not in page.lower()
    assert SCRIPT in page_text(page)


def test_html_is_self_contained_and_printable() -> None:
    page = render_html(sample_evidence())
    for external in ("<link", "<img", "<iframe", "src=", "href=", "url(", "@import", "<script"):
        assert external not in page.lower()
    assert "@media print" in page
    assert page.startswith("<!DOCTYPE html>")


def test_html_header() -> None:
    doc = sample_evidence()
    page = render_html(doc)
    for fact in ("prod-cf", "Cloud Foundry", 'class="badge failed"', "FAILED",
                 doc["tenant"]["api_host"], doc["tenant"]["token_host"],
                 html.escape(CLIENT_ID), f"cpi-preflight {__version__}",
                 "2025-05-01 10:00:00 UTC", "4.3 s", doc["profile"]["fingerprint"],
                 doc["sha256"], f"cpi-preflight evidence prod-cf sha256:{doc['sha256']}",
                 "change record"):
        assert fact in page, fact


def test_html_connections_line() -> None:
    page = render_html(sample_evidence())
    note = html.escape(BROKE).replace("&#x27;", "&#39;")  # markupsafe's spelling of '
    assert (f"<dt>Connections</dt><dd>{API_HOST}: HTTP/2, 1 connection, 3 requests; "
            f"{TOKEN_HOST}: HTTP/1.1, 2 connections, 4 requests ({note})</dd>") in page


def test_connections_text_says_when_no_connection_was_made() -> None:
    assert html_report.connections_text([
        {"host": "h:1", "protocol": "", "connections": 0, "requests": 3, "note": ""},
        {"host": "h:2", "protocol": "HTTP/1.1", "connections": 1, "requests": 1, "note": ""},
    ]) == "h:1: no connection, 0 connections, 3 requests; h:2: HTTP/1.1, 1 connection, 1 request"


def test_html_role_matrix() -> None:
    found = tables(render_html(sample_evidence()))
    assert found["role-matrix"] == [
        ["Role", "Required", "Granted by token", "Proven by call", "Result"],
        ["WorkspacePackagesRead", "yes", "no", "—", "failed ROLE_MISSING"],
        ["MonitoringDataRead", "for endpoint MessageProcessingLogs", "yes",
         "GET /api/v1/MessageProcessingLogs 200", "passed"],
        ["DataStoresAndQueuesRead", "no (granted only)", "yes", "—", "warning EXCESS_ROLES"],
    ]


def test_html_endpoint_table() -> None:
    found = tables(render_html(sample_evidence()))
    assert found["endpoints"] == [
        ["Method", "Path", "Status", "Latency", "Result"],
        ["GET", "/api/v1/MessageProcessingLogs", "200", "123 ms2 attempts", "passed"],
        ["GET", "/api/v1/IntegrationPackages", "403", "88 ms", "skipped"],
    ]


def test_html_findings_failures_first() -> None:
    doc = sample_evidence()
    doc["findings"].reverse()  # warning first in the document
    page = render_html(doc)
    assert page.index("ROLE_MISSING</code> <span") < page.index("EXCESS_ROLES</code> <span")
    assert html.escape("Remove the role collection that holds DataStoresAndQueuesRead.") in page


def test_html_signature_block() -> None:
    page = render_html(sample_evidence())
    for line in ('id="signoff"', "Reviewer name", "Date", "Signature", "Approved for go-live"):
        assert line in page


def test_html_without_token_or_findings() -> None:
    the_plan = sample_plan()
    verdicts = {k: Verdict(v.check, PASSED, "fine") if v.findings else v
                for k, v in every_check_ran(the_plan).items()}
    page = render_html(build(the_plan, verdicts, token=None))
    assert "No token was issued" in page
    assert "No findings" in page
    assert 'class="badge passed"' in page


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=80))
def test_any_message_is_escaped_and_hashed(text: str) -> None:
    the_plan = sample_plan()
    verdicts = sample_verdicts(the_plan)
    role = verdicts["role[WorkspacePackagesRead]"]
    finding = replace(role.findings[0], message=text, subject=text)
    verdicts[role.check.id] = replace(role, summary=text, findings=(finding,))
    doc = build(the_plan, verdicts)
    assert document.verify_sha256(json.loads(json.dumps(doc, ensure_ascii=False)))
    assert schema_errors(doc) == []
    page = render_html(doc)
    shown = one_line(doc["findings"][0]["message"])  # the page prints one visible line
    assert re.sub(r"`([^`]*)`", r"\1", shown) in page_text(page)
    assert not broken_markup(page)


# --- files and helpers -------------------------------------------------------------------


def test_write_evidence_paths_and_baseline_reading(tmp_path: Path) -> None:
    doc = sample_evidence()
    json_path, html_path = write_evidence(tmp_path, doc)
    assert json_path == tmp_path / "prod-cf" / "evidence.json"
    assert html_path == tmp_path / "prod-cf" / "evidence.html"
    assert json_path.read_text(encoding="utf-8").startswith('{\n  "schema_version": "2"')
    assert html_path.read_text(encoding="utf-8") == render_html(doc)
    loaded = baseline.load(tmp_path, ["prod-cf"])["prod-cf"]
    assert loaded.pop("_path") == "prod-cf/evidence.json"  # no local absolute path
    assert document.verify_sha256(loaded)


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, "direct (no proxy variables set)"),
    ({"HTTPS_PROXY": "http://proxy.corp:3128"}, "HTTPS_PROXY=http://proxy.corp:3128"),
    ({"https_proxy": "http://alice:pa55word@proxy.corp:3128", "NO_PROXY": "localhost"},
     "HTTPS_PROXY=http://***@proxy.corp:3128, NO_PROXY=localhost"),
    ({"ALL_PROXY": "bob:pw@socks.corp:1080"}, "ALL_PROXY=***@socks.corp:1080"),
])
def test_proxy_setting(environ: dict[str, str], expected: str) -> None:
    assert transport.proxy_setting(environ) == expected


# --- incomplete runs, counts, fix texts and the change-record reference --------------------


def incomplete_page() -> str:
    the_plan = sample_plan()
    verdicts = every_check_ran(the_plan)
    for check_id in ("api", "endpoint[MessageProcessingLogs]"):
        verdicts[check_id] = not_run(verdicts[check_id])
    return render_html(build(the_plan, verdicts))


def test_html_of_an_incomplete_run_is_not_green_and_cannot_be_signed_off() -> None:
    page = incomplete_page()
    assert '<div class="badge incomplete" id="result">INCOMPLETE</div>' in page
    assert "badge passed" not in page
    assert ('<p class="counts" id="counts">8 checks: 1 warning, 4 passed, 1 skipped, 2 not run; '
            "1 warning finding</p>") in page
    assert ('<p class="incomplete-note" id="incomplete">This run is incomplete: 2 of 8 checks '
            "were not run (left out by -k, -m, --deselect or --lf, or the session stopped "
            "before them). It cannot be signed off as it is: run every check of profile prod-cf "
            "and review that evidence.</p>") in page
    for line in ("Approved for go-live", "Reviewer name", "<div>Signature</div>"):
        assert line not in page
    the_plan = sample_plan()
    verdicts = every_check_ran(the_plan)
    verdicts["api"] = not_run(verdicts["api"])
    assert "1 of 8 checks was not run" in render_html(build(the_plan, verdicts))
    rows = {row[0]: row[1] for row in tables(page)["checks"][1:]}
    assert (rows["api"], rows["endpoint[IntegrationPackages]"]) == ("not run", "skipped")


def test_html_of_a_complete_run_keeps_the_sign_off() -> None:
    the_plan = sample_plan()
    page = render_html(build(the_plan, every_check_ran(the_plan)))
    assert '<div class="badge passed" id="result">PASSED</div>' in page
    assert ('<p class="counts" id="counts">8 checks: 1 warning, 6 passed, 1 skipped; '
            "1 warning finding</p>") in page
    assert 'id="incomplete"' not in page
    assert "Approved for go-live" in page


def test_html_counts_line_of_the_sample() -> None:
    page = render_html(sample_evidence())
    assert ('<p class="counts" id="counts">8 checks: 1 failed, 1 warning, 4 passed, 1 skipped, '
            "1 not run; 1 warning finding</p>") in page


FIX = ("In the BTP cockpit, add {role}; or run `cf update-service <instance> -c "
       "'{\"roles\":[\"A&B\"]}'` with the full list, then check `grant-types` and `<b>`.")


def page_with_fix(fix: str) -> str:
    the_plan = sample_plan()
    verdicts = sample_verdicts(the_plan)
    role = verdicts["role[WorkspacePackagesRead]"]
    verdicts[role.check.id] = replace(role, findings=(replace(role.findings[0], fix=fix),))
    return render_html(build(the_plan, verdicts))


def test_html_fix_renders_code_spans_and_puts_a_cf_command_on_its_own_line() -> None:
    page = page_with_fix(FIX)
    assert ('<div class="fix"><strong>Fix:</strong> In the BTP cockpit, add {role}; or run '
            '<code class="command">cf update-service &lt;instance&gt; -c '
            "&#39;{&#34;roles&#34;:[&#34;A&amp;B&#34;]}&#39;</code> with the full list, then "
            "check <code>grant-types</code> and <code>&lt;b&gt;</code>.</div>") in page
    assert "`" not in page_text(page).split("Findings", 1)[1]
    assert "code.command { display: block;" in page
    assert not broken_markup(page)


@pytest.mark.parametrize("fix", ["`<script>alert(1)</script>`", "`cf x <img src=x>`",
                                 "one ` backtick <i>", "``", "`a`b`c`"])
def test_html_fix_markup_is_always_escaped(fix: str) -> None:
    page = page_with_fix(fix)
    assert re.sub(r"`([^`]*)`", r"\1", fix) in page_text(page)
    assert not broken_markup(page)
    for tag in ("<script", "<img", "<i>"):
        assert tag not in page


def test_change_record_reference_is_plain_text_not_a_command() -> None:
    doc = sample_evidence()
    page = render_html(doc)
    assert ('<p>Change-record reference: <span class="citation" id="citation">cpi-preflight '
            f"evidence prod-cf sha256:{doc['sha256']}</span></p>") in page
    assert "<code>cpi-preflight evidence" not in page


# --- the compiled template is kept between runs ----------------------------------------------


def _fresh_template(monkeypatch: pytest.MonkeyPatch, folder: Path | None) -> None:
    html_report._template.cache_clear()
    monkeypatch.setattr(html_report, "_cache_directory",
                        lambda: None if folder is None else str(folder))


def test_the_page_template_is_compiled_once_and_loaded_by_later_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import jinja2

    record = sample_evidence()
    _fresh_template(monkeypatch, tmp_path)
    first = render_html(record)
    assert len(list(tmp_path.glob("cpi-preflight-*.cache"))) == 1
    _fresh_template(monkeypatch, tmp_path)  # a later run: a new environment, the same folder

    def no_compile(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled again")

    monkeypatch.setattr(jinja2.Environment, "compile", no_compile)
    assert render_html(record) == first
    html_report._template.cache_clear()


@pytest.mark.parametrize("damage", [b"", b"j2 not a cache", b"\x00" * 64, b"MAGIC\x80\x05junk"])
def test_a_damaged_or_unwritable_template_cache_is_no_cache_and_the_page_renders(
        damage: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jinja2.bccache import bc_magic

    damage = damage.replace(b"MAGIC", bc_magic)  # a right header, then a broken pickle
    record = sample_evidence()
    _fresh_template(monkeypatch, None)
    expected = render_html(record)
    _fresh_template(monkeypatch, tmp_path)
    render_html(record)
    (kept,) = tmp_path.glob("cpi-preflight-*.cache")
    kept.write_bytes(damage)
    _fresh_template(monkeypatch, tmp_path)
    assert render_html(record) == expected
    _fresh_template(monkeypatch, tmp_path / "a-file")
    (tmp_path / "a-file").write_text("not a folder")
    assert render_html(record) == expected
    html_report._template.cache_clear()


def test_the_template_cache_key_holds_the_jinja_version_and_this_module(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import jinja2

    cache = html_report._bytecode_cache()
    assert cache is not None
    key = cache.get_cache_key("evidence.html.j2")
    monkeypatch.setattr(jinja2, "__version__", "0.0-other")
    other_jinja = html_report._bytecode_cache()
    assert other_jinja is not None
    assert other_jinja.get_cache_key("evidence.html.j2") != key
    monkeypatch.undo()
    monkeypatch.setattr(Path, "read_bytes", lambda self: b"another html.py")
    other_module = html_report._bytecode_cache()
    assert other_module is not None
    assert other_module.get_cache_key("evidence.html.j2") != key
