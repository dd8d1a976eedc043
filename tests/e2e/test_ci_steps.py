"""The CI files' shell steps, run as written: in a fresh venv, against a sandbox tenant.

GitHub: the workflow template's job, whose work is the action (`uses: <your-org>/cpi-preflight`,
run from this checkout's action.yml as a composite action runs: inputs, step outputs, `if:`).
GitLab: the template's job with `extends` resolved from ci/cpi-preflight.gitlab-ci.yml. Each runs
in an empty workspace holding only profiles/prod-cf.yaml (written by `cpi-preflight init` from
the sandbox's service key). Nothing needs the network:

- cpi-preflight is installed from a wheel of this checkout (the files name a wheel as an install
  source), with pip's index switched off; the dependencies are lent from this test's environment
  by a .pth file, and pytest gets its launcher, as pip would have written it. The GitLab job's
  install line runs once for the module, the action's install step in the first GitHub run
  (with `version:` the wheel; which source each `version` gives is tested in
  tests/unit/test_ci_templates.py);
- GitHub: `gh` is a stub over a fake artifact store that the emulated upload-artifact step fills,
  with GitHub's rules (newest artifact by name, `expired`, run conclusions);
- GitLab: a fake jobs API on 127.0.0.1 whose artifact downloads redirect to a storage host on
  127.0.0.2, which records the headers it receives (tests/ci_fakes.py).

The runs follow a landscape over several days: a first run without a baseline, a second with
one, a run where the client lost a role (red), a run where another profile of the matrix failed
(the run is red, this job green), and the runs after them, whose baseline must be the last
completed run whatever its result.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from cpi_preflight.sandbox import Sandbox, SandboxSpec
from tests.ci_fakes import ArtifactStore, FakeGitLab, shown, zip_folder
from tests.ci_files import GITHUB as GITHUB_TEMPLATE
from tests.ci_files import (
    ActionRun,
    condition,
    expand,
    github_job,
    gitlab_job,
    gitlab_profile_variable,
    load,
    workflow_commands,
)

REPO = Path(__file__).resolve().parents[2]
SECRET_NAME = "CPI_PROD_CF_CLIENT_SECRET"
ARTIFACT = "cpi-preflight-reports-prod-cf"
OUR_WARNING = "::warning title=cpi-preflight baseline::"


# --- a wheel of this checkout, a fresh venv --------------------------------------------------

def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _package_files(project: dict[str, Any]) -> dict[str, bytes]:
    """The files setuptools would put into the wheel: modules plus the declared package data."""
    package = REPO / "src" / "cpi_preflight"
    patterns = ["**/*.py", *project["tool"]["setuptools"]["package-data"]["cpi_preflight"]]
    files: dict[str, bytes] = {}
    for pattern in patterns:
        for path in package.glob(pattern):
            if "__pycache__" not in path.parts:
                files["cpi_preflight/" + path.relative_to(package).as_posix()] = path.read_bytes()
    return files


def build_wheel(out: Path) -> Path:
    """A py3-none-any wheel of this checkout, from pyproject.toml's metadata."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    meta = project["project"]
    dist = f"cpi_preflight-{meta['version']}"
    files = _package_files(project)
    files[f"{dist}.dist-info/METADATA"] = "\n".join(
        ["Metadata-Version: 2.1", f"Name: {meta['name']}", f"Version: {meta['version']}",
         f"Requires-Python: {meta['requires-python']}",
         *[f"Requires-Dist: {d}" for d in meta["dependencies"]], ""]).encode()
    files[f"{dist}.dist-info/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: test_ci_steps\n"
                                        b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    points = ["[console_scripts]", *[f"{k} = {v}" for k, v in meta["scripts"].items()], ""]
    for group, entries in meta["entry-points"].items():
        points += [f"[{group}]", *[f"{k} = {v}" for k, v in entries.items()], ""]
    files[f"{dist}.dist-info/entry_points.txt"] = "\n".join(points).encode()
    record = [_record_line(name, data) for name, data in files.items()]
    files[f"{dist}.dist-info/RECORD"] = ("\n".join([*record, f"{dist}.dist-info/RECORD,,"])
                                         + "\n").encode()
    wheel = out / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


@dataclass
class Venv:
    """A fresh virtual environment; `bin` goes first on the steps' PATH."""

    root: Path
    wheel: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"


def _make_venv(root: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300)
    inner = subprocess.run([str(root / "bin" / "python"), "-c",
                            "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           capture_output=True, text=True, check=True).stdout.strip()
    # Dependencies come from this test's environment (appended to sys.path, after the venv's own
    # site-packages, so the wheel's cpi_preflight wins); no index is needed.
    Path(inner, "zz_lent_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    launcher = root / "bin" / "pytest"
    launcher.write_text(f"#!{root / 'bin' / 'python'}\nimport sys\nfrom pytest import "
                        "console_main\nsys.exit(console_main())\n")
    launcher.chmod(0o755)
    return root


def _base_env(venv: Venv, stubs: Path | None = None) -> dict[str, str]:
    path = [str(venv.bin), *([str(stubs)] if stubs else []), "/usr/local/bin", "/usr/bin", "/bin"]
    return {"PATH": os.pathsep.join(path), "HOME": str(venv.root), "LANG": "C.UTF-8",
            "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_CONFIG_FILE": os.devnull}


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          check=False)




def _installs(script: str) -> bool:
    """Whether a script line is an install step (`pip install ...`)."""
    return script.startswith(("pip install ", "python3 -m pip install "))


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """The venv after the GitLab job's install line (run once for the module)."""
    base = tmp_path_factory.mktemp("ci-venv")
    made = Venv(_make_venv(base / "venv"), build_wheel(base))
    install = [line for line in gitlab_job()["script"] if _installs(line)]
    assert len(install) == 1, install
    env = {**_base_env(made), "CPI_PREFLIGHT_PACKAGE": str(made.wheel)}
    done = _bash(install[0], base, env)
    assert done.returncode == 0, done.stdout + done.stderr
    where = subprocess.run([str(made.bin / "python"), "-c",
                            "import cpi_preflight; print(cpi_preflight.__file__)"],
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(made.root)), where
    assert (made.bin / "cpi-preflight").is_file()
    return made


# --- the tenant and the repository holding profiles/ ------------------------------------------

@pytest.fixture(scope="module")
def tenant() -> Iterator[Sandbox]:
    spec = SandboxSpec.from_mapping({"roles": ["MonitoringDataRead"]}, environment="cf")
    with Sandbox.start(spec) as running:
        yield running


@pytest.fixture(scope="module")
def smaller_tenant() -> Iterator[Sandbox]:
    """The same landscape after the client lost MonitoringDataRead."""
    spec = SandboxSpec.from_mapping({"roles": ["WorkspacePackagesRead"]}, environment="cf")
    with Sandbox.start(spec) as running:
        yield running


@pytest.fixture(scope="module")
def checkout(tenant: Sandbox, venv: Venv, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's repository: profiles/prod-cf.yaml only, written by init from a service key."""
    folder = tmp_path_factory.mktemp("checkout")
    key = folder.parent / "prod-cf-key.json"
    key.write_text(json.dumps(tenant.connection.service_key), encoding="utf-8")
    done = _bash(f"cpi-preflight init --service-key {key} --name prod-cf --ca-bundle "
                 f"{tenant.connection.ca_path}", folder, _base_env(venv))
    assert done.returncode == 0, done.stderr
    key.unlink()
    return folder


def _workspace(checkout: Path, base: Path, name: str, tenant: Sandbox | None = None) -> Path:
    """A fresh clone of the checkout for one job; `tenant`: its profile points there instead."""
    target = base / name
    shutil.copytree(checkout, target)
    if tenant is not None:
        profile_path = target / "profiles" / "prod-cf.yaml"
        data = yaml.safe_load(profile_path.read_text(encoding="utf-8"))
        data.update(api_url=tenant.connection.api_url, token_url=tenant.connection.token_url,
                    client_id=tenant.connection.client_id, ca_bundle=tenant.connection.ca_path)
        profile_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return target


def _secret(tenant: Sandbox) -> str:
    secret = tenant.connection.client_secret
    assert secret is not None
    return secret


def _evidence(workspace: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (workspace / "reports" / "prod-cf" / "evidence.json").read_text())
    return data


def _baseline_of(workspace: Path, kept: dict[int, bytes]) -> int | None:
    """Which earlier run (key of `kept`, the evidence.json each one kept as an artifact) the
    run in `workspace` compared with, from the baseline path its evidence names; or None."""
    named = _evidence(workspace)["run"]["baseline"]
    if named is None:
        return None
    text = (workspace / named).read_bytes()
    found = [number for number, evidence in kept.items() if evidence == text]
    assert len(found) == 1, "the baseline is no earlier run's kept evidence"
    return found[0]


# --- GitHub Actions ---------------------------------------------------------------------------

@dataclass
class GithubRun:
    """What one run of the workflow's job left behind."""

    number: int
    workspace: Path
    logs: dict[str, str] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    summary: str = ""
    evidence: bytes = b""  # the reports/prod-cf/evidence.json it uploaded

    @property
    def log(self) -> str:
        return "\n".join(self.logs.values())


class GithubRunner:
    """Runs the template's job: `run:` steps with bash, `uses:` actions emulated, the
    cpi-preflight action from this checkout's action.yml."""

    def __init__(self, venv: Venv, base: Path) -> None:
        self.venv, self.base = venv, base
        self.store = ArtifactStore(base / "artifacts", base / "stubs")
        self.runs: list[GithubRun] = []
        workflow, job = load(GITHUB_TEMPLATE), github_job()
        self.profile = job["strategy"]["matrix"]["profile"][0]
        self.github = {"token": "fake-github-token", "repository": "acme/cpi",
                       "workflow": workflow["name"]}
        self.context: dict[str, Any] = {"matrix": {"profile": self.profile}, "secrets": {},
                                        "github": self.github}
        self.workflow_env = {**workflow.get("env", {}), **job.get("env", {})}

    def _env(self, run: GithubRun, step_env: dict[str, Any]) -> dict[str, str]:
        return {**_base_env(self.venv, self.base / "stubs"),
                **{k: expand(v, self.context) for k, v in self.workflow_env.items()},
                **{k: expand(v, self.context) for k, v in step_env.items()},
                "CPI_PREFLIGHT_PACKAGE": str(self.venv.wheel),
                "GITHUB_REPOSITORY": "acme/cpi", "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_RUN_ID": str(run.number), "GITHUB_WORKFLOW": self.github["workflow"],
                "GITHUB_ACTION_PATH": str(REPO), "RUNNER_TEMP": str(self.base),
                "FAKE_GH_STORE": str(self.store.folder),
                "GITHUB_STEP_SUMMARY": str(self.base / f"summary-{run.number}.md")}

    def _uses(self, run: GithubRun, action: str, options: dict[str, str]) -> bool:
        name = action.split("@")[0]
        if name == "actions/upload-artifact":
            source = run.workspace / options["path"]
            self.store.upload(options["name"], source, run.number,
                              int(options.get("retention-days") or 90))
            run.evidence = (source / "prod-cf" / "evidence.json").read_bytes()
        elif name == "mikepenz/action-junit-report":
            assert list(run.workspace.glob(options["report_paths"])), options
        else:
            assert name in ("actions/checkout", "actions/setup-python"), action
        return True

    def _action(self, run: GithubRun, step: dict[str, Any]) -> bool:
        """The composite action, with `version:` the wheel (installed in the first run only)."""
        inputs = {k: expand(v, self.context) for k, v in step.get("with", {}).items()}
        inputs["version"] = str(self.venv.wheel)
        skip = frozenset({"Install cpi-preflight"}) if self.runs else frozenset()
        action = ActionRun(run.workspace, self._env(run, step.get("env", {})), inputs,
                           self.github, lambda uses, options: self._uses(run, uses, options),
                           skip)
        results = action.run()
        run.logs.update({f"action: {r.name}": r.log for r in results})
        return not any(r.outcome == "failure" for r in results)

    def run(self, workspace: Path, secret: str, *, others_failed: bool = False) -> GithubRun:
        run = GithubRun(len(self.runs) + 1, workspace)
        self.context["secrets"] = {SECRET_NAME: secret}
        (self.base / f"summary-{run.number}.md").touch()
        for step in github_job()["steps"]:
            name = step.get("name", step.get("uses"))
            if not condition(step.get("if"), self.context, failed=bool(run.failed)):
                continue
            if str(step.get("uses", "")).split("@")[0].endswith("/cpi-preflight"):
                ok = self._action(run, step)
            elif "uses" in step:
                options = {k: expand(v, self.context) for k, v in step.get("with", {}).items()}
                ok = self._uses(run, step["uses"], options)
            elif _installs(step["run"]) and self.runs:
                continue  # installed by the first run
            else:
                done = _bash(step["run"], workspace, self._env(run, step.get("env", {})))
                run.logs[name] = done.stdout + done.stderr
                ok = done.returncode == 0
            if not ok:
                run.failed.append(name)
        run.summary = (self.base / f"summary-{run.number}.md").read_text(encoding="utf-8")
        failed = run.failed or others_failed
        self.store.finish(run.number, "failure" if failed else "success")
        self.runs.append(run)
        return run

    def baseline_of(self, run: GithubRun) -> int | None:
        """The number of the run whose reports `run` compared with."""
        return _baseline_of(run.workspace, {r.number: r.evidence for r in self.runs})

    def uploaded_on(self, number: int) -> str:
        created = [a["created_at"] for a in self.store.artifacts() if a["run"] == number]
        return shown(_parse(created[0]))


def _parse(stamp: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(stamp)


@pytest.fixture(scope="module")
def github(venv: Venv, tmp_path_factory: pytest.TempPathFactory) -> GithubRunner:
    return GithubRunner(venv, tmp_path_factory.mktemp("github"))


@pytest.fixture(scope="module")
def github_runs(github: GithubRunner, checkout: Path, tenant: Sandbox,
                smaller_tenant: Sandbox) -> list[GithubRun]:
    """Five days of one profile: green, green, the role lost (red), the role back while another
    profile of the matrix fails (this job green, the run red), green."""
    secret = _secret(tenant)
    github.run(_workspace(checkout, github.base, "run-1"), secret)
    github.run(_workspace(checkout, github.base, "run-2"), secret)
    github.run(_workspace(checkout, github.base, "run-3", smaller_tenant),
               _secret(smaller_tenant))
    github.run(_workspace(checkout, github.base, "run-4"), secret, others_failed=True)
    github.run(_workspace(checkout, github.base, "run-5"), secret)
    return github.runs


def _summary_baseline(run: GithubRun) -> str:
    lines = [line for line in run.summary.splitlines() if line.startswith("**Baseline**")]
    assert len(lines) == 1, run.summary
    return lines[0]


def test_github_first_run_passes_without_a_baseline_and_says_so(
        github_runs: list[GithubRun]) -> None:
    first = github_runs[0]
    assert first.failed == [], first.logs
    assert _summary_baseline(first) == (
        f"**Baseline**: none: no earlier reports (artifact `{ARTIFACT}`): this is the first run, "
        "or the reports were deleted. Drift is checked from the next run on.")
    evidence = _evidence(first.workspace)
    assert (evidence["summary"]["result"], evidence["run"]["baseline"]) == ("passed", None)


def test_github_second_run_compares_with_the_first_and_names_it(
        github: GithubRunner, github_runs: list[GithubRun]) -> None:
    second = github_runs[1]
    assert second.failed == [], second.logs
    assert github.baseline_of(second) == 1
    assert _summary_baseline(second) == (
        "**Baseline**: the reports of [run 1](https://github.com/acme/cpi/actions/runs/1), "
        f"uploaded on {github.uploaded_on(1)} (artifact `{ARTIFACT}`).")
    evidence = _evidence(second.workspace)
    assert evidence["run"]["baseline"] == ".cpi-preflight/baseline/prod-cf/evidence.json"
    assert [c["outcome"] for c in evidence["checks"] if c["id"] == "drift"] == ["passed"]


def test_github_job_page_summary_names_the_profile_and_result(
        github_runs: list[GithubRun]) -> None:
    for run in github_runs:
        lines = run.summary.splitlines()
        assert lines[0] == "## cpi-preflight"
        mark = "❌ failed" if run.number == 3 else "✅ passed"
        assert any(line.startswith(f"| prod-cf | cf | {mark} | ") for line in lines), lines
        assert lines[-1] == _summary_baseline(run)


def test_github_lost_role_fails_the_job_and_the_always_steps_still_report(
        github: GithubRunner, github_runs: list[GithubRun]) -> None:
    lost = github_runs[2]
    assert lost.failed == ["Check the API client"]
    assert github.baseline_of(lost) == 2
    lines = lost.summary.splitlines()
    codes = {line.split(" | ")[1] for line in lines if line.startswith(("| role", "| drift"))}
    assert codes == {"ROLE\\_MISSING", "ROLE\\_LOST", "ROLE\\_GAINED (warning)",
                     "ENDPOINT\\_REGRESSED"}, lines
    kept = [a for a in github.store.artifacts() if a["run"] == 3]
    assert [a["name"] for a in kept] == [ARTIFACT]
    assert json.loads(lost.evidence)["summary"]["result"] == "failed"


def test_github_baseline_is_the_last_completed_run_whatever_its_result(
        github: GithubRunner, github_runs: list[GithubRun]) -> None:
    """Issue 18.9: a red run (this profile's, or another matrix job's) is still the baseline."""
    back, after = github_runs[3], github_runs[4]
    assert back.failed == [], back.logs
    assert github.baseline_of(back) == 3  # the run where this profile failed
    assert github.baseline_of(after) == 4  # the run that another profile turned red
    assert _summary_baseline(after).startswith("**Baseline**: the reports of [run 4](")


def test_github_logs_hold_no_workflow_command(github_runs: list[GithubRun]) -> None:
    for run in github_runs:
        assert workflow_commands(run.log) == [], run.number


def test_github_expired_baseline_is_reported_and_the_run_goes_on(
        venv: Venv, checkout: Path, tenant: Sandbox,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    runner = GithubRunner(venv, tmp_path_factory.mktemp("github-retention"))
    runner.run(_workspace(checkout, runner.base, "run-1"), _secret(tenant))
    runner.store.expire_all()
    artifact = runner.store.artifacts()[0]
    later = runner.run(_workspace(checkout, runner.base, "run-2"), _secret(tenant))
    assert later.failed == [], later.logs
    text = (f"none: the reports of run 1, uploaded on {runner.uploaded_on(1)}, expired on "
            f"{shown(_parse(artifact['expires_at']))}; drift is not checked in this run. Keep "
            "the reports (input retention-days) longer than the time between two runs.")
    assert _summary_baseline(later) == "**Baseline**: " + text.replace(
        "run 1", "[run 1](https://github.com/acme/cpi/actions/runs/1)")
    assert workflow_commands(later.log) == [OUR_WARNING + text]
    assert _evidence(later.workspace)["run"]["baseline"] is None


# --- GitLab CI --------------------------------------------------------------------------------

@dataclass
class GitlabRun:
    job_id: int
    workspace: Path
    code: int
    log: str
    archive: bytes | None


class GitlabRunner:
    """Runs the template's job (extends resolved) against the fake GitLab."""

    def __init__(self, venv: Venv, base: Path, fake: FakeGitLab) -> None:
        self.venv, self.base, self.fake = venv, base, fake
        self.job = gitlab_job()
        variable, self.profile = gitlab_profile_variable(self.job)
        self.name = f"cpi-preflight: [{self.profile}]"
        self.variables = {**{k: str(v) for k, v in self.job.get("variables", {}).items()},
                          variable: self.profile}
        self.runs: list[GitlabRun] = []

    def run(self, workspace: Path, secret: str, *, others_failed: bool = False) -> GitlabRun:
        job_id = len(self.fake.jobs) + 1
        env = {**_base_env(self.venv), **self.variables, **self.fake.job_env(self.name, job_id),
               "CPI_PREFLIGHT_PACKAGE": str(self.venv.wheel),
               "CPI_PREFLIGHT_API_TOKEN": self.fake.token, SECRET_NAME: secret}
        script = [line for line in self.job["script"] if not _installs(line)]
        done = _bash("\n".join(script), workspace, env)
        status = "success" if done.returncode == 0 else "failed"
        pipeline = self.fake.pipeline("failed" if others_failed or status == "failed"
                                      else "success")
        if others_failed:
            self.fake.add_job("cpi-preflight: [prod-eu20]", "failed", pipeline, None)
        folder = workspace / "reports"
        archive = zip_folder(folder, "reports/") if folder.is_dir() else None
        job = self.fake.add_job(self.name, status, pipeline, archive)
        made = GitlabRun(job.id, workspace, done.returncode, done.stdout + done.stderr, archive)
        self.runs.append(made)
        return made

    def baseline_of(self, run: GitlabRun) -> int | None:
        """The id of the job whose reports `run` compared with."""
        kept = {r.job_id: zipfile.ZipFile(io.BytesIO(r.archive)).read(
            "reports/prod-cf/evidence.json") for r in self.runs if r.archive}
        return _baseline_of(run.workspace, kept)


@pytest.fixture(scope="module")
def gitlab_fake() -> Iterator[FakeGitLab]:
    with FakeGitLab().running() as fake:
        yield fake


@pytest.fixture(scope="module")
def gitlab(venv: Venv, gitlab_fake: FakeGitLab,
           tmp_path_factory: pytest.TempPathFactory) -> GitlabRunner:
    return GitlabRunner(venv, tmp_path_factory.mktemp("gitlab"), gitlab_fake)


@pytest.fixture(scope="module")
def gitlab_runs(gitlab: GitlabRunner, checkout: Path, tenant: Sandbox) -> list[GitlabRun]:
    """Four scheduled pipelines: green, green, one where another profile's job failed, then a
    push pipeline of other jobs, then this job again."""
    secret = _secret(tenant)
    gitlab.run(_workspace(checkout, gitlab.base, "pipeline-1"), secret)
    gitlab.run(_workspace(checkout, gitlab.base, "pipeline-2"), secret)
    gitlab.run(_workspace(checkout, gitlab.base, "pipeline-3"), secret, others_failed=True)
    gitlab.fake.add_job("unit tests", "success", gitlab.fake.pipeline("success", "push"), None)
    gitlab.run(_workspace(checkout, gitlab.base, "pipeline-5"), secret)
    return gitlab.runs


def _baseline_lines(run: GitlabRun) -> list[str]:
    return [line for line in run.log.splitlines() if line.startswith("Baseline: ")]


def test_gitlab_first_job_passes_without_a_baseline_and_says_so(
        gitlab_runs: list[GitlabRun]) -> None:
    first = gitlab_runs[0]
    assert first.code == 0, first.log
    assert _baseline_lines(first) == [
        "Baseline: none: no earlier reports of this job among the last 2000 finished jobs: "
        "this is the first run, or the reports were deleted. Drift is checked from the next "
        "run on."]
    assert _evidence(first.workspace)["run"]["baseline"] is None


def test_gitlab_second_job_compares_with_the_first_and_its_token_stays_on_the_api(
        gitlab: GitlabRunner, gitlab_runs: list[GitlabRun]) -> None:
    """Issue 17.10: the artifact download redirects to the storage host; no token goes there."""
    second = gitlab_runs[1]
    assert second.code == 0, second.log
    assert any(s.host == "storage" for s in gitlab.fake.seen)
    assert gitlab.fake.tokens_at("storage") == []
    assert set(gitlab.fake.tokens_at("api")) == {gitlab.fake.token}
    assert gitlab.baseline_of(second) == gitlab_runs[0].job_id
    first_job = gitlab.fake.jobs[gitlab_runs[0].job_id - 1]
    assert _baseline_lines(second) == [
        f"Baseline: the reports of job {first_job.id} (pipeline {first_job.pipeline}), "
        f"finished on {shown(first_job.finished_at)}; that job passed."]
    evidence = _evidence(second.workspace)
    assert [c["outcome"] for c in evidence["checks"] if c["id"] == "drift"] == ["passed"]


def test_gitlab_baseline_is_the_last_finished_job_whatever_the_pipeline(
        gitlab: GitlabRunner, gitlab_runs: list[GitlabRun]) -> None:
    """Issue 18.9: a pipeline another profile turned red, then a push pipeline without this
    job, and still this job's last run is the baseline."""
    after = gitlab_runs[3]
    assert after.code == 0, after.log
    assert gitlab.baseline_of(after) == gitlab_runs[2].job_id
    assert _baseline_lines(after)[0].startswith(
        f"Baseline: the reports of job {gitlab_runs[2].job_id} (pipeline 3), finished on ")
