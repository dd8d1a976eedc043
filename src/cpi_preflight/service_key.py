"""Cloud Foundry service keys of the Process Integration Runtime (plan api), as downloaded.

Two key types exist: client id/secret and certificate (SAP Help "Creating Service Instance and
Service Key for Inbound Authentication": SAP-docs/btp-integration-suite, docs/ci/ConnectionSetup/
creating-service-instance-and-service-key-for-inbound-authentication-19af5e2.md). Whether the
certificate type nests its fields under `oauth` like the secret type is unconfirmed (SAP's
tutorial shows that key only as an image), so both shapes are read. A certificate key's PEM
blocks must reach Python's TLS layer as files: they are kept in anonymous in-memory files where
the platform has them (Linux), else in private temporary files removed at exit and on
SIGTERM/SIGINT.

Keys are read as users hold them: the key as the cockpit downloads it, what `cf service-key
<instance> <key>` prints (cf v8: a `Getting key ... as ...` line and a blank line before the
JSON, and the key inside `{"credentials": ...}`), or a `VCAP_SERVICES` JSON, from which the one
instance of label `it-rt` and plan `api` is taken. A key written by `cpi-preflight sandbox`
carries the marker `"cpi_preflight": {"simulated": "sandbox"}` beside `oauth`, which `init`
copies into the profile (`simulated: sandbox`).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from cpi_preflight import files, hosts
from cpi_preflight.errors import ProfileError, StructureError
from cpi_preflight.files import message_path
from cpi_preflight.secret import Secret, register
from cpi_preflight.text import cut, hidden_character, one_line
from cpi_preflight.urls import user_info_problem

_temp_dirs: list[str] = []
_memory_fds: list[int] = []
_handled: dict[int, Any] = {}
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
AGAIN = "download the service key again from the BTP cockpit"
MARKER = "cpi_preflight"  # beside `oauth`: {"simulated": "sandbox"} in a sandbox's key
SIMULATED = "sandbox"
RUNTIME_LABEL, API_PLAN = "it-rt", "api"
_ONE_LINE = ("clientid", "clientsecret", "url", "tokenurl", "certurl")  # unlike PEM blocks


@dataclass(frozen=True)
class ServiceKey:
    """The connection a service key describes."""

    api_url: str
    token_url: str
    client_id: str
    client_secret: Secret | None
    certificate: Path | None
    key: Path | None
    key_type: str
    certificate_valid_until: str | None = None
    simulated: str | None = None  # "sandbox": the key of a `cpi-preflight sandbox` tenant
    taken_from: str = ""  # which instance of a VCAP_SERVICES JSON the key is, when it was one


def _fields(path: Path, data: object) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a service key must be a JSON object like "
                           '{"oauth": {"clientid": ..., "url": ..., "tokenurl": ...}}', path=path)
    inner = data.get("oauth", data)
    if not isinstance(inner, dict):
        raise ProfileError(f"{path}: oauth: must be an object with clientid, url, tokenurl",
                           path=path, key="oauth")
    return inner


def _text(path: Path, fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value.strip():
        present = ", ".join(sorted(fields)) or "nothing"
        raise ProfileError(f"{path}: oauth.{name}: missing or empty (the key has: {present}); "
                           f"{AGAIN}", path=path, key=f"oauth.{name}")
    hidden = hidden_character(value.strip()) if name in _ONE_LINE else None
    if hidden is not None:
        raise ProfileError(f"{path}: oauth.{name}: holds a control or invisible character "
                           f"({hidden}); {AGAIN}", path=path, key=f"oauth.{name}")
    return value.strip()


def _url(path: Path, fields: dict[str, Any], name: str) -> str:
    url = _text(path, fields, name)
    problem = user_info_problem(url)
    if problem is not None:
        raise ProfileError(f"{path}: oauth.{name}: the URL {problem}", path=path,
                           key=f"oauth.{name}")
    return url


def _in_memory(name: str, data: bytes) -> Path | None:
    """`data` as an anonymous in-memory file (Linux memfd), reachable as /proc/self/fd/N for
    as long as this process lives; None where the platform has none."""
    create = getattr(os, "memfd_create", None)
    if create is None or not Path("/proc/self/fd").is_dir():
        return None
    fd = create(f"cpi-preflight-{name}")  # close-on-exec: no child process inherits it
    os.fchmod(fd, 0o600)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    _memory_fds.append(fd)
    return Path(f"/proc/self/fd/{fd}")


def _private_file(directory: str, name: str, data: bytes) -> Path:
    target = Path(directory) / name
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return target


def _materialize(certificate: str, key: str) -> tuple[Path, Path]:
    """The certificate and private key as files for the TLS layer (Python's `ssl` loads a
    client certificate only from a path). In memory when the platform allows it, so no copy
    of the private key ever reaches the disk; else in a private temporary folder that is
    removed at exit and on SIGTERM/SIGINT."""
    pems = {"client.crt": certificate.replace("\\n", "\n").encode(),
            "client.key": key.replace("\\n", "\n").encode()}
    in_memory = [_in_memory(name, data) for name, data in pems.items()]
    if in_memory[0] is not None and in_memory[1] is not None:
        return in_memory[0], in_memory[1]
    directory = tempfile.mkdtemp(prefix="cpi-preflight-key-")
    _temp_dirs.append(directory)
    _remove_on_signals()
    return (_private_file(directory, "client.crt", pems["client.crt"]),
            _private_file(directory, "client.key", pems["client.key"]))


@atexit.register
def _cleanup() -> None:
    for directory in _temp_dirs:
        shutil.rmtree(directory, ignore_errors=True)
    _temp_dirs.clear()


def _remove_on_signals() -> None:
    """Remove the temporary copies on SIGTERM and SIGINT too (atexit does not run when a
    signal's default action ends the process), then let the signal do what it did before."""
    if _handled or threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        _handled[signum] = signal.getsignal(signum)
        signal.signal(signum, _on_signal)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _cleanup()
    previous = _handled.get(signum)
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _certificate_key(path: Path, fields: dict[str, Any]) -> tuple[Path, Path]:
    cert_text = _text(path, fields, "certificate")
    key_text = fields.get("key")
    if not isinstance(key_text, str) or "PRIVATE KEY" not in key_text:
        raise ProfileError(
            f"{path}: oauth.key: missing; a certificate_external key holds no private key, so "
            "set `certificate:` and `key:` in the profile to your own PEM files instead",
            path=path, key="oauth.key",
        )
    if "BEGIN CERTIFICATE" not in cert_text:
        raise ProfileError(f"{path}: oauth.certificate: is not a PEM certificate",
                           path=path, key="oauth.certificate")
    register(key_text)
    return _materialize(cert_text, key_text)


def token_url_for_certificate(path: Path, fields: dict[str, Any], token_url: str) -> str:
    """The mTLS token URL: `certurl` if the key has one, else the key's `tokenurl`, moved to
    XSUAA's `authentication.cert` host when it is on the plain one (which does not ask for the
    client certificate and answers 401: hosts.yaml, token_hosts)."""
    certurl = fields.get("certurl")
    if isinstance(certurl, str) and certurl.strip():
        return _url(path, fields, "certurl").rstrip("/") + "/oauth/token"
    return hosts.certificate_token_url(token_url) or token_url


def _name(instance: dict[str, Any]) -> str:
    name = instance.get("name")
    return f"'{cut(one_line(name), 60)}'" if isinstance(name, str) and name.strip() \
        else "(unnamed)"


def _instances(services: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, instance) of every service instance in a VCAP_SERVICES mapping."""
    return [(str(item.get("label", label)), item) for label, items in services.items()
            if isinstance(items, list) for item in items if isinstance(item, dict)]


def _from_vcap(path: Path, services: dict[str, Any]) -> tuple[object, str]:
    """The credentials of the one instance of label it-rt and plan api, and which it is."""
    instances = _instances(services)
    fitting = [item for label, item in instances
               if label == RUNTIME_LABEL and item.get("plan") == API_PLAN]
    if len(fitting) == 1:
        return (fitting[0].get("credentials"), f"the instance {_name(fitting[0])} (label "
                f"{RUNTIME_LABEL}, plan {API_PLAN}) of VCAP_SERVICES")
    wanted = f"label {RUNTIME_LABEL} and plan {API_PLAN} (Process Integration Runtime, plan api)"
    if fitting:
        names = ", ".join(_name(item) for item in fitting[:10])
        raise ProfileError(
            f"{path}: VCAP_SERVICES: {len(fitting)} instances have {wanted}: {names}; give the "
            "service key of the one to check, as `cf service-key <instance> <key>` prints it",
            path=path, key="VCAP_SERVICES")
    held = "; ".join(f"{_name(item)} (label {cut(one_line(label), 40)}, plan "
                     f"{cut(one_line(str(item.get('plan', '?'))), 40)})"
                     for label, item in instances[:10]) or "no instance"
    raise ProfileError(
        f"{path}: VCAP_SERVICES: no instance has {wanted} (it holds {held}); bind an instance "
        "of plan api, or give its service key as `cf service-key <instance> <key>` prints it",
        path=path, key="VCAP_SERVICES")


def _is_vcap(data: dict[str, Any]) -> bool:
    return bool(data) and all(isinstance(v, list) for v in data.values()) and any(
        isinstance(item, dict) and "credentials" in item
        for items in data.values() for item in items)


def _content(path: Path, data: object) -> tuple[object, str]:
    """The key itself inside what the user gave: the key, `cf service-key`'s
    `{"credentials": key}`, a VCAP_SERVICES JSON (or `{"VCAP_SERVICES": ...}`); and, for
    VCAP_SERVICES, which instance it is."""
    if not isinstance(data, dict) or "oauth" in data or "clientid" in data:
        return data, ""
    if isinstance(data.get("credentials"), dict):
        return data["credentials"], ""
    services = data.get("VCAP_SERVICES", data)
    if isinstance(services, dict) and _is_vcap(services):
        return _from_vcap(path, services)
    return data, ""


def _simulated(path: Path, content: object) -> str | None:
    marker = content.get(MARKER) if isinstance(content, dict) else None
    if marker is None:
        return None
    if not isinstance(marker, dict) or marker.get("simulated") != SIMULATED:
        raise ProfileError(f"{path}: {MARKER}: only a key written by `cpi-preflight sandbox` "
                           f'has this key, as {{"simulated": "{SIMULATED}"}}; {AGAIN}',
                           path=path, key=MARKER)
    return SIMULATED


def parse_service_key(path: Path, data: object) -> ServiceKey:
    """Read a service key's JSON (the key, cf's `credentials` wrapper or VCAP_SERVICES) into a
    `ServiceKey`."""
    path = message_path(path)
    try:
        files.check_structure(data)
    except StructureError as exc:
        raise ProfileError(f"{path}: {exc}; {AGAIN}", path=path) from None
    content, taken_from = _content(path, data)
    fields = _fields(path, content)
    client_id = _text(path, fields, "clientid")
    api_url, token_url = _url(path, fields, "url"), _url(path, fields, "tokenurl")
    simulated = _simulated(path, content)
    if "clientsecret" in fields:
        secret = Secret(_text(path, fields, "clientsecret"))
        return ServiceKey(api_url, token_url, client_id, secret, None, None, "secret",
                          simulated=simulated, taken_from=taken_from)
    if "certificate" not in fields:
        raise ProfileError(f"{path}: oauth: has neither clientsecret nor certificate; "
                           "is this a service key of a Process Integration Runtime instance?",
                           path=path, key="oauth")
    cert, key = _certificate_key(path, fields)
    details = fields.get("certificatedetails")
    valid_until = details.get("validuntil") if isinstance(details, dict) else None
    return ServiceKey(api_url, token_url_for_certificate(path, fields, token_url), client_id,
                      None, cert, key, "certificate", str(valid_until) if valid_until else None,
                      simulated=simulated, taken_from=taken_from)


def _after_cf_lines(path: Path, text: str) -> tuple[str, int]:
    """What follows the lines `cf service-key` prints before the JSON (`Getting key ... as
    ...`, a blank line): the text from the first line that starts with `{`, and how many
    lines came before it."""
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.lstrip().startswith("{"):
            return "".join(lines[index:]), index
    raise ProfileError(f"{path}: holds no JSON object (it starts: "
                       f"'{cut(one_line(text), 100)}'); give the service key as the BTP cockpit "
                       "downloads it, or as `cf service-key <instance> <key>` prints it",
                       path=path)


def _load(path: Path, text: str, skipped: int = 0) -> object:
    try:
        return files.load_json(text)
    except StructureError as exc:
        raise ProfileError(f"{path}: {exc}; {AGAIN}", path=path) from None
    except json.JSONDecodeError as exc:
        if skipped == 0 and exc.pos == len(text) - len(text.lstrip()) and text.strip():
            return _load(path, *_after_cf_lines(path, text))  # not JSON from its start
        raise ProfileError(f"{path}: invalid JSON at line {exc.lineno + skipped}, column "
                           f"{exc.colno}: {exc.msg}; {AGAIN}", path=path) from None


def service_key_from_text(path: Path, text: str) -> ServiceKey:
    """A service key from the text of a file or of standard input (`path` names it in
    messages): JSON, or what `cf service-key` prints; any problem is a `ProfileError`."""
    return parse_service_key(path, _load(path, text))


def read_service_key(path: Path) -> ServiceKey:
    """Load a service key file (a regular file, bounded, nested at most `files.MAX_DEPTH` deep,
    no lone surrogates), in any form `service_key_from_text` reads; any problem is a
    `ProfileError` naming it."""
    path = message_path(path)
    try:
        text = files.read_text(path, files.SERVICE_KEY_LIMIT)
    except UnicodeDecodeError:
        raise ProfileError(f"{path}: is not UTF-8 text; {AGAIN}", path=path) from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot be read: {exc.strerror}", path=path) from None
    return service_key_from_text(path, text)
