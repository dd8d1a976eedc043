"""Options typed as `--opt value` behave exactly like `--opt=value`, in the clone and outside.

pytest decides its rootdir before it knows our options; `--reports-dir /tmp/x` used to move the
rootdir to /tmp/x and collect the project's whole test suite. These tests run the real command
in both forms and compare what it collects (`--collect-only -q`) and which rootdir it reports.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cpi_preflight.sandbox import Sandbox, SandboxSpec

from .conftest import REPO

SANDBOX_CF_ITEMS = [
    "profiles/sandbox-cf.yaml::token",
    "profiles/sandbox-cf.yaml::api",
    "profiles/sandbox-cf.yaml::role[MonitoringDataRead]",
    "profiles/sandbox-cf.yaml::role[WorkspacePackagesRead]",
    "profiles/sandbox-cf.yaml::endpoint[MessageProcessingLogs]",
    "profiles/sandbox-cf.yaml::endpoint[IntegrationRuntimeArtifacts]",
    "profiles/sandbox-cf.yaml::endpoint[IntegrationPackages]",
    "profiles/sandbox-cf.yaml::endpoint[KeystoreEntries]",
    "profiles/sandbox-cf.yaml::least-privilege",
    "profiles/sandbox-cf.yaml::tls-expiry",
]
USER_CHECK = "checks/test_odata_shape.py::test_message_logs_answer_odata_v2_json[sandbox-cf]"
DRIFT = "profiles/sandbox-cf.yaml::drift"


def expected_items(option: str) -> list[str]:
    """What `--profile sandbox-cf` collects; a baseline adds the drift check."""
    return SANDBOX_CF_ITEMS + ([DRIFT] if option == "--baseline" else []) + [USER_CHECK]


def pytest_command(folder: Path, *args: str, env: dict[str, str] | None = None
                   ) -> subprocess.CompletedProcess[str]:
    """`pytest ARGS` exactly as typed (no options added), run in `folder`."""
    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=folder,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=180, check=False)


def collected(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The node ids of `--collect-only -q` output."""
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if "::" in line]


def rootdir(done: subprocess.CompletedProcess[str]) -> str:
    return next(line for line in done.stdout.splitlines() if line.startswith("rootdir: "))


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the clone, existing, for option values pytest could take for paths."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("option", ["--reports-dir", "--baseline", "--profiles-dir"])
def test_space_and_equals_forms_collect_the_same_in_the_clone(outside: Path,
                                                              option: str) -> None:
    value = outside
    if option == "--profiles-dir":
        value = outside / "profiles"
        shutil.copytree(REPO / "profiles", value)
    spaced = collected(pytest_command(REPO, "-p", "no:cacheprovider", "--profile", "sandbox-cf",
                                      option, str(value), "--collect-only", "-q"))
    joined = collected(pytest_command(REPO, "-p", "no:cacheprovider", "--profile=sandbox-cf",
                                      f"{option}={value}", "--collect-only", "-q"))
    assert spaced == joined
    if option == "--profiles-dir":  # a profile outside the rootdir: its absolute path
        assert spaced == [i.replace("profiles/", f"{value.as_posix()}/", 1)
                          for i in expected_items(option)]
    else:
        assert spaced == expected_items(option)


def test_the_rootdir_stays_the_clone_with_a_folder_outside(outside: Path) -> None:
    done = pytest_command(REPO, "-p", "no:cacheprovider", "--profile", "sandbox-cf",
                          "--reports-dir", str(outside), "--collect-only")
    assert rootdir(done) == f"rootdir: {REPO}"
    assert "configfile: pyproject.toml" in done.stdout
    assert "testpaths: checks" in done.stdout


def test_space_form_in_pytest_addopts_is_read_right(outside: Path) -> None:
    done = pytest_command(REPO, "-p", "no:cacheprovider", "--collect-only", "-q",
                          env={"PYTEST_ADDOPTS": f"--profile sandbox-cf --reports-dir {outside}"})
    assert collected(done) == expected_items("--reports-dir")


def test_the_readme_ci_command_runs_only_the_checks(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    done = pytest_command(REPO, "-p", "no:cacheprovider", "--profile", "sandbox-cf",
                          "--reports-dir", str(reports))
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 11 passed in " in done.stdout.splitlines()[-1]
    assert (reports / "sandbox-cf" / "junit.xml").is_file()


# --- outside the clone: a user's folder with the installed plugin -------------------------


@pytest.fixture
def users_folder(tmp_path: Path) -> Path:
    """What a user has: profiles/, checks/, and unrelated tests pytest must leave alone."""
    folder = tmp_path / "project"
    shutil.copytree(REPO / "profiles", folder / "profiles")
    shutil.copytree(REPO / "checks", folder / "checks",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "test_unrelated.py").write_text("def test_not_a_check():\n    pass\n")
    (folder / "tests").mkdir()
    (folder / "tests" / "test_other.py").write_text("def test_other():\n    pass\n")
    return folder


@pytest.mark.parametrize("option", ["--reports-dir", "--baseline"])
def test_space_and_equals_forms_collect_the_same_outside_the_clone(
        users_folder: Path, outside: Path, option: str) -> None:
    spaced = collected(pytest_command(users_folder, "--profile", "sandbox-cf", option,
                                      str(outside), "--collect-only", "-q"))
    joined = collected(pytest_command(users_folder, "--profile", "sandbox-cf",
                                      f"{option}={outside}", "--collect-only", "-q"))
    assert spaced == joined == expected_items(option)


def test_outside_the_clone_the_rootdir_is_the_users_folder(users_folder: Path,
                                                          outside: Path) -> None:
    done = pytest_command(users_folder, "--profile", "sandbox-cf", "--reports-dir",
                          str(outside), "--collect-only")
    assert rootdir(done) == f"rootdir: {users_folder}"


def test_named_test_paths_are_still_collected_with_a_profile(users_folder: Path) -> None:
    done = pytest_command(users_folder, "--profile", "sandbox-cf", "test_unrelated.py",
                          "--collect-only", "-q")
    assert collected(done) == [*SANDBOX_CF_ITEMS, "test_unrelated.py::test_not_a_check"]


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox.start(SandboxSpec.from_mapping({"roles": ["MonitoringDataRead"]},
                                                environment="cf")) as running:
        yield running


def test_the_command_init_prints_works_as_typed(sandbox, tmp_path: Path) -> None:
    """`cpi-preflight init --profiles-dir DIR` prints `pytest --profile NAME --profiles-dir=DIR`
    (or `<python> -m pytest ...` when the `pytest` on PATH is another installation's); typed as
    printed, from the user's folder, it runs the profile's checks and nothing else."""
    folder = tmp_path / "project"
    (folder / "checks").mkdir(parents=True)
    (folder / "test_unrelated.py").write_text("def test_not_a_check():\n    pass\n")
    key = tmp_path / "key.json"
    key.write_text(json.dumps(sandbox.connection.service_key))
    shared = tmp_path / "team-profiles"
    env = {**os.environ, "SSL_CERT_FILE": sandbox.connection.ca_path}
    made = subprocess.run([sys.executable, "-m", "cpi_preflight.cli", "init", "--service-key",
                           str(key), "--name", "prod-cf", "--profiles-dir", str(shared)],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert made.returncode == 0, made.stderr
    printed = made.stdout.strip().splitlines()[-1]
    words = shlex.split(printed)
    assert words[words.index("pytest") + 1:] == ["--profile", "prod-cf", f"--profiles-dir={shared}"]
    secret = sandbox.connection.client_secret
    assert secret is not None
    done = pytest_command(folder, *words[words.index("pytest") + 1:], "-p", "no:cacheprovider",
                          env={"SSL_CERT_FILE": sandbox.connection.ca_path,
                               "CPI_PROD_CF_CLIENT_SECRET": secret})
    assert done.returncode == 0, done.stdout + done.stderr
    assert rootdir(done) == f"rootdir: {folder}"
    assert " 7 passed in " in done.stdout.splitlines()[-1]
    assert "test_unrelated" not in done.stdout
