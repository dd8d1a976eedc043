"""The CI templates and example files under examples/: valid, and in step with the README."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from cpi_preflight import profile
from cpi_preflight.service_key import read_service_key

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GITHUB = EXAMPLES / "ci" / "github-actions.yml"
GITLAB = EXAMPLES / "ci" / "gitlab-ci.yml"
JUNIT_GLOB = "reports/*/junit.xml"
_HEADING = re.compile(r"^#+\s.*Scheduled", re.IGNORECASE)
_FENCE = re.compile(r"^```")


def _code_in_scheduled_section(lines: list[str]) -> list[str]:
    """Lines inside fenced blocks between the "Scheduled" heading and the next heading."""
    start = next((i for i, line in enumerate(lines) if _HEADING.match(line)), None)
    if start is None:
        return []
    code: list[str] = []
    inside = False
    for line in lines[start + 1:]:
        if _FENCE.match(line):
            inside = not inside
        elif inside:
            code.append(line)
        elif line.startswith("#"):
            break
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


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path}: must hold a mapping"
    return data


def _github_steps() -> list[dict[str, Any]]:
    jobs = _load(GITHUB)["jobs"]
    assert len(jobs) == 1, f"{GITHUB}: expected one job"
    steps: list[dict[str, Any]] = next(iter(jobs.values()))["steps"]
    return steps


def _step_using(steps: list[dict[str, Any]], *actions: str) -> dict[str, Any]:
    found = [s for s in steps if str(s.get("uses", "")).split("@")[0] in actions]
    assert len(found) == 1, f"{GITHUB}: expected one step using {' or '.join(actions)}"
    return found[0]


TEMPLATE_COMMAND = 'pytest --profile "$PROFILE" --reports-dir reports $baseline'
PLACEHOLDER = re.compile(r"^git\+https://git(hub|lab)\.com/<your-(org|group)>/cpi-preflight"
                         r"(\.git)?@<ref>$")


def _as_in_readme(line: str) -> str:
    """A template's command with the profile and the baseline of a second run filled in."""
    return line.replace('"$PROFILE"', "prod-cf").replace("$baseline", "--baseline=baseline")


def _lines(script: str) -> list[str]:
    return [line.strip() for line in script.splitlines()]


def test_readme_names_the_ci_command() -> None:
    assert readme_command() == "pytest --profile prod-cf --reports-dir reports --baseline=baseline"


def test_github_workflow_runs_on_schedule_and_by_hand() -> None:
    data: dict[Any, Any] = _load(GITHUB)
    triggers = data.get("on", data.get(True))  # YAML 1.1 reads the key `on` as true
    assert isinstance(triggers, dict)
    assert re.fullmatch(r"[\d*/,-]+( [\d*/,-]+){4}", triggers["schedule"][0]["cron"])
    assert "workflow_dispatch" in triggers
    assert data["permissions"] == {"contents": "read", "checks": "write", "actions": "read"}


def test_github_workflow_installs_from_a_pinned_placeholder_not_the_index() -> None:
    data = _load(GITHUB)
    assert PLACEHOLDER.match(data["env"]["CPI_PREFLIGHT_PACKAGE"])
    runs = [str(s.get("run", "")) for s in _github_steps()]
    assert 'pip install "$CPI_PREFLIGHT_PACKAGE"' in runs
    assert not any("pip install cpi-preflight" in r for r in runs)


def test_github_workflow_runs_one_job_per_profile() -> None:
    job = next(iter(_load(GITHUB)["jobs"].values()))
    assert job["strategy"]["fail-fast"] is False
    assert job["strategy"]["matrix"]["profile"] == ["prod-cf"]
    assert job["env"] == {"PROFILE": "${{ matrix.profile }}"}


def test_github_workflow_runs_the_readme_command_with_the_secret_from_the_store() -> None:
    steps = _github_steps()
    runs = [s for s in steps if TEMPLATE_COMMAND in _lines(str(s.get("run", "")))]
    assert len(runs) == 1, f"{GITHUB}: no step runs exactly `{TEMPLATE_COMMAND}`"
    assert _as_in_readme(TEMPLATE_COMMAND) == readme_command()
    assert runs[0]["env"] == {
        "CPI_PROD_CF_CLIENT_SECRET": "${{ secrets.CPI_PROD_CF_CLIENT_SECRET }}"}
    python = _step_using(steps, "actions/setup-python")
    assert python["with"]["python-version"] == "3.11"
    assert _step_using(steps, "actions/checkout")


def test_github_workflow_writes_the_job_summary_always() -> None:
    summary = [s for s in _github_steps()
               if s.get("run") == 'cpi-preflight summary reports >> "$GITHUB_STEP_SUMMARY"']
    assert len(summary) == 1
    assert summary[0]["if"] == "always()"


def test_github_workflow_publishes_junit_and_keeps_reports_per_profile_always() -> None:
    steps = _github_steps()
    junit = _step_using(steps, "mikepenz/action-junit-report", "dorny/test-reporter")
    assert junit["if"] == "always()"
    assert junit["with"]["report_paths"] == JUNIT_GLOB
    upload = _step_using(steps, "actions/upload-artifact")
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "reports/"
    assert upload["with"]["name"] == "cpi-preflight-reports-${{ matrix.profile }}"
    fetch = next(s for s in steps if "gh run download" in str(s.get("run", "")))
    assert "--name \"cpi-preflight-reports-$PROFILE\"" in fetch["run"]


def _gitlab_job() -> dict[str, Any]:
    jobs = {k: v for k, v in _load(GITLAB).items() if isinstance(v, dict) and "script" in v}
    assert len(jobs) == 1, f"{GITLAB}: expected one job"
    return next(iter(jobs.values()))


def test_gitlab_job_runs_on_schedule_and_by_hand() -> None:
    rules = [r["if"] for r in _gitlab_job()["rules"]]
    assert '$CI_PIPELINE_SOURCE == "schedule"' in rules
    assert '$CI_PIPELINE_SOURCE == "web"' in rules


def test_gitlab_job_installs_from_a_pinned_placeholder_one_job_per_profile() -> None:
    job = _gitlab_job()
    assert PLACEHOLDER.match(job["variables"]["CPI_PREFLIGHT_PACKAGE"])
    assert job["script"][0] == 'pip install "$CPI_PREFLIGHT_PACKAGE"'
    assert job["parallel"]["matrix"] == [{"PROFILE": ["prod-cf"]}]


def test_gitlab_job_runs_the_readme_command_on_python_311() -> None:
    job = _gitlab_job()
    assert job["image"] == "python:3.11"
    assert TEMPLATE_COMMAND in job["script"]


def test_gitlab_job_keeps_junit_and_reports_always() -> None:
    artifacts = _gitlab_job()["artifacts"]
    assert artifacts["when"] == "always"
    assert artifacts["reports"]["junit"] == JUNIT_GLOB
    assert "reports/" in artifacts["paths"]


def test_junit_glob_matches_the_reports_dir_of_the_command() -> None:
    reports_dir = readme_command().split("--reports-dir ")[1].split()[0]
    assert JUNIT_GLOB.startswith(f"{reports_dir}/")


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
