"""Issue 16's behaviours end to end, with the message a user reads, word for word.

Each behaviour the sandbox simulates (tests/fixtures/sap-behaviour-ring2.md) runs through the real
`pytest --profile ...` command over TLS: sandbox sections for what a sandbox does alone, and real
profiles pointing at sandboxes started here where the user's own setting is part of the story (a
proxy variable, a tenant's real host names, an Edge Integration Cell URL). Profiles that need no
environment of their own are probed together in one run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml

from cpi_preflight.sandbox import Sandbox, SandboxSpec
from cpi_preflight.sandbox.describe import proxy_with_credentials

from .conftest import Outcome, matches, run_pytest
from .test_failure_codes import READ_PARAMS, SEND_ALL

CF = {"environment": "cf", "required_roles": ["MonitoringDataRead"],
      "endpoints": ["MessageProcessingLogs"], "attempts": 2}
MONITORING = ["MonitoringDataRead"]

# profile name -> (profile body, sandbox section); probed together in one run
SANDBOXED: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # 1. personas: a role no read-only call proves, granted by the persona alone
    "persona-developer": ({**CF, "required_roles": ["WorkspaceArtifactsDeploy"]},
                          {"roles": ["AuthGroup_IntegrationDeveloper"]}),
    # an authorization group the catalog does not know: "cannot tell", never "missing"
    "persona-unknown-group": ({**CF, "required_roles": ["MonitoringDataRead",
                                                        "WorkspaceArtifactsDeploy"]},
                              {"roles": MONITORING, "extra_scopes": ["AuthGroup.SystemDeveloper"]}),
    # AuthGroup_ReadOnly reads; it does not configure the Partner Directory
    "persona-read-only": ({**CF, "required_roles": ["MonitoringDataRead",
                                                    "AuthGroup_TenantPartnerDirectoryConfigurator"],
                           "endpoints": ["MessageProcessingLogs", "Partners"]},
                          {"roles": ["AuthGroup_ReadOnly"]}),
    "persona-read-only-excess": (CF, {"roles": ["AuthGroup_ReadOnly"]}),
    # 2. hosts that are not the API
    "runtime-host": (CF, {"roles": MONITORING, "faults": {"api_url": "runtime"}}),
    "integration-suite-host": (CF, {"roles": MONITORING,
                                    "faults": {"api_url": "integration_suite"}}),
    "unknown-route": (CF, {"roles": MONITORING, "faults": {"api_url": "unknown_route"}}),
    # 3. certificate keys
    "certificate-on-plain-host": (CF, {"credential": "certificate",
                                       "faults": {"token_url": "plain_authentication"}}),
    "certificate-expired": (CF, {"credential": "certificate",
                                 "faults": {"client_cert_expired": True}}),
    "deprecated-x509-grant": (CF, {"roles": MONITORING,
                                   "faults": {"instance_grant_types": ["client_x509"]}}),
    # 4. rate limits and server errors
    "token-rate-limited": (CF, {"roles": MONITORING,
                                "faults": {"too_many_requests": {"token": "always"}}}),
    "api-rate-limited": ({**CF, "endpoints": ["MessageProcessingLogs", "NumberRanges"]},
                         {"roles": MONITORING,
                          "faults": {"too_many_requests": {"MessageProcessingLogs": "always"}}}),
    "only-server-errors": (CF, {"roles": MONITORING, "faults": {
        "server_errors": {"MessageProcessingLogs": "always"}}}),
    # 5. clocks: this machine 13 hours ahead of the tenant, and two minutes
    "clock-13h-ahead": ({**CF, "endpoints": ["MessageProcessingLogs", "NumberRanges"]},
                        {"roles": MONITORING, "faults": {"clock_offset_s": -13 * 3600}}),
    "clock-2min-ahead": (CF, {"roles": MONITORING, "faults": {"clock_offset_s": -120}}),
    # 9. smaller corrections
    "count-strict-accept": ({**CF, "endpoints": ["MessageProcessingLogsCount"]},
                            {"roles": MONITORING, "faults": {"count_accept_strict": True}}),
    "secure-parameters-absent": ({**CF, "endpoints": ["MessageProcessingLogs",
                                                      "SecureParameters"]},
                                 {"roles": MONITORING,
                                  "faults": {"absent_entity_sets": ["SecureParameters"]}}),
    "neo-partner-directory-group": ({"environment": "neo", "attempts": 2, "endpoints": ["Partners"],
                                     "required_roles": [
                                         "AuthGroup.TenantPartnerDirectoryConfigurator"]},
                                    {"roles": ["AuthGroup.TenantPartnerDirectoryConfigurator"]}),
    # a role proven by one call while another call of the same role is refused for a scope
    "some-scopes-of-a-role": ({**CF, "endpoints": ["MessageProcessingLogs", "NumberRanges"]},
                              {"roles": [], "extra_scopes": ["IntegrationOperationServer.read"]}),
}

FIX_API_URL = (
    "Use the service key's `url` (https://<subdomain>.it-cpi<nnn>.cfapps.<region>.hana.ondemand."
    "com), not the Integration Suite UI URL (.integrationsuite.) nor the runtime host (-rt). When "
    "the Cloud Foundry router answered unknown_route, nothing runs at that host: check the host "
    "name against a current service key, and in the BTP cockpit that the subaccount still has "
    "its Integration Suite subscription (trials expire; a deleted tenant's host is gone).")
FIX_RATE_LIMITED = (
    "Rerun after the time Retry-After names (the message says what the tool waited: at most 10 s "
    "before each retry). If it recurs, lower the load on the subaccount: fewer requests at once "
    "(--max-per-host), scheduled runs spread in time, and other clients of the subaccount "
    "reusing their tokens instead of fetching one per call (SAP: tokens are meant to be reused).")
FIX_SERVER_ERROR = (
    "Check SAP's status page and the tenant's health; rerun later. If it persists for one "
    "endpoint only, open an SAP incident with the request time and URL.")
UPDATE = ("`cf update-service <instance> -c '{{\"roles\":{roles},\"grant-types\":"
          "[\"client_credentials\"]}}'` (cockpit: the instance > Update).")


def role_missing_fix(role: str, roles: str) -> str:
    """ROLE_MISSING's fix on Cloud Foundry, with the instance roles it sends."""
    return (f"Add {role} to the roles of the Process Integration Runtime instance (plan api) of "
            f"client <client>. {READ_PARAMS} Then send them back with {role} added, "
            "`grant-types` included; with the roles this token shows that is "
            f"{UPDATE.format(roles=roles)} {SEND_ALL} Then fetch a new token; the change can take "
            "up to an hour to reach the tenant. Role collections do not apply: a "
            "client-credentials client gets its roles only from the instance's role templates.")


def excess_fix(roles: str, after: str) -> str:
    """EXCESS_ROLES' fix on Cloud Foundry."""
    return (f"Take {roles} out of the roles of the Process Integration Runtime instance, or add "
            f"them to `required_roles:` if the client really needs them. {READ_PARAMS} Then send "
            f"them back without {roles}, `grant-types` included; with the roles this token shows "
            f"that is {UPDATE.format(roles=after)} {SEND_ALL} A persona (AuthGroup_*) is only "
            "replaced by role templates it covers, so nothing is added.")


# (profile, check) -> what the user reads: "failed CODE: message -- fix: ...", "skipped: reason",
# "passed: summary" or "warning CODE: message -- fix: ..." (the warning a passed check carries)
EXACT: dict[tuple[str, str], str] = {
    ("persona-developer", "role[WorkspaceArtifactsDeploy]"):
        "passed: role WorkspaceArtifactsDeploy is granted via persona "
        "AuthGroup_IntegrationDeveloper: the token carries it!b<n>.AuthGroup.IntegrationDeveloper, "
        "and SAP's tasks table puts the role's tasks in that persona; no read-only call proves it",
    ("persona-developer", "least-privilege"):
        "warning EXCESS_ROLES: the token of client <client> carries persona "
        "AuthGroup_IntegrationDeveloper (it covers 22 role templates in SAP's tasks table) beyond "
        "what required_roles and the endpoints' roles (WorkspaceArtifactsDeploy, "
        "MonitoringDataRead) need; AuthGroup_IntegrationDeveloper can be replaced by the role "
        "templates WorkspaceArtifactsDeploy, MonitoringDataRead, which it covers, so nothing is "
        "added -- fix: " + excess_fix("AuthGroup_IntegrationDeveloper",
                                      '["WorkspaceArtifactsDeploy","MonitoringDataRead"]'),
    ("persona-unknown-group", "role[WorkspaceArtifactsDeploy]"):
        "skipped: cannot tell whether role WorkspaceArtifactsDeploy is granted: the token carries "
        "it!b<n>.AuthGroup.SystemDeveloper, an authorization group whose roles the catalog does "
        "not know, and no read-only call proves it",
    ("persona-read-only", "role[AuthGroup_TenantPartnerDirectoryConfigurator]"):
        "failed ROLE_MISSING: role AuthGroup_TenantPartnerDirectoryConfigurator is not granted to "
        "client <client>: the token lacks scopes it!b<n>.TenantPartnerDirectory.read, "
        "it!b<n>.TenantPartnerDirectory.write, it!b<n>.NodeManager.deploycredentials, "
        "it!b<n>.NodeManager.readcredentials, it!b<n>.CertificateUserMappings.Write, "
        "it!b<n>.CertificateUserMappings.Read; GET /api/v1/Partners answered 403 (The required "
        "permissions to access the resource are missing.); the token carries persona "
        "AuthGroup_ReadOnly, which does not cover it in SAP's tasks table; needed by Partners "
        "-- fix: " + role_missing_fix(
            "AuthGroup_TenantPartnerDirectoryConfigurator",
            '["AuthGroup_TenantPartnerDirectoryConfigurator","AuthGroup_ReadOnly"]'),
    ("persona-read-only", "role[MonitoringDataRead]"):
        "passed: role MonitoringDataRead is granted via persona AuthGroup_ReadOnly: the token "
        "carries it!b<n>.AuthGroup.ReadOnly, and SAP's tasks table puts the role's tasks in that "
        "persona; GET /api/v1/MessageProcessingLogs answered 200",
    ("persona-read-only-excess", "least-privilege"):
        "warning EXCESS_ROLES: the token of client <client> carries persona AuthGroup_ReadOnly "
        "(it covers 12 role templates in SAP's tasks table) beyond what required_roles "
        "(MonitoringDataRead) need; AuthGroup_ReadOnly can be replaced by the role template "
        "MonitoringDataRead, which it covers, so nothing is added -- fix: "
        + excess_fix("AuthGroup_ReadOnly", '["MonitoringDataRead"]'),
    ("runtime-host", "api"):
        "failed API_URL_WRONG: api_url https://<host> is not the Cloud Integration API on Cloud "
        "Foundry: every call answered with an HTML page, where the API answers errors as OData "
        "JSON: GET /api/v1/MessageProcessingLogs answered 403 (HTML page \"HTTP Status 403 "
        "\u2013 Forbidden\") -- fix: " + FIX_API_URL,
    ("integration-suite-host", "api"):
        "failed API_URL_WRONG: api_url https://<host> is not the Cloud Integration API on Cloud "
        "Foundry: every call answered with an HTML page, where the API answers errors as OData "
        "JSON: GET /api/v1/MessageProcessingLogs answered 401 (HTML page \"Log On\") -- fix: "
        + FIX_API_URL,
    ("unknown-route", "api"):
        "failed API_URL_WRONG: api_url https://<host> is not the Cloud Integration API: the Cloud "
        "Foundry router answered GET /api/v1/MessageProcessingLogs with 404 \"404 Not Found: "
        "Requested route ('<host>') does not exist.\" (X-Cf-Routererror: unknown_route): no "
        "application has this host name, which usually means the tenant was deleted, the trial "
        "expired, or the host name is mistyped -- fix: " + FIX_API_URL,
    ("certificate-on-plain-host", "token"):
        "failed CLIENT_CERTIFICATE_REJECTED: token endpoint <host> rejected the client "
        "certificate of client <client>: 401 invalid_client: Bad credentials -- fix: A "
        "certificate key gets its token from https://<subdomain>.authentication.cert.<region>."
        "hana.ondemand.com/oauth/token (the key's `certurl` + /oauth/token); put that in "
        "`token_url:`. If the key was deleted or replaced, create a new one: `cf "
        "create-service-key <instance> <key> -c '{\"key-type\":\"certificate\"}'` and read it "
        "with `cf service-key <instance> <key>`. If a proxy inspects TLS, have the token host "
        "exempted from inspection, or list it in NO_PROXY when this machine may reach it "
        "directly.",
    ("certificate-expired", "token"):
        "failed CREDENTIAL_EXPIRED: the client certificate expired on <date>: create a new key "
        "(certificate O=cpi-preflight sandbox,OU=SAP Cloud Platform Clients,CN=<client> of "
        "client <client>, valid until <date>T<any>+00:00) -- fix: Create a new certificate key: "
        "`cf create-service-key <instance> <key> -c '{\"key-type\":\"certificate\","
        "\"validity\":365}'` (365 days is the longest SAP allows), then `cf service-key "
        "<instance> <key>`; put its certificate and key where the profile reads them (or point "
        "`service_key:` at the new key), then delete the old key. With your own certificate "
        "(certificate_external), renew it and create a key with the new one.",
    ("deprecated-x509-grant", "token"):
        "failed GRANT_TYPE_NOT_ALLOWED: client <client> may not use grant type "
        "client_credentials: <host> answered 401 invalid_client: Unauthorized grant type -- fix: "
        "Grant types are a parameter of the Process Integration Runtime instance (plan api), not "
        f"of the service key. {READ_PARAMS} Then send them back with \"grant-types\":"
        "[\"client_credentials\"]; with the profile's roles (add every other role the current "
        "parameters list) that is " + UPDATE.format(roles='["MonitoringDataRead"]')
        + f" {SEND_ALL} If the instance's parameters list the deprecated grant type client_x509, "
        "replace it with client_credentials: SAP set January 2026 as client_x509's end of life, "
        "and until it is replaced, updates of the instance and the creation of service keys "
        "fail. Then fetch a new token; the service key stays valid, as the OAuth client belongs "
        "to the instance (inferred: SAP does not say so).",
    ("token-rate-limited", "token"):
        "failed RATE_LIMITED: token endpoint <host> answered 429 Too Many Requests (2 attempts; "
        "Retry-After: 1; waited 1.0 s in all, at most 10 s before each retry): XSUAA limits token "
        "requests per subaccount (up to 60 a second at once, then queued, then 429 with "
        "Retry-After); the check could not be decided -- fix: " + FIX_RATE_LIMITED,
    ("token-rate-limited", "api"):
        "skipped: not decided: token could not be checked (RATE_LIMITED); rerun later",
    ("api-rate-limited", "endpoint[MessageProcessingLogs]"):
        "failed RATE_LIMITED: GET /api/v1/MessageProcessingLogs answered 429 Too Many Requests "
        "(2 attempts; Retry-After: 1; waited 1.0 s in all, at most 10 s before each retry): the "
        "Cloud Integration API documents 429 as 'rate limit exceeded'; the check could not be "
        "decided -- fix: " + FIX_RATE_LIMITED,
    ("api-rate-limited", "endpoint[NumberRanges]"):
        "passed: GET /api/v1/NumberRanges answered 200 in <n> ms",
    ("only-server-errors", "api"):
        "failed SERVER_ERROR: the API at <host> answered only server errors (500) to 1 call; "
        "the API said \"The requested operation led to an error during execution.\" -- fix: "
        + FIX_SERVER_ERROR,
    ("clock-13h-ahead", "token"):
        "warning CLOCK_SKEW: this machine's clock is 13 h 0 min ahead of the token issuer's: "
        "<host> issued the token at <date>T<any>+00:00 (iat) while this machine's time was "
        "<date>T<any>+00:00; its lifetime is judged from exp minus iat (11 h 59 min), and the "
        "API's answers decide whether the tenant accepts it -- fix: Set this machine's clock "
        "right: let it synchronise with a time server (NTP), on a CI runner too; then rerun.",
    ("clock-13h-ahead", "endpoint[NumberRanges]"):
        "passed: GET /api/v1/NumberRanges answered 200 in <n> ms",
    ("clock-2min-ahead", "token"):
        "passed: <host> issued a JWT to client <client> (zone <any>, 4 scopes, expires "
        "<date>T<any>+00:00, signature verified)",
    ("count-strict-accept", "endpoint[MessageProcessingLogsCount]"):
        "passed: GET /api/v1/MessageProcessingLogs/$count answered 200 in <n> ms",
    ("secure-parameters-absent", "endpoint[SecureParameters]"):
        "failed ENDPOINT_NOT_FOUND: GET /api/v1/SecureParameters answered 404 although other "
        "calls to <host> work -- fix: Remove SecureParameters from `endpoints:` in the profile, "
        "or check that the tenant offers it (Contested: SAP's specification says the resource is "
        "only available in the Neo environment; MCS reports a 200 from it on a Cloud Foundry "
        "tenant, so it is offered on both).",
    ("neo-partner-directory-group", "endpoint[Partners]"):
        "passed: GET /api/v1/Partners answered 200 in <n> ms",
    ("some-scopes-of-a-role", "role[MonitoringDataRead]"):
        "passed: role MonitoringDataRead is granted: GET /api/v1/NumberRanges answered 200; "
        "although the catalog's scope list for it is not in the token",
    ("some-scopes-of-a-role", "endpoint[MessageProcessingLogs]"):
        "failed ROLE_MISSING: GET /api/v1/MessageProcessingLogs answered 403 (The required "
        "permissions to access the resource are missing.): client <client> lacks role "
        "MonitoringDataRead: the token lacks scope it!b<n>.NodeManager.read -- fix: "
        + role_missing_fix("MonitoringDataRead", '["MonitoringDataRead"]'),
}


def said(outcome: Outcome, profile: str, check: str, kind: str) -> str:
    """What the reports say for one check, in the form of EXACT's values."""
    case = outcome.cases(profile)[check]
    failure, skipped = case.find("failure"), case.find("skipped")
    out = (case.findtext("system-out") or "").split("\n")
    if failure is not None:
        return f"failed {failure.get('type')}: {failure.get('message')}"
    if skipped is not None:
        return f"skipped: {skipped.get('message')}"
    if kind == "warning":
        # junit.xml's system-out says `WARNING CODE: message` and the fix on the next line
        at = next((i for i, line in enumerate(out) if line.startswith("WARNING ")), None)
        if at is None:
            return f"passed without a warning: {out[0]}"
        return (f"warning {out[at].removeprefix('WARNING ')} -- fix: "
                f"{out[at + 1].removeprefix('  fix: ')}")
    return f"passed: {out[0]}"


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    root = tmp_path_factory.mktemp("ring2")
    profiles = root / "profiles"
    profiles.mkdir()
    for name, (body, sandbox) in SANDBOXED.items():
        (profiles / f"{name}.yaml").write_text(yaml.safe_dump({**body, "sandbox": sandbox}))
    return run_pytest(root, "--profile", "all", profiles_dir=profiles)


def test_the_run_ends_with_failures_and_no_traceback(ring_run: Outcome) -> None:
    assert ring_run.code == 1, ring_run.stdout[-3000:] + ring_run.stderr
    assert "Traceback" not in ring_run.stdout + ring_run.stderr


@pytest.mark.parametrize(("profile", "check"), list(EXACT))
def test_what_the_user_reads(ring_run: Outcome, profile: str, check: str) -> None:
    expected = EXACT[profile, check]
    text = said(ring_run, profile, check, expected.split(" ", 1)[0])
    assert matches(expected, text), text


def test_a_clock_13_hours_ahead_warns_and_lets_the_calls_decide(ring_run: Outcome) -> None:
    cases = ring_run.cases("clock-13h-ahead")
    assert ring_run.failure_types("clock-13h-ahead") == {}
    for check in ("api", "role[MonitoringDataRead]", "endpoint[MessageProcessingLogs]",
                  "endpoint[NumberRanges]"):
        assert cases[check].find("skipped") is None, check


def test_a_clock_two_minutes_off_passes_quietly(ring_run: Outcome) -> None:
    out = ring_run.cases("clock-2min-ahead")["token"].findtext("system-out") or ""
    assert "warning" not in out.lower()
    assert ring_run.failure_types("clock-2min-ahead") == {}


@pytest.mark.parametrize("profile", ["persona-developer", "persona-unknown-group",
                                     "count-strict-accept", "neo-partner-directory-group"])
def test_what_the_tenant_allows_passes(ring_run: Outcome, profile: str) -> None:
    """A persona's roles, a group the catalog does not know ("cannot tell" is a skip), $count
    under a strict Accept, and a Neo group SAP tells users to assign fail nothing."""
    assert ring_run.failure_types(profile) == {}


def test_a_rate_limit_fails_only_the_check_it_struck(ring_run: Outcome) -> None:
    assert ring_run.failure_types("api-rate-limited") == {
        "endpoint[MessageProcessingLogs]": "RATE_LIMITED"}
    assert ring_run.failure_types("token-rate-limited") == {"token": "RATE_LIMITED"}


def test_neo_ends_with_the_sunset_notice(ring_run: Outcome) -> None:
    block = ring_run.stdout.split("neo-partner-directory-group (neo):", 1)[1]
    assert "\n  notice: SAP: the Neo environment sunsets on 2028-12-31 (SAP Note 3351844)\n" in (
        block)


# --- real profiles: the user's own settings are part of the story ---------------------------

TENANT = "mysub.it-cpi018.cfapps.eu10.hana.ondemand.com"  # shapes of SAP's documented hosts
XSUAA = "mysub.authentication.eu10.hana.ondemand.com"


def _profile(sandbox: Sandbox, **changes: Any) -> dict[str, Any]:
    """A profile as a user writes it for `sandbox` (its printed connection), with `changes`."""
    conn = sandbox.connection
    body: dict[str, Any] = {"environment": "cf", "api_url": conn.api_url,
                            "token_url": conn.token_url, "client_id": conn.client_id,
                            "ca_bundle": conn.ca_path, "attempts": 1,
                            "required_roles": MONITORING, "endpoints": ["MessageProcessingLogs"]}
    if conn.client_secret is not None:
        body["client_secret"] = conn.client_secret
    else:
        body.update(certificate=conn.certificate_path, key=conn.key_path)
    return {**body, **changes}


def _run(root: Path, bodies: dict[str, dict[str, Any]], **env: str) -> Outcome:
    """One run over `bodies` with the proxy variables of `env` only (nothing inherited)."""
    profiles = root / "profiles"
    profiles.mkdir(parents=True)
    for name, body in bodies.items():
        (profiles / f"{name}.yaml").write_text(yaml.safe_dump(body))
    environ = {k: v for k, v in os.environ.items()
               if k.upper() not in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")}
    return run_pytest(root, "--profile", "all", profiles_dir=profiles, env={**environ, **env},
                      cwd=root)


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[dict[str, Sandbox]]:
    specs = {
        "secret": {"roles": MONITORING},
        "certificate": {"credential": "certificate", "roles": MONITORING},
        "certurl": {"credential": "certificate", "roles": MONITORING,
                    "faults": {"token_url": "plain_authentication"}},
        "proxy": {"roles": MONITORING, "faults": {"proxy": "auth_required"}},
        "filter": {"roles": MONITORING, "faults": {"proxy": "block_page"}},
        "inspected": {"credential": "certificate", "roles": MONITORING,
                      "faults": {"token_url": "plain_authentication", "proxy": "auth_required"}},
    }
    started = {name: Sandbox.start(SandboxSpec.from_mapping(spec, environment="cf"))
               for name, spec in specs.items()}
    yield started
    for sandbox in started.values():
        sandbox.stop()


@pytest.fixture(scope="module")
def hosts_run(sandboxes: dict[str, Sandbox],
              tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """Host names of SAP's shapes, decided before any call; a certificate key read from its
    service key file (with `certurl`, as `cpi-preflight sandbox --service-key` writes it)."""
    root = tmp_path_factory.mktemp("hosts")
    key_file = root / "certificate-key.json"
    key_file.write_text(json.dumps(sandboxes["certurl"].connection.service_key))
    keyed = {k: v for k, v in _profile(sandboxes["certurl"]).items()
             if k not in ("api_url", "token_url", "client_id", "certificate", "key")}
    return _run(root, {
        "runtime-host-name": _profile(sandboxes["secret"],
                                      api_url="https://mysub.it-cpi018-rt.cfapps.eu10.hana."
                                              "ondemand.com"),
        "integration-suite-host-name": _profile(
            sandboxes["secret"], api_url="https://mysub.integrationsuite.cfapps.eu10.hana."
                                         "ondemand.com/shell/home"),
        "certificate-on-plain-host-name": _profile(sandboxes["certificate"],
                                                   token_url=f"https://{XSUAA}/oauth/token"),
        "certificate-key-file": {**keyed, "service_key": str(key_file)},
        "ui-path": _profile(sandboxes["secret"],
                            api_url=sandboxes["secret"].connection.api_url + "/itspaces/shell"),
    })


HOSTS_EXACT = {
    ("runtime-host-name", "api"):
        "failed API_URL_WRONG: api_url https://mysub.it-cpi018-rt.cfapps.eu10.hana.ondemand.com "
        "is the tenant's runtime host (-rt), which serves integration flows (plan "
        "integration-flow), not the API: the API is at https://mysub.it-cpi018.cfapps.eu10.hana."
        "ondemand.com (the url of a service key of plan api); not called -- fix: " + FIX_API_URL,
    ("integration-suite-host-name", "api"):
        "failed API_URL_WRONG: api_url https://mysub.integrationsuite.cfapps.eu10.hana.ondemand."
        "com is the Integration Suite web UI (.integrationsuite), which answers with its login "
        "page: the API is at https://mysub.it-cpi<nnn>.cfapps.eu10.hana.ondemand.com (the url of "
        "a service key of plan api); not called -- fix: " + FIX_API_URL,
    ("certificate-on-plain-host-name", "token"):
        f"failed TOKEN_URL_WRONG: token_url https://{XSUAA}/oauth/token is on XSUAA's plain host, "
        "which does not ask for the client certificate and answers 401: client <client> "
        "authenticates with a certificate, and a certificate key's token endpoint is "
        "https://mysub.authentication.cert.eu10.hana.ondemand.com/oauth/token (the key's certurl "
        "+ /oauth/token); not called -- fix: Use the service key's `tokenurl` exactly: "
        "https://<subdomain>.authentication.<region>.hana.ondemand.com/oauth/token (certificate "
        "keys: the .authentication.cert. host). If a proxy sits in between, it must pass the "
        "POST body on unchanged.",
    ("certificate-key-file", "token"):
        "passed: <host> issued a JWT to client <client> (zone <any>, <n> scopes, expires "
        "<date>T<any>+00:00, signature verified)",
    ("ui-path", "api"):
        "passed: https://<host>/api/v1 answered 1 call as the Cloud Integration API (status 200)",
}


@pytest.mark.parametrize(("profile", "check"), list(HOSTS_EXACT))
def test_host_shapes_and_key_files(hosts_run: Outcome, profile: str, check: str) -> None:
    expected = HOSTS_EXACT[profile, check]
    text = said(hosts_run, profile, check, expected.split(" ", 1)[0])
    assert matches(expected, text), text


def test_hosts_decided_before_any_call_are_not_called(hosts_run: Outcome,
                                                      sandboxes: dict[str, Sandbox]) -> None:
    assert hosts_run.code == 1, hosts_run.stdout[-3000:] + hosts_run.stderr
    skipped = hosts_run.cases("runtime-host-name")["endpoint[MessageProcessingLogs]"]
    assert skipped.find("skipped") is not None
    # the certificate sandbox was asked for nothing: the plain host was refused before the call
    assert not [r for r in sandboxes["certificate"].requests if r.host.startswith("xsuaa")]


@pytest.fixture(scope="module")
def proxy_runs(sandboxes: dict[str, Sandbox],
               tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """One run per proxy variable: none given, a web filter, a proxy passing a certificate on."""
    proxy, web_filter = sandboxes["proxy"].connection, sandboxes["filter"].connection
    inspected = sandboxes["inspected"]
    assert proxy.proxy_url
    assert web_filter.proxy_url
    return {
        "without-credentials": _run(
            tmp_path_factory.mktemp("proxy"), {"proxy-without-credentials": _profile(
                sandboxes["proxy"])}, HTTPS_PROXY=proxy.proxy_url),
        "web-filter": _run(
            tmp_path_factory.mktemp("filter"), {"block-page": _profile(
                sandboxes["filter"], api_url=f"https://{TENANT}",
                token_url=f"https://{XSUAA}/oauth/token")}, HTTPS_PROXY=web_filter.proxy_url),
        "inspected": _run(
            tmp_path_factory.mktemp("inspected"), {"certificate-through-proxy": _profile(
                inspected)}, HTTPS_PROXY=proxy_with_credentials(inspected.connection)),
    }


PROXY_EXACT = {
    ("without-credentials", "proxy-without-credentials"):
        "failed PROXY_AUTH_REQUIRED: the proxy requires authentication: the proxy of "
        "HTTPS_PROXY=http://<host> answered 407 Proxy Authentication Required to the request for "
        "token endpoint <host>; no user name and password are given there -- fix: Put the "
        "proxy's user name and password into the proxy variable the message names, e.g. `export "
        "HTTPS_PROXY='http://<user>:<password>@<proxy-host>:<port>'` (single quotes; "
        "percent-encode @ : / % in them as %40 %3A %2F %25); cpi-preflight masks them in every "
        "report and log. They are sent as Basic proxy authentication: a proxy that accepts only "
        "NTLM or Kerberos needs a local relay that signs in for you (point HTTPS_PROXY at the "
        "relay). If this machine may reach <host> directly, list it in NO_PROXY instead.",
    ("web-filter", "block-page"):
        f"failed INTERCEPTED: token_url https://{XSUAA}/oauth/token has the documented shape, but "
        "something between this machine and SAP answered: 403 (HTML page \"Access Denied\"), "
        f"where the token endpoint answers JSON; requests to {XSUAA} go through the proxy of "
        "HTTPS_PROXY=http://<host> -- fix: The message names who answered: a proxy variable, or "
        f"the title of the page. Ask whoever runs it to allow HTTPS to {XSUAA} (the token request "
        "is a POST), or route around it: NO_PROXY for hosts this machine may reach directly, "
        "HTTPS_PROXY for the proxy it should use. `curl -v` with the same URL from this machine "
        "shows who answers.",
    ("inspected", "certificate-through-proxy"):
        "failed CLIENT_CERTIFICATE_REJECTED: token endpoint <host> rejected the client "
        "certificate of client <client>: 401 invalid_client: Bad credentials; the request went "
        "through the proxy of HTTPS_PROXY=http://***@<host>: a proxy that inspects TLS opens its "
        "own connection, without the client certificate -- fix: <any>",
}


@pytest.mark.parametrize(("run", "profile"), list(PROXY_EXACT))
def test_proxies_and_middleboxes(proxy_runs: dict[str, Outcome], run: str,
                                 profile: str) -> None:
    outcome = proxy_runs[run]
    assert outcome.code == 1, outcome.stdout[-3000:] + outcome.stderr
    expected = PROXY_EXACT[run, profile]
    text = said(outcome, profile, "token", "failed")
    assert matches(expected, text), text


def test_the_proxy_password_is_masked_everywhere(proxy_runs: dict[str, Outcome],
                                                 sandboxes: dict[str, Sandbox]) -> None:
    password = sandboxes["inspected"].connection.proxy_password
    assert password
    assert "&" in password
    assert "$" in password
    outcome = proxy_runs["inspected"]
    written = [p.read_text(errors="replace") for p in outcome.reports.rglob("*") if p.is_file()]
    for text in (outcome.stdout, outcome.stderr, *written):
        assert password not in text
        assert quote(password, safe="") not in text


# --- the Edge Integration Cell: refused at load, with what its API is like -----------------

EDGE_FACTS = (
    "Edge Integration Cell's local OData API (https://<virtual host>/local/api/v1) takes Basic "
    "authentication with the service key's clientid and clientsecret, or the key's client "
    "certificate, instead of a token, and offers only MessageProcessingLogs, "
    "MessageStoreEntries, DataStores, Variables, JmsBrokers, MessagingQueues: other entity sets "
    "answer 403 (NumberRanges is not offered), and calls without /local answer 401 even with "
    "valid credentials. The same service key's client works against the cloud tenant "
    "(environment: cf with the key's url and tokenurl), where cpi-preflight can check its roles")


@pytest.fixture(scope="module")
def edge_cell() -> Iterator[Sandbox]:
    sandbox = Sandbox.start(SandboxSpec.from_mapping({"roles": MONITORING},
                                                     environment="edge"))
    yield sandbox
    sandbox.stop()


def test_an_edge_local_api_url_is_refused_before_any_call(edge_cell: Sandbox,
                                                          tmp_path: Path) -> None:
    conn = edge_cell.connection
    body = {"environment": "cf", "api_url": f"{conn.api_url}/local",
            "token_url": f"{conn.api_url}/oauth/token", "client_id": conn.client_id,
            "client_secret": conn.client_secret, "ca_bundle": conn.ca_path,
            "required_roles": MONITORING}
    outcome = _run(tmp_path, {"edge": body})
    assert outcome.code == 4, outcome.stdout + outcome.stderr
    assert outcome.stderr.strip() == (
        f"ERROR: profiles/edge.yaml: api_url: '{conn.api_url}/local' is Edge Integration Cell's "
        f"local API (/local), which cpi-preflight does not check yet. {EDGE_FACTS}")
    assert "Traceback" not in outcome.stdout + outcome.stderr
    assert not edge_cell.requests


def test_environment_edge_is_refused_with_what_its_api_is_like(tmp_path: Path) -> None:
    outcome = _run(tmp_path, {"edge": {"environment": "edge", "required_roles": MONITORING,
                                       "sandbox": {"roles": MONITORING}}})
    assert outcome.code == 4, outcome.stdout + outcome.stderr
    assert outcome.stderr.strip() == (
        "ERROR: profiles/edge.yaml: environment: 'edge' is not supported yet. " + EDGE_FACTS)
