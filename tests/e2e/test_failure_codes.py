"""Every failure code, produced end to end: a sandbox with a real fault, the real pytest command.

All fault profiles run in one invocation (they are probed concurrently), then each profile's
JUnit report is checked for the code on the right check.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .conftest import Outcome, matches, run_pytest

CF_BASE = {"environment": "cf", "required_roles": ["MonitoringDataRead"],
           "endpoints": ["MessageProcessingLogs"], "attempts": 2}
NEO_BASE = {"environment": "neo", "required_roles": ["IntegrationOperationServer.read"],
            "endpoints": ["MessageProcessingLogs"], "attempts": 2}

# profile name -> (profile body, sandbox section, {check: expected failure type})
CASES: dict[str, tuple[dict, dict, dict[str, str]]] = {
    "dead-token-host": (CF_BASE, {"faults": {"dead_host": "token"}},
                        {"token": "HOST_UNREACHABLE"}),
    "dead-api-host": (CF_BASE, {"faults": {"dead_host": "api"}}, {"api": "HOST_UNREACHABLE"}),
    "token-url-on-api-host": (CF_BASE, {"faults": {"token_url": "api"}},
                              {"token": "TOKEN_URL_WRONG"}),
    "token-url-on-ui-host": (CF_BASE, {"faults": {"token_url": "ui"}},
                             {"token": "TOKEN_URL_WRONG"}),
    "wrong-secret": (CF_BASE, {"faults": {"wrong_secret": True}},
                     {"token": "CLIENT_CREDENTIALS_REJECTED"}),
    "wrong-secret-neo": (NEO_BASE, {"roles": ["IntegrationOperationServer.read",
                                              "NodeManager.read"],
                                    "faults": {"wrong_secret": True}},
                         {"token": "CLIENT_CREDENTIALS_REJECTED"}),
    "grant-disabled": (CF_BASE, {"faults": {"grant_type_disabled": True}},
                       {"token": "GRANT_TYPE_NOT_ALLOWED"}),
    "grant-disabled-neo": (NEO_BASE, {"roles": ["IntegrationOperationServer.read",
                                                "NodeManager.read"],
                                      "faults": {"grant_type_disabled": True}},
                           {"token": "GRANT_TYPE_NOT_ALLOWED"}),
    "integration-flow-key": (CF_BASE, {"faults": {"integration_flow_plan": True}},
                             {"token": "WRONG_SERVICE_PLAN"}),
    "missing-role": ({**CF_BASE, "endpoints": ["IntegrationPackages"]},
                     {"roles": ["MonitoringDataRead"]},
                     {"role[WorkspacePackagesRead]": "ROLE_MISSING"}),
    "missing-role-neo": ({**NEO_BASE, "required_roles": ["WebToolingWorkspace.Read"],
                          "endpoints": []},
                         {"roles": ["IntegrationOperationServer.read", "NodeManager.read"]},
                         {"role[WebToolingWorkspace.Read]": "ROLE_MISSING"}),
    # a passed role is not blamed for a 403: NodeManager.read alone is named
    "second-role-missing-neo": ({**NEO_BASE, "required_roles": [
                                    "IntegrationOperationServer.read", "NodeManager.read"],
                                 "endpoints": []},
                                {"roles": ["IntegrationOperationServer.read"]},
                                {"role[NodeManager.read]": "ROLE_MISSING"}),
    "api-url-is-ui": (CF_BASE, {"faults": {"api_url": "ui"}}, {"api": "API_URL_WRONG"}),
    "api-url-is-xsuaa": (CF_BASE, {"faults": {"api_url": "xsuaa"}}, {"api": "API_URL_WRONG"}),
    "foreign-zone": (CF_BASE, {"faults": {"foreign_zone": True}},
                     {"api": "TOKEN_REJECTED_BY_API"}),
    "server-errors": ({**CF_BASE, "endpoints": ["MessageProcessingLogs", "NumberRanges"]},
                      {"faults": {"server_errors": {"NumberRanges": "always"}}},
                      {"endpoint[NumberRanges]": "SERVER_ERROR"}),
    # issued a day's half ago: by this machine's clock only a warning (CLOCK_SKEW); the API
    # answers 401, and that decides
    "expired-token": (CF_BASE, {"faults": {"expired_token": True}},
                      {"api": "TOKEN_REJECTED_BY_API"}),
    "logfiles-on-cf": ({**CF_BASE, "endpoints": ["MessageProcessingLogs", "LogFiles"]}, {},
                       {"endpoint[LogFiles]": "ENDPOINT_NOT_FOUND"}),
    # an OData 404 is the API answering: the entity set is missing, the URL is right
    "only-logfiles-on-cf": ({**CF_BASE, "required_roles": [], "endpoints": ["LogFiles"]}, {},
                            {"endpoint[LogFiles]": "ENDPOINT_NOT_FOUND"}),
    # status before body (issue 10)
    "rejected-query": ({**CF_BASE, "endpoints": ["MessageProcessingLogs", "NumberRanges"]},
                       {"faults": {"query_rejections": {"MessageProcessingLogs": "$top"}}},
                       {"endpoint[MessageProcessingLogs]": "REQUEST_REJECTED"}),
    "role-not-effective": (CF_BASE, {"roles": ["MonitoringDataRead"],
                                     "faults": {"pending_roles": ["MonitoringDataRead"]}},
                           {"role[MonitoringDataRead]": "ROLE_NOT_EFFECTIVE"}),
    "access-policy": ({**CF_BASE, "endpoints": ["MessageProcessingLogs",
                                               "IntegrationRuntimeArtifacts"]},
                      {"roles": ["MonitoringDataRead"],
                       "faults": {"access_policy": ["IntegrationRuntimeArtifacts"]}},
                      {"endpoint[IntegrationRuntimeArtifacts]": "ROLE_NOT_EFFECTIVE"}),
    "foreign-zone-neo": (NEO_BASE, {"roles": ["IntegrationOperationServer.read",
                                              "NodeManager.read"],
                                    "faults": {"foreign_zone": True}},
                         {"api": "TOKEN_REJECTED_BY_API"}),
    "unavailable-page": ({**CF_BASE, "endpoints": ["MessageProcessingLogs", "NumberRanges"]},
                         {"faults": {"unavailable_pages": ["NumberRanges"]}},
                         {"endpoint[NumberRanges]": "SERVER_ERROR"}),
    "token-body-dropped": (CF_BASE, {"faults": {"token_body_dropped": True}},
                           {"token": "TOKEN_URL_WRONG"}),
}


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    root = tmp_path_factory.mktemp("faults")
    profiles = root / "profiles"
    profiles.mkdir()
    for name, (body, sandbox, _) in CASES.items():
        (profiles / f"{name}.yaml").write_text(yaml.safe_dump({**body, "sandbox": sandbox}))
    return run_pytest(root, "--profile", "all", "-rs", profiles_dir=profiles)


def test_the_run_fails_with_exit_code_1(fault_run: Outcome) -> None:
    assert fault_run.code == 1, fault_run.stdout + fault_run.stderr
    assert "Traceback" not in fault_run.stdout + fault_run.stderr


@pytest.mark.parametrize("name", list(CASES))
def test_fault_gives_its_code(fault_run: Outcome, name: str) -> None:
    expected = CASES[name][2]
    assert fault_run.failure_types(name) == expected


@pytest.mark.parametrize("name", ["dead-token-host", "wrong-secret", "integration-flow-key"])
def test_a_failed_token_skips_the_dependents(fault_run: Outcome, name: str) -> None:
    cases = fault_run.cases(name)
    code = fault_run.failure_types(name)["token"]
    skipped = cases["api"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == f"not checked: token failed ({code}); fix that first"


@pytest.mark.parametrize("name", ["api-url-is-ui", "api-url-is-xsuaa"])
def test_a_role_is_not_passed_when_no_call_could_prove_it(fault_run: Outcome, name: str) -> None:
    """The token carries MonitoringDataRead, but the API URL is a UI host: no call proves the
    role, so its check is skipped, never passed (issue 18.12)."""
    skipped = fault_run.cases(name)["role[MonitoringDataRead]"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == (
        "role MonitoringDataRead: granted in the token (it carries its scopes); not proven: no "
        "call succeeded (api failed (API_URL_WRONG))")


def _message(outcome: Outcome, profile: str, check: str) -> str:
    failure = outcome.cases(profile)[check].find("failure")
    assert failure is not None
    return failure.get("message", "")


READ_PARAMS = ("First read the instance's current parameters: `cf service <instance> --params` "
               "(cf CLI v8), or View Parameters on the instance in the BTP cockpit.")
SEND_ALL = ("SAP documents neither whether an update merges the parameters it is given into the "
            "current ones nor whether it replaces them, so send the full object: every role and "
            "parameter of the current ones that others still need stays in it.")
NOT_EFFECTIVE_FIX = (
    "Known causes: a role change takes up to an hour to reach the tenant (rerun later); or an "
    "access policy protects the artifacts: have the policy's owner give the client access, or "
    f"add the role template AccessAllAccessPoliciesArtifacts to the instance. {READ_PARAMS} "
    "Then send them back with AccessAllAccessPoliciesArtifacts added, `grant-types` included; "
    "with the roles this token shows that is `cf update-service <instance> -c '{\"roles\":"
    "[\"MonitoringDataRead\",\"AccessAllAccessPoliciesArtifacts\"],\"grant-types\":"
    f"[\"client_credentials\"]}}'` (cockpit: the instance > Update). {SEND_ALL}")

EXACT = {
    ("wrong-secret", "token"):
        "token endpoint <host> rejected client <client>: 401 invalid_client: Bad credentials "
        "-- fix: Copy `clientid` and `clientsecret` again from the service key: BTP cockpit > "
        "Instances and Subscriptions > the Process Integration Runtime instance (plan api) > "
        "Service Keys, or `cf service-key <instance> <key>`. If the secret was rotated or lost, "
        "create a new key with `cf create-service-key <instance> <key>` and read it with `cf "
        "service-key <instance> <key>`; for a certificate key: `cf create-service-key "
        "<instance> <key> -c '{\"key-type\":\"certificate\"}'`. In a shell, put the secret "
        "in single quotes (export NAME='...'): XSUAA secrets contain `$`.",
    ("grant-disabled", "token"):
        "client <client> may not use grant type client_credentials: <host> answered 401 "
        "invalid_client: Unauthorized grant type -- fix: Grant types are a parameter of the "
        "Process Integration Runtime instance (plan api), not of the service key. "
        f"{READ_PARAMS} Then send them back with \"grant-types\":[\"client_credentials\"]; "
        "with the profile's roles (add every other role the current parameters list) that is "
        "`cf update-service <instance> -c '{\"roles\":[\"MonitoringDataRead\"],\"grant-types"
        f"\":[\"client_credentials\"]}}'` (cockpit: the instance > Update). {SEND_ALL} "
        "If the instance's parameters list the deprecated grant type client_x509, replace it with "
        "client_credentials: SAP set January 2026 as client_x509's end of life, and until it is "
        "replaced, updates of the instance and the creation of service keys fail. Then "
        "fetch a new token; the service key stays valid, as the OAuth client belongs to the "
        "instance (inferred: SAP does not say so).",
    ("token-url-on-api-host", "token"):
        "token_url https://<host>/oauth/token is not an OAuth token endpoint: it answered 404 "
        "with an HTML page; expected https://<subdomain>.authentication.<region>.hana.ondemand"
        ".com/oauth/token -- fix: Use the service key's `tokenurl` exactly: "
        "https://<subdomain>.authentication.<region>.hana.ondemand.com/oauth/token "
        "(certificate keys: the .authentication.cert. host). If a proxy sits in between, it "
        "must pass the POST body on unchanged.",
    ("api-url-is-ui", "api"):
        "api_url https://<host> is not the Cloud Integration API: GET /api/v1/"
        "MessageProcessingLogs answered 302 redirect to <any> -- fix: Use the service key's "
        "`url` (https://<subdomain>.it-cpi<nnn>.cfapps.<region>.hana.ondemand.com), not the "
        "Integration Suite UI URL (.integrationsuite.) nor the runtime host (-rt). When the "
        "Cloud Foundry router answered unknown_route, nothing runs at that host: check the host "
        "name against a current service key, and in the BTP cockpit that the subaccount still "
        "has its Integration Suite subscription (trials expire; a deleted tenant's host is "
        "gone).",
    ("integration-flow-key", "token"):
        "the token of client <client> is for it-rt-<any>!b<n> (plan integration-flow, scopes: "
        "it-rt-<any>!b<n>.ESBMessaging.send, uaa.resource); the API needs a key of plan api "
        "(application it!b<N>) -- fix: Create a Process Integration Runtime instance with plan "
        "`api` (not `integration-flow`): BTP cockpit > Instances and Subscriptions > Create, or "
        "`cf create-service it-rt api <instance> -c '{\"roles\":[\"MonitoringDataRead\"],"
        "\"grant-types\":[\"client_credentials\"]}'`; then `cf create-service-key <instance> "
        "<key>` and `cf service-key <instance> <key>`, and use that key in the profile.",
    ("foreign-zone", "api"):
        "the API at <host> rejected a freshly issued token: GET /api/v1/MessageProcessingLogs "
        "answered 401 (Authorization information is missing or invalid.); the token was issued "
        "by https://<host>/oauth/token for identity zone <any> -- fix: Take `url` and "
        "`tokenurl` from the same service key: the token's identity zone (<any>) must be the "
        "tenant's subaccount.",
    ("server-errors", "endpoint[NumberRanges]"):
        "GET /api/v1/NumberRanges answered 500 with the OData message \"The requested "
        "operation led to an error during execution.\" (1 attempt: 500; 500 is not retried) "
        "-- fix: Check SAP's status page and the tenant's health; rerun later. If it persists "
        "for one endpoint only, open an SAP incident with the request time and URL.",
    ("expired-token", "api"):
        "the API at <host> rejected a freshly issued token: GET /api/v1/MessageProcessingLogs "
        "answered 401 (<any>); the token was issued by https://<host>/oauth/token for identity "
        "zone <any> -- fix: Take `url` and `tokenurl` from the same service key: the token's "
        "identity zone (<any>) must be the tenant's subaccount.",
    ("logfiles-on-cf", "endpoint[LogFiles]"):
        "GET /api/v1/LogFiles answered 404 although other calls to <host> work -- fix: Remove "
        "LogFiles from `endpoints:` in the profile, or check that the tenant offers it (SAP "
        "documents the Log Files API for Neo only; whether it exists on Cloud Foundry is "
        "unconfirmed).",
    ("missing-role-neo", "role[WebToolingWorkspace.Read]"):
        "role WebToolingWorkspace.Read is not granted to user oauth_client_<client> (Neo roles "
        "WebToolingWorkspace.Read); GET /api/v1/IntegrationPackages answered 403 (HTML page "
        "\"HTTP Status 403 \u2013 Forbidden\"); needed by IntegrationPackages -- fix: In Neo "
        "cockpit > Security > Authorizations, assign WebToolingWorkspace.Read to user "
        "oauth_client_<client> for the ...tmn application (the OAuth client needs the Client "
        "Credentials grant), then fetch a new token.",
    ("second-role-missing-neo", "role[NodeManager.read]"):
        "role NodeManager.read is not granted to user oauth_client_<client> (Neo roles "
        "NodeManager.read); GET /api/v1/MessageProcessingLogs answered 403 (HTML page \"HTTP "
        "Status 403 \u2013 Forbidden\"); needed by MessageProcessingLogs -- fix: In Neo cockpit "
        "> Security > Authorizations, assign NodeManager.read to user oauth_client_<client> for "
        "the ...tmn application (the OAuth client needs the Client Credentials grant), then "
        "fetch a new token.",
    ("grant-disabled-neo", "token"):
        "client <client> may not use grant type client_credentials: <host> answered 401 "
        "unauthorized_client: The client is not authorized to use this grant type -- fix: In "
        "Neo cockpit > Security > OAuth > Clients, edit client <client> and set Authorization "
        "Grant to Client Credentials.",
    ("wrong-secret-neo", "token"):
        "token endpoint <host> rejected client <client>: 401 invalid_client: Bad client "
        "credentials -- fix: In Neo cockpit > Security > OAuth > Clients, check client <client> "
        "and reset its secret if unsure; the client must be registered for the ...tmn "
        "subscription. In a shell, put the secret in single quotes (export NAME='...').",
    ("dead-token-host", "token"):
        "token endpoint <host> is unreachable: the connection was refused (2 attempts; <any>) "
        "-- fix: Check the host name in token_url against the service key or cockpit, and that "
        "this machine can reach it (proxy: HTTPS_PROXY / NO_PROXY; firewall).",
    ("missing-role", "role[WorkspacePackagesRead]"):
        "role WorkspacePackagesRead is not granted to client <client>: the token lacks scope "
        "it!b<n>.WebToolingWorkspace.Read; GET /api/v1/IntegrationPackages answered 403 (The "
        "required permissions to access the resource are missing.); needed by "
        "IntegrationPackages -- fix: Add WorkspacePackagesRead to the roles of the Process "
        f"Integration Runtime instance (plan api) of client <client>. {READ_PARAMS} Then send "
        "them back with WorkspacePackagesRead added, `grant-types` included; with the roles "
        "this token shows that is `cf update-service <instance> -c '{\"roles\":"
        "[\"MonitoringDataRead\",\"WorkspacePackagesRead\"],\"grant-types\":"
        f"[\"client_credentials\"]}}'` (cockpit: the instance > Update). {SEND_ALL} Then fetch "
        "a new token; the change can take up to an hour to reach the tenant. Role collections "
        "do not apply: a client-credentials client gets its roles only from the instance's "
        "role templates.",
    ("rejected-query", "endpoint[MessageProcessingLogs]"):
        "GET /api/v1/MessageProcessingLogs?$top=1 answered 400 (The query option $top is not "
        "supported for this resource.): the API refused this request for entity set "
        "MessageProcessingLogs; it is not a server error -- fix: The request comes from "
        "cpi-preflight's catalog (GET /api/v1/MessageProcessingLogs?$top=1). If the API's "
        "message names a query option or parameter, this tenant does not accept it for "
        "MessageProcessingLogs: remove MessageProcessingLogs from `endpoints:` in the profile "
        "for now and report the message, so that the catalog can be corrected.",
    ("role-not-effective", "role[MonitoringDataRead]"):
        "role MonitoringDataRead: the token of client <client> carries every permission it "
        "needs (it!b<n>.IntegrationOperationServer.read, it!b<n>.NodeManager.read, "
        "it!b<n>.Roles.Read), and still GET /api/v1/MessageProcessingLogs answered 403 (The "
        "required permissions to access the resource are missing.) -- fix: " + NOT_EFFECTIVE_FIX,
    ("access-policy", "endpoint[IntegrationRuntimeArtifacts]"):
        "GET /api/v1/IntegrationRuntimeArtifacts answered 403 (empty body) although the token "
        "of client <client> carries every permission it needs "
        "(it!b<n>.IntegrationOperationServer.read, it!b<n>.NodeManager.read) -- fix: "
        + NOT_EFFECTIVE_FIX,
    ("foreign-zone-neo", "api"):
        "the API at <host> rejected a freshly issued token: GET /api/v1/MessageProcessingLogs "
        "answered 401 (empty body) -- fix: Use the token endpoint of the same Neo subaccount as "
        "the tenant URL (Neo cockpit > Security > OAuth > Branding), and a client registered "
        "there for the ...tmn subscription (Neo cockpit > Security > OAuth > Clients).",
    ("unavailable-page", "endpoint[NumberRanges]"):
        "GET /api/v1/NumberRanges answered 503 with an HTML page (2 attempts: 503, 503) -- fix: "
        "Check SAP's status page and the tenant's health; rerun later. If it persists for one "
        "endpoint only, open an SAP incident with the request time and URL.",
    ("token-body-dropped", "token"):
        "token_url https://<host>/oauth/token did not read the grant type the request carried "
        "(grant_type=client_credentials in the form body): it answered 400 invalid_request: "
        "Missing grant type; expected https://<subdomain>.authentication.<region>.hana.ondemand"
        ".com/oauth/token to issue a token -- fix: Use the service key's `tokenurl` exactly: "
        "https://<subdomain>.authentication.<region>.hana.ondemand.com/oauth/token "
        "(certificate keys: the .authentication.cert. host). If a proxy sits in between, it "
        "must pass the POST body on unchanged.",
}


@pytest.mark.parametrize(("profile", "check"), list(EXACT))
def test_messages_word_for_word(fault_run: Outcome, profile: str, check: str) -> None:
    message = _message(fault_run, profile, check)
    assert matches(EXACT[profile, check], message), message


def test_a_token_expired_by_this_clock_is_a_clock_warning_and_the_api_decides(
        fault_run: Outcome) -> None:
    token = fault_run.cases("expired-token")["token"]
    assert token.find("failure") is None
    out = token.find("system-out")
    assert out is not None
    warning = (out.text or "").split("\nWARNING ", 1)[1].split("\n", 1)[0]
    assert matches("CLOCK_SKEW: this machine's clock is 12 h <any> ahead of the token "
                    "issuer's: <host> issued the token at <any> (iat) while this machine's time "
                    "was <any>; its lifetime is judged from exp minus iat (11 h 59 min), and the "
                    "API's answers decide whether the tenant accepts it", warning), warning


def test_profiles_were_probed_together(fault_run: Outcome) -> None:
    written = sorted(p.parent.name for p in Path(fault_run.reports).glob("*/junit.xml"))
    assert written == sorted(CASES)


@pytest.mark.parametrize(("profile", "failing"), [
    ("unavailable-page", "endpoint[NumberRanges]"),
    ("rejected-query", "endpoint[MessageProcessingLogs]"),
    ("access-policy", "endpoint[IntegrationRuntimeArtifacts]"),
])
def test_one_failing_entity_set_leaves_the_api_and_the_others_passing(
        fault_run: Outcome, profile: str, failing: str) -> None:
    cases = fault_run.cases(profile)
    assert fault_run.failure_types(profile) == {failing: CASES[profile][2][failing]}
    for name, case in cases.items():
        if name.startswith(("api", "endpoint[")) and name != failing:
            assert case.find("skipped") is None, name
            assert case.find("failure") is None, name


def test_a_role_not_yet_effective_skips_its_endpoint_naming_it(fault_run: Outcome) -> None:
    skipped = fault_run.cases("role-not-effective")["endpoint[MessageProcessingLogs]"].find(
        "skipped")
    assert skipped is not None
    assert skipped.get("message") == (
        "GET /api/v1/MessageProcessingLogs answered 403 because role[MonitoringDataRead] failed "
        "(ROLE_NOT_EFFECTIVE); fix that first")
