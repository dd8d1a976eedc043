"""Postman Collection v2.1 (+ environment) -> the connection and endpoints of a profile.

People test their CPI API client in Postman first. `cpi-preflight init --postman C.json` reads
the collection as Postman exports it: the OAuth 2.0 client-credentials auth block (collection,
folder or request level, `inherit` honoured), `{{variables}}` from the environment file and the
collection's `variable` list, and the entity sets the requests call under `<api>/api/v1/`.

The files are hostile input: reads are bounded, nesting and counts are capped, names shown in
messages are made one visible line (`text.one_line`) and cut (`text.cut`), and every problem
is one `PostmanError` naming the file (its `source`), the request and what to do. Requests that
are left out (not GET, not an entity set of the catalog, not on /api/v1) are reported in
`Import.left_out`, never dropped silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cpi_preflight import catalog as catalog_module
from cpi_preflight import files
from cpi_preflight.errors import PostmanError, StructureError
from cpi_preflight.secret import Secret
from cpi_preflight.text import cut, one_line
from cpi_preflight.urls import environment_of, normalize_api_url

MAX_BYTES = 10 * 1024 * 1024
MAX_RESOLVED = 64 * 1024  # characters one value may grow to through {{variables}}
MAX_JSON_DEPTH = 200  # folders nest; postman's own depth rule names the folder
MAX_DEPTH = 32
MAX_REQUESTS = 5000
SCHEMA_V21 = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
_VARIABLE = re.compile(r"\{\{([^{}]+)\}\}")
_API_ROOT = "/api/v1/"
_EXPORT_AGAIN = "export it again from Postman (Collection > ... > Export > Collection v2.1)"


def shown(text: object, limit: int = 80) -> str:
    """`text` fit for a one-line message: one visible line of at most `limit` characters."""
    return cut(one_line(str(text)), limit)


@dataclass(frozen=True)
class LeftOut:
    """A request of the collection that does not become an endpoint, and why."""

    request: str
    call: str
    reason: str

    def line(self) -> str:
        return f"request '{self.request}' ({self.call}): {self.reason}"


@dataclass(frozen=True)
class Import:
    """What the collection says about the API client."""

    api_url: str
    token_url: str
    client_id: str
    client_secret: Secret | None
    environment: str
    endpoints: list[str]
    left_out: list[LeftOut] = field(default_factory=list)
    auth_from: str = ""


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


def _pairs(entries: object, *, enabled_only: bool) -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            continue
        if (enabled_only and entry.get("enabled") is False) or entry.get("disabled") is True:
            continue
        value = entry.get("value")
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            found[entry["key"]] = str(value)
    return found


def variables(collection: dict[str, Any], environment: dict[str, Any] | None) -> dict[str, str]:
    """The values of `{{name}}`: the collection's `variable` list, then the environment's
    enabled `values` on top (Postman's precedence: environment over collection)."""
    found = _pairs(collection.get("variable"), enabled_only=True)
    if environment is not None:
        found.update(_pairs(environment.get("values"), enabled_only=True))
    return found


@dataclass(frozen=True)
class Resolver:
    """Replaces `{{name}}` in the collection's strings; names what it could not resolve."""

    values: Mapping[str, str]
    has_environment: bool

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
            names = ", ".join("{{" + shown(m, 40) + "}}" for m in dict.fromkeys(missing))
            if all(m.strip() in self.values for m in missing):
                raise PostmanError(f"{where}: {names} has no value (Postman exports a "
                                   "variable's initial value, not its current value); fill it "
                                   "in the exported file, or give it with --postman-environment")
            hint = ("the environment file does not define it either; add it there or to the "
                    "collection's variables" if self.has_environment else
                    "give the Postman environment that defines it with --postman-environment "
                    "ENV.json")
            raise PostmanError(f"{where}: {names} is not defined; {hint}")
        return resolved


# --- walking the collection -------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    """One request of the collection with the auth block it runs with."""

    name: str
    method: str
    url: str
    auth: dict[str, Any] | None
    auth_owner: str


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
        yield Request(label, str(request.get("method") or "GET").upper(),
                      _url_text(request.get("url")), own[0], own[1])


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


@dataclass(frozen=True)
class Client:
    """The client-credentials settings of one OAuth 2.0 auth block, variables resolved."""

    token_url: str
    client_id: str
    client_secret: Secret | None
    owner: str


def _oauth_fields(auth: dict[str, Any]) -> dict[str, str]:
    return _pairs(auth.get("oauth2"), enabled_only=False)


def _client(request: Request, resolver: Resolver) -> Client:
    auth, owner = request.auth, request.auth_owner
    if auth is None or auth.get("type") == "noauth":
        raise PostmanError(f"request '{request.name}' has no authorization; {_AUTH_HELP}")
    kind = shown(auth.get("type"), 30)
    if kind != "oauth2":
        if kind == "basic":
            raise PostmanError(f"{owner} uses Basic authentication (user and password); "
                               f"{_BASIC_HELP}")
        raise PostmanError(f"{owner} uses auth {kind}; {_AUTH_HELP}")
    fields = _oauth_fields(auth)
    grant = resolver.resolve_known(fields.get("grant_type", "authorization_code"))
    if grant != "client_credentials":
        raise PostmanError(f"{owner}: OAuth 2.0 grant type is {shown(grant, 40)}, "
                           f"not client_credentials; {_AUTH_HELP}")
    for key in ("accessTokenUrl", "clientId"):
        if not fields.get(key, "").strip():
            raise PostmanError(f"{owner}: OAuth 2.0 {key} is empty; {_AUTH_HELP}")
    secret_text = resolver.resolve_known(fields.get("clientSecret", "")).strip()
    secret = None if not secret_text or resolver.missing(secret_text) else Secret(secret_text)
    return Client(resolver.resolve(fields["accessTokenUrl"], f"{owner}: accessTokenUrl").strip(),
                  resolver.resolve(fields["clientId"], f"{owner}: clientId").strip(),
                  secret, owner)


def the_client(found: list[Request], resolver: Resolver) -> Client:
    """The one OAuth client the API requests use; two different ones are an error."""
    clients: dict[tuple[str, str], Client] = {}
    for request in found:
        client = _client(request, resolver)
        clients.setdefault((client.token_url, client.client_id), client)
    if len(clients) > 1:
        first, second = list(clients.values())[:2]
        raise PostmanError(f"the requests use two OAuth clients ({first.owner}: "
                           f"{shown(first.client_id)}; {second.owner}: "
                           f"{shown(second.client_id)}); a profile checks one client: import "
                           "a collection (or folder export) that uses one")
    return next(iter(clients.values()))


# --- the API calls ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    """Where one request goes: the API base URL (as `urls.normalize_api_url` makes it, as the
    profile loader will) and the path below /api/v1/."""

    base: str
    path: str


def _call_of(url: str) -> Call | None:
    cut = url.split("?", 1)[0].split("#", 1)[0]
    index = cut.find(_API_ROOT)
    if index < 0 or not cut.startswith(("https://", "http://")):
        return None
    return Call(normalize_api_url(cut[:index]), "/" + cut[index + len(_API_ROOT):].strip("/"))


def _entity_set(path: str, cat: catalog_module.Catalog) -> str:
    """The catalog name for a path below /api/v1 (exact catalog path first, else the set)."""
    for name, endpoint in cat.endpoints.items():
        if endpoint.path == path:
            return name
    first = path.lstrip("/").split("/", 1)[0]
    entity = first.split("(", 1)[0]
    if path.rstrip("/").endswith("/$count") and path.count("/") == 2:
        counted = f"{entity}Count"
        if counted in cat.endpoints:
            return counted
    return entity


def _classify(request: Request, call: Call, environment: str,
              cat: catalog_module.Catalog) -> str | LeftOut:
    where = f"{request.method} {shown(call.path)}"
    name = _entity_set(call.path, cat)
    if request.method not in ("GET", "HEAD"):
        return LeftOut(request.name, where, "not read-only; cpi-preflight only reads")
    if name not in cat.endpoints:
        hint = catalog_module.closest(name, list(cat.endpoints))
        tail = f" (did you mean {hint}?)" if hint else ""
        return LeftOut(request.name, where, f"{shown(name, 60)} is not in the catalog{tail}; "
                       "`cpi-preflight catalog` lists the entity sets it knows")
    if environment not in cat.endpoints[name].environments:
        return LeftOut(request.name, where, f"{name} does not exist on {environment}")
    return name


def _api_requests(found: list[Request], resolver: Resolver
                  ) -> tuple[list[tuple[Request, Call]], list[LeftOut]]:
    calls: list[tuple[Request, Call]] = []
    other: list[LeftOut] = []
    for request in found:
        url = resolver.resolve(request.url, f"request '{request.name}': url")
        call = _call_of(url)
        if call is None:
            other.append(LeftOut(request.name, f"{request.method} {shown(url)}",
                                 "not a call to <API host>/api/v1/"))
        else:
            calls.append((request, call))
    return calls, other


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
    _check_schema(collection_path, collection)
    env_doc = None if environment_path is None else read_json(environment_path,
                                                               "--postman-environment")
    resolver = Resolver(variables(collection, env_doc), env_doc is not None)
    calls, left_out = _api_requests(requests(collection), resolver)
    if not calls:
        raise PostmanError("no request calls <API host>/api/v1/<entity set>; add one (e.g. "
                           "GET {{url}}/api/v1/MessageProcessingLogs) or give --api-url",
                           f"--postman {shown(collection_path, 200)}")
    client = the_client([request for request, _ in calls], resolver)
    env = environment or environment_of(client.token_url)
    if env is None:
        raise PostmanError(f"{client.owner}: cannot tell Cloud Foundry from Neo by the token "
                           f"URL {shown(client.token_url)}; give --environment cf or "
                           "--environment neo")
    cat = catalog_module.load()
    endpoints: list[str] = []
    for request, call in calls:
        outcome = _classify(request, call, env, cat)
        if isinstance(outcome, LeftOut):
            left_out.append(outcome)
        elif outcome not in endpoints:
            endpoints.append(outcome)
    return Import(api_url=_one_base(calls), token_url=client.token_url,
                  client_id=client.client_id, client_secret=client.client_secret,
                  environment=env, endpoints=endpoints, left_out=left_out,
                  auth_from=client.owner)


def roles_for(endpoints: list[str], environment: str) -> list[str]:
    """The roles the endpoints need, in catalog order (CF role templates or Neo roles); a name
    the catalog does not know needs none here (the profile's validation names it)."""
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
