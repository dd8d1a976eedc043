"""Go-live evidence: `evidence.json` (with its own SHA-256) and a printable `evidence.html`.

`build_evidence` turns one profile's plan, observations and verdicts into a JSON document
(described by `data/evidence.schema.json`); `render_html` turns that document into one
self-contained page for a reviewer. Both are pure and every text in them has passed the secret
scrubber. `write_evidence` is the only function that writes, and it writes through
`report.write_text`.

The SHA-256 is taken over the canonical JSON of the document without its `sha256` field (sorted
keys, no whitespace, UTF-8), so it can be cited in a change record and recomputed by anyone.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cpi_preflight import __version__
from cpi_preflight.catalog import Endpoint
from cpi_preflight.claims import TokenFacts
from cpi_preflight.findings import FAILED, PASSED, SKIPPED, Finding, Verdict
from cpi_preflight.observation import ProfileObservations
from cpi_preflight.plan import LEAST_PRIVILEGE, Plan, endpoint_check_id
from cpi_preflight.profile import Profile
from cpi_preflight.report import write_text
from cpi_preflight.secret import scrub

SCHEMA_VERSION = "1"
TOOL_NAME = "cpi-preflight"
API_PREFIX = "/api/v1"
GRANTED_VALUES = ("yes", "no", "unknown")
ENVIRONMENT_NAMES = {"cf": "Cloud Foundry", "neo": "Neo"}
NOT_RUN = "not run in this session"


Doc = dict[str, Any]


# --- building the document ---------------------------------------------------------------


def _utc(moment: datetime | None) -> str | None:
    """`2025-05-01T10:00:00Z`; a naive time is taken to be UTC already."""
    if moment is None:
        return None
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


def _outcomes(plan: Plan, verdicts: Mapping[str, Verdict]) -> dict[str, Verdict]:
    """A verdict for every planned check, in plan order; a missing one counts as skipped."""
    return {c.id: verdicts.get(c.id) or Verdict(c, SKIPPED, NOT_RUN) for c in plan.checks}


def _profile(prof: Profile) -> Doc:
    return {"name": prof.name, "environment": prof.environment,
            "description": prof.description, "file": str(prof.path),
            "fingerprint": prof.fingerprint(), "strict": prof.strict}


def _tenant(prof: Profile) -> Doc:
    return {"api_host": _host(prof.api_url), "token_host": _host(prof.token_url)}


def _client(prof: Profile) -> Doc:
    return {"id": prof.client_id,
            "credential": "certificate" if prof.uses_certificate else "secret"}


def _token(facts: TokenFacts | None) -> Doc | None:
    if facts is None:
        return None
    return {"format": facts.format, "issuer": facts.issuer, "zone": facts.zone,
            "subaccount": facts.subaccount, "grant_type": facts.grant_type,
            "expires_at": _utc(facts.expires_at), "scopes": list(facts.scopes),
            "signature": facts.signature}


def _needed_by(plan: Plan, role: str) -> list[str]:
    """The profile's own endpoints that need `role`."""
    return [e.name for e in plan.endpoints if e.name in plan.profile.endpoints
            and (e.role == role or role in e.neo_roles)]


def _granted(value: object) -> str:
    return value if isinstance(value, str) and value in GRANTED_VALUES else "unknown"


def _role_row(plan: Plan, verdict: Verdict) -> Doc:
    role = verdict.check.subject
    return {"role": role, "check": verdict.check.id,
            "required": role in plan.profile.required_roles,
            "needed_by": _needed_by(plan, role),
            "granted_by_token": _granted(verdict.facts.get("granted_by_token")),
            "proven_by": str(verdict.facts.get("proven_by") or ""),
            "result": verdict.outcome, "code": verdict.code}


def _names(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


def _granted_only_rows(plan: Plan, verdict: Verdict | None) -> list[Doc]:
    """Rows for roles the token grants that no check required (from least-privilege)."""
    if verdict is None:
        return []
    excess = set(_names(verdict.facts.get("excess")))
    return [{"role": role, "check": verdict.check.id, "required": False, "needed_by": [],
             "granted_by_token": "yes", "proven_by": "",
             "result": verdict.outcome if role in excess else PASSED,
             "code": verdict.code if role in excess else ""}
            for role in _names(verdict.facts.get("granted")) if role not in plan.roles]


def _roles(plan: Plan, outcomes: Mapping[str, Verdict]) -> list[Doc]:
    rows = [_role_row(plan, v) for v in outcomes.values() if v.check.kind == "role"]
    return rows + _granted_only_rows(plan, outcomes.get(LEAST_PRIVILEGE))


def _endpoint_row(endpoint: Endpoint, seen: ProfileObservations, verdict: Verdict) -> Doc:
    exchange = seen.endpoints.get(endpoint.name)
    return {"name": endpoint.name, "method": "GET", "path": API_PREFIX + endpoint.path,
            "status": exchange.status if exchange is not None else None,
            "latency_ms": round(exchange.elapsed_ms, 1) if exchange is not None else None,
            "attempts": (len(exchange.attempts) or 1) if exchange is not None else 0,
            "result": verdict.outcome, "code": verdict.code}


def _endpoints(plan: Plan, seen: ProfileObservations,
               outcomes: Mapping[str, Verdict]) -> list[Doc]:
    return [_endpoint_row(e, seen, outcomes[endpoint_check_id(e.name)]) for e in plan.endpoints
            if endpoint_check_id(e.name) in outcomes]


def _finding(check_id: str, finding: Finding) -> Doc:
    return {"check": check_id, "code": finding.code, "severity": finding.severity,
            "subject": finding.subject, "message": finding.message, "fix": finding.fix}


def _findings(outcomes: Mapping[str, Verdict]) -> list[Doc]:
    return [_finding(v.check.id, f) for v in outcomes.values() for f in v.findings]


def _checks(outcomes: Mapping[str, Verdict]) -> list[Doc]:
    return [{"id": v.check.id, "kind": v.check.kind, "outcome": v.outcome,
             "summary": v.summary, "code": v.code} for v in outcomes.values()]


def _summary(outcomes: Mapping[str, Verdict]) -> Doc:
    verdicts = list(outcomes.values())
    counts = {o: sum(v.outcome == o for v in verdicts) for o in (PASSED, FAILED, SKIPPED)}
    return {"passed": counts[PASSED], "failed": counts[FAILED], "skipped": counts[SKIPPED],
            "warnings": sum(len(v.warnings) for v in verdicts),
            "result": FAILED if counts[FAILED] else PASSED}


def _scrubbed(value: Any) -> Any:
    """`value` with every registered secret masked: one pass over its JSON text (the scrubber
    knows secrets in their JSON-escaped form too, and the mask needs no escaping)."""
    return json.loads(scrub(json.dumps(value, ensure_ascii=False)))


def build_evidence(plan: Plan, seen: ProfileObservations, verdicts: Mapping[str, Verdict], *,
                   started_at: datetime, duration_s: float, token: TokenFacts | None,
                   trust: str, proxy: str, baseline: str | None) -> dict[str, Any]:
    """The evidence document of one profile's run, with its `sha256` set."""
    outcomes = _outcomes(plan, verdicts)
    prof = plan.profile
    doc: Doc = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "profile": _profile(prof), "tenant": _tenant(prof), "client": _client(prof),
        "run": {"started_at": _utc(started_at), "duration_s": round(duration_s, 3),
                "trust": trust, "proxy": proxy, "baseline": baseline},
        "token": _token(token),
        "roles": _roles(plan, outcomes),
        "endpoints": _endpoints(plan, seen, outcomes),
        "findings": _findings(outcomes),
        "checks": _checks(outcomes),
        "summary": _summary(outcomes),
    }
    sealed: Doc = _scrubbed(doc)
    sealed["sha256"] = compute_sha256(sealed)
    return sealed


def canonical_json(doc: Mapping[str, Any]) -> bytes:
    """The bytes the SHA-256 is taken over: `doc` without `sha256`, sorted, compact, UTF-8."""
    body = {k: v for k, v in doc.items() if k != "sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def compute_sha256(doc: Mapping[str, Any]) -> str:
    """The hex SHA-256 of `canonical_json(doc)`."""
    return hashlib.sha256(canonical_json(doc)).hexdigest()


def verify_sha256(doc: Mapping[str, Any]) -> bool:
    """Whether `doc["sha256"]` matches the document's content."""
    stored = doc.get("sha256")
    if not isinstance(stored, str):
        return False
    return hmac.compare_digest(stored.encode("utf-8"), compute_sha256(doc).encode("utf-8"))


# --- rendering ---------------------------------------------------------------------------


CSS = """
:root { --ink: #1b2230; --muted: #596274; --line: #d6dbe3; --soft: #f4f6f9;
  --ok: #11693a; --ok-bg: #e2f3e8; --bad: #a3191c; --bad-bg: #fbe5e5;
  --warn: #875400; --warn-bg: #fcf0d6; --skip: #4a5260; --skip-bg: #eceef2; }
* { box-sizing: border-box; }
html { background: #fff; color: var(--ink);
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  "Liberation Sans", sans-serif; }
body { margin: 0; font-size: 15px; line-height: 1.45; }
main { max-width: 1120px; margin: 0 auto; padding: 32px 40px 48px; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono",
  "Liberation Mono", monospace; font-size: 0.88em; }
dd code, .reference code { overflow-wrap: anywhere; }
header.top { display: flex; justify-content: space-between; align-items: flex-start; gap: 24px;
  border-bottom: 3px solid var(--ink); padding-bottom: 14px; }
.kicker { margin: 0 0 4px; font-size: 12px; letter-spacing: 0.08em; text-transform: uppercase;
  color: var(--muted); }
h1 { margin: 0; font-size: 30px; line-height: 1.15; overflow-wrap: anywhere; }
.description { margin: 6px 0 0; color: var(--muted); }
h2 { margin: 30px 0 10px; padding-bottom: 4px; font-size: 19px;
  border-bottom: 1px solid var(--line); break-after: avoid; page-break-after: avoid; }
.badge { flex: none; padding: 8px 18px; border: 3px solid; border-radius: 6px; font-size: 22px;
  font-weight: 800; letter-spacing: 0.08em; }
.counts { margin: 12px 0 0; font-weight: 600; }
dl.facts { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 2fr);
  gap: 10px 28px; margin: 14px 0 0; }
dl.facts > div { min-width: 0; padding-left: 10px; border-left: 3px solid var(--line); }
dt { font-size: 11.5px; letter-spacing: 0.05em; text-transform: uppercase; color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
.reference { margin-top: 22px; padding: 12px 16px; border: 2px solid var(--ink);
  border-radius: 6px; break-inside: avoid; page-break-inside: avoid; }
.reference h2 { margin: 0 0 6px; border: 0; padding: 0; font-size: 16px; }
.reference p { margin: 6px 0 0; }
.sha code { font-size: 15px; font-weight: 700; }
.small { font-size: 12.5px; color: var(--muted); }
.scopes { margin: 8px 0 0; padding: 0; list-style: none; display: flex; flex-wrap: wrap;
  gap: 4px 6px; }
.scopes li { padding: 1px 7px; border: 1px solid var(--line); border-radius: 4px;
  background: var(--soft); }
table { width: 100%; border-collapse: collapse; font-size: 14px; }
thead { display: table-header-group; }
th, td { padding: 7px 10px; text-align: left; vertical-align: top;
  border-bottom: 1px solid var(--line); overflow-wrap: break-word; }
thead th { background: var(--soft); border-bottom: 2px solid var(--ink); font-size: 12px;
  letter-spacing: 0.05em; text-transform: uppercase; }
tr { break-inside: avoid; page-break-inside: avoid; }
td.num { white-space: nowrap; }
.pill { display: inline-block; padding: 0 8px; border: 1px solid; border-radius: 10px;
  font-size: 12.5px; font-weight: 700; white-space: nowrap; }
.pill.passed, .pill.yes, .badge.passed {
  color: var(--ok); background: var(--ok-bg); border-color: var(--ok); }
.pill.failed, .pill.no, .pill.failure, .badge.failed {
  color: var(--bad); background: var(--bad-bg); border-color: var(--bad); }
.pill.warning { color: var(--warn); background: var(--warn-bg); border-color: var(--warn); }
.pill.skipped, .pill.unknown {
  color: var(--skip); background: var(--skip-bg); border-color: var(--skip); }
.finding { margin: 10px 0; padding: 10px 14px; border: 1px solid var(--line);
  border-left: 6px solid var(--line); border-radius: 4px; background: #fff;
  break-inside: avoid; page-break-inside: avoid; }
.finding.failure { border-left-color: var(--bad); }
.finding.warning { border-left-color: var(--warn); }
.finding h3 { margin: 0; font-size: 15px; }
.finding p { margin: 6px 0 0; }
.finding .fix { padding: 6px 10px; border-radius: 4px; background: var(--soft); }
.signoff { break-inside: avoid; page-break-inside: avoid; }
.decision { margin: 14px 0 0; font-size: 15px; }
.decision span { margin-right: 28px; }
.lines { display: grid; grid-template-columns: 1.3fr 0.7fr 1.3fr; gap: 32px; margin-top: 48px; }
.lines div { padding-top: 4px; border-top: 1.5px solid var(--ink); font-size: 12px;
  color: var(--muted); }
footer { margin-top: 32px; font-size: 12px; color: var(--muted); }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  html, body { background: #fff; color: #000; }
  body { font-size: 10pt; }
  main { max-width: none; padding: 0; }
  h1 { font-size: 22pt; }
  h2 { font-size: 13pt; margin-top: 18pt; }
  table { font-size: 9pt; }
  th, td { padding: 4pt 6pt; }
}
@media screen and (max-width: 760px) {
  main { padding: 20px; }
  dl.facts { grid-template-columns: minmax(0, 1fr); }
  header.top { flex-direction: column; }
}
"""

VERIFY_COMMAND = (
    "python3 -c \"import json,hashlib,sys; d=json.load(open(sys.argv[1],encoding='utf-8')); "
    "s=d.pop('sha256'); print(s==hashlib.sha256(json.dumps(d,sort_keys=True,"
    "separators=(',',':'),ensure_ascii=False).encode()).hexdigest())\" evidence.json"
)


def _e(value: object) -> str:
    """Scrubbed, HTML-escaped text; None becomes an empty string."""
    return html.escape("" if value is None else str(value))  # the page is scrubbed whole


def _or_dash(value: object) -> str:
    return _e(value) if value not in (None, "") else "&mdash;"


def _pill(label: str, css: str | None = None) -> str:
    return f'<span class="pill {_e(css or label)}">{_e(label)}</span>'


def _outcome_label(outcome: str, code: str) -> str:
    """`warning` for a check that passed with a warning code, else the outcome."""
    return "warning" if outcome == PASSED and code else outcome


def _result_cell(row: Mapping[str, Any]) -> str:
    outcome, code = str(row.get("result", "")), str(row.get("code") or "")
    code_html = f" <code>{_e(code)}</code>" if code else ""
    return f"<td>{_pill(_outcome_label(outcome, code))}{code_html}</td>"


def _when(stamp: object) -> str:
    text = str(stamp or "")
    return text.replace("T", " ").replace("Z", " UTC") if text else ""


def _fact(label: str, value_html: str) -> str:
    return f"<div><dt>{_e(label)}</dt><dd>{value_html}</dd></div>"


def _facts(pairs: Iterable[tuple[str, str]]) -> str:
    return '<dl class="facts">' + "".join(_fact(k, v) for k, v in pairs) + "</dl>"


def _environment(name: object) -> str:
    text = str(name or "")
    return f"{ENVIRONMENT_NAMES.get(text, text)} ({text})"


def _counts(summary: Mapping[str, Any], total: int) -> str:
    warnings = int(summary.get("warnings", 0))
    return (f'<p class="counts">{total} checks: {int(summary.get("passed", 0))} passed, '
            f'{int(summary.get("failed", 0))} failed, {int(summary.get("skipped", 0))} skipped'
            f'; {warnings} warning{"" if warnings == 1 else "s"}</p>')


def _title_block(doc: Mapping[str, Any]) -> str:
    prof, result = doc["profile"], str(doc["summary"]["result"])
    description = prof.get("description")
    desc = f'<p class="description">{_e(description)}</p>' if description else ""
    return ('<header class="top"><div><p class="kicker">Go-live evidence &middot; SAP Cloud '
            f'Integration API client</p><h1>{_e(prof["name"])}</h1>{desc}</div>'
            f'<div class="badge {_e(result)}" id="result">{_e(result.upper())}</div></header>')


def _header_facts(doc: Mapping[str, Any]) -> str:
    prof, run, tenant, client, tool = (doc["profile"], doc["run"], doc["tenant"],
                                       doc["client"], doc["tool"])
    return _facts([  # pairs: a short fact on the left, a long one on the right
        ("Environment", _e(_environment(prof["environment"]))),
        ("Tenant API host", f'<code>{_e(tenant["api_host"])}</code>'),
        ("Client ID (masked)", f'<code>{_e(client["id"])}</code>'),
        ("Token host", f'<code>{_e(tenant["token_host"])}</code>'),
        ("Credential", _e(client["credential"])),
        ("Profile file", f'<code>{_e(prof["file"])}</code>'),
        ("Strict mode", "yes" if prof.get("strict") else "no"),
        ("Profile fingerprint (SHA-256)", f'<code>{_e(prof["fingerprint"])}</code>'),
        ("Started", _e(_when(run["started_at"]))),
        ("TLS trust", _or_dash(run.get("trust"))),
        ("Duration", f'{float(run["duration_s"]):.1f} s'),
        ("Proxy", _or_dash(run.get("proxy"))),
        ("Tool", f'{_e(tool["name"])} {_e(tool["version"])}'),
        ("Baseline", _or_dash(run.get("baseline"))),
    ])


def _reference(doc: Mapping[str, Any]) -> str:
    sha, name = _e(doc.get("sha256")), _e(doc["profile"]["name"])
    started = _e(_when(doc["run"]["started_at"]))
    return (
        '<section class="reference" id="reference"><h2>Reference for the change record</h2>'
        f'<p class="sha">SHA-256 of evidence.json: <code>{sha}</code></p>'
        f'<p>Cite it in the change record as <code>cpi-preflight evidence {name} sha256:{sha}'
        f'</code> (run started {started}) and attach evidence.json. The hash covers the whole '
        "JSON document except its <code>sha256</code> field, serialised with sorted keys, no "
        "whitespace and UTF-8; it is not the hash of the file. Anyone can check it with:</p>"
        f'<p class="small"><code>{_e(VERIFY_COMMAND)}</code></p></section>'
    )


def _token_section(token: Mapping[str, Any] | None) -> str:
    if token is None:
        return ('<section id="token"><h2>Token</h2><p>No token was issued in this run; see '
                "the findings.</p></section>")
    scopes = [str(s) for s in token.get("scopes", [])]
    items = "".join(f"<li><code>{_e(s)}</code></li>" for s in scopes)
    facts = _facts([
        ("Format", _e(token["format"])),
        ("Issuer", f'<code>{_or_dash(token.get("issuer"))}</code>'),
        ("Signature", _pill(str(token["signature"]), _signature_css(token))),
        ("Identity zone", f'<code>{_or_dash(token.get("zone"))}</code>'),
        ("Grant type", _or_dash(token.get("grant_type"))),
        ("Subaccount", f'<code>{_or_dash(token.get("subaccount"))}</code>'),
        ("Expires", _or_dash(_when(token.get("expires_at")))),
    ])
    listing = f'<ul class="scopes">{items}</ul>' if items else "<p>none</p>"
    return (f'<section id="token"><h2>Token</h2><p class="small">Non-secret facts the access '
            f"token states about itself; the token itself is never stored.</p>{facts}"
            f"<h3>Scopes ({len(scopes)})</h3>{listing}</section>")


def _signature_css(token: Mapping[str, Any]) -> str:
    return {"verified": "passed", "failed": "failed"}.get(str(token["signature"]), "skipped")


def _required_text(row: Mapping[str, Any]) -> str:
    if row.get("required"):
        return "yes"
    needed = [str(n) for n in row.get("needed_by", [])]
    if needed:
        return "for endpoint " + ", ".join(f"<code>{_e(n)}</code>" for n in needed)
    return "no (granted only)"


def _table(table_id: str, headers: Sequence[str], rows: Sequence[str], empty: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(rows) or f'<tr><td colspan="{len(headers)}">{_e(empty)}</td></tr>'
    return f'<table id="{_e(table_id)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _role_html(row: Mapping[str, Any]) -> str:
    granted = str(row.get("granted_by_token", "unknown"))
    return (f'<tr><td><code>{_e(row["role"])}</code></td><td>{_required_text(row)}</td>'
            f"<td>{_pill(granted)}</td><td>{_or_dash(row.get('proven_by'))}</td>"
            f"{_result_cell(row)}</tr>")


def _roles_section(rows: Sequence[Mapping[str, Any]]) -> str:
    table = _table("role-matrix", ["Role", "Required", "Granted by token", "Proven by call",
                                   "Result"], [_role_html(r) for r in rows], "No role checked.")
    return ('<section><h2>Role matrix</h2><p class="small">Required: named in the profile\'s '
            "required_roles, or needed by one of its endpoints. Granted by token: the token's "
            "scopes carry the role. Proven by call: a read-only call that needs the role "
            f"succeeded.</p>{table}</section>")


def _latency(row: Mapping[str, Any]) -> str:
    latency, attempts = row.get("latency_ms"), int(row.get("attempts") or 0)
    text = f"{float(latency):.0f} ms" if latency is not None else "&mdash;"
    return text + (f'<br><span class="small">{attempts} attempts</span>' if attempts > 1 else "")


def _endpoint_html(row: Mapping[str, Any]) -> str:
    return (f"<tr><td>{_e(row['method'])}</td><td><code>{_e(row['path'])}</code></td>"
            f'<td class="num">{_or_dash(row.get("status"))}</td>'
            f'<td class="num">{_latency(row)}</td>{_result_cell(row)}</tr>')


def _endpoints_section(rows: Sequence[Mapping[str, Any]]) -> str:
    table = _table("endpoints", ["Method", "Path", "Status", "Latency", "Result"],
                   [_endpoint_html(r) for r in rows], "No endpoint called.")
    return f"<section><h2>Endpoints</h2>{table}</section>"


def _finding_html(finding: Mapping[str, Any]) -> str:
    severity = str(finding["severity"])
    return (f'<article class="finding {_e(severity)}"><h3>{_pill(severity)} '
            f'<code>{_e(finding["code"])}</code> <span class="small">{_e(finding["check"])}'
            f' &middot; {_e(finding["subject"])}</span></h3><p>{_e(finding["message"])}</p>'
            f'<p class="fix"><strong>Fix:</strong> {_e(finding["fix"])}</p></article>')


def _findings_section(findings: Sequence[Mapping[str, Any]]) -> str:
    ordered = sorted(findings, key=lambda f: f.get("severity") != "failure")
    body = "".join(_finding_html(f) for f in ordered) or (
        "<p>No findings: every check passed without a warning.</p>")
    return f'<section id="findings"><h2>Findings ({len(ordered)})</h2>{body}</section>'


def _check_html(check: Mapping[str, Any]) -> str:
    row = {"result": check["outcome"], "code": check.get("code")}
    return (f"<tr><td><code>{_e(check['id'])}</code></td>{_result_cell(row)}"
            f"<td>{_e(check['summary'])}</td></tr>")


def _checks_section(checks: Sequence[Mapping[str, Any]]) -> str:
    table = _table("checks", ["Check", "Result", "Summary"], [_check_html(c) for c in checks],
                   "No check ran.")
    return f"<section><h2>All checks</h2>{table}</section>"


def _signoff(doc: Mapping[str, Any]) -> str:
    sha = _e(str(doc.get("sha256", ""))[:16])
    return ('<section class="signoff" id="signoff"><h2>Review and sign-off</h2>'
            f"<p>I have reviewed this evidence (SHA-256 <code>{sha}&hellip;</code>) for profile "
            f'<strong>{_e(doc["profile"]["name"])}</strong>.</p><p class="decision">'
            "<span>&#9744; Approved for go-live</span><span>&#9744; Not approved</span></p>"
            '<div class="lines"><div>Reviewer name</div><div>Date</div><div>Signature</div>'
            "</div></section>")


def render_html(doc: Mapping[str, Any]) -> str:
    """One self-contained, printable HTML page for the evidence document `doc`."""
    tool = f'{doc["tool"]["name"]} {doc["tool"]["version"]}'
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<title>Go-live evidence: {_e(doc["profile"]["name"])}</title>',
        f"<style>{CSS}</style></head><body><main>",
        _title_block(doc), _counts(doc["summary"], len(doc["checks"])), _header_facts(doc),
        _reference(doc), _token_section(doc.get("token")), _roles_section(doc["roles"]),
        _endpoints_section(doc["endpoints"]), _findings_section(doc["findings"]),
        _checks_section(doc["checks"]), _signoff(doc),
        f"<footer>Written by {_e(tool)} (evidence schema {_e(doc['schema_version'])}). "
        "Client secrets, keys and access tokens are never written to this report.</footer>",
        "</main></body></html>",
    ]
    return scrub("\n".join(parts))


# --- writing -----------------------------------------------------------------------------


def write_evidence(reports_dir: Path, doc: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write `<reports_dir>/<profile>/evidence.json` and `evidence.html`."""
    folder = reports_dir / str(doc["profile"]["name"])
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    return (write_text(folder / "evidence.json", text),
            write_text(folder / "evidence.html", render_html(doc)))
