"""A hostile tenant over real sockets: every answer becomes a verdict, bounded and clean.

The tenant (tests/hostile_tenant.py) is plain HTTP on loopback, which a profile allows; it
answers with whatever bytes a test gives it: gzip bombs, JSON nested 100,000 levels deep, key
sets with private members, terminal escape sequences in error texts, endless chunked bodies.
In-process runs (`Run`) let the tests read what the probe counted; the terminal and JUnit
tests run the real `pytest --profile` command.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cpi_preflight.observation import Exchange, ProfileObservations
from cpi_preflight.reporting import har
from cpi_preflight.run import Run, Settings
from cpi_preflight.transport import MAX_BODY, MAX_JSON_DEPTH

from ..hostile_tenant import (
    HostileTenant,
    RecordingProxy,
    Reply,
    gzip_bomb,
    json_reply,
    nested,
    private_jwks,
    raw_json,
    signed_token,
    signing_jwks,
    token_reply,
)
from .conftest import run_pytest

MPL = "/api/v1/MessageProcessingLogs"
BOMB_DECODED = 256 * 1024 * 1024
PROXY_NAMES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
ODATA_403 = {"error": {"code": "Forbidden", "message": {"lang": "en", "value": "no"}}}


@pytest.fixture(autouse=True)
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def server() -> Iterator[HostileTenant]:
    running = HostileTenant({})
    running.routes.update({"/oauth/token": token_reply(f"{running.url}/oauth/token"),
                           "/token_keys": json_reply(signing_jwks()),
                           MPL: json_reply({"d": {"results": []}})})
    yield running
    running.close()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb(BOMB_DECODED)


def write_profile(folder: Path, url: str, **extra: object) -> Path:
    body = {"environment": "cf", "api_url": url, "token_url": f"{url}/oauth/token",
            "client_id": "sb-hostile!b1|it!b1", "client_secret": "S3cr&t<>\"'$-hostile",
            "attempts": 1, "deadline": 30, "required_roles": ["MonitoringDataRead"], **extra}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "p.yaml").write_text(yaml.safe_dump(body))
    return folder


def probe(tmp_path: Path, server: HostileTenant) -> Run:
    run = Run.load(["p"], Settings(write_profile(tmp_path / "profiles", server.url),
                                   tmp_path / "reports"))
    run.execute()
    return run


def exchange_at(seen: ProfileObservations, host: str) -> Exchange:
    found = {"token": seen.token, "token_keys": seen.jwks,
             "api": seen.endpoints.get("MessageProcessingLogs")}[host]
    assert found is not None
    return found


ROUTE = {"token": "/oauth/token", "token_keys": "/token_keys", "api": MPL}


# --- decompression bombs -------------------------------------------------------------------


@pytest.mark.parametrize("host", ["token", "token_keys", "api"])
def test_a_gzip_in_gzip_bomb_is_cut_while_it_streams(tmp_path: Path, server: HostileTenant,
                                                     bomb: bytes, host: str) -> None:
    server.routes[ROUTE[host]] = raw_json(bomb, 200, ("Content-Encoding", "gzip, gzip"))
    run = probe(tmp_path, server)
    found = exchange_at(run.observations["p"], host)
    assert found.received_bytes == len(bomb)  # the whole (small) answer was read ...
    assert found.decoded_bytes == MAX_BODY  # ... but decoding stopped at the cap
    assert found.truncated is True
    assert run.verdicts["p"]["token"].outcome == ("failed" if host == "token" else "passed")


@pytest.mark.parametrize("encoding", ["gzip, gzip, gzip", "deflate, gzip", "x-gzip"])
def test_every_layer_counts_towards_the_cap(tmp_path: Path, server: HostileTenant,
                                            encoding: str) -> None:
    import zlib

    data = b"\0" * (3 * MAX_BODY)
    for name in [e.strip() for e in encoding.split(",")]:  # applied in the order listed
        packer = zlib.compressobj(9, zlib.DEFLATED, 31 if "gzip" in name else 15)
        data = packer.compress(data) + packer.flush()
    server.routes[MPL] = raw_json(data, 200, ("Content-Encoding", encoding))
    found = exchange_at(probe(tmp_path, server).observations["p"], "api")
    assert (found.received_bytes, found.decoded_bytes) == (len(data), MAX_BODY)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "gzip, gzip"])
def test_an_encoded_answer_that_fits_is_read_whole(tmp_path: Path, server: HostileTenant,
                                                   encoding: str) -> None:
    import zlib

    data = server.routes["/oauth/token"].body
    for name in [e.strip() for e in encoding.split(",")]:
        packer = zlib.compressobj(9, zlib.DEFLATED, 31 if name == "gzip" else 15)
        data = packer.compress(data) + packer.flush()
    server.routes["/oauth/token"] = raw_json(data, 200, ("Content-Encoding", encoding))
    run = probe(tmp_path, server)
    assert run.verdicts["p"]["token"].outcome == "passed"
    token = exchange_at(run.observations["p"], "token")
    assert (token.received_bytes, token.truncated) == (len(data), False)
    assert "br" not in seen_header(server, "/oauth/token", "accept-encoding")  # nor zstd
    assert "zstd" not in seen_header(server, "/oauth/token", "accept-encoding")


def seen_header(server: HostileTenant, path: str, name: str) -> str:
    return next(s.headers.get(name, "") for s in server.seen if s.path == path)


def test_an_endless_chunked_body_is_cut_at_the_cap(tmp_path: Path,
                                                   server: HostileTenant) -> None:
    server.routes[MPL] = Reply(200, endless_chunk=b"{" * 65536)
    run = probe(tmp_path, server)
    found = exchange_at(run.observations["p"], "api")
    assert found.truncated is True
    assert MAX_BODY <= found.received_bytes < MAX_BODY + 2 * 65536
    assert found.decoded_bytes == MAX_BODY
    # a host that never answers as OData is not the API (status before body, positive evidence)
    api = run.verdicts["p"]["api"]
    assert (api.outcome, api.code) == ("failed", "API_URL_WRONG")
    assert "longer than the 1 MiB the tool reads" in api.summary


def test_a_slow_endless_body_is_cut_by_the_deadline(tmp_path: Path,
                                                    server: HostileTenant) -> None:
    server.routes["/oauth/token"] = Reply(200, endless_chunk=b" ", pause=0.05)
    run = Run.load(["p"], Settings(write_profile(tmp_path / "profiles", server.url, deadline=1),
                                   tmp_path / "reports"))
    run.execute()
    verdict = run.verdicts["p"]["token"]
    assert verdict.code == "HOST_UNREACHABLE"
    assert verdict.summary == ("token endpoint 127.0.0.1:{} is unreachable: the profile's "
                               "deadline ran out (1 attempt; the profile's deadline of 1 s ran "
                               "out first)").format(server.url.rsplit(":", 1)[1])


@pytest.mark.parametrize("attack", ["bomb", "nested", "forged text"])
def test_the_same_attacks_over_https(tmp_path: Path, bomb: bytes, attack: str) -> None:
    with HostileTenant({}, tls_dir=tmp_path / "tls") as tls_server:
        issuer = f"{tls_server.url}/oauth/token"
        tls_server.routes.update({
            "/oauth/token": token_reply(issuer), "/token_keys": json_reply(signing_jwks()),
            MPL: {"bomb": raw_json(bomb, 200, ("Content-Encoding", "gzip, gzip")),
                  "nested": raw_json(nested(100_000)),
                  "forged text": json_reply({"error": {"message": {"value": EVIL}}}, 401),
                  }[attack]})
        profiles = write_profile(tmp_path / "profiles", tls_server.url,
                                 ca_bundle=str(tls_server.ca_file))
        run = Run.load(["p"], Settings(profiles, tmp_path / "reports"))
        run.execute()
    found = exchange_at(run.observations["p"], "api")
    assert run.verdicts["p"]["token"].outcome == "passed"
    assert run.observations["p"].server_certificates  # it was TLS
    if attack == "bomb":
        assert (found.received_bytes, found.decoded_bytes) == (len(bomb), MAX_BODY)
    elif attack == "nested":
        assert found.json is None
    else:
        assert run.verdicts["p"]["api"].code == "TOKEN_REJECTED_BY_API"
        _assert_clean(run.verdicts["p"]["api"].summary)


# --- hostile JSON --------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "token_code"), [
    ("token", "TOKEN_URL_WRONG"), ("token_keys", ""), ("api", "")])
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
def test_deeply_nested_json_is_not_json(tmp_path: Path, server: HostileTenant, host: str,
                                        token_code: str, depth: int) -> None:
    server.routes[ROUTE[host]] = raw_json(nested(depth))
    run = probe(tmp_path, server)
    assert exchange_at(run.observations["p"], host).json is None
    assert run.verdicts["p"]["token"].code == token_code
    if host == "token_keys":
        assert run.verdicts["p"]["token"].facts.token.signature == "not_checked"


def test_json_as_deep_as_the_limit_is_read(tmp_path: Path, server: HostileTenant) -> None:
    server.routes[MPL] = raw_json(nested(MAX_JSON_DEPTH))
    found = exchange_at(probe(tmp_path, server).observations["p"], "api")
    assert isinstance(found.json, list)


def test_a_token_whose_claims_are_nested_too_deeply_is_malformed(
        tmp_path: Path, server: HostileTenant) -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(nested(100_000)).rstrip(b"=").decode()
    server.routes["/oauth/token"] = json_reply({"access_token": f"{header}.{payload}.c2ln"})
    verdict = probe(tmp_path, server).verdicts["p"]["token"]
    assert verdict.code == "TOKEN_INVALID"
    assert verdict.summary.startswith("the token is not a readable JWT: ")


def test_a_key_set_with_private_members_still_verifies_the_token(
        tmp_path: Path, server: HostileTenant) -> None:
    server.routes["/token_keys"] = json_reply(private_jwks())
    verdict = probe(tmp_path, server).verdicts["p"]["token"]
    assert verdict.outcome == "passed"
    assert verdict.facts.token.signature_detail == "RS256 signature verified with key 'k1'"


NO_KEY_LIST = ("not_checked", "the issuer's token_keys answer holds no key list")


@pytest.mark.parametrize(("keys", "signature"), [
    ([1, 2], NO_KEY_LIST), (7, NO_KEY_LIST), ("keys", NO_KEY_LIST), (None, ("not_checked", "")),
    ({"keys": "k1"}, NO_KEY_LIST),
    ({"keys": [[]]}, ("failed", "key id 'k1' is not in the issuer's token_keys (has: none)")),
    ({"keys": [{"kid": {"a": 1}, "kty": ["RSA"]}]},
     ("failed", "key id 'k1' is not in the issuer's token_keys (has: {'a': 1})")),
    ({"keys": [{"kid": "k1", "kty": ["RSA"]}]},
     ("failed", "key 'k1' in token_keys is unusable: not an RSA key (kty ['RSA'])")),
    ({"keys": [{"kid": "k1", "kty": "RSA", "n": 5, "e": []}]},
     ("failed", "key 'k1' in token_keys is unusable: ")),
])
def test_a_key_set_of_any_shape_is_a_verdict(tmp_path: Path, server: HostileTenant,
                                             keys: object, signature: tuple[str, str]) -> None:
    server.routes["/token_keys"] = json_reply(keys)
    verdict = probe(tmp_path, server).verdicts["p"]["token"]
    if signature[0] == "not_checked":
        assert verdict.outcome == "passed"
        facts = verdict.facts.token
        assert (facts.signature, facts.signature_detail) == signature
    else:
        assert verdict.code == "TOKEN_INVALID"
        assert verdict.summary.startswith(f"the token's signature is not valid: {signature[1]}")


@pytest.mark.parametrize(("answer", "code"), [
    ({"access_token": {"a": [1, 2]}}, "TOKEN_INVALID"),
    ({"access_token": ["x"] * 3}, "TOKEN_INVALID"),
    ({"access_token": None}, "TOKEN_INVALID"), ({"access_token": 1e308}, "TOKEN_INVALID"),
    ({"access_token": True, "expires_in": {"x": 1}}, "TOKEN_INVALID"),
    ({"error": ["x"], "error_description": {"y": [1]}}, "TOKEN_URL_WRONG"),
    ([1, 2, 3], "TOKEN_URL_WRONG"), ("just a string", "TOKEN_URL_WRONG"), (42, "TOKEN_URL_WRONG")])
def test_a_token_answer_of_absurd_types_is_a_verdict(tmp_path: Path, server: HostileTenant,
                                                     answer: object, code: str) -> None:
    server.routes["/oauth/token"] = json_reply(answer, 400 if "error" in str(answer) else 200)
    verdict = probe(tmp_path, server).verdicts["p"]["token"]
    assert verdict.code == code
    if code == "TOKEN_INVALID":
        assert verdict.summary.endswith(" answered 200 with an access_token that is not a "
                                        "usable token (not printable ASCII)")


@pytest.mark.parametrize(("reply", "api_outcome"), [
    # a host whose only answer is a 200 that is not OData is not the API (positive evidence)
    (Reply(200, (("Content-Type", "application/json"),), b"\xff\xfe\x00{\"d\": \x80}"), "failed"),
    (Reply(200, (("Content-Type", "application/octet-stream"),), bytes(range(256)) * 64),
     "failed"),
    (Reply(200, (("X-Huge", "h" * 200_000),), b"{}"), "failed"),
    (Reply(200, tuple((f"X-Many-{i}", "v" * 100) for i in range(2000)), b"{}"), "failed"),
    (Reply(200, (("Content-Type", "application/json"), ("Content-Encoding", "gzip")),
           b"not gzip at all"), "failed"),
])
def test_broken_api_answers_are_verdicts(tmp_path: Path, server: HostileTenant, reply: Reply,
                                         api_outcome: str) -> None:
    server.routes[MPL] = reply
    run = probe(tmp_path, server)
    assert run.verdicts["p"]["token"].outcome == "passed"
    assert run.verdicts["p"]["api"].outcome == api_outcome


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 abc Weird\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nX-Nul: a\x00b\r\nContent-Length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nX-Esc: \x1b[2K\x1b[32mPASSED\r\nContent-Length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nX-\xff\xfe: v\r\nContent-Length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}",
    b"{\"access_token\": \"no status line\"}",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
    b"",
])
def test_malformed_http_is_a_verdict(tmp_path: Path, server: HostileTenant, raw: bytes) -> None:
    server.routes["/oauth/token"] = Reply(raw=raw or b"\r\n")
    verdict = probe(tmp_path, server).verdicts["p"]["token"]
    assert verdict.outcome == "failed"
    assert verdict.code in ("HOST_UNREACHABLE", "TOKEN_URL_WRONG", "TOKEN_INVALID")
    assert "\x1b" not in verdict.summary
    assert "\x00" not in verdict.summary


# --- loopback http is never proxied --------------------------------------------------------


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_loopback_http_never_goes_through_a_proxy(tmp_path: Path, server: HostileTenant,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  variable: str) -> None:
    proxy = RecordingProxy()
    try:
        monkeypatch.setenv(variable, proxy.url)
        run = probe(tmp_path, server)
    finally:
        proxy.close()
    assert proxy.received == []
    assert run.verdicts["p"]["token"].outcome == "passed"
    assert run.verdicts["p"]["role[MonitoringDataRead]"].outcome == "passed"
    assert [s.path for s in server.seen].count("/oauth/token") == 1


def test_the_users_api_client_never_proxies_loopback_http(tmp_path: Path, server: HostileTenant,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = RecordingProxy()
    try:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        run = probe(tmp_path, server)
        client = run.api_client("p")
        assert client is not None
        with client:
            assert client.get("/MessageProcessingLogs").status_code == 200
    finally:
        proxy.close()
    assert proxy.received == []


# --- server text on the terminal and in JUnit ----------------------------------------------

FORGED = "profiles/p.yaml::token PASSED"
EVIL = (f"bad\x1b[2K\r\x1b[32m{FORGED}\x1b[0m\nsecond line\u202eexe.txt\u2066\x07\x00"
        + "x" * 2000)


def _strings_in(document: object) -> Iterator[str]:
    if isinstance(document, str):
        yield document
    elif isinstance(document, dict):
        for key, value in document.items():
            yield str(key)
            yield from _strings_in(value)
    elif isinstance(document, list):
        for value in document:
            yield from _strings_in(value)


CONTROLS = ("\x1b", "\r", "\u202e", "\u2066", "\x07", "\x00", "second line\n")


def _assert_clean(text: str) -> None:
    for raw in (*CONTROLS, "x" * 600):
        assert raw not in text, repr(raw)


def _assert_har_clean(reports: Path) -> str:
    """exchanges.har holds what the tenant said, readable (bodies are not cut at 300
    characters, as findings are), but no control character; its texts, joined."""
    har = json.loads((reports / "exchanges.har").read_text(encoding="utf-8"))
    text = " ".join(_strings_in(har))
    for raw in CONTROLS:
        assert raw not in text, repr(raw)
    return text


@pytest.mark.parametrize("where", ["error_description", "odata_message", "location"])
def test_server_text_reaches_terminal_and_reports_clean(tmp_path: Path, server: HostileTenant,
                                                      where: str) -> None:
    if where == "error_description":
        server.routes["/oauth/token"] = json_reply(
            {"error": "invalid_client", "error_description": EVIL}, 401)
        check, code = "token", "CLIENT_CREDENTIALS_REJECTED"
    elif where == "odata_message":
        server.routes[MPL] = json_reply(
            {"error": {"code": "Forbidden", "message": {"lang": "en", "value": EVIL}}}, 401)
        check, code = "api", "TOKEN_REJECTED_BY_API"
    else:
        target = "https://login.example/\u202etxt.exe?" + "q" * 2000
        server.routes["/oauth/token"] = Reply(302, (("Location", target),))
        check, code = "token", "TOKEN_URL_WRONG"
    profiles = write_profile(tmp_path / "profiles", server.url)
    outcome = run_pytest(tmp_path, "--profile", "p", profiles_dir=profiles)
    assert outcome.code == 1, outcome.stdout + outcome.stderr
    assert outcome.failure_types("p")[check] == code
    _assert_clean(outcome.stdout + outcome.stderr)
    for report in ("junit.xml", "evidence.html"):
        _assert_clean((outcome.reports / "p" / report).read_text(encoding="utf-8"))
    evidence = json.loads((outcome.reports / "p" / "evidence.json").read_text(encoding="utf-8"))
    _assert_clean(" ".join(_strings_in(evidence)))  # JSON escapes controls; check the values
    shown = _assert_har_clean(outcome.reports / "p")  # and what the tenant said is there:
    if where == "location":
        assert "https://login.example/txt.exe?qqq" in shown
    else:  # its JSON as sent, escapes written out as the JSON has them
        assert "bad\\u001b[2K\\r\\u001b[32mprofiles/p.yaml::token PASSED" in shown
    assert FORGED not in [line.strip() for line in outcome.stdout.splitlines()]
    if where != "location":
        # folded into the message (the terminal may wrap it, so compare words)
        assert "bad profiles/p.yaml::token PASSED second line" in " ".join(outcome.stdout.split())


def test_token_claims_reach_the_report_clean(tmp_path: Path, server: HostileTenant) -> None:
    issuer = f"{server.url}/oauth/token"
    server.routes["/oauth/token"] = json_reply({"access_token": signed_token(
        issuer, zid="zone\x1b[31m\r\nforged\u202e",
        scope=["it-rt-sub!b1.x\x1b[1m"])})
    profiles = write_profile(tmp_path / "profiles", server.url)
    outcome = run_pytest(tmp_path, "--profile", "p", profiles_dir=profiles)
    assert outcome.failure_types("p")["token"] == "WRONG_SERVICE_PLAN"
    _assert_clean(outcome.stdout)
    _assert_clean((outcome.reports / "p" / "junit.xml").read_text(encoding="utf-8"))
    evidence = json.loads((outcome.reports / "p" / "evidence.json").read_text(encoding="utf-8"))
    _assert_clean(" ".join(_strings_in(evidence)))
    shown = _assert_har_clean(outcome.reports / "p")
    assert '"zid": "zone forged"' in shown  # cleaned like every text, inside the claims too
    assert "\\u001b" not in shown  # no control character escaped into the JSON either


def test_the_har_stays_bounded_whatever_the_tenant_sends(tmp_path: Path,
                                                         server: HostileTenant) -> None:
    """A megabyte body and 80 long headers: the body is cut to BODY_LIMIT, the headers to
    MAX_HEADERS, each cut said in the entry's comment."""
    headers = tuple((f"X-Filler-{n}", "h" * 1000) for n in range(80))
    server.routes[MPL] = Reply(200, (("Content-Type", "application/json"), *headers),
                               b"[" + b'"a",' * 262_000 + b'"a"]')
    profiles = write_profile(tmp_path / "profiles", server.url)
    outcome = run_pytest(tmp_path, "--profile", "p", profiles_dir=profiles)
    path = outcome.reports / "p" / "exchanges.har"
    entry = next(e for e in json.loads(path.read_text(encoding="utf-8"))["log"]["entries"]
                 if e["_check"] == "endpoint[MessageProcessingLogs]")
    assert len(entry["response"]["content"]["text"]) == har.BODY_LIMIT
    assert len(entry["response"]["headers"]) == har.MAX_HEADERS
    assert entry["comment"] == "endpoint[MessageProcessingLogs]; 19 more answer headers not shown"
    assert entry["response"]["content"]["comment"].startswith("cut: only the start of the answer")
    assert path.stat().st_size < 200_000


def test_a_service_key_url_httpx_cannot_use_is_a_usage_error(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "key.json").write_text(json.dumps({"oauth": {
        "clientid": "sb-x!b1|it!b1", "clientsecret": "S3cr&t<>\"'$", "url": "https://api.example",
        "tokenurl": "https://xn--zz.example/oauth/token"}}))
    (folder / "p.yaml").write_text(yaml.safe_dump({
        "environment": "cf", "service_key": "key.json", "required_roles": ["MonitoringDataRead"]}))
    outcome = run_pytest(tmp_path, "--profile", "p", profiles_dir=folder)
    assert outcome.code == 4
    assert ("p.yaml: service_key (tokenurl): 'https://xn--zz.example/oauth/token' is not a "
            "usable URL: Invalid A-label; expected https://host[/path]") in outcome.stderr


# --- URLs and proxy variables that httpx cannot use: usage errors before any request ---------


@pytest.mark.parametrize(("url", "problem"), [
    ("https://tenant.example:abc/", "'https://tenant.example:abc/' is not a usable URL: "
                                    "Invalid port: 'abc'; expected https://host[/path]"),
    ("https://xn--zz.example/", "'https://xn--zz.example/' is not a usable URL: "
                                "Invalid A-label; expected https://host[/path]"),
    ("https://\u2460.example/", "'https://\u2460.example/' is not a usable URL: "
                                "Invalid IDNA hostname: '\u2460.example'; expected "
                                "https://host[/path]"),
    ("https://tenant.example:99999/", "'https://tenant.example:99999/' is not a usable URL: "
                                      "port 99999 is not between 1 and 65535; expected "
                                      "https://host[/path]"),
])
def test_a_url_httpx_cannot_use_is_a_usage_error(tmp_path: Path, url: str,
                                                 problem: str) -> None:
    folder = write_profile(tmp_path / "profiles", "https://api.example")
    body = yaml.safe_load((folder / "p.yaml").read_text())
    body["token_url"] = url
    (folder / "p.yaml").write_text(yaml.safe_dump(body))
    outcome = run_pytest(tmp_path, "--profile", "p", profiles_dir=folder)
    assert outcome.code == 4
    assert f"p.yaml: token_url: {problem}" in outcome.stderr
    assert "Traceback" not in outcome.stderr + outcome.stdout


@pytest.mark.parametrize(("value", "problem"), [
    ("socks5://127.0.0.1:1080", "SOCKS proxies need the socksio package "
                                "(pip install 'httpx[socks]')"),
    ("ftp://127.0.0.1:21", "the scheme must be http:// or https://"),
    ("http://127.0.0.1:abc", "Invalid port: 'abc'"),
    ("http://user:p@ss/word@127.0.0.1:3128", "the URL has a path, so part of it would be "
                                             "taken for the host; percent-encode '/' and '@' "
                                             "in the user name and password (%2F, %40)"),
])
def test_a_proxy_variable_httpx_cannot_use_is_a_usage_error(tmp_path: Path, server: HostileTenant,
                                                            value: str, problem: str) -> None:
    import os

    folder = write_profile(tmp_path / "profiles", server.url)
    env = {**os.environ, "HTTPS_PROXY": value}
    outcome = run_pytest(tmp_path, "--profile", "p", profiles_dir=folder, env=env)
    assert outcome.code == 4, outcome.stdout + outcome.stderr
    assert f"ERROR: HTTPS_PROXY: {problem}; fix or unset HTTPS_PROXY" in outcome.stderr
    assert "p@ss" not in outcome.stderr + outcome.stdout
    assert "/word" not in outcome.stderr + outcome.stdout
    assert "Traceback" not in outcome.stderr + outcome.stdout
    assert server.seen == []


def test_a_no_proxy_entry_httpx_cannot_read_is_a_usage_error(tmp_path: Path,
                                                             server: HostileTenant) -> None:
    import os

    folder = write_profile(tmp_path / "profiles", server.url)
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    outcome = run_pytest(tmp_path, "--profile", "p", profiles_dir=folder,
                         env={**env, "NO_PROXY": "localhost:abc"})
    assert outcome.code == 4
    assert ("ERROR: the proxy variables cannot be used (NO_PROXY=localhost:abc): Invalid port: "
            "'abc'; fix or unset the variable named") in outcome.stderr
    assert server.seen == []
