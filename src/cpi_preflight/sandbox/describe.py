"""Human-readable description of a running sandbox (URLs, credentials, a profile and curl
lines) or replay (the recorded hosts, a profile and the pytest line)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from cpi_preflight.sandbox.connection import SandboxConnection
from cpi_preflight.sandbox.instance import Sandbox
from cpi_preflight.sandbox.replay import Replay
from cpi_preflight.text import one_line

SECRET_VARIABLE = "CPI_SANDBOX_CLIENT_SECRET"  # the pasted profile reads the secret from it
KEY_FILE = "sandbox-key.json"  # not key.json: that may be a real tenant's key


def profile_mapping(sandbox: Sandbox) -> dict[str, Any]:
    """A profile (keys of `profiles/*.yaml`) that points at this sandbox; the secret stays in
    the environment variable `SECRET_VARIABLE`, never in the profile."""
    conn = sandbox.connection
    profile: dict[str, Any] = {"environment": conn.environment, "api_url": conn.api_url,
                               "token_url": conn.token_url, "client_id": conn.client_id}
    if conn.client_secret is not None:
        profile["client_secret"] = f"${{{SECRET_VARIABLE}}}"
    if conn.certificate_path and conn.key_path:
        profile.update(certificate=conn.certificate_path, key=conn.key_path)
    profile.update(ca_bundle=conn.ca_path, required_roles=list(sandbox.spec.roles),
                   simulated="sandbox")
    return profile


def _export(name: str, value: str) -> str:
    return f"export {name}={shlex.quote(value)}"


def _token_curl(conn: SandboxConnection) -> str:
    ca = f"--cacert {shlex.quote(conn.ca_path)}"
    if conn.certificate_path and conn.key_path:
        return (f"curl {ca} --cert {shlex.quote(conn.certificate_path)} --key "
                f"{shlex.quote(conn.key_path)} -d {shlex.quote('client_id=' + conn.client_id)} "
                f"-d grant_type=client_credentials {shlex.quote(conn.token_url)}")
    user = shlex.quote(f"{conn.client_id}:{conn.client_secret}")
    if conn.environment == "neo":
        url = shlex.quote(conn.token_url + "?grant_type=client_credentials")
        return f"curl {ca} -u {user} -X POST {url}"
    return f"curl {ca} -u {user} -d grant_type=client_credentials {shlex.quote(conn.token_url)}"


def _token_into_variable(conn: SandboxConnection) -> str:
    """The token request, its access_token kept in $TOKEN for the API call after it."""
    pick = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])'"
    return f"TOKEN=$({_token_curl(conn)} -s | {pick})"


def _edge_curl(conn: SandboxConnection) -> str:
    """The Edge Integration Cell's local API: Basic credentials or the client certificate."""
    url = shlex.quote(f"{conn.api_url}/local/api/v1/MessageProcessingLogs?$top=1")
    ca = f"--cacert {shlex.quote(conn.ca_path)}"
    if conn.certificate_path and conn.key_path:
        who = (f"--cert {shlex.quote(conn.certificate_path)} "
               f"--key {shlex.quote(conn.key_path)}")
    else:
        who = f"-u {shlex.quote(f'{conn.client_id}:{conn.client_secret}')}"
    return f'curl {ca} {who} -H "Accept: application/json" {url}'


def _try_lines(conn: SandboxConnection) -> list[str]:
    """The commands that show the tenant answering, through the proxy when there is one."""
    lines = [_edge_curl(conn)] if conn.environment == "edge" else [
        _token_into_variable(conn), _api_curl(conn)]
    if conn.proxy_url:
        lines.insert(0, f"export HTTPS_PROXY={shlex.quote(proxy_with_credentials(conn))}")
    return ["  " + line for line in lines]


def proxy_with_credentials(conn: SandboxConnection) -> str:
    """The proxy URL with its user and password percent-encoded into it, as proxy variables
    take them (just the URL when the proxy wants none)."""
    assert conn.proxy_url is not None
    if conn.proxy_user is None or conn.proxy_password is None:
        return conn.proxy_url
    userinfo = f"{quote(conn.proxy_user, safe='')}:{quote(conn.proxy_password, safe='')}"
    return conn.proxy_url.replace("http://", f"http://{userinfo}@", 1)


def _api_curl(conn: SandboxConnection) -> str:
    url = shlex.quote(f"{conn.api_url}/api/v1/MessageProcessingLogs?$top=1")
    return (f'curl --cacert {shlex.quote(conn.ca_path)} -H "Authorization: Bearer $TOKEN" '
            f'-H "Accept: application/json" {url}')


def init_command(sandbox: Sandbox, key_file: Path) -> str:
    """The `cpi-preflight init` line that turns this tenant's service key into a profile (a
    certificate key's PEM files are written beside it, so the line runs as printed)."""
    name = f"my-sandbox-{sandbox.connection.environment}"
    pems = f" --write-pem {shlex.quote(str(key_file.parent / (name + '-pem')))}" \
        if sandbox.connection.certificate_path else ""
    return (f"cpi-preflight init --service-key {shlex.quote(str(key_file))} --name {name} "
            f"--ca-bundle {shlex.quote(sandbox.connection.ca_path)}{pems}")


def neo_init_lines(sandbox: Sandbox) -> list[str]:
    """The lines that write a profile for a Neo tenant, which has no service key: the secret's
    `export`, then `cpi-preflight init` with the connection options (`--simulated`: the
    profile says the tenant is this sandbox)."""
    conn, name = sandbox.connection, "my-sandbox-neo"
    variable = f"CPI_{name.upper().replace('-', '_')}_CLIENT_SECRET"
    return [_export(variable, conn.client_secret or ""),
            f"cpi-preflight init --environment neo --name {name} --api-url "
            f"{shlex.quote(conn.api_url)} --token-url {shlex.quote(conn.token_url)} --client-id "
            f"{shlex.quote(conn.client_id)} --ca-bundle {shlex.quote(conn.ca_path)} --simulated"]


def _setup_lines(sandbox: Sandbox, key_file: Path | None) -> list[str]:
    if sandbox.connection.environment == "neo":
        return ["", "Set up a profile for it (Neo has no service key):",
                *["  " + line for line in neo_init_lines(sandbox)]]
    key = sandbox.connection.service_key
    if not key or key_file is not None:
        return []
    shown = json.dumps(key, indent=2).splitlines()
    return ["", f"Service key (save as {KEY_FILE}, or start the sandbox with --service-key "
            f"{KEY_FILE}; then: " + init_command(sandbox, Path(KEY_FILE)) + "):",
            *["  " + line for line in shown]]


def _profile_lines(sandbox: Sandbox) -> list[str]:
    profile = yaml.safe_dump(profile_mapping(sandbox), sort_keys=False, width=1000)
    lines = ["", "Profile (paste into profiles/<name>.yaml):",
             *["  " + line for line in profile.splitlines()]]
    secret = sandbox.connection.client_secret
    if secret is not None:
        lines += ["Its secret, read from the environment (set it in this shell):",
                  "  " + _export(SECRET_VARIABLE, secret)]
    return lines


def describe(sandbox: Sandbox, index: int, count: int, key_file: Path | None = None) -> str:
    """The text printed by `python -m cpi_preflight.sandbox` for one tenant."""
    conn = sandbox.connection
    lines = [f"cpi-preflight sandbox {index} of {count} ({conn.environment})"]
    lines += [f"  {name:<12}{url}" for name, url in sandbox.urls.items()]
    lines += [f"  {'client id':<12}{conn.client_id}",
              f"  {'secret':<12}{conn.client_secret or '(certificate key type)'}",
              f"  {'CA':<12}{conn.ca_path}"]
    if conn.certificate_path:
        lines += [f"  {'certificate':<12}{conn.certificate_path}", f"  {'key':<12}{conn.key_path}"]
    if conn.environment == "edge":  # no token URL: not a profile the product reads today
        lines += ["", "The Edge Integration Cell's local API is under /local/api/v1 and takes "
                  "these credentials directly (no token endpoint)."]
    else:
        lines += _profile_lines(sandbox)
    lines += _setup_lines(sandbox, key_file)
    lines += ["", "Try it:", *_try_lines(conn), ""]
    return "\n".join(lines)


PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # as profile files are named


def run_command(profile_file: Path | None) -> str:
    """The pytest line that runs a profile file's checks (`<name>` when it was not written, or
    its name is not a profile's)."""
    if profile_file is None or not PROFILE_NAME.match(profile_file.stem):
        return "pytest --profile <name>"
    folder = profile_file.parent
    where = "" if folder == Path("profiles") else f" --profiles-dir {shlex.quote(str(folder))}"
    return f"pytest --profile {profile_file.stem}{where}"


def describe_replay(replay: Replay, har: Path, profile_file: Path | None = None) -> str:
    """The text printed by `cpi-preflight sandbox --replay FILE`."""
    recording = replay.recording
    settings = recording.settings
    answers = sum(len(found) for hosts in recording.answers.values() for found in hosts.values())
    lines = [f"cpi-preflight sandbox --replay {one_line(str(har))} ({recording.environment})",
             f"  {answers} recorded answers of profile "
             f"{one_line(str(settings.get('profile') or '?'))}"]
    lines += [f"  {one_line(old)} -> {new}" for old, new in replay.answers.moved.items()]
    lines += [f"  {'CA':<12}{replay.ca_path}", ""]
    if profile_file is not None:
        lines += [f"Wrote the profile to {profile_file}. Run the recorded profile's checks "
                  "against the replay:"]
    else:
        profile = yaml.safe_dump(replay.profile, sort_keys=False, width=1000)
        lines += ["Profile (paste into profiles/<name>.yaml):",
                  *["  " + line for line in profile.splitlines()], "",
                  "Run the recorded profile's checks against the replay:"]
    lines += ["", "  " + run_command(profile_file), ""]
    return "\n".join(lines)
