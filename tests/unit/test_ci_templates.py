"""The CI files (the GitHub Action, the two templates, the GitLab include) and the example files
under examples/: valid, safe with any input, and in step with the README.

Each shell step runs here alone with stand-ins for pip, pytest and cpi-preflight; the baseline
steps are in test_ci_baseline.py, whole jobs against the sandbox in tests/e2e/test_ci_steps.py.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from cpi_preflight import profile
from cpi_preflight.service_key import read_service_key
from tests.ci_files import (
    ACTION,
    ACTION_USES,
    EXPRESSION,
    GITHUB,
    GITLAB,
    GITLAB_INCLUDE,
    action_inputs,
    action_step,
    action_steps,
    bash,
    github_job,
    gitlab_job,
    load,
    workflow_commands,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
JUNIT_GLOB = "reports/*/junit.xml"
BASELINE_DIR = ".cpi-preflight/baseline"
_HEADING = re.compile(r"^#+\s.*Scheduled", re.IGNORECASE)
_FENCE = re.compile(r"^```")


def _scheduled_section(lines: list[str]) -> list[str]:
    """The lines from the "Scheduled" heading to the next heading of the same level."""
    start = next((i for i, line in enumerate(lines) if _HEADING.match(line)), None)
    if start is None:
        return []
    level = len(lines[start]) - len(lines[start].lstrip("#"))
    section, inside = [], False
    for line in lines[start + 1:]:
        inside = inside != bool(_FENCE.match(line))
        if not inside and re.match(rf"^#{{1,{level}}}\s", line):
            break
        section.append(line)
    return section


def _code_in_scheduled_section(lines: list[str]) -> list[str]:
    """Lines of the first fenced block of the "Scheduled" section."""
    code: list[str] = []
    inside = False
    for line in _scheduled_section(lines):
        if _FENCE.match(line):
            if inside:
                break
            inside = True
        elif inside:
            code.append(line)
    return code


def readme_command(readme: Path = ROOT / "README.md") -> str:
    """The `pytest --profile ...` line of the README's "Scheduled CI" section."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    commands = [line.strip() for line in _code_in_scheduled_section(lines)
                if line.strip().startswith("pytest ")]
    if len(commands) != 1:
        pytest.fail(f"{readme}: expected a section whose heading contains 'Scheduled' with one "
                    "fenced block holding the CI command, e.g. `pytest --profile prod-cf "
                    f"--reports-dir reports`; found {commands or 'none'}")
    return commands[0]


def readme_yaml_blocks(readme: Path = ROOT / "README.md") -> list[Any]:
    """The ```yaml blocks of the "Scheduled CI" section, parsed."""
    blocks: list[Any] = []
    current: list[str] | None = None
    for line in _scheduled_section(readme.read_text(encoding="utf-8").splitlines()):
        if current is None and line.strip() == "```yaml":
            current = []
        elif current is not None and _FENCE.match(line.strip()):
            blocks.append(yaml.safe_load("\n".join(current)))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def test_command_is_read_from_the_scheduled_section_only(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n```sh\npytest --profile other\n```\n\n## Scheduled CI\n\n"
                      "text\n\n```sh\n# comment\npytest --profile a --reports-dir r\n```\n\n"
                      "## Next\n\n```sh\npytest --profile later\n```\n", encoding="utf-8")
    assert readme_command(readme) == "pytest --profile a --reports-dir r"


def test_a_readme_without_the_section_fails_with_what_to_add(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n```sh\npytest --profile other\n```\n", encoding="utf-8")
    with pytest.raises(pytest.fail.Exception, match="heading contains 'Scheduled'"):
        readme_command(readme)


def test_yaml_blocks_are_read_from_the_section_and_its_subsections(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("```yaml\nbefore: 1\n```\n## Scheduled CI\n```yaml\na: 1\n```\n"
                      "### GitLab\n```yaml\n# comment\nb: [2]\n```\n## Next\n```yaml\nc: 3\n```\n",
                      encoding="utf-8")
    assert readme_yaml_blocks(readme) == [{"a": 1}, {"b": [2]}]


def test_readme_names_the_ci_command() -> None:
    assert readme_command() == ("pytest --profile prod-cf --reports-dir reports "
                                f"--baseline={BASELINE_DIR}")


# --- the GitHub workflow -------------------------------------------------------------------------

def _on(data: dict[Any, Any]) -> dict[str, Any]:
    triggers = data.get("on", data.get(True))  # YAML 1.1 reads the key `on` as true
    assert isinstance(triggers, dict)
    return triggers


def _action_in_template() -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in github_job()["steps"]
                                   if s.get("uses") == ACTION_USES]
    assert len(found) == 1, f"{GITHUB}: expected one step `uses: {ACTION_USES}`"
    return found[0]


def test_github_workflow_runs_on_schedule_and_by_hand() -> None:
    data = load(GITHUB)
    triggers = _on(data)
    assert re.fullmatch(r"[\d*/,-]+( [\d*/,-]+){4}", triggers["schedule"][0]["cron"])
    assert "workflow_dispatch" in triggers
    assert data["permissions"] == {"contents": "read", "checks": "write", "actions": "read"}


def test_github_workflow_runs_one_job_per_profile_through_the_action() -> None:
    job = github_job()
    assert job["strategy"]["fail-fast"] is False
    assert job["strategy"]["matrix"]["profile"] == ["prod-cf"]
    assert [s.get("uses", "").split("@")[0] for s in job["steps"]] == [
        "actions/checkout", "<your-org>/cpi-preflight", "mikepenz/action-junit-report"]
    step = _action_in_template()
    assert step["with"] == {"profiles": "${{ matrix.profile }}"}
    assert step["env"] == {"CPI_PROD_CF_CLIENT_SECRET": "${{ secrets.CPI_PROD_CF_CLIENT_SECRET }}"}
    assert not any("run" in s for s in job["steps"]), "the action does the work, not the template"


def test_github_workflow_publishes_junit_always() -> None:
    junit = github_job()["steps"][-1]
    assert junit["if"] == "always()"
    assert junit["with"]["report_paths"] == JUNIT_GLOB
    assert junit["with"]["check_name"] == "cpi-preflight (${{ matrix.profile }})"


# --- the action -----------------------------------------------------------------------------------

def test_action_inputs_and_their_defaults() -> None:
    inputs = action_inputs()
    assert {name: (spec.get("required", False), spec.get("default"))
            for name, spec in inputs.items()} == {
        "profiles": (True, None), "profiles-dir": (False, ""), "strict": (False, "false"),
        "baseline": (False, "true"), "version": (False, ""), "python-version": (False, "3.11"),
        "retention-days": (False, "90"), "token": (False, "${{ github.token }}")}
    assert all(spec["description"] for spec in inputs.values())


def test_action_steps_and_what_runs_always() -> None:
    steps = action_steps()
    assert [(s["name"], s.get("if")) for s in steps] == [
        ("Set up Python", None), ("Check the inputs", None), ("Install cpi-preflight", None),
        ("Fetch the baseline (the reports of the last completed run)", None),
        ("Check the API clients", None),
        ("Summary on the job page", "always() && steps.plan.outcome == 'success'"),
        ("Keep the reports", "always() && steps.plan.outcome == 'success'")]
    assert steps[0]["uses"] == "actions/setup-python@v5"
    assert steps[0]["with"] == {"python-version": "${{ inputs.python-version }}"}
    upload = action_step("Keep the reports")
    assert upload["uses"] == "actions/upload-artifact@v4"
    assert upload["with"] == {"name": "${{ steps.plan.outputs.artifact }}", "path": "reports/",
                              "retention-days": "${{ inputs.retention-days }}",
                              "if-no-files-found": "warn"}


def _scripts() -> list[tuple[str, str]]:
    """(where, script) of every shell script the CI files hold."""
    found = [(f"{ACTION.name}: {s['name']}", str(s["run"])) for s in action_steps() if "run" in s]
    found += [(f"{GITHUB.name}: {s.get('name')}", str(s["run"]))
              for s in github_job()["steps"] if "run" in s]
    found += [(f"{GITLAB_INCLUDE.name}: script {n}", str(s))
              for n, s in enumerate(gitlab_job()["script"])]
    return found


def test_no_script_has_an_expression_inside_values_come_through_the_environment() -> None:
    scripts = _scripts()
    assert len(scripts) == 9
    for where, script in scripts:
        assert "${{" not in script, where
        assert "$[[" not in script, where
    for step in action_steps():
        for key, value in step.get("env", {}).items():
            assert EXPRESSION.fullmatch(str(value)), f"{step['name']}: env {key}: {value!r}"


def test_the_rule_check_sees_an_expression_in_a_script(tmp_path: Path) -> None:
    flipped = tmp_path / "action.yml"
    flipped.write_text(ACTION.read_text().replace('pytest "${args[@]}"',
                                                  'pytest --profile "${{ inputs.profiles }}"'))
    scripts = [str(s["run"]) for s in action_steps(flipped) if "run" in s]
    assert sum("${{" in script for script in scripts) == 1


def _env(tmp_path: Path, stubs: dict[str, str] | None = None, /,
         **values: str) -> dict[str, str]:
    """The step's environment, with stand-in programs that print their arguments as JSON."""
    bin_dir = tmp_path / "stubs"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, body in (stubs or {}).items():
        (bin_dir / name).write_text("#!/usr/bin/env python3\nimport json, sys\n" + body)
        (bin_dir / name).chmod(0o755)
    output = tmp_path / "output"
    output.write_text("")
    return {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path),
            "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
            "GITHUB_ACTION_PATH": "/home/runner/work/_actions/acme/cpi-preflight/v1", **values}


PLAN = {"PROFILES": "prod-cf", "STRICT": "false", "BASELINE": "true", "RETENTION_DAYS": "90"}


def _plan(tmp_path: Path, **values: str) -> tuple[int, str, str]:
    env = _env(tmp_path, **{**PLAN, **values})
    done = bash(action_step("Check the inputs")["run"], tmp_path, env)
    return done.returncode, done.stdout + done.stderr, Path(env["GITHUB_OUTPUT"]).read_text()


def test_action_input_check_gives_the_profiles_and_the_artifact_name(tmp_path: Path) -> None:
    assert _plan(tmp_path) == (0, "", "profiles=prod-cf\nartifact=cpi-preflight-reports-prod-cf\n")
    assert _plan(tmp_path, PROFILES="prod-cf,\n prod.eu20 ,prod_neo")[2] == (
        "profiles=prod-cf,prod.eu20,prod_neo\n"
        "artifact=cpi-preflight-reports-prod-cf+prod.eu20+prod_neo\n")


NOT_A_NAME = ("cpi-preflight: input profiles: a name is not a profile name (letters, digits, "
              "'.', '_', '-'; at most 100)\n")


@pytest.mark.parametrize(("values", "message"), [
    ({"PROFILES": "prod-cf\n::error::forged"}, NOT_A_NAME),
    ({"PROFILES": "##[error]forged"}, NOT_A_NAME),
    ({"PROFILES": "$(id>forged)"}, NOT_A_NAME),
    ({"PROFILES": "../forged"}, NOT_A_NAME),
    ({"PROFILES": "-forged"}, NOT_A_NAME),
    ({"PROFILES": "prodé"}, NOT_A_NAME),
    ({"PROFILES": "a" * 101}, NOT_A_NAME),
    ({"PROFILES": "prod forged"},
     "cpi-preflight: input profiles: a name holds a space; separate names with commas\n"),
    ({"PROFILES": " , "}, "cpi-preflight: input profiles is empty: name a profile, e.g. prod-cf\n"),
    ({"STRICT": "yes"}, "cpi-preflight: input strict must be true or false\n"),
    ({"BASELINE": "::error::forged"}, "cpi-preflight: input baseline must be true or false\n"),
    ({"RETENTION_DAYS": "0"}, "cpi-preflight: input retention-days must be a number of days\n"),
    ({"RETENTION_DAYS": "1000"}, "cpi-preflight: input retention-days must be a number of days\n"),
], ids=lambda v: repr(v)[:30])
def test_action_input_check_refuses_without_echoing_the_value(
        tmp_path: Path, values: dict[str, str], message: str) -> None:
    code, log, outputs = _plan(tmp_path, **values)
    assert (code, log, outputs) == (1, message, "")
    assert "forged" not in log
    assert workflow_commands(log) == []
    assert not (tmp_path / "forged").exists()


PIP = "print(json.dumps(sys.argv[1:]))"
INSTALL_ARGS = ["-m", "pip", "install", "--disable-pip-version-check", "--"]


@pytest.mark.parametrize(("version", "requirement"), [
    ("", "/home/runner/work/_actions/acme/cpi-preflight/v1"),
    ("0.2.0", "cpi-preflight==0.2.0"),
    ("1.0.0rc1", "cpi-preflight==1.0.0rc1"),
    ("./wheels/cpi_preflight-0.1.0-py3-none-any.whl",
     "./wheels/cpi_preflight-0.1.0-py3-none-any.whl"),
    ("git+https://github.com/acme/cpi-preflight@v1.2.0",
     "git+https://github.com/acme/cpi-preflight@v1.2.0"),
])
def test_action_installs_its_own_copy_or_the_version_asked_for(
        tmp_path: Path, version: str, requirement: str) -> None:
    done = bash(action_step("Install cpi-preflight")["run"], tmp_path,
                _env(tmp_path, {"python": PIP}, VERSION=version))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [*INSTALL_ARGS, requirement]


@pytest.mark.parametrize("version", ["--index-url=http://evil.example/simple", "-e .",
                                     "a b", "x\n::error::forged", "x;touch forged"])
def test_action_refuses_a_version_that_is_no_requirement(tmp_path: Path, version: str) -> None:
    done = bash(action_step("Install cpi-preflight")["run"], tmp_path,
                _env(tmp_path, {"python": PIP}, VERSION=version))
    assert (done.returncode, done.stdout, done.stderr) == (
        1, "", "cpi-preflight: input version must be empty, a version number, a wheel path or "
               "a git URL\n")


def _check_args(tmp_path: Path, script: str, baseline: bool, **values: str) -> list[str]:
    if baseline:
        (tmp_path / BASELINE_DIR).mkdir(parents=True, exist_ok=True)
    done = bash(script, tmp_path, _env(tmp_path, {"pytest": PIP}, **values))
    assert done.returncode == 0, done.stderr
    args: list[str] = json.loads(done.stdout)
    return args


def test_action_runs_the_readme_command(tmp_path: Path) -> None:
    script = action_step("Check the API clients")["run"]
    values = {"PROFILES": "prod-cf", "PROFILES_DIR": "", "STRICT": "false"}
    assert ["pytest", *_check_args(tmp_path, script, True, **values)] == shlex.split(
        readme_command())
    assert _check_args(tmp_path / "first", script, False, **values) == [
        "--profile", "prod-cf", "--reports-dir", "reports"]
    assert _check_args(tmp_path, script, True, PROFILES="a,b", PROFILES_DIR="tenants/eu",
                       STRICT="true") == [
        "--profile", "a,b", "--reports-dir", "reports", f"--baseline={BASELINE_DIR}", "--strict",
        "--profiles-dir=tenants/eu"]


SUMMARY = "print('## cpi-preflight'); print(); print('| prod-cf | cf | ok |')\n"


@pytest.mark.parametrize(("note", "exit_code"), [(True, 0), (False, 0), (True, 2)])
def test_action_summary_ends_with_the_baseline_line(tmp_path: Path, note: bool,
                                                    exit_code: int) -> None:
    if note:
        (tmp_path / ".cpi-preflight").mkdir()
        (tmp_path / ".cpi-preflight" / "baseline.md").write_text("**Baseline**: the line\n")
    (tmp_path / "reports").mkdir()
    env = _env(tmp_path, {"cpi-preflight": SUMMARY + f"sys.exit({exit_code})\n"})
    done = bash(action_step("Summary on the job page")["run"], tmp_path, env)
    assert done.returncode == exit_code
    line = ("**Baseline**: the line" if note else "**Baseline**: unknown: the step that fetches "
            "it did not finish (see its log).")
    assert (tmp_path / "summary.md").read_text() == (
        f"## cpi-preflight\n\n| prod-cf | cf | ok |\n\n{line}\n")


def test_action_summary_without_a_reports_folder_says_the_checks_stopped(tmp_path: Path) -> None:
    """`cpi-preflight summary` refuses a folder that does not exist (exit 2); pytest stopped
    before writing reports (a usage error, exit 4), which its own step's log explains."""
    (tmp_path / ".cpi-preflight").mkdir()
    (tmp_path / ".cpi-preflight" / "baseline.md").write_text("**Baseline**: the line\n")
    env = _env(tmp_path, {"cpi-preflight": "sys.exit('called: ' + ' '.join(sys.argv[1:]))\n"})
    done = bash(action_step("Summary on the job page")["run"], tmp_path, env)
    assert (done.returncode, done.stderr) == (0, "")
    assert (tmp_path / "summary.md").read_text() == (
        "## cpi-preflight\n\nNo reports: the check step stopped before writing any; see its "
        "log.\n\n**Baseline**: the line\n")


# --- GitLab --------------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"^git\+https://gitlab\.com/<your-group>/cpi-preflight\.git@<ref>$")


def test_gitlab_template_includes_the_shipped_file_and_extends_its_job() -> None:
    data = load(GITLAB)
    assert data["include"] == [{"project": "<your-group>/cpi-preflight", "ref": "<ref>",
                                "file": "/ci/cpi-preflight.gitlab-ci.yml"}]
    assert data["cpi-preflight"]["extends"] == ".cpi-preflight"
    assert list(load(GITLAB_INCLUDE)) == [".cpi-preflight"]


def test_gitlab_job_runs_on_schedule_and_by_hand_one_job_per_profile() -> None:
    job = gitlab_job()
    assert [r["if"] for r in job["rules"]] == ['$CI_PIPELINE_SOURCE == "schedule"',
                                              '$CI_PIPELINE_SOURCE == "web"']
    assert job["image"] == "python:3.11"
    assert job["parallel"]["matrix"] == [{"CPI_PREFLIGHT_PROFILES": ["prod-cf"]}]
    assert PLACEHOLDER.match(job["variables"]["CPI_PREFLIGHT_PACKAGE"])
    assert job["variables"] == {
        "CPI_PREFLIGHT_PACKAGE": job["variables"]["CPI_PREFLIGHT_PACKAGE"],
        "CPI_PREFLIGHT_PROFILES_DIR": "", "CPI_PREFLIGHT_STRICT": "false",
        "CPI_PREFLIGHT_BASELINE": "true"}


def test_gitlab_job_keeps_junit_and_reports_always() -> None:
    artifacts = gitlab_job()["artifacts"]
    assert artifacts == {"when": "always", "expire_in": "90 days", "paths": ["reports/"],
                         "reports": {"junit": JUNIT_GLOB}}


GITLAB_VARIABLES = {"CPI_PREFLIGHT_PROFILES": "prod-cf", "CPI_PREFLIGHT_STRICT": "false",
                    "CPI_PREFLIGHT_BASELINE": "true",
                    "CPI_PREFLIGHT_PACKAGE": "git+https://gitlab.com/acme/cpi-preflight.git@v1"}
PROFILES_REFUSED = ("cpi-preflight: CPI_PREFLIGHT_PROFILES must name profiles (letters, digits, "
                    "'.', '_', '-'), comma-separated\n")
PACKAGE_REFUSED = ("cpi-preflight: CPI_PREFLIGHT_PACKAGE must name what pip installs: a git URL "
                   "at a tag, a wheel path or cpi-preflight==<version>\n")


@pytest.mark.parametrize(("values", "message"), [
    ({}, ""),
    ({"CPI_PREFLIGHT_PROFILES": "prod-cf,prod.eu20"}, ""),
    ({"CPI_PREFLIGHT_PACKAGE": "cpi-preflight==0.2.0"}, ""),
    ({"CPI_PREFLIGHT_PROFILES": ""}, PROFILES_REFUSED),
    ({"CPI_PREFLIGHT_PROFILES": "prod-cf\n::error::forged"}, PROFILES_REFUSED),
    ({"CPI_PREFLIGHT_PROFILES": "a,,b"}, PROFILES_REFUSED),
    ({"CPI_PREFLIGHT_PROFILES": "-forged"}, PROFILES_REFUSED),
    ({"CPI_PREFLIGHT_PROFILES": "prod cf"}, PROFILES_REFUSED),
    ({"CPI_PREFLIGHT_PACKAGE": ""}, PACKAGE_REFUSED),
    ({"CPI_PREFLIGHT_PACKAGE": "--index-url=http://evil.example"}, PACKAGE_REFUSED),
    ({"CPI_PREFLIGHT_PACKAGE": "x;touch forged"}, PACKAGE_REFUSED),
    ({"CPI_PREFLIGHT_STRICT": "1"}, "cpi-preflight: CPI_PREFLIGHT_STRICT must be true or false\n"),
    ({"CPI_PREFLIGHT_BASELINE": ""},
     "cpi-preflight: CPI_PREFLIGHT_BASELINE must be true or false\n"),
], ids=lambda v: repr(v)[:40])
def test_gitlab_variables_are_checked_first(tmp_path: Path, values: dict[str, str],
                                            message: str) -> None:
    script = gitlab_job()["script"]
    done = bash(script[0], tmp_path, _env(tmp_path, **{**GITLAB_VARIABLES, **values}))
    assert (done.returncode, done.stdout + done.stderr) == (1 if message else 0, message)
    assert script[1] == ('python3 -m pip install --disable-pip-version-check -- '
                         '"$CPI_PREFLIGHT_PACKAGE"')
    assert not (tmp_path / "forged").exists()


def test_gitlab_job_runs_the_readme_command(tmp_path: Path) -> None:
    script = gitlab_job()["script"][-1]
    values = {"CPI_PREFLIGHT_PROFILES": "prod-cf", "CPI_PREFLIGHT_STRICT": "false",
              "CPI_PREFLIGHT_PROFILES_DIR": ""}
    assert ["pytest", *_check_args(tmp_path, script, True, **values)] == shlex.split(
        readme_command())
    assert _check_args(tmp_path, script, True, CPI_PREFLIGHT_PROFILES="a,b",
                       CPI_PREFLIGHT_STRICT="true", CPI_PREFLIGHT_PROFILES_DIR="tenants/eu") == [
        "--profile", "a,b", "--reports-dir", "reports", f"--baseline={BASELINE_DIR}", "--strict",
        "--profiles-dir=tenants/eu"]


def test_gitlab_checks_run_without_the_api_token(tmp_path: Path) -> None:
    script = gitlab_job()["script"][-1]
    (tmp_path / BASELINE_DIR).mkdir(parents=True)
    env = _env(tmp_path, {"pytest": "import os; print(sorted(k for k in os.environ "
                                    "if 'TOKEN' in k))"},
               CPI_PREFLIGHT_PROFILES="prod-cf", CPI_PREFLIGHT_STRICT="false",
               CPI_PREFLIGHT_PROFILES_DIR="", CPI_PREFLIGHT_API_TOKEN="glpat-secret",
               CI_JOB_TOKEN="job-token")
    done = bash(script, tmp_path, env)
    assert (done.returncode, done.stdout) == (0, "['CI_JOB_TOKEN']\n")


def test_junit_glob_matches_the_reports_dir_of_the_command() -> None:
    reports_dir = readme_command().split("--reports-dir ")[1].split()[0]
    assert JUNIT_GLOB.startswith(f"{reports_dir}/")


# --- the README shows what the files hold ---------------------------------------------------------

def test_readme_shows_the_action_step_and_the_gitlab_job_as_the_templates_have_them() -> None:
    github, gitlab = readme_yaml_blocks()
    step = _action_in_template()
    assert github == [{"uses": "actions/checkout@v4"},
                      {k: step[k] for k in ("uses", "with", "env")}]
    assert gitlab == load(GITLAB)


# --- example profiles and service key -------------------------------------------------------------

PEM = {"crt": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
       "key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"}


@pytest.fixture
def fake_environ(tmp_path: Path) -> dict[str, str]:
    """Values for every variable the example profiles read."""
    for suffix, text in PEM.items():
        (tmp_path / f"client.{suffix}").write_text(text, encoding="utf-8")
    return {
        "CPI_PROD_CF_CLIENT_SECRET": "fake-secret-value",
        "CPI_PROD_NEO_CLIENT_SECRET": "fake-neo-secret",
        "CPI_PROD_CF_CERTIFICATE": str(tmp_path / "client.crt"),
        "CPI_PROD_CF_KEY": str(tmp_path / "client.key"),
        "CPI_PROD_CF_SERVICE_KEY": str(EXAMPLES / "service-key.json"),
    }


EXAMPLE_PROFILES = sorted((EXAMPLES / "profiles").glob("*.yaml"))


def test_the_four_example_profiles_exist() -> None:
    assert [p.name for p in EXAMPLE_PROFILES] == [
        "prod-cf-certificate.yaml", "prod-cf-service-key.yaml", "prod-cf.yaml", "prod-neo.yaml"]


@pytest.mark.parametrize("path", EXAMPLE_PROFILES, ids=lambda p: p.stem)
def test_example_profile_loads(path: Path, fake_environ: dict[str, str]) -> None:
    data = profile.read_yaml(path)
    loaded = profile.parse(path.stem, path, data, fake_environ)
    assert loaded.required_roles
    assert path.read_text(encoding="utf-8").startswith("# ")


@pytest.mark.parametrize("path", EXAMPLE_PROFILES, ids=lambda p: p.stem)
def test_example_profile_refers_to_credentials_only_through_variables(path: Path) -> None:
    data = profile.read_yaml(path)
    assert isinstance(data, dict)
    for key in ("client_secret", "certificate", "key", "service_key"):
        if key in data:
            assert re.fullmatch(r"\$\{CPI_[A-Z_]+\}", data[key]), f"{path}: {key}"


def test_example_service_key_has_the_secret_key_shape_and_fake_values() -> None:
    key = read_service_key(EXAMPLES / "service-key.json")
    assert key.key_type == "secret"
    assert key.client_secret is not None
    assert "FAKE" in key.client_secret.reveal()
    assert key.api_url.startswith("https://example-subaccount.it-cpi")
    assert key.token_url.endswith(".authentication.eu10.hana.ondemand.com/oauth/token")
