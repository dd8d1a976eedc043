"""The JSON Schema of a profile (draft 2020-12), generated from `profile_keys`: the definitions
the loader validates with, the catalog's roles and endpoints, and the sandbox parser's names.

    python -m cpi_preflight.profile_schema --write src/cpi_preflight/data/profile.schema.json
    python -m cpi_preflight.profile_schema --check src/cpi_preflight/data/profile.schema.json

The package ships the result as `data/profile.schema.json`; `cpi-preflight schema` prints it and
`cpi-preflight init` writes it beside the profiles it writes, whose first line (`MODELINE`) points
editors at it. The schema never refuses a profile the loader accepts; it refuses what the loader
refuses where JSON Schema can say so. What needs the environment, the file system or httpx (a
`${VAR}`'s value, a file, a URL's finer points, the sandbox's role table) is left to the loader.

Editors may read it as draft-07 (the YAML language server before 2.0), so the schema uses only
keywords that mean the same there, and no `$ref` (draft-07 ignores a `$ref`'s siblings).
`errorMessage` and `patternErrorMessage` are the YAML language server's (and VS Code's) words for
a refused value; validators ignore them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cpi_preflight import catalog as catalog_module
from cpi_preflight import hosts, profile_keys
from cpi_preflight.profile_keys import (
    CERTIFICATE_ENVIRONMENTS,
    CERTIFICATE_KEYS,
    CHECK_KEYS,
    CONNECTION_KEYS,
    KEYS,
    Key,
)
from cpi_preflight.sandbox import spec as sandbox_spec

Schema = dict[str, Any]

FILE_NAME = "profile.schema.json"
SHIPPED = Path(__file__).parent / "data" / FILE_NAME
MODELINE = f"# yaml-language-server: $schema={FILE_NAME}"
"""A profile's first line: editors find the schema in the profile's own folder (relative paths
are read from the YAML file's folder), offline and matching the version that wrote it."""
WRITE_COMMAND = "python -m cpi_preflight.profile_schema --write"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

_VARIABLE = {"type": "string", "pattern": profile_keys.VARIABLE}
_BLANK = {"type": "string", "pattern": r"^\s*$"}
_HTTPS = r"^\s*[hH][tT][tT][pP][sS]://[^\s/?#]+(?:[/?#]\S*)?\s*$"
# http:// is allowed for loopback hosts only: localhost, 127.0.0.0/8, an IPv6 literal (::1)
_LOOPBACK = (r"^\s*[hH][tT][tT][pP]://(?:[^\s/?#@]*@)?(?:[lL][oO][cC][aA][lL][hH][oO][sS][tT]|"
             r"127(?:\.[0-9]{1,3}){3}|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?(?:[/?#]\S*)?\s*$")
_SPECIAL = set("\\^$.|?*+()[]{}/")
_NAMES_HELP = ("names one that is not valid here; write the names as a list to see which "
               "(`cpi-preflight catalog` lists them)")
_URL_HELP = "expected https://host[/path] (plain http:// only for a loopback host)"


def _literal(text: str) -> str:
    """`text` as a regular expression that matches it exactly, in both Python's and ECMA-262's
    syntax (unlike `re.escape`, which escapes characters ECMA-262 forbids escaping)."""
    return "".join(f"\\{c}" if c in _SPECIAL else c for c in text)


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else _literal(c) for c in word)


def _one_of_names(names: Sequence[str]) -> str:
    return "(?:" + "|".join(_literal(n) for n in names) + ")"


def _given(key: str) -> Schema:
    """`key` is there and may hold something (the loader reads null and blank text as
    absent)."""
    return {"required": [key],
            "properties": {key: {"not": {"anyOf": [{"type": "null"}, _BLANK]}}}}


def _maybe_absent(key: str) -> Schema:
    """`key` is not there, or may read as absent: null, blank, or a `${VAR}` that may be set
    but empty."""
    return {"not": {"required": [key], "properties": {
        key: {"not": {"anyOf": [{"type": "null"}, _BLANK, _VARIABLE]}}}}}


def _none_of(keys: Sequence[str]) -> Schema:
    return {"properties": dict.fromkeys(keys, False)}


# --- one key's value ---------------------------------------------------------------------------

def _choices(names: Sequence[str]) -> list[Schema]:
    """One of `names`, written in any case and with spaces around (as the loader reads the
    environment), offered to editors as an enum."""
    pattern = r"^\s*(?:" + "|".join(_any_case(n) for n in names) + r")\s*$"
    return [{"enum": list(names)}, {"type": "string", "pattern": pattern}]


def _text(key: Key, cat: catalog_module.Catalog) -> Schema:
    variable = [_VARIABLE] if key.name in profile_keys.EXPANDED_KEYS else []
    if key.values:
        options = [*_choices(profile_keys.allowed(key.values, None, cat)), *variable]
    elif key.url:
        options = [{"type": "string", "pattern": _HTTPS, "patternErrorMessage": _URL_HELP},
                   {"type": "string", "pattern": _LOOPBACK}, *variable]
    elif key.required:
        return {"type": ["string", "number"], "pattern": r"\S",
                "patternErrorMessage": "must not be empty"}
    else:
        return {"type": ["string", "number", "null"]}
    return {"anyOf": options if key.required else [*options, {"type": "null"}]}


_ANY_NAMES = {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"},
                        {"type": "null"}]}
"""Names checked elsewhere (roles: by the environment's rule below)."""


def names_value(names: Sequence[str], *, null: bool = True) -> Schema:
    """A list of `names` (each may carry spaces around it), or one comma-separated string of
    them; empty parts of the string are dropped (`${VAR}` is not expanded in names)."""
    item = r"(?:" + _one_of_names(names) + r")"
    listed = (r"^\s*" + item + r"?\s*(?:,\s*" + item + r"?\s*)*$")
    padded = r"^\s*" + _one_of_names(names) + r"\s*$"
    items = {"anyOf": [{"enum": list(names)}, {"type": "string", "pattern": padded}]}
    options: list[Schema] = [{"type": "array", "items": items},
                             {"type": "string", "pattern": listed,
                              "patternErrorMessage": _NAMES_HELP}]
    return {"anyOf": [*options, {"type": "null"}] if null else options}


def _number(key: Key) -> Schema:
    return {"type": "number", "minimum": key.low, "maximum": key.high, "default": key.default}


def _mapping(key: Key, cat: catalog_module.Catalog) -> Schema:
    return {"type": "object", "additionalProperties": False,
            "properties": {k.name: _property(k, cat) for k in key.keys}}


def _sandbox(key: Key) -> Schema:
    """The sandbox section: its keys and names from the sandbox's own parser; the roles it
    grants are checked against its own table, which the schema leaves to it."""
    described = {k.name: k for k in key.keys}
    values: dict[str, Schema] = {
        "roles": {"anyOf": [{"type": "array", "items": {"type": "string"}},
                            {"type": "string"}]},
        "credential": {"enum": list(sandbox_spec.CREDENTIALS)},
        "faults": {"type": ["object", "null"], "additionalProperties": False,
                   "properties": {name: {} for name in sandbox_spec.FAULT_KEYS}},
        "extra_scopes": {"type": "array", "items": {
            "type": "string", "pattern": f"^{sandbox_spec.PERMISSION.pattern}$"}},
        "http2": {"type": "boolean"},
    }
    properties = {name: {**_words(described[name]), **values[name]}
                  for name in sandbox_spec.TOP_KEYS}
    return {"type": ["object", "null"], "additionalProperties": False, "properties": properties}


def _words(key: Key) -> Schema:
    words: Schema = {"title": key.title, "description": key.description}
    if key.examples:
        words["examples"] = list(key.examples)
    return words


def _value(key: Key, cat: catalog_module.Catalog) -> Schema:
    if key.kind == "text":
        return _text(key, cat)
    if key.kind == "names" and key.values == "roles":
        return dict(_ANY_NAMES)
    if key.kind == "names":
        return names_value(profile_keys.allowed(key.values, None, cat))
    if key.kind == "number":
        return _number(key)
    if key.kind == "flag":
        return {"type": "boolean", "default": key.default}
    if key.kind == "mapping":
        return _mapping(key, cat)
    return _sandbox(key)


def _property(key: Key, cat: catalog_module.Catalog) -> Schema:
    value = _value(key, cat)
    if key.name == "api_url":
        value["not"] = {"type": "string", "pattern": _edge_local()}
    return {**_words(key), **value}


def _edge_local() -> str:
    """An api_url whose path starts with Edge Integration Cell's local API segment (/local)."""
    segment = _any_case(str(hosts.data()["edge_integration_cell"]["path_segment"]))
    return r"^\s*[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*/" + segment + r"(?:[/?#]|\s*$)"


# --- rules between keys ------------------------------------------------------------------------

def _environment_is(environment: str) -> Schema:
    pattern = r"^\s*" + _any_case(environment) + r"\s*$"
    return {"required": ["environment"],
            "properties": {"environment": {"type": "string", "pattern": pattern}}}


def _no_certificate(environment: str) -> Schema:
    """`certificate` reads as absent (null, blank, or a `${VAR}` that may be empty)."""
    only = ", ".join(CERTIFICATE_ENVIRONMENTS)
    problem = f"client certificates are supported on {only} only, not on {environment}"
    return {"type": ["string", "null"], "pattern": r"^\s*$|" + profile_keys.VARIABLE,
            "errorMessage": problem, "patternErrorMessage": problem}


def _per_environment(cat: catalog_module.Catalog) -> list[Schema]:
    """The roles the environment accepts (so editors offer those); no certificate, in the
    profile or the sandbox, where it cannot be used. With the environment in a `${VAR}`, the
    roles are left to the loader."""
    rules = []
    for environment in catalog_module.ENVIRONMENTS:
        roles = names_value(profile_keys.allowed("roles", environment, cat))
        then: Schema = {"properties": {"required_roles": roles}}
        if environment not in CERTIFICATE_ENVIRONMENTS:
            credentials = [c for c in sandbox_spec.CREDENTIALS if c != "certificate"]
            then["properties"]["certificate"] = _no_certificate(environment)
            then["properties"]["sandbox"] = {"properties": {
                "credential": {"enum": credentials}, "extra_scopes": {"maxItems": 0}}}
        rules.append({"if": _environment_is(environment), "then": then})
    return rules


def _something_to_check() -> Schema:
    named = {"anyOf": [{"type": "array", "minItems": 1},
                       {"type": "string", "pattern": r"[^\s,]"}]}
    return {"anyOf": [{"required": [key], "properties": {key: named}} for key in CHECK_KEYS]}


def _credential() -> Schema:
    """A client secret, or a certificate and its key: one kind, complete (where a certificate
    may be used: `_per_environment`)."""
    secret = {"allOf": [_given("client_secret"),
                        *(_maybe_absent(key) for key in CERTIFICATE_KEYS)]}
    certificate = {"allOf": [*(_given(key) for key in CERTIFICATE_KEYS),
                             _maybe_absent("client_secret")]}
    return {"anyOf": [secret, certificate]}


_ALTERNATIVES = (*CONNECTION_KEYS, "service_key")
"""Keys whose `required` holds only where they are the way the connection is given."""


def _connection() -> Schema:
    """A sandbox, a service key, or the connection keys one by one: exactly one of them."""
    required = [k.name for k in KEYS if k.name in CONNECTION_KEYS and k.required]
    one_by_one = {"allOf": [{"required": required}, _credential()]}
    by_key = {"if": {"required": ["service_key"]}, "then": _none_of(CONNECTION_KEYS),
              "else": one_by_one}
    return {"if": {"required": ["sandbox"]},
            "then": _none_of([*CONNECTION_KEYS, "service_key"]), "else": by_key}


# --- the schema ---------------------------------------------------------------------------------

DESCRIPTION = (
    "A cpi-preflight tenant profile (profiles/NAME.yaml): the tenant, the API client and what it "
    "must be allowed to do; checked with `pytest --profile NAME`. Any text may name an "
    "environment variable as ${NAME}; keep secrets there. `cpi-preflight init` writes one; "
    "`cpi-preflight catalog` lists the roles and endpoints.")


def schema() -> Schema:
    """The profile schema as a JSON-ready mapping."""
    cat = catalog_module.load()
    return {
        "$schema": DRAFT,
        "title": "cpi-preflight profile",
        "description": DESCRIPTION,
        "type": "object",
        "required": [k.name for k in KEYS if k.required and k.name not in _ALTERNATIVES],
        "additionalProperties": False,
        "properties": {key.name: _property(key, cat) for key in KEYS},
        "allOf": [_something_to_check(), _connection(), *_per_environment(cat)],
    }


def text() -> str:
    """The schema as the shipped file holds it."""
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"


# --- command line -------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cpi_preflight.profile_schema",
        description="Generate the profile schema the package ships (data/profile.schema.json).")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", metavar="FILE", type=Path, help="write the schema to FILE")
    mode.add_argument("--check", metavar="FILE", type=Path,
                      help="exit 1 if FILE differs from the generated schema")
    return parser


def main(argv: list[str] | None = None) -> int:
    """`--write FILE` or `--check FILE`; 0 on success, 1 when FILE is out of date."""
    args = _parser().parse_args(argv)
    if args.write:
        args.write.write_text(text(), encoding="utf-8")
        print(f"{args.write}: written")
        return 0
    try:
        current = args.check.read_text(encoding="utf-8")
    except OSError as exc:
        current = f"({exc.strerror})"
    if current == text():
        print(f"{args.check}: up to date")
        return 0
    print(f"{args.check}: out of date with the profile definitions; run `{WRITE_COMMAND} "
          f"{args.check}` and commit the result", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
