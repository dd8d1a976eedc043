"""exchanges.har: HAR 1.2 structure, the document's one masking walk, the bounds.

Documents are built the way the plugin builds them (`document.build`), from observations whose
attempts carry `Wire` facts as the transport records them, so masking is tested through the
one walk every report goes through, never by editing rendered text.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import jwt
import pytest

from cpi_preflight.findings import Verdict
from cpi_preflight.observation import (
    WIRE_TEXT,
    Attempt,
    Exchange,
    Failure,
    ProfileObservations,
    Timings,
    TlsCertificate,
    Wire,
)
from cpi_preflight.plan import Plan
from cpi_preflight.reporting import document, har
from cpi_preflight.reporting.document import Document
from cpi_preflight.secret import MASK, Secret, forms, register

from .test_evidence import API_URL, STARTED, TOKEN_URL, sample_plan, sample_verdicts

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SCHEMA = json.loads((FIXTURES / "har" / "har-1.2.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
HOSTILE_SECRET = "Zq&x<y>z\"w'v$u-7Kp"  # every character a format could trip over
AT = STARTED.timestamp()
MPL = f"{API_URL}/api/v1/MessageProcessingLogs?%24top=1"
PACKAGES = f"{API_URL}/api/v1/IntegrationPackages?%24top=1"
CLAIMS = {"client_id": "sb-client!b42|it!b182722", "scope": ["it!b182722.NodeManager.read"],
          "iat": 1746093600, "exp": 1746136800, "zid": "zone-1"}
TOKEN = jwt.encode(CLAIMS, "signing-key-of-the-test-with-enough-length", algorithm="HS256",
                   headers={"kid": "key-id-1"})
SIGNATURE = TOKEN.rsplit(".", 1)[1]
CERTIFICATE = TlsCertificate("tenant:443", "CN=tenant", "CN=Some CA", "2026-05-01T00:00:00+00:00")


def wire(at: float, text: str = "", *, status_line: tuple[str, str] = ("HTTP/1.1", "OK"),
         sent: tuple[tuple[str, str], ...] = (("Accept", "application/json"),),
         headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),),
         **facts: Any) -> Wire:
    given: dict[str, Any] = {
        "received_bytes": len(text.encode()), "decoded_bytes": len(text.encode()),
        "timings": Timings(0.5, 10.0, 6.0, 1.0, 20.0, 2.0), "server_ip": "10.0.0.7",
        "certificate": CERTIFICATE, **facts}
    return Wire(at, sent, 0, *status_line, headers, text, **given)


def token_exchange(text: str, *, status: int = 200) -> Exchange:
    sent = (("Accept", "application/json"), ("Authorization", "Basic ***"),
            ("Content-Type", "application/x-www-form-urlencoded"))
    attempt = Attempt(status, None, 33.0, replace(wire(AT + 0.01, text, sent=sent),
                                                  request_body_size=29))
    return Exchange("POST", TOKEN_URL, status, attempts=(attempt,))


def observations(**changes: Any) -> ProfileObservations:
    """A token call, a key set, a retried endpoint (503 then 200) and one that failed."""
    register(TOKEN)
    answer = json.dumps({"access_token": TOKEN, "token_type": "bearer", "expires_in": 43199})
    bearer = (("Accept", "application/json"), ("Authorization", f"Bearer {TOKEN}"))
    retried = Exchange("GET", MPL, 200, attempts=(
        Attempt(503, None, 5.0, wire(AT + 0.2, "busy", sent=bearer,
                                     status_line=("HTTP/1.1", "Service Unavailable"))),
        Attempt(200, None, 9.0, wire(AT + 0.5, '{"d":{"results":[]}}', sent=bearer))))
    failed = Exchange("GET", PACKAGES, None, failure=Failure("reset", "connection reset"),
                      attempts=(Attempt(None, Failure("reset", "connection reset"), 4.0,
                                        Wire(AT + 0.3, bearer)),))
    keys = Exchange("GET", f"{TOKEN_URL.rsplit('/oauth', 1)[0]}/token_keys", 200,
                    attempts=(Attempt(200, None, 7.0, wire(AT + 0.02, '{"keys":[]}')),))
    seen = ProfileObservations("prod-cf", token=token_exchange(answer), jwks=keys,
                               access_token=Secret(TOKEN),
                               endpoints={"MessageProcessingLogs": retried,
                                          "IntegrationPackages": failed})
    for key, value in changes.items():
        setattr(seen, key, value)
    return seen


def built(seen: ProfileObservations | None = None, the_plan: Plan | None = None,
          verdicts: dict[str, Verdict] | None = None) -> Document:
    the_plan = the_plan or sample_plan()
    return document.build(the_plan, seen or observations(),
                          sample_verdicts(the_plan) if verdicts is None else verdicts,
                          started_at=STARTED, duration_s=1.5, token=None, trust="system CAs",
                          proxy="direct", baseline=None)


def rendered(doc: Document | None = None) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(har.render(doc or built()))
    return parsed


def errors(doc: object) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in VALIDATOR.iter_errors(doc)]


def entries(doc: Document | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = rendered(doc)["log"]["entries"]
    return found


def strings(value: object) -> list[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return [value] if isinstance(value, str) else []


# --- structure ---------------------------------------------------------------------------------


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_the_har_of_a_probe_is_valid_har_1_2() -> None:
    assert errors(rendered()) == []


@pytest.mark.parametrize("tamper", [
    lambda h: h["log"].pop("creator"),
    lambda h: h["log"]["entries"][0].pop("timings"),
    lambda h: h["log"]["entries"][0]["timings"].update(wait=-1),
    lambda h: h["log"]["entries"][0]["request"].pop("queryString"),
    lambda h: h["log"]["entries"][0]["response"]["content"].pop("mimeType"),
    lambda h: h["log"]["entries"][0].update(check="token"),
    lambda h: h["log"]["entries"][0].update(startedDateTime="yesterday"),
])
def test_the_schema_rejects_what_is_not_har(tamper: Any) -> None:
    """The schema can fail: a missing required field, a negative wait, a custom field without
    the underscore and a date that is not ISO 8601 are each refused."""
    har_doc = rendered()
    tamper(har_doc)
    assert errors(har_doc) != []


def test_the_har_is_one_compact_line() -> None:
    text = har.render(built())
    assert text.endswith("}\n")
    assert text.count("\n") == 1
    assert text.startswith('{"log": {"version": "1.2", ')


def test_the_log_names_its_creator_page_and_replay_settings() -> None:
    log = rendered()["log"]
    assert (log["version"], log["creator"]) == ("1.2", {"name": "cpi-preflight",
                                                        "version": log["creator"]["version"]})
    assert log["pages"] == [{"startedDateTime": "2025-05-01T10:00:00Z", "id": "probe",
                             "title": "cpi-preflight prod-cf (cf): failed",
                             "pageTimings": {"onContentLoad": -1, "onLoad": -1}}]
    assert log["_cpiPreflight"] == {
        "profile": "prod-cf", "environment": "cf", "api_url": API_URL, "token_url": TOKEN_URL,
        "client_id": "sb-a1b2c3d4e5f6!b42|it!b182722", "credential": "secret", "strict": False,
        "required_roles": ["WorkspacePackagesRead"],
        "endpoints": ["MessageProcessingLogs", "IntegrationPackages"], "attempts": 3,
        "expiry_warning_days": 30, "client_certificate_expires": ""}


def test_every_attempt_is_one_entry_in_the_order_they_began() -> None:
    shown = [(e["request"]["method"], e["request"]["url"], e["response"]["status"],
              e["_check"], e["_attempt"], e["_attempts"]) for e in entries()]
    assert shown == [
        ("POST", TOKEN_URL, 200, "token", 1, 1),
        ("GET", "https://acme.authentication.eu10.hana.ondemand.com/token_keys", 200, "token",
         1, 1),
        ("GET", MPL, 503, "endpoint[MessageProcessingLogs]", 1, 2),
        ("GET", PACKAGES, 0, "endpoint[IntegrationPackages]", 1, 1),
        ("GET", MPL, 200, "endpoint[MessageProcessingLogs]", 2, 2),
    ]
    assert [e["comment"] for e in entries()][2] == "endpoint[MessageProcessingLogs], attempt 1 of 2"


def test_an_entry_holds_timings_protocol_certificate_and_server_address() -> None:
    entry = entries()[4]
    assert entry["startedDateTime"] == "2025-05-01T10:00:00.500Z"
    assert entry["timings"] == {"blocked": 0.5, "dns": -1, "connect": 10.0, "send": 1.0,
                                "wait": 20.0, "receive": 2.0, "ssl": 6.0}
    assert entry["time"] == 33.5  # the sum of the timings, ssl lying within connect
    assert (entry["request"]["httpVersion"], entry["response"]["httpVersion"],
            entry["response"]["statusText"]) == ("HTTP/1.1", "HTTP/1.1", "OK")
    assert entry["serverIPAddress"] == "10.0.0.7"
    assert entry["_tls"] == {"subject": "CN=tenant", "issuer": "CN=Some CA",
                             "expires": "2026-05-01T00:00:00+00:00"}
    assert entry["request"]["queryString"] == [{"name": "$top", "value": "1"}]
    assert entry["response"]["content"] == {"size": 20, "mimeType": "application/json",
                                            "text": '{"d":{"results":[]}}'}


def test_a_try_without_an_answer_has_status_0_and_the_error() -> None:
    entry = entries()[3]
    assert entry["response"]["status"] == 0
    assert entry["_error"] == "reset: connection reset"
    assert entry["response"]["content"] == {"size": 0, "mimeType": "", "text": ""}


def test_an_exchange_without_wire_facts_is_still_an_entry() -> None:
    """A request the deadline cut off has no attempts: it shows as one failed entry."""
    cut_off = Exchange("GET", MPL, None, failure=Failure("deadline", "ran out"))
    doc = built(observations(endpoints={"MessageProcessingLogs": cut_off}))
    entry = entries(doc)[0]  # it began, as far as anyone knows, when the run began
    assert (entry["startedDateTime"], entry["_error"]) == ("2025-05-01T10:00:00.000Z",
                                                           "deadline: ran out")
    assert errors(rendered(doc)) == []


def test_a_document_read_back_from_evidence_json_gives_an_empty_valid_har() -> None:
    doc = Document(dict(built().record))
    log = rendered(doc)["log"]
    assert log["entries"] == []
    assert log["comment"].endswith("No exchanges: this document was read back from "
                                   "evidence.json.")
    assert errors(rendered(doc)) == []


# --- masking: the document's one walk ---------------------------------------------------------


def echoed(secret: str) -> ProfileObservations:
    """A tenant that echoes `secret` in every place an answer has."""
    register(secret)
    quoted = json.dumps(secret)[1:-1]
    header = (("Content-Type", "text/plain"), ("X-Echo", secret))
    attempt = Attempt(400, None, 3.0, wire(
        AT + 0.4, f"bad client secret {secret} / {quoted}", headers=header,
        status_line=("HTTP/1.1", f"Bad {secret}")))
    endpoint = Exchange("GET", f"{MPL}&x={secret}", 400, attempts=(attempt,))
    failing = Exchange("GET", PACKAGES, None, attempts=(
        Attempt(None, Failure("tls", f"handshake with {secret}"), 1.0, Wire(AT + 0.5)),))
    return observations(endpoints={"MessageProcessingLogs": endpoint,
                                   "IntegrationPackages": failing})


def test_no_secret_shows_in_any_form_anywhere() -> None:
    """The client secret holds `& < > " ' $`; echoed in a body (raw and JSON-escaped), a
    header, the reason phrase, the URL's query and an error detail, it is masked in each."""
    Secret(HOSTILE_SECRET)
    text = har.render(built(echoed(HOSTILE_SECRET)))
    for form in forms(HOSTILE_SECRET) | {json.dumps(HOSTILE_SECRET)[1:-1]}:
        assert form not in text
    entry = next(e for e in json.loads(text)["log"]["entries"] if e["response"]["status"] == 400)
    assert entry["response"]["statusText"] == f"Bad {MASK}"
    assert {"name": "X-Echo", "value": MASK} in entry["response"]["headers"]
    assert entry["response"]["content"]["text"] == f"bad client secret {MASK} / {MASK}"
    assert entry["request"]["queryString"][-1] == {"name": "x", "value": MASK}
    assert errors(json.loads(text)) == []


def test_no_token_no_signature_no_authorization_value() -> None:
    text = har.render(built())
    assert TOKEN not in text
    assert SIGNATURE not in text
    values = {h["value"] for e in json.loads(text)["log"]["entries"]
              for h in e["request"]["headers"] if h["name"] == "Authorization"}
    assert values == {"Basic ***", f"Bearer {MASK}"}


def test_the_token_answer_shows_the_jwt_as_header_and_claims() -> None:
    entry = entries()[0]
    content = entry["response"]["content"]
    assert json.loads(content["text"]) == {
        "access_token": {"jwt_header": {"alg": "HS256", "kid": "key-id-1", "typ": "JWT"},
                         "jwt_claims": CLAIMS},
        "token_type": "bearer", "expires_in": 43199}
    assert content["comment"] == har.TOKEN_ANSWER_NOTE


def test_an_opaque_token_is_masked_whole() -> None:
    answer = json.dumps({"access_token": "0123456789abcdef0123456789abcdef", "expires_in": 0})
    doc = built(observations(token=token_exchange(answer)))
    assert json.loads(entries(doc)[0]["response"]["content"]["text"]) == {
        "access_token": MASK, "expires_in": 0}


def test_a_token_answer_that_is_no_json_object_is_not_shown() -> None:
    """Cut, or broken: a token answer naming a token that cannot be parsed shows nothing of
    itself (an unregistered token in it would otherwise show)."""
    broken = '{"access_token": "eyJ.unregistered.token", "token_type": '
    doc = built(observations(token=token_exchange(broken)))
    assert entries(doc)[0]["response"]["content"]["text"] == document.UNREADABLE_TOKEN_ANSWER
    assert "unregistered" not in har.render(doc)


def test_the_token_request_body_is_masked_whole() -> None:
    request = entries()[0]["request"]
    assert request["bodySize"] == 29
    assert request["postData"] == {"mimeType": "application/x-www-form-urlencoded",
                                   "text": MASK, "comment": har.TOKEN_BODY_NOTE}
    assert "postData" not in entries()[2]["request"]


def test_the_tools_own_words_are_never_masked() -> None:
    """A secret equal to a check id masks none of the check ids (vocabulary)."""
    Secret("token")
    assert [e["_check"] for e in entries()][:2] == ["token", "token"]


def test_masking_happens_in_the_document_not_in_the_renderer() -> None:
    """The renderer writes what the document holds: the walk is where values are masked, so a
    document holding a value renders it (the rule's other side: nothing edits rendered text)."""
    doc = built()
    row = dict(doc.details["exchanges"][2], body="plain-visible-text")
    changed = Document(doc.record, {**doc.details, "exchanges": [row]})
    Secret("plain-visible-text")
    assert entries(changed)[0]["response"]["content"]["text"] == "plain-visible-text"


def test_hostile_server_text_is_one_visible_line() -> None:
    text = "\x1b[2Kok \u202eevil\u200d x\x07\r\nPASSED"
    attempt = Attempt(500, None, 1.0, wire(AT + 0.4, text, status_line=("HTTP/1.1", text)))
    seen = observations(endpoints={"MessageProcessingLogs": Exchange("GET", MPL, 500,
                                                                     attempts=(attempt,))})
    entry = entries(built(seen))[-1]
    assert entry["response"]["content"]["text"] == "ok evil x PASSED"
    assert entry["response"]["statusText"] == "ok evil x PASSED"


# --- bounds ------------------------------------------------------------------------------------


def one_endpoint(text: str, **facts: Any) -> Document:
    attempt = Attempt(200, None, 1.0, wire(AT + 0.4, text, **facts))
    return built(observations(endpoints={"MessageProcessingLogs": Exchange(
        "GET", MPL, 200, attempts=(attempt,))}))


def test_a_long_body_is_cut_and_says_so() -> None:
    content = entries(one_endpoint("a" * (har.BODY_LIMIT + 10)))[-1]["response"]["content"]
    assert len(content["text"]) == har.BODY_LIMIT
    assert content["text"].endswith("a...")
    assert content["comment"] == f"cut to {har.BODY_LIMIT} of its {har.BODY_LIMIT + 10} characters"


def test_a_secret_crossing_the_probes_cut_leaves_no_part_behind() -> None:
    """The probe keeps WIRE_TEXT characters; a secret crossing that cut is not registered as a
    whole there, so the report drops the end of such a text before it cuts."""
    secret = "PART-OF-A-SECRET-crossing"
    text = "x" * (WIRE_TEXT - 9) + secret[:9]
    content = entries(one_endpoint(text, text_cut=True, decoded_bytes=10**6))[-1][
        "response"]["content"]
    assert secret[:9] not in content["text"]
    assert len(content["text"]) == har.BODY_LIMIT
    assert content["comment"] == "cut: only the start of the answer's 1000000 bytes is shown"


def test_at_most_max_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(har, "MAX_ENTRIES", 2)
    log = rendered()["log"]
    assert len(log["entries"]) == 2
    assert log["comment"].endswith("The first 2 of 5 attempts are shown.")


def test_at_most_max_headers_per_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(har, "MAX_HEADERS", 1)
    entry = entries()[0]
    assert len(entry["request"]["headers"]) == 1
    assert entry["comment"] == "token; 2 more request headers not shown"


def test_a_header_value_is_cut() -> None:
    long_value = "v" * (har.HEADER_LIMIT + 5)
    entry = entries(one_endpoint("{}", headers=(("X-Long", long_value),)))[-1]
    assert entry["response"]["headers"] == [{"name": "X-Long",
                                             "value": "v" * (har.HEADER_LIMIT - 3) + "..."}]


def test_past_the_size_budget_entries_keep_only_their_facts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    first = entries()[0]
    used = len(first["response"]["content"]["text"]) + sum(
        len(h["value"]) for part in ("request", "response") for h in first[part]["headers"])
    monkeypatch.setattr(har, "TEXT_BUDGET", used + 10)
    shown = entries()
    assert shown[0] == first  # the first entry fits whole
    last = shown[-1]
    assert (last["response"]["status"], last["request"]["url"]) == (200, MPL)
    assert last["response"]["content"]["text"] == ""
    assert last["response"]["content"]["comment"] == \
        "not shown: the report's size budget was spent"
    assert errors(rendered()) == []
