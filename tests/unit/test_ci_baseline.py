"""The drift baseline of the CI files, step by step against stand-ins (no tenant, no install).

GitHub: the action's steps up to "Fetch the baseline ..." with a `gh` stub over a fake artifact
store. GitLab: the include's baseline script against a fake jobs API whose artifact downloads
redirect to another host. Whole jobs against the sandbox are in tests/e2e/test_ci_steps.py.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ci_fakes import ArtifactStore, FakeGitLab, FakeJob, shown, zip_folder
from tests.ci_files import ActionRun, bash, gitlab_job, workflow_commands

FETCH = "Fetch the baseline (the reports of the last completed run)"
ARTIFACT = "cpi-preflight-reports-prod-cf"
OURS = "::warning title=cpi-preflight baseline::"
FORGED = "forged"


def _reports(folder: Path, profile: str = "prod-cf", marker: str = "x") -> Path:
    (folder / profile).mkdir(parents=True)
    (folder / profile / "evidence.json").write_text(json.dumps({"marker": marker}))
    return folder


def _when(stamp: str) -> str:
    return shown(datetime.datetime.fromisoformat(stamp))


# --- GitHub --------------------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store", tmp_path / "stubs")


def _fetch(store: ArtifactStore, tmp_path: Path, **inputs: str) -> ActionRun:
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    env = {"PATH": f"{tmp_path / 'stubs'}:/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path),
           "LANG": "C.UTF-8", "FAKE_GH_STORE": str(store.folder),
           "GITHUB_REPOSITORY": "acme/cpi", "GITHUB_SERVER_URL": "https://github.com",
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "RUNNER_TEMP": str(tmp_path)}
    run = ActionRun(workspace, env, {"profiles": "prod-cf", **inputs},
                    {"token": "fake-github-token", "repository": "acme/cpi"},
                    uses=lambda action, options: True, skip=frozenset({"Install cpi-preflight"}))
    run.run(until=FETCH)
    return run


def _note(run: ActionRun) -> str:
    return (run.workspace / ".cpi-preflight" / "baseline.md").read_text()


def test_github_first_run_has_no_baseline_and_says_so(store: ArtifactStore,
                                                       tmp_path: Path) -> None:
    run = _fetch(store, tmp_path)
    text = ("none: no earlier reports (artifact `cpi-preflight-reports-prod-cf`): this is the "
            "first run, or the reports were deleted. Drift is checked from the next run on.")
    assert run.step(FETCH).log == f"Baseline: {text}\n"
    assert _note(run) == f"**Baseline**: {text}\n"
    assert not (run.workspace / ".cpi-preflight" / "baseline").exists()
    assert store.calls() == [["api", "--method", "GET", "repos/acme/cpi/actions/artifacts",
                              "-f", f"name={ARTIFACT}", "-f", "per_page=100"]]


def test_github_baseline_is_the_newest_artifact_of_the_profile_whatever_the_run_result(
        store: ArtifactStore, tmp_path: Path) -> None:
    older = store.upload(ARTIFACT, _reports(tmp_path / "r7", marker="run 7"), 7, 90)
    store.finish(7, "success")
    newest = store.upload(ARTIFACT, _reports(tmp_path / "r9", marker="run 9"), 9, 90)
    store.finish(9, "failure")  # another profile of the matrix failed, or this one did
    store.upload("cpi-preflight-reports-prod-eu20", _reports(tmp_path / "r10", "prod-eu20"),
                 10, 90)
    assert older["id"] < newest["id"]
    run = _fetch(store, tmp_path)
    when = _when(newest["created_at"])
    text = f"the reports of run 9, uploaded on {when} (artifact `{ARTIFACT}`)."
    assert run.step(FETCH).log == f"Baseline: {text}\n"
    assert _note(run) == ("**Baseline**: the reports of "
                          "[run 9](https://github.com/acme/cpi/actions/runs/9), uploaded on "
                          f"{when} (artifact `{ARTIFACT}`).\n")
    kept = run.workspace / ".cpi-preflight" / "baseline" / "prod-cf" / "evidence.json"
    assert json.loads(kept.read_text()) == {"marker": "run 9"}
    assert store.calls()[-1] == ["api", f"repos/acme/cpi/actions/artifacts/{newest['id']}/zip"]


def test_github_expired_baseline_is_reported_in_log_summary_and_a_warning(
        store: ArtifactStore, tmp_path: Path) -> None:
    store.upload(ARTIFACT, _reports(tmp_path / "r3"), 3, 90)
    store.expire_all()
    artifact = store.artifacts()[0]
    run = _fetch(store, tmp_path)
    text = (f"none: the reports of run 3, uploaded on {_when(artifact['created_at'])}, expired "
            f"on {_when(artifact['expires_at'])}; drift is not checked in this run. Keep the "
            "reports (input retention-days) longer than the time between two runs.")
    assert run.step(FETCH).log.splitlines() == [f"Baseline: {text}", OURS + text]
    assert _note(run) == "**Baseline**: " + text.replace(
        "run 3", "[run 3](https://github.com/acme/cpi/actions/runs/3)") + "\n"
    assert not (run.workspace / ".cpi-preflight" / "baseline").exists()
    assert len(store.calls()) == 1  # nothing downloaded


def test_github_artifacts_that_cannot_be_listed_are_reported(store: ArtifactStore,
                                                            tmp_path: Path) -> None:
    store.set(fail="403")
    run = _fetch(store, tmp_path)
    text = ("none: the artifacts of this repository could not be listed (HTTP 403); drift is "
            "not checked in this run. The workflow needs the permission actions: read.")
    assert run.step(FETCH).log.splitlines() == [f"Baseline: {text}", OURS + text]
    assert run.step(FETCH).outcome == "success"  # the checks still run, without drift


def test_github_baseline_off_asks_nothing(store: ArtifactStore, tmp_path: Path) -> None:
    run = _fetch(store, tmp_path, baseline="false")
    assert run.step(FETCH).log == (
        "Baseline: not used (input baseline is false): drift is not checked.\n")
    assert store.calls() == []


def test_github_several_profiles_share_one_artifact_named_after_them(
        store: ArtifactStore, tmp_path: Path) -> None:
    run = _fetch(store, tmp_path, profiles=" prod-cf, prod-eu20 ,")
    assert run.step("Check the inputs").outputs == {
        "profiles": "prod-cf,prod-eu20", "artifact": "cpi-preflight-reports-prod-cf+prod-eu20"}
    assert store.calls()[0][5] == "name=cpi-preflight-reports-prod-cf+prod-eu20"


HOSTILE_ROWS = [
    {"id": 5, "name": ARTIFACT, "expired": False, "created_at": "2026-01-01T00:00:00Z",
     "expires_at": "2026-04-01T00:00:00Z", "workflow_run": {"id": "1\n::error::forged"}},
    {"id": 6, "name": ARTIFACT, "expired": True, "workflow_run": {"id": 6},
     "created_at": "2026-01-02T00:00:00Z\n::error::forged ##[error]forged"},
    {"id": 7, "name": f"{ARTIFACT}\n::error::forged", "expired": False,
     "created_at": "2027-01-01T00:00:00Z", "workflow_run": {"id": 7}},
    {"id": True, "name": ARTIFACT, "created_at": "2027-01-01T00:00:00Z",
     "workflow_run": {"id": 8}},
]


@pytest.mark.parametrize("listing", [
    json.dumps({"artifacts": HOSTILE_ROWS}),
    json.dumps({"artifacts": [HOSTILE_ROWS[0], {
        "id": 9, "name": ARTIFACT, "expired": True, "created_at": "2026-02-01T00:00:00Z",
        "expires_at": "##[error]forged", "workflow_run": {"id": 9}}]}),
], ids=["unusable rows", "expiry date"])
def test_github_text_from_the_artifact_list_never_reaches_the_log(
        store: ArtifactStore, tmp_path: Path, listing: str) -> None:
    store.set(listing=listing)
    run = _fetch(store, tmp_path)
    assert FORGED not in run.log + _note(run)
    assert all(line.startswith(OURS) for line in workflow_commands(run.log))


def test_github_listing_that_is_not_json_gives_our_words_only(store: ArtifactStore,
                                                              tmp_path: Path) -> None:
    store.set(listing="##[error]forged\n::error::forged")
    run = _fetch(store, tmp_path)
    text = "none: the artifact list could not be read; drift is not checked in this run."
    assert run.step(FETCH).log.splitlines() == [f"Baseline: {text}", OURS + text]


def test_github_expired_reports_without_a_date_say_so(store: ArtifactStore,
                                                      tmp_path: Path) -> None:
    store.set(listing=json.dumps({"artifacts": [*HOSTILE_ROWS, {
        "id": 9, "name": ARTIFACT, "expired": True, "created_at": "2026-02-01T00:00:00Z",
        "expires_at": None, "workflow_run": {"id": 9}}]}))
    run = _fetch(store, tmp_path)
    text = ("none: the reports of run 9, uploaded on 2026-02-01 00:00 UTC, expired on an "
            "unknown date; drift is not checked in this run. Keep the reports (input "
            "retention-days) longer than the time between two runs.")
    assert run.step(FETCH).log.splitlines() == [f"Baseline: {text}", OURS + text]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_github_artifact_is_unpacked_inside_its_folder_only(store: ArtifactStore,
                                                            tmp_path: Path) -> None:
    artifact = store.upload(ARTIFACT, _reports(tmp_path / "r1"), 1, 90)
    (store.folder / f"{artifact['id']}.zip").write_bytes(_zip({
        "prod-cf/evidence.json": b"{}", "../../escaped.txt": b"x", "/tmp/absolute.txt": b"x"}))
    run = _fetch(store, tmp_path)
    assert run.step(FETCH).log.startswith("Baseline: the reports of run 1, uploaded on ")
    baseline = run.workspace / ".cpi-preflight" / "baseline"
    assert sorted(p.relative_to(baseline).as_posix() for p in baseline.rglob("*")) == [
        "prod-cf", "prod-cf/evidence.json"]
    assert not list(tmp_path.rglob("escaped.txt"))


def test_github_broken_artifact_is_reported_not_used(store: ArtifactStore,
                                                     tmp_path: Path) -> None:
    artifact = store.upload(ARTIFACT, _reports(tmp_path / "r1"), 1, 90)
    (store.folder / f"{artifact['id']}.zip").write_bytes(b"not a zip ##[error]forged")
    run = _fetch(store, tmp_path)
    text = (f"none: the reports of run 1, uploaded on {_when(artifact['created_at'])}, could "
            "not be downloaded; drift is not checked in this run.")
    assert run.step(FETCH).log.splitlines() == [f"Baseline: {text}", OURS + text]
    assert not (run.workspace / ".cpi-preflight" / "baseline").exists()


def test_github_previous_fetch_leftovers_are_removed(store: ArtifactStore,
                                                     tmp_path: Path) -> None:
    stale = tmp_path / "workspace" / ".cpi-preflight" / "baseline" / "prod-cf"
    stale.mkdir(parents=True)
    run = _fetch(store, tmp_path)
    assert run.step(FETCH).log.startswith("Baseline: none: no earlier reports")
    assert not stale.exists()


# --- GitLab --------------------------------------------------------------------------------------

JOB = "cpi-preflight: [prod-cf]"


def _baseline_script() -> str:
    scripts = [s for s in gitlab_job()["script"] if "CI_API_V4_URL" in s]
    assert len(scripts) == 1
    return str(scripts[0])


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    with FakeGitLab().running() as fake:
        yield fake


def _gitlab_fetch(fake: FakeGitLab, tmp_path: Path, token: str | None = "api",
                  **variables: str) -> tuple[str, Path]:
    workspace = tmp_path / "project"
    workspace.mkdir(exist_ok=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8",
           **fake.job_env(JOB, 999), "CPI_PREFLIGHT_BASELINE": "true", **variables}
    if token is not None:
        env["CPI_PREFLIGHT_API_TOKEN"] = fake.token if token == "api" else token
    done = bash(_baseline_script(), workspace, env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr, workspace / ".cpi-preflight" / "baseline"


def _archive(tmp_path: Path, marker: str) -> bytes:
    return zip_folder(_reports(tmp_path / marker.replace(" ", "-"), marker=marker), "reports/")


def _finished(job: FakeJob) -> str:
    return shown(job.finished_at)


def test_gitlab_baseline_is_the_newest_finished_run_of_the_job_and_no_token_leaves_the_api(
        gitlab: FakeGitLab, tmp_path: Path) -> None:
    first = gitlab.add_job(JOB, "success", gitlab.pipeline("success"),
                           _archive(tmp_path, "pipeline 1"))
    red = gitlab.pipeline("failed")  # another profile's job failed in this pipeline
    gitlab.add_job("cpi-preflight: [prod-eu20]", "failed", red, _archive(tmp_path, "eu20"))
    ours = gitlab.add_job(JOB, "failed", red, _archive(tmp_path, "pipeline 2"))
    gitlab.add_job("unit tests", "success", gitlab.pipeline("success", "push"), None)
    assert first.id < ours.id
    log, baseline = _gitlab_fetch(gitlab, tmp_path)
    assert gitlab.tokens_at("storage") == []
    assert log == (f"Baseline: the reports of job {ours.id} (pipeline {red.id}), finished on "
                   f"{_finished(ours)}; that job failed.\n")
    assert json.loads((baseline / "prod-cf" / "evidence.json").read_text()) == {
        "marker": "pipeline 2"}
    assert [s.host for s in gitlab.seen] == ["api", "api", "storage"]
    assert gitlab.tokens_at("api") == [gitlab.token, gitlab.token]


def test_gitlab_finds_the_job_on_a_later_page_and_skips_runs_without_reports(
        gitlab: FakeGitLab, tmp_path: Path) -> None:
    ours = gitlab.add_job(JOB, "success", gitlab.pipeline("success"), _archive(tmp_path, "a"))
    gitlab.add_job(JOB, "failed", gitlab.pipeline("failed"), None)  # stopped before reports
    for _ in range(150):
        gitlab.add_job("lint", "success", gitlab.pipeline("success", "push"), None)
    log, baseline = _gitlab_fetch(gitlab, tmp_path)
    assert log.startswith(f"Baseline: the reports of job {ours.id} (pipeline 1), finished on ")
    assert [s.path for s in gitlab.seen].count("/api/v4/projects/42/jobs") == 2
    assert (baseline / "prod-cf" / "evidence.json").is_file()


def test_gitlab_first_run_and_expired_reports_are_reported(gitlab: FakeGitLab,
                                                           tmp_path: Path) -> None:
    log, baseline = _gitlab_fetch(gitlab, tmp_path)
    assert log == ("Baseline: none: no earlier reports of this job among the last 2000 finished "
                   "jobs: this is the first run, or the reports were deleted. Drift is checked "
                   "from the next run on.\n")
    job = gitlab.add_job(JOB, "success", gitlab.pipeline("success"), _archive(tmp_path, "a"))
    gitlab.expire(job)
    assert job.expire_at is not None
    log, baseline = _gitlab_fetch(gitlab, tmp_path)
    assert log == (f"Baseline: none: the reports of job {job.id} (pipeline 1), finished on "
                   f"{_finished(job)}, expired on {shown(job.expire_at)}; drift is not checked "
                   "in this run. Keep the artifacts (expire_in) longer than the time between "
                   "two runs.\n")
    assert not baseline.exists()


def test_gitlab_reports_past_their_date_that_gitlab_still_keeps_are_used(
        gitlab: FakeGitLab, tmp_path: Path) -> None:
    job = gitlab.add_job(JOB, "success", gitlab.pipeline("success"), _archive(tmp_path, "kept"))
    job.expire_at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=3)
    log, baseline = _gitlab_fetch(gitlab, tmp_path)
    assert log.startswith("Baseline: the reports of job 1 (pipeline 1), finished on ")
    assert json.loads((baseline / "prod-cf" / "evidence.json").read_text()) == {"marker": "kept"}


def test_gitlab_without_a_token_says_how_to_get_drift_and_asks_nothing(
        gitlab: FakeGitLab, tmp_path: Path) -> None:
    log, _ = _gitlab_fetch(gitlab, tmp_path, token=None)
    assert log == ("Baseline: none: set the CI/CD variable CPI_PREFLIGHT_API_TOKEN (a project "
                   "access token, role Reporter, scope read_api) to compare with the last run; "
                   "drift is not checked in this run.\n")
    assert gitlab.seen == []
    log, _ = _gitlab_fetch(gitlab, tmp_path, CPI_PREFLIGHT_BASELINE="false")
    assert log == "Baseline: not used (CPI_PREFLIGHT_BASELINE is false): drift is not checked.\n"
    assert gitlab.seen == []


def test_gitlab_refused_token_is_reported(gitlab: FakeGitLab, tmp_path: Path) -> None:
    log, _ = _gitlab_fetch(gitlab, tmp_path, token="glpat-wrong")
    assert log == ("Baseline: none: the jobs of this project could not be listed (HTTP 401); "
                   "drift is not checked in this run. CPI_PREFLIGHT_API_TOKEN needs the scope "
                   "read_api and at least the role Reporter.\n")


@pytest.mark.parametrize("listing", [
    b"##[error]forged\n::error::forged",
    json.dumps([{"id": 7, "name": JOB, "status": "failed\n::error::forged",
                 "finished_at": "2026-01-01T00:00:00Z\n##[error]forged",
                 "artifacts_expire_at": "##[error]forged",
                 "pipeline": {"id": "1\n::error::forged"},
                 "artifacts": [{"file_type": "archive"}]}]).encode(),
], ids=["not json", "hostile fields"])
def test_gitlab_text_from_the_api_never_reaches_the_log(gitlab: FakeGitLab, tmp_path: Path,
                                                        listing: bytes) -> None:
    gitlab.listing = listing
    log, _ = _gitlab_fetch(gitlab, tmp_path)
    assert FORGED not in log
    assert log.startswith("Baseline: none: ")


def test_gitlab_archive_outside_reports_is_not_unpacked(gitlab: FakeGitLab,
                                                        tmp_path: Path) -> None:
    gitlab.add_job(JOB, "success", gitlab.pipeline("success"), _zip({
        "reports/prod-cf/evidence.json": b"{}", "reports/../../escaped.txt": b"x",
        "other/file.txt": b"x"}))
    log, baseline = _gitlab_fetch(gitlab, tmp_path)
    assert log.startswith("Baseline: the reports of job 1 ")
    assert sorted(p.relative_to(baseline).as_posix() for p in baseline.rglob("*")) == [
        "prod-cf", "prod-cf/evidence.json"]
    assert not list(tmp_path.rglob("escaped.txt"))


def test_gitlab_broken_archive_is_reported_not_used(gitlab: FakeGitLab, tmp_path: Path) -> None:
    job = gitlab.add_job(JOB, "success", gitlab.pipeline("success"), b"not a zip")
    log, baseline = _gitlab_fetch(gitlab, tmp_path)
    assert log == (f"Baseline: none: the reports of job 1 (pipeline 1), finished on "
                   f"{_finished(job)}, could not be downloaded (unreadable); drift is not "
                   "checked in this run.\n")
    assert not baseline.exists()
