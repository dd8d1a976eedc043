"""`--replay FILE.har`: a tenant that answers as a probe that cpi-preflight recorded was answered.

The file is an exchanges.har a run wrote (read bounded: at most `HAR_LIMIT` bytes, nesting
limited). Each origin it recorded (scheme, host and port) gets its own HTTPS port on 127.0.0.1;
a request is answered with the recorded answer to the same method, path and query (its
parameters in any order). The recorded attempts of one request are answered in turn (a 503, then
the 200 of the retry), the last one again after that. What cannot be sent as recorded:

- a token: the HAR holds a JWT's header and claims only, so the token is signed anew with a key
  of this sandbox under the recorded key id, its times (`iat`, `exp`, `nbf`, `auth_time`) moved
  by the time since the recording (so its age, lifetime and clock skew are as recorded); a key
  set answer (`{"keys": [...]}`) publishes this key under that id. An opaque token (`***`) is
  replaced by a new random one.
- a try that got no answer: the connection is reset, or, for a host that no try reached (refused,
  not resolved), its port is closed.
- server certificates are this sandbox's, expiring when the recorded ones did where that is in
  the future; a certificate key's client certificate is made anew with its recorded expiry.
- bodies and headers are as the HAR holds them: masked (`***`), and cut where the report cut.

A request with no recording answers 404 with a text saying so and listing what was recorded.
Nothing here reads the product's catalog, probe, diagnosis or token code: the HAR's JSON is read
here, on its own terms.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cpi_preflight import files
from cpi_preflight.errors import ConfigError, SandboxSpecError, StructureError
from cpi_preflight.sandbox import tls
from cpi_preflight.sandbox.messages import (
    RESET,
    HttpRequest,
    HttpResponse,
    Outcome,
    text_response,
)
from cpi_preflight.sandbox.recording import RequestLog
from cpi_preflight.sandbox.server import JOIN_TIMEOUT, Acceptor, Hooks, HostServer, closed_port
from cpi_preflight.sandbox.signing import TokenSigner

HAR_LIMIT = 64 * files.MIB
MASK = "***"  # what the HAR shows for a masked value
TIME_CLAIMS = ("iat", "exp", "nbf", "auth_time")
TOKEN_MEMBERS = ("access_token", "refresh_token", "id_token")
# set by this server for the answer it sends, never copied from the recording
NOT_REPLAYED_HEADERS = frozenset({"content-length", "transfer-encoding", "connection",
                                  "keep-alive", "content-encoding", "date", "server"})
UNREACHED = frozenset({"refused", "dns"})  # failures that mean no connection was made
ENVIRONMENTS = ("cf", "neo")

Query = tuple[tuple[str, str], ...]
Key = tuple[str, str, Query]  # method, path, sorted query parameters


def request_key(method: str, target: str) -> Key:
    """What identifies a request: method, path, and the query's parameters in sorted order."""
    parts = urlsplit(target)
    query = tuple(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return method.upper(), parts.path or "/", query


def origin_of(url: str) -> str:
    """`https://host:port` of a URL (the part a replay host stands for)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class Answer:
    """One recorded try: its status (0: no answer), headers and body, or why it failed."""

    status: int
    headers: tuple[tuple[str, str], ...]
    text: str
    failure: str  # the kind of transport failure ("" when answered)
    started: float  # epoch seconds the recorded try began


@dataclass
class Recording:
    """The answers of one HAR by origin and request, and the settings of the profile."""

    source: str
    settings: dict[str, Any]
    answers: dict[str, dict[Key, list[Answer]]] = field(default_factory=dict)
    certificates: dict[str, datetime] = field(default_factory=dict)  # origin -> expiry

    @property
    def environment(self) -> str:
        return str(self.settings["environment"])

    @property
    def origins(self) -> list[str]:
        """Every recorded origin, and those of the profile's API and token URLs."""
        named = [origin_of(self.settings[k]) for k in ("token_url", "api_url")]
        return list(dict.fromkeys([*self.answers, *named]))

    def unreached(self, origin: str) -> bool:
        """Whether every recorded try to `origin` failed before a connection was made."""
        tries = [a for answers in self.answers.get(origin, {}).values() for a in answers]
        return bool(tries) and all(a.failure in UNREACHED for a in tries)

    def key_id(self) -> str | None:
        """The key id of the first recorded JWT (the replay signs under it)."""
        for answers in self.answers.values():
            for answer in (a for found in answers.values() for a in found):
                for member in _token_members(answer.text):
                    kid = member.get("jwt_header", {}).get("kid")
                    if isinstance(kid, str):
                        return kid
        return None


# --- reading the HAR -----------------------------------------------------------------------------


def read_recording(path: Path) -> Recording:
    """The recording in `path`; raises `SandboxSpecError` saying what is wrong with the file."""
    where = f"--replay {path}"
    try:
        raw = files.read_named(path, HAR_LIMIT, where, missing="give the exchanges.har of a run "
                               "(reports/<profile>/exchanges.har)",
                               refused="give an exchanges.har that cpi-preflight wrote")
        data = files.load_json(raw.decode("utf-8"))
    except ConfigError as exc:
        raise SandboxSpecError(str(exc)) from None
    except UnicodeDecodeError:
        raise SandboxSpecError(f"{where}: is not UTF-8 text, so not a HAR") from None
    except json.JSONDecodeError as exc:
        raise SandboxSpecError(f"{where}: is not JSON (line {exc.lineno}: {exc.msg})") from None
    except StructureError as exc:
        raise SandboxSpecError(f"{where}: {exc}") from None
    return _recording(data, where)


def _recording(data: Any, where: str) -> Recording:
    log = data.get("log") if isinstance(data, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(log, dict) or not isinstance(entries, list):
        raise SandboxSpecError(f"{where}: is not a HAR (it has no log.entries list)")
    settings = _settings(log.get("_cpiPreflight"), where)
    recording = Recording(where, settings)
    for number, entry in enumerate(entries, start=1):
        _add(recording, entry, f"{where}: log.entries[{number - 1}]")
    return recording


def _settings(found: Any, where: str) -> dict[str, Any]:
    if not isinstance(found, dict):
        raise SandboxSpecError(f"{where}: has no log._cpiPreflight: only a HAR that "
                               "cpi-preflight wrote (reports/<profile>/exchanges.har) can be "
                               "replayed")
    if found.get("environment") not in ENVIRONMENTS:
        raise SandboxSpecError(f"{where}: log._cpiPreflight.environment must be one of "
                               f"{', '.join(ENVIRONMENTS)}")
    for key in ("api_url", "token_url"):
        if not _absolute(found.get(key)):
            raise SandboxSpecError(f"{where}: log._cpiPreflight.{key} is not an absolute URL")
    return dict(found)


def _absolute(url: object) -> bool:
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _add(recording: Recording, entry: Any, where: str) -> None:
    request = entry.get("request") if isinstance(entry, dict) else None
    response = entry.get("response") if isinstance(entry, dict) else None
    if not isinstance(request, dict) or not isinstance(response, dict):
        raise SandboxSpecError(f"{where}: needs a request and a response object")
    url, method = request.get("url"), request.get("method")
    if not _absolute(url) or not isinstance(method, str):
        raise SandboxSpecError(f"{where}: request needs a method and an absolute url")
    assert isinstance(url, str)
    origin = origin_of(url)
    answer = _answer(entry, response)
    recording.answers.setdefault(origin, {}).setdefault(request_key(method, url), []).append(
        answer)
    expires = _time(entry.get("_tls", {}).get("expires") if isinstance(entry.get("_tls"), dict)
                    else None)
    if expires is not None:
        recording.certificates.setdefault(origin, expires)


def _answer(entry: dict[str, Any], response: dict[str, Any]) -> Answer:
    status = response.get("status")
    content = response.get("content") if isinstance(response.get("content"), dict) else {}
    assert isinstance(content, dict)
    headers = response.get("headers") if isinstance(response.get("headers"), list) else []
    assert isinstance(headers, list)
    pairs = tuple((str(h.get("name", "")), str(h.get("value", ""))) for h in headers
                  if isinstance(h, dict))
    error = entry.get("_error") if isinstance(entry.get("_error"), str) else ""
    assert isinstance(error, str)
    started = _time(entry.get("startedDateTime"))
    return Answer(status if isinstance(status, int) and 100 <= status <= 599 else 0, pairs,
                  str(content.get("text") or ""), error.split(":", 1)[0].strip(),
                  started.timestamp() if started else time.time())


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _token_members(text: str) -> list[dict[str, Any]]:
    """The JWTs (header and claims) a recorded token answer shows."""
    answer = _json_object(text)
    if answer is None:
        return []
    return [m for k in TOKEN_MEMBERS if isinstance(m := answer.get(k), dict)
            and isinstance(m.get("jwt_header"), dict) and isinstance(m.get("jwt_claims"), dict)]


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        found = files.load_json(text)
    except (json.JSONDecodeError, StructureError):
        return None
    return found if isinstance(found, dict) else None


# --- answering -------------------------------------------------------------------------------


class Answers:
    """The recorded answers, handed out in turn per request; the replayed tokens and key set."""

    def __init__(self, recording: Recording, signer: TokenSigner) -> None:
        self.recording = recording
        self.signer = signer
        self.moved: dict[str, str] = {}  # recorded origin -> this sandbox's URL for it
        self._lock = threading.Lock()
        self._served: dict[tuple[str, Key], int] = {}

    def next(self, origin: str, key: Key) -> Answer | None:
        """The recorded answer for the next such request to `origin` (the last one repeats)."""
        recorded = self.recording.answers.get(origin, {}).get(key)
        if not recorded:
            return None
        with self._lock:
            count = self._served.get((origin, key), 0)
            self._served[(origin, key)] = count + 1
        return recorded[min(count, len(recorded) - 1)]

    def response(self, answer: Answer) -> Outcome:
        """The recorded answer as this sandbox sends it (see the module)."""
        if answer.status == 0:
            return RESET
        headers = tuple((name, self._moved(value) if name.lower() == "location" else value)
                        for name, value in answer.headers
                        if name.lower() not in NOT_REPLAYED_HEADERS)
        return HttpResponse(answer.status, self._body(answer).encode("utf-8"), None, headers)

    def _body(self, answer: Answer) -> str:
        found = _json_object(answer.text)
        if found is None:
            return answer.text
        if any(k in found for k in TOKEN_MEMBERS):
            for key in TOKEN_MEMBERS:
                if key in found:
                    found[key] = self._token(found[key], answer.started)
            return json.dumps(found, ensure_ascii=False)
        if isinstance(found.get("keys"), list):
            found["keys"] = [self.signer.jwk() if isinstance(k, dict)
                             and k.get("kid") == self.signer.kid else k for k in found["keys"]]
            return json.dumps(found, ensure_ascii=False)
        return answer.text

    def _token(self, member: Any, recorded_at: float) -> Any:
        if member == MASK:
            return secrets.token_hex(16)
        if not (isinstance(member, dict) and isinstance(member.get("jwt_claims"), dict)):
            return member
        shift = time.time() - recorded_at
        claims = dict(member["jwt_claims"])
        for name in TIME_CLAIMS:
            value = claims.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                claims[name] = int(value + shift)
        header = member.get("jwt_header") if isinstance(member.get("jwt_header"), dict) else {}
        jku = header.get("jku") if isinstance(header, dict) else None
        return self.signer.sign(claims, self._moved(jku) if isinstance(jku, str) else None)

    def _moved(self, url: str) -> str:
        """A recorded URL pointed at this sandbox's host for its origin, when there is one."""
        for origin, now in self.moved.items():
            if url == origin or url.startswith(origin + "/"):
                return now + url[len(origin):]
        return url


def not_recorded(request: HttpRequest, origin: str, recording: Recording) -> HttpResponse:
    """The 404 for a request the HAR holds no answer to, saying what it does hold."""
    known = sorted(recording.answers.get(origin, {}))
    listed = "\n".join(f"  {m} {p}{'?' if q else ''}"
                       f"{'&'.join(f'{n}={v}' for n, v in q)}" for m, p, q in known[:20])
    return text_response(404, f"cpi-preflight sandbox --replay: no recorded answer for "
                         f"{request.method} {request.target} (recorded host {origin}).\n"
                         f"Recorded for this host:\n{listed or '  nothing'}\n")


class ReplayApp:
    """One recorded origin: answers what was recorded for it."""

    def __init__(self, origin: str, answers: Answers) -> None:
        self.origin = origin
        self.answers = answers

    def handle(self, request: HttpRequest) -> Outcome:
        """The next recorded answer to this request, or the 404 saying there is none."""
        answer = self.answers.next(self.origin, request_key(request.method, request.target))
        if answer is None:
            return not_recorded(request, self.origin, self.answers.recording)
        return self.answers.response(answer)


# --- the profile that points at a replay ------------------------------------------------------


def profile_mapping(recording: Recording, moved: Mapping[str, str], ca_path: str,
                    client: tuple[str, str] | None) -> dict[str, Any]:
    """A profile (keys of `profiles/*.yaml`) that runs the recorded profile's checks against
    the replay; `client`: the certificate and key files of a certificate key."""
    settings = recording.settings

    def at_replay(url: str) -> str:
        origin = origin_of(url)
        return moved[origin] + url[len(origin):]

    profile: dict[str, Any] = {
        "environment": recording.environment,
        "description": "replay of a recorded cpi-preflight probe",
        "api_url": at_replay(settings["api_url"]), "token_url": at_replay(settings["token_url"]),
        "client_id": str(settings.get("client_id") or "replay-client")}
    if client is not None:
        profile.update(certificate=client[0], key=client[1])
    else:
        profile["client_secret"] = secrets.token_urlsafe(18)  # the replay checks none
    profile.update(ca_bundle=ca_path, required_roles=_names(settings.get("required_roles")),
                   endpoints=_names(settings.get("endpoints")))
    for key in ("attempts", "expiry_warning_days"):
        if isinstance(settings.get(key), int) and not isinstance(settings.get(key), bool):
            profile[key] = settings[key]
    if settings.get("strict") is True:
        profile["strict"] = True
    return profile


def _names(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def client_certificate(recording: Recording, ca: tls.CertificateAuthority,
                       directory: Path) -> tuple[str, str] | None:
    """For a certificate key: a client certificate expiring when the recorded one did."""
    if recording.settings.get("credential") != "certificate":
        return None
    key = tls.new_rsa_key()
    expires = _time(recording.settings.get("client_certificate_expires"))
    cert = tls.issue_client_cert(ca, key, str(recording.settings.get("client_id") or "replay"),
                                 not_after=expires)
    cert_path, key_path = directory / "client-cert.pem", directory / "client-key.pem"
    for path, data in ((cert_path, tls.cert_pem(cert) + ca.pem()),
                       (key_path, tls.rsa_key_pem(key))):
        path.write_bytes(data)
        path.chmod(0o600)
    return str(cert_path), str(key_path)


def new_directory() -> Path:
    """The temporary folder of one replay's CA, certificates and keys."""
    return Path(tempfile.mkdtemp(prefix="cpi-sandbox-replay-"))


# --- a running replay --------------------------------------------------------------------------


SOON = 3600.0  # a recorded certificate expiring sooner than this is not copied (seconds)


class Replay:
    """A running replay: one HTTPS host on 127.0.0.1 per recorded origin; `Replay.start`."""

    def __init__(self, recording: Recording, answers: Answers, profile: dict[str, Any],
                 directory: Path) -> None:
        self.recording = recording
        self.answers = answers
        self.profile = profile
        self.directory = directory
        self.ca_path = str(directory / "ca.pem")
        self.stopping = threading.Event()
        self.log = RequestLog()
        self.servers: list[HostServer] = []
        self.reserved: list[socket.socket] = []
        self._acceptor: Acceptor | None = None
        self._stopped = False

    @classmethod
    def start(cls, recording: Recording) -> Replay:
        """Generate the CA and certificates, bind a port per origin, and serve."""
        directory = new_directory()
        replay = cls(recording, Answers(recording, _signer(recording)), {}, directory)
        try:
            replay._serve()
        except BaseException:
            replay.stop()
            raise
        return replay

    def _serve(self) -> None:
        ca = tls.new_ca()
        (self.directory / "ca.pem").write_bytes(ca.pem())
        hooks = Hooks(self.log, self.stopping, 0)
        for number, origin in enumerate(self.recording.origins, start=1):
            if self.recording.unreached(origin):
                self.reserved.append(closed_port())
                port = self.reserved[-1].getsockname()[1]
                self.answers.moved[origin] = f"https://127.0.0.1:{port}"
                continue
            context = self._context(ca, number, self.recording.certificates.get(origin))
            server = HostServer(f"replay-{number}", ReplayApp(origin, self.answers), context,
                                hooks)
            self.servers.append(server)
            self.answers.moved[origin] = server.url
        client = client_certificate(self.recording, ca, self.directory)
        self.profile = profile_mapping(self.recording, self.answers.moved, self.ca_path, client)
        self._acceptor = Acceptor(self.servers, name="cpi-sandbox-replay-acceptor")
        self._acceptor.start()

    def _context(self, ca: tls.CertificateAuthority, number: int,
                 expires: datetime | None) -> ssl.SSLContext:
        if expires is not None and expires.timestamp() < time.time() + SOON:
            expires = None  # an expired certificate would fail every handshake: not recorded so
        cert_pem, key_pem = tls.issue_server_cert(ca, not_after=expires)
        cert, key = self.directory / f"server-{number}.pem", self.directory / f"key-{number}.pem"
        for path, data in ((cert, cert_pem), (key, key_pem)):
            path.write_bytes(data)
            path.chmod(0o600)
        return tls.server_context(cert, key, None)

    def stop(self) -> None:
        """Close sockets, join threads and delete the temporary files; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        self.stopping.set()
        if self._acceptor is not None:
            self._acceptor.stop()
        deadline = time.monotonic() + JOIN_TIMEOUT
        for server in self.servers:
            server.close(deadline)
        for held in self.reserved:
            held.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signer(recording: Recording) -> TokenSigner:
    """This replay's signing key, under the key id of the recorded token when there is one."""
    return TokenSigner(tls.new_rsa_key(), recording.key_id() or
                       f"replay-jwt-key-{secrets.token_hex(5)}")
