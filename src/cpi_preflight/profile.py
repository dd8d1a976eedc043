"""Tenant profiles: `profiles/<name>.yaml`, validated into a typed `Profile`.

Every problem is a `ProfileError` whose message names the file, the key and what to do, in the
style "profiles/prod-cf.yaml: required_roles item 1: unknown role 'MonitorDataRead'; did you
mean 'MonitoringDataRead'?" (list items counted from 1). Secrets are wrapped in `Secret` as soon
as they are read.

`${VAR}` is expanded only in the credential keys (`EXPANDED_KEYS`), and what it expands to is
registered as a secret, masked in every output: a profile from elsewhere cannot copy another
variable of the environment (a CI token) into a description, a URL or a report.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from cpi_preflight import catalog as catalog_module
from cpi_preflight import files, hosts, profile_keys
from cpi_preflight.catalog import Catalog, closest
from cpi_preflight.errors import ProfileError, ProfilesError, StructureError
from cpi_preflight.files import message_path
from cpi_preflight.profile_keys import BY_NAME, CONNECTION_KEYS, EXPANDED_KEYS, Key
from cpi_preflight.secret import Secret, register
from cpi_preflight.service_key import SIMULATED, read_service_key
from cpi_preflight.urls import is_loopback, normalize_api_url, parse_url, user_info_problem

_ENV_REF = re.compile(profile_keys.VARIABLE)
# a profile's name: its file name and its report folder (`init --name` writes NAME.yaml)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SANDBOX_KEY_FILE = "sandbox-key.json"  # the key file name the restart hint prints

KEYS = profile_keys.NAMES


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
    http2: bool = True  # offer HTTP/2 through ALPN (false: HTTP/1.1 only, for a broken proxy)
    simulated: str | None = None  # "sandbox": a `cpi-preflight sandbox` started on its own

    @property
    def api_root(self) -> str:
        """The OData service root: `<api_url>/api/v1`."""
        return f"{self.api_url}/api/v1"

    @property
    def uses_certificate(self) -> bool:
        """Whether the client authenticates with an X.509 certificate (mTLS); a sandbox profile
        says so before its sandbox runs (`sandbox: credential: certificate`), so that its plan at
        collection already holds the credential-expiry check."""
        if self.sandbox is not None:
            return self.sandbox.get("credential") == "certificate"
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
    """Reads one profile mapping by the definitions of its keys (`profile_keys`), remembering
    the file for error messages."""

    def __init__(self, path: Path, data: Mapping[str, Any], environ: Mapping[str, str],
                 prefix: str = "", keys: Mapping[str, Key] = BY_NAME) -> None:
        self.path = path
        self.data = data
        self.environ = environ
        self.prefix = prefix
        self.keys = keys
        self.empty_variables: dict[str, str] = {}  # key -> a ${VAR} in it that is set but empty

    def fail(self, key: str, problem: str, index: int | None = None) -> ProfileError:
        """The error for `key` (item `index` of its list, counted from 0, if given; the message
        counts from 1) of this file."""
        path, name = message_path(self.path), f"{self.prefix}{key}"
        item = "" if index is None else f" item {index + 1}"
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
        """`value` with each `${NAME}` replaced by the variable, in `EXPANDED_KEYS` only; what
        a variable holds is registered as a secret."""
        found = _ENV_REF.search(value)
        if found and (self.prefix or key not in EXPANDED_KEYS):
            raise self.fail(
                key, f"${{{found.group(1)}}}: environment variables are read only in "
                f"{', '.join(EXPANDED_KEYS)}, and what they hold is masked as a secret; write "
                "the value itself here", index)

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
            register(self.environ[name].strip())
            return self.environ[name]

        return _ENV_REF.sub(substitute, value)

    def text(self, key: str) -> str:
        required = self.keys[key].required
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

    def number(self, key: str) -> float:
        spec = self.keys[key]
        low, high = spec.low, spec.high
        value = self.data.get(key, spec.default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number, not {_kind(value)}")
        if not low <= value <= high:
            raise self.fail(key, f"must be between {low:g} and {high:g}, not {value:g}")
        return float(value)

    def flag(self, key: str) -> bool:
        value = self.data.get(key, self.keys[key].default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {_kind(value)}")
        return value

    def file_path(self, key: str, value: str) -> Path:
        """The file `value` names: `~` expanded, relative to the profile's folder."""
        try:
            path = Path(value).expanduser()
        except RuntimeError:
            raise self.fail(key, f"'{value}' names the home folder of an unknown user") from None
        return path if path.is_absolute() else self.path.parent / path

    def file(self, key: str, value: str, limit: int = files.PEM_LIMIT) -> Path:
        path = self.file_path(key, value)
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
    user_info = user_info_problem(url)
    if user_info:
        raise reader.fail(key, f"the URL {user_info}")
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
    accepted = profile_keys.allowed("roles", env, cat)
    valid = list(cat.roles) + (list(cat.neo_roles) if env == "neo" else [])
    for i, role in enumerate(roles):
        if role in accepted:
            continue
        if env == "neo" and role in cat.roles:
            raise reader.fail(
                "required_roles", f"role template '{role}' has no known Neo roles; "
                "name the Neo roles instead (see `cpi-preflight catalog --environment neo`)", i)
        hint = closest(role, valid)
        where = "CF role template" + (" or Neo role" if env == "neo" else "")
        tail = f"; did you mean '{hint}'?" if hint else "; run `cpi-preflight catalog` for the list"
        if env == "cf" and role in cat.neo_roles:
            tail = f"; '{role}' is a Neo role: on Cloud Foundry name the role template"
        raise reader.fail("required_roles", f"unknown {where} '{role}'{tail}", i)


def _validate_endpoints(reader: _Reader, env: str, names: tuple[str, ...], cat: Catalog) -> None:
    valid = profile_keys.allowed("endpoints", env, cat)
    for i, name in enumerate(names):
        if name not in valid:
            hint = closest(name, list(valid))
            tail = f"; did you mean '{hint}'?" if hint else "; run `cpi-preflight catalog`"
            raise reader.fail("endpoints", f"unknown endpoint '{name}'{tail}", i)


def _reject_unknown_keys(reader: _Reader) -> None:
    for key in reader.data:
        if key not in KEYS:
            hint = closest(str(key), KEYS)
            tail = f"; did you mean '{hint}'?" if hint else f"; valid keys: {', '.join(KEYS)}"
            raise reader.fail(str(key), f"unknown key{tail}")


def _environment(reader: _Reader) -> str:
    env = reader.text("environment").lower()
    if env == "edge":
        raise reader.fail("environment", f"'edge' is not supported yet. {hosts.edge_facts()}")
    valid = profile_keys.allowed("environments", env, catalog_module.load())
    if env not in valid:
        names = " or ".join(f"'{name}'" for name in valid)
        raise reader.fail("environment", f"must be {names}, not '{env}'")
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
        clash = [k for k in CONNECTION_KEYS if k in reader.data]
        if clash:
            raise reader.fail(clash[0], "set either service_key or the connection keys, not both")
        key_path = reader.file("service_key", reader.text("service_key"),
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
    if cert_text and env not in profile_keys.CERTIFICATE_ENVIRONMENTS:
        only = ", ".join(profile_keys.CERTIFICATE_ENVIRONMENTS)
        raise reader.fail("certificate", f"client certificates are supported on {only} only")
    return _Connection(
        api_url=_check_url(reader, "api_url", reader.text("api_url")),
        token_url=_check_url(reader, "token_url", reader.text("token_url")),
        client_id=reader.text("client_id"),
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
    keys = {key.name: key for key in reader.keys["timeout"].keys}
    sub = _Reader(reader.path, raw, reader.environ, prefix="timeout.", keys=keys)
    for key in raw:
        if key not in keys:
            raise reader.fail(f"timeout.{key}", f"unknown key; valid: {', '.join(keys)}")
    return Timeouts(
        connect=sub.number("connect"),
        read=sub.number("read"),
    )


def _sandbox(reader: _Reader, env: str) -> Mapping[str, Any] | None:
    if "sandbox" not in reader.data:
        return None
    raw = reader.data["sandbox"]
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise reader.fail("sandbox", f"must be a mapping, not {_kind(raw)}")
    clash = [k for k in (*CONNECTION_KEYS, "service_key") if k in reader.data]
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


def _simulated(reader: _Reader) -> str | None:
    value = reader.text("simulated")
    if not value:
        return None
    if value != SIMULATED:
        raise reader.fail("simulated", f"must be '{SIMULATED}' (`cpi-preflight init` writes it "
                          f"for a tenant of `cpi-preflight sandbox`), not '{value}'; remove the "
                          "key for a real tenant")
    return value


def restart_command(environment: str, certificate: bool) -> str:
    """The command that starts a sandbox like the one that wrote a simulated profile."""
    if environment == "neo":
        return "cpi-preflight sandbox --environment neo"
    credential = " --credential certificate" if certificate else ""
    return f"cpi-preflight sandbox{credential} --service-key {SANDBOX_KEY_FILE} --force"


def _ca_bundle(reader: _Reader, simulated: str | None, env: str,
               certificate: bool, name: str) -> Path | None:
    """The CA file; for a simulated profile, a CA file that is gone means its sandbox stopped
    (the sandbox keeps it in a temporary folder that it removes when it stops)."""
    value = reader.text("ca_bundle")
    if not value:
        return None
    path = reader.file_path("ca_bundle", value)
    if simulated is not None and not path.exists():
        raise reader.fail(
            "ca_bundle", f"file {path} does not exist: the sandbox that wrote this profile is "
            f"no longer running; start it again with `{restart_command(env, certificate)}` "
            f"and run the `cpi-preflight init` line it prints with `--name {name} --force`")
    return _pem(reader, "ca_bundle", value, "CERTIFICATE", files.CA_LIMIT)


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
    _validate_endpoints(reader, env, endpoints, cat)
    sandbox = _sandbox(reader, env)
    simulated = _simulated(reader)
    conn = _Connection() if sandbox is not None else _connection(reader, env)
    _refuse_edge_local(reader, conn.api_url)
    return Profile(
        name=name, path=path, environment=env, api_url=normalize_api_url(conn.api_url),
        token_url=conn.token_url, client_id=conn.client_id, client_secret=conn.client_secret,
        certificate=conn.certificate, key=conn.key,
        ca_bundle=_ca_bundle(reader, simulated, env, conn.certificate is not None, name),
        required_roles=tuple(dict.fromkeys(roles)), endpoints=tuple(dict.fromkeys(endpoints)),
        strict=reader.flag("strict"),
        attempts=int(reader.number("attempts")),
        timeouts=_timeouts(reader), deadline=reader.number("deadline"),
        expiry_warning_days=int(reader.number("expiry_warning_days")),
        sandbox=sandbox, description=reader.text("description"), simulated=simulated,
        http2=reader.flag("http2"),
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
    """Expand `--profile` values (repeatable, comma lists, `all`, or a profile file's path)
    into profile names."""
    return [path.stem for path in resolve_files(requested, profiles_dir)]


def resolve_files(requested: list[str], profiles_dir: Path) -> list[Path]:
    """The profile files `--profile` values name: `NAME` (`profiles_dir/NAME.yaml`), comma
    lists, `all` (every profile in `profiles_dir`), or the path of a profile file, which is
    read where it is, from any folder."""
    known = available(profiles_dir)
    found: dict[str, Path] = {}
    for value in requested:
        for name in (n.strip() for n in value.split(",")):
            if not name:
                continue
            paths = ([profiles_dir / f"{k}.yaml" for k in known] if name == "all"
                     else [_selected(name, known, profiles_dir)])
            for path in paths:
                _add(found, path, name)
    if not found and requested and not any(n.strip() for v in requested for n in v.split(",")):
        raise ProfileError("--profile was given an empty name; name a profile "
                           f"(--profile NAME for {profiles_dir}/NAME.yaml) or use --profile all")
    if not found:
        raise ProfileError(f"no profiles found in {profiles_dir}; create {profiles_dir}/NAME.yaml "
                           "(`cpi-preflight init` writes one), or point --profiles-dir at the "
                           "folder that holds them")
    return list(found.values())


def _add(found: dict[str, Path], path: Path, value: str) -> None:
    """Select `path` once; two files of the same name would write the same report folder."""
    earlier = found.setdefault(path.stem, path)
    if earlier != path and os.path.abspath(earlier) != os.path.abspath(path):
        raise ProfileError(f"--profile {value}: {message_path(path)} and "
                           f"{message_path(earlier)} are both named {path.stem}, and the name "
                           "names the report folder; select one of them, or rename one")


def _selected(value: str, known: list[str], profiles_dir: Path) -> Path:
    """The file one `--profile` value names: an existing profile file given by its path (from
    any folder), else `profiles_dir/NAME.yaml` (`profiles/x.yaml` and `x.yaml` name x)."""
    path = Path(value).expanduser()
    if path.suffix not in (".yaml", ".yml") and len(path.parts) < 2:
        return profiles_dir / f"{_known(value, known, profiles_dir)}.yaml"
    stem = path.stem if path.suffix in (".yaml", ".yml") else path.name
    file = path if path.suffix in (".yaml", ".yml") else path.with_name(f"{stem}.yaml")
    absolute = file if file.is_absolute() else Path.cwd() / file
    if absolute.is_file() and absolute.parent.resolve() != profiles_dir.resolve():
        return absolute
    return profiles_dir / f"{_known(stem, known, profiles_dir, value)}.yaml"


def _known(name: str, known: list[str], profiles_dir: Path, value: str | None = None) -> str:
    if name in known:
        return name
    value = value or name
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
    _check_name(name, path)
    return load_file(path, environ)


def _check_name(name: str, path: Path) -> None:
    if not NAME.match(name):
        raise ProfileError(f"{path}: the file name must be letters, digits, '_', '.' or '-' "
                           "(it names the report folder); rename the file", path=path)


def load_file(path: Path, environ: Mapping[str, str] | None = None) -> Profile:
    """Load and validate the profile file `path`; the profile's name is the file's stem."""
    _check_name(path.stem, path)
    data = read_yaml(path)
    return parse(path.stem, path, data, os.environ if environ is None else environ)


def load_all(names: list[str], profiles_dir: Path) -> list[Profile]:
    """Load each named profile of `profiles_dir`; see `load_files` for errors."""
    return load_files([profiles_dir / f"{name}.yaml" for name in names])


def load_files(paths: list[Path], environ: Mapping[str, str] | None = None) -> list[Profile]:
    """Load each profile file. Every file is read, so that one run names every profile that
    cannot be used: one `ProfileError` as it is, several as one `ProfilesError`."""
    loaded: list[Profile] = []
    failed: list[ProfileError] = []
    for path in paths:
        try:
            loaded.append(load_file(path, environ))
        except ProfileError as exc:
            failed.append(exc)
    if len(failed) == 1:
        raise failed[0]
    if failed:
        raise ProfilesError(failed)
    return loaded


def load_selected(requested: list[str], profiles_dir: Path) -> list[Profile]:
    """The profiles `--profile` values select (`resolve_files`), loaded (`load_files`)."""
    return load_files(resolve_files(requested, profiles_dir))


def bind(profile: Profile, *, api_url: str, token_url: str, client_id: str,
         client_secret: Secret | None, certificate: Path | None, key: Path | None,
         ca_bundle: Path | None) -> Profile:
    """The profile with its connection filled in (used for sandbox profiles)."""
    return replace(profile, api_url=normalize_api_url(api_url), token_url=token_url,
                   client_id=client_id, client_secret=client_secret,
                   certificate=certificate, key=key, ca_bundle=ca_bundle or profile.ca_bundle)
