"""The text of a new profile: what `cpi-preflight init` decided (`Setup`) -> commented YAML.

Pure: no file is read or written here and nothing is printed; `commands.init` gathers the
input, validates the text this module renders, writes it and prints the next steps. Secrets
never reach the text: the profile names them as `${VAR}` references (`Variables`).

Values copied from the input (URLs, the client id, a path, a file's name) may hold anything: every
`key: value` line is written by the YAML emitter (quoted and escaped where the value needs it),
and every comment is made one line of visible characters (`text.one_line`) before it is
written, because YAML also ends a comment at U+0085, U+2028 and U+2029: a file name holding one
could otherwise start a key of its own.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import yaml

from cpi_preflight import postman, urls
from cpi_preflight.profile_schema import MODELINE
from cpi_preflight.service_key import SIMULATED, ServiceKey
from cpi_preflight.text import one_line

STDIN = Path("-")  # `--service-key -`: the key is read from standard input


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
class CaBundle:
    """The `--ca-bundle` file: where it is, and how the profile names it (`reference`)."""

    path: Path
    reference: str


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
    ca_bundle: CaBundle | None = None
    imported: postman.Import | None = None
    simulated: str | None = None  # "sandbox": the tenant is a `cpi-preflight sandbox`
    notes: tuple[str, ...] = ()  # what init decided from the input, said before the next steps

    @property
    def uses_certificate(self) -> bool:
        return self.connection.key_type == "certificate"

    def pem_paths(self) -> tuple[Path, Path] | None:
        """Where `--write-pem` puts the certificate and key, if it was given."""
        if self.pem_dir is None:
            return None
        return self.pem_dir / f"{self.name}.crt", self.pem_dir / f"{self.name}.key"


def _yaml_line(key: str, value: str) -> str:
    """`key: value` as the YAML emitter writes it: plain where that reads back as the same
    text, else quoted, with line breaks, controls and non-ASCII characters escaped; always
    one line."""
    line = yaml.safe_dump({key: value}, allow_unicode=False, width=1_000_000,
                          default_flow_style=False).rstrip("\n")
    if "\n" in line:  # a value with line breaks: single-quoted over several lines otherwise
        line = yaml.safe_dump({key: value}, allow_unicode=False, width=1_000_000,
                              default_style='"').rstrip("\n")
    return line


def _comment(text: str) -> list[str]:
    return textwrap.wrap(one_line(text), width=98, initial_indent="# ",
                         subsequent_indent="# ", break_long_words=False,
                         break_on_hyphens=False)


def _entry(comment: str, key: str, value: str) -> list[str]:
    return [*_comment(comment), _yaml_line(key, value)]


def _list_entry(comment: str, key: str, values: list[str]) -> list[str]:
    items = ["  - " + _yaml_line("k", v)[len("k: "):] for v in values]
    return [*_comment(comment), f"{key}:" + ("" if items else " []"), *items]


SOURCES = {
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
"""Where each connection value comes from, per environment (profile comments, init's hints)."""


def _origin(setup: Setup) -> str:
    if setup.origin is None:
        return "command-line options"
    if setup.origin == STDIN:
        return "a service key read from standard input"
    kind = "the Postman collection" if setup.imported else "the service key"
    return f"{kind} {setup.origin.name}"


def _sources(setup: Setup) -> dict[str, str]:
    if setup.imported is None:
        return SOURCES[setup.environment]
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
        *_simulated_lines(setup),
    ]


def _simulated_lines(setup: Setup) -> list[str]:
    if setup.simulated != SIMULATED:
        return []
    return _entry("This tenant is simulated: a `cpi-preflight sandbox` on this machine, not an "
                  "SAP tenant; its reports are no evidence for a real one. When the sandbox "
                  "stops, its CA file goes with it, and the checks say how to start it again.",
                  "simulated", SIMULATED)


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


def _ca_lines(setup: Setup) -> list[str]:
    if setup.ca_bundle is None:
        return []
    return _entry("Extra trusted CA certificates (PEM), added to the system's list: the private "
                  "CA of the tenant, token host or a TLS-inspecting proxy. A relative path is "
                  "read from this file's folder.", "ca_bundle", setup.ca_bundle.reference)


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
    lines = [MODELINE, *_header(setup), *_connection_lines(setup), *_check_lines(setup),
             *optional]
    return "\n".join(lines) + "\n"
