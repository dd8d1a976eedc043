"""The evidence document: one profile's run as every report shows it, masked and cleaned once.

`build` turns one profile's plan, observations and verdicts, and the results of the team's own
checks that ran for the profile (`user_checks`), into a `Document`: its `record` is the content
of evidence.json (described by `data/evidence.schema.json`, sealed with its own
SHA-256), its `details` what other reports show beyond the record (the full URLs, the time of
each check's call, every attempt of every request as it went over the wire for exchanges.har,
and the profile settings a replay of them needs). Every text of both is masked
(`secret.scrub_all`, one walk over all values) and made one visible line (`text.one_line`)
here, before any renderer sees it; the tool's own vocabulary (outcomes, codes, ids, keys:
`VOCABULARY`) is cleaned but never masked, so that a secret that happens to equal "failed"
cannot turn a result into "***". Renderers read the document, never verdicts, and escape for
their format only.

A document read back from an evidence.json file (`Document(record)`, no details) may hold
anything: `section`, `entries` and `checks` read it without trusting its shape.

The SHA-256 is taken over the canonical JSON of the record without its `sha256` field (sorted
keys, no whitespace, UTF-8), so it can be cited in a change record and recomputed by anyone
(`VERIFY_COMMAND`). It is unkeyed: it shows that the file did not change by accident, not who
wrote it (anyone who edits the file can compute a new one). A signature with the user's own key
does (`SIGN_COMMANDS`, shown on the page and in the README, which tests run as printed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cpi_preflight import __version__, urls
from cpi_preflight.catalog import Endpoint, Severity
from cpi_preflight.claims import TokenFacts, header_and_claims
from cpi_preflight.files import shown_path
from cpi_preflight.findings import (
    PASSED,
    SKIPPED,
    Call,
    Finding,
    Outcome,
    Privilege,
    RoleFacts,
    Verdict,
    WithFindings,
)
from cpi_preflight.observation import (
    Attempt,
    ConnectionUse,
    Exchange,
    ProfileObservations,
    Timings,
    TlsCertificate,
    Wire,
)
from cpi_preflight.plan import LEAST_PRIVILEGE, CheckKind, Plan, endpoint_check_id
from cpi_preflight.profile import Profile
from cpi_preflight.reporting import outcomes
from cpi_preflight.secret import MASK, scrub_all
from cpi_preflight.text import cut, one_line
from cpi_preflight.transport import parse_json
from cpi_preflight.user_checks import UserCheck

# "2": the team's own checks (`user_checks`), counted in the summary; tenant.go_live_evidence
# and tenant.caveat; run.ci.
SCHEMA_VERSION = "2"
MAX_USER_MESSAGE = 2000  # a user check's message, cut after masking (an assertion may be huge)
TOOL_NAME = "cpi-preflight"
API_PREFIX = "/api/v1"
NOT_RUN = "not run in this session"  # the summary of a planned check without a verdict
# Fields whose values are the tool's own vocabulary or identifiers, never outside text: they are
# not masked (a secret that happens to equal "failed" must not turn a result into "***").
VOCABULARY = frozenset({
    "schema_version", "version", "name", "environment", "fingerprint", "credential", "strict",
    "simulated", "result", "outcome", "code", "severity", "kind", "check", "id", "role",
    "needed_by", "granted_by_token", "method", "path", "format", "signature", "started_at",
    "expires_at", "sha256", "protocol", "system", "run_id",
})
# (section, field) pairs under a vocabulary name that hold text from outside: masked. The client
# id names the service key (shown in full), but a registered secret inside it must not show.
OUTSIDE_TEXT = frozenset({("client", "id")})
VERIFY_COMMAND = (
    "python3 -c \"import json,hashlib,sys; d=json.load(open(sys.argv[1],encoding='utf-8')); "
    "s=d.pop('sha256'); print(s==hashlib.sha256(json.dumps(d,sort_keys=True,"
    "separators=(',',':'),ensure_ascii=False).encode()).hexdigest())\" evidence.json"
)

# A detached signature with a key of the user's, and how anyone holding the public key checks it
SIGN_COMMANDS = (
    "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out key.pem",
    "openssl pkey -in key.pem -pubout -out public.pem",
    "openssl dgst -sha256 -sign key.pem -out evidence.json.sig evidence.json",
    "openssl dgst -sha256 -verify public.pem -signature evidence.json.sig evidence.json",
)

Doc = dict[str, Any]


# --- the document and what renderers read of it ---------------------------------------------


@dataclass(frozen=True)
class CheckRow(WithFindings):
    """One check as the reports show it: an entry of the record's `checks` with its findings
    (in the order the diagnosis gave them) and the time of its call, if one was timed."""

    id: str
    outcome: str
    ran: bool
    summary: str
    findings: tuple[Finding, ...] = ()
    elapsed_ms: float | None = None
    left_out: int = 0  # findings beyond the bound, counted but not listed

    @property
    def shown(self) -> outcomes.Shown:
        """How the check is shown and counted (`outcomes.shown`)."""
        return outcomes.shown(self.outcome, ran=self.ran, warned=bool(self.warnings))


@dataclass(frozen=True)
class Document:
    """One profile's run, masked and cleaned: `record` is evidence.json (sealed), `details`
    what other reports show beyond it (`api_url`, `token_url`, `elapsed_ms` by check id,
    `token_latency_ms`, `expiry`; empty for a document read back from a file)."""

    record: Mapping[str, Any]
    details: Mapping[str, Any] = field(default_factory=dict)

    def section(self, key: str) -> Mapping[str, Any]:
        """A part of the record that should be an object (`{}` when it is not)."""
        value = self.record.get(key)
        return value if isinstance(value, dict) else {}

    def entries(self, key: str) -> list[Mapping[str, Any]]:
        """The objects of a part of the record that should be a list of objects."""
        value = self.record.get(key)
        return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []

    @property
    def name(self) -> str:
        return str(self.section("profile").get("name", ""))

    @property
    def environment(self) -> str:
        return str(self.section("profile").get("environment", ""))

    @property
    def caveat(self) -> str:
        """Why the run is no go-live evidence for a real tenant, or '' (`tenant_caveat`); a
        record of an older version that says only `simulated` gets "simulated tenant"."""
        tenant = self.section("tenant")
        caveat = tenant.get("caveat")
        if isinstance(caveat, str) and caveat:
            return caveat
        if tenant.get("simulated") is True:
            return SIMULATED
        return NOT_EVIDENCE if tenant.get("go_live_evidence") is False else ""

    @property
    def caveat_kind(self) -> str:
        """The caveat's kind, its words before the first colon (`simulated tenant`), or ''."""
        return self.caveat.partition(":")[0]

    def checks(self) -> list[CheckRow]:
        """Every check of the record, in its order, with its findings and time."""
        found: dict[str, list[Finding]] = {}
        for entry in self.entries("findings"):
            found.setdefault(str(entry.get("check", "")), []).append(_finding(entry))
        times = self.details.get("elapsed_ms", {})
        rows = []
        for entry in self.entries("checks"):
            check_id, outcome = str(entry.get("id", "?")), entry.get("outcome")
            known = isinstance(outcome, str) and outcome in set(Outcome)  # else: not run
            rows.append(CheckRow(check_id, str(outcome) if known else SKIPPED,
                                 known and entry.get("ran") is not False,
                                 str(entry.get("summary", "")), tuple(found.get(check_id, ())),
                                 times.get(check_id), left_out(entry)))
        return rows

    def user_checks(self) -> list[CheckRow]:
        """The checks written by the team (`checks/`) that belong to this profile, in run order:
        a row each, its message as its summary (no findings: they are the team's own)."""
        rows = []
        for entry in self.entries("user_checks"):
            outcome, duration = entry.get("outcome"), entry.get("duration_s")
            known = isinstance(outcome, str) and outcome in set(Outcome)
            seconds = duration if isinstance(duration, int | float) and not isinstance(
                duration, bool) else None
            rows.append(CheckRow(str(entry.get("nodeid", "?")), str(outcome) if known else SKIPPED,
                                 known and entry.get("ran") is not False,
                                 str(entry.get("message", "")),
                                 elapsed_ms=seconds * 1000 if seconds is not None else None))
        return rows


def left_out(check: Mapping[str, Any]) -> int:
    """How many findings of a check entry were not listed (0 for a value of any other shape)."""
    count = check.get("findings_left_out")
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 0


def _finding(entry: Mapping[str, Any]) -> Finding:
    severity = Severity.FAILURE if entry.get("severity") == Severity.FAILURE else Severity.WARNING
    return Finding(str(entry.get("code", "")), severity, str(entry.get("subject", "")),
                   str(entry.get("message", "")), str(entry.get("fix", "")))


@dataclass(frozen=True)
class Unreadable:
    """An evidence.json that could not be read back: the name it is shown under, and why."""

    name: str
    error: str


# --- building the record -------------------------------------------------------------------


def _utc(moment: datetime | None) -> str | None:
    """`2025-05-01T10:00:00Z`; a naive time is taken to be UTC already."""
    if moment is None:
        return None
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _outcomes(plan: Plan, verdicts: Mapping[str, Verdict]) -> dict[str, Verdict]:
    """A verdict for every planned check, in plan order; a missing one counts as not run."""
    return {c.id: verdicts.get(c.id) or Verdict(c, SKIPPED, NOT_RUN, ran=False)
            for c in plan.checks}


def _profile(prof: Profile) -> Doc:
    return {"name": prof.name, "environment": prof.environment,
            "description": prof.description, "file": shown_path(prof.path),
            "fingerprint": prof.fingerprint(), "strict": prof.strict}


def _tenant(prof: Profile) -> Doc:
    caveat = tenant_caveat(prof)
    return {"api_host": urls.host(prof.api_url), "token_host": urls.host(prof.token_url),
            "simulated": caveat.startswith(SIMULATED), "go_live_evidence": not caveat,
            "caveat": caveat}


SIMULATED = "simulated tenant"
PRIVATE_ADDRESS = "private address"
NOT_EVIDENCE = "not go-live evidence"  # a record that says so without a caveat


def tenant_caveat(prof: Profile) -> str:
    """Why a run of `prof` is no go-live evidence for a real tenant ('' when nothing says so):
    a simulated tenant (the built-in sandbox, a profile marked `simulated: sandbox`, a host on
    this machine), else a host at a private address, which may be an on-premise proxy before
    SAP's tenant but cannot be told from one that is not SAP's."""
    if prof.sandbox is not None:
        return f"{SIMULATED}: the built-in sandbox of cpi-preflight (the profile's sandbox:)"
    if prof.simulated is not None:
        return (f"{SIMULATED}: a cpi-preflight sandbox started on its own (the profile says "
                f"simulated: {prof.simulated})")
    hosts = {"API host": prof.api_url, "token host": prof.token_url}
    for kind, text in ((urls.LOOPBACK, f"{SIMULATED}: {{}} on this machine (loopback), not "
                        "SAP's tenant"),
                       (urls.PRIVATE, f"{PRIVATE_ADDRESS}: {{}} not verifiable as SAP's "
                        "tenant (an on-premise proxy, or a host that is not SAP's)")):
        named = [f"the {label} {urls.host(url)}" for label, url in hosts.items()
                 if urls.address_kind(url) == kind]
        if named:
            return text.format(f"{' and '.join(named)} {'is' if len(named) == 1 else 'are'}")
    return ""


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


# The CI run a report was written in: (system, the variable naming the run, what it must say).
CI_RUNS = (("github", "GITHUB_RUN_ID", ("GITHUB_ACTIONS", "true")),
           ("gitlab", "CI_PIPELINE_ID", ("GITLAB_CI", "true")))
_RUN_ID = re.compile(r"[0-9]{1,20}")


def ci_run(environ: Mapping[str, str]) -> Doc | None:
    """`{"system": "github", "run_id": "123"}` when this process runs in a GitHub Actions run
    (GITHUB_RUN_ID) or a GitLab pipeline (CI_PIPELINE_ID); None elsewhere or when the id is not
    a number (it comes from the environment: only digits are recorded)."""
    for system, variable, (flag, value) in CI_RUNS:
        run_id = environ.get(variable, "")
        if environ.get(flag) == value and _RUN_ID.fullmatch(run_id):
            return {"system": system, "run_id": run_id}
    return None


def _connections(uses: Iterable[ConnectionUse]) -> list[Doc]:
    return [{"host": u.host, "protocol": u.protocol, "connections": u.connections,
             "requests": u.requests, "note": u.note} for u in uses]


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


NOT_DECIDED = RoleFacts("unknown", None)  # a role check that was skipped before its rule ran


def _role_row(plan: Plan, verdict: Verdict) -> Doc:
    role = verdict.check.subject
    facts = verdict.facts if isinstance(verdict.facts, RoleFacts) else NOT_DECIDED
    return {"role": role, "check": verdict.check.id,
            "required": role in plan.profile.required_roles,
            "needed_by": _needed_by(plan, role),
            "granted_by_token": facts.granted,
            "proven_by": _call(facts.proof) if facts.proof is not None else "",
            "result": verdict.outcome, "code": verdict.code}


def _call(call: Call) -> str:
    """A proving call as the check summaries name it: `GET /api/v1/<set> <status>`."""
    return f"GET {API_PREFIX}{call.path} {call.status}"


def _granted_only_rows(plan: Plan, verdict: Verdict | None) -> list[Doc]:
    """Rows for roles the token grants that no check required (from least-privilege)."""
    if verdict is None or not isinstance(verdict.facts, Privilege):
        return []
    excess = set(verdict.facts.excess)
    return [{"role": role, "check": verdict.check.id, "required": False, "needed_by": [],
             "granted_by_token": "yes", "proven_by": "",
             "result": verdict.outcome if role in excess else PASSED,
             "code": verdict.code if role in excess else ""}
            for role in verdict.facts.granted if role not in plan.roles]


def _roles(plan: Plan, checked: Mapping[str, Verdict]) -> list[Doc]:
    rows = [_role_row(plan, v) for v in checked.values() if v.check.kind == CheckKind.ROLE]
    return rows + _granted_only_rows(plan, checked.get(LEAST_PRIVILEGE))


def _endpoint_row(endpoint: Endpoint, seen: ProfileObservations, verdict: Verdict) -> Doc:
    exchange = seen.endpoints.get(endpoint.name)
    return {"name": endpoint.name, "method": "GET", "path": API_PREFIX + endpoint.path,
            "status": exchange.status if exchange is not None else None,
            "latency_ms": round(exchange.elapsed_ms, 1) if exchange is not None else None,
            "attempts": (len(exchange.attempts) or 1) if exchange is not None else 0,
            "result": verdict.outcome, "code": verdict.code}


def _endpoints(plan: Plan, seen: ProfileObservations,
               checked: Mapping[str, Verdict]) -> list[Doc]:
    return [_endpoint_row(e, seen, checked[endpoint_check_id(e.name)]) for e in plan.endpoints
            if endpoint_check_id(e.name) in checked]


def _findings(checked: Mapping[str, Verdict]) -> list[Doc]:
    return [{"check": v.check.id, "code": f.code, "severity": f.severity, "subject": f.subject,
             "message": f.message, "fix": f.fix} for v in checked.values() for f in v.findings]


def _checks(checked: Mapping[str, Verdict]) -> list[Doc]:
    return [{"id": v.check.id, "kind": v.check.kind, "outcome": v.outcome, "ran": v.ran,
             "summary": v.summary, "code": v.code, "findings_left_out": v.left_out}
            for v in checked.values()]


def _user_checks(checks: Sequence[UserCheck]) -> list[Doc]:
    return [{"nodeid": u.nodeid, "outcome": u.outcome, "ran": u.ran, "message": u.message,
             "duration_s": round(u.duration_s, 3)} for u in checks]


def _summary(checked: Mapping[str, Verdict], user_checks: Sequence[UserCheck]) -> Doc:
    """The counts of the built-in checks and the team's own, and the profile's result."""
    verdicts = list(checked.values())
    counts = outcomes.count([
        *(outcomes.shown(v.outcome, ran=v.ran, warned=bool(v.warnings)) for v in verdicts),
        *(outcomes.shown(u.outcome, ran=u.ran, warned=False) for u in user_checks)])
    return {**counts, "warning_findings": sum(len(v.warnings) for v in verdicts),
            "result": outcomes.run_result(counts)}


def _details(prof: Profile, seen: ProfileObservations, checked: Mapping[str, Verdict],
             started_at: datetime) -> Doc:
    return {"api_url": prof.api_url, "token_url": prof.token_url,
            "elapsed_ms": {v.check.id: v.elapsed_ms for v in checked.values()
                           if v.elapsed_ms is not None},
            "exchanges": exchanges(seen, started_at.timestamp()),
            "settings": _settings(prof, seen)}


def _settings(prof: Profile, seen: ProfileObservations) -> Doc:
    """What a replay of the exchanges needs to plan the same checks (`sandbox --replay`)."""
    settings: Doc = {"required_roles": list(prof.required_roles),
                     "endpoints": list(prof.endpoints), "attempts": prof.attempts,
                     "expiry_warning_days": prof.expiry_warning_days}
    if seen.client_certificate is not None:
        settings["expires_at"] = seen.client_certificate.not_after  # the client certificate's
    return settings


# --- the exchanges: every attempt of every request (exchanges.har) ---------------------------


# Members of a token answer that hold a token: shown as a JWT's header and claims, or masked.
TOKEN_MEMBERS = ("access_token", "refresh_token", "id_token")


def exchanges(seen: ProfileObservations, fallback_at: float) -> list[Doc]:
    """Every attempt of the profile's requests in the order they began, as raw facts (the
    walk masks them): the token request and the key set count for the `token` check, each
    endpoint call for its own check. An attempt with no recorded wire facts begins at
    `fallback_at` (epoch seconds)."""
    calls = [("token", seen.token, True), ("token", seen.jwks, False)]
    calls += [(endpoint_check_id(name), exchange, False)
              for name, exchange in seen.endpoints.items()]
    rows = [_attempt_row(check, exchange, number, attempt, token_call, fallback_at)
            for check, exchange, token_call in calls if exchange is not None
            for number, attempt in enumerate(_attempts(exchange), start=1)]
    rows.sort(key=lambda row: row[0])
    return [row for _, row in rows]


def _attempts(exchange: Exchange) -> tuple[Attempt, ...]:
    """An exchange's attempts; one made up from the exchange when none was recorded (a
    request the deadline cut off)."""
    return exchange.attempts or (Attempt(exchange.status, exchange.failure,
                                         exchange.elapsed_ms),)


def _attempt_row(check: str, exchange: Exchange, number: int, attempt: Attempt,
                 token_call: bool, fallback_at: float) -> tuple[float, Doc]:
    wire = attempt.wire or Wire(fallback_at, timings=Timings(wait=attempt.elapsed_ms))
    failure = attempt.failure
    row = {"check": check, "method": exchange.method, "url": exchange.url,
           "attempt": number, "attempts": len(exchange.attempts) or 1,
           "started_at": _utc_ms(wire.at), "request_headers": _pairs(wire.request_headers),
           "request_body_size": wire.request_body_size, "status": attempt.status,
           "reason": wire.reason, "http_version": wire.http_version,
           "response_headers": _pairs(wire.headers),
           "body": _token_answer(wire.text) if token_call else wire.text,
           "body_cut": wire.text_cut, "received_bytes": wire.received_bytes,
           "decoded_bytes": wire.decoded_bytes, "timings": asdict(wire.timings),
           "server_ip": wire.server_ip, "certificate": _certificate(wire),
           "error": f"{failure.kind}: {failure.detail}" if failure is not None else ""}
    return wire.at, row


def _pairs(headers: tuple[tuple[str, str], ...]) -> list[list[str]]:
    return [[name, value] for name, value in headers]


def _certificate(wire: Wire) -> Doc | None:
    cert = wire.certificate
    if cert is None:
        return None
    return {"subject": cert.subject, "issuer": cert.issuer, "expires_at": cert.not_after}


def _utc_ms(epoch: float) -> str:
    """`2025-05-01T10:00:00.123Z`: HAR's startedDateTime, to the millisecond."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


UNREADABLE_TOKEN_ANSWER = (f"{MASK} (not shown: an answer naming a token that cannot be read "
                           "as a JSON object)")


def _token_answer(text: str) -> str:
    """A token endpoint's answer without any token in it: each token member of a JSON object
    becomes its JWT header and claims (`claims.header_and_claims`), or the mask; an answer
    that names a token member but is no JSON object (cut, or broken) is not shown at all."""
    answer = parse_json(text)
    if not isinstance(answer, dict):
        return UNREADABLE_TOKEN_ANSWER if any(k in text for k in TOKEN_MEMBERS) else text
    if not any(k in answer for k in TOKEN_MEMBERS):
        return text
    for key in TOKEN_MEMBERS:
        if key in answer:
            raw = answer[key]
            answer[key] = (header_and_claims(raw) if isinstance(raw, str) else None) or MASK
    cleaned = _walked(answer, list)  # every text one line, the claims' too; none scrubbed here
    return json.dumps(cleaned, ensure_ascii=False, separators=(", ", ": "))


def _measured(prof: Profile, seen: ProfileObservations) -> Doc:
    """What monitoring reads beyond the record: the token endpoint's time to its answer (also
    when the check failed; None without an HTTP answer) and, by `kind`, when the client
    certificate and the token and API hosts' server certificates expire (those that were read)."""
    token = seen.token
    latency = token.elapsed_ms if token is not None and token.status is not None else None
    return {"token_latency_ms": latency,
            "expiry": [{"kind": kind, "expires_at": _utc(datetime.fromisoformat(cert.not_after))}
                       for kind, cert in _certificates(prof, seen)]}


def _certificates(prof: Profile, seen: ProfileObservations
                  ) -> list[tuple[str, TlsCertificate]]:
    """The certificates of a profile's run by what they are: `client`, `token-host`, `api-host`."""
    found = [("client", seen.client_certificate)]
    found += [(kind, seen.server_certificates.get(urls.netloc(url)))
              for kind, url in (("token-host", prof.token_url), ("api-host", prof.api_url))]
    return [(kind, cert) for kind, cert in found if cert is not None]


def build(plan: Plan, seen: ProfileObservations, verdicts: Mapping[str, Verdict], *,
          started_at: datetime, duration_s: float, token: TokenFacts | None, trust: str,
          proxy: str, baseline: str | None, strict: bool = False,
          ci: Doc | None = None, user_checks: Sequence[UserCheck] = ()) -> Document:
    """The document of one profile's run: a record for every planned check (a check without a
    verdict is not run) and every check of the team's that ran for it, masked, cleaned and
    sealed."""
    checked = _outcomes(plan, verdicts)
    prof = plan.profile
    record: Doc = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "profile": _profile(prof), "tenant": _tenant(prof), "client": _client(prof),
        "run": {"started_at": _utc(started_at), "duration_s": round(duration_s, 3),
                "trust": trust, "proxy": proxy,
                "baseline": shown_path(Path(baseline)) if baseline else None,
                "strict": strict or prof.strict,
                "connections": _connections(seen.connections.values()), "ci": ci},
        "token": _token(token),
        "roles": _roles(plan, checked),
        "endpoints": _endpoints(plan, seen, checked),
        "findings": _findings(checked),
        "checks": _checks(checked),
        "user_checks": _user_checks(user_checks),
        "summary": _summary(checked, user_checks),
    }
    masked = _masked({"record": record,
                      "details": {**_details(prof, seen, checked, started_at),
                                  **_measured(prof, seen)}})
    for entry in masked["record"]["user_checks"]:  # cut only once masked: no half secret
        entry["message"] = cut(entry["message"], MAX_USER_MESSAGE)
    masked["record"]["sha256"] = compute_sha256(masked["record"])
    return Document(masked["record"], masked["details"])


# --- masking and cleaning: one walk over every value -----------------------------------------


Where = tuple[str, str]  # the name of the object holding a value, and the value's own name


def _is_outside(where: Where) -> bool:
    return where[1] not in VOCABULARY or where in OUTSIDE_TEXT


Slot = tuple[Any, Any]  # where a text from outside goes once scrubbed: (its dict or list, key)


def _masked(doc: Doc) -> Doc:
    """`doc` with every registered secret masked in its texts from outside (values, never
    keys) and every text made one visible line (which also drops lone surrogates, which
    UTF-8 cannot encode)."""
    masked: Doc = _walked(doc, scrub_all)
    return masked


def _walked(value: Any, outside: Callable[[list[str]], list[str]]) -> Any:
    """A copy of `value`, every text one visible line, the texts from outside first passed
    through `outside` all at once (`scrub_all`: one search). One walk copies `value` and notes
    where each text from outside goes; they are put in place afterwards."""
    slots: list[Slot] = []
    texts: list[str] = []
    cleaned = _cleaned(value, ("", ""), slots, texts)
    for (container, key), text in zip(slots, outside(texts), strict=True):
        container[key] = one_line(text)
    return cleaned


def _cleaned(value: Any, where: Where, slots: list[Slot], texts: list[str]) -> Any:
    """A copy of `value` whose texts of ours are made one line; each text from outside is
    left as it is, its place in `slots` and itself in `texts`."""
    if isinstance(value, dict):
        copied: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(item, str):
                copied[key] = _text(item, _is_outside((where[1], key)), (copied, key), slots,
                                    texts)
            else:
                copied[key] = _cleaned(item, (where[1], key), slots, texts)
        return copied
    if isinstance(value, list):
        outside = _is_outside(where)
        items: list[Any] = []
        for item in value:
            items.append(_text(item, outside, (items, len(items)), slots, texts)
                         if isinstance(item, str) else _cleaned(item, where, slots, texts))
        return items
    return value


def _text(text: str, outside: bool, slot: Slot, slots: list[Slot], texts: list[str]) -> str:
    if outside:
        slots.append(slot)
        texts.append(text)
        return text  # for now: `_walked` puts its treated form in its place
    return one_line(text)


# --- the seal ------------------------------------------------------------------------------


def canonical_json(record: Mapping[str, Any]) -> bytes:
    """The bytes the SHA-256 is taken over: `record` without `sha256`, sorted, compact, UTF-8."""
    body = {k: v for k, v in record.items() if k != "sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def compute_sha256(record: Mapping[str, Any]) -> str:
    """The hex SHA-256 of `canonical_json(record)`."""
    return hashlib.sha256(canonical_json(record)).hexdigest()


def verify_sha256(record: Mapping[str, Any]) -> bool:
    """Whether `record["sha256"]` matches the record's content."""
    stored = record.get("sha256")
    if not isinstance(stored, str):
        return False
    return hmac.compare_digest(stored.encode("utf-8"), compute_sha256(record).encode("utf-8"))
