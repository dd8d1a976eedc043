"""Tenant profiles: `profiles/<name>.yaml`, validated into a typed `Profile`.

Every problem is a `ProfileError` whose message names the file, the key and what to do, in the
style "profiles/prod-cf.yaml: required_roles[0]: unknown role 'MonitorDataRead'; did you mean
'MonitoringDataRead'?". Secrets are wrapped in `Secret` as soon as they are read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from cpi_preflight import catalog as catalog_module
from cpi_preflight import files, hosts
from cpi_preflight.catalog import Catalog, closest
from cpi_preflight.errors import ProfileError, StructureError
from cpi_preflight.files import message_path
from cpi_preflight.secret import Secret
from cpi_preflight.service_key import read_service_key
from cpi_preflight.urls import is_loopback, normalize_api_url, parse_url

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# a profile's name: its file name and its report folder (`init --name` writes NAME.yaml)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SECRET_KEYS = ("client_secret",)

KEYS = (
    "environment", "description", "api_url", "token_url", "client_id", "client_secret",
    "certificate", "key", "service_key", "ca_bundle", "required_roles", "endpoints",
    "strict", "attempts", "timeout", "deadline", "expiry_warning_days", "sandbox",
)
_CONNECTION_KEYS = ("api_url", "token_url", "client_id", "client_secret", "certificate", "key")


@dataclass(frozen=True)
class Timeouts:
    """Per-request timeouts in seconds."""

    connect: float = 5.0
    read: float = 15.0


@dataclass(frozen=True)
class Profile:
    """One tenant and one API client to verify, as the user described it."""

    name: str
    path: Path
    environment: str
    api_url: str
    token_url: str
    client_id: str
    client_secret: Secret | None
    certificate: Path | None
    key: Path | None
    ca_bundle: Path | None
    required_roles: tuple[str, ...]
    endpoints: tuple[str, ...]
    strict: bool = False
    attempts: int = 3
    timeouts: Timeouts = field(default_factory=Timeouts)
    deadline: float = 120.0
    expiry_warning_days: int = 30
    sandbox: Mapping[str, Any] | None = None
    description: str = ""

    @property
    def api_root(self) -> str:
        """The OData service root: `<api_url>/api/v1`."""
        return f"{self.api_url}/api/v1"

    @property
    def uses_certificate(self) -> bool:
        """Whether the client authenticates with an X.509 certificate (mTLS); a sandbox profile
        says so in its section before the sandbox hands out the certificate's path."""
        if self.sandbox is not None:
            return self.certificate is not None or self.sandbox.get("credential") == "certificate"
        return self.certificate is not None

    def fingerprint(self) -> str:
        """SHA-256 over the profile's non-secret settings, to tell runs of the same setup apart."""
        facts = {
            "environment": self.environment, "api_url": self.api_url,
            "token_url": self.token_url, "client_id": self.client_id,
            "credential": "certificate" if self.uses_certificate else "secret",
            "required_roles": sorted(self.required_roles), "endpoints": sorted(self.endpoints),
            "strict": self.strict,
        }
        blob = json.dumps(facts, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


class _Reader:
    """Reads one profile mapping, remembering the file for error messages."""

    def __init__(self, path: Path, data: Mapping[str, Any], environ: Mapping[str, str],
                 prefix: str = "") -> None:
        self.path = path
        self.data = data
        self.environ = environ
        self.prefix = prefix
        self.empty_variables: dict[str, str] = {}  # key -> a ${VAR} in it that is set but empty

    def fail(self, key: str, problem: str, index: int | None = None) -> ProfileError:
        """The error for `key` (item `index` of its list, if given) of this file."""
        path, name = message_path(self.path), f"{self.prefix}{key}"
        item = "" if index is None else f"[{index}]"
        return ProfileError(f"{path}: {name}{item}: {problem}", path=path, key=name)

    def missing(self, key: str, problem: str) -> ProfileError:
        """`problem` with an absent or empty key, naming the variable that made it empty."""
        name = self.empty_variables.get(key)
        if name is None:
            return self.fail(key, problem)
        return self.fail(key, f"environment variable {name} is set but empty; export "
                         f"{name}=... with the value before running (in CI, check that the "
                         "secret or variable is passed to this job)")

    def expand(self, key: str, value: str, index: int | None = None) -> str:
        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.environ:
                raise self.fail(
                    key, f"environment variable {name} is not set; export {name}='...' "
                    "(single quotes: secrets may hold $) before running; in CI, pass the "
                    "secret or variable to this job", index,
                )
            if not self.environ[name].strip():
                self.empty_variables.setdefault(key, name)
            return self.environ[name]

        return _ENV_REF.sub(substitute, value)

    def text(self, key: str, *, required: bool = False) -> str:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.fail(key, "is required")
            return ""
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise self.fail(key, f"must be a string, not {_kind(value)}")
        expanded = self.expand(key, str(value)).strip()
        index = files.lone_surrogate(expanded)
        if index is not None:
            raise self.fail(key, f"holds an invalid character (a lone surrogate, "
                            f"U+{ord(expanded[index]):04X}) at position {index + 1}; check the "
                            "value and the encoding of any environment variable it names")
        if required and not expanded:
            raise self.missing(key, "is empty")
        return expanded

    def text_list(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [v for v in (p.strip() for p in value.split(",")) if v]
        if not isinstance(value, list):
            raise self.fail(key, f"must be a list of names, not {_kind(value)}")
        items = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(key, f"must be a name, not {_kind(item)}", i)
            items.append(self.expand(key, item, i).strip())
        return tuple(items)

    def number(self, key: str, default: float, *, low: float, high: float) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number, not {_kind(value)}")
        if not low <= value <= high:
            raise self.fail(key, f"must be between {low:g} and {high:g}, not {value:g}")
        return float(value)

    def flag(self, key: str) -> bool:
        value = self.data.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {_kind(value)}")
        return value

    def file(self, key: str, value: str, limit: int = files.PEM_LIMIT) -> Path:
        try:
            path = Path(value).expanduser()
        except RuntimeError:
            raise self.fail(key, f"'{value}' names the home folder of an unknown user") from None
        if not path.is_absolute():
            path = self.path.parent / path
        self.content(key, path, limit)
        return path

    def content(self, key: str, path: Path, limit: int) -> bytes:
        """The bytes of the regular file `path` (at most `limit`), or a `ProfileError`."""
        try:
            return files.read_bytes(path, limit)
        except FileNotFoundError:
            raise self.fail(key, f"file {path} does not exist or is not a file") from None
        except OSError as exc:
            raise self.fail(key, f"file {path} cannot be read: {exc.strerror}") from None


def _kind(value: object) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "true/false",
             int: "a number", float: "a number", type(None): "empty"}
    return names.get(type(value), type(value).__name__)


def _check_url(reader: _Reader, key: str, url: str) -> str:
    parts, problem = parse_url(url)
    if problem:
        raise reader.fail(key, f"'{url}' is not a usable URL: {problem}; expected "
                          "https://host[/path]")
    if parts is None:
        raise reader.fail(key, f"'{url}' is not a URL; expected https://host[/path]")
    if parts.scheme == "http" and not is_loopback(parts.host):
        raise reader.fail(
            key, f"'{url}' uses plain http://; secrets and tokens must travel over https:// "
            "(http is only allowed for loopback hosts)",
        )
    return url


def _validate_roles(reader: _Reader, env: str, roles: tuple[str, ...], cat: Catalog) -> None:
    valid = list(cat.roles) + (list(cat.neo_roles) if env == "neo" else [])
    for i, role in enumerate(roles):
        if role in valid:
            if env == "neo" and role in cat.roles and cat.roles[role].permissions is None:
                raise reader.fail(
                    "required_roles", f"role template '{role}' has no known Neo roles; "
                    "name the Neo roles instead (see `cpi-preflight catalog --environment neo`)",
                    i,
                )
            continue
        hint = closest(role, valid)
        where = "CF role template" + (" or Neo role" if env == "neo" else "")
        tail = f"; did you mean '{hint}'?" if hint else "; run `cpi-preflight catalog` for the list"
        if env == "cf" and role in cat.neo_roles:
            tail = f"; '{role}' is a Neo role: on Cloud Foundry name the role template"
        raise reader.fail("required_roles", f"unknown {where} '{role}'{tail}", i)


def _validate_endpoints(reader: _Reader, names: tuple[str, ...], cat: Catalog) -> None:
    for i, name in enumerate(names):
        if name not in cat.endpoints:
            hint = closest(name, list(cat.endpoints))
            tail = f"; did you mean '{hint}'?" if hint else "; run `cpi-preflight catalog`"
            raise reader.fail("endpoints", f"unknown endpoint '{name}'{tail}", i)


def _reject_unknown_keys(reader: _Reader) -> None:
    for key in reader.data:
        if key not in KEYS:
            hint = closest(str(key), KEYS)
            tail = f"; did you mean '{hint}'?" if hint else f"; valid keys: {', '.join(KEYS)}"
            raise reader.fail(str(key), f"unknown key{tail}")


def _environment(reader: _Reader) -> str:
    env = reader.text("environment", required=True).lower()
    if env == "edge":
        raise reader.fail("environment", f"'edge' is not supported yet. {hosts.edge_facts()}")
    if env not in catalog_module.ENVIRONMENTS:
        raise reader.fail("environment", f"must be 'cf' or 'neo', not '{env}'")
    return env


@dataclass(frozen=True)
class _Connection:
    api_url: str = ""
    token_url: str = ""
    client_id: str = ""
    client_secret: Secret | None = None
    certificate: Path | None = None
    key: Path | None = None


def _connection(reader: _Reader, env: str) -> _Connection:
    if "service_key" in reader.data:
        clash = [k for k in _CONNECTION_KEYS if k in reader.data]
        if clash:
            raise reader.fail(clash[0], "set either service_key or the connection keys, not both")
        key_path = reader.file("service_key", reader.text("service_key", required=True),
                               files.SERVICE_KEY_LIMIT)
        found = read_service_key(key_path)
        _check_url(reader, "service_key (url)", found.api_url)
        _check_url(reader, "service_key (tokenurl)", found.token_url)
        return _Connection(found.api_url, found.token_url, found.client_id, found.client_secret,
                           found.certificate, found.key)
    return _explicit_connection(reader, env)


def _explicit_connection(reader: _Reader, env: str) -> _Connection:
    secret_text = reader.text("client_secret")
    cert_text, key_text = reader.text("certificate"), reader.text("key")
    if secret_text and cert_text:
        raise reader.fail("certificate", "set client_secret or certificate + key, not both")
    if bool(cert_text) != bool(key_text):
        missing = "key" if cert_text else "certificate"
        raise reader.missing(missing, "certificate and key go together (PEM files of the key)")
    if not secret_text and not cert_text:
        raise reader.missing("client_secret", "is required (or certificate + key, or "
                             "service_key)")
    if cert_text and env == "neo":
        raise reader.fail("certificate", "client certificates are supported on cf only")
    return _Connection(
        api_url=_check_url(reader, "api_url", reader.text("api_url", required=True)),
        token_url=_check_url(reader, "token_url", reader.text("token_url", required=True)),
        client_id=reader.text("client_id", required=True),
        client_secret=Secret(secret_text) if secret_text else None,
        certificate=_pem(reader, "certificate", cert_text, "CERTIFICATE") if cert_text else None,
        key=_pem(reader, "key", key_text, "PRIVATE KEY") if key_text else None,
    )


def _pem(reader: _Reader, key: str, value: str, label: str,
         limit: int = files.PEM_LIMIT) -> Path:
    path = reader.file(key, value, limit)
    text = reader.content(key, path, limit).decode("utf-8", errors="replace")
    if "-----BEGIN" not in text or label not in text:
        raise reader.fail(key, f"{path} is not a PEM file holding a {label.lower()}")
    return path


def _timeouts(reader: _Reader) -> Timeouts:
    raw = reader.data.get("timeout", {})
    if not isinstance(raw, dict):
        raise reader.fail("timeout", f"must be a mapping with connect/read, not {_kind(raw)}")
    sub = _Reader(reader.path, raw, reader.environ, prefix="timeout.")
    for key in raw:
        if key not in ("connect", "read"):
            raise reader.fail(f"timeout.{key}", "unknown key; valid: connect, read")
    return Timeouts(
        connect=sub.number("connect", 5.0, low=0.1, high=300),
        read=sub.number("read", 15.0, low=0.1, high=600),
    )


def _sandbox(reader: _Reader, env: str) -> Mapping[str, Any] | None:
    if "sandbox" not in reader.data:
        return None
    raw = reader.data["sandbox"]
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise reader.fail("sandbox", f"must be a mapping, not {_kind(raw)}")
    clash = [k for k in (*_CONNECTION_KEYS, "service_key") if k in reader.data]
    if clash:
        raise reader.fail(clash[0], "a sandbox profile gets its connection from the sandbox; "
                          "remove this key or the sandbox section")
    from cpi_preflight.sandbox import SandboxSpec

    SandboxSpec.from_mapping(raw, environment=env, source=str(message_path(reader.path)))
    return raw


def _refuse_edge_local(reader: _Reader, api_url: str) -> None:
    """An api_url under /local is Edge Integration Cell's local API, which takes no token: refused
    before any call, so that its 401 is never read as a token problem."""
    if hosts.is_edge_local(normalize_api_url(api_url)):
        key = "service_key (url)" if "service_key" in reader.data else "api_url"
        raise reader.fail(key, f"'{api_url}' is Edge Integration Cell's local API "
                          f"(/local), which cpi-preflight does not check yet. {hosts.edge_facts()}")


def parse(name: str, path: Path, data: object, environ: Mapping[str, str]) -> Profile:
    """Validate one profile's mapping; raise `ProfileError` naming file and key on any problem."""
    shown = message_path(path)
    if data is None:
        raise ProfileError(f"{shown}: the file is empty; write one with `cpi-preflight init "
                           "--service-key KEY.json --name NAME` (README: Writing a profile)",
                           path=shown)
    if not isinstance(data, dict):
        raise ProfileError(f"{shown}: must hold a mapping of keys (environment, api_url, ...), "
                           f"not {_kind(data)}", path=shown)
    reader = _Reader(path, data, environ)
    _reject_unknown_keys(reader)
    env = _environment(reader)
    cat = catalog_module.load()
    roles, endpoints = reader.text_list("required_roles"), reader.text_list("endpoints")
    if not roles and not endpoints:
        raise reader.fail("required_roles", "name at least one role or endpoint to verify "
                          "(required_roles: [...] or endpoints: [...])")
    _validate_roles(reader, env, roles, cat)
    _validate_endpoints(reader, endpoints, cat)
    sandbox = _sandbox(reader, env)
    conn = _Connection() if sandbox is not None else _connection(reader, env)
    _refuse_edge_local(reader, conn.api_url)
    ca_text = reader.text("ca_bundle")
    return Profile(
        name=name, path=path, environment=env, api_url=normalize_api_url(conn.api_url),
        token_url=conn.token_url, client_id=conn.client_id, client_secret=conn.client_secret,
        certificate=conn.certificate, key=conn.key,
        ca_bundle=(_pem(reader, "ca_bundle", ca_text, "CERTIFICATE", files.CA_LIMIT)
                   if ca_text else None),
        required_roles=tuple(dict.fromkeys(roles)), endpoints=tuple(dict.fromkeys(endpoints)),
        strict=reader.flag("strict"),
        attempts=int(reader.number("attempts", 3, low=1, high=10)),
        timeouts=_timeouts(reader), deadline=reader.number("deadline", 120, low=1, high=3600),
        expiry_warning_days=int(reader.number("expiry_warning_days", 30, low=0, high=3650)),
        sandbox=sandbox, description=reader.text("description"),
    )


YAML_FIX = ("correct it there (indentation, quotes, brackets), or write the profile anew with "
            "`cpi-preflight init`")


def read_yaml(path: Path, limit: int = files.PROFILE_LIMIT) -> object:
    """Parse a YAML file (a regular file of at most `limit` bytes, without aliases, nested at
    most `files.MAX_DEPTH` deep); any problem becomes a `ProfileError` naming the file."""
    where = message_path(path)
    try:
        text = files.read_text(path, limit)
    except UnicodeDecodeError:
        raise ProfileError(f"{where}: is not UTF-8 text", path=where) from None
    except OSError as exc:
        raise ProfileError(f"{where}: cannot be read: {exc.strerror}", path=where) from None
    try:
        return files.load_yaml(text)
    except StructureError as exc:
        raise ProfileError(f"{where}: {exc}", path=where) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        raise ProfileError(f"{where}: invalid YAML at {at}: {exc.problem}; {YAML_FIX}",
                           path=where) from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{where}: invalid YAML: {' '.join(str(exc).split())}; {YAML_FIX}",
                           path=where) from None
    except RecursionError:
        raise ProfileError(f"{where}: the YAML is nested too deeply to be a profile",
                           path=where) from None


def available(profiles_dir: Path) -> list[str]:
    """Names of the profiles in `profiles_dir`, sorted."""
    if not profiles_dir.is_dir():
        return []
    return sorted(p.stem for p in profiles_dir.glob("*.yaml"))


def resolve_names(requested: list[str], profiles_dir: Path) -> list[str]:
    """Expand `--profile` values (repeatable, comma lists, `all`, or a profile file's path
    inside `profiles_dir`) into known profile names."""
    known = available(profiles_dir)
    names: list[str] = []
    for value in requested:
        for name in (n.strip() for n in value.split(",")):
            if not name:
                continue
            names.extend(known if name == "all" else [_known(name, known, profiles_dir)])
    if not names and requested and not any(n.strip() for v in requested for n in v.split(",")):
        raise ProfileError("--profile was given an empty name; name a profile "
                           f"(--profile NAME for {profiles_dir}/NAME.yaml) or use --profile all")
    if not names:
        raise ProfileError(f"no profiles found in {profiles_dir}; create {profiles_dir}/NAME.yaml "
                           "(`cpi-preflight init` writes one), or point --profiles-dir at the "
                           "folder that holds them")
    return list(dict.fromkeys(names))


def _as_name(value: str, profiles_dir: Path) -> str:
    """`profiles/x.yaml` (a path to a profile file) -> `x`, if the file is in `profiles_dir`."""
    path = Path(value).expanduser()
    if path.suffix not in (".yaml", ".yml") and len(path.parts) < 2:
        return value
    stem = path.stem if path.suffix in (".yaml", ".yml") else path.name
    folder = (path if path.is_absolute() else Path.cwd() / path).parent
    if folder.resolve() == profiles_dir.resolve() or not folder.is_dir():
        return stem
    if (folder / f"{stem}.yaml").is_file():
        raise ProfileError(
            f"--profile {value}: the file is not in the profiles folder {profiles_dir}; run "
            f"`pytest --profiles-dir {folder} --profile {stem}`, or move it into {profiles_dir}")
    return stem


def _known(value: str, known: list[str], profiles_dir: Path) -> str:
    name = _as_name(value, profiles_dir)
    if name in known:
        return name
    if not profiles_dir.is_dir():
        raise ProfileError(
            f"--profile {value}: the profiles folder {profiles_dir} does not exist; run pytest "
            "in the folder that holds profiles/, or pass --profiles-dir DIR "
            "(`cpi-preflight init` writes profiles/NAME.yaml)")
    hint = closest(name, known)
    listing = ", ".join(known) if known else "none"
    tail = f"; did you mean '{hint}'?" if hint else ""
    raise ProfileError(
        f"--profile {value}: no file {profiles_dir / (name + '.yaml')}{tail} (available in "
        f"{profiles_dir}: {listing}; another folder: --profiles-dir DIR)"
    )


def load(name: str, profiles_dir: Path, environ: Mapping[str, str] | None = None) -> Profile:
    """Load and validate `profiles_dir/<name>.yaml`."""
    path = profiles_dir / f"{name}.yaml"
    if not NAME.match(name):
        raise ProfileError(f"{path}: the file name must be letters, digits, '_', '.' or '-' "
                           "(it names the report folder); rename the file", path=path)
    data = read_yaml(path)
    return parse(name, path, data, os.environ if environ is None else environ)


def load_all(names: list[str], profiles_dir: Path) -> Iterator[Profile]:
    """Load each named profile, stopping at the first invalid one."""
    for name in names:
        yield load(name, profiles_dir)


def bind(profile: Profile, *, api_url: str, token_url: str, client_id: str,
         client_secret: Secret | None, certificate: Path | None, key: Path | None,
         ca_bundle: Path | None) -> Profile:
    """The profile with its connection filled in (used for sandbox profiles)."""
    return replace(profile, api_url=normalize_api_url(api_url), token_url=token_url,
                   client_id=client_id, client_secret=client_secret,
                   certificate=certificate, key=key, ca_bundle=ca_bundle or profile.ca_bundle)
