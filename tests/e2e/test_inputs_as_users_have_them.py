"""Inputs as users have them, end to end, every command run as printed (in bash).

`cf service-key` output piped into `init --service-key -`; a stopped sandbox named as such, with
the command that starts it again; the Neo sandbox's printed lines; `--profile all` naming every
profile that cannot be used; `--profile /abs/path.yaml` from another folder; usage errors that
never echo a password or another variable and stay printable.
"""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ..background import Background
from .conftest import REPO
from .test_first_run import _bash, _user_env, sandbox_command

CF_OUTPUT = ("{ echo 'Getting key cpi-key for service instance cpi-api as admin@example.com...'; "
             "echo; python3 -c 'import json, sys; print(json.dumps({\"credentials\": "
             "json.load(sys.stdin)}, indent=2))' < sandbox-key.json; }")
STOPPED = ("ca_bundle: file {ca} does not exist: the sandbox that wrote this profile is no longer "
           "running; start it again with `{command}` and run the `cpi-preflight init` line it "
           "prints with `--name my-sandbox-cf --force`")


def _told(init_output: str) -> list[str]:
    """The lines init asks the user to run: its export line and the pytest command."""
    return [line for line in init_output.splitlines()
            if line.startswith(("export ", "pytest ", f"{sys.executable} "))]


def _start(folder: Path, *args: str) -> tuple[Background, list[str]]:
    sandbox = sandbox_command(folder, *args)
    return sandbox, sandbox.until("Serving; press Ctrl-C to stop.")


def _stop(sandbox: Background) -> None:
    sandbox.proc.send_signal(signal.SIGTERM)
    sandbox.proc.wait(timeout=10)


def test_cf_output_into_init_then_a_stopped_sandbox_says_how_to_start_it_again(
        tmp_path: Path) -> None:
    sandbox, printed = _start(tmp_path, "--service-key", "sandbox-key.json")
    try:
        init_line = printed[printed.index("Wrote the service key to sandbox-key.json (mode "
                                          "0600). Set up a profile from it:") + 2].strip()
        piped = init_line.replace("--service-key sandbox-key.json", "--service-key -")
        init = _bash(tmp_path, f"{CF_OUTPUT} | {piped}")
        assert (init.returncode, init.stderr) == (0, "")
        written = yaml.safe_load((tmp_path / "profiles" / "my-sandbox-cf.yaml").read_text())
        assert written["simulated"] == "sandbox"
        ca = written["ca_bundle"]
        told = _told(init.stdout)
        run = _bash(tmp_path, "\n".join(told))
        assert run.returncode == 0, run.stdout[-3000:]
    finally:
        _stop(sandbox)
    stopped = _bash(tmp_path, "\n".join(told))
    assert stopped.returncode == 4
    command = "cpi-preflight sandbox --service-key sandbox-key.json --force"
    assert (f"ERROR: profiles/my-sandbox-cf.yaml: {STOPPED.format(ca=ca, command=command)}"
            in stopped.stderr.splitlines())
    again, printed = _start(tmp_path, *shlex.split(command)[2:])  # as the message says
    try:
        init_line = printed[printed.index("Wrote the service key to sandbox-key.json (mode "
                                          "0600). Set up a profile from it:") + 2].strip()
        init = _bash(tmp_path, f"{init_line} --force")
        assert (init.returncode, init.stderr) == (0, "")
        run = _bash(tmp_path, "\n".join(_told(init.stdout)))
        assert run.returncode == 0, run.stdout[-3000:]
    finally:
        _stop(again)


@pytest.mark.parametrize("environment_option", [" --environment neo", ""],
                         ids=["as printed", "without --environment"])
def test_the_neo_sandbox_lines_then_init_lines_run_as_printed(
        tmp_path: Path, environment_option: str) -> None:
    """The Neo sandbox's export and init lines as printed; without `--environment neo` the token
    URL's shape says Neo, and init says so."""
    sandbox, printed = _start(tmp_path, "--environment", "neo")
    try:
        start = printed.index("Set up a profile for it (Neo has no service key):")
        export, init_line = (line.strip() for line in printed[start + 1:start + 3])
        assert " --environment neo " in init_line
        init_line = init_line.replace(" --environment neo", environment_option)
        init = _bash(tmp_path, f"{export}\n{init_line}")
        assert (init.returncode, init.stderr) == (0, "")
        assert ("The secret is not in the profile; it is read from "
                "CPI_MY_SANDBOX_NEO_CLIENT_SECRET, which is set in this shell (in CI, store it "
                "as the secret CPI_MY_SANDBOX_NEO_CLIENT_SECRET).") in init.stdout
        inferred = "Environment: Neo, from the shape of --token-url" in init.stdout
        assert inferred == (not environment_option)
        written = yaml.safe_load((tmp_path / "profiles" / "my-sandbox-neo.yaml").read_text())
        assert (written["environment"], written["simulated"]) == ("neo", "sandbox")
        run = _bash(tmp_path, "\n".join([export, *_told(init.stdout)]))
        assert run.returncode == 0, run.stdout[-3000:]
        assert re.search(r"^  token +passed$", run.stdout, re.M)
    finally:
        _stop(sandbox)


# --- usage errors (exit 4) --------------------------------------------------------------------

PASSWORD = "pa&<>\"'$ss"
TOKEN = "ghp_&<>\"'$0123456789"


def _profile(folder: Path, name: str, **values: object) -> None:
    data = {"environment": "cf", "api_url": "https://tenant.example.com",
            "token_url": "https://sub.authentication.eu10.hana.ondemand.com/oauth/token",
            "client_id": "sb-1!b2|it!b3", "client_secret": f"${{CPI_{name.upper()}_SECRET}}",
            "required_roles": ["MonitoringDataRead"], **values}
    (folder / "profiles").mkdir(parents=True, exist_ok=True)
    (folder / "profiles" / f"{name}.yaml").write_text(yaml.safe_dump(data))


def _pytest(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=folder, env={**_user_env(), **env}, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.parametrize(("values", "message", "hidden"), [
    ({"api_url": f"https://user:{PASSWORD}@tenant.example.com",
      "token_url": "https://sub.authentication.eu10.hana.ondemand.com:443@evil.example/oauth"},
     "api_url: the URL holds a user name or password before '@' (https://***@tenant.example."
     "com); it would connect to tenant.example.com and send them instead of the client's "
     "credentials: remove everything between :// and @", PASSWORD),
    ({"description": "${GITHUB_TOKEN}"},
     "description: ${GITHUB_TOKEN}: environment variables are read only in client_secret, "
     "certificate, key, service_key, and what they hold is masked as a secret; write the value "
     "itself here", TOKEN),
], ids=["user info in a URL", "another variable in the description"])
def test_a_usage_error_never_shows_a_password_or_another_variable(
        tmp_path: Path, values: dict[str, str], message: str, hidden: str) -> None:
    _profile(tmp_path, "p", **values)
    done = _pytest(tmp_path, "--profile", "p", CPI_P_SECRET=PASSWORD + "2", GITHUB_TOKEN=TOKEN)
    assert done.returncode == 4
    assert done.stderr.splitlines()[0] == f"ERROR: profiles/p.yaml: {message}"
    assert hidden not in done.stdout + done.stderr
    assert not (tmp_path / "reports").exists()


def test_profile_all_names_every_profile_that_cannot_be_used_printably(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        _profile(tmp_path, name)
    _profile(tmp_path, "d", required_roles=["Monitor\x1b]52;c;ZXZpbA==\x07\nERROR: fine"])
    done = _pytest(tmp_path, "--profile", "all", CPI_B_SECRET=PASSWORD, CPI_D_SECRET=PASSWORD)
    assert done.returncode == 4
    unset = ("environment variable CPI_{0}_SECRET is not set; export CPI_{0}_SECRET='...' "
             "(single quotes: secrets may hold $) before running; in CI, pass the secret or "
             "variable to this job")
    assert done.stderr.splitlines()[:4] == [
        "ERROR: 3 profiles cannot be used:",
        f"  profiles/a.yaml: client_secret: {unset.format('A')}",
        f"  profiles/c.yaml: client_secret: {unset.format('C')}",
        "  profiles/d.yaml: required_roles item 1: unknown CF role template 'Monitor ERROR: "
        "fine'; run `cpi-preflight catalog` for the list"]
    assert "\x1b" not in done.stderr


def test_a_profile_path_works_from_any_folder(tmp_path: Path) -> None:
    elsewhere = tmp_path / "project" / "profiles"
    elsewhere.mkdir(parents=True)
    (elsewhere / "mine.yaml").write_text((REPO / "profiles" / "sandbox-cf.yaml").read_text())
    here = tmp_path / "somewhere"
    here.mkdir()
    done = _pytest(here, "--profile", str(elsewhere / "mine.yaml"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert (here / "reports" / "mine" / "evidence.json").is_file()
