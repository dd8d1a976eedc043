"""Go-live evidence: `evidence.json` (with its own SHA-256) and a printable `evidence.html`.

`build_evidence` turns one profile's plan, observations and verdicts into a JSON document
(described by `data/evidence.schema.json`), its texts masked before anything serialises them;
`render_html` turns that document into one self-contained page for a reviewer through an
autoescaping Jinja2 template (`data/evidence.html.j2`). Both are pure. `write_evidence` is the
only function that writes, and it writes through `report.write_text`.

The SHA-256 is taken over the canonical JSON of the document without its `sha256` field (sorted
keys, no whitespace, UTF-8), so it can be cited in a change record and recomputed by anyone.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from cpi_preflight import __version__
from cpi_preflight.catalog import Endpoint
from cpi_preflight.claims import TokenFacts
from cpi_preflight.files import shown_path
from cpi_preflight.findings import FAILED, PASSED, SKIPPED, Finding, Verdict
from cpi_preflight.observation import ConnectionUse, ProfileObservations
from cpi_preflight.plan import LEAST_PRIVILEGE, Plan, endpoint_check_id
from cpi_preflight.profile import Profile
from cpi_preflight.report import write_text
from cpi_preflight.secret import scrub_all

SCHEMA_VERSION = "1"
TOOL_NAME = "cpi-preflight"
API_PREFIX = "/api/v1"
GRANTED_VALUES = ("yes", "no", "unknown")
ENVIRONMENT_NAMES = {"cf": "Cloud Foundry", "neo": "Neo"}
NOT_RUN = "not run in this session"
# The fact `run.Run.reported` sets on the skip verdict of a check pytest did not run (deselected
# or not reached): such a check proves nothing, so a run with one is incomplete, never passed.
NOT_RUN_FACT = "not_run"
INCOMPLETE = "incomplete"
WARNING = "warning"
TEMPLATE = "evidence.html.j2"
_SURROGATE = re.compile("[\ud800-\udfff]")  # not encodable: the JSON must be valid UTF-8
# Fields whose values are the tool's own vocabulary or identifiers, never outside text: they are
# not masked (a secret that happens to equal "failed" must not turn a result into "***").
VOCABULARY = frozenset({
    "schema_version", "version", "name", "environment", "fingerprint", "credential", "strict",
    "simulated", "result", "outcome", "code", "severity", "kind", "check", "id", "role",
    "needed_by", "granted_by_token", "method", "path", "format", "signature", "started_at",
    "expires_at", "sha256", "protocol",
})


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
    return {c.id: verdicts.get(c.id) or Verdict(c, SKIPPED, NOT_RUN, facts={NOT_RUN_FACT: True})
            for c in plan.checks}


def _profile(prof: Profile) -> Doc:
    return {"name": prof.name, "environment": prof.environment,
            "description": prof.description, "file": shown_path(prof.path),
            "fingerprint": prof.fingerprint(), "strict": prof.strict}


def _tenant(prof: Profile) -> Doc:
    return {"api_host": _host(prof.api_url), "token_host": _host(prof.token_url),
            "simulated": prof.sandbox is not None}


def trust_text(prof: Profile, environ: Mapping[str, str]) -> str:
    """Where TLS trust came from, without local paths: `system CAs + profile CA corp.pem`."""
    cert_file = environ.get("SSL_CERT_FILE")
    parts = [f"SSL_CERT_FILE {Path(cert_file).name}" if cert_file else "system CAs"]
    if prof.sandbox is not None:
        parts.append("sandbox CA")
    elif prof.ca_bundle is not None:
        parts.append(f"profile CA {prof.ca_bundle.name}")
    if prof.uses_certificate:
        parts.append("client certificate")
    return " + ".join(parts)


def _connections(uses: Iterable[ConnectionUse]) -> list[Doc]:
    return [{"host": u.host, "protocol": u.protocol, "connections": u.connections,
             "requests": u.requests, "note": u.note} for u in uses]


def connections_text(hosts: Iterable[Mapping[str, Any]]) -> str:
    """`api.example.com: HTTP/2, 1 connection, 10 requests; ...`, per host, with the note of a
    host that went over to HTTP/1.1."""
    parts = []
    for host in hosts:
        opened, sent = int(host.get("connections") or 0), int(host.get("requests") or 0)
        text = (f"{host.get('host')}: {host.get('protocol') or 'no connection'}, "
                f"{opened} connection{'' if opened == 1 else 's'}, "
                f"{sent} request{'' if sent == 1 else 's'}")
        parts.append(text + (f" ({host['note']})" if host.get("note") else ""))
    return "; ".join(parts)


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
            "proven_by": _call(str(verdict.facts.get("proven_by") or "")),
            "result": verdict.outcome, "code": verdict.code}


def _call(text: str) -> str:
    """A proving call as the check summaries name it: `GET /api/v1/<set> <status>`."""
    method, _, rest = text.partition(" ")
    if method == "GET" and rest.startswith("/") and not rest.startswith(API_PREFIX + "/"):
        return f"GET {API_PREFIX}{rest}"
    return text


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
    return [{"id": v.check.id, "kind": v.check.kind, "outcome": v.outcome, "ran": was_run(v),
             "summary": v.summary, "code": v.code} for v in outcomes.values()]


def was_run(verdict: Verdict) -> bool:
    """Whether pytest ran the check (a deselected or unreached one carries `NOT_RUN_FACT`)."""
    return not verdict.facts.get(NOT_RUN_FACT)


def shown_outcome(verdict: Verdict) -> str:
    """How a check counts, as the terminal counts it: failed, warning (passed with warnings),
    passed, skipped, or not_run."""
    if not was_run(verdict):
        return NOT_RUN_FACT
    return WARNING if verdict.outcome == PASSED and verdict.warnings else verdict.outcome


def run_result(failed: int, not_run: int) -> str:
    """failed if a check failed; else incomplete if a check was not run; else passed."""
    return FAILED if failed else INCOMPLETE if not_run else PASSED


def _summary(outcomes: Mapping[str, Verdict]) -> Doc:
    verdicts = list(outcomes.values())
    shown = [shown_outcome(v) for v in verdicts]
    counts = {o: shown.count(o) for o in (FAILED, WARNING, PASSED, SKIPPED, NOT_RUN_FACT)}
    return {**counts, "warning_findings": sum(len(v.warnings) for v in verdicts),
            "result": run_result(counts[FAILED], counts[NOT_RUN_FACT])}


def _texts(value: Any, key: str, found: list[str]) -> None:
    """Collect, in walk order, the string values of `value` outside `VOCABULARY` fields."""
    if isinstance(value, dict):
        for k, v in value.items():
            _texts(v, k, found)
    elif isinstance(value, list):
        for item in value:
            _texts(item, key, found)
    elif isinstance(value, str) and key not in VOCABULARY:
        found.append(value)


def _put(value: Any, key: str, clean: Iterator[str]) -> Any:
    """`value` with its texts replaced, in the order `_texts` collected them."""
    if isinstance(value, dict):
        return {k: _put(v, k, clean) for k, v in value.items()}
    if isinstance(value, list):
        return [_put(item, key, clean) for item in value]
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", next(clean) if key not in VOCABULARY else value)
    return value


def _masked(doc: Doc) -> Doc:
    """`doc` with every registered secret masked in its texts: values are masked before they
    are serialised or rendered, keys and the tool's vocabulary are left alone."""
    found: list[str] = []
    _texts(doc, "", found)
    masked: Doc = _put(doc, "", iter(scrub_all(found)))
    return masked


def build_evidence(plan: Plan, seen: ProfileObservations, verdicts: Mapping[str, Verdict], *,
                   started_at: datetime, duration_s: float, token: TokenFacts | None,
                   trust: str, proxy: str, baseline: str | None,
                   strict: bool = False) -> dict[str, Any]:
    """The evidence document of one profile's run, with its `sha256` set."""
    outcomes = _outcomes(plan, verdicts)
    prof = plan.profile
    doc: Doc = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "profile": _profile(prof), "tenant": _tenant(prof), "client": _client(prof),
        "run": {"started_at": _utc(started_at), "duration_s": round(duration_s, 3),
                "trust": trust, "proxy": proxy,
                "baseline": shown_path(Path(baseline)) if baseline else None,
                "strict": strict or prof.strict,
                "connections": _connections(seen.connections.values())},
        "token": _token(token),
        "roles": _roles(plan, outcomes),
        "endpoints": _endpoints(plan, seen, outcomes),
        "findings": _findings(outcomes),
        "checks": _checks(outcomes),
        "summary": _summary(outcomes),
    }
    sealed: Doc = _masked(doc)
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


VERIFY_COMMAND = (
    "python3 -c \"import json,hashlib,sys; d=json.load(open(sys.argv[1],encoding='utf-8')); "
    "s=d.pop('sha256'); print(s==hashlib.sha256(json.dumps(d,sort_keys=True,"
    "separators=(',',':'),ensure_ascii=False).encode()).hexdigest())\" evidence.json"
)


COUNT_WORDS = ((FAILED, "failed"), (WARNING, "warning"), (PASSED, "passed"),
               (SKIPPED, "skipped"), (NOT_RUN_FACT, "not run"))
_CODE_SPAN = re.compile(r"`([^`]*)`")


def _prose(text: object) -> Markup:
    """A finding text as markup: `code spans` become <code>, a `cf ...` span becomes a block of
    its own that can be copied whole. Every piece is escaped; nothing of `text` opens markup."""
    pieces: list[Markup] = []
    for number, part in enumerate(_CODE_SPAN.split(str(text))):
        if number % 2 == 0:
            pieces.append(escape(part))
        elif part.startswith("cf "):
            pieces.append(Markup('<code class="command">{}</code>').format(part))
        else:
            pieces.append(Markup("<code>{}</code>").format(part))
    return Markup("").join(pieces)


def counts_text(summary: Mapping[str, Any]) -> str:
    """`9 checks: 2 failed, 1 warning, 5 passed, 1 skipped, 2 not run`, counted as the terminal
    counts (by shown outcome, zero counts left out), then the number of warning findings."""
    parts = [(int(summary.get(key) or 0), word) for key, word in COUNT_WORDS]
    total = sum(n for n, _ in parts)
    words = [f"{n} {w}{'s' if w == WARNING and n > 1 else ''}" for n, w in parts if n]
    text = f"{total} check{'' if total == 1 else 's'}: {', '.join(words) or 'none'}"
    found = int(summary.get("warning_findings") or 0)
    if found:
        text += f"; {found} warning finding{'' if found == 1 else 's'}"
    return text


@functools.lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("cpi_preflight", "data"), autoescape=True,
        undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    environment.filters["prose"] = _prose
    return environment.get_template(TEMPLATE)


def _when(stamp: object) -> str:
    text = str(stamp or "")
    return text.replace("T", " ").replace("Z", " UTC") if text else ""


def _strict_text(doc: Mapping[str, Any]) -> str:
    if not doc["run"].get("strict"):
        return "no"
    return "yes (profile: strict: true)" if doc["profile"].get("strict") else "yes (--strict)"


def render_html(doc: Mapping[str, Any]) -> str:
    """One self-contained, printable HTML page for the evidence document `doc` (whose texts
    are already masked), rendered by an autoescaping template: no value can open markup."""
    environment = str(doc["profile"]["environment"])
    return _template().render(
        doc=doc, when=_when, strict=_strict_text(doc), verify_command=VERIFY_COMMAND,
        counts=counts_text(doc["summary"]),
        connections=connections_text(doc["run"].get("connections") or []),
        environment=f"{ENVIRONMENT_NAMES.get(environment, environment)} ({environment})",
        findings=sorted(doc["findings"], key=lambda f: f.get("severity") != "failure"),
    )


# --- writing -----------------------------------------------------------------------------


def write_evidence(reports_dir: Path, doc: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write `<reports_dir>/<profile>/evidence.json` and `evidence.html`."""
    folder = reports_dir / str(doc["profile"]["name"])
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    return (write_text(folder / "evidence.json", text),
            write_text(folder / "evidence.html", render_html(doc)))
