"""The keys of a profile as data: what each holds, its bounds and allowed values, and the words an
editor shows for it.

`profile` validates profiles with these definitions, and `profile_schema` turns the same ones
into the JSON Schema that `cpi-preflight schema` prints: one definition, two readers. What needs
code stays in `profile` (a URL parsed by httpx, a file read, a service key, the sandbox section's
own parser); the schema says as much of it as JSON Schema can, and never refuses a profile the
loader accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cpi_preflight import catalog as catalog_module
from cpi_preflight.catalog import Catalog

# text: a string (a number is read as its text; `${VAR}` is replaced); names: a list of names,
# or one comma-separated string; number, flag: YAML numbers and true/false; mapping: a mapping of
# its own `keys`; section: the `sandbox:` section, validated by the sandbox's own parser.
Kind = Literal["text", "names", "number", "flag", "mapping", "section"]
# The names a value may take: the environments, or the catalog's roles or endpoints.
Values = Literal["", "environments", "roles", "endpoints", "simulated"]

VARIABLE = r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}"
"""A `${NAME}` reference in a text value, replaced by the environment variable NAME."""


@dataclass(frozen=True)
class Key:
    """One key of a profile (or of a mapping in it)."""

    name: str
    kind: Kind
    title: str
    description: str
    examples: tuple[object, ...] = ()
    required: bool = False  # text: present and not empty where it applies (see CONNECTION_KEYS)
    default: float | bool | None = None
    low: float = 0.0
    high: float = 0.0
    values: Values = ""
    url: bool = False  # https://, or http:// to a loopback host (checked by httpx in `profile`)
    keys: tuple[Key, ...] = ()


CF_API_URL = "https://mysub.it-cpi018.cfapps.eu10-003.hana.ondemand.com"
NEO_API_URL = "https://myaccount-tmn.hci.eu1.hana.ondemand.com"
_VARIABLES = ("; `${NAME}` is replaced by the environment variable NAME when the checks run (in "
              "the credential keys only: client_secret, certificate, key, service_key)")

TIMEOUT_KEYS = (
    Key("connect", "number", "Connect timeout",
        "Seconds to wait for a TCP and TLS connection to the token host or the API host.",
        (5,), default=5, low=0.1, high=300),
    Key("read", "number", "Read timeout",
        "Seconds to wait for an answer once a request is sent.",
        (15,), default=15, low=0.1, high=600),
)

SANDBOX_KEYS = (
    Key("roles", "names", "Sandbox: granted roles",
        "Role templates the simulated client is granted (on Neo also Neo roles); the sandbox "
        "checks the names against its own table of SAP's behaviour.",
        (["MonitoringDataRead", "WorkspacePackagesRead"],)),
    Key("credential", "text", "Sandbox: credential type",
        "How the simulated client authenticates: `secret` (client id and secret) or "
        "`certificate` (a certificate key; Cloud Foundry only).", ("secret", "certificate")),
    Key("faults", "mapping", "Sandbox: simulated faults",
        "Misbehaviours to simulate, by name (e.g. `server_errors: {NumberRanges: always}`); "
        "each is listed with its source in the package's sandbox/sap_behaviour.yaml "
        "(`fault_behaviours`).", ({"server_errors": {"NumberRanges": "always"}},)),
    Key("extra_scopes", "names", "Sandbox: extra token scopes",
        "Permissions the simulated token carries beyond its role templates, as they follow "
        "'<xsappname>.' in a scope (Cloud Foundry only).", (["Custom.Read"],)),
    Key("http2", "flag", "Sandbox: offer HTTP/2",
        "true: the simulated hosts offer HTTP/2 through ALPN, as SAP BTP's Cloud Foundry "
        "routing does (default false: HTTP/1.1 only).", (True,), default=False),
)

KEYS = (
    Key("environment", "text", "Environment",
        "Where the tenant runs: `cf` (SAP BTP Cloud Foundry: a Process Integration Runtime "
        "instance, plan api) or `neo` (SAP BTP Neo); any case. `edge` (Edge Integration Cell's "
        "local API) is refused with what it is like.", ("cf", "neo"), required=True,
        values="environments"),
    Key("description", "text", "Description",
        "Free text, shown in the reports.",
        ("prod-cf on mysub.it-cpi018.cfapps.eu10-003.hana.ondemand.com, client secret",)),
    Key("api_url", "text", "API URL",
        "The tenant's API host; the checks call <api_url>/api/v1/... (a trailing /api/v1 is "
        "tolerated, a Web UI page's /itspaces/... or /shell/... is dropped). Cloud Foundry: the "
        "service key's `url`; Neo: the tenant URL https://<account>-tmn.<ssl host>.<landscape "
        "host>. https:// only (http:// for loopback hosts).",
        (CF_API_URL, NEO_API_URL), required=True, url=True),
    Key("token_url", "text", "Token URL",
        "The OAuth token endpoint. Cloud Foundry: the service key's `tokenurl` (certificate "
        "keys: its `certurl` + /oauth/token, the authentication.cert host); Neo: cockpit > "
        "Security > OAuth > Branding: Token Endpoint. https:// only (http:// for loopback "
        "hosts).",
        ("https://mysub.authentication.eu10.hana.ondemand.com/oauth/token",
         "https://mysub.authentication.cert.eu10.hana.ondemand.com/oauth/token",
         "https://oauthasservices-myaccount.hana.ondemand.com/oauth2/api/v1/token"),
        required=True, url=True),
    Key("client_id", "text", "Client id",
        "The OAuth client id (Cloud Foundry: the service key's `clientid`; Neo: cockpit > "
        "Security > OAuth > Clients). Not secret.",
        ("sb-1234abcd-5678-90ef-1234-567890abcdef!b12345|it!b182722",), required=True),
    Key("client_secret", "text", "Client secret",
        "The OAuth client secret; keep it out of the file: write `${NAME}` and export NAME "
        "before running (`cpi-preflight init` names it CPI_<PROFILE>_CLIENT_SECRET). Instead "
        "of a secret, a Cloud Foundry certificate key gives `certificate` + `key`.",
        ("${CPI_PROD_CF_CLIENT_SECRET}",)),
    Key("certificate", "text", "Client certificate (PEM file)",
        "Path of the PEM file with the client certificate (chain) of a Cloud Foundry "
        "certificate key, relative to the profile's folder or absolute; goes with `key`, "
        "instead of `client_secret`" + _VARIABLES + ".",
        ("${CPI_PROD_CF_CERTIFICATE}", "pki/prod-cf.crt")),
    Key("key", "text", "Client private key (PEM file)",
        "Path of the PEM file with the private key of the client certificate, relative to the "
        "profile's folder or absolute; goes with `certificate`" + _VARIABLES + ".",
        ("${CPI_PROD_CF_KEY}", "pki/prod-cf.key")),
    Key("service_key", "text", "Service key file",
        "Path of a Cloud Foundry service key (JSON, as `cf service-key` prints it or the "
        "cockpit downloads it; client secret or certificate), relative to the profile's folder "
        "or absolute: instead of api_url, token_url, client_id, client_secret, certificate and "
        "key" + _VARIABLES + ".", ("keys/prod-cf.json", "${CPI_PROD_CF_SERVICE_KEY}"),
        required=True),
    Key("ca_bundle", "text", "Extra trusted CA certificates (PEM file)",
        "PEM file of CA certificates added to the system's list: the private CA of the tenant, "
        "the token host or a TLS-inspecting proxy. Relative to the profile's folder or "
        "absolute.", ("corporate-ca.pem",)),
    Key("required_roles", "names", "Required roles",
        "Roles the client must have. Cloud Foundry: role templates of the instance, or a "
        "persona such as AuthGroup_IntegrationDeveloper; Neo: also Neo roles assigned to "
        "oauth_client_<client id> on the ...tmn subscription (`cpi-preflight catalog "
        "--environment neo`). A list, or one comma-separated string. Name at least one role or "
        "endpoint.",
        (["MonitoringDataRead"], ["IntegrationOperationServer.read", "NodeManager.read"]),
        values="roles"),
    Key("endpoints", "names", "Endpoints",
        "Entity sets to call read-only (GET <api_url>/api/v1/<set>?$top=1); each must answer. "
        "`cpi-preflight catalog` lists them with the roles they need. A list, or one "
        "comma-separated string.", (["MessageProcessingLogs", "IntegrationRuntimeArtifacts"],),
        values="endpoints"),
    Key("strict", "flag", "Strict",
        "true: warnings (roles beyond the required ones, certificates about to expire) fail "
        "the run.", (True,), default=False),
    Key("attempts", "number", "Attempts",
        "Tries per request on transient failures (429, 502, 503, 504, connection errors).",
        (3,), default=3, low=1, high=10),
    Key("timeout", "mapping", "Timeouts",
        "Seconds per request: connect and read.", ({"connect": 5, "read": 15},),
        keys=TIMEOUT_KEYS),
    Key("deadline", "number", "Deadline",
        "Seconds for all of the profile's requests together.", (120,), default=120, low=1,
        high=3600),
    Key("expiry_warning_days", "number", "Expiry warning (days)",
        "Warn this many days before the client certificate or a TLS certificate expires.",
        (30,), default=30, low=0, high=3650),
    Key("sandbox", "section", "Sandbox tenant",
        "Check a simulated tenant on this machine instead of a real one (see "
        "profiles/sandbox-*.yaml); the sandbox fills in the connection, so no connection key "
        "or service_key may be given.",
        ({"roles": ["MonitoringDataRead"], "credential": "secret"},), keys=SANDBOX_KEYS),
    Key("http2", "flag", "HTTP/2",
        "false: speak HTTP/1.1 only to this tenant, for a proxy or host that breaks under "
        "HTTP/2 (default true: HTTP/2 is offered through ALPN, HTTP/1.1 when the host declines; "
        "`--http2 off` turns it off for a whole run).", (False,), default=True),
    Key("simulated", "text", "Simulated tenant",
        "`sandbox`: the tenant is a `cpi-preflight sandbox` started on its own (`init` copies "
        "it from the sandbox's service key); its reports are no evidence for a real tenant, "
        "and a stopped sandbox is named as such. Leave it out for a real tenant.",
        ("sandbox",), values="simulated"),
)

BY_NAME = {key.name: key for key in KEYS}
NAMES = tuple(BY_NAME)
EXPANDED_KEYS = ("client_secret", "certificate", "key", "service_key")
"""The only keys where `${NAME}` is replaced: the credentials, which CI keeps in variables (a
secret, or the path of a PEM or key file: GitLab's file variables hold a path); what they expand
to is registered as a secret."""
CONNECTION_KEYS = ("api_url", "token_url", "client_id", "client_secret", "certificate", "key")
"""Given one by one; `service_key` stands for all of them, and a sandbox fills them in."""
CERTIFICATE_KEYS = ("certificate", "key")
"""A certificate credential: both, instead of `client_secret`."""
CERTIFICATE_ENVIRONMENTS = ("cf",)
CHECK_KEYS = ("required_roles", "endpoints")
"""At least one of them names something to verify."""


def allowed(values: Values, environment: str | None, cat: Catalog) -> tuple[str, ...]:
    """The names `values` may take in `environment` (None: in any environment)."""
    if values == "environments":
        return catalog_module.ENVIRONMENTS
    if values == "simulated":
        return ("sandbox",)
    if values == "endpoints":
        return tuple(cat.endpoints)
    if values != "roles":
        return ()
    templates = tuple(cat.roles)
    if environment == "cf":
        return templates
    # on Neo a role template stands for its Neo roles, so it needs a known list of them
    known = tuple(name for name, role in cat.roles.items() if role.permissions is not None)
    return (*(templates if environment is None else known), *cat.neo_roles)
