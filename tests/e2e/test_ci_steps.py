"""The CI templates' shell steps, run as written: in a fresh venv, against a sandbox tenant.

Each template's `run:` / `script:` steps are extracted from the YAML and run with bash in an
empty workspace holding only profiles/prod-cf.yaml (written by `cpi-preflight init` from the
sandbox's service key). Nothing needs the network:

- the install step runs as written, `pip install "$CPI_PREFLIGHT_PACKAGE"`, with the variable
  pointing at a wheel of this checkout (the templates name a wheel as an install source) and
  pip's index switched off; the dependencies are lent from this test's environment by a .pth
  file, and pytest gets its launcher, as pip would have written it;
- GitHub: `gh` is a stub that serves the artifacts the emulated upload-artifact step kept;
- GitLab: the jobs/artifacts API is a local HTTP server serving the zip of the first run.

Each template runs twice: the first run has no baseline (the steps must tolerate that), the
second gets the first run's reports as --baseline.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
import tomllib
import urllib.parse
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from cpi_preflight.sandbox import Sandbox, SandboxSpec

REPO = Path(__file__).resolve().parents[2]
GITHUB = REPO / "examples" / "ci" / "github-actions.yml"
GITLAB = REPO / "examples" / "ci" / "gitlab-ci.yml"
INSTALL = 'pip install "$CPI_PREFLIGHT_PACKAGE"'
SECRET_NAME = "CPI_PROD_CF_CLIENT_SECRET"


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


def _github_data() -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(GITHUB.read_text(encoding="utf-8"))
    return data


def _github_job() -> dict[str, Any]:
    job: dict[str, Any] = next(iter(_github_data()["jobs"].values()))
    return job


def _gitlab_job() -> dict[str, Any]:
    data = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))
    job: dict[str, Any] = data["cpi-preflight"]
    return job


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """The venv after the templates' own install step (run once for the module)."""
    base = tmp_path_factory.mktemp("ci-venv")
    made = Venv(_make_venv(base / "venv"), build_wheel(base))
    install = [s for s in _github_job()["steps"] if s.get("name") == "Install cpi-preflight"]
    assert [s["run"] for s in install] == [INSTALL]
    assert _gitlab_job()["script"][0] == INSTALL
    env = {**_base_env(made), "CPI_PREFLIGHT_PACKAGE": str(made.wheel)}
    done = _bash(INSTALL, base, env)
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


def _workspace(checkout: Path, tmp_path: Path, name: str) -> Path:
    """A fresh clone of the checkout for one job run."""
    target = tmp_path / name
    shutil.copytree(checkout, target)
    return target


# --- GitHub Actions ---------------------------------------------------------------------------

_EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")

GH_STUB = '''#!/usr/bin/env python3
"""Stand-in for the GitHub CLI: the two calls the template makes, served from a folder."""
import json, os, shutil, sys
from pathlib import Path
store = Path(os.environ["FAKE_ARTIFACT_STORE"])
with open(os.environ["FAKE_GH_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
args = sys.argv[1:]
if args[:2] == ["run", "list"]:
    print("1" if any(store.iterdir()) else "")
elif args[:2] == ["run", "download"]:
    name, target = args[args.index("--name") + 1], args[args.index("--dir") + 1]
    if args[2] != "1" or not (store / name).is_dir():
        sys.exit(f"no valid artifacts found to download")
    shutil.copytree(store / name, target)
else:
    sys.exit(f"gh stub: unexpected call {args}")
'''


@dataclass
class GithubRun:
    """What one run of the workflow's job left behind."""

    workspace: Path
    outputs: dict[str, str] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    summary: str = ""


class GithubRunner:
    """Runs the job's steps: `run:` with bash, the four `uses:` actions emulated."""

    def __init__(self, venv: Venv, secret: str, base: Path) -> None:
        self.venv, self.base = venv, base
        self.store, self.stubs = base / "artifacts", base / "stubs"
        self.store.mkdir()
        self.stubs.mkdir()
        (self.stubs / "gh").write_text(GH_STUB)
        (self.stubs / "gh").chmod(0o755)
        self.gh_log = base / "gh.log"
        workflow, job = _github_data(), _github_job()
        self.profile = job["strategy"]["matrix"]["profile"][0]
        self.context = {"matrix.profile": self.profile, f"secrets.{SECRET_NAME}": secret,
                        "github.token": "fake-github-token", "github.repository": "acme/cpi",
                        "github.workflow": workflow["name"]}
        self.env = {**_base_env(venv, self.stubs), **self._values(workflow.get("env", {})),
                    **self._values(job.get("env", {})),
                    "CPI_PREFLIGHT_PACKAGE": str(venv.wheel),
                    "FAKE_ARTIFACT_STORE": str(self.store), "FAKE_GH_LOG": str(self.gh_log)}

    def expand(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            assert match.group(1) in self.context, f"{GITHUB}: unknown expression {match[0]}"
            return self.context[match.group(1)]
        return _EXPRESSION.sub(value, str(text))

    def _values(self, mapping: dict[str, Any]) -> dict[str, str]:
        return {k: self.expand(v) for k, v in mapping.items()}

    def _uses(self, step: dict[str, Any], run: GithubRun) -> None:
        action = step["uses"].split("@")[0]
        options = self._values(step.get("with", {}))
        if action == "mikepenz/action-junit-report":
            assert list(run.workspace.glob(options["report_paths"])), options
        elif action == "actions/upload-artifact":
            kept = self.store / options["name"]  # the store holds the last run's artifacts
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(run.workspace / options["path"], kept)
        else:
            assert action in ("actions/checkout", "actions/setup-python"), action

    def run(self, workspace: Path) -> GithubRun:
        result = GithubRun(workspace)
        summary = self.base / f"summary-{workspace.name}.md"
        summary.touch()
        for step in _github_job()["steps"]:
            if result.failed and step.get("if") != "always()":
                continue
            if "uses" in step:
                self._uses(step, result)
                continue
            if step["run"] == INSTALL:
                continue  # done once by the venv fixture
            env = {**self.env, **self._values(step.get("env", {})),
                   "GITHUB_STEP_SUMMARY": str(summary)}
            done = _bash(self.expand(step["run"]), workspace, env)
            result.outputs[step["name"]] = done.stdout + done.stderr
            if done.returncode != 0:
                result.failed.append(step["name"])
        result.summary = summary.read_text(encoding="utf-8")
        return result


@pytest.fixture(scope="module")
def github_runner(venv: Venv, tenant: Sandbox,
                  tmp_path_factory: pytest.TempPathFactory) -> GithubRunner:
    secret = tenant.connection.client_secret
    assert secret is not None
    return GithubRunner(venv, secret, tmp_path_factory.mktemp("github"))


@pytest.fixture(scope="module")
def github_runs(github_runner: GithubRunner, checkout: Path) -> tuple[GithubRun, GithubRun]:
    first = github_runner.run(_workspace(checkout, github_runner.base, "run-1"))
    second = github_runner.run(_workspace(checkout, github_runner.base, "run-2"))
    return first, second


@pytest.fixture(scope="module")
def lost_role_run(github_runner: GithubRunner, github_runs: tuple[GithubRun, GithubRun],
                  checkout: Path) -> Iterator[GithubRun]:
    """A third run after the client lost MonitoringDataRead (same client, fewer roles)."""
    spec = SandboxSpec.from_mapping({"roles": ["WorkspacePackagesRead"]}, environment="cf")
    with Sandbox.start(spec) as smaller:
        workspace = _workspace(checkout, github_runner.base, "run-3")
        profile_path = workspace / "profiles" / "prod-cf.yaml"
        data = yaml.safe_load(profile_path.read_text(encoding="utf-8"))
        data.update(api_url=smaller.connection.api_url, token_url=smaller.connection.token_url,
                    client_id=smaller.connection.client_id, ca_bundle=smaller.connection.ca_path)
        profile_path.write_text(yaml.safe_dump(data), encoding="utf-8")
        secret = smaller.connection.client_secret
        assert secret is not None
        github_runner.context[f"secrets.{SECRET_NAME}"] = secret
        yield github_runner.run(workspace)


def test_github_steps_pass_and_the_first_run_has_no_baseline(
        github_runs: tuple[GithubRun, GithubRun]) -> None:
    first, _ = github_runs
    assert first.failed == [], first.outputs
    fetch = first.outputs["Fetch the last scheduled run's reports (drift baseline)"]
    assert fetch.strip().splitlines()[-1] == (
        "No earlier reports of prod-cf: this run has no baseline")
    evidence = json.loads((first.workspace / "reports/prod-cf/evidence.json").read_text())
    assert (evidence["summary"]["result"], evidence["run"]["baseline"]) == ("passed", None)


def test_github_second_run_takes_the_first_runs_reports_as_baseline(
        github_runs: tuple[GithubRun, GithubRun], tmp_path_factory: pytest.TempPathFactory
) -> None:
    _, second = github_runs
    assert second.failed == [], second.outputs
    fetch = second.outputs["Fetch the last scheduled run's reports (drift baseline)"]
    assert fetch.strip().splitlines()[-1] == "Baseline: the reports of run 1"
    evidence = json.loads((second.workspace / "reports/prod-cf/evidence.json").read_text())
    assert evidence["run"]["baseline"] is not None
    assert "baseline/prod-cf/evidence.json" in evidence["run"]["baseline"]
    assert [c["outcome"] for c in evidence["checks"] if c["id"] == "drift"] == ["passed"]


def test_github_gh_calls_ask_for_the_last_successful_scheduled_run(
        github_runs: tuple[GithubRun, GithubRun]) -> None:
    first, _ = github_runs
    calls = [json.loads(line) for line in
             (first.workspace.parent / "gh.log").read_text().splitlines()]
    assert calls[0] == ["run", "list", "--workflow", "cpi-preflight", "--event", "schedule",
                        "--status", "success", "--limit", "1", "--json", "databaseId", "--jq",
                        ".[0].databaseId // empty"]
    assert ["run", "download", "1", "--name", "cpi-preflight-reports-prod-cf", "--dir",
            "baseline"] in calls


def test_github_job_page_summary_names_the_profile_and_result(
        github_runs: tuple[GithubRun, GithubRun]) -> None:
    for run in github_runs:
        lines = run.summary.splitlines()
        assert lines[0] == "## cpi-preflight"
        assert any(line.startswith("| prod-cf | cf | ✅ passed | ") for line in lines), lines


def test_github_lost_role_fails_the_check_step_and_the_always_steps_still_report(
        lost_role_run: GithubRun, github_runner: GithubRunner) -> None:
    assert lost_role_run.failed == ["Check the API client"]
    assert "Baseline: the reports of run 1" in lost_role_run.outputs[
        "Fetch the last scheduled run's reports (drift baseline)"]
    lines = lost_role_run.summary.splitlines()
    assert any(line.startswith("| prod-cf | cf | ❌ failed | ") for line in lines), lines
    codes = {line.split(" | ")[1] for line in lines if line.startswith(("| role", "| drift"))}
    assert codes == {"ROLE\\_MISSING", "ROLE\\_LOST", "ROLE\\_GAINED (warning)",
                     "ENDPOINT\\_REGRESSED"}, lines
    kept = github_runner.store / "cpi-preflight-reports-prod-cf" / "prod-cf" / "evidence.json"
    assert json.loads(kept.read_text())["summary"]["result"] == "failed"


# --- GitLab CI --------------------------------------------------------------------------------

class ArtifactsApi(http.server.BaseHTTPRequestHandler):
    """GET /api/v4/projects/42/jobs/artifacts/main/download?job=NAME with the job token."""

    archives: ClassVar[dict[str, bytes]] = {}
    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        job = urllib.parse.parse_qs(url.query).get("job", [""])[0]
        self.seen.append((url.path, job))
        ok = (url.path == "/api/v4/projects/42/jobs/artifacts/main/download"
              and self.headers.get("JOB-TOKEN") == "fake-job-token" and job in self.archives)
        body = self.archives[job] if ok else b'{"message":"404 Not Found"}'
        self.send_response(200 if ok else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def gitlab_api() -> Iterator[str]:
    ArtifactsApi.archives, ArtifactsApi.seen = {}, []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ArtifactsApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v4"
    server.shutdown()


def _zip_artifacts(workspace: Path, paths: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for pattern in paths:
            for file in sorted((workspace / pattern).rglob("*")):
                if file.is_file():
                    archive.write(file, file.relative_to(workspace).as_posix())
    return buffer.getvalue()


def _gitlab_run(workspace: Path, venv: Venv, api: str, secret: str) -> tuple[int, str]:
    job = _gitlab_job()
    profile = job["parallel"]["matrix"][0]["PROFILE"][0]
    env = {**_base_env(venv), **{k: str(v) for k, v in job.get("variables", {}).items()},
           "CPI_PREFLIGHT_PACKAGE": str(venv.wheel), "PROFILE": profile,
           "CI_JOB_NAME": f"cpi-preflight: [{profile}]", "CI_API_V4_URL": api,
           "CI_PROJECT_ID": "42", "CI_DEFAULT_BRANCH": "main", "CI_JOB_TOKEN": "fake-job-token",
           SECRET_NAME: secret}
    script = [line for line in job["script"] if line != INSTALL]
    done = _bash("\n".join(script), workspace, env)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def gitlab_runs(venv: Venv, checkout: Path, tenant: Sandbox, gitlab_api: str,
                tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, int, str]]:
    base = tmp_path_factory.mktemp("gitlab")
    secret = tenant.connection.client_secret
    assert secret is not None
    runs = []
    for name in ("pipeline-1", "pipeline-2"):
        workspace = _workspace(checkout, base, name)
        code, output = _gitlab_run(workspace, venv, gitlab_api, secret)
        runs.append((workspace, code, output))
        archive = _zip_artifacts(workspace, _gitlab_job()["artifacts"]["paths"])
        ArtifactsApi.archives["cpi-preflight: [prod-cf]"] = archive
    return runs


def test_gitlab_script_passes_without_a_baseline_first(
        gitlab_runs: list[tuple[Path, int, str]]) -> None:
    workspace, code, output = gitlab_runs[0]
    assert code == 0, output
    assert "No earlier reports of prod-cf: this run has no baseline" in output.splitlines()
    evidence = json.loads((workspace / "reports/prod-cf/evidence.json").read_text())
    assert evidence["run"]["baseline"] is None
    assert list(workspace.glob(_gitlab_job()["artifacts"]["reports"]["junit"]))


def test_gitlab_second_pipeline_uses_the_first_ones_artifacts_as_baseline(
        gitlab_runs: list[tuple[Path, int, str]]) -> None:
    workspace, code, output = gitlab_runs[1]
    assert code == 0, output
    assert "Baseline: the reports of the last successful pipeline on main" in output.splitlines()
    evidence = json.loads((workspace / "reports/prod-cf/evidence.json").read_text())
    assert "baseline/prod-cf/evidence.json" in evidence["run"]["baseline"]
    assert [c["outcome"] for c in evidence["checks"] if c["id"] == "drift"] == ["passed"]
    assert ArtifactsApi.seen[-1] == ("/api/v4/projects/42/jobs/artifacts/main/download",
                                     "cpi-preflight: [prod-cf]")
