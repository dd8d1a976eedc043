"""Malformed server answers become findings with clear messages, never tracebacks (respx)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import respx

from cpi_preflight.run import Run, Settings
from cpi_preflight.server_text import QUOTE_LIMIT
from cpi_preflight.transport import MAX_BODY

from .conftest_support import (
    API,
    JWKS_URL,
    TOKEN_URL,
    jwks,
    run_profile,
    scopes_of,
    signed_token,
    write_profile,
)

MPL = f"{API}/api/v1/MessageProcessingLogs"
GOOD = scopes_of("IntegrationOperationServer.read", "NodeManager.read")


@pytest.fixture
def tenant() -> respx.MockRouter:
    with respx.mock(assert_all_called=False) as router:
        router.get(JWKS_URL).respond(200, json=jwks())
        router.get(MPL).respond(200, json={"d": {"results": []}})
        yield router


def _token(router: respx.MockRouter, response: httpx.Response) -> None:
    router.post(TOKEN_URL).mock(return_value=response)


@pytest.mark.parametrize(("response", "message"), [
    (httpx.Response(200, text="<html><body>Sign in</body></html>",
                    headers={"content-type": "text/html"}),
     f"token_url {TOKEN_URL} has the documented shape, but something between this machine and "
     "SAP answered: 200 (an HTML page), where the token endpoint answers JSON"),
    (httpx.Response(200, text="not json at all", headers={"content-type": "text/plain"}),
     f"token_url {TOKEN_URL} is not an OAuth token endpoint: it answered 200 with text/plain; "
     "expected https://<subdomain>.authentication.<region>.hana.ondemand.com/oauth/token"),
    (httpx.Response(200, json={"token_type": "bearer", "expires_in": 3600}),
     "sub.authentication.eu10.hana.ondemand.com answered 200 with no access_token "
     "(fields: expires_in, token_type)"),
    (httpx.Response(200, content=b'{"access_token": "\xff\xfe"}',
                    headers={"content-type": "application/json"}),
     "sub.authentication.eu10.hana.ondemand.com answered 200 with an access_token that is not "
     "a usable token (not printable ASCII)"),
    (httpx.Response(200, json={"access_token": "eyJhbGciOi.not-a.jwt"}),
     "the token endpoint returned an opaque token (not a JWT), as Neo's OAuth service does, "
     "while XSUAA issues JWTs: this looks like a Neo tenant: set `environment: neo` "
     f"(token_url {TOKEN_URL})"),
    (httpx.Response(200, json={"access_token": 12345}),
     "sub.authentication.eu10.hana.ondemand.com answered 200 with an access_token that is not "
     "a usable token (not printable ASCII)"),
    (httpx.Response(401, text="<html><body>Proxy login</body></html>",
                    headers={"content-type": "text/html"}),
     f"token_url {TOKEN_URL} has the documented shape, but something between this machine and "
     "SAP answered: 401 (an HTML page), where the token endpoint answers JSON"),
    (httpx.Response(405, text="<html>Method Not Allowed</html>",
                    headers={"content-type": "text/html"}),
     f"token_url {TOKEN_URL} is not an OAuth token endpoint: it answered 405 with an HTML page; "
     "expected https://<subdomain>.authentication.<region>.hana.ondemand.com/oauth/token"),
])
def test_broken_token_answers(tmp_path: Path, tenant: respx.MockRouter,
                              response: httpx.Response, message: str) -> None:
    _token(tenant, response)
    verdict = run_profile(write_profile(tmp_path))["token"]
    assert verdict.outcome == "failed"
    assert verdict.summary == message


def test_a_huge_token_answer_is_cut_not_loaded_whole(tmp_path: Path,
                                                     tenant: respx.MockRouter) -> None:
    _token(tenant, httpx.Response(200, content=b"x" * (5 * 1024 * 1024),
                                  headers={"content-type": "text/plain"}))
    verdict = run_profile(write_profile(tmp_path))["token"]
    assert verdict.code == "TOKEN_URL_WRONG"


def test_token_keys_without_the_tokens_key_id(tmp_path: Path, tenant: respx.MockRouter) -> None:
    tenant.get(JWKS_URL).respond(200, json=jwks(kid="other"))
    _token(tenant, httpx.Response(200, json={"access_token": signed_token(GOOD)}))
    verdict = run_profile(write_profile(tmp_path))["token"]
    assert verdict.code == "TOKEN_INVALID"
    assert verdict.summary == ("the token's signature is not valid: key id 'key-1' is not in the "
                               "issuer's token_keys (has: other)")


def test_token_keys_that_are_html_leave_the_signature_unchecked(
        tmp_path: Path, tenant: respx.MockRouter) -> None:
    tenant.get(JWKS_URL).respond(200, text="<html>oops</html>",
                                 headers={"content-type": "text/html"})
    _token(tenant, httpx.Response(200, json={"access_token": signed_token(GOOD)}))
    verdict = run_profile(write_profile(tmp_path))["token"]
    assert verdict.outcome == "passed"
    assert verdict.summary.endswith("signature not_checked)")


def test_html_where_the_api_should_answer_json(tmp_path: Path, tenant: respx.MockRouter) -> None:
    _token(tenant, httpx.Response(200, json={"access_token": signed_token(GOOD)}))
    tenant.get(MPL).respond(200, text="<!DOCTYPE html><title>Login</title>",
                            headers={"content-type": "text/html;charset=utf-8"})
    verdict = run_profile(write_profile(tmp_path))["api"]
    assert verdict.code == "API_URL_WRONG"
    assert verdict.summary == (f"api_url {API} is not the Cloud Integration API: GET /api/v1/"
                               "MessageProcessingLogs answered 200 with an HTML page")


def test_invalid_utf8_from_the_api_is_read_not_raised(tmp_path: Path,
                                                      tenant: respx.MockRouter) -> None:
    _token(tenant, httpx.Response(200, json={"access_token": signed_token(GOOD)}))
    tenant.get(MPL).respond(500, content=b"\xff\xfe\xfd broken",
                            headers={"content-type": "application/json"})
    verdicts = run_profile(write_profile(tmp_path, required_roles=[]))
    assert verdicts["api"].code == "SERVER_ERROR"


def test_429_with_retry_after_is_retried(tmp_path: Path, tenant: respx.MockRouter) -> None:
    _token(tenant, httpx.Response(200, json={"access_token": signed_token(GOOD)}))
    route = tenant.get(MPL).mock(side_effect=[
        httpx.Response(429, headers={"retry-after": "0"}), httpx.Response(429),
        httpx.Response(200, json={"d": {"results": []}})])
    verdicts = run_profile(write_profile(tmp_path, attempts=3))
    assert verdicts["endpoint[MessageProcessingLogs]"].outcome == "passed"
    assert route.call_count == 3


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_never_retried(tmp_path: Path, tenant: respx.MockRouter,
                                       status: int) -> None:
    _token(tenant, httpx.Response(200, json={"access_token": signed_token(GOOD)}))
    route = tenant.get(MPL).respond(status, json={"error": {"message": {"value": "no"}}})
    run_profile(write_profile(tmp_path, attempts=3))
    assert route.call_count == 1


# --- hostile answers: short clean quotes, bounded bodies, bounded nesting ------------------

FORGED = "bad\x1b[2K\r\x1b[32mt.yaml::token PASSED\x1b[0m\nnext\u202etxt.exe\x07" + "z" * 500
SHOWN = "bad t.yaml::token PASSED nexttxt.exe"
QUOTED = SHOWN + "z" * (QUOTE_LIMIT - len(SHOWN) - 3) + "..."  # cut at 300 characters


def test_an_error_description_is_quoted_clean_and_short(tmp_path: Path,
                                                        tenant: respx.MockRouter) -> None:
    _token(tenant, httpx.Response(401, json={"error": "invalid_client\x1b[1m",
                                             "error_description": FORGED}))
    verdict = run_profile(write_profile(tmp_path))["token"]
    assert verdict.code == "CLIENT_CREDENTIALS_REJECTED"
    assert verdict.summary == (
        "token endpoint sub.authentication.eu10.hana.ondemand.com rejected client "
        f"sb-1234abcd!b100|it!b182722: 401 invalid_client: {QUOTED}")


def test_an_odata_message_is_quoted_clean_and_short(tmp_path: Path,
                                                    tenant: respx.MockRouter) -> None:
    _token(tenant, httpx.Response(200, json={"access_token": signed_token(GOOD)}))
    tenant.get(MPL).respond(401, json={"error": {"code": "Unauthorized",
                                                 "message": {"lang": "en", "value": FORGED}}})
    verdict = run_profile(write_profile(tmp_path))["api"]
    assert verdict.code == "TOKEN_REJECTED_BY_API"
    assert verdict.summary.startswith(
        "the API at sub.it-cpi018.cfapps.eu10.hana.ondemand.com rejected a freshly issued "
        f"token: GET /api/v1/MessageProcessingLogs answered 401 ({QUOTED}); the token was "
        "issued by ")


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000,
                                  b'{"access_token": ' * 70 + b"1" + b"}" * 70])
def test_a_token_answer_nested_too_deeply_is_not_json(tmp_path: Path, tenant: respx.MockRouter,
                                                      body: bytes) -> None:
    _token(tenant, httpx.Response(200, content=body,
                                  headers={"content-type": "application/json"}))
    verdict = run_profile(write_profile(tmp_path))["token"]
    assert verdict.summary == (
        f"token_url {TOKEN_URL} is not an OAuth token endpoint: it answered 200 with "
        "application/json that is not readable JSON; expected "
        "https://<subdomain>.authentication.<region>.hana.ondemand.com/oauth/token")


def test_a_gzip_bomb_from_the_token_endpoint_is_cut(tmp_path: Path,
                                                    tenant: respx.MockRouter) -> None:
    import gzip
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    inner = b"".join(packer.compress(b"{" * 65536) for _ in range(512)) + packer.flush()
    _token(tenant, httpx.Response(
        200, headers={"content-type": "application/json", "content-encoding": "gzip, gzip"},
        stream=httpx.ByteStream(gzip.compress(inner))))
    run = Run.load(["t"], Settings(write_profile(tmp_path), tmp_path / "reports"))
    run.execute()
    assert run.verdicts["t"]["token"].summary == (
        f"token_url {TOKEN_URL} is not an OAuth token endpoint: it answered 200 with "
        "application/json longer than the 1 MiB the tool reads; expected "
        "https://<subdomain>.authentication.<region>.hana.ondemand.com/oauth/token")
    seen = run.observations["t"].token
    assert seen is not None
    assert (seen.decoded_bytes, seen.truncated) == (MAX_BODY, True)  # not 32 MiB, then cut
