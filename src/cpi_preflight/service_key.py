"""Cloud Foundry service keys of the Process Integration Runtime (plan api), as downloaded.

Two key types exist: client id/secret and certificate (SAP Help "Creating Service Instance and
Service Key for Inbound Authentication": SAP-docs/btp-integration-suite, docs/ci/ConnectionSetup/
creating-service-instance-and-service-key-for-inbound-authentication-19af5e2.md). Whether the
certificate type nests its fields under `oauth` like the secret type is unconfirmed (SAP's
tutorial shows that key only as an image), so both shapes are read. A certificate key's PEM
blocks must reach Python's TLS layer as files: they are kept in anonymous in-memory files where
the platform has them (Linux), else in private temporary files removed at exit and on
SIGTERM/SIGINT.
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

_temp_dirs: list[str] = []
_memory_fds: list[int] = []
_handled: dict[int, Any] = {}
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


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
                           "download the service key again from the BTP cockpit",
                           path=path, key=f"oauth.{name}")
    return value.strip()


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


def token_url_for_certificate(fields: dict[str, Any], token_url: str) -> str:
    """The mTLS token URL: `certurl` if the key has one, else the key's `tokenurl`, moved to
    XSUAA's `authentication.cert` host when it is on the plain one (which does not ask for the
    client certificate and answers 401: hosts.yaml, token_hosts)."""
    certurl = fields.get("certurl")
    if isinstance(certurl, str) and certurl.strip():
        return certurl.strip().rstrip("/") + "/oauth/token"
    return hosts.certificate_token_url(token_url) or token_url


def parse_service_key(path: Path, data: object) -> ServiceKey:
    """Read a service key's JSON object into a `ServiceKey`."""
    path = message_path(path)
    try:
        files.check_structure(data)
    except StructureError as exc:
        raise ProfileError(f"{path}: {exc}; download the service key again from the BTP "
                           "cockpit", path=path) from None
    fields = _fields(path, data)
    client_id = _text(path, fields, "clientid")
    api_url, token_url = _text(path, fields, "url"), _text(path, fields, "tokenurl")
    if "clientsecret" in fields:
        secret = Secret(_text(path, fields, "clientsecret"))
        return ServiceKey(api_url, token_url, client_id, secret, None, None, "secret")
    if "certificate" not in fields:
        raise ProfileError(f"{path}: oauth: has neither clientsecret nor certificate; "
                           "is this a service key of a Process Integration Runtime instance?",
                           path=path, key="oauth")
    cert, key = _certificate_key(path, fields)
    details = fields.get("certificatedetails")
    valid_until = details.get("validuntil") if isinstance(details, dict) else None
    return ServiceKey(api_url, token_url_for_certificate(fields, token_url), client_id, None,
                      cert, key, "certificate", str(valid_until) if valid_until else None)


def read_service_key(path: Path) -> ServiceKey:
    """Load a service key JSON file (a regular file, bounded, nested at most
    `files.MAX_DEPTH` deep, no lone surrogates); any problem is a `ProfileError` naming it."""
    again = "download the service key again from the BTP cockpit"
    path = message_path(path)
    try:
        data = files.load_json(files.read_text(path, files.SERVICE_KEY_LIMIT))
    except StructureError as exc:
        raise ProfileError(f"{path}: {exc}; {again}", path=path) from None
    except UnicodeDecodeError:
        raise ProfileError(f"{path}: is not UTF-8 text; {again}", path=path) from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot be read: {exc.strerror}", path=path) from None
    except json.JSONDecodeError as exc:
        raise ProfileError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                           f"{exc.msg}; {again}", path=path) from None
    return parse_service_key(path, data)
