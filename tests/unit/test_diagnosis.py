"""diagnosis: every failure code it emits, word for word, from probed (respx-mocked) answers.

Each test sets up a token endpoint, its token_keys and the API with respx, runs the real probe
and diagnosis for one profile, and checks the finding's message and fix as the user reads them.
"""

from __future__ import annotations

import functools
import gc
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import certifi
import httpx
import pytest

from cpi_preflight import catalog, diagnosis, plan, probe, transport
from cpi_preflight.findings import (
    FAILED,
    PASSED,
    SKIPPED,
    Call,
    EndpointAnswer,
    Finding,
    RoleFacts,
    Verdict,
)
from cpi_preflight.observation import Attempt, Exchange, Failure, ProfileObservations
from cpi_preflight.rules import Context
from cpi_preflight.run import Run, Settings

from .conftest import (
    API_ROOT,
    API_URL,
    APP,
    MASKED_CLIENT,
    MONITORING_SCOPES,
    NEO_API_URL,
    NEO_TOKEN_URL,
    NOW,
    ODATA_OK,
    TOKEN_HOST,
    TOKEN_URL,
    Signer,
    Tenant,
    cf_claims,
    cf_data,
    neo_data,
    odata_error,
    parse,
    write_yaml,
)

CAT = catalog.load()
API_HOST = "tenant.example.com"
NEO_HOST = "acct-tmn.hci.eu1.hana.ondemand.com"
NEO_TOKEN_HOST = "oauthasservices-acct.hana.ondemand.com"
NEO_MASKED = "0123456789abcdef0123"  # client ids are shown in full
OPAQUE = "8271a067126f0aa93b46c2fe07c6880"
FORBIDDEN = "The required permissions to access the resource are missing."
UNAUTHORIZED = "Authorization information is missing or invalid."
WITH_ALL = '["MonitoringDataRead","AccessAllAccessPoliciesArtifacts"]'
CF_TOKEN_SHAPE = "https://<subdomain>.authentication.<region>.hana.ondemand.com/oauth/token"

# The two sentences every fix that changes instance parameters shares (codes.yaml `phrases`).
READ_PARAMS = ("First read the instance's current parameters: `cf service <instance> --params` "
               "(cf CLI v8), or View Parameters on the instance in the BTP cockpit.")
SEND_ALL = ("SAP documents neither whether an update merges the parameters it is given into the "
            "current ones nor whether it replaces them, so send the full object: every role and "
            "parameter of the current ones that others still need stays in it.")
UPDATE = ("`cf update-service <instance> -c "
          "'{{\"roles\":{roles_after_json},\"grant-types\":[\"{grant_type}\"]}}'` (cockpit: "
          "the instance > Update).")

# The fix texts as the user reads them (placeholders filled by `fix`), written out here so
# that a change to codes.yaml shows up as a failing test.
FIX = {
    'HOST_UNREACHABLE': (
        'Check the host name in {key} against the service key or cockpit, and that this '
        'machine can reach it (proxy: HTTPS_PROXY / NO_PROXY; firewall).'
    ),
    'TLS_UNTRUSTED': (
        'If a corporate proxy re-signs TLS traffic, add its CA with `ca_bundle:` in the '
        'profile or SSL_CERT_FILE. If the host uses a client certificate (mTLS), set '
        '`certificate:` and `key:` from the certificate service key.'
    ),
    'TOKEN_URL_WRONG': (
        "Use the service key's `tokenurl` exactly: "
        'https://<subdomain>.authentication.<region>.hana.ondemand.com/oauth/token '
        '(certificate keys: the .authentication.cert. host). If a proxy sits in between, '
        'it must pass the POST body on unchanged.'
    ),
    'TOKEN_URL_WRONG/neo': (
        'Use the token endpoint from Neo cockpit > Security > OAuth > Branding: '
        'https://oauthasservices-<account>.<landscape host>/oauth2/api/v1/token.'
    ),
    'CLIENT_CREDENTIALS_REJECTED': (
        'Copy `clientid` and `clientsecret` again from the service key: BTP cockpit > '
        'Instances and Subscriptions > the Process Integration Runtime instance (plan '
        'api) > Service Keys, or `cf service-key <instance> <key>`. If the secret was '
        'rotated or lost, create a new key with `cf create-service-key <instance> <key>` '
        'and read it with `cf service-key <instance> <key>`; for a certificate key: `cf '
        'create-service-key <instance> <key> -c \'{{"key-type":"certificate"}}\'`. In a '
        "shell, put the secret in single quotes (export NAME='...'): XSUAA secrets "
        'contain `$`.'
    ),
    'CLIENT_CREDENTIALS_REJECTED/neo': (
        'In Neo cockpit > Security > OAuth > Clients, check client {client_id} and reset '
        'its secret if unsure; the client must be registered for the ...tmn subscription.'
        " In a shell, put the secret in single quotes (export NAME='...')."
    ),
    'GRANT_TYPE_NOT_ALLOWED': (
        'Grant types are a parameter of the Process Integration Runtime instance (plan api), '
        f'not of the service key. {READ_PARAMS} Then send them back with '
        '"grant-types":["{grant_type}"]; with the profile\'s roles (add every other role the '
        f'current parameters list) that is {UPDATE} {SEND_ALL} If the instance\'s parameters '
        'list the deprecated grant type client_x509, '
        'replace it with client_credentials: SAP set January 2026 as client_x509\'s end of '
        'life, and until it is replaced, updates of the instance and the creation of service '
        'keys fail. Then fetch a new token; the '
        'service key stays valid, as the OAuth client belongs to the instance (inferred: SAP '
        'does not say so).'
    ),
    'GRANT_TYPE_NOT_ALLOWED/neo': (
        'In Neo cockpit > Security > OAuth > Clients, edit client {client_id} and set '
        'Authorization Grant to Client Credentials.'
    ),
    'WRONG_SERVICE_PLAN': (
        'Create a Process Integration Runtime instance with plan `api` (not '
        '`integration-flow`): BTP cockpit > Instances and Subscriptions > Create, or `cf '
        'create-service it-rt api <instance> -c '
        '\'{{"roles":{required_roles_json},"grant-types":["{grant_type}"]}}\'`; then `cf '
        'create-service-key <instance> <key>` and `cf service-key <instance> <key>`, and '
        'use that key in the profile.'
    ),
    'ROLE_MISSING': (
        'Add {role} to the roles of the Process Integration Runtime instance (plan api) of '
        f'client {{client_id}}. {READ_PARAMS} Then send them back with {{role}} added, '
        f'`grant-types` included; with the roles this token shows that is {UPDATE} {SEND_ALL} '
        'Then fetch a new token; the change can take up to an hour to reach the tenant. Role '
        "collections do not apply: a client-credentials client gets its roles only from the "
        "instance's role templates."
    ),
    'ROLE_MISSING/neo': (
        'In Neo cockpit > Security > Authorizations, assign {neo_roles} to user '
        'oauth_client_{client_id} for the ...tmn application (the OAuth client needs the '
        'Client Credentials grant), then fetch a new token.'
    ),
    'ROLE_NOT_EFFECTIVE': (
        'Known causes: a role change takes up to an hour to reach the tenant (rerun later); or '
        "an access policy protects the artifacts: have the policy's owner give the client "
        'access, or add the role template AccessAllAccessPoliciesArtifacts to the instance. '
        f'{READ_PARAMS} Then send them back with AccessAllAccessPoliciesArtifacts added, '
        f'`grant-types` included; with the roles this token shows that is {UPDATE} {SEND_ALL}'
    ),
    'API_URL_WRONG': (
        "Use the service key's `url` "
        '(https://<subdomain>.it-cpi<nnn>.cfapps.<region>.hana.ondemand.com), not the '
        'Integration Suite UI URL (.integrationsuite.) nor the runtime host (-rt). When the '
        'Cloud Foundry router answered unknown_route, nothing runs at that host: check the '
        'host name against a current service key, and in the BTP cockpit that the subaccount '
        'still has its Integration Suite subscription (trials expire; a deleted tenant\'s '
        'host is gone).'
    ),
    'API_URL_WRONG/neo': (
        'Use the tenant URL https://<account>-tmn.<ssl host>.<landscape host> (the Web UI'
        ' URL without /itspaces/...).'
    ),
    'TOKEN_REJECTED_BY_API': (
        "Take `url` and `tokenurl` from the same service key: the token's identity zone "
        "({zone}) must be the tenant's subaccount."
    ),
    'TOKEN_REJECTED_BY_API/neo': (
        'Use the token endpoint of the same Neo subaccount as the tenant URL (Neo cockpit > '
        'Security > OAuth > Branding), and a client registered there for the ...tmn '
        'subscription (Neo cockpit > Security > OAuth > Clients).'
    ),
    'SERVER_ERROR': (
        "Check SAP's status page and the tenant's health; rerun later. If it persists for"
        ' one endpoint only, open an SAP incident with the request time and URL.'
    ),
    'REQUEST_REJECTED': (
        "The request comes from cpi-preflight's catalog ({request}). If the API's message"
        ' names a query option or parameter, this tenant does not accept it for '
        '{endpoint}: remove {endpoint} from `endpoints:` in the profile for now and '
        'report the message, so that the catalog can be corrected.'
    ),
    'TOKEN_INVALID': (
        "An opaque token (not a JWT) comes from Neo's OAuth service: for a Neo tenant set "
        "`environment: neo`. Otherwise check that {key} points at the XSUAA of the tenant's "
        "subaccount; then fetch a new token."
    ),
    'ENDPOINT_NOT_FOUND': (
        'Remove {endpoint} from `endpoints:` in the profile, or check that the tenant '
        'offers it ({note}).'
    ),
}


def fix(code: str, environment: str = "cf", **values: str) -> str:
    client = NEO_MASKED if environment == "neo" else MASKED_CLIENT
    roles = values.pop("roles_json", '["MonitoringDataRead"]')
    slots = {"client_id": client, "grant_type": "client_credentials", "key": "token_url",
             "required_roles_json": roles, "roles_after_json": roles, **values}
    return FIX.get(f"{code}/{environment}", FIX[code]).format_map(slots)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the probe's back-off in the milliseconds (attempts come from the profile)."""
    monkeypatch.setattr(probe, "RetryPolicy", functools.partial(
        transport.RetryPolicy, base_delay=0.001, max_delay=0.001))


def diagnose(data: dict[str, Any], **kwargs: Any) -> dict[str, Verdict]:
    """Plan, probe (against the respx routes) and diagnose one profile at NOW."""
    prof = parse(data)
    the_plan = plan.build(prof, CAT)
    seen = probe.run([the_plan])[prof.name]
    return diagnosis.diagnose(the_plan, seen, CAT, NOW, **kwargs)


def only_finding(verdict: Verdict) -> Finding:
    assert verdict.outcome == FAILED, verdict
    assert len(verdict.findings) == 1, verdict.findings
    return verdict.findings[0]


def assert_failed(verdict: Verdict, code: str, message: str, fix_text: str) -> None:
    finding = only_finding(verdict)
    assert finding.code == code
    assert finding.severity == "failure"
    assert finding.message == message
    assert finding.fix == fix_text
    assert verdict.summary == message
    assert verdict.code == code


def assert_skipped(verdict: Verdict, summary: str) -> None:
    assert (verdict.outcome, verdict.summary) == (SKIPPED, summary), verdict


def skipped_for(dependency: str, outcome: str, code: str) -> str:
    return f"not checked: {dependency} {outcome} ({code}); fix that first"


def issue_token(tenant: Tenant, signer: Signer, *scopes: str, **claims: Any) -> str:
    """The token endpoint issues a token signed by `signer`; token_keys publishes the key."""
    token = signer.token(**cf_claims(*scopes, **claims))
    tenant.token(200, json={"access_token": token, "token_type": "bearer",
                            "expires_in": 43199})
    tenant.keys(signer.jwks())
    return token


@pytest.fixture
def neo_tenant(tenant: Tenant) -> Tenant:
    tenant.api_root = f"{NEO_API_URL}/api/v1"
    tenant.token_url = NEO_TOKEN_URL
    return tenant


def neo_token(tenant: Tenant) -> None:
    tenant.token(200, json={"access_token": OPAQUE, "token_type": "Bearer", "expires_in": 0,
                            "scopes": []})


# --- a healthy tenant ------------------------------------------------------------------------


def test_a_healthy_cf_client_passes_every_check(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/NumberRanges", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "NumberRanges"]))
    assert {k: v.outcome for k, v in verdicts.items()} == {
        "token": PASSED, "api": PASSED, "role[MonitoringDataRead]": PASSED,
        "endpoint[MessageProcessingLogs]": PASSED, "endpoint[NumberRanges]": PASSED,
        "least-privilege": PASSED, "tls-expiry": SKIPPED}
    assert all(not v.findings for v in verdicts.values())
    assert verdicts["token"].summary == (
        f"{TOKEN_HOST} issued a JWT to client {MASKED_CLIENT} (zone zone-1, 4 scopes, expires "
        "2025-06-01T13:00:00+00:00, signature verified)")
    assert verdicts["api"].summary == (
        f"{API_URL}/api/v1 answered 2 calls as the Cloud Integration API (status 200)")
    assert verdicts["role[MonitoringDataRead]"].summary == (
        "role MonitoringDataRead is granted: the token carries its scopes; "
        "GET /api/v1/MessageProcessingLogs answered 200")


def test_count_is_requested_as_text_and_json(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    count = tenant.api("/MessageProcessingLogs/$count", 200, text="7")
    logs = tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs",
                                           "MessageProcessingLogsCount"]))
    assert verdicts["endpoint[MessageProcessingLogsCount]"].outcome == PASSED
    assert count.calls.last.request.headers["Accept"] == "text/plain, application/json"
    assert logs.calls.last.request.headers["Accept"] == "application/json"


def test_the_probe_sends_what_the_diagnosis_expects(tenant: Tenant, signer: Signer) -> None:
    token = issue_token(tenant, signer, *MONITORING_SCOPES)
    route = tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    diagnose(cf_data())
    sent = route.calls.last.request
    assert sent.method == "GET"
    assert sent.url.params["$top"] == "1"
    assert sent.headers["Authorization"] == f"Bearer {token}"
    assert sent.headers["Accept"] == "application/json"
    assert tenant.calls["token"].calls.last.request.method == "POST"


# --- HOST_UNREACHABLE / TLS_UNTRUSTED ------------------------------------------------------


@pytest.mark.parametrize(("error", "words", "attempts", "tries"), [
    ("[Errno 111] Connection refused", "the connection was refused", 2, "2 attempts"),
    ("[Errno -2] Name or service not known", "the host name does not resolve", 2, "1 attempt"),
    ("[Errno 104] Connection reset by peer", "the connection was reset", 1, "1 attempt"),
])
def test_an_unreachable_token_host(tenant: Tenant, error: str, words: str, attempts: int,
                                   tries: str) -> None:
    tenant.token().mock(side_effect=httpx.ConnectError(error))
    tenant.keys({"keys": []})
    verdicts = diagnose(cf_data(attempts=attempts))
    assert_failed(verdicts["token"], "HOST_UNREACHABLE",
                  f"token endpoint {TOKEN_HOST} is unreachable: {words} ({tries}; {error})",
                  fix("HOST_UNREACHABLE", key="token_url"))


def test_a_token_host_that_times_out(tenant: Tenant) -> None:
    tenant.token().mock(side_effect=httpx.ConnectTimeout("timed out"))
    tenant.keys({"keys": []})
    verdicts = diagnose(cf_data())
    assert only_finding(verdicts["token"]).message == (
        f"token endpoint {TOKEN_HOST} is unreachable: it did not answer in time "
        "(1 attempt; timed out)")


def test_an_unreachable_api_host(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs").mock(
        side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    verdicts = diagnose(cf_data(attempts=2))
    assert_failed(verdicts["api"], "HOST_UNREACHABLE",
                  f"API host {API_HOST} is unreachable: the connection was refused (2 attempts; "
                  "[Errno 111] Connection refused)", fix("HOST_UNREACHABLE", key="api_url"))
    assert_skipped(verdicts["endpoint[MessageProcessingLogs]"],
                   skipped_for("api", FAILED, "HOST_UNREACHABLE"))


def test_an_untrusted_server_certificate(tenant: Tenant) -> None:
    detail = ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed "
              "certificate in certificate chain (_ssl.c:1006)")
    tenant.token().mock(side_effect=httpx.ConnectError(detail))
    tenant.keys({"keys": []})
    verdicts = diagnose(cf_data(attempts=3))
    assert_failed(verdicts["token"], "TLS_UNTRUSTED",
                  f"TLS handshake with token endpoint {TOKEN_HOST} failed: {detail}",
                  fix("TLS_UNTRUSTED"))
    assert tenant.calls["token"].call_count == 1


def test_an_untrusted_api_certificate(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    detail = ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local "
              "issuer certificate (_ssl.c:1006)")
    tenant.api("/MessageProcessingLogs").mock(side_effect=httpx.ConnectError(detail))
    verdicts = diagnose(cf_data())
    assert_failed(verdicts["api"], "TLS_UNTRUSTED",
                  f"TLS handshake with API host {API_HOST} failed: {detail}",
                  fix("TLS_UNTRUSTED"))


def test_tls_material_that_cannot_be_loaded(tenant: Tenant, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    settings = transport.trust_settings(bundle, None, None)
    with pytest.raises(ssl.SSLError) as caught:
        transport.ssl_context(settings)
    verdicts = diagnose(cf_data(ca_bundle=str(bundle)))
    assert_failed(verdicts["token"], "TLS_UNTRUSTED",
                  f"cannot load TLS material ({certifi.where()}, {bundle}): {caught.value}",
                  fix("TLS_UNTRUSTED"))
    assert tenant.router.calls.call_count == 0


# --- TOKEN_URL_WRONG ---------------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "described"), [
    ({"status_code": 404, "html": "<html><body>Not Found</body></html>"},
     "404 with an HTML page"),
    ({"status_code": 200, "html": "<!DOCTYPE html><html>Login</html>"}, "200 with an HTML page"),
    ({"status_code": 302, "headers": {"Location": "https://sub.example.com/login"}},
     "302 redirect to https://sub.example.com/login"),
    ({"status_code": 301}, "301 redirect to (no location)"),
    ({"status_code": 405}, "405 with no content type"),
    ({"status_code": 200, "text": "ok"}, "200 with text/plain; charset=utf-8"),
    ({"status_code": 200, "json": ["a"]}, "200 with application/json"),
    ({"status_code": 400, "json": {"error": "unsupported_grant_type"}},
     "400 with application/json"),
])
def test_a_token_url_that_is_no_token_endpoint(tenant: Tenant, answer: dict[str, Any],
                                               described: str) -> None:
    tenant.token(**answer)
    tenant.keys({"keys": []})
    verdicts = diagnose(cf_data())
    assert_failed(verdicts["token"], "TOKEN_URL_WRONG",
                  f"token_url {TOKEN_URL} is not an OAuth token endpoint: it answered "
                  f"{described}; expected {CF_TOKEN_SHAPE}", fix("TOKEN_URL_WRONG"))


def test_a_neo_token_url_that_is_no_token_endpoint(neo_tenant: Tenant) -> None:
    neo_tenant.token(404, html="<html>no</html>")
    verdicts = diagnose(neo_data())
    assert_failed(verdicts["token"], "TOKEN_URL_WRONG",
                  f"token_url {NEO_TOKEN_URL} is not an OAuth token endpoint: it answered 404 "
                  "with an HTML page; expected https://oauthasservices-<account>.<landscape "
                  "host>/oauth2/api/v1/token", fix("TOKEN_URL_WRONG", "neo"))


# --- CLIENT_CREDENTIALS_REJECTED / GRANT_TYPE_NOT_ALLOWED --------------------------------


@pytest.mark.parametrize(("status", "body", "said"), [
    (401, {"error": "invalid_client", "error_description": "Bad credentials"},
     "401 invalid_client: Bad credentials"),
    (401, {"error": "unauthorized", "error_description": "Full authentication is required"},
     "401 unauthorized: Full authentication is required"),
    (401, {"error": "invalid_client"}, "401 invalid_client"),
    (401, None, "401"),
    (400, {"error": "invalid_grant", "error_description": "x"}, "400 invalid_grant: x"),
    (400, {"error": "access_denied"}, "400 access_denied"),
])
def test_rejected_client_credentials(tenant: Tenant, status: int, body: Any,
                                     said: str) -> None:
    tenant.token(status, json=body) if body is not None else tenant.token(status)
    tenant.keys({"keys": []})
    verdicts = diagnose(cf_data())
    assert_failed(verdicts["token"], "CLIENT_CREDENTIALS_REJECTED",
                  f"token endpoint {TOKEN_HOST} rejected client {MASKED_CLIENT}: {said}",
                  fix("CLIENT_CREDENTIALS_REJECTED"))


def test_rejected_neo_client_credentials(neo_tenant: Tenant) -> None:
    neo_tenant.token(401, json={"error": "invalid_client",
                                "error_description": "Bad client credentials"})
    verdicts = diagnose(neo_data())
    assert_failed(verdicts["token"], "CLIENT_CREDENTIALS_REJECTED",
                  f"token endpoint {NEO_TOKEN_HOST} rejected client {NEO_MASKED}: 401 "
                  "invalid_client: Bad client credentials",
                  fix("CLIENT_CREDENTIALS_REJECTED", "neo"))


def test_a_cf_client_without_the_client_credentials_grant(tenant: Tenant) -> None:
    tenant.token(401, json={"error": "invalid_client",
                            "error_description": "Unauthorized grant type: client_credentials"})
    tenant.keys({"keys": []})
    verdicts = diagnose(cf_data())
    assert_failed(verdicts["token"], "GRANT_TYPE_NOT_ALLOWED",
                  f"client {MASKED_CLIENT} may not use grant type client_credentials: "
                  f"{TOKEN_HOST} answered 401 invalid_client: Unauthorized grant type: "
                  "client_credentials", fix("GRANT_TYPE_NOT_ALLOWED"))


@pytest.mark.parametrize("status", [400, 401])
def test_a_neo_client_without_the_client_credentials_grant(neo_tenant: Tenant,
                                                           status: int) -> None:
    neo_tenant.token(status, json={
        "error": "unauthorized_client",
        "error_description": "The client is not authorized to use this grant type"})
    verdicts = diagnose(neo_data())
    assert_failed(verdicts["token"], "GRANT_TYPE_NOT_ALLOWED",
                  f"client {NEO_MASKED} may not use grant type client_credentials: "
                  f"{NEO_TOKEN_HOST} answered {status} unauthorized_client: The client is not "
                  "authorized to use this grant type", fix("GRANT_TYPE_NOT_ALLOWED", "neo"))


# --- WRONG_SERVICE_PLAN ----------------------------------------------------------------------


def test_a_key_of_the_integration_flow_plan(tenant: Tenant, signer: Signer) -> None:
    client = "sb-x!b1|it-rt-sub!b18631"
    issue_token(tenant, signer, "it-rt-sub!b18631.ESBMessaging.send", cid=client,
                client_id=client, aud=["it-rt-sub!b18631", "uaa"])
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data(client_id=client))
    assert_failed(verdicts["token"], "WRONG_SERVICE_PLAN",
                  "the token of client sb-x!b1|it-rt-sub!b18631 is for it-rt-sub!b18631 (plan "
                  "integration-flow, scopes: it-rt-sub!b18631.ESBMessaging.send, uaa.resource); "
                  "the API needs a key of plan api (application it!b<N>)",
                  fix("WRONG_SERVICE_PLAN"))
    assert only_finding(verdicts["token"]).subject == "it-rt-sub!b18631"


# --- TOKEN_INVALID -------------------------------------------------------------------------


def test_a_token_with_a_bad_signature(tenant: Tenant, signer: Signer,
                                      other_signer: Signer) -> None:
    issue_token(tenant, other_signer, *MONITORING_SCOPES)
    tenant.keys(signer.jwks())
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data())
    assert_failed(verdicts["token"], "TOKEN_INVALID",
                  "the token's signature is not valid: signature does not verify with key 'k1' "
                  "of the issuer", fix("TOKEN_INVALID"))


def test_a_token_signed_with_an_unpublished_key(tenant: Tenant, signer: Signer) -> None:
    token = signer.token(kid="k9", **cf_claims(*MONITORING_SCOPES))
    tenant.token(200, json={"access_token": token})
    tenant.keys(signer.jwks())
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data())
    assert_failed(verdicts["token"], "TOKEN_INVALID",
                  "the token's signature is not valid: key id 'k9' is not in the issuer's "
                  "token_keys (has: k1)", fix("TOKEN_INVALID"))


def test_a_token_whose_lifetime_is_not_positive_is_invalid(tenant: Tenant,
                                                            signer: Signer) -> None:
    issued = int(NOW.timestamp())
    issue_token(tenant, signer, *MONITORING_SCOPES, iat=issued, exp=issued)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data())
    assert_failed(verdicts["token"], "TOKEN_INVALID",
                  "the token's lifetime is not positive: it expires at "
                  "2025-06-01T12:00:00+00:00 and was issued at 2025-06-01T12:00:00+00:00 (exp "
                  "minus iat: 0 s)", fix("TOKEN_INVALID"))


def test_an_opaque_token_on_cf(tenant: Tenant) -> None:
    tenant.token(200, json={"access_token": OPAQUE, "token_type": "bearer"})
    tenant.keys({"keys": []})
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data())
    assert_failed(verdicts["token"], "TOKEN_INVALID",
                  "the token endpoint returned an opaque token (not a JWT), as Neo's OAuth "
                  "service does, while XSUAA issues JWTs: this looks like a Neo tenant: set "
                  f"`environment: neo` (token_url {TOKEN_URL})", fix("TOKEN_INVALID"))


def test_a_malformed_jwt_on_cf(tenant: Tenant) -> None:
    tenant.token(200, json={"access_token": "eyJhbGciOiJSUzI1NiJ9.bm90LWpzb24.c2ln"})
    tenant.keys({"keys": []})
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data())
    assert_failed(verdicts["token"], "TOKEN_INVALID",
                  "the token is not a readable JWT: Invalid payload string: Expecting value: "
                  f"line 1 column 1 (char 0) (token_url {TOKEN_URL})", fix("TOKEN_INVALID"))


@pytest.mark.parametrize(("body", "fields"), [
    ({"token_type": "bearer", "expires_in": 43199}, "expires_in, token_type"),
    ({}, "none"),
])
def test_a_200_without_an_access_token(tenant: Tenant, body: dict[str, Any],
                                       fields: str) -> None:
    tenant.token(200, json=body)
    tenant.keys({"keys": []})
    verdicts = diagnose(cf_data())
    assert_failed(verdicts["token"], "TOKEN_INVALID",
                  f"{TOKEN_HOST} answered 200 with no access_token (fields: {fields})",
                  fix("TOKEN_INVALID"))


@pytest.mark.parametrize("value", ["", "   ", 42, "to ken"])
def test_a_200_with_an_unusable_access_token(tenant: Tenant, value: object) -> None:
    tenant.token(200, json={"access_token": value, "token_type": "bearer"})
    tenant.keys({"keys": []})
    verdicts = diagnose(cf_data())
    assert_failed(verdicts["token"], "TOKEN_INVALID",
                  f"{TOKEN_HOST} answered 200 with an access_token that is not a usable token "
                  "(not printable ASCII)", fix("TOKEN_INVALID"))


def test_a_neo_opaque_token_is_fine(neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    neo_tenant.api("/NumberRanges", 200, json=ODATA_OK)
    verdicts = diagnose(neo_data())
    assert verdicts["token"].outcome == PASSED
    assert verdicts["token"].summary == (
        f"{NEO_TOKEN_HOST} issued an access token to client {NEO_MASKED}")
    assert verdicts["role[IntegrationOperationServer.read]"].outcome == PASSED



@pytest.mark.parametrize(("body", "outcome"), [("1234", PASSED), ("<p>1234</p>", FAILED)])
def test_a_bare_count_is_an_odata_answer(tenant: Tenant, signer: Signer, body: str,
                                         outcome: str) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs/$count", 200, text=body,
               headers={"Content-Type": "text/plain"})
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogsCount"]))
    assert verdicts["api"].outcome == outcome


def test_a_neo_template_passes_on_the_calls_and_names_what_no_call_can_check(
        neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    neo_tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(neo_data(required_roles=["MonitoringDataRead"]))
    verdict = verdicts["role[MonitoringDataRead]"]
    assert verdict.outcome == PASSED
    assert verdict.summary == (
        "role MonitoringDataRead is granted: GET /api/v1/MessageProcessingLogs answered 200; "
        "Roles.Read is not used by the API, so no call can check it")


def test_a_neo_role_no_call_needs_cannot_be_decided(neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    neo_tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(neo_data(required_roles=["Roles.Read"],
                                 endpoints=["MessageProcessingLogs"]))
    assert verdicts["role[Roles.Read]"].outcome == SKIPPED
    assert verdicts["role[Roles.Read]"].summary == (
        "cannot tell whether role Roles.Read is granted: no read-only API call needs it, and a "
        "Neo token carries no scopes to read")


# --- CLOCK_SKEW: this machine's clock against the token's iat --------------------------------

SKEW_FIX = ("Set this machine's clock right: let it synchronise with a time server (NTP), on a "
            "CI runner too; then rerun.")


def test_a_clock_13_hours_ahead_is_named_and_the_calls_still_decide(tenant: Tenant,
                                                                  signer: Signer) -> None:
    issued = int((NOW - timedelta(hours=13)).timestamp())
    issue_token(tenant, signer, *MONITORING_SCOPES, iat=issued, exp=issued + 43200)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data())
    token = verdicts["token"]
    assert token.outcome == PASSED
    (finding,) = token.warnings
    assert (finding.code, finding.subject) == ("CLOCK_SKEW", "this machine's clock")
    assert finding.message == (
        f"this machine's clock is 13 h 0 min ahead of the token issuer's: {TOKEN_HOST} issued "
        "the token at 2025-05-31T23:00:00+00:00 (iat) while this machine's time was "
        "2025-06-01T12:00:00+00:00; its lifetime is judged from exp minus iat (12 h 0 min), "
        "and the API's answers decide whether the tenant accepts it")
    assert finding.fix == SKEW_FIX
    assert {k: v.outcome for k, v in verdicts.items() if k != "tls-expiry"} == {
        "token": PASSED, "api": PASSED, "role[MonitoringDataRead]": PASSED,
        "endpoint[MessageProcessingLogs]": PASSED, "least-privilege": PASSED}


def test_a_clock_behind_the_issuer_is_named_too(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES, now=NOW + timedelta(minutes=7))
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    (finding,) = diagnose(cf_data())["token"].warnings
    assert finding.message.startswith("this machine's clock is 7 min behind the token issuer's")


@pytest.mark.parametrize("offset", [timedelta(minutes=-2), timedelta(minutes=2),
                                    timedelta(minutes=5)])
def test_a_skew_of_a_few_minutes_passes_quietly(tenant: Tenant, signer: Signer,
                                                offset: timedelta) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES, now=NOW + offset)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data())
    assert (verdicts["token"].outcome, verdicts["token"].findings) == (PASSED, ())


def test_a_token_expired_by_this_clock_is_judged_by_its_own_lifetime(tenant: Tenant,
                                                                     signer: Signer) -> None:
    """Issued two hours 'ago' for one hour: expired by this machine's clock only."""
    issue_token(tenant, signer, *MONITORING_SCOPES, now=NOW - timedelta(hours=2))
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data())
    assert [f.code for f in verdicts["token"].findings] == ["CLOCK_SKEW"]
    assert verdicts["token"].outcome == PASSED
    assert verdicts["endpoint[MessageProcessingLogs]"].outcome == PASSED


def test_without_iat_a_token_expired_by_this_clock_is_a_clock_warning(tenant: Tenant,
                                                                       signer: Signer) -> None:
    claims = cf_claims(*MONITORING_SCOPES)
    del claims["iat"]
    claims["exp"] = int((NOW - timedelta(hours=1)).timestamp())
    tenant.token(200, json={"access_token": signer.token(**claims), "token_type": "bearer"})
    tenant.keys(signer.jwks())
    tenant.api("/MessageProcessingLogs", 401, json=odata_error(UNAUTHORIZED, "Unauthorized"))
    verdicts = diagnose(cf_data())
    (finding,) = verdicts["token"].warnings
    assert finding.message == (
        f"the token {TOKEN_HOST} just issued expires at 2025-06-01T11:00:00+00:00, before this "
        "machine's time 2025-06-01T12:00:00+00:00, and carries no iat to judge its lifetime: "
        "this machine's clock may be ahead; the API's answers decide whether the tenant "
        "accepts the token")
    assert verdicts["api"].code == "TOKEN_REJECTED_BY_API"  # here the tenant decided: expired


def test_strict_fails_the_clock_but_never_hides_the_tenant_s_answers(tenant: Tenant,
                                                                     signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES, now=NOW - timedelta(hours=13))
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data(), strict=True)
    (finding,) = verdicts["token"].failures
    assert (verdicts["token"].outcome, finding.code) == (FAILED, "CLOCK_SKEW")
    assert verdicts["api"].outcome == PASSED
    assert verdicts["role[MonitoringDataRead]"].outcome == PASSED
    assert verdicts["endpoint[MessageProcessingLogs]"].outcome == PASSED


# --- SERVER_ERROR ------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "attempts", "tries"), [
    (503, 3, "3 attempts"), (502, 2, "2 attempts"), (500, 3, "1 attempt; 500 is not retried"),
    (505, 3, "1 attempt; 505 is not retried"),
])
def test_a_token_endpoint_with_server_errors(tenant: Tenant, status: int, attempts: int,
                                             tries: str) -> None:
    tenant.token(status)
    tenant.keys({"keys": []})
    verdicts = diagnose(cf_data(attempts=attempts))
    assert_failed(verdicts["token"], "SERVER_ERROR",
                  f"token endpoint {TOKEN_HOST} answered {status} ({tries})", fix("SERVER_ERROR"))


def test_an_endpoint_with_a_server_error(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/NumberRanges", 500, json=odata_error("Internal error", "500"))
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "NumberRanges"]))
    assert verdicts["api"].outcome == PASSED
    assert_failed(verdicts["endpoint[NumberRanges]"], "SERVER_ERROR",
                  'GET /api/v1/NumberRanges answered 500 with the OData message "Internal error" '
                  "(1 attempt: 500; 500 is not retried)", fix("SERVER_ERROR"))


def test_a_500_after_a_retried_503_says_why_the_retries_stopped(tenant: Tenant,
                                                               signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/NumberRanges").mock(side_effect=[httpx.Response(503), httpx.Response(500)])
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "NumberRanges"],
                                attempts=3))
    assert only_finding(verdicts["endpoint[NumberRanges]"]).message == (
        "GET /api/v1/NumberRanges answered 500 (2 attempts: 503, 500; 500 is not retried)")


def test_an_endpoint_that_stays_unavailable(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/NumberRanges", 503)
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "NumberRanges"],
                                attempts=2))
    assert_failed(verdicts["endpoint[NumberRanges]"], "SERVER_ERROR",
                  "GET /api/v1/NumberRanges answered 503 (2 attempts: 503, 503)",
                  fix("SERVER_ERROR"))


@pytest.mark.parametrize("status", [400, 405, 409, 415])
def test_a_client_error_is_a_rejected_request(tenant: Tenant, signer: Signer,
                                              status: int) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", status, json=odata_error(
        "The query option $top is not supported for this resource.", "Bad Request"))
    tenant.api("/NumberRanges", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "NumberRanges"],
                                attempts=2))
    assert verdicts["api"].outcome == PASSED
    assert_failed(verdicts["endpoint[MessageProcessingLogs]"], "REQUEST_REJECTED",
                  f"GET /api/v1/MessageProcessingLogs?$top=1 answered {status} (The query "
                  "option $top is not supported for this resource.): the API refused this "
                  "request for entity set MessageProcessingLogs; it is not a server error",
                  fix("REQUEST_REJECTED", endpoint="MessageProcessingLogs",
                      request="GET /api/v1/MessageProcessingLogs?$top=1"))
    assert tenant.calls["/MessageProcessingLogs"].call_count == 1  # a 4xx is not retried


def test_a_rejected_request_without_a_message(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/NumberRanges", 400)
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "NumberRanges"]))
    assert only_finding(verdicts["endpoint[NumberRanges]"]).message == (
        "GET /api/v1/NumberRanges answered 400 (400 with no content type): the API refused "
        "this request for entity set NumberRanges; it is not a server error")


def test_429_is_a_rate_limit_not_a_rejected_request(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/NumberRanges", 429)
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "NumberRanges"]))
    assert verdicts["endpoint[NumberRanges]"].code == "RATE_LIMITED"


def test_an_api_that_answers_only_server_errors(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 500)
    tenant.api("/NumberRanges", 503)
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "NumberRanges"]))
    assert_failed(verdicts["api"], "SERVER_ERROR",
                  f"the API at {API_HOST} answered only server errors (500, 503) to 2 calls",
                  fix("SERVER_ERROR"))


# --- API_URL_WRONG / TOKEN_REJECTED_BY_API ----------------------------------------------------


@pytest.mark.parametrize(("answer", "described"), [
    ({"status_code": 302, "headers": {"Location": f"{API_URL}/login?redirect=%2Fapi"}},
     f"302 redirect to {API_URL}/login?redirect=%2Fapi"),
    ({"status_code": 200, "html": "<!doctype html><html><title>SAP</title></html>"},
     "200 with an HTML page"),
    ({"status_code": 404, "text": "Not Found"}, "404 with text/plain; charset=utf-8"),
    ({"status_code": 404}, "404 with no content type"),
    ({"status_code": 404, "html": "<html>Not here</html>"}, "404 with an HTML page"),
])
def test_an_api_url_that_is_not_the_api(tenant: Tenant, signer: Signer,
                                        answer: dict[str, Any], described: str) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", **answer)
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs"]))
    assert_failed(verdicts["api"], "API_URL_WRONG",
                  f"api_url {API_URL} is not the Cloud Integration API: GET "
                  f"/api/v1/MessageProcessingLogs answered {described}", fix("API_URL_WRONG"))
    assert_skipped(verdicts["endpoint[MessageProcessingLogs]"],
                   skipped_for("api", FAILED, "API_URL_WRONG"))


def test_404_on_every_endpoint_names_the_first(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/IntegrationRuntimeArtifacts", 404)
    tenant.api("/MessageProcessingLogs", 404)
    verdicts = diagnose(cf_data(endpoints=["IntegrationRuntimeArtifacts",
                                           "MessageProcessingLogs"]))
    assert only_finding(verdicts["api"]).message == (
        f"api_url {API_URL} is not the Cloud Integration API: GET "
        "/api/v1/IntegrationRuntimeArtifacts answered 404 with no content type")


def test_a_neo_api_url_that_is_not_the_api(neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    neo_tenant.api("/NumberRanges", 302, headers={"Location": f"{NEO_API_URL}/itspaces"})
    verdicts = diagnose(neo_data())
    assert_failed(verdicts["api"], "API_URL_WRONG",
                  f"api_url {NEO_API_URL} is not the Cloud Integration API: GET "
                  f"/api/v1/NumberRanges answered 302 redirect to {NEO_API_URL}/itspaces",
                  fix("API_URL_WRONG", "neo"))


def test_an_api_that_rejects_the_token(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 401, json=odata_error(UNAUTHORIZED, "Unauthorized"))
    verdicts = diagnose(cf_data())
    assert_failed(verdicts["api"], "TOKEN_REJECTED_BY_API",
                  f"the API at {API_HOST} rejected a freshly issued token: GET "
                  f"/api/v1/MessageProcessingLogs answered 401 ({UNAUTHORIZED}); the token was "
                  f"issued by {TOKEN_URL} for identity zone zone-1",
                  fix("TOKEN_REJECTED_BY_API", zone="zone-1"))


def test_a_neo_api_that_rejects_the_token(neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    neo_tenant.api("/NumberRanges", 401)
    verdicts = diagnose(neo_data())
    assert_failed(verdicts["api"], "TOKEN_REJECTED_BY_API",
                  f"the API at {NEO_HOST} rejected a freshly issued token: GET "
                  "/api/v1/NumberRanges answered 401 (empty body)",
                  fix("TOKEN_REJECTED_BY_API", "neo"))


def test_one_endpoint_rejecting_the_token_fails_that_endpoint(tenant: Tenant,
                                                              signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/NumberRanges", 401)
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "NumberRanges"]))
    assert verdicts["api"].outcome == PASSED
    assert_failed(verdicts["endpoint[NumberRanges]"], "TOKEN_REJECTED_BY_API",
                  f"the API at {API_HOST} rejected a freshly issued token: GET "
                  f"/api/v1/NumberRanges answered 401 (empty body); the token was issued by "
                  f"{TOKEN_URL} for "
                  "identity zone zone-1", fix("TOKEN_REJECTED_BY_API", zone="zone-1"))


# --- a role is proven by its scopes and a successful call -----------------------------------------


def test_a_role_the_token_carries_is_not_passed_when_the_api_url_is_not_the_api(
        tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, html="<!doctype html><title>Log On</title>")
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs"]))
    assert verdicts["api"].code == "API_URL_WRONG"
    assert_skipped(verdicts["role[MonitoringDataRead]"],
                   "role MonitoringDataRead: granted in the token (it carries its scopes); not "
                   "proven: no call succeeded (api failed (API_URL_WRONG))")
    assert verdicts["role[MonitoringDataRead]"].facts == RoleFacts("yes", None)


@pytest.mark.parametrize(("answer", "said"), [
    ({"status_code": 500, "json": {"error": {"message": {"value": "boom"}}}}, "answered 500"),
    ({"status_code": 404, "json": {"error": {"message": {"value": "gone"}}}}, "answered 404"),
])
def test_a_role_whose_proof_call_did_not_succeed_is_skipped(
        tenant: Tenant, signer: Signer, answer: dict[str, Any], said: str) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES, f"{APP}.WebToolingWorkspace.Read")
    tenant.api("/IntegrationPackages", 200, json=ODATA_OK)
    tenant.api("/MessageProcessingLogs", **answer)
    verdicts = diagnose(cf_data(endpoints=["IntegrationPackages", "MessageProcessingLogs"]))
    assert verdicts["api"].outcome == PASSED
    assert_skipped(verdicts["role[MonitoringDataRead]"],
                   "role MonitoringDataRead: granted in the token (it carries its scopes); not "
                   f"proven: no call succeeded (GET /api/v1/MessageProcessingLogs {said})")


def test_a_role_granted_via_a_persona_is_not_passed_without_a_successful_call(
        tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, f"{APP}.AuthGroup.IntegrationDeveloper")
    tenant.api("/MessageProcessingLogs", 302, headers={"Location": f"{API_URL}/login"})
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs"]))
    assert_skipped(verdicts["role[MonitoringDataRead]"],
                   "role MonitoringDataRead: granted in the token (it carries persona "
                   f"AuthGroup_IntegrationDeveloper ({APP}.AuthGroup.IntegrationDeveloper), which "
                   "covers it in SAP's tasks table); not proven: no call succeeded (api failed "
                   "(API_URL_WRONG))")


def test_a_role_no_read_only_call_can_prove_still_passes_on_its_scopes_and_says_so(
        tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES, f"{APP}.WebToolingWorkspace.Read",
                f"{APP}.WebToolingWorkspace.Write")
    tenant.api("/MessageProcessingLogs", 302, headers={"Location": f"{API_URL}/login"})
    verdicts = diagnose(cf_data(required_roles=["MonitoringDataRead", "WorkspacePackagesEdit"],
                                endpoints=["MessageProcessingLogs"]))
    edit = verdicts["role[WorkspacePackagesEdit]"]
    assert (edit.outcome, edit.summary) == (PASSED, (
        "role WorkspacePackagesEdit is granted: the token carries its scopes; no read-only call "
        "proves it"))


# --- personas (AuthGroup_*) ---------------------------------------------------------------------


def test_a_role_no_call_can_prove_is_granted_via_a_persona_that_covers_it(
        tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, f"{APP}.AuthGroup.IntegrationDeveloper")
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data(required_roles=["MonitoringDataRead",
                                                "WorkspaceArtifactsDeploy"]))
    deploy = verdicts["role[WorkspaceArtifactsDeploy]"]
    assert (deploy.outcome, deploy.findings) == (PASSED, ())
    assert deploy.summary == (
        "role WorkspaceArtifactsDeploy is granted via persona AuthGroup_IntegrationDeveloper: "
        f"the token carries {APP}.AuthGroup.IntegrationDeveloper, and SAP's tasks table puts "
        "the role's tasks in that persona; no read-only call proves it")
    assert verdicts["role[MonitoringDataRead]"].summary == (
        "role MonitoringDataRead is granted via persona AuthGroup_IntegrationDeveloper: the "
        f"token carries {APP}.AuthGroup.IntegrationDeveloper, and SAP's tasks table puts the "
        "role's tasks in that persona; GET /api/v1/MessageProcessingLogs answered 200")
    assert verdicts["role[WorkspaceArtifactsDeploy]"].facts == RoleFacts("yes", None)


def test_a_read_only_persona_does_not_read_as_the_partner_directory_configurator(
        tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, f"{APP}.AuthGroup.ReadOnly")
    tenant.api("/Partners", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data(required_roles=[], endpoints=["Partners"]))
    role = "AuthGroup_TenantPartnerDirectoryConfigurator"
    assert_skipped(verdicts[f"role[{role}]"],
                   f"cannot tell whether role {role} is granted: GET /api/v1/Partners answered "
                   f"200, but persona AuthGroup_ReadOnly ({APP}.AuthGroup.ReadOnly) allows that "
                   f"call too (TenantPartnerDirectory.read) and does not cover {role} in SAP's "
                   "tasks table; the token does not carry the role's own scopes")
    assert verdicts["endpoint[Partners]"].outcome == PASSED
    assert verdicts["least-privilege"].findings == ()


def test_an_unknown_authorization_group_leaves_a_role_open(tenant: Tenant,
                                                           signer: Signer) -> None:
    issue_token(tenant, signer, f"{APP}.AuthGroup.SystemDeveloper")
    verdicts = diagnose(cf_data(required_roles=["WorkspaceArtifactsDeploy"]))
    assert_skipped(verdicts["role[WorkspaceArtifactsDeploy]"],
                   "cannot tell whether role WorkspaceArtifactsDeploy is granted: the token "
                   f"carries {APP}.AuthGroup.SystemDeveloper, an authorization group whose roles "
                   "the catalog does not know, and no read-only call proves it")


def test_a_missing_role_names_the_persona_and_keeps_it_in_the_roles_to_send(
        tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, f"{APP}.AuthGroup.ReadOnly")
    verdicts = diagnose(cf_data(required_roles=["MessagePayloadsRead"]))
    assert_failed(verdicts["role[MessagePayloadsRead]"], "ROLE_MISSING",
                  f"role MessagePayloadsRead is not granted to client {MASKED_CLIENT}: the token "
                  f"lacks scope {APP}.esbmessagestorage.read; the token carries persona "
                  "AuthGroup_ReadOnly, which does not cover it in SAP's tasks table; needed by "
                  "the profile's required_roles",
                  fix("ROLE_MISSING", role="MessagePayloadsRead",
                      roles_json='["MessagePayloadsRead","AuthGroup_ReadOnly"]'))


def test_a_persona_client_refused_on_a_call_its_persona_covers_is_not_effective(
        tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, f"{APP}.AuthGroup.IntegrationDeveloper")
    tenant.api("/MessageProcessingLogs", 403, json=odata_error(FORBIDDEN))
    tenant.api("/NumberRanges", 403, json=odata_error(FORBIDDEN))
    verdicts = diagnose(cf_data(endpoints=["NumberRanges"]))
    roles = '["AuthGroup_IntegrationDeveloper","AccessAllAccessPoliciesArtifacts"]'
    assert_failed(verdicts["role[MonitoringDataRead]"], "ROLE_NOT_EFFECTIVE",
                  f"role MonitoringDataRead: the token of client {MASKED_CLIENT} carries persona "
                  f"AuthGroup_IntegrationDeveloper ({APP}.AuthGroup.IntegrationDeveloper), which "
                  "covers it in SAP's tasks table, and still GET /api/v1/NumberRanges answered "
                  f"403 ({FORBIDDEN})", fix("ROLE_NOT_EFFECTIVE", roles_json=roles))


# --- ROLE_MISSING --------------------------------------------------------------------------


def test_a_cf_token_without_the_role_s_scopes(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, f"{APP}.IntegrationOperationServer.read")
    tenant.api("/MessageProcessingLogs", 403, json=odata_error(FORBIDDEN))
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs"]))
    assert verdicts["api"].outcome == PASSED
    assert_failed(verdicts["role[MonitoringDataRead]"], "ROLE_MISSING",
                  f"role MonitoringDataRead is not granted to client {MASKED_CLIENT}: the token "
                  f"lacks scopes {APP}.NodeManager.read, {APP}.Roles.Read; GET "
                  "/api/v1/MessageProcessingLogs "
                  f"answered 403 ({FORBIDDEN}); needed by MessageProcessingLogs",
                  fix("ROLE_MISSING", role="MonitoringDataRead"))
    assert_skipped(verdicts["endpoint[MessageProcessingLogs]"],
                   "GET /api/v1/MessageProcessingLogs answered 403 because "
                   "role[MonitoringDataRead] failed (ROLE_MISSING); fix that first")


def test_a_cf_token_without_any_scope_of_the_role(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer)
    tenant.api("/MessageProcessingLogs", 403)
    verdicts = diagnose(cf_data(required_roles=["MonitoringDataRead"]))
    assert only_finding(verdicts["role[MonitoringDataRead]"]).message == (
        f"role MonitoringDataRead is not granted to client {MASKED_CLIENT}: the token lacks "
        "scopes it!b<N>.IntegrationOperationServer.read, it!b<N>.NodeManager.read, "
        "it!b<N>.Roles.Read; GET "
        "/api/v1/MessageProcessingLogs answered 403 (empty body); needed by "
        "MessageProcessingLogs")


def test_a_missing_role_without_a_proof_call(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    verdicts = diagnose(cf_data(required_roles=["MessagePayloadsRead"]))
    assert_skipped(verdicts["api"], "not checked: no endpoint is called for this profile")
    assert_failed(verdicts["role[MessagePayloadsRead]"], "ROLE_MISSING",
                  f"role MessagePayloadsRead is not granted to client {MASKED_CLIENT}: the "
                  f"token lacks scope {APP}.esbmessagestorage.read; needed by the profile's "
                  "required_roles", fix("ROLE_MISSING", role="MessagePayloadsRead",
                                        roles_json='["MessagePayloadsRead","MonitoringDataRead"]'))


def test_a_cf_token_with_the_scopes_but_a_403(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 403, json=odata_error(FORBIDDEN))
    verdicts = diagnose(cf_data())
    assert_failed(verdicts["role[MonitoringDataRead]"], "ROLE_NOT_EFFECTIVE",
                  f"role MonitoringDataRead: the token of client {MASKED_CLIENT} carries every "
                  f"permission it needs ({APP}.IntegrationOperationServer.read, "
                  f"{APP}.NodeManager.read, {APP}.Roles.Read), and still GET "
                  "/api/v1/MessageProcessingLogs "
                  f"answered 403 ({FORBIDDEN})", fix("ROLE_NOT_EFFECTIVE", roles_json=WITH_ALL))
    assert_skipped(verdicts["endpoint[MessageProcessingLogs]"],
                   "GET /api/v1/MessageProcessingLogs answered 403 because "
                   "role[MonitoringDataRead] failed (ROLE_NOT_EFFECTIVE); fix that first")


def test_a_role_named_scope_and_a_403_is_not_effective(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, f"{APP}.MonitoringDataRead")
    tenant.api("/MessageProcessingLogs", 403)
    verdicts = diagnose(cf_data())
    assert only_finding(verdicts["role[MonitoringDataRead]"]).message == (
        f"role MonitoringDataRead: the token of client {MASKED_CLIENT} carries every "
        f"permission it needs ({APP}.MonitoringDataRead), and still GET "
        "/api/v1/MessageProcessingLogs answered 403 (empty body)")


def test_a_scope_named_after_the_role_template_counts(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, f"{APP}.MonitoringDataRead")
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data())
    assert verdicts["role[MonitoringDataRead]"].facts == RoleFacts(
        "yes", Call("/MessageProcessingLogs", 200))


def test_a_cf_endpoint_refused_although_its_role_is_proven(tenant: Tenant,
                                                           signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/NumberRanges", 403)
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "NumberRanges"]))
    assert verdicts["role[MonitoringDataRead]"].outcome == PASSED
    assert_failed(verdicts["endpoint[NumberRanges]"], "ROLE_NOT_EFFECTIVE",
                  "GET /api/v1/NumberRanges answered 403 (empty body) although the token of "
                  f"client {MASKED_CLIENT} carries every permission it needs "
                  f"({APP}.IntegrationOperationServer.read)",
                  fix("ROLE_NOT_EFFECTIVE", roles_json=WITH_ALL))


def test_a_token_holding_some_of_an_endpoint_s_scopes_lacks_its_role(tenant: Tenant,
                                                                     signer: Signer) -> None:
    """MessageProcessingLogs needs IntegrationOperationServer.read and NodeManager.read: a token
    carrying only the first does not carry "every permission it needs". The role passes by
    NumberRanges' call, so the endpoint names the scope the token lacks: "lacks role
    MonitoringDataRead" alone would contradict the role check beside it."""
    issue_token(tenant, signer, f"{APP}.IntegrationOperationServer.read")
    tenant.api("/NumberRanges", 200, json=ODATA_OK)
    tenant.api("/MessageProcessingLogs", 403, json=odata_error(FORBIDDEN))
    verdicts = diagnose(cf_data(endpoints=["NumberRanges", "MessageProcessingLogs"]))
    assert verdicts["endpoint[NumberRanges]"].outcome == PASSED
    assert verdicts["role[MonitoringDataRead]"].outcome == PASSED
    assert_failed(verdicts["endpoint[MessageProcessingLogs]"], "ROLE_MISSING",
                  f"GET /api/v1/MessageProcessingLogs answered 403 ({FORBIDDEN}): client "
                  f"{MASKED_CLIENT} lacks role MonitoringDataRead: the token lacks scope "
                  f"{APP}.NodeManager.read",
                  fix("ROLE_MISSING", role="MonitoringDataRead"))


def test_a_cf_endpoint_refused_with_a_scope_missing(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/DataStores", 403, json=odata_error(FORBIDDEN))
    verdicts = diagnose(cf_data(required_roles=["MonitoringDataRead"],
                                endpoints=["MessageProcessingLogs", "DataStores"]))
    assert verdicts["role[DataStoresAndQueuesRead]"].code == "ROLE_MISSING"
    assert verdicts["endpoint[DataStores]"].outcome == SKIPPED


def test_a_neo_403_with_every_role_named_stays_role_missing(neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    neo_tenant.api("/MessageProcessingLogs", 403)
    neo_tenant.api("/NumberRanges", 403)
    verdicts = diagnose(neo_data(required_roles=["IntegrationOperationServer.read",
                                                 "NodeManager.read"]))
    codes = {v.code for v in verdicts.values() if v.outcome == FAILED}
    assert codes == {"ROLE_MISSING"}


def test_a_missing_neo_role(neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    neo_tenant.api("/IntegrationPackages", 403, json=odata_error(FORBIDDEN))
    verdicts = diagnose(neo_data(required_roles=["WebToolingWorkspace.Read"]))
    assert_failed(verdicts["role[WebToolingWorkspace.Read]"], "ROLE_MISSING",
                  f"role WebToolingWorkspace.Read is not granted to user oauth_client_"
                  f"{NEO_MASKED} (Neo roles WebToolingWorkspace.Read); GET "
                  f"/api/v1/IntegrationPackages answered 403 ({FORBIDDEN}); needed by "
                  "IntegrationPackages",
                  fix("ROLE_MISSING", "neo", neo_roles="WebToolingWorkspace.Read"))
    assert_skipped(verdicts["endpoint[IntegrationPackages]"],
                   "GET /api/v1/IntegrationPackages answered 403 because "
                   "role[WebToolingWorkspace.Read] failed (ROLE_MISSING); fix that first")


def test_a_neo_403_on_a_call_needing_several_roles(neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    neo_tenant.api("/MessageProcessingLogs", 403)
    verdicts = diagnose(neo_data(required_roles=["NodeManager.read"]))
    assert only_finding(verdicts["role[NodeManager.read]"]).message == (
        f"role NodeManager.read is not granted to user oauth_client_{NEO_MASKED} (one or more "
        "of NodeManager.read, IntegrationOperationServer.read is missing); GET "
        "/api/v1/MessageProcessingLogs answered 403 (empty body); needed by "
        "MessageProcessingLogs")


def test_a_neo_endpoint_refused_while_its_roles_are_not_required(neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    neo_tenant.api("/NumberRanges", 200, json=ODATA_OK)
    neo_tenant.api("/DataStores", 403)
    verdicts = diagnose(neo_data(endpoints=["DataStores"]))
    assert_failed(verdicts["endpoint[DataStores]"], "ROLE_MISSING",
                  f"GET /api/v1/DataStores answered 403 (empty body): client {NEO_MASKED} lacks "
                  "Neo roles "
                  "IntegrationOperationServer.read, ESBDataStore.read",
                  fix("ROLE_MISSING", "neo",
                      neo_roles="IntegrationOperationServer.read, ESBDataStore.read"))


# --- ENDPOINT_NOT_FOUND --------------------------------------------------------------------

LOGFILES_NOTE = ("SAP documents the Log Files API for Neo only; whether it exists on Cloud "
                 "Foundry is unconfirmed")


@pytest.mark.parametrize("status", [404, 501])
def test_an_entity_set_the_tenant_does_not_have(tenant: Tenant, signer: Signer,
                                                status: int) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/LogFiles", status, json=odata_error("Resource not found", "Not Found"))
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "LogFiles"]))
    assert verdicts["api"].outcome == PASSED
    assert_failed(verdicts["endpoint[LogFiles]"], "ENDPOINT_NOT_FOUND",
                  f"GET /api/v1/LogFiles answered {status} although other calls to {API_HOST} "
                  "work", fix("ENDPOINT_NOT_FOUND", endpoint="LogFiles", note=LOGFILES_NOTE))


def test_an_odata_404_alone_means_the_api_answered(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/LogFiles", 404, json=odata_error("Resource not found", "Not Found"))
    verdicts = diagnose(cf_data(required_roles=None, endpoints=["LogFiles"]))
    assert verdicts["api"].outcome == PASSED
    assert only_finding(verdicts["endpoint[LogFiles]"]).code == "ENDPOINT_NOT_FOUND"


def test_an_endpoint_without_a_note_cites_its_source(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/NumberRanges", 404, json=odata_error("no", "Not Found"))
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "NumberRanges"]))
    assert only_finding(verdicts["endpoint[NumberRanges]"]).fix == fix(
        "ENDPOINT_NOT_FOUND", endpoint="NumberRanges", note="source: SD-tasks")


# --- status before body ---------------------------------------------------------------------

NEO_403_PAGE = ("<!doctype html><html lang=\"en\"><head><title>HTTP Status 403 \u2013 Forbidden"
                "</title></head><body><h1>HTTP Status 403 \u2013 Forbidden</h1></body></html>")
UNAVAILABLE_PAGE = ("<html><head><title>503 Service Temporarily Unavailable</title></head>"
                    "<body><h1>503 Service Temporarily Unavailable</h1></body></html>")


def test_a_persistent_html_503_on_one_entity_set_is_a_server_error(tenant: Tenant,
                                                                    signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/NumberRanges", 503, html=UNAVAILABLE_PAGE)
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "NumberRanges"],
                                attempts=2))
    assert verdicts["api"].outcome == PASSED
    assert verdicts["endpoint[MessageProcessingLogs]"].outcome == PASSED
    assert_failed(verdicts["endpoint[NumberRanges]"], "SERVER_ERROR",
                  "GET /api/v1/NumberRanges answered 503 with an HTML page (2 attempts: 503, "
                  "503)", fix("SERVER_ERROR"))


def test_html_503_on_every_call_is_a_server_error_not_a_wrong_url(tenant: Tenant,
                                                                  signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 503, html=UNAVAILABLE_PAGE)
    verdicts = diagnose(cf_data())
    assert_failed(verdicts["api"], "SERVER_ERROR",
                  f"the API at {API_HOST} answered only server errors (503) to 1 call",
                  fix("SERVER_ERROR", key="api_url"))


def test_a_neo_html_403_is_a_missing_role_not_a_wrong_url(neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    neo_tenant.api("/IntegrationPackages", 403, html=NEO_403_PAGE)
    verdicts = diagnose(neo_data(required_roles=["WebToolingWorkspace.Read"]))
    assert verdicts["api"].outcome == PASSED
    assert_failed(verdicts["role[WebToolingWorkspace.Read]"], "ROLE_MISSING",
                  f"role WebToolingWorkspace.Read is not granted to user oauth_client_"
                  f"{NEO_MASKED} (Neo roles WebToolingWorkspace.Read); GET "
                  "/api/v1/IntegrationPackages answered 403 (HTML page \"HTTP Status 403 \u2013 "
                  "Forbidden\"); needed by IntegrationPackages",
                  fix("ROLE_MISSING", "neo", neo_roles="WebToolingWorkspace.Read"))


def test_a_neo_empty_401_is_a_rejected_token_not_a_wrong_url(neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    neo_tenant.api("/NumberRanges", 401, headers={"WWW-Authenticate": 'Bearer realm="tmn"'})
    verdicts = diagnose(neo_data())
    assert_failed(verdicts["api"], "TOKEN_REJECTED_BY_API",
                  f"the API at {NEO_HOST} rejected a freshly issued token: GET "
                  "/api/v1/NumberRanges answered 401 (empty body)",
                  fix("TOKEN_REJECTED_BY_API", "neo"))


@pytest.mark.parametrize(("answer", "said"), [
    ({"status_code": 403, "text": ""}, "403 (empty body)"),
    ({"status_code": 403, "json": odata_error(FORBIDDEN)}, f"403 ({FORBIDDEN})"),
])
def test_a_cf_403_that_is_no_page_is_a_role_verdict(tenant: Tenant, signer: Signer,
                                                    answer: dict[str, Any], said: str) -> None:
    issue_token(tenant, signer, f"{APP}.IntegrationOperationServer.read")
    tenant.api("/MessageProcessingLogs", **answer)
    verdicts = diagnose(cf_data())
    assert verdicts["api"].outcome == PASSED
    assert only_finding(verdicts["role[MonitoringDataRead]"]).message == (
        f"role MonitoringDataRead is not granted to client {MASKED_CLIENT}: the token lacks "
        f"scopes {APP}.NodeManager.read, {APP}.Roles.Read; GET /api/v1/MessageProcessingLogs "
        f"answered {said}; "
        "needed by MessageProcessingLogs")


def test_a_page_title_is_bounded_and_printable(neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    title = "A\x1b[31m" + "x" * 200
    neo_tenant.api("/NumberRanges", 403, html=f"<html><title>{title}</title></html>")
    verdicts = diagnose(neo_data())
    message = only_finding(verdicts["role[IntegrationOperationServer.read]"]).message
    assert f'(HTML page "A{"x" * 76}...")' in message  # the whole escape sequence removed
    assert "\x1b" not in message
    assert "[31m" not in message


def test_a_page_title_is_masked_before_it_is_cut(neo_tenant: Tenant) -> None:
    from cpi_preflight.secret import Secret

    Secret("S3cr&t<>\"'$-in-a-title")
    neo_token(neo_tenant)
    title = "Login " * 12 + "x" + "S3cr&amp;t&lt;&gt;&quot;&#39;$-in-a-title"
    neo_tenant.api("/NumberRanges", 403, html=f"<html><title>{title}</title></html>")
    message = only_finding(diagnose(neo_data()).get("role[IntegrationOperationServer.read]")
                           ).message
    assert "S3cr" not in message
    assert f'(HTML page "{"Login " * 12}x***")' in message


def test_one_html_answer_among_odata_answers_does_not_fail_the_api(tenant: Tenant,
                                                                   signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/NumberRanges", 200, html="<html><title>Log On</title></html>")
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "NumberRanges"]))
    assert verdicts["api"].outcome == PASSED
    assert verdicts["endpoint[MessageProcessingLogs]"].outcome == PASSED
    assert verdicts["endpoint[NumberRanges]"].code == "API_URL_WRONG"


@pytest.mark.parametrize("answer", [
    {"status_code": 400, "text": "bad"},
    {"status_code": 403, "text": "no"},
    {"status_code": 409},
])
def test_a_lone_non_odata_client_error_is_no_evidence_of_a_wrong_url(
        tenant: Tenant, signer: Signer, answer: dict[str, Any]) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", **answer)
    verdicts = diagnose(cf_data())
    assert verdicts["api"].outcome == PASSED


@pytest.mark.parametrize(("environment", "where"), [
    ("cf", "in the form body"), ("neo", "in the query string")])
def test_missing_grant_type_is_a_token_url_problem(tenant: Tenant, environment: str,
                                                   where: str) -> None:
    """UAA answers 400 invalid_request "Missing grant type" when the request has none. Ours
    always carries one, so what answered did not read it: the token URL (or a proxy in front
    of it) is the problem, not the client's permission to use the grant."""
    data = cf_data() if environment == "cf" else neo_data()
    tenant.token_url = data["token_url"]
    tenant.token(400, json={"error": "invalid_request",
                            "error_description": "Missing grant type"})
    tenant.keys({"keys": []})
    verdicts = diagnose(data)
    shape = CF_TOKEN_SHAPE if environment == "cf" else (
        "https://oauthasservices-<account>.<landscape host>/oauth2/api/v1/token")
    assert_failed(verdicts["token"], "TOKEN_URL_WRONG",
                  f"token_url {data['token_url']} did not read the grant type the request "
                  f"carried (grant_type=client_credentials {where}): it answered 400 "
                  f"invalid_request: Missing grant type; expected {shape} to issue a token",
                  fix("TOKEN_URL_WRONG", environment))


# --- skipping ------------------------------------------------------------------------------


def test_a_failed_token_skips_everything_that_needs_it(tenant: Tenant) -> None:
    tenant.token(401, json={"error": "invalid_client", "error_description": "Bad credentials"})
    tenant.keys({"keys": []})
    verdicts = diagnose(cf_data(required_roles=["MonitoringDataRead", "WorkspacePackagesRead"],
                                endpoints=["MessageProcessingLogs", "IntegrationPackages"]))
    skip = skipped_for("token", FAILED, "CLIENT_CREDENTIALS_REJECTED")
    for check in ("api", "role[MonitoringDataRead]", "role[WorkspacePackagesRead]",
                  "endpoint[MessageProcessingLogs]", "endpoint[IntegrationPackages]",
                  "least-privilege"):
        assert_skipped(verdicts[check], skip)
    assert [v.check.id for v in verdicts.values() if v.outcome == FAILED] == ["token"]


def test_a_failed_role_skips_only_the_endpoints_that_need_it(tenant: Tenant,
                                                             signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/IntegrationPackages", 403, json=odata_error(FORBIDDEN))
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "IntegrationPackages"]))
    assert verdicts["endpoint[MessageProcessingLogs]"].outcome == PASSED
    assert verdicts["role[WorkspacePackagesRead]"].code == "ROLE_MISSING"
    assert_skipped(verdicts["endpoint[IntegrationPackages]"],
                   "GET /api/v1/IntegrationPackages answered 403 because "
                   "role[WorkspacePackagesRead] failed (ROLE_MISSING); fix that first")


def test_one_root_cause_gives_one_failure(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES, f"{APP}.WebToolingWorkspace.Read")
    tenant.api("/MessageProcessingLogs", 302, headers={"Location": f"{API_URL}/login"})
    tenant.api("/IntegrationPackages", 302, headers={"Location": f"{API_URL}/login"})
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "IntegrationPackages"]))
    failed = [v.check.id for v in verdicts.values() if v.outcome == FAILED]
    assert failed == ["api"]


# --- every code, and the real Run ---------------------------------------------------------

EMITTED_BY_THESE_TESTS = {
    "HOST_UNREACHABLE", "TLS_UNTRUSTED", "TOKEN_URL_WRONG", "CLIENT_CREDENTIALS_REJECTED",
    "GRANT_TYPE_NOT_ALLOWED", "WRONG_SERVICE_PLAN", "ROLE_MISSING", "API_URL_WRONG",
    "TOKEN_REJECTED_BY_API", "SERVER_ERROR", "TOKEN_INVALID", "ENDPOINT_NOT_FOUND",
    "ROLE_NOT_EFFECTIVE", "REQUEST_REJECTED", "CLOCK_SKEW",
    # issue 16's ring, tested word for word in test_answers_not_from_sap.py and
    # test_certificate_keys.py
    "RATE_LIMITED", "INTERCEPTED", "PROXY_AUTH_REQUIRED", "CLIENT_CERTIFICATE_REJECTED",
    "CREDENTIAL_EXPIRED",
}


def test_every_failure_code_of_the_diagnosis_is_covered_here() -> None:
    source = Path(diagnosis.__file__).read_text()
    emitted = {c for c in CAT.codes if f'"{c}"' in source}
    assert emitted == EMITTED_BY_THESE_TESTS


def test_the_real_run_diagnoses_a_missing_role(tenant: Tenant, signer: Signer,
                                               tmp_path: Path) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES, now=datetime.now(UTC))
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/IntegrationPackages", 403, json=odata_error("no"))
    profiles = tmp_path / "profiles"
    write_yaml(profiles, "t", cf_data(endpoints=["MessageProcessingLogs",
                                                 "IntegrationPackages"]))
    run = Run.load(["t"], Settings(profiles, tmp_path / "reports"))
    run.execute()
    verdicts = run.verdicts["t"]
    assert only_finding(verdicts["role[WorkspacePackagesRead]"]).message == (
        f"role WorkspacePackagesRead is not granted to client {MASKED_CLIENT}: the token lacks "
        f"scope {APP}.WebToolingWorkspace.Read; GET /api/v1/IntegrationPackages answered 403 "
        "(no); needed by IntegrationPackages")
    facts = run.token_facts("t")
    assert facts is not None
    assert facts.signature == "verified"
    client = run.api_client("t")
    assert client is not None
    with client:
        assert client.get("/MessageProcessingLogs").status_code == 200
    assert run.describe_connection("t") == {
        "environment": "cf", "api_url": API_URL, "token_url": TOKEN_URL,
        "credential": "secret", "sandbox": False}


def test_the_real_run_has_no_client_without_a_token(tenant: Tenant, tmp_path: Path) -> None:
    tenant.token(401)
    tenant.keys({"keys": []})
    profiles = tmp_path / "profiles"
    write_yaml(profiles, "t", cf_data())
    run = Run.load(["t"], Settings(profiles, tmp_path / "reports"))
    run.execute()
    assert run.verdict("t", "token").code == "CLIENT_CREDENTIALS_REJECTED"
    assert run.api_client("t") is None
    assert run.token_facts("t") is None


def test_a_token_url_with_the_default_port_works(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data(token_url=f"https://{TOKEN_HOST}:443/oauth/token"))
    assert verdicts["token"].outcome == PASSED


def test_an_unusable_published_key_is_a_finding(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.keys({"keys": [{"kid": "k1", "kty": "RSA", "n": "AQAB", "e": "AQAB"}]})
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data())
    assert verdicts["token"].code == "TOKEN_INVALID"


def test_an_odd_retry_after_does_not_crash_the_probe(tenant: Tenant) -> None:
    tenant.token(503, headers={"Retry-After": "Mon, 01 Jan 2024 00:00:00 -0000"})
    tenant.keys({"keys": []})
    crashed = ""
    try:
        verdicts = diagnose(cf_data(attempts=2))
    except TypeError as exc:
        crashed = repr(exc)
    # The crash orphans the token_keys task; collect it here, not in a later test's frames.
    gc.collect()
    assert crashed == ""
    assert verdicts["token"].code == "SERVER_ERROR"


# --- mutation: diagnosis p-z ---
# Tests written against surviving mutants of diagnosis (functions p to z, issue 20): each
# pins a message, a verdict or a branch the earlier tests left open.

XSUAA_HOST = "sub.authentication.eu10.hana.ondemand.com"
XSUAA_URL = f"https://{XSUAA_HOST}/oauth/token"
XSUAA_SHAPE_FIX = fix("TOKEN_URL_WRONG")


def on_xsuaa(tenant: Tenant) -> Tenant:
    """The tenant's token endpoint at a token URL of XSUAA's documented shape."""
    tenant.token_url = XSUAA_URL
    tenant.jwks_url = f"https://{XSUAA_HOST}/token_keys"
    return tenant


def diagnose_seen(data: dict[str, Any], seen: ProfileObservations) -> dict[str, Verdict]:
    """Diagnose observations built by hand (what the probe could record), at NOW."""
    the_plan = plan.build(parse(data), CAT)
    return diagnosis.diagnose(the_plan, seen, CAT, NOW)


def token_failure(kind: Any, detail: str) -> Exchange:
    return Exchange("POST", TOKEN_URL, None, failure=Failure(kind, detail),
                    attempts=(Attempt(None, Failure(kind, detail), 1.0),))


def test_a_407_from_the_token_url_itself_names_a_proxy(tenant: Tenant,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    tenant.token(407)
    tenant.keys({"keys": []})
    finding = only_finding(diagnose(cf_data())["token"])
    assert (finding.code, finding.subject, finding.message) == (
        "PROXY_AUTH_REQUIRED", TOKEN_HOST,
        f"the proxy requires authentication: a proxy answered 407 to the request for token "
        f"endpoint {TOKEN_HOST}")


def test_a_proxy_refusal_without_a_status_and_without_a_known_proxy() -> None:
    detail = "Proxy Server could not connect: 5."  # httpcore's words for a SOCKS refusal
    seen = ProfileObservations("t", token=token_failure("proxy", detail))
    assert_failed(diagnose_seen(cf_data(), seen)["token"], "INTERCEPTED",
                  f"a proxy refused to connect to token endpoint {TOKEN_HOST}: it answered "
                  f"{detail}",
                  "The message names who answered: a proxy variable, or the title of the page. "
                  f"Ask whoever runs it to allow HTTPS to {TOKEN_HOST} (the token request is a "
                  "POST), or route around it: NO_PROXY for hosts this machine may reach "
                  "directly, HTTPS_PROXY for the proxy it should use. `curl -v` with the same "
                  "URL from this machine shows who answers.")


def test_a_failure_without_words_is_named_by_its_kind() -> None:
    detail = "POST to sub.authentication.example.com refused by the read-only guard"
    seen = ProfileObservations("t", token=token_failure("refused_write", detail))
    assert_failed(diagnose_seen(cf_data(), seen)["token"], "HOST_UNREACHABLE",
                  f"token endpoint {TOKEN_HOST} is unreachable: refused_write (1 attempt; "
                  f"{detail})", fix("HOST_UNREACHABLE", key="token_url"))


def test_a_client_alert_without_a_certificate_key_is_a_tls_problem(tenant: Tenant) -> None:
    alert = "[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate (_ssl.c:2580)"
    tenant.token().mock(side_effect=httpx.ConnectError(alert))
    tenant.keys({"keys": []})
    assert_failed(diagnose(cf_data())["token"], "TLS_UNTRUSTED",
                  f"TLS handshake with token endpoint {TOKEN_HOST} failed: {alert}",
                  fix("TLS_UNTRUSTED"))


def test_an_error_description_ending_in_x_is_quoted_whole(tenant: Tenant) -> None:
    tenant.token(401, json={"error": "invalid_client",
                            "error_description": "Bad credentials for client SB-X"})
    tenant.keys({"keys": []})
    assert only_finding(diagnose(cf_data())["token"]).message == (
        f"token endpoint {TOKEN_HOST} rejected client {MASKED_CLIENT}: 401 invalid_client: Bad "
        "credentials for client SB-X")


def test_an_html_redirect_from_a_documented_token_url_is_a_wrong_url(tenant: Tenant) -> None:
    on_xsuaa(tenant).token(300, html="<html><title>Choose</title></html>")
    tenant.keys({"keys": []})
    assert_failed(diagnose(cf_data(token_url=XSUAA_URL))["token"], "TOKEN_URL_WRONG",
                  f"token_url {XSUAA_URL} is not an OAuth token endpoint: it answered 300 "
                  f"redirect to (no location); expected {CF_TOKEN_SHAPE}", XSUAA_SHAPE_FIX)


def test_an_html_400_from_a_documented_token_url_came_from_in_between(tenant: Tenant) -> None:
    on_xsuaa(tenant).token(400, html="<html><title>Bad Request</title></html>")
    tenant.keys({"keys": []})
    finding = only_finding(diagnose(cf_data(token_url=XSUAA_URL))["token"])
    assert (finding.code, finding.message) == (
        "INTERCEPTED",
        f"token_url {XSUAA_URL} has the documented shape, but something between this machine "
        "and SAP answered: 400 (HTML page \"Bad Request\"), where the token endpoint answers "
        "JSON")


def test_an_html_500_from_a_documented_token_url_is_a_server_error(tenant: Tenant) -> None:
    on_xsuaa(tenant).token(500, html="<html><title>Internal Server Error</title></html>")
    tenant.keys({"keys": []})
    assert_failed(diagnose(cf_data(token_url=XSUAA_URL))["token"], "SERVER_ERROR",
                  f"token endpoint {XSUAA_HOST} answered 500 with an HTML page (1 attempt; 500 "
                  "is not retried)", fix("SERVER_ERROR"))


def test_an_html_401_from_another_token_url_is_a_wrong_url(tenant: Tenant) -> None:
    tenant.token(401, html="<html><title>Sign in</title></html>")
    tenant.keys({"keys": []})
    assert_failed(diagnose(cf_data())["token"], "TOKEN_URL_WRONG",
                  f"token_url {TOKEN_URL} is not an OAuth token endpoint: it answered 401 with "
                  f"an HTML page; expected {CF_TOKEN_SHAPE}", fix("TOKEN_URL_WRONG"))


@pytest.mark.parametrize(("status", "body", "said"), [
    (401, {"error": "invalid_client", "error_description": "Missing grant type"},
     "401 invalid_client: Missing grant type"),
    (400, {"error": "unauthorized_client", "error_description": "Client is not permitted"},
     "400 unauthorized_client: Client is not permitted"),
])
def test_more_answers_that_refuse_the_grant_type(tenant: Tenant, status: int,
                                                 body: dict[str, str], said: str) -> None:
    tenant.token(status, json=body)
    tenant.keys({"keys": []})
    assert_failed(diagnose(cf_data())["token"], "GRANT_TYPE_NOT_ALLOWED",
                  f"client {MASKED_CLIENT} may not use grant type client_credentials: "
                  f"{TOKEN_HOST} answered {said}", fix("GRANT_TYPE_NOT_ALLOWED"))


@pytest.mark.parametrize("body", [
    {"error": "unsupported_grant_type", "error_description": "Unsupported grant type: x"},
    {"error": "invalid_request", "error_description": "Invalid grant type parameter"},
])
def test_a_grant_type_error_that_is_no_refusal_is_a_wrong_url(tenant: Tenant,
                                                              body: dict[str, str]) -> None:
    tenant.token(400, json=body)
    tenant.keys({"keys": []})
    assert_failed(diagnose(cf_data())["token"], "TOKEN_URL_WRONG",
                  f"token_url {TOKEN_URL} is not an OAuth token endpoint: it answered 400 with "
                  f"application/json; expected {CF_TOKEN_SHAPE}", fix("TOKEN_URL_WRONG"))


@pytest.mark.parametrize("error", ["invalid_client", "unauthorized"])
def test_a_400_that_rejects_the_client(tenant: Tenant, error: str) -> None:
    tenant.token(400, json={"error": error})
    tenant.keys({"keys": []})
    assert_failed(diagnose(cf_data())["token"], "CLIENT_CREDENTIALS_REJECTED",
                  f"token endpoint {TOKEN_HOST} rejected client {MASKED_CLIENT}: 400 {error}",
                  fix("CLIENT_CREDENTIALS_REJECTED"))


def test_a_rate_limit_says_how_long_it_waited() -> None:
    attempts = tuple(Attempt(429, None, 1.0) for _ in range(3))
    token = Exchange("POST", TOKEN_URL, 429, retry_after="1", attempts=attempts,
                     waited_ms=1050.0)
    verdicts = diagnose_seen(cf_data(), ProfileObservations("t", token=token))
    assert only_finding(verdicts["token"]).message == (
        f"token endpoint {TOKEN_HOST} answered 429 Too Many Requests (3 attempts; Retry-After: 1; "
        "waited 1.1 s in all, at most 10 s before each retry): XSUAA limits token requests per "
        "subaccount (up to 60 a second at once, then queued, then 429 with Retry-After); the "
        "check could not be decided")


def test_a_key_of_the_integration_flow_plan_without_scopes(tenant: Tenant,
                                                            signer: Signer) -> None:
    client = "sb-x!b1|it-rt-sub!b18631"
    issue_token(tenant, signer, cid=client, client_id=client, scope=[],
                aud=["it-rt-sub!b18631", "uaa"])
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data(client_id=client))
    assert only_finding(verdicts["token"]).message == (
        "the token of client sb-x!b1|it-rt-sub!b18631 is for it-rt-sub!b18631 (plan "
        "integration-flow, scopes: none); the API needs a key of plan api (application "
        "it!b<N>)")


def test_a_token_without_zone_and_expiry_says_so(tenant: Tenant, signer: Signer) -> None:
    claims = cf_claims(*MONITORING_SCOPES)
    del claims["zid"], claims["exp"]
    tenant.token(200, json={"access_token": signer.token(**claims)})
    tenant.keys(signer.jwks())
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    assert diagnose(cf_data())["token"].summary == (
        f"{TOKEN_HOST} issued a JWT to client {MASKED_CLIENT} (zone ?, 4 scopes, expires no "
        "expiry, signature verified)")


def test_the_router_s_answer_is_quoted_up_to_200_characters(tenant: Tenant,
                                                            signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    body = "Requested route does not exist. " + "a" * 300
    tenant.api("/MessageProcessingLogs", 404, text=body,
               headers={"X-Cf-Routererror": "unknown_route"})
    message = only_finding(diagnose(cf_data())["api"]).message
    assert f'with 404 "{body[:197]}..." (X-Cf-Routererror' in message


def test_a_page_title_is_read_from_html_only(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    feed = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            '<title type="text">NumberRanges</title></feed>')
    tenant.api("/NumberRanges", 400, content=feed.encode(),
               headers={"Content-Type": "application/atom+xml"})
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "NumberRanges"]))
    assert only_finding(verdicts["endpoint[NumberRanges]"]).message == (
        "GET /api/v1/NumberRanges answered 400 (400 with application/atom+xml): the API "
        "refused this request for entity set NumberRanges; it is not a server error")


def test_the_planned_proof_call_is_named_when_it_answered_200(tenant: Tenant,
                                                              signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/MessageProcessingLogs/$count", 201, text="7")
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs",
                                           "MessageProcessingLogsCount"]))
    assert verdicts["role[MonitoringDataRead]"].summary == (
        "role MonitoringDataRead is granted: the token carries its scopes; "
        "GET /api/v1/MessageProcessingLogs answered 200")


def test_a_300_is_no_successful_proof_call(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 300, json=ODATA_OK)
    tenant.api("/MessageProcessingLogs/$count", 200, text="7")
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs",
                                           "MessageProcessingLogsCount"]))
    assert verdicts["role[MonitoringDataRead]"].summary == (
        "role MonitoringDataRead is granted: the token carries its scopes; "
        "GET /api/v1/MessageProcessingLogs/$count answered 200")


def test_a_neo_role_that_failed_earlier_is_still_named_among_the_suspects(
        neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    neo_tenant.api("/NumberRanges", 403, json=odata_error(FORBIDDEN))
    neo_tenant.api("/MessageProcessingLogs", 403, json=odata_error(FORBIDDEN))
    verdicts = diagnose(neo_data(required_roles=["IntegrationOperationServer.read",
                                                 "NodeManager.read"]))
    assert verdicts["role[IntegrationOperationServer.read]"].code == "ROLE_MISSING"
    assert only_finding(verdicts["role[NodeManager.read]"]).message == (
        f"role NodeManager.read is not granted to user oauth_client_{NEO_MASKED} (one or more "
        "of NodeManager.read, IntegrationOperationServer.read is missing); GET "
        f"/api/v1/MessageProcessingLogs answered 403 ({FORBIDDEN}); needed by "
        "MessageProcessingLogs")


def test_a_neo_role_that_passed_is_not_named_among_the_suspects(neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    neo_tenant.api("/NumberRanges", 200, json=ODATA_OK)
    neo_tenant.api("/MessageProcessingLogs", 403, json=odata_error(FORBIDDEN))
    verdicts = diagnose(neo_data(required_roles=["IntegrationOperationServer.read",
                                                 "NodeManager.read"]))
    assert verdicts["role[IntegrationOperationServer.read]"].outcome == PASSED
    assert only_finding(verdicts["role[NodeManager.read]"]).message == (
        f"role NodeManager.read is not granted to user oauth_client_{NEO_MASKED} (Neo roles "
        f"NodeManager.read); GET /api/v1/MessageProcessingLogs answered 403 ({FORBIDDEN}); "
        "needed by MessageProcessingLogs")


def test_a_missing_role_names_every_persona_the_token_carries(tenant: Tenant,
                                                               signer: Signer) -> None:
    issue_token(tenant, signer, f"{APP}.AuthGroup.ReadOnly",
                f"{APP}.AuthGroup.IntegrationDeveloper")
    verdicts = diagnose(cf_data(required_roles=["MessagePayloadsRead"]))
    assert only_finding(verdicts["role[MessagePayloadsRead]"]).message == (
        f"role MessagePayloadsRead is not granted to client {MASKED_CLIENT}: the token lacks "
        f"scope {APP}.esbmessagestorage.read; the token carries personas "
        "AuthGroup_IntegrationDeveloper, AuthGroup_ReadOnly, which do not cover it in SAP's "
        "tasks table; needed by the profile's required_roles")


def test_a_missing_neo_template_names_all_its_neo_roles(neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    neo_tenant.api("/DataStores", 403, json=odata_error(FORBIDDEN))
    verdicts = diagnose(neo_data(required_roles=["DataStoresAndQueuesRead"]))
    neo_roles = "IntegrationOperationServer.read, ESBDataStore.read"
    assert_failed(verdicts["role[DataStoresAndQueuesRead]"], "ROLE_MISSING",
                  f"role DataStoresAndQueuesRead is not granted to user oauth_client_{NEO_MASKED} "
                  f"(Neo roles {neo_roles}); GET /api/v1/DataStores answered 403 ({FORBIDDEN}); "
                  "needed by DataStores", fix("ROLE_MISSING", "neo", neo_roles=neo_roles))


def test_the_roles_to_send_keep_out_a_role_a_persona_grants(tenant: Tenant,
                                                             signer: Signer) -> None:
    issue_token(tenant, signer, f"{APP}.AuthGroup.ReadOnly")
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data(required_roles=["MonitoringDataRead", "MessagePayloadsRead"]))
    assert only_finding(verdicts["role[MessagePayloadsRead]"]).fix == fix(
        "ROLE_MISSING", role="MessagePayloadsRead",
        roles_json='["MessagePayloadsRead","AuthGroup_ReadOnly"]')


def test_a_neo_role_every_call_can_check_passes_without_a_note(neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    neo_tenant.api("/NumberRanges", 200, json=ODATA_OK)
    verdicts = diagnose(neo_data())
    assert verdicts["role[IntegrationOperationServer.read]"].summary == (
        "role IntegrationOperationServer.read is granted: GET /api/v1/NumberRanges answered 200")


def test_a_neo_template_names_every_neo_role_no_call_can_check(neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    neo_tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(neo_data(required_roles=["TraceConfigurationEdit"]))
    assert verdicts["role[TraceConfigurationEdit]"].summary == (
        "role TraceConfigurationEdit is granted: GET /api/v1/MessageProcessingLogs answered 200; "
        "ConfigurationService.RuntimeBusinessParameterRead, "
        "ConfigurationService.RuntimeBusinessParameterWrite are not used by the API, so no call "
        "can check them")


def test_a_call_proves_a_role_whose_scopes_the_token_lacks(tenant: Tenant,
                                                           signer: Signer) -> None:
    issue_token(tenant, signer, f"{APP}.IntegrationOperationServer.read")
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data())
    assert verdicts["role[MonitoringDataRead]"].summary == (
        "role MonitoringDataRead is granted: GET /api/v1/MessageProcessingLogs answered 200; "
        "although the catalog's scope list for it is not in the token")


def test_a_neo_role_whose_proof_call_failed_cannot_be_told(neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    neo_tenant.api("/NumberRanges", 200, json=ODATA_OK)
    neo_tenant.api("/MessageProcessingLogs", 500, json=odata_error("down", "Internal"))
    verdicts = diagnose(neo_data(required_roles=["NodeManager.read"], endpoints=["NumberRanges"]))
    assert_skipped(verdicts["role[NodeManager.read]"],
                   "cannot tell whether role NodeManager.read is granted: its proof call "
                   "answered 500")


def test_several_unknown_authorization_groups_are_all_named(tenant: Tenant,
                                                            signer: Signer) -> None:
    issue_token(tenant, signer, f"{APP}.AuthGroup.SystemDeveloper", f"{APP}.AuthGroup.Other")
    verdicts = diagnose(cf_data(required_roles=["WorkspaceArtifactsDeploy"]))
    assert_skipped(verdicts["role[WorkspaceArtifactsDeploy]"],
                   "cannot tell whether role WorkspaceArtifactsDeploy is granted: the token "
                   f"carries {APP}.AuthGroup.SystemDeveloper, {APP}.AuthGroup.Other, an "
                   "authorization group whose roles the catalog does not know, and no read-only "
                   "call proves it")


def test_a_role_without_a_known_scope_list_or_proof_call_cannot_be_told(
        tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    verdicts = diagnose(cf_data(required_roles=["UserRolesEdit"]))
    assert_skipped(verdicts["role[UserRolesEdit]"],
                   "cannot tell whether role UserRolesEdit is granted: the catalog has no "
                   "confirmed scope list for it and no read-only call proves it")


def neo_jwt(tenant: Tenant, signer: Signer, *scopes: str) -> None:
    """A Neo token endpoint that issues a JWT (Neo's OAuth service issues opaque tokens)."""
    tenant.token(200, json={"access_token": signer.token(**cf_claims(*scopes))})


def test_on_neo_a_jwt_s_scopes_decide_nothing(neo_tenant: Tenant, signer: Signer) -> None:
    neo_jwt(neo_tenant, signer)
    neo_tenant.api("/NumberRanges", 200, json=ODATA_OK)
    verdicts = diagnose(neo_data())
    assert verdicts["role[IntegrationOperationServer.read]"].summary == (
        "role IntegrationOperationServer.read is granted: GET /api/v1/NumberRanges answered 200")


def test_on_neo_a_jwt_s_authorization_groups_are_not_read(neo_tenant: Tenant,
                                                          signer: Signer) -> None:
    neo_jwt(neo_tenant, signer, f"{APP}.AuthGroup.SystemDeveloper")
    neo_tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(neo_data(required_roles=["Roles.Read"],
                                 endpoints=["MessageProcessingLogs"]))
    assert_skipped(verdicts["role[Roles.Read]"],
                   "cannot tell whether role Roles.Read is granted: no read-only API call needs "
                   "it, and a Neo token carries no scopes to read")


def test_on_neo_a_jwt_s_personas_do_not_leave_a_proven_role_open(neo_tenant: Tenant,
                                                                 signer: Signer) -> None:
    neo_jwt(neo_tenant, signer, f"{APP}.AuthGroup.ReadOnly")
    neo_tenant.api("/Partners", 200, json=ODATA_OK)
    verdicts = diagnose(neo_data(required_roles=["TenantPartnerDirectory.read"]))
    assert verdicts["role[TenantPartnerDirectory.read]"].summary == (
        "role TenantPartnerDirectory.read is granted: GET /api/v1/Partners answered 200")


def test_a_role_the_token_carries_passes_beside_a_persona_that_also_serves_the_call(
        tenant: Tenant, signer: Signer) -> None:
    scopes = [f"{APP}.{p}" for p in CAT.roles[
        "AuthGroup_TenantPartnerDirectoryConfigurator"].permissions or ()]
    issue_token(tenant, signer, *scopes, f"{APP}.AuthGroup.ReadOnly")
    tenant.api("/Partners", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data(required_roles=[], endpoints=["Partners"]))
    role = "AuthGroup_TenantPartnerDirectoryConfigurator"
    assert verdicts[f"role[{role}]"].summary == (
        f"role {role} is granted: the token carries its scopes; GET /api/v1/Partners answered "
        "200")


def test_a_cf_403_is_not_blamed_on_a_failed_role_of_another_template(tenant: Tenant,
                                                                     signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/MessageProcessingLogs/$count", 403, json=odata_error(FORBIDDEN))
    tenant.api("/DataStores", 403, json=odata_error(FORBIDDEN))
    verdicts = diagnose(cf_data(required_roles=["MonitoringDataRead", "DataStoresAndQueuesRead"],
                                endpoints=["MessageProcessingLogs", "MessageProcessingLogsCount"]))
    assert verdicts["role[DataStoresAndQueuesRead]"].code == "ROLE_MISSING"
    assert only_finding(verdicts["endpoint[MessageProcessingLogsCount]"]).code == (
        "ROLE_NOT_EFFECTIVE")


def test_a_neo_403_is_not_blamed_on_a_failed_role_with_other_neo_roles(
        neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    neo_tenant.api("/IntegrationPackages", 403, json=odata_error(FORBIDDEN))
    neo_tenant.api("/DataStores", 403, json=odata_error(FORBIDDEN))
    verdicts = diagnose(neo_data(required_roles=["WebToolingWorkspace.Read"],
                                 endpoints=["DataStores"]))
    assert verdicts["role[WebToolingWorkspace.Read]"].code == "ROLE_MISSING"
    assert only_finding(verdicts["endpoint[DataStores]"]).message == (
        f"GET /api/v1/DataStores answered 403 ({FORBIDDEN}): client {NEO_MASKED} lacks Neo roles "
        "IntegrationOperationServer.read, ESBDataStore.read")


def test_a_token_carrying_exactly_an_endpoint_s_permissions_is_refused_in_vain(
        tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, f"{APP}.IntegrationOperationServer.read",
                f"{APP}.NodeManager.read", scope=[f"{APP}.IntegrationOperationServer.read",
                                                  f"{APP}.NodeManager.read"])
    tenant.api("/MessageProcessingLogs", 403, json=odata_error(FORBIDDEN))
    tenant.api("/MessageProcessingLogs/$count", 200, text="7")
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs",
                                           "MessageProcessingLogsCount"]))
    assert verdicts["role[MonitoringDataRead]"].outcome == PASSED
    assert only_finding(verdicts["endpoint[MessageProcessingLogs]"]).message == (
        f"GET /api/v1/MessageProcessingLogs answered 403 ({FORBIDDEN}) although the token of "
        f"client {MASKED_CLIENT} carries every permission it needs "
        f"({APP}.IntegrationOperationServer.read, {APP}.NodeManager.read)")


def test_a_403_on_a_call_the_token_s_persona_covers_is_not_effective(tenant: Tenant,
                                                                      signer: Signer) -> None:
    issue_token(tenant, signer, f"{APP}.AuthGroup.IntegrationDeveloper")
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/MessageProcessingLogs/$count", 403, json=odata_error(FORBIDDEN))
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs",
                                           "MessageProcessingLogsCount"]))
    assert_failed(verdicts["endpoint[MessageProcessingLogsCount]"], "ROLE_NOT_EFFECTIVE",
                  f"GET /api/v1/MessageProcessingLogs/$count answered 403 ({FORBIDDEN}) although "
                  f"the token of client {MASKED_CLIENT} carries persona "
                  f"AuthGroup_IntegrationDeveloper ({APP}.AuthGroup.IntegrationDeveloper), which "
                  "covers role MonitoringDataRead in SAP's tasks table",
                  fix("ROLE_NOT_EFFECTIVE",
                      roles_json='["AuthGroup_IntegrationDeveloper",'
                                 '"AccessAllAccessPoliciesArtifacts"]'))


def test_a_server_error_after_a_failed_try_names_the_failure(tenant: Tenant,
                                                             signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/NumberRanges", 200, json=ODATA_OK)
    tenant.api("/MessageProcessingLogs").mock(side_effect=[
        httpx.ConnectError("[Errno 104] Connection reset by peer"), httpx.Response(500)])
    verdicts = diagnose(cf_data(attempts=2, endpoints=["NumberRanges",
                                                       "MessageProcessingLogs"]))
    assert only_finding(verdicts["endpoint[MessageProcessingLogs]"]).message == (
        "GET /api/v1/MessageProcessingLogs answered 500 (2 attempts: reset, 500; 500 is not "
        "retried)")


def test_a_skipped_verdict_belongs_to_its_own_check(tenant: Tenant) -> None:
    tenant.token(401)
    tenant.keys({"keys": []})
    verdicts = diagnose(cf_data())
    assert [(key, v.check.id) for key, v in verdicts.items() if v.outcome == SKIPPED
            and v.summary.startswith("not checked")] == [
        ("api", "api"), ("role[MonitoringDataRead]", "role[MonitoringDataRead]"),
        ("endpoint[MessageProcessingLogs]", "endpoint[MessageProcessingLogs]"),
        ("least-privilege", "least-privilege"), ("tls-expiry", "tls-expiry")]


def test_a_verdict_not_decided_belongs_to_its_own_check(tenant: Tenant) -> None:
    tenant.token(429)
    tenant.keys({"keys": []})
    verdicts = diagnose(cf_data())
    assert verdicts["api"].summary == (
        "not decided: token could not be checked (RATE_LIMITED); rerun later")
    assert verdicts["api"].check.id == "api"


def test_a_wrong_api_host_is_the_subject_of_its_finding(tenant: Tenant) -> None:
    runtime = "https://sub.it-cpi018-rt.cfapps.eu10.hana.ondemand.com"
    tenant.token(401)
    tenant.keys({"keys": []})
    verdicts = diagnose(cf_data(api_url=runtime))
    finding = only_finding(verdicts["api"])
    assert (finding.code, finding.subject) == ("API_URL_WRONG", runtime)


# --- mutation: diagnosis a-o ---------------------------------------------------------------

CPI_HOST = "sub.it-cpi018.cfapps.eu10.hana.ondemand.com"


def test_a_token_request_the_deadline_cut_off_counts_as_one_attempt() -> None:
    """The probe records no attempt for a request its deadline cut off (`probe._missing`)."""
    prof = parse(cf_data())
    the_plan = plan.build(prof, CAT)
    why = "the profile's deadline of 120 s ran out first"
    seen = ProfileObservations(prof.name, token=Exchange("POST", TOKEN_URL, None,
                                                         failure=Failure("deadline", why)))
    verdicts = diagnosis.diagnose(the_plan, seen, CAT, NOW)
    assert_failed(verdicts["token"], "HOST_UNREACHABLE",
                  f"token endpoint {TOKEN_HOST} is unreachable: the profile's deadline ran out "
                  f"(1 attempt; {why})", fix("HOST_UNREACHABLE", key="token_url"))


def test_a_300_from_the_token_url_is_described_as_a_redirect(tenant: Tenant) -> None:
    tenant.token(300, headers={"Location": "https://sub.example.com/choose"})
    tenant.keys({"keys": []})
    verdicts = diagnose(cf_data())
    assert_failed(verdicts["token"], "TOKEN_URL_WRONG",
                  f"token_url {TOKEN_URL} is not an OAuth token endpoint: it answered 300 "
                  f"redirect to https://sub.example.com/choose; expected {CF_TOKEN_SHAPE}",
                  fix("TOKEN_URL_WRONG"))


def test_a_300_from_the_api_is_evidence_of_another_host(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 300, headers={"Location": f"{API_URL}/choose"})
    verdicts = diagnose(cf_data())
    assert_failed(verdicts["api"], "API_URL_WRONG",
                  f"api_url {API_URL} is not the Cloud Integration API: GET "
                  f"/api/v1/MessageProcessingLogs answered 300 redirect to {API_URL}/choose",
                  fix("API_URL_WRONG"))
    assert_skipped(verdicts["endpoint[MessageProcessingLogs]"],
                   skipped_for("api", FAILED, "API_URL_WRONG"))


def test_a_lifetime_under_a_minute_is_given_in_seconds(tenant: Tenant, signer: Signer) -> None:
    issued = int((NOW - timedelta(hours=13)).timestamp())
    issue_token(tenant, signer, *MONITORING_SCOPES, iat=issued, exp=issued + 45)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    (finding,) = diagnose(cf_data())["token"].warnings
    assert finding.message == (
        f"this machine's clock is 13 h 0 min ahead of the token issuer's: {TOKEN_HOST} issued "
        "the token at 2025-05-31T23:00:00+00:00 (iat) while this machine's time was "
        "2025-06-01T12:00:00+00:00; its lifetime is judged from exp minus iat (45 s), "
        "and the API's answers decide whether the tenant accepts it")


def test_a_skewed_token_without_exp_says_so(tenant: Tenant, signer: Signer) -> None:
    claims = cf_claims(*MONITORING_SCOPES, now=NOW - timedelta(hours=13))
    del claims["exp"]
    tenant.token(200, json={"access_token": signer.token(**claims), "token_type": "bearer"})
    tenant.keys(signer.jwks())
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    (finding,) = diagnose(cf_data())["token"].warnings
    assert finding.message == (
        f"this machine's clock is 13 h 0 min ahead of the token issuer's: {TOKEN_HOST} issued "
        "the token at 2025-05-31T23:00:00+00:00 (iat) while this machine's time was "
        "2025-06-01T12:00:00+00:00; it carries no exp, and the API's answers decide whether the "
        "tenant accepts it")


def test_without_iat_a_token_expiring_at_this_machine_s_time_is_a_clock_warning(
        tenant: Tenant, signer: Signer) -> None:
    """exp is the moment from which a token is no longer accepted (RFC 7519, 4.1.4)."""
    claims = cf_claims(*MONITORING_SCOPES)
    del claims["iat"]
    claims["exp"] = int(NOW.timestamp())
    tenant.token(200, json={"access_token": signer.token(**claims), "token_type": "bearer"})
    tenant.keys(signer.jwks())
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(cf_data())
    (finding,) = verdicts["token"].warnings
    assert finding.message == (
        f"the token {TOKEN_HOST} just issued expires at 2025-06-01T12:00:00+00:00, before this "
        "machine's time 2025-06-01T12:00:00+00:00, and carries no iat to judge its lifetime: "
        "this machine's clock may be ahead; the API's answers decide whether the tenant "
        "accepts the token")
    assert verdicts["token"].outcome == PASSED


def _count_with_a_query(url: str) -> dict[str, Verdict]:
    """The api check of a $count call whose URL carries a query, answered with a bare number."""
    prof = parse(cf_data(endpoints=["MessageProcessingLogsCount"]))
    the_plan = plan.build(prof, CAT)
    answer = Exchange("GET", url, 200, content_type="text/plain", body="7")
    ctx = Context(the_plan, ProfileObservations(prof.name, endpoints={
        "MessageProcessingLogsCount": answer}), CAT, NOW)
    return {"api": diagnosis.api_rule(ctx, the_plan.check(plan.API))}


@pytest.mark.parametrize("query", ["$filter=Status%20eq%20'FAILED'",
                                   "$filter=substringof('?',Name)"])
def test_a_count_with_a_query_is_an_odata_answer(query: str) -> None:
    verdict = _count_with_a_query(f"{API_ROOT}/MessageProcessingLogs/$count?{query}")["api"]
    assert (verdict.outcome, verdict.summary) == (
        PASSED, f"{API_ROOT} answered 1 call as the Cloud Integration API (status 200)")


def test_an_atom_answer_is_an_odata_answer(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, text='<?xml version="1.0"?><feed/>',
               headers={"Content-Type": "application/atom+xml;type=feed"})
    verdicts = diagnose(cf_data())
    assert verdicts["api"].outcome == PASSED
    assert verdicts["endpoint[MessageProcessingLogs]"].outcome == PASSED


def test_an_html_404_is_evidence_of_another_host_beside_a_client_error(
        tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 404, html="<html>Not here</html>")
    tenant.api("/NumberRanges", 400, text="bad")
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "NumberRanges"]))
    assert_failed(verdicts["api"], "API_URL_WRONG",
                  f"api_url {API_URL} is not the Cloud Integration API: GET "
                  "/api/v1/MessageProcessingLogs answered 404 with an HTML page",
                  fix("API_URL_WRONG"))


@pytest.mark.parametrize("api_url", [f"https://{CPI_HOST}", "https://127.0.0.1:8443"])
def test_a_401_from_an_sap_or_loopback_host_names_no_edge_integration_cell(
        tenant: Tenant, signer: Signer, api_url: str) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api_root = f"{api_url}/api/v1"
    tenant.api("/MessageProcessingLogs", 401)
    verdicts = diagnose(cf_data(api_url=api_url))
    host = api_url.removeprefix("https://")
    assert_failed(verdicts["api"], "TOKEN_REJECTED_BY_API",
                  f"the API at {host} rejected a freshly issued token: GET "
                  "/api/v1/MessageProcessingLogs answered 401 (empty body); the token was issued "
                  f"by {TOKEN_URL} for identity zone zone-1",
                  fix("TOKEN_REJECTED_BY_API", zone="zone-1"))


def test_a_neo_401_from_another_host_names_no_edge_integration_cell(neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    neo_tenant.api_root = "https://cpi.acme.example/api/v1"
    neo_tenant.api("/NumberRanges", 401)
    verdicts = diagnose(neo_data(api_url="https://cpi.acme.example"))
    assert only_finding(verdicts["api"]).message == (
        "the API at cpi.acme.example rejected a freshly issued token: GET /api/v1/NumberRanges "
        "answered 401 (empty body)")


PROXY_FIX = (
    "Put the proxy's user name and password into the proxy variable the message names, e.g. "
    "`export HTTPS_PROXY='http://<user>:<password>@<proxy-host>:<port>'` (single quotes; "
    "percent-encode @ : / % in them as %40 %3A %2F %25); cpi-preflight masks them in every "
    "report and log. They are sent as Basic proxy authentication: a proxy that accepts only "
    "NTLM or Kerberos needs a local relay that signs in for you (point HTTPS_PROXY at the "
    f"relay). If this machine may reach {API_HOST} directly, list it in NO_PROXY instead.")


def test_a_407_on_the_only_call_is_the_api_s_proxy(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 407)
    verdicts = diagnose(cf_data())
    assert_failed(verdicts["api"], "PROXY_AUTH_REQUIRED",
                  "the proxy requires authentication: a proxy answered 407 to the request for "
                  f"API host {API_HOST}", PROXY_FIX)
    assert only_finding(verdicts["api"]).subject == API_HOST
    assert_skipped(verdicts["endpoint[MessageProcessingLogs]"],
                   skipped_for("api", FAILED, "PROXY_AUTH_REQUIRED"))


def test_a_407_on_one_call_fails_that_endpoint(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/NumberRanges", 407)
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "NumberRanges"]))
    assert verdicts["api"].outcome == PASSED
    assert_failed(verdicts["endpoint[NumberRanges]"], "PROXY_AUTH_REQUIRED",
                  "the proxy requires authentication: a proxy answered 407 to the request for "
                  f"API host {API_HOST}", PROXY_FIX)


def test_one_unreachable_call_fails_that_endpoint(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/NumberRanges").mock(
        side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "NumberRanges"]))
    assert verdicts["api"].outcome == PASSED
    assert_failed(verdicts["endpoint[NumberRanges]"], "HOST_UNREACHABLE",
                  f"API host {API_HOST} is unreachable: the connection was refused (1 attempt; "
                  "[Errno 111] Connection refused)", fix("HOST_UNREACHABLE", key="api_url"))


def test_429_beside_server_errors_is_an_api_of_server_errors(tenant: Tenant,
                                                             signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 500)
    tenant.api("/NumberRanges", 429)
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "NumberRanges"]))
    assert_failed(verdicts["api"], "SERVER_ERROR",
                  f"the API at {API_HOST} answered only server errors (429, 500) to 2 calls",
                  fix("SERVER_ERROR"))


def test_a_missing_role_names_every_entity_set_that_needs_it(tenant: Tenant,
                                                              signer: Signer) -> None:
    issue_token(tenant, signer)
    tenant.api("/MessageProcessingLogs", 403)
    tenant.api("/MessageProcessingLogs/$count", 403)
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs",
                                           "MessageProcessingLogsCount"]))
    assert only_finding(verdicts["role[MonitoringDataRead]"]).message.endswith(
        "; needed by MessageProcessingLogs, MessageProcessingLogsCount")


def test_a_role_that_cannot_be_told_keeps_its_facts(neo_tenant: Tenant) -> None:
    neo_token(neo_tenant)
    neo_tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    verdicts = diagnose(neo_data(required_roles=["Roles.Read"],
                                 endpoints=["MessageProcessingLogs"]))
    assert verdicts["role[Roles.Read]"].outcome == SKIPPED
    assert verdicts["role[Roles.Read]"].facts == RoleFacts("unknown", None)


def test_a_refused_endpoint_whose_role_passed_keeps_the_403(tenant: Tenant,
                                                            signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    tenant.api("/NumberRanges", 403)
    verdicts = diagnose(cf_data(endpoints=["MessageProcessingLogs", "NumberRanges"]))
    assert verdicts["endpoint[NumberRanges]"].code == "ROLE_NOT_EFFECTIVE"
    assert verdicts["endpoint[NumberRanges]"].facts == EndpointAnswer("/NumberRanges", 403, None)


def test_a_refused_endpoint_lacking_a_scope_keeps_the_403_and_the_roles_shown(
        tenant: Tenant, signer: Signer) -> None:
    """The fix sends the roles the token shows (WorkspacePackagesRead here) with the missing
    one added, not the profile's roles alone."""
    issue_token(tenant, signer, f"{APP}.IntegrationOperationServer.read",
                f"{APP}.WorkspacePackagesRead")
    tenant.api("/NumberRanges", 200, json=ODATA_OK)
    tenant.api("/MessageProcessingLogs", 403, json=odata_error(FORBIDDEN))
    verdicts = diagnose(cf_data(endpoints=["NumberRanges", "MessageProcessingLogs"]))
    verdict = verdicts["endpoint[MessageProcessingLogs]"]
    assert_failed(verdict, "ROLE_MISSING",
                  f"GET /api/v1/MessageProcessingLogs answered 403 ({FORBIDDEN}): client "
                  f"{MASKED_CLIENT} lacks role MonitoringDataRead: the token lacks scope "
                  f"{APP}.NodeManager.read",
                  fix("ROLE_MISSING", role="MonitoringDataRead",
                      roles_json='["MonitoringDataRead","WorkspacePackagesRead"]'))
    assert verdict.facts == EndpointAnswer("/MessageProcessingLogs", 403, None)


def test_the_baseline_given_reaches_the_drift_check(tenant: Tenant, signer: Signer) -> None:
    issue_token(tenant, signer, *MONITORING_SCOPES)
    tenant.api("/MessageProcessingLogs", 200, json=ODATA_OK)
    prof = parse(cf_data())
    the_plan = plan.build(prof, CAT, with_baseline=True)
    seen = probe.run([the_plan])[prof.name]
    row = {"role": "MonitoringDataRead", "granted_by_token": "yes", "result": "passed"}
    verdicts = diagnosis.diagnose(the_plan, seen, CAT, NOW,
                                  baseline={"_path": "b.json", "roles": [row]})
    assert (verdicts[plan.DRIFT].outcome, verdicts[plan.DRIFT].summary) == (
        PASSED, "roles and endpoints are as in the baseline (b.json)")
