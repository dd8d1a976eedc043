"""`sandbox --replay FILE.har`: a tenant answering as recorded, over real sockets and TLS."""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from cryptography import x509

from cpi_preflight.errors import SandboxSpecError
from cpi_preflight.sandbox import replay as replay_module
from cpi_preflight.sandbox.__main__ import main
from cpi_preflight.sandbox.describe import describe_replay, run_command
from cpi_preflight.sandbox.replay import Replay, read_recording, request_key

TOKEN_ORIGIN = "https://sub.authentication.example.com"
API_ORIGIN = "https://tenant.example.com"
DOWN_ORIGIN = "https://down.example.com"
RECORDED_AT = time.time() - 3600  # an hour ago
KID = "default-jwt-key-recorded"
CLAIMS = {"client_id": "sb-x!b1|it!b2", "scope": ["it!b2.NodeManager.read"], "zid": "zone",
          "iat": int(RECORDED_AT) - 20, "exp": int(RECORDED_AT) - 20 + 43199}


def stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + ".000Z"


def entry(method: str, url: str, status: int, text: str = "", *, at: float = RECORDED_AT,
          headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),),
          error: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {
        "startedDateTime": stamp(at), "time": 1, "cache": {},
        "timings": {"send": 0, "wait": 1, "receive": 0},
        "request": {"method": method, "url": url, "httpVersion": "HTTP/1.1", "cookies": [],
                    "headers": [], "queryString": [], "headersSize": -1, "bodySize": 0},
        "response": {"status": status, "statusText": "", "httpVersion": "HTTP/1.1",
                     "cookies": [], "headers": [{"name": n, "value": v} for n, v in headers],
                     "content": {"size": len(text), "mimeType": "", "text": text},
                     "redirectURL": "", "headersSize": -1, "bodySize": len(text)}}
    if error:
        found["_error"] = error
    return found


def recorded_har(**settings: Any) -> dict[str, Any]:
    token = {"access_token": {"jwt_header": {"alg": "RS256", "kid": KID, "typ": "JWT",
                                             "jku": f"{TOKEN_ORIGIN}/token_keys"},
                              "jwt_claims": CLAIMS},
             "token_type": "bearer", "expires_in": 43199}
    keys = {"keys": [{"kty": "RSA", "kid": "other", "n": "AQAB", "e": "AQAB"},
                     {"kty": "RSA", "kid": KID, "n": "recorded", "e": "AQAB"}]}
    entries = [
        entry("POST", f"{TOKEN_ORIGIN}/oauth/token", 200, json.dumps(token)),
        entry("GET", f"{TOKEN_ORIGIN}/token_keys", 200, json.dumps(keys)),
        entry("GET", f"{API_ORIGIN}/api/v1/MessageProcessingLogs?%24top=1&%24format=json", 503,
              "busy", headers=(("Content-Type", "text/plain"), ("Retry-After", "1"))),
        entry("GET", f"{API_ORIGIN}/api/v1/MessageProcessingLogs?%24top=1&%24format=json", 200,
              '{"d":{"results":[]}}'),
        entry("GET", f"{API_ORIGIN}/api/v1/Broken", 0, error="reset: connection reset"),
        entry("GET", f"{API_ORIGIN}/api/v1/Moved", 302, "",
              headers=(("Location", f"{API_ORIGIN}/api/v1/Elsewhere"),)),
        entry("GET", f"{DOWN_ORIGIN}/x", 0, error="refused: connection refused"),
    ]
    return {"log": {"version": "1.2", "creator": {"name": "cpi-preflight", "version": "0"},
                    "entries": entries, "_cpiPreflight": {
                        "profile": "prod-cf", "environment": "cf", "api_url": API_ORIGIN,
                        "token_url": f"{TOKEN_ORIGIN}/oauth/token", "client_id": "sb-x!b1|it!b2",
                        "credential": "secret", "strict": False,
                        "required_roles": ["MonitoringDataRead"],
                        "endpoints": ["MessageProcessingLogs"], "attempts": 2,
                        "expiry_warning_days": 30, **settings}}}


def write(tmp_path: Path, content: object, name: str = "exchanges.har") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content),
                    encoding="utf-8")
    return path


@pytest.fixture
def replay(tmp_path: Path) -> Iterator[Replay]:
    with Replay.start(read_recording(write(tmp_path, recorded_har()))) as running:
        yield running


def client(replay: Replay) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=replay.ca_path), timeout=10)


def at(replay: Replay, origin: str, path: str) -> str:
    return replay.answers.moved[origin] + path


# --- answering as recorded ---------------------------------------------------------------------


def test_requests_match_by_method_path_and_query_in_any_order() -> None:
    assert request_key("get", "/a?%24top=1&b=2") == request_key("GET", "/a?b=2&$top=1")
    assert request_key("GET", "/a?b=2") != request_key("POST", "/a?b=2")
    assert request_key("GET", "/a") != request_key("GET", "/a?x=")


def test_the_recorded_attempts_are_answered_in_turn_the_last_one_again(replay: Replay) -> None:
    url = at(replay, API_ORIGIN, "/api/v1/MessageProcessingLogs?$format=json&$top=1")
    with client(replay) as http:
        answers = [http.get(url) for _ in range(3)]
    assert [(a.status_code, a.text) for a in answers] == [
        (503, "busy"), (200, '{"d":{"results":[]}}'), (200, '{"d":{"results":[]}}')]
    assert answers[0].headers["retry-after"] == "1"


def test_the_token_is_signed_anew_with_the_recorded_claims_moved_to_now(replay: Replay) -> None:
    with client(replay) as http:
        answer = http.post(at(replay, TOKEN_ORIGIN, "/oauth/token"), data={"grant_type": "x"})
        keys = http.get(at(replay, TOKEN_ORIGIN, "/token_keys")).json()["keys"]
    token = answer.json()["access_token"]
    header = jwt.get_unverified_header(token)
    assert (header["kid"], header["jku"]) == (KID, at(replay, TOKEN_ORIGIN, "/token_keys"))
    assert [k["kid"] for k in keys] == ["other", KID]
    claims = jwt.decode(token, jwt.PyJWK(keys[1]).key, algorithms=["RS256"],
                        options={"verify_aud": False})
    assert {k: v for k, v in claims.items() if k not in ("iat", "exp")} == {
        k: v for k, v in CLAIMS.items() if k not in ("iat", "exp")}
    assert claims["exp"] - claims["iat"] == CLAIMS["exp"] - CLAIMS["iat"]
    assert abs(claims["iat"] - (time.time() - 20)) < 5  # as old as it was when recorded
    assert answer.json()["expires_in"] == 43199


def test_an_opaque_token_becomes_a_new_one(tmp_path: Path) -> None:
    har = recorded_har()
    har["log"]["entries"][0] = entry("POST", f"{TOKEN_ORIGIN}/oauth/token", 200,
                                     json.dumps({"access_token": "***", "expires_in": 0}))
    with Replay.start(read_recording(write(tmp_path, har))) as running, client(running) as http:
        token = http.post(at(running, TOKEN_ORIGIN, "/oauth/token")).json()["access_token"]
    assert len(token) == 32
    assert token != "***"


def test_a_try_without_an_answer_is_a_reset_and_an_unreached_host_a_closed_port(
        replay: Replay) -> None:
    with client(replay) as http, pytest.raises(httpx.TransportError):
        http.get(at(replay, API_ORIGIN, "/api/v1/Broken"))
    port = int(replay.answers.moved[DOWN_ORIGIN].rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_a_recorded_redirect_points_at_the_replay(replay: Replay) -> None:
    with client(replay) as http:
        answer = http.get(at(replay, API_ORIGIN, "/api/v1/Moved"))
    assert answer.headers["location"] == at(replay, API_ORIGIN, "/api/v1/Elsewhere")


def test_an_unrecorded_request_gets_a_404_that_says_so(replay: Replay) -> None:
    with client(replay) as http:
        answer = http.get(at(replay, API_ORIGIN, "/api/v1/IntegrationPackages?$top=1"))
    assert answer.status_code == 404
    assert answer.text == (
        "cpi-preflight sandbox --replay: no recorded answer for GET "
        "/api/v1/IntegrationPackages?$top=1 (recorded host https://tenant.example.com).\n"
        "Recorded for this host:\n"
        "  GET /api/v1/Broken\n"
        "  GET /api/v1/MessageProcessingLogs?$format=json&$top=1\n"
        "  GET /api/v1/Moved\n")


def test_the_profile_points_at_the_replay(replay: Replay) -> None:
    profile = replay.profile
    assert profile["api_url"] == replay.answers.moved[API_ORIGIN]
    assert profile["token_url"] == at(replay, TOKEN_ORIGIN, "/oauth/token")
    assert {k: profile[k] for k in ("environment", "client_id", "ca_bundle", "required_roles",
                                    "endpoints", "attempts", "expiry_warning_days")} == {
        "environment": "cf", "client_id": "sb-x!b1|it!b2", "ca_bundle": replay.ca_path,
        "required_roles": ["MonitoringDataRead"], "endpoints": ["MessageProcessingLogs"],
        "attempts": 2, "expiry_warning_days": 30}
    assert profile["client_secret"]
    assert "strict" not in profile


def test_a_certificate_key_gets_a_client_certificate_expiring_as_recorded(
        tmp_path: Path) -> None:
    har = recorded_har(credential="certificate",
                       client_certificate_expires="2031-01-02T03:04:05+00:00")
    with Replay.start(read_recording(write(tmp_path, har))) as running:
        assert "client_secret" not in running.profile
        pem = Path(running.profile["certificate"]).read_bytes()
        assert Path(running.profile["key"]).stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(pem)
    assert cert.not_valid_after_utc.isoformat() == "2031-01-02T03:04:05+00:00"


def test_stop_removes_the_temporary_files(tmp_path: Path) -> None:
    running = Replay.start(read_recording(write(tmp_path, recorded_har())))
    ca = Path(running.ca_path)
    assert ca.is_file()
    running.stop()
    running.stop()
    assert not ca.exists()


# --- the file must be a HAR cpi-preflight wrote -----------------------------------------------


@pytest.mark.parametrize(("content", "problem"), [
    ("not json", "is not JSON (line 1: Expecting value)"),
    ({"entries": []}, "is not a HAR (it has no log.entries list)"),
    ({"log": {"entries": []}},
     "has no log._cpiPreflight: only a HAR that cpi-preflight wrote "
     "(reports/<profile>/exchanges.har) can be replayed"),
    ({"log": {"entries": [], "_cpiPreflight": {"environment": "edge"}}},
     "log._cpiPreflight.environment must be one of cf, neo"),
    ({"log": {"entries": [], "_cpiPreflight": {"environment": "cf", "api_url": "x",
                                               "token_url": "https://t/oauth/token"}}},
     "log._cpiPreflight.api_url is not an absolute URL"),
    ({"log": {"entries": [{"request": {"method": "GET", "url": "/relative"}, "response": {}}],
              "_cpiPreflight": recorded_har()["log"]["_cpiPreflight"]}},
     "log.entries[0]: request needs a method and an absolute url"),
])
def test_a_file_that_cannot_be_replayed_says_why(tmp_path: Path, content: object,
                                                 problem: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(SandboxSpecError) as caught:
        read_recording(path)
    assert str(caught.value) == f"--replay {path}: {problem}"


def test_a_missing_file_says_what_to_give(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.har"
    with pytest.raises(SandboxSpecError) as caught:
        read_recording(path)
    assert str(caught.value) == (f"--replay {path}: no such file; give the exchanges.har of a "
                                 "run (reports/<profile>/exchanges.har)")


def test_the_read_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay_module, "HAR_LIMIT", 1024)
    path = write(tmp_path, {"log": {"entries": [], "pad": "x" * 2000}})
    with pytest.raises(SandboxSpecError) as caught:
        read_recording(path)
    assert str(caught.value) == (f"--replay {path}: is 2 KiB, more than the 1 KiB this file "
                                 "may have; give an exchanges.har that cpi-preflight wrote")


# --- the command line ---------------------------------------------------------------------------


def test_options_of_a_simulated_tenant_are_refused_with_replay(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--replay", "x.har", "--roles", "MonitoringDataRead", "--count", "2"]) == 2
    assert capsys.readouterr().err == (
        "error: --replay: a replay answers as recorded; --roles, --count cannot change that: "
        "drop them\n")


def test_write_profile_needs_replay(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--write-profile", "p.yaml"]) == 2
    assert capsys.readouterr().err == (
        "error: --write-profile: only a replay writes a profile; add --replay FILE.har, or drop "
        "--write-profile\n")


def test_a_bad_har_is_a_one_line_error(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, {"log": {}})
    assert main(["--replay", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"error: --replay {path}: is not a HAR (it has no log.entries list)\n")


def test_what_a_replay_prints_without_write_profile(tmp_path: Path) -> None:
    """The recorded names are text from outside: printed as one clean line each."""
    har = recorded_har(profile="prod\x1b[2K-cf\u202e")
    with Replay.start(read_recording(write(tmp_path, har))) as running:
        text = describe_replay(running, Path("exchanges.har"))
    lines = text.splitlines()
    moved = running.answers.moved
    assert lines[:5] == [
        "cpi-preflight sandbox --replay exchanges.har (cf)",
        "  7 recorded answers of profile prod-cf",
        f"  {TOKEN_ORIGIN} -> {moved[TOKEN_ORIGIN]}",
        f"  {API_ORIGIN} -> {moved[API_ORIGIN]}",
        f"  {DOWN_ORIGIN} -> {moved[DOWN_ORIGIN]}"]
    assert lines[5] == f"  CA          {running.ca_path}"
    assert lines[7] == "Profile (paste into profiles/<name>.yaml):"
    assert yaml.safe_load("\n".join(line[2:] for line in lines[8:-4])) == running.profile
    assert lines[-4:] == ["", "Run the recorded profile's checks against the replay:", "",
                          "  pytest --profile <name>"]


@pytest.mark.parametrize(("written", "command"), [
    ("profiles/replay-prod.yaml", "pytest --profile replay-prod"),
    ("elsewhere/my profiles/r.yaml", "pytest --profile r --profiles-dir 'elsewhere/my profiles'"),
    ("profiles/-bad name.yaml", "pytest --profile <name>"),
])
def test_the_printed_pytest_line_names_the_written_profile(written: str, command: str) -> None:
    assert run_command(Path(written)) == command
