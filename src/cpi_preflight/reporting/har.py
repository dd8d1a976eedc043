"""exchanges.har: every request and answer of one profile's probe, as an HTTP Archive (HAR 1.2).

Browser developer tools (Network tab, "Import HAR"), Postman, Insomnia and HAR viewers open it;
an SAP incident can carry it. One entry per attempt (a retried request has one per try), in the
order they began, with HAR's timings (blocked, connect, ssl, send, wait, receive), the protocol
version, and custom fields (HAR's rule: they start with `_`): `_check` (the check the call
served), `_attempt`/`_attempts`, `_tls` (the server certificate's subject, issuer and expiry) and
`_error` (why a try got no answer). The log's `_cpiPreflight` holds the profile settings that
`cpi-preflight sandbox --replay` needs to serve the same answers again.

Everything comes from the document's `details["exchanges"]`, masked in the document's one walk:
no secret, no token (a token answer shows each JWT as its header and claims; `reporting.document`),
no `Authorization` value beyond its scheme, no cookie value, and the token request's body is
never recorded (`***`). Texts are one visible line each (`text.one_line`), which keeps JSON
readable as JSON. A document read back from evidence.json has no exchanges: its HAR has none.

Bounds (the file stays small whatever a tenant sends): at most `MAX_ENTRIES` entries; a body at
most `BODY_LIMIT` characters (an answer the probe itself cut, at `observation.WIRE_TEXT`, also
loses its last `SECRET_MARGIN` characters, so no part of a secret crossing that cut shows); at
most `MAX_HEADERS` headers per message, each value at most `HEADER_LIMIT` characters; and at most
`TEXT_BUDGET` characters of bodies and header values in all, past which entries keep their
method, URL, status and timings only. Each cut is said in the entry's `comment`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cpi_preflight.reporting.document import TOKEN_MEMBERS, TOOL_NAME, Document
from cpi_preflight.secret import MASK
from cpi_preflight.text import cut

HAR_VERSION = "1.2"
PAGE_ID = "probe"
MAX_ENTRIES = 300
BODY_LIMIT = 16 * 1024
SECRET_MARGIN = 16 * 1024
MAX_HEADERS = 64
HEADER_LIMIT = 1024
TEXT_BUDGET = 8 * 1024 * 1024
CLIENT_HTTP_VERSION = "HTTP/1.1"  # the probe's client speaks HTTP/1.1 only
TOKEN_BODY_NOTE = "the token request's body (grant type, client id) is not recorded"
TOKEN_ANSWER_NOTE = ("each token is shown as its JWT header and claims, or as ***; the token "
                     "and its signature are not recorded")
Row = Mapping[str, Any]


@dataclass
class _Budget:
    """Characters of bodies and header values the file may still hold."""

    left: int

    def take(self, text: str) -> bool:
        if len(text) > self.left:
            self.left = 0
            return False
        self.left -= len(text)
        return True


def render(document: Document) -> str:
    """The HAR 1.2 JSON of one profile's probe."""
    rows = _rows(document)
    budget = _Budget(TEXT_BUDGET)
    entries = [_entry(row, budget) for row in rows[:MAX_ENTRIES]]
    log: dict[str, Any] = {
        "version": HAR_VERSION,
        "creator": {"name": TOOL_NAME, "version": _text(document.section("tool"), "version")},
        "pages": [_page(document, entries)],
        "entries": entries,
        "comment": _log_comment(document, len(rows)),
        "_cpiPreflight": _settings(document),
    }
    # compact, one line: HAR is read by tools (browsers, HAR viewers, `--replay`), and
    # json's indented form has no C encoder (it took most of a run's report time)
    return json.dumps({"log": log}, ensure_ascii=False) + "\n"


def _rows(document: Document) -> list[Row]:
    found = document.details.get("exchanges")
    return [r for r in found if isinstance(r, Mapping)] if isinstance(found, list) else []


def _text(row: Row, key: str) -> str:
    value = row.get(key)
    return value if isinstance(value, str) else ""


def _number(row: Row, key: str, default: float = -1) -> float:
    value = row.get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else default


# --- the log -----------------------------------------------------------------------------------


def _page(document: Document, entries: list[dict[str, Any]]) -> dict[str, Any]:
    started = _text(document.section("run"), "started_at") or (
        entries[0]["startedDateTime"] if entries else "1970-01-01T00:00:00.000Z")
    result = _text(document.section("summary"), "result") or "not known"
    return {"startedDateTime": started, "id": PAGE_ID,
            "title": f"{TOOL_NAME} {document.name} ({document.environment}): {result}",
            "pageTimings": {"onContentLoad": -1, "onLoad": -1}}


def _log_comment(document: Document, count: int) -> str:
    said = (f"Every request and answer of the probe of profile {document.name}, recorded by "
            f"{TOOL_NAME}. Secrets, tokens, Authorization and cookie values are masked (***).")
    if not document.details:
        return said + " No exchanges: this document was read back from evidence.json."
    if count > MAX_ENTRIES:
        return said + f" The first {MAX_ENTRIES} of {count} attempts are shown."
    return said


def _settings(document: Document) -> dict[str, Any]:
    """What a replay needs to point a profile at the recorded answers (`sandbox --replay`)."""
    details, client = document.details, document.section("client")
    given = details.get("settings")
    settings: Row = given if isinstance(given, Mapping) else {}
    return {"profile": document.name, "environment": document.environment,
            "api_url": _text(details, "api_url"), "token_url": _text(details, "token_url"),
            "client_id": _text(client, "id"), "credential": _text(client, "credential"),
            "strict": document.section("profile").get("strict") is True,
            "required_roles": _strings(settings.get("required_roles")),
            "endpoints": _strings(settings.get("endpoints")),
            "attempts": int(_number(settings, "attempts", 3)),
            "expiry_warning_days": int(_number(settings, "expiry_warning_days", 30)),
            "client_certificate_expires": _text(settings, "expires_at")}


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


# --- one entry ---------------------------------------------------------------------------------


def _entry(row: Row, budget: _Budget) -> dict[str, Any]:
    notes: list[str] = []
    timings = _timings(row)
    entry: dict[str, Any] = {
        "pageref": PAGE_ID,
        "startedDateTime": _text(row, "started_at") or "1970-01-01T00:00:00.000Z",
        "time": round(sum(v for k, v in timings.items() if k != "ssl" and v >= 0), 3),
        "request": _request(row, budget, notes),
        "response": _response(row, budget, notes),
        "cache": {},
        "timings": timings,
        "comment": "; ".join([_call(row), *notes]),
        "_check": _text(row, "check"),
        "_attempt": int(_number(row, "attempt", 1)),
        "_attempts": int(_number(row, "attempts", 1)),
    }
    if _text(row, "server_ip"):
        entry["serverIPAddress"] = _text(row, "server_ip")
    certificate = row.get("certificate")
    if isinstance(certificate, Mapping):
        entry["_tls"] = {"subject": _text(certificate, "subject"),
                         "issuer": _text(certificate, "issuer"),
                         "expires": _text(certificate, "expires_at")}
    if _text(row, "error"):
        entry["_error"] = _text(row, "error")
    return entry


def _call(row: Row) -> str:
    """`endpoint[MessageProcessingLogs], attempt 2 of 3` (Insomnia names a request by it)."""
    attempts = int(_number(row, "attempts", 1))
    tried = f", attempt {int(_number(row, 'attempt', 1))} of {attempts}" if attempts > 1 else ""
    return f"{_text(row, 'check') or 'request'}{tried}"


def _timings(row: Row) -> dict[str, float]:
    """HAR's phases in its order; `ssl` lies within `connect`, and `dns` within `connect`
    too (the client does not report resolving apart): -1."""
    given = row.get("timings")
    found: Row = given if isinstance(given, Mapping) else {}

    def optional(name: str) -> float:
        value = _number(found, name)
        return round(value, 3) if value >= 0 else -1

    def required(name: str) -> float:
        return round(max(0.0, _number(found, name, 0)), 3)

    return {"blocked": optional("blocked"), "dns": -1, "connect": optional("connect"),
            "send": required("send"), "wait": required("wait"),
            "receive": required("receive"), "ssl": optional("ssl")}


def _request(row: Row, budget: _Budget, notes: list[str]) -> dict[str, Any]:
    url, size = _text(row, "url"), int(_number(row, "request_body_size", 0))
    headers = _headers(row.get("request_headers"), budget, notes, "request")
    request: dict[str, Any] = {
        "method": _text(row, "method"), "url": url,
        "httpVersion": _text(row, "http_version") or CLIENT_HTTP_VERSION,
        "cookies": [], "headers": headers, "queryString": _query(url),
        "headersSize": -1, "bodySize": size}
    if size > 0:
        request["postData"] = {"mimeType": _header_value(headers, "content-type"),
                               "text": MASK, "comment": TOKEN_BODY_NOTE}
    return request


def _query(url: str) -> list[dict[str, str]]:
    return [{"name": name, "value": value}
            for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True)]


def _response(row: Row, budget: _Budget, notes: list[str]) -> dict[str, Any]:
    headers = _headers(row.get("response_headers"), budget, notes, "answer")
    status = row.get("status")
    return {
        "status": status if isinstance(status, int) and not isinstance(status, bool) else 0,
        "statusText": _text(row, "reason"), "httpVersion": _text(row, "http_version"),
        "cookies": [], "headers": headers, "content": _content(row, headers, budget),
        "redirectURL": _header_value(headers, "location"),
        "headersSize": -1, "bodySize": int(_number(row, "received_bytes"))}


def _content(row: Row, headers: list[dict[str, str]], budget: _Budget) -> dict[str, Any]:
    body, said = _body(row)
    if not budget.take(body):
        body, said = "", "not shown: the report's size budget was spent"
    content: dict[str, Any] = {"size": int(_number(row, "decoded_bytes", 0)),
                               "mimeType": _header_value(headers, "content-type"),
                               "text": body}
    if _text(row, "method") == "POST" and any(f'"{k}"' in body for k in TOKEN_MEMBERS):
        said = "; ".join(filter(None, [TOKEN_ANSWER_NOTE, said]))
    if said:
        content["comment"] = said
    return content


def _body(row: Row) -> tuple[str, str]:
    """The body as shown, and what was cut from it."""
    body = _text(row, "body")
    if row.get("body_cut") is True:  # the probe kept only the start of a longer answer
        size = int(_number(row, "decoded_bytes", 0))
        shown = cut(body, max(1, min(BODY_LIMIT, len(body) - SECRET_MARGIN)))
        return shown, f"cut: only the start of the answer's {size} bytes is shown"
    if len(body) > BODY_LIMIT:
        return cut(body, BODY_LIMIT), f"cut to {BODY_LIMIT} of its {len(body)} characters"
    return body, ""


def _headers(pairs: object, budget: _Budget, notes: list[str],
             whose: str) -> list[dict[str, str]]:
    given = [p for p in pairs if isinstance(p, list) and len(p) == 2
             and all(isinstance(v, str) for v in p)] if isinstance(pairs, list) else []
    shown = []
    for name, value in given[:MAX_HEADERS]:
        value = cut(value, HEADER_LIMIT)
        if not budget.take(value):
            notes.append(f"{whose} headers not shown: the report's size budget was spent")
            return []
        shown.append({"name": cut(name, HEADER_LIMIT), "value": value})
    if len(given) > MAX_HEADERS:
        notes.append(f"{len(given) - MAX_HEADERS} more {whose} headers not shown")
    return shown


def _header_value(headers: list[dict[str, str]], name: str) -> str:
    return next((h["value"] for h in headers if h["name"].lower() == name), "")
