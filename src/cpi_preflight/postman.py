"""Postman Collection v2.1 (+ environment) -> the connection and endpoints of a profile.

People test their CPI API client in Postman (or run the collection with Newman) first.
`cpi-preflight init --postman C.json` reads the collection as Postman exports it and as teams
keep it:

- the OAuth client, from an OAuth 2.0 client-credentials auth block (collection, folder or
  request level, `inherit` honoured), or from Bearer `{{access_token}}` and the token request
  that fetches it: a POST with `grant_type=client_credentials` whose client id and secret are
  form fields (urlencoded, form-data or raw) or its Basic auth, the shape that runs in Newman;
- `{{variables}}` from the environment file and the collection's `variable` list;
- the entity sets the requests call under `<api>/api/v1/`.

Nothing is dropped silently. Requests that do not become an endpoint (not GET, outside the
catalog, not on /api/v1, another authorization than the client's, the token request itself)
are in `Import.left_out` with the reason; what is checked otherwise than the collection sends
it (query options, a sub-resource, credentials taken out of the token URL) is in
`Import.changes`.

The files are hostile input: reads are bounded, nesting and counts are capped, names shown in
messages are made one visible line (`text.one_line`) and cut (`text.cut`), and every problem
is one `PostmanError` naming the file (its `source`), the request and what to do. No value that
`init` writes holds a secret of the collection in any form `secret.forms` knows, and a URL with
user info (`https://user:password@host`) is refused without being shown.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cpi_preflight import catalog as catalog_module
from cpi_preflight import files, secret
from cpi_preflight.errors import PostmanError, StructureError
from cpi_preflight.secret import Secret
from cpi_preflight.text import ELLIPSIS, cut, one_line
from cpi_preflight.urls import environment_of, normalize_api_url, user_info_problem

MAX_BYTES = 10 * 1024 * 1024
MAX_RESOLVED = 64 * 1024  # characters one value may grow to through {{variables}}
MAX_JSON_DEPTH = 200  # folders nest; postman's own depth rule names the folder
MAX_DEPTH = 32
MAX_REQUESTS = 5000
MAX_NAMED = 5  # query options named in one line; the rest are counted
SCHEMA_V21 = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
_VARIABLE = re.compile(r"\{\{([^{}]+)\}\}")
_ONLY_VARIABLE = re.compile(r"\s*\{\{([^{}]+)\}\}\s*")
_API_ROOT = "/api/v1/"
_EXPORT_AGAIN = "export it again from Postman (Collection > ... > Export > Collection v2.1)"
_EXPORT_ENVIRONMENT = "Environments > ... > Export"


def shown(text: object, limit: int = 80) -> str:
    """`text` fit for a one-line message: one visible line of at most `limit` characters."""
    return cut(one_line(str(text)), limit)


def _request_line(request: str, call: str, text: str) -> str:
    return f"request '{request}' ({call}): {text}"


@dataclass(frozen=True)
class LeftOut:
    """A request of the collection that does not become an endpoint, and why."""

    request: str
    call: str
    reason: str

    def line(self) -> str:
        return _request_line(self.request, self.call, self.reason)


@dataclass(frozen=True)
class Import:
    """What the collection says about the API client.

    `auth_from` names where the client is set (the collection, a folder, a request, the token
    request); `client_from` says it for a reader ("OAuth 2.0 authorization of the collection");
    `changes` are lines saying what is checked otherwise than the collection sends it."""

    api_url: str
    token_url: str
    client_id: str
    client_secret: Secret | None
    environment: str
    endpoints: list[str]
    left_out: list[LeftOut] = field(default_factory=list)
    auth_from: str = ""
    changes: list[str] = field(default_factory=list)
    client_from: str = ""
    environment_from: str = "the token URL"


# --- reading the files ------------------------------------------------------------------------

def read_json(path: Path, option: str) -> dict[str, Any]:
    """A JSON object from `path`, read at most `MAX_BYTES`. Any problem is a one-line error
    naming `option` and the file: `PostmanError` for its content, `files.read_named`'s
    `ConfigError` when it cannot be read."""
    where = f"{option} {shown(path, 200)}"
    raw = files.read_named(path, MAX_BYTES, where, missing=f"{_EXPORT_AGAIN} and give its path",
                           refused="export only the collection that calls the Cloud "
                                   "Integration API")
    try:
        data = files.load_json(raw.decode("utf-8-sig"), max_depth=MAX_JSON_DEPTH)
    except StructureError as exc:
        raise PostmanError(f"{exc}; {_EXPORT_AGAIN}", where) from None
    except UnicodeDecodeError:
        raise PostmanError(f"is not UTF-8 text; {_EXPORT_AGAIN}", where) from None
    except json.JSONDecodeError as exc:
        raise PostmanError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: "
                           f"{exc.msg}; {_EXPORT_AGAIN}", where) from None
    if not isinstance(data, dict):
        raise PostmanError(f"expected a JSON object, found {type(data).__name__}; "
                           f"{_EXPORT_AGAIN}", where)
    return data


def kind_of(data: dict[str, Any]) -> str:
    """What a Postman export is by its shape: `collection` (info, item), `environment` (a
    `values` list; globals exports too) or `unknown`."""
    if isinstance(data.get("info"), dict) or "item" in data:
        return "collection"
    if (data.get("_postman_variable_scope") in ("environment", "globals")
            or isinstance(data.get("values"), list)):
        return "environment"
    return "unknown"


def _export_name(data: dict[str, Any]) -> str:
    info = data.get("info")
    name = info.get("name") if isinstance(info, dict) else data.get("name")
    return shown(name or "", 60) or "(unnamed)"


def _check_kinds(collection: tuple[Path, dict[str, Any]],
                 environment: tuple[Path, dict[str, Any]] | None) -> None:
    """A collection given as --postman-environment, or an environment as --postman, is named
    for what it is."""
    c_path, c_data = collection
    c_where = f"--postman {shown(c_path, 200)}"
    c_kind = kind_of(c_data)
    e_kind = None if environment is None else kind_of(environment[1])
    e_where = "" if environment is None else f"--postman-environment {shown(environment[0], 200)}"
    if c_kind == "environment" and environment is not None and e_kind == "collection":
        raise PostmanError(
            f"--postman and --postman-environment are swapped: {c_where} is the Postman "
            f"environment '{_export_name(c_data)}' and {e_where} the collection "
            f"'{_export_name(environment[1])}'; give each file with the other option",
            source=None)
    if c_kind == "environment":
        raise PostmanError(
            f"this is the Postman environment '{_export_name(c_data)}', not a collection: give "
            "it with --postman-environment, and the collection (Collection > ... > Export > "
            "Collection v2.1) with --postman", c_where)
    if environment is not None and e_kind == "collection":
        raise PostmanError(
            f"this is the Postman collection '{_export_name(environment[1])}', not an "
            f"environment: give it with --postman, and the environment ({_EXPORT_ENVIRONMENT}) "
            "with --postman-environment", e_where)
    if environment is not None and e_kind == "unknown":
        raise PostmanError(f"has no `values` list; this is not a Postman environment: export "
                           f"it again from Postman ({_EXPORT_ENVIRONMENT})", e_where)


def _check_schema(path: Path, collection: dict[str, Any]) -> None:
    info = collection.get("info")
    schema = info.get("schema") if isinstance(info, dict) else None
    where = f"--postman {shown(path, 200)}"
    if not isinstance(schema, str) or "getpostman.com" not in schema:
        raise PostmanError(f"info.schema is missing; this is not a Postman collection "
                           f"({_EXPORT_AGAIN})", where)
    if "/v2.1." not in schema:
        raise PostmanError(f"info.schema is {shown(schema)}; only Collection v2.1 is read: "
                           f"{_EXPORT_AGAIN}", where)


def _entries(entries: object) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(entry, key, value) of a Postman key/value list, values as text."""
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            continue
        value = entry.get("value")
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            yield entry, entry["key"], str(value)


def _is_disabled(entry: dict[str, Any]) -> bool:
    return entry.get("enabled") is False or entry.get("disabled") is True


def _pairs(entries: object, *, enabled_only: bool) -> dict[str, str]:
    return {key: value for entry, key, value in _entries(entries)
            if not ((enabled_only and entry.get("enabled") is False)
                    or entry.get("disabled") is True)}


def variables(collection: dict[str, Any], environment: dict[str, Any] | None) -> dict[str, str]:
    """The values of `{{name}}`: the collection's `variable` list, then the environment's
    enabled `values` on top (Postman's precedence: environment over collection)."""
    found = _pairs(collection.get("variable"), enabled_only=True)
    if environment is not None:
        found.update(_pairs(environment.get("values"), enabled_only=True))
    return found


def disabled_variables(collection: dict[str, Any],
                       environment: dict[str, Any] | None) -> dict[str, str]:
    """The variables that are there but disabled, with where (`environment`, `collection`)."""
    found = {key.strip(): "collection"
             for entry, key, _ in _entries(collection.get("variable")) if _is_disabled(entry)}
    if environment is not None:
        found.update({key.strip(): "environment"
                      for entry, key, _ in _entries(environment.get("values"))
                      if _is_disabled(entry)})
    return found


@dataclass(frozen=True)
class Resolver:
    """Replaces `{{name}}` in the collection's strings; names what it could not resolve
    (`disabled`: variables that are there but disabled, name -> `environment`/`collection`)."""

    values: Mapping[str, str]
    has_environment: bool
    disabled: Mapping[str, str] = field(default_factory=dict)

    def missing(self, text: str) -> list[str]:
        return list(_VARIABLE.findall(self.resolve_known(text)))

    def resolve_known(self, text: str) -> str:
        """`text` with every variable that has a non-empty value replaced; variables that
        refer to each other may not grow it beyond `MAX_RESOLVED` characters."""
        size = len(text)

        def value(match: re.Match[str]) -> str:
            nonlocal size
            found = self.values.get(match.group(1).strip()) or match.group(0)
            size += len(found) - len(match.group(0))
            if size > MAX_RESOLVED:
                raise PostmanError(
                    f"{{{{{shown(match.group(1), 40)}}}}}: the collection's variables expand to "
                    f"more than {MAX_RESOLVED // 1024} KiB in one value (variables that refer "
                    f"to each other?); {_EXPORT_AGAIN} with plain values", source=None)
            return found

        for _ in range(10):  # variables may refer to variables; a cycle stops here
            done = _VARIABLE.sub(value, text)
            if done == text:
                break
            text = done
        return text

    def resolve(self, text: str, where: str) -> str:
        """`text` with every variable replaced; `where` names it in the collection
        ("request 'Get logs': url")."""
        resolved = self.resolve_known(text)
        missing = _VARIABLE.findall(resolved)
        if missing:
            raise PostmanError(f"{where}: {self._why_missing(missing)}")
        return resolved

    def _why_missing(self, missing: list[str]) -> str:
        off = [m for m in dict.fromkeys(missing)
               if m.strip() in self.disabled and m.strip() not in self.values]
        if off:
            where, export = _DISABLED_IN[self.disabled[off[0].strip()]]
            return (f"{_names(off)} is disabled in {where} (its checkbox is unticked in "
                    f"Postman); enable it and export {export} again")
        names = _names(missing)
        if all(m.strip() in self.values for m in missing):
            return (f"{names} has no value (Postman exports a variable's initial value, not "
                    "its current value); fill it in the exported file, or give it with "
                    "--postman-environment")
        hint = ("the environment file does not define it either; add it there or to the "
                "collection's variables" if self.has_environment else
                "give the Postman environment that defines it with --postman-environment "
                "ENV.json")
        return f"{names} is not defined; {hint}"


_DISABLED_IN = {"environment": ("the environment file", "the environment"),
                "collection": ("the collection's variables", "the collection")}


def _names(variables: list[str]) -> str:
    return ", ".join("{{" + shown(m, 40) + "}}" for m in dict.fromkeys(variables))


# --- walking the collection -------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    """One request of the collection with the auth block it runs with, its body and the text
    of its scripts (a token request's test script sets the token variable)."""

    name: str
    method: str
    url: str
    auth: dict[str, Any] | None
    auth_owner: str
    body: dict[str, Any] | None = None
    scripts: str = ""


def _auth_of(node: dict[str, Any], inherited: tuple[dict[str, Any] | None, str],
             owner: str) -> tuple[dict[str, Any] | None, str]:
    auth = node.get("auth")
    if not isinstance(auth, dict) or auth.get("type") in (None, "inherit"):
        return inherited
    return auth, owner


def _url_text(url: object) -> str:
    if isinstance(url, str):
        return url
    if not isinstance(url, dict):
        return ""
    if isinstance(url.get("raw"), str):
        return str(url["raw"])
    host = url.get("host")
    path = url.get("path")
    host_text = ".".join(map(str, host)) if isinstance(host, list) else str(host or "")
    path_text = "/".join(map(str, path)) if isinstance(path, list) else str(path or "")
    protocol = str(url.get("protocol") or "https")
    port = f":{url['port']}" if url.get("port") else ""
    return f"{protocol}://{host_text}{port}/{path_text}"


def _scripts(events: object) -> str:
    """The lines of a node's scripts (`event[].script.exec`), joined."""
    lines: list[str] = []
    for event in events if isinstance(events, list) else []:
        script = event.get("script") if isinstance(event, dict) else None
        code = script.get("exec") if isinstance(script, dict) else None
        if isinstance(code, str):
            lines.append(code)
        elif isinstance(code, list):
            lines.extend(line for line in code if isinstance(line, str))
    return "\n".join(lines)


def walk(items: object, inherited: tuple[dict[str, Any] | None, str], folder: str = "",
         depth: int = 0) -> Iterator[Request]:
    """Every request under `items` (folders nest through `item`), depth-first, in order."""
    if depth > MAX_DEPTH:
        raise PostmanError(f"folders nested deeper than {MAX_DEPTH} levels "
                           f"(at '{shown(folder)}'); this is not a Postman export")
    for node in items if isinstance(items, list) else []:
        if not isinstance(node, dict):
            continue
        name = shown(node.get("name") or "") or "(unnamed)"
        label = f"{folder}/{name}" if folder else name
        auth = _auth_of(node, inherited, f"folder '{label}'")
        if "item" in node:
            yield from walk(node["item"], auth, label, depth + 1)
            continue
        request = node.get("request")
        if isinstance(request, str):  # v2.1 allows a bare URL string
            request = {"url": request, "method": "GET"}
        if not isinstance(request, dict):
            continue
        own = _auth_of(request, auth, f"request '{label}'")
        body = request.get("body")
        yield Request(label, str(request.get("method") or "GET").upper(),
                      _url_text(request.get("url")), own[0], own[1],
                      body if isinstance(body, dict) else None, _scripts(node.get("event")))


def requests(collection: dict[str, Any]) -> list[Request]:
    """All requests of the collection, capped at MAX_REQUESTS."""
    top = _auth_of(collection, (None, ""), "the collection")
    found: list[Request] = []
    for request in walk(collection.get("item"), top):
        found.append(request)
        if len(found) > MAX_REQUESTS:
            raise PostmanError(f"more than {MAX_REQUESTS} requests; export only the "
                               "collection that calls the Cloud Integration API")
    return found


# --- URLs -------------------------------------------------------------------------------------

def has_user_info(url: str) -> bool:
    """Whether `url` carries user info (`https://user:password@host`): the profile's rule
    (`urls.user_info_problem`)."""
    return user_info_problem(url) is not None


def _refuse_user_info(url: str, where: str) -> None:
    if has_user_info(url):
        raise PostmanError(f"{where}: has user info before the host (user:password@); "
                           "cpi-preflight would send it in place of the client's credentials: "
                           "remove it from the URL in the collection (the client id and secret "
                           "belong in the OAuth 2.0 authorization or the token request)")


def _shown_url(url: str) -> str:
    """`url` for a message: without its query and fragment, which may hold credentials."""
    bare = url.split("#", 1)[0]
    head, query_mark, _ = bare.partition("?")
    return shown(head) + (f"?{ELLIPSIS}" if query_mark else "")


# --- the OAuth client -------------------------------------------------------------------------

_AUTH_HELP = ("cpi-preflight checks an OAuth client: in Postman, set Authorization to OAuth 2.0 "
              "with Grant Type Client Credentials (Access Token URL, Client ID, Client Secret "
              "from the service key), or run cpi-preflight init --service-key KEY.json")
_BASIC_HELP = ("cpi-preflight checks an OAuth client, not a user: in Postman, set Authorization "
               "to OAuth 2.0 with Grant Type Client Credentials, or write the profile from the "
               "client's values: on Neo (which has no service keys) `cpi-preflight init "
               "--environment neo --name NAME --api-url URL --token-url URL --client-id ID`, "
               "with an OAuth client of Neo cockpit > Security > OAuth > Clients; on Cloud "
               "Foundry `cpi-preflight init --service-key KEY.json --name NAME`")
_NEO_AUTH_HELP = ("cpi-preflight checks an OAuth client, and Neo has no service keys: create the "
                  "client in the Neo cockpit (Security > OAuth > Clients, subscription ...tmn, "
                  "grant type Client Credentials; the token endpoint is on the Branding tab), "
                  "then set it in Postman as OAuth 2.0 with Grant Type Client Credentials, or "
                  "run cpi-preflight init --environment neo --api-url API_URL --token-url "
                  "TOKEN_URL --client-id CLIENT_ID --name NAME")
_CREDENTIAL_PARAMETERS = ("grant_type", "client_id", "client_secret")


@dataclass(frozen=True)
class Client:
    """The client-credentials settings the API requests use, variables resolved: `owner` is
    where they are set, `described` says how for a reader, `changes` what was taken out."""

    token_url: str
    client_id: str
    client_secret: Secret | None
    owner: str
    described: str = ""
    changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Refusal:
    """Why a request's authorization gives no OAuth client: `error` when no request has one,
    `reason` (the left-out reason) when others do."""

    error: str
    reason: str
    basic: bool = False  # a user's Basic authentication: the help names both init forms


@dataclass(frozen=True)
class TokenUrl:
    """A token URL without the credential parameters of its query (`removed`: name -> value as
    written: form-encoded around its variables, which are not resolved)."""

    url: str
    removed: dict[str, str]

    def changes(self, owner: str) -> tuple[str, ...]:
        if not self.removed:
            return ()
        secret_note = ("; the secret is never written to a profile"
                       if "client_secret" in self.removed else "")
        return (f"{owner}: {', '.join(self.removed)} taken out of the token URL's query "
                f"(cpi-preflight sends the grant type and the client itself{secret_note})",)


def token_url(text: str, resolver: Resolver, where: str) -> TokenUrl:
    """The token URL `text`, variables resolved, without `grant_type`, `client_id` and
    `client_secret` in its query: cpi-preflight sends those itself, and a secret is never
    written to a profile. The query is split before its variables are resolved, so a secret
    holding `&` is taken out whole; a variable holding the query is split after."""
    head, _, query = text.strip().split("#", 1)[0].partition("?")
    base, _, own = resolver.resolve(head, where).strip().partition("?")
    kept: list[str] = []
    removed: dict[str, str] = {}
    for part in [*own.split("&"), *query.split("&")]:
        name, _, value = part.partition("=")
        key = urllib.parse.unquote_plus(resolver.resolve_known(name)).strip().lower()
        if key in _CREDENTIAL_PARAMETERS:
            removed[key] = value
        elif part:
            kept.append(resolver.resolve(part, where))
    url = base.split("#", 1)[0] + ("?" + "&".join(kept) if kept else "")
    _refuse_user_info(url, where)
    return TokenUrl(url, removed)


def _form_decoded(text: str) -> str:
    """Form-encoded `text` (a query, a raw body) percent-decoded around its `{{variables}}`:
    a variable's value is used as it is (the service key's secret with its `+` and `/`), only
    what is written around it is URL text."""
    parts = re.split(r"(\{\{[^{}]+\}\})", text)
    return "".join(p if _VARIABLE.fullmatch(p) else urllib.parse.unquote_plus(p) for p in parts)


def _value(resolver: Resolver, text: str | None, encoded: bool) -> str | None:
    """`text` resolved (percent-decoded around its variables when `encoded`); None when empty
    or a variable stays unresolved."""
    if text is None:
        return None
    value = resolver.resolve_known(_form_decoded(text) if encoded else text)
    if _VARIABLE.search(value):
        return None
    return value.strip() or None


def _secret(resolver: Resolver, candidates: list[tuple[str | None, bool]]) -> Secret | None:
    """The first candidate (text, percent-encoded?) with a value, as a `Secret`."""
    for text, encoded in candidates:
        value = _value(resolver, text, encoded)
        if value is not None:
            return Secret(value)
    return None


def _set_on(request: Request) -> str:
    """`, inherited from folder 'X'` when the request inherits its authorization."""
    own = request.auth_owner in ("", f"request '{request.name}'")
    return "" if own else f", inherited from {request.auth_owner}"


def _oauth_client(request: Request, resolver: Resolver) -> Client | Refusal:
    owner, set_on = request.auth_owner, _set_on(request)
    fields = _pairs((request.auth or {}).get("oauth2"), enabled_only=False)
    grant = resolver.resolve_known(fields.get("grant_type", "authorization_code"))
    if grant != "client_credentials":
        return Refusal(f"{owner}: OAuth 2.0 grant type is {shown(grant, 40)}, not "
                       "client_credentials",
                       f"OAuth 2.0 grant type {shown(grant, 40)}{set_on}, not client_credentials")
    for key in ("accessTokenUrl", "clientId"):
        if not fields.get(key, "").strip():
            return Refusal(f"{owner}: OAuth 2.0 {key} is empty",
                           f"OAuth 2.0 {key} is empty{set_on}")
    url = token_url(fields["accessTokenUrl"], resolver, f"{owner}: accessTokenUrl")
    client_id = resolver.resolve(fields["clientId"], f"{owner}: clientId").strip()
    secret_value = _secret(resolver, [(fields.get("clientSecret"), False),
                                      (url.removed.get("client_secret"), True)])
    return Client(url.url, client_id, secret_value, owner,
                  f"OAuth 2.0 authorization of {owner}", url.changes(owner))


@dataclass(frozen=True)
class TokenRequest:
    """A request that fetches a token with the client credentials grant (the Newman shape),
    its token URL and the client it names (None when it names no client id). `unresolved` is
    the error to raise when the client is used but a variable in its client id has no value
    (a token request nobody uses may have one)."""

    request: Request
    url: TokenUrl
    client: Client | None
    unresolved: PostmanError | None = None
    sets: frozenset[str] = frozenset()  # the variables its scripts set


_SETS_VARIABLE = re.compile(r"\bset\w*\(\s*[\"'`]([^\"'`\n]{1,200})[\"'`]")


def _variables_set(scripts: str) -> frozenset[str]:
    """The variables a script sets: `pm.environment.set("access_token", ...)`,
    `pm.collectionVariables.set`, `pm.globals.set`, `postman.setEnvironmentVariable`, ..."""
    return frozenset(name.strip() for name in _SETS_VARIABLE.findall(scripts))


def _form_fields(body: dict[str, Any] | None) -> tuple[dict[str, str], bool]:
    """The form fields of a request body as Postman stores them (urlencoded, form-data text
    fields, or raw `a=b&c=d`), names lower-cased, values as written; and whether the values
    are percent-encoded (raw) or sent as they are (Postman encodes the others itself)."""
    if body is None:
        return {}, False
    mode = body.get("mode")
    if mode in ("urlencoded", "formdata"):
        entries = body.get(mode)
        texts = [e for e in entries if isinstance(e, dict)
                 and e.get("type", "text") == "text"] if isinstance(entries, list) else []
        return {k.strip().lower(): v for k, v in _pairs(texts, enabled_only=False).items()}, False
    raw = body.get("raw")
    if mode != "raw" or not isinstance(raw, str):
        return {}, False
    fields = {}
    for part in raw.strip().split("&"):
        name, _, value = part.partition("=")
        fields[urllib.parse.unquote_plus(name).strip().lower()] = value
    return fields, True


def token_request(request: Request, resolver: Resolver) -> TokenRequest | None:
    """`request` as a token request: a POST whose form fields (or URL query) hold
    `grant_type=client_credentials`. The client id is the form field `client_id`, else the
    user name of its Basic auth, else `client_id` in its URL; the secret likewise."""
    if request.method != "POST":
        return None
    fields, encoded = _form_fields(request.body)
    url = token_url(request.url, resolver, f"request '{request.name}': url")
    grant = (_value(resolver, fields["grant_type"], encoded) if "grant_type" in fields
             else _value(resolver, url.removed.get("grant_type"), True))
    if grant != "client_credentials":
        return None
    auth = request.auth or {}
    basic = (_pairs(auth.get("basic"), enabled_only=False) if auth.get("type") == "basic"
             else {})
    ids = [(fields.get("client_id"), encoded), (basic.get("username"), False),
           (url.removed.get("client_id"), True)]
    written = next(((text, enc) for text, enc in ids if text and text.strip()), None)
    sets = _variables_set(request.scripts)
    if written is None:
        return TokenRequest(request, url, None, sets=sets)
    owner = f"the token request '{request.name}'"
    try:
        client_id = resolver.resolve(_form_decoded(written[0]) if written[1] else written[0],
                                     f"{owner}: client_id").strip()
    except PostmanError as exc:
        return TokenRequest(request, url, None, exc, sets)
    secret_value = _secret(resolver, [(fields.get("client_secret"), encoded),
                                      (basic.get("password"), False),
                                      (url.removed.get("client_secret"), True)])
    return TokenRequest(request, url, Client(url.url, client_id, secret_value, owner,
                                             changes=url.changes(owner)), sets=sets)


def _bearer_client(request: Request, tokens: list[TokenRequest]) -> Client | Refusal:
    """The client of Bearer `{{variable}}`: the token request whose script sets the variable,
    else the collection's only token request (or several that name one client)."""
    owner, set_on = request.auth_owner, _set_on(request)
    token = _pairs((request.auth or {}).get("bearer"), enabled_only=False).get("token", "")
    match = _ONLY_VARIABLE.fullmatch(token)
    if match is None:
        return Refusal(f"{owner} uses a Bearer token written into the collection",
                       f"uses a Bearer token written into the collection{set_on}, not an "
                       "OAuth client")
    name = match.group(1).strip()
    variable = "{{" + shown(name, 40) + "}}"
    found = [t for t in tokens if name in t.sets] or tokens
    for fetcher in found:
        if fetcher.unresolved is not None:
            raise fetcher.unresolved
    if not found:
        return Refusal(f"{owner} uses Bearer {variable}, and no request in the collection "
                       "fetches a token (a POST to the token URL with "
                       "grant_type=client_credentials)",
                       f"uses Bearer {variable}{set_on}, and no request in the collection "
                       "fetches a token")
    clients = {(t.client.token_url, t.client.client_id): t.client for t in found if t.client}
    if not clients:
        nameless = found[0].request.name
        return Refusal(f"{owner} uses Bearer {variable} from the token request '{nameless}', "
                       "which names no client id (a form field client_id, or Basic auth with "
                       "the client id as user name)",
                       f"uses Bearer {variable}{set_on}; the token request '{nameless}' names "
                       "no client id")
    if len(clients) > 1:
        raise _two_clients(*list(clients.values())[:2])
    client = next(iter(clients.values()))
    return Client(client.token_url, client.client_id, client.client_secret, client.owner,
                  f"{client.owner.removeprefix('the ')}, for Bearer {variable}", client.changes)


def _client_of(request: Request, resolver: Resolver, tokens: list[TokenRequest],
               read: dict[int, Client]) -> Client | Refusal:
    """The client of `request`'s authorization, or why it has none. `read` holds the clients
    of the OAuth 2.0 blocks read so far (the requests under one block share its dict)."""
    auth = request.auth
    if auth is None or auth.get("type") == "noauth":
        return Refusal(f"request '{request.name}' has no authorization",
                       f"has no authorization (No Auth){_set_on(request)}")
    kind = shown(auth.get("type"), 30)
    if kind == "oauth2":
        if id(auth) in read:
            return read[id(auth)]
        outcome = _oauth_client(request, resolver)
        if isinstance(outcome, Client):
            read[id(auth)] = outcome
        return outcome
    if kind == "bearer":
        return _bearer_client(request, tokens)
    what = "Basic authentication (user and password)" if kind == "basic" else f"auth {kind}"
    return Refusal(f"{request.auth_owner} uses {what}",
                   f"uses {what}{_set_on(request)}, not an OAuth client", basic=kind == "basic")


def _two_clients(first: Client, second: Client) -> PostmanError:
    return PostmanError(f"the requests use two OAuth clients ({first.owner}: "
                        f"{shown(first.client_id)}; {second.owner}: "
                        f"{shown(second.client_id)}); a profile checks one client: import "
                        "a collection (or folder export) that uses one")


def _one_client(outcomes: list[Client | Refusal], environment: str | None) -> Client:
    """The one OAuth client the API requests use; none, or two different ones, is an error
    (the first request's refusal, with what to do on `environment`)."""
    clients: dict[tuple[str, str], Client] = {}
    for outcome in outcomes:
        if isinstance(outcome, Client):
            clients.setdefault((outcome.token_url, outcome.client_id), outcome)
    if not clients:
        first = next(o for o in outcomes if isinstance(o, Refusal))
        help_text = (_NEO_AUTH_HELP if environment == "neo"
                     else _BASIC_HELP if first.basic else _AUTH_HELP)
        raise PostmanError(f"{first.error}; {help_text}")
    if len(clients) > 1:
        raise _two_clients(*list(clients.values())[:2])
    return next(iter(clients.values()))


def environment_of_api(api_url: str) -> str | None:
    """neo for a Neo tenant host (`<account>-tmn.<ssl host>.<landscape host>`), else None."""
    try:
        host = (urllib.parse.urlsplit(api_url).hostname or "").lower()
    except ValueError:
        return None
    return "neo" if "-tmn." in host else None


# --- the API calls ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    """Where one request goes: the API base URL (as `urls.normalize_api_url` makes it, as the
    profile loader will), the path below /api/v1/ and the query as sent."""

    base: str
    path: str
    query: str = ""


def _call_of(url: str) -> Call | None:
    bare, _, query = url.split("#", 1)[0].partition("?")
    index = bare.find(_API_ROOT)
    if index < 0 or not bare.startswith(("https://", "http://")):
        return None
    return Call(normalize_api_url(bare[:index]),
                "/" + bare[index + len(_API_ROOT):].strip("/"), query)


def _entity_set(path: str, cat: catalog_module.Catalog) -> tuple[str, str]:
    """The catalog name for a path below /api/v1 (exact catalog path first, else the set) and
    the rest of the path below the entity (a sub-resource such as `/Attachments`)."""
    for name, endpoint in cat.endpoints.items():
        if endpoint.path == path:
            return name, ""
    first, _, rest = path.lstrip("/").partition("/")
    entity = first.split("(", 1)[0]
    if rest == "$count" and first == entity and f"{entity}Count" in cat.endpoints:
        return f"{entity}Count", ""
    return entity, f"/{rest}" if rest else ""


def _dropped_options(query: str, endpoint: catalog_module.Endpoint) -> str:
    """The query options of a request that its check does not send as given ("query option
    $filter is", "query options $top, $format are"); empty when there are none."""
    names: list[str] = []
    for part in query.split("&"):
        raw_name, _, raw_value = part.partition("=")
        name = urllib.parse.unquote_plus(raw_name).strip()
        sent = (name, urllib.parse.unquote_plus(raw_value)) in endpoint.query
        if name and not sent and name not in names:
            names.append(name)
    if not names:
        return ""
    more = f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else ""
    listed = ", ".join(shown(n, 30) for n in names[:MAX_NAMED]) + more
    return f"query options {listed} are" if len(names) > 1 else f"query option {listed} is"


def _classify(request: Request, call: Call, environment: str,
              cat: catalog_module.Catalog) -> tuple[str | LeftOut, list[str]]:
    """The endpoint a request becomes (with what its check does otherwise than the request),
    or why it is left out."""
    where = f"{request.method} {shown(call.path)}"
    name, rest = _entity_set(call.path, cat)
    if request.method not in ("GET", "HEAD"):
        return LeftOut(request.name, where, "not read-only; cpi-preflight only reads"), []
    if not name or name.startswith("$"):
        what = "the service root /api/v1/" if not name else shown(name, 40)
        return LeftOut(request.name, where, f"reads {what}, not an entity set"), []
    notes: list[str] = []
    other = cat.not_endpoints.get(name)
    if other is not None:
        notes.append(f"checked as {other.checked_by}: {name} {other.reason}")
        name = other.checked_by
    if name not in cat.endpoints:
        hint = cat.closest_endpoint(name)
        tail = f" (did you mean {hint}?)" if hint else ""
        return LeftOut(request.name, where, f"{shown(name, 60)} is not in the catalog{tail}; "
                       "`cpi-preflight catalog` lists the entity sets it knows"), []
    endpoint = cat.endpoints[name]
    if environment not in endpoint.environments:
        return LeftOut(request.name, where, f"{name} does not exist on {environment}"), []
    if rest:
        reads = "" if other is not None else f"; the check reads {name}"
        notes.append(f"the sub-resource {shown(rest, 60)} is not called{reads}")
    dropped = _dropped_options(call.query, endpoint)
    if dropped:
        notes.append(f"{dropped} not sent; the check sends "
                     f"{endpoint.request_text()}")
    return name, notes


def _one_base(calls: list[tuple[Request, Call]]) -> str:
    bases: dict[str, Request] = {}
    for request, call in calls:
        bases.setdefault(call.base, request)
    if len(bases) > 1:
        (a, first), (b, second) = list(bases.items())[:2]
        raise PostmanError(f"the requests call two API hosts ({shown(a)} in request "
                           f"'{first.name}', {shown(b)} in request '{second.name}'); a profile "
                           "checks one tenant: import one tenant's requests")
    return next(iter(bases))


# --- no secret in what is written -------------------------------------------------------------

def _credentials(found: list[Request], resolver: Resolver,
                 clients: list[Client]) -> dict[str, str]:
    """Every credential the collection holds, value -> what it is: the clients' secrets,
    Basic auth passwords, OAuth 2.0 client secrets and Bearer tokens written in."""
    held: dict[str, str] = {}
    for client in clients:
        if client.client_secret:
            held.setdefault(client.client_secret.reveal(), "the client secret")
    for request in found:
        auth = request.auth or {}
        kind = str(auth.get("type"))
        field_name = {"basic": "password", "oauth2": "clientSecret", "bearer": "token"}.get(
            kind, "")
        value = _value(resolver, _pairs(auth.get(kind), enabled_only=False).get(field_name),
                       False) if field_name else None
        if value is not None:
            held.setdefault(value, f"the {field_name} of the {kind} authorization of "
                                   f"{request.auth_owner}")
    return held


_WRITTEN = (("api_url", "the API URL (from the requests' URLs)", "the requests' URLs"),
            ("token_url", "the token URL", "the token URL"),
            ("client_id", "the client id", "the client id"))


def _refuse_secrets(imported: Import, credentials: dict[str, str]) -> None:
    """No value written to the profile holds a credential, in any form `secret.forms` knows
    (raw, URL-encoded, base64, JSON/HTML-escaped, ...)."""
    for attribute, label, place in _WRITTEN:
        text = str(getattr(imported, attribute))
        for value, what in credentials.items():
            if any(form in text for form in secret.forms(value)):
                raise PostmanError(f"{label} would hold {what}; cpi-preflight never writes a "
                                   f"secret into a profile: take it out of {place} in the "
                                   "collection")


# --- the import -------------------------------------------------------------------------------

Placed = tuple[int, LeftOut]  # a left-out request and its place in the collection


def _sort(found: list[Request], resolver: Resolver) -> tuple[
        list[tuple[int, TokenRequest]], list[tuple[int, Request, Call]], list[Placed]]:
    """The token requests, the calls to <API host>/api/v1/, and the other requests (left
    out), each with its place in the collection."""
    tokens: list[tuple[int, TokenRequest]] = []
    calls: list[tuple[int, Request, Call]] = []
    other: list[Placed] = []
    for place, request in enumerate(found):
        fetcher = token_request(request, resolver)
        if fetcher is not None:
            tokens.append((place, fetcher))
            continue
        where = f"request '{request.name}': url"
        url = resolver.resolve(request.url, where)
        _refuse_user_info(url, where)
        call = _call_of(url)
        if call is None:
            other.append((place, LeftOut(request.name, f"{request.method} {_shown_url(url)}",
                                         "not a call to <API host>/api/v1/")))
        else:
            calls.append((place, request, call))
    return tokens, calls, other


def _token_requests_left_out(tokens: list[tuple[int, TokenRequest]],
                             client: Client) -> list[Placed]:
    left: list[Placed] = []
    for place, fetcher in tokens:
        used = fetcher.client is not None and (
            fetcher.client.owner, fetcher.client.token_url, fetcher.client.client_id) == (
            client.owner, client.token_url, client.client_id)
        reason = ("the token request: its URL and client are the profile's token_url and "
                  "client_id; cpi-preflight fetches its own token" if used else
                  "a token request (grant_type=client_credentials); cpi-preflight fetches its "
                  "own token")
        left.append((place, LeftOut(fetcher.request.name,
                                    f"POST {_shown_url(fetcher.url.url)}", reason)))
    return left


def read(collection_path: Path, environment_path: Path | None,
         environment: str | None) -> Import:
    """Read the collection (and environment) into an `Import`; errors are `PostmanError`s
    whose `source` names the file (the parts reading the collection's content name only the
    option: the file is added here)."""
    try:
        return _read(collection_path, environment_path, environment)
    except PostmanError as exc:
        if exc.source != "--postman":
            raise
        raise PostmanError(exc.problem, f"--postman {shown(collection_path, 200)}") from None


def _read(collection_path: Path, environment_path: Path | None,
          environment: str | None) -> Import:
    collection = read_json(collection_path, "--postman")
    env_doc = None if environment_path is None else read_json(environment_path,
                                                               "--postman-environment")
    _check_kinds((collection_path, collection),
                 None if environment_path is None or env_doc is None
                 else (environment_path, env_doc))
    _check_schema(collection_path, collection)
    resolver = Resolver(variables(collection, env_doc), env_doc is not None,
                        disabled_variables(collection, env_doc))
    found = requests(collection)
    tokens, calls, left_out = _sort(found, resolver)
    if not calls:
        raise PostmanError("no request calls <API host>/api/v1/<entity set>; add one (e.g. "
                           "GET {{url}}/api/v1/MessageProcessingLogs) or give --api-url",
                           f"--postman {shown(collection_path, 200)}")
    read_blocks: dict[int, Client] = {}
    outcomes = [_client_of(request, resolver, [t for _, t in tokens], read_blocks)
                for _, request, _ in calls]
    client = _one_client(outcomes, environment or environment_of_api(calls[0][2].base))
    kept = [(place, request, call) for (place, request, call), outcome
            in zip(calls, outcomes, strict=True) if isinstance(outcome, Client)]
    left_out += [(place, LeftOut(request.name, f"{request.method} {shown(call.path)}",
                                 outcome.reason))
                 for (place, request, call), outcome in zip(calls, outcomes, strict=True)
                 if isinstance(outcome, Refusal)]
    left_out += _token_requests_left_out(tokens, client)
    imported = _endpoints(kept, client, environment, left_out)
    _refuse_secrets(imported, _credentials(found, resolver, [client, *(
        t.client for _, t in tokens if t.client)]))
    return imported


def _endpoints(kept: list[tuple[int, Request, Call]], client: Client, environment: str | None,
               left_out: list[Placed]) -> Import:
    """The import of the requests that use `client`: their endpoints, what is checked
    otherwise, and every left-out request in the collection's order."""
    env = environment or environment_of(client.token_url)
    if env is None:
        raise PostmanError(f"{client.owner}: cannot tell Cloud Foundry from Neo by the token "
                           f"URL {_shown_url(client.token_url)}; give --environment cf or "
                           "--environment neo")
    cat = catalog_module.load()
    endpoints: list[str] = []
    changes = list(client.changes)
    for place, request, call in kept:
        outcome, notes = _classify(request, call, env, cat)
        if isinstance(outcome, LeftOut):
            left_out.append((place, outcome))
            continue
        if outcome not in endpoints:
            endpoints.append(outcome)
        if notes:
            changes.append(_request_line(request.name, f"{request.method} {shown(call.path)}",
                                         "; ".join(notes)))
    return Import(api_url=_one_base([(r, c) for _, r, c in kept]), token_url=client.token_url,
                  client_id=client.client_id, client_secret=client.client_secret,
                  environment=env, endpoints=endpoints,
                  left_out=[item for _, item in sorted(left_out, key=lambda p: p[0])],
                  auth_from=client.owner, changes=changes, client_from=client.described,
                  environment_from="--environment" if environment else "the token URL")


def roles_for(endpoints: list[str], environment: str) -> list[str]:
    """The roles the endpoints need, in catalog order (CF role templates or Neo roles)."""
    cat = catalog_module.load()
    needed: list[str] = []
    for name in endpoints:
        endpoint = cat.endpoints.get(name)
        if endpoint is None:
            continue
        for role in (endpoint.role,) if environment == "cf" else endpoint.neo_roles:
            if role not in needed:
                needed.append(role)
    return needed
