"""`cpi-preflight init`: read the input, decide the profile, validate it, write it, say what next.

The input is a service key (`--service-key FILE`, or `-` for standard input: as downloaded, as
`cf service-key` prints it, or a VCAP_SERVICES JSON), the connection options (`--api-url`,
`--token-url`, `--client-id`; Neo has no service keys, and a Neo token URL's shape says Neo) or
a Postman collection (`--postman`). The values a profile takes from them are checked before
anything else: a control or invisible character, or a user name and password in a URL, is an
error naming the field (the value would reach the terminal, the profile and the tenant).
Everything is decided into a `profile_writer.Setup` and the profile text is loaded as
`pytest --profile` would load it before anything is written, so a profile that `init` writes is
one the checks accept. The secret never goes into the file: the next steps print the `export`
line for it, and the pytest command that runs as printed from the current folder.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from pathlib import Path

import yaml

from cpi_preflight import catalog, files, postman, profile, urls
from cpi_preflight.commands import schema as schema_command
from cpi_preflight.errors import ConfigError, ProfileError
from cpi_preflight.profile_writer import (
    SOURCES,
    STDIN,
    CaBundle,
    Setup,
    Variables,
    render_profile,
)
from cpi_preflight.secret import Secret
from cpi_preflight.service_key import (
    SIMULATED,
    ServiceKey,
    read_service_key,
    service_key_from_text,
)
from cpi_preflight.text import hidden_character, log_lines

DEFAULT_ROLES = {"cf": ["MonitoringDataRead"],
                 "neo": ["IntegrationOperationServer.read", "NodeManager.read"]}
DEFAULT_ENDPOINTS = ["MessageProcessingLogs", "IntegrationRuntimeArtifacts"]
_EXPLICIT = ("api_url", "token_url", "client_id")


# --- reading the input -------------------------------------------------------------------------

STDIN_NAME = Path("standard input")  # how messages name `--service-key -`


def _read_stdin_key() -> ServiceKey:
    """The key piped in (`cf service-key <instance> <key> | cpi-preflight init --service-key
    - ...`), read up to the service key size limit."""
    limit = files.SERVICE_KEY_LIMIT
    data = sys.stdin.buffer.read(limit + 1)
    if len(data) > limit:
        raise ConfigError(f"--service-key -: standard input holds more than {limit // 1024} KiB; "
                          "pipe in one service key (`cf service-key <instance> <key>`)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("--service-key -: standard input is not UTF-8 text; pipe in the "
                          "service key as `cf service-key <instance> <key>` prints it") from None
    return service_key_from_text(STDIN_NAME, text)


def _read_key(path: Path) -> ServiceKey:
    if path == STDIN:
        return _read_stdin_key()
    if not path.is_file():
        problem = "is not a file" if path.exists() else "no such file"
        raise ConfigError(f"--service-key {path}: {problem}; download the service key of the "
                          "Process Integration Runtime instance (plan api) from the BTP cockpit "
                          "and give its path")
    try:
        return read_service_key(path)
    except OSError as exc:
        raise ConfigError(f"--service-key {path}: cannot be read ({exc.strerror}); check the "
                          "file's permissions") from None


def _from_options(args: argparse.Namespace, environment: str) -> ServiceKey:
    missing = [f"--{k.replace('_', '-')}" for k in _EXPLICIT if not getattr(args, k)]
    if missing:
        where = ("Neo has no service key: take them from the Neo cockpit (Security > OAuth)"
                 if environment == "neo" else "or give --service-key KEY.json instead")
        raise ConfigError(f"without --service-key, give {' '.join(missing)}; {where}")
    return ServiceKey(args.api_url, args.token_url, args.client_id, None, None, None, "secret")


def _connection(args: argparse.Namespace, environment: str) -> tuple[ServiceKey, Path | None]:
    if args.service_key is None:
        return _from_options(args, environment), None
    if environment == "neo":
        raise ConfigError("--service-key: Neo has no service keys; give --api-url, --token-url "
                          "and --client-id from the Neo cockpit (Security > OAuth)")
    given = [f"--{k.replace('_', '-')}" for k in _EXPLICIT if getattr(args, k)]
    if given:
        raise ConfigError(f"{given[0]}: give either --service-key or --api-url/--token-url/"
                          "--client-id, not both")
    return _read_key(args.service_key), args.service_key


CA_READ_LIMIT = 1024 * 1024
_CA_HELP = ("give the PEM file of the CA that signed the tenant's (or the proxy's) server "
            "certificate")


def ca_reference(ca_bundle: Path, profiles_dir: Path) -> str:
    """How the profile names the CA file: relative to the profile's folder when both lie below
    the current folder (the pair can move together), else absolute."""
    here = Path.cwd().resolve()
    absolute = (here / ca_bundle).resolve()
    folder = (here / profiles_dir).resolve()
    if absolute.is_relative_to(here) and folder.is_relative_to(here):
        return os.path.relpath(absolute, folder)
    return str(absolute)


def _check_ca_bundle(path: Path) -> None:
    head = files.read_named(path, CA_READ_LIMIT, f"--ca-bundle {path}", missing=_CA_HELP,
                            refused=_CA_HELP)
    if b"-----BEGIN CERTIFICATE-----" not in head:
        raise ConfigError(f"--ca-bundle {path}: holds no PEM certificate (-----BEGIN "
                          f"CERTIFICATE-----); {_CA_HELP}, converted to PEM if it is DER "
                          "(openssl x509 -inform der -in CA.cer -out CA.pem)")


def _ca_bundle(path: Path | None, target: Path) -> CaBundle | None:
    if path is None:
        return None
    _check_ca_bundle(path)
    return CaBundle(path, ca_reference(path, target.parent))


def _check_name(name: str) -> None:
    if not profile.NAME.match(name):
        raise ConfigError(f"--name {name!r}: use letters, digits, '.', '_' and '-', starting "
                          "with a letter or digit (it becomes profiles/NAME.yaml)")
    if name == "all":
        raise ConfigError("--name all: 'all' is reserved (`pytest --profile all` runs every "
                          "profile); choose another name")


def _refuse_overwrite(path: Path, force: bool, option: str) -> None:
    if path.is_symlink():
        raise ConfigError(f"{path} is a symbolic link; cpi-preflight does not write through "
                          f"links: remove it, or choose another {option}")
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; pass --force to overwrite it, or choose "
                          f"another {option}")


# --- checking what the input says -------------------------------------------------------------

def _environment(args: argparse.Namespace,
                 imported: postman.Import | None) -> tuple[str, list[str]]:
    """cf or neo, and what to say about how it was decided: the collection's, the option's,
    else the token URL's shape (`urls.environment_of`, as for a collection), else cf."""
    if imported is not None:
        return imported.environment, []
    if args.environment is not None or args.service_key is not None or not args.token_url:
        return args.environment or "cf", []
    if urls.environment_of(args.token_url) != "neo":
        return "cf", []
    return "neo", ["Environment: Neo, from the shape of --token-url (Neo's token endpoint: "
                   "https://oauthasservices-<account>.<host>/oauth2/api/v1/token); give "
                   "--environment cf if the tenant is on Cloud Foundry."]


def _fields(args: argparse.Namespace, imported: postman.Import | None) -> dict[str, str]:
    """How messages name each value init takes from options or a collection (service keys
    are checked as they are read, naming `oauth.<field>`)."""
    if imported is not None:
        where = f"--postman {postman.shown(args.postman, 200)}: {imported.auth_from}: OAuth 2.0"
        return {"api_url": f"--postman {postman.shown(args.postman, 200)}: the API URL of its "
                           "requests",
                "token_url": f"{where} accessTokenUrl", "client_id": f"{where} clientId",
                "client_secret": f"{where} clientSecret"}
    if args.service_key is None:
        return {"api_url": "--api-url", "token_url": "--token-url", "client_id": "--client-id"}
    return {}


def check_values(connection: ServiceKey, fields: dict[str, str]) -> None:
    """Refuse a secret, client id or URL that holds a control or invisible character (it would
    reach the terminal in init's own lines and the tenant as is), and a URL with a user name
    or password; the message names the field and never repeats a secret or a password."""
    for field, where in fields.items():
        value = getattr(connection, field)
        text = value.reveal() if isinstance(value, Secret) else value
        if not text:
            continue
        hidden = hidden_character(text)
        if hidden is not None:
            raise ConfigError(f"{where}: holds a control or invisible character ({hidden}); give "
                              "the value exactly as the cockpit or the service key shows it")
        problem = urls.user_info_problem(text) if field.endswith("_url") else None
        if problem is not None:
            raise ConfigError(f"{where}: the URL {problem}")


def _postman_import(args: argparse.Namespace) -> postman.Import | None:
    if args.postman is None:
        if args.postman_environment is not None:
            raise ConfigError("--postman-environment: give it together with --postman "
                              "COLLECTION.json (it only resolves the collection's {{variables}})")
        return None
    given = [f"--{k.replace('_', '-')}" for k in ("service_key", *_EXPLICIT) if getattr(args, k)]
    if given:
        raise ConfigError(f"{given[0]}: give either --postman or {given[0]}, not both (the "
                          "collection already names the API URL, token URL and client)")
    return postman.read(args.postman, args.postman_environment, args.environment)


def _from_import(imported: postman.Import) -> ServiceKey:
    return ServiceKey(imported.api_url, imported.token_url, imported.client_id,
                      imported.client_secret, None, None, "secret")


def _checks_of(args: argparse.Namespace, environment: str,
               imported: postman.Import | None) -> tuple[list[str], list[str]]:
    """Required roles and endpoints: the options, else the collection's, else the defaults."""
    endpoints = args.endpoints
    if endpoints is None:
        endpoints = imported.endpoints if imported and imported.endpoints else DEFAULT_ENDPOINTS
    roles = args.roles
    if roles is None:
        roles = (postman.roles_for(endpoints, environment) if imported
                 else DEFAULT_ROLES[environment])
    return roles, endpoints


def _setup(args: argparse.Namespace) -> Setup:
    _check_name(args.name)
    target = args.profiles_dir / f"{args.name}.yaml"
    _refuse_overwrite(target, args.force, "--name")
    imported = _postman_import(args)
    environment, notes = _environment(args, imported)
    if imported is None:
        connection, origin = _connection(args, environment)
    else:
        connection, origin = _from_import(imported), args.postman
    check_values(connection, _fields(args, imported))
    if connection.taken_from:
        notes.append(f"Took the credentials of {connection.taken_from}.")
    if args.write_pem is not None and connection.key_type != "certificate":
        raise ConfigError("--write-pem: the key holds a client secret, not a certificate; "
                          "drop --write-pem")
    ca_bundle = _ca_bundle(args.ca_bundle, target)
    roles, endpoints = _checks_of(args, environment, imported)
    setup = Setup(
        name=args.name, environment=environment, connection=connection, origin=origin,
        roles=roles, endpoints=endpoints, variables=Variables.for_name(args.name),
        target=target, pem_dir=args.write_pem, ca_bundle=ca_bundle, imported=imported,
        simulated=SIMULATED if args.simulated else connection.simulated, notes=tuple(notes),
    )
    for path in setup.pem_paths() or ():
        _refuse_overwrite(path, args.force, "--write-pem directory")
    return setup


# --- checking, writing, telling ---------------------------------------------------------------

_OPTION_OF_KEY = {"required_roles": "--roles", "endpoints": "--endpoints",
                  "api_url": "--api-url or the key's url",
                  "token_url": "--token-url or the key's tokenurl",
                  "client_id": "--client-id or the key's clientid",
                  "ca_bundle": "--ca-bundle"}


def _validation_environ(setup: Setup) -> dict[str, str]:
    key, names = setup.connection, setup.variables
    if setup.uses_certificate:
        return {names.certificate: str(key.certificate), names.key: str(key.key)}
    secret = key.client_secret.reveal() if key.client_secret else "not-the-real-secret"
    return {names.client_secret: secret}


def validate(setup: Setup, text: str) -> None:
    """Load `text` as the profile would be loaded by `pytest --profile`; nothing is written yet."""
    data = yaml.safe_load(text)
    if setup.ca_bundle is not None:  # the profile's folder may not exist yet to resolve `../`
        data["ca_bundle"] = str(setup.ca_bundle.path.resolve())
    try:
        profile.parse(setup.name, setup.target, data, _validation_environ(setup))
    except ConfigError as exc:
        key = exc.key if isinstance(exc, ProfileError) else None
        fix = _OPTION_OF_KEY.get(key or "", "the options")
        raise ConfigError(f"{exc} (nothing was written; correct {fix} and run init "
                          "again)") from None


def write_pems(setup: Setup) -> tuple[Path, Path] | None:
    """Copy the key's certificate and private key into `--write-pem DIR`, mode 0600, each
    written atomically and never through a symbolic link."""
    paths, key = setup.pem_paths(), setup.connection
    if paths is None or key.certificate is None or key.key is None:
        return None
    paths[0].parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for path, source in zip(paths, (key.certificate, key.key), strict=True):
        data = files.read_bytes(source, files.PEM_LIMIT)
        files.write_atomic(path, data.rstrip(b"\n") + b"\n", private=True)
    return paths


def _write_files(setup: Setup, text: str) -> tuple[Path, Path] | None:
    try:
        pems = write_pems(setup)
        setup.target.parent.mkdir(parents=True, exist_ok=True)
        files.write_atomic(setup.target, text.encode("utf-8"))
    except OSError as exc:
        where = exc.filename or setup.target
        raise ConfigError(f"{where}: cannot write ({exc.strerror}); check that the folder is "
                          "writable, or choose another with --profiles-dir / --write-pem") from None
    return pems


def _export(name: str, value: str) -> str:
    return f"export {name}={shlex.quote(value)}"


def _secret_steps(setup: Setup) -> list[str]:
    var, secret = setup.variables.client_secret, setup.connection.client_secret
    if secret is not None:
        return [f"The secret is not in the profile; it is read from {var}. Set it in this shell "
                f"(in CI, store it as the secret {var}):", "", _export(var, secret.reveal())]
    if os.environ.get(var, "").strip():
        return [f"The secret is not in the profile; it is read from {var}, which is set in this "
                f"shell (in CI, store it as the secret {var})."]
    source = SOURCES[setup.environment]["client_secret"]
    return [f"Set the client secret ({source}) in this shell; in CI, store it as the secret "
            f"{var}:", "", f"export {var}='<client secret>'"]


def _certificate_steps(setup: Setup, pems: tuple[Path, Path] | None) -> list[str]:
    names = setup.variables
    if pems is None:
        crt, key = f"/path/to/{setup.name}.crt", f"/path/to/{setup.name}.key"
        intro = ("The service key holds the client certificate and its private key (PEM text "
                 "in `certificate` and `key`). Save them to two files readable only by you "
                 "(or run init again with --write-pem DIR --force), then set their paths:")
    else:
        crt, key = str(pems[0].resolve()), str(pems[1].resolve())
        intro = (f"Wrote {pems[0]} and {pems[1]} (mode 0600; keep them out of version control). "
                 "Set their paths in this shell (in CI, store the PEMs as secret files):")
    lines = [intro, "", _export(names.certificate, crt), _export(names.key, key)]
    if setup.connection.certificate_valid_until:
        lines += ["", f"The certificate is valid until {setup.connection.certificate_valid_until}."]
    return lines


def _pytest_command() -> str:
    """`pytest` when the `pytest` on PATH is this installation's, else this Python's `-m pytest`
    (e.g. cpi-preflight installed with pipx, or run from a venv that is not activated)."""
    found = shutil.which("pytest")
    here = Path(sys.executable).parent
    if found is not None and Path(found).parent.resolve() == here.resolve():
        return "pytest"
    return f"{shlex.quote(sys.executable)} -m pytest"


def run_command(setup: Setup) -> str:
    """The command that checks the new profile, run from the current folder. The `=` form keeps
    pytest from taking the folder for a test path when it decides its rootdir."""
    command = f"{_pytest_command()} --profile {setup.name}"
    if setup.target.parent != Path("profiles"):
        command += " " + shlex.quote(f"--profiles-dir={setup.target.parent}")
    return command


def _import_lines(setup: Setup) -> list[str]:
    imported = setup.imported
    if imported is None:
        return []
    lines = [f"From the collection: API {imported.api_url}, client {imported.client_id} "
             f"({imported.client_from}), environment {setup.environment} (from "
             f"{imported.environment_from}).",
             f"Endpoints: {', '.join(setup.endpoints)}; required roles: "
             f"{', '.join(setup.roles)}."]
    if imported.changes:
        lines += ["Changed from the collection:", *[f"  - {line}" for line in imported.changes]]
    if imported.left_out:
        lines += ["Left out (not written to the profile):",
                  *[f"  - {item.line()}" for item in imported.left_out]]
    return [*lines, ""]


def _report(setup: Setup, pems: tuple[Path, Path] | None, schema_lines: list[str]) -> None:
    kind = "client certificate" if setup.uses_certificate else "client secret"
    env = catalog.ENVIRONMENT_NAMES[setup.environment]
    steps = (_certificate_steps(setup, pems) if setup.uses_certificate
             else _secret_steps(setup))
    notes = [*setup.notes, ""] if setup.notes else []
    if setup.simulated == SIMULATED:
        notes = [*notes, "The profile says `simulated: sandbox`: its reports are no evidence for "
                         "a real tenant.", ""]
    lines = [f"Wrote {setup.target} ({env}, {kind}).", "", *notes, *_import_lines(setup),
             *steps, "",
             *schema_lines, "Then run the checks:", "", run_command(setup)]
    print("\n".join(_printable(line) for line in lines))


def _printable(line: str) -> str:
    """A line of init's report as printed: a command to paste (`export NAME=...`, whose value
    `check_values` took only without hidden characters) as it is; any other line, which may
    quote a collection's or a key's values and file names, shown visible, forming no CI
    workflow command (`text.log_lines`)."""
    if line.startswith("export ") and hidden_character(line) is None:
        return line
    return log_lines(line)


def _warn_plan(setup: Setup) -> None:
    if "|it-rt-" in setup.connection.client_id:
        where = "--service-key -" if setup.origin == STDIN else setup.origin or "--client-id"
        print(f"warning: {log_lines(str(where))}: the client id ends in |it-rt-...: this is a key "
              "of the integration-flow plan, which cannot call the API; create a service key of an "
              "instance with plan api and run init again", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Write `profiles/NAME.yaml` and print the exports and the command to run next."""
    setup = _setup(args)
    text = render_profile(setup)
    validate(setup, text)
    pems = _write_files(setup, text)
    schema_lines = schema_command.write_beside(setup.target.parent, force=args.force)
    _warn_plan(setup)
    _report(setup, pems, schema_lines)
    return 0
