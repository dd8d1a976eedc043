"""The `cpi-preflight` command: set up a tenant profile, look up roles, endpoints and codes.

    cpi-preflight init --service-key KEY.json --name NAME [--roles A,B] [--endpoints X,Y]
                       [--ca-bundle CA.pem]
    cpi-preflight init --environment neo --name NAME --api-url URL --token-url URL --client-id ID
    cpi-preflight init --postman COLLECTION.json [--postman-environment ENV.json] --name NAME
    cpi-preflight catalog [--environment cf|neo] [--format text|markdown|json]
    cpi-preflight codes [--format text|markdown]
    cpi-preflight explain CODE
    cpi-preflight sandbox [ARGS...]
    cpi-preflight summary [REPORTS]

The checks themselves run under pytest (`pytest --profile NAME`); this command only prepares
and explains. Exit codes: 0 done, 2 the input is wrong (the message says where and what to do).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from cpi_preflight import __version__, docs, files, postman, profile, summary, urls
from cpi_preflight import catalog as catalog_module
from cpi_preflight.errors import ConfigError, PreflightError
from cpi_preflight.secret import scrub
from cpi_preflight.service_key import ServiceKey, read_service_key

PROG = "cpi-preflight"
USAGE_ERROR = 2
DEFAULT_ROLES = {"cf": ["MonitoringDataRead"],
                 "neo": ["IntegrationOperationServer.read", "NodeManager.read"]}
DEFAULT_ENDPOINTS = ["MessageProcessingLogs", "IntegrationRuntimeArtifacts"]
_EXPLICIT = ("api_url", "token_url", "client_id")


# --- init: what the profile will say -----------------------------------------------------------

@dataclass(frozen=True)
class Variables:
    """The environment variables a profile named NAME reads its credentials from."""

    prefix: str

    @classmethod
    def for_name(cls, name: str) -> Variables:
        """`prod-cf` -> `CPI_PROD_CF`: upper-cased, every other character an underscore."""
        return cls("CPI_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper())

    @property
    def client_secret(self) -> str:
        return f"{self.prefix}_CLIENT_SECRET"

    @property
    def certificate(self) -> str:
        return f"{self.prefix}_CERTIFICATE"

    @property
    def key(self) -> str:
        return f"{self.prefix}_KEY"


@dataclass(frozen=True)
class Setup:
    """Everything `init` writes and prints, decided before anything is written."""

    name: str
    environment: str
    connection: ServiceKey
    origin: Path | None
    roles: list[str]
    endpoints: list[str]
    variables: Variables
    target: Path
    pem_dir: Path | None
    ca_bundle: Path | None = None
    imported: postman.Import | None = None

    @property
    def uses_certificate(self) -> bool:
        return self.connection.key_type == "certificate"

    def pem_paths(self) -> tuple[Path, Path] | None:
        """Where `--write-pem` puts the certificate and key, if it was given."""
        if self.pem_dir is None:
            return None
        return self.pem_dir / f"{self.name}.crt", self.pem_dir / f"{self.name}.key"


def _yaml_scalar(value: str) -> str:
    """`value` as YAML: plain when it reads back unchanged, else double-quoted."""
    try:
        plain = yaml.safe_load(f"k: {value}") == {"k": value}
    except yaml.YAMLError:
        plain = False
    return value if plain else json.dumps(value)


def _comment(text: str) -> list[str]:
    return textwrap.wrap(text, width=98, initial_indent="# ", subsequent_indent="# ",
                         break_long_words=False, break_on_hyphens=False)


def _entry(comment: str, key: str, value: str) -> list[str]:
    return [*_comment(comment), f"{key}: {_yaml_scalar(value)}"]


def _list_entry(comment: str, key: str, values: list[str]) -> list[str]:
    items = [f"  - {_yaml_scalar(v)}" for v in values]
    return [*_comment(comment), f"{key}:" + ("" if items else " []"), *items]


_SOURCES = {
    "cf": {
        "api_url": "the service key's `url`",
        "token_url": "the service key's `tokenurl`, the XSUAA token endpoint",
        "client_id": "the service key's `clientid`",
        "client_secret": "the service key's `clientsecret`",
    },
    "neo": {
        "api_url": "the tenant URL https://<account>-tmn.<ssl host>.<landscape host>, "
                   "without /itspaces",
        "token_url": "Neo cockpit > Security > OAuth > Branding: Token Endpoint",
        "client_id": "Neo cockpit > Security > OAuth > Clients",
        "client_secret": "the client's secret from Neo cockpit > Security > OAuth > Clients",
    },
}


def _origin(setup: Setup) -> str:
    if setup.origin is None:
        return "command-line options"
    kind = "the Postman collection" if setup.imported else "the service key"
    return f"{kind} {setup.origin.name}"


def _sources(setup: Setup) -> dict[str, str]:
    if setup.imported is None:
        return _SOURCES[setup.environment]
    owner = setup.imported.auth_from
    return {"api_url": "the base URL of the collection's requests, before /api/v1",
            "token_url": f"Access Token URL of the OAuth 2.0 authorization of {owner}",
            "client_id": "Client ID of that authorization",
            "client_secret": "Client Secret of that authorization"}


def _header(setup: Setup) -> list[str]:
    origin = _origin(setup)
    return [
        *_comment(f'cpi-preflight profile "{setup.name}": check it with `pytest --profile '
                  f"{setup.name}`. Written by `cpi-preflight init` from {origin}. The README "
                  '("Writing a profile") explains every key; `cpi-preflight catalog` lists '
                  "the roles and endpoints."),
        *_comment("${NAME} is replaced by the environment variable NAME when the checks run, "
                  "so secrets stay out of this file."),
        "",
        *_comment("cf = SAP BTP Cloud Foundry (Process Integration Runtime instance, plan api); "
                  "neo = SAP BTP Neo."),
        f"environment: {setup.environment}",
        *_entry("Free text, shown in the reports.", "description", _description(setup)),
    ]


def _description(setup: Setup) -> str:
    host = urls.host(setup.connection.api_url)
    credential = "client certificate" if setup.uses_certificate else "client secret"
    return f"{setup.name} on {host}, {credential}"


def _connection_lines(setup: Setup) -> list[str]:
    key, sources = setup.connection, _sources(setup)
    token_source = sources["token_url"]
    if setup.uses_certificate:
        token_source = "the service key's `certurl` + /oauth/token, the mTLS host; else `tokenurl`"
    return [
        *_entry(f"API host ({sources['api_url']}); the checks call <api_url>/api/v1/...",
                "api_url", key.api_url),
        *_entry(f"OAuth token endpoint ({token_source}).", "token_url", key.token_url),
        *_entry(f"OAuth client id ({sources['client_id']}); not secret.", "client_id",
                key.client_id),
        *(_certificate_lines(setup) if setup.uses_certificate else _secret_lines(setup)),
        *_ca_lines(setup),
    ]


def ca_reference(ca_bundle: Path, profiles_dir: Path) -> str:
    """How the profile names the CA file: relative to the profile's folder when both lie below
    the current folder (the pair can move together), else absolute."""
    here = Path.cwd().resolve()
    absolute = (here / ca_bundle).resolve()
    folder = (here / profiles_dir).resolve()
    if absolute.is_relative_to(here) and folder.is_relative_to(here):
        return os.path.relpath(absolute, folder)
    return str(absolute)


def _ca_lines(setup: Setup) -> list[str]:
    if setup.ca_bundle is None:
        return []
    return _entry("Extra trusted CA certificates (PEM), added to the system's list: the private "
                  "CA of the tenant, token host or a TLS-inspecting proxy. A relative path is "
                  "read from this file's folder.", "ca_bundle",
                  ca_reference(setup.ca_bundle, setup.target.parent))


def _secret_lines(setup: Setup) -> list[str]:
    var = setup.variables.client_secret
    source = _sources(setup)["client_secret"]
    comment = _comment(f"Client secret ({source}), read from the environment: "
                       f"export {var}='...' before running.")
    return [*comment, f"client_secret: ${{{var}}}"]


def _certificate_lines(setup: Setup) -> list[str]:
    names = setup.variables
    return [
        *_comment(f"Client certificate and private key (the service key's `certificate` and "
                  f"`key`) as PEM files; the environment variables {names.certificate} and "
                  f"{names.key} hold their paths."),
        f"certificate: ${{{names.certificate}}}",
        f"key: ${{{names.key}}}",
    ]


def _check_lines(setup: Setup) -> list[str]:
    roles = ("Roles the client must have: CF role templates of the instance (`cpi-preflight "
             "catalog`). Each is looked for in the token and proven by a read-only call.")
    if setup.environment == "neo":
        roles = ("Roles the client must have: Neo roles assigned to user oauth_client_<client "
                 "id> on the ...tmn subscription (`cpi-preflight catalog --environment neo`).")
    return [
        "",
        *_list_entry(roles, "required_roles", setup.roles),
        *_list_entry("Entity sets to call read-only (GET <api_url>/api/v1/<set>?$top=1); each "
                     "must answer.", "endpoints", setup.endpoints),
    ]


_OPTIONAL = [
    "",
    "# Optional settings (defaults shown):",
    "# strict: false                    # true: warnings (excess roles, expiring certs) fail",
    "# ca_bundle: corporate-ca.pem      # extra trusted CA certificates (PEM), e.g. a proxy's",
    "# attempts: 3                      # tries per request on transient failures",
    "# timeout: {connect: 5, read: 15}  # seconds per request",
    "# deadline: 120                    # seconds for the whole profile",
    "# expiry_warning_days: 30          # warn this many days before a certificate expires",
]


def render_profile(setup: Setup) -> str:
    """The profile YAML, commented; credentials appear only as `${VAR}` references."""
    optional = [line for line in _OPTIONAL
                if setup.ca_bundle is None or not line.startswith("# ca_bundle:")]
    lines = [*_header(setup), *_connection_lines(setup), *_check_lines(setup), *optional]
    return "\n".join(lines) + "\n"


# --- init: reading the input -------------------------------------------------------------------

def _read_key(path: Path) -> ServiceKey:
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


def _check_ca_bundle(path: Path) -> None:
    head = files.read_named(path, CA_READ_LIMIT, f"--ca-bundle {path}", missing=_CA_HELP,
                            refused=_CA_HELP)
    if b"-----BEGIN CERTIFICATE-----" not in head:
        raise ConfigError(f"--ca-bundle {path}: holds no PEM certificate (-----BEGIN "
                          f"CERTIFICATE-----); {_CA_HELP}, converted to PEM if it is DER "
                          "(openssl x509 -inform der -in CA.cer -out CA.pem)")


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
    environment = imported.environment if imported else args.environment or "cf"
    if imported is None:
        connection, origin = _connection(args, environment)
    else:
        connection, origin = _from_import(imported), args.postman
    if args.write_pem is not None and connection.key_type != "certificate":
        raise ConfigError("--write-pem: the key holds a client secret, not a certificate; "
                          "drop --write-pem")
    if args.ca_bundle is not None:
        _check_ca_bundle(args.ca_bundle)
    roles, endpoints = _checks_of(args, environment, imported)
    setup = Setup(
        name=args.name, environment=environment, connection=connection, origin=origin,
        roles=roles, endpoints=endpoints, variables=Variables.for_name(args.name),
        target=target, pem_dir=args.write_pem, ca_bundle=args.ca_bundle, imported=imported,
    )
    for path in setup.pem_paths() or ():
        _refuse_overwrite(path, args.force, "--write-pem directory")
    return setup


# --- init: checking, writing, telling ---------------------------------------------------------

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
        data["ca_bundle"] = str(setup.ca_bundle.resolve())
    try:
        profile.parse(setup.name, setup.target, data, _validation_environ(setup))
    except ConfigError as exc:
        key = str(exc).removeprefix(f"{setup.target}: ").split(":")[0].split("[")[0]
        fix = _OPTION_OF_KEY.get(key, "the options")
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
    source = _SOURCES[setup.environment]["client_secret"]
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
             f"(OAuth 2.0 authorization of {imported.auth_from}), environment "
             f"{setup.environment} (from the token URL).",
             f"Endpoints: {', '.join(setup.endpoints)}; required roles: "
             f"{', '.join(setup.roles)}."]
    if imported.left_out:
        lines += ["Left out (not written to the profile):",
                  *[f"  - {item.line()}" for item in imported.left_out]]
    return [*lines, ""]


def _report(setup: Setup, pems: tuple[Path, Path] | None) -> None:
    kind = "client certificate" if setup.uses_certificate else "client secret"
    env = catalog_module.ENVIRONMENT_NAMES[setup.environment]
    steps = (_certificate_steps(setup, pems) if setup.uses_certificate
             else _secret_steps(setup))
    lines = [f"Wrote {setup.target} ({env}, {kind}).", "", *_import_lines(setup), *steps, "",
             "Then run the checks:", "", run_command(setup)]
    print("\n".join(lines))


def _warn_plan(setup: Setup) -> None:
    if "|it-rt-" in setup.connection.client_id:
        where = setup.origin or "--client-id"
        print(f"warning: {where}: the client id ends in |it-rt-...: this is a key of the "
              "integration-flow plan, which cannot call the API; create a service key of an "
              "instance with plan api and run init again", file=sys.stderr)


def run_init(args: argparse.Namespace) -> int:
    """Write `profiles/NAME.yaml` and print the exports and the command to run next."""
    setup = _setup(args)
    text = render_profile(setup)
    validate(setup, text)
    pems = _write_files(setup, text)
    _warn_plan(setup)
    _report(setup, pems)
    return 0


# --- catalog and codes -------------------------------------------------------------------------

_CATALOG_FORMATS: dict[str, Callable[[str | None], str]] = {
    "text": docs.catalog_text, "markdown": docs.catalog_markdown, "json": docs.catalog_json,
}
_CODES_FORMATS: dict[str, Callable[[], str]] = {
    "text": docs.codes_text, "markdown": docs.codes_table_markdown,
}


def run_catalog(args: argparse.Namespace) -> int:
    """Print the endpoints and role templates."""
    print(_CATALOG_FORMATS[args.format](args.environment))
    return 0


def run_codes(args: argparse.Namespace) -> int:
    """Print the failure codes."""
    print(_CODES_FORMATS[args.format]())
    return 0


def run_explain(args: argparse.Namespace) -> int:
    """Print one code's meaning, causes and fixes (an unknown code is a usage error)."""
    print(docs.explain(args.code))
    return 0


def run_summary(args: argparse.Namespace) -> int:
    """Print the Markdown summary of a run's reports (for `$GITHUB_STEP_SUMMARY`)."""
    print(summary.markdown(args.reports), end="")
    return 0


# --- sandbox -----------------------------------------------------------------------------------

SANDBOX_MODULE = "cpi_preflight.sandbox.__main__"


def run_sandbox(argv: list[str]) -> int:
    """Hand the arguments to the sandbox's own command line (`python -m cpi_preflight.sandbox`)."""
    try:
        from cpi_preflight.sandbox.__main__ import main as sandbox_main
    except ModuleNotFoundError as exc:
        if exc.name != SANDBOX_MODULE:
            raise
        raise ConfigError(f"this installation has no sandbox ({SANDBOX_MODULE} is missing); "
                          "reinstall cpi-preflight") from None
    try:
        return sandbox_main(argv, prog=f"{PROG} sandbox")
    except SystemExit as exc:  # its argparse exits on --help and on wrong arguments
        return exc.code if isinstance(exc.code, int) else USAGE_ERROR


# --- command line ------------------------------------------------------------------------------

def _names(value: str) -> list[str]:
    return [n for n in (p.strip() for p in value.split(",")) if n]


def _add_init(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = commands.add_parser(
        "init", help="write profiles/NAME.yaml from a service key (secrets stay in variables)",
        description="Write a tenant profile that refers to the secret only through ${VAR}, "
                    "and print the export lines and the pytest command to run next.")
    init.add_argument("--name", required=True, help="profile name: profiles/NAME.yaml")
    init.add_argument("--service-key", type=Path, metavar="KEY.json",
                      help="CF service key of the Process Integration Runtime (plan api)")
    init.add_argument("--environment", choices=catalog_module.ENVIRONMENTS,
                      help="cf (default) or neo")
    init.add_argument("--api-url", help="without a service key (Neo): the tenant API URL")
    init.add_argument("--token-url", help="without a service key (Neo): the token endpoint")
    init.add_argument("--client-id", help="without a service key (Neo): the OAuth client id")
    init.add_argument("--profiles-dir", type=Path, default=Path("profiles"), metavar="DIR",
                      help="where to write the profile (default: profiles)")
    init.add_argument("--roles", type=_names, metavar="A,B",
                      help="required roles (default: MonitoringDataRead; Neo: "
                           "IntegrationOperationServer.read,NodeManager.read)")
    init.add_argument("--endpoints", type=_names, metavar="X,Y",
                      help="endpoints to call (default: "
                           "MessageProcessingLogs,IntegrationRuntimeArtifacts)")
    init.add_argument("--write-pem", type=Path, metavar="DIR",
                      help="certificate keys: write NAME.crt and NAME.key (mode 0600) into DIR")
    init.add_argument("--postman", type=Path, metavar="COLLECTION.json",
                      help="Postman Collection v2.1 export: OAuth 2.0 client credentials, API "
                           "URL and the entity sets its requests read")
    init.add_argument("--postman-environment", type=Path, metavar="ENV.json",
                      help="Postman environment export resolving the collection's {{variables}}")
    init.add_argument("--ca-bundle", type=Path, metavar="PEM",
                      help="extra trusted CA certificates (PEM) for a tenant or proxy behind a "
                           "private CA; written to the profile as ca_bundle")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.set_defaults(handler=run_init)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `cpi-preflight`."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Set up and explain cpi-preflight checks; run them with "
                               "`pytest --profile NAME`.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_init(commands)
    catalog = commands.add_parser("catalog", help="list endpoints and role templates")
    catalog.add_argument("--environment", choices=catalog_module.ENVIRONMENTS,
                         help="only what applies to cf or neo")
    catalog.add_argument("--format", choices=sorted(_CATALOG_FORMATS), default="text")
    catalog.set_defaults(handler=run_catalog)
    codes = commands.add_parser("codes", help="list failure codes with cause and fix")
    codes.add_argument("--format", choices=sorted(_CODES_FORMATS), default="text")
    codes.set_defaults(handler=run_codes)
    explain = commands.add_parser("explain", help="what one failure code means and how to fix it")
    explain.add_argument("code", metavar="CODE", help="a failure code, e.g. ROLE_MISSING")
    explain.set_defaults(handler=run_explain)
    summarize = commands.add_parser(
        "summary", help="Markdown summary of a run's reports (result, failed checks, codes)",
        description="Print one Markdown page from REPORTS/<profile>/evidence.json: per profile "
                    "the result and every failed check and warning with its code. In GitHub "
                    'Actions: cpi-preflight summary reports >> "$GITHUB_STEP_SUMMARY".')
    summarize.add_argument("reports", type=Path, nargs="?", default=Path("reports"),
                           metavar="REPORTS", help="reports folder of a run (default: reports)")
    summarize.set_defaults(handler=run_summary)
    sandbox = commands.add_parser("sandbox", add_help=False,
                                  help="serve a simulated tenant (arguments go to the sandbox)")
    sandbox.add_argument("args", nargs=argparse.REMAINDER)
    sandbox.set_defaults(handler=lambda a: run_sandbox(a.args))
    return parser


def _parse(argv: Sequence[str]) -> argparse.Namespace | int:
    try:
        return build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else USAGE_ERROR


def main(argv: list[str] | None = None) -> int:
    """Run `cpi-preflight`; return the exit code (0 done, 2 wrong input)."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    command = arguments[0] if arguments else ""
    try:
        if command == "sandbox":
            return run_sandbox(arguments[1:])
        parsed = _parse(arguments)
        return parsed if isinstance(parsed, int) else int(parsed.handler(parsed))
    except PreflightError as exc:
        print(f"{PROG} {command}: {scrub(str(exc))}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:
        # The reader went away (`cpi-preflight catalog | head`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
