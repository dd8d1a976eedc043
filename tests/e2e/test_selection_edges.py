"""Selections that leave the built-in checks out: a user check alone still gets its profile's
run, and a selection of nothing removes the previous reports instead of leaving them current."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from cpi_preflight.reporting.reports import REPORTS

from .conftest import REPO, run_pytest

PROFILE = "sandbox-cf-misconfigured"


def test_a_user_check_selected_alone_still_gets_its_profile_probed(tmp_path: Path) -> None:
    outcome = run_pytest(tmp_path, "--profile", "sandbox-cf", "-k", "message_logs", "-rs")
    assert outcome.code == 0, outcome.stdout
    assert "no profile selected" not in outcome.stdout
    assert " 1 passed, 10 deselected in " in outcome.stdout.splitlines()[-1]
    # the user check ran and is reported with its profile; the built-in checks did not run
    assert "sandbox-cf (cf): 1 passed, 10 not run" in outcome.stdout
    doc = json.loads((outcome.reports / "sandbox-cf" / "evidence.json").read_text())
    assert [(u["nodeid"], u["outcome"]) for u in doc["user_checks"]] == [
        ("checks/test_odata_shape.py::test_message_logs_answer_odata_v2_json[sandbox-cf]",
         "passed")]
    assert doc["summary"]["result"] == "incomplete"
    assert (outcome.reports / "sandbox-cf" / "evidence.json").is_file()


def test_selecting_nothing_says_so_and_leaves_no_stale_report(tmp_path: Path) -> None:
    first = run_pytest(tmp_path, "--profile", PROFILE)
    assert first.code == 1
    assert (first.reports / PROFILE / "junit.xml").is_file()
    again = run_pytest(tmp_path, "--profile", PROFILE, "-k", "nothingmatches")
    assert again.code == 5, again.stdout
    assert ("cpi-preflight: no check of profile sandbox-cf-misconfigured was selected (-k, -m, "
            "--deselect, --lf or --sw left out every one), so nothing was probed and no report "
            "was written; the previous reports of these profiles were removed so that none "
            "reads as current") in " ".join(again.stdout.split())
    assert sorted(p.name for p in (again.reports / PROFILE).iterdir()) == []


LEFT_OUT = ("cpi-preflight: no check of profile sandbox-cf was selected in this run (-k, -m, "
            "--deselect, --lf or --sw left out every one), so it was not probed and got no "
            "report; its previous reports were removed so that none reads as current")


def test_a_profile_lf_leaves_out_loses_its_old_green_reports(tmp_path: Path) -> None:
    """Issue 18.10: `--profile a,b --lf` reruns a's failures only; b's reports of the earlier
    run must not stay behind as if this run had checked b."""
    folder = tmp_path / "project"
    shutil.copytree(REPO / "profiles", folder / "profiles")
    command = [sys.executable, "-m", "pytest", "--profile", f"{PROFILE},sandbox-cf", "-p",
               "no:randomly", f"--reports-dir={tmp_path / 'reports'}"]
    first = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=180,
                           check=False)
    assert first.returncode == 1, first.stdout
    green = tmp_path / "reports" / "sandbox-cf"
    assert sorted(p.name for p in green.iterdir()) == sorted(REPORTS)
    again = subprocess.run([*command, "--lf"], cwd=folder, capture_output=True, text=True,
                           timeout=180, check=False)
    assert again.returncode == 1, again.stdout
    assert " 3 failed, " in again.stdout.splitlines()[-1]
    assert LEFT_OUT in " ".join(again.stdout.split())
    assert sorted(green.iterdir()) == []
    assert (tmp_path / "reports" / PROFILE / "evidence.json").is_file()
    assert f"report: {green}/" not in again.stdout


def test_a_profile_k_leaves_out_loses_its_old_reports(tmp_path: Path) -> None:
    first = run_pytest(tmp_path, "--profile", f"sandbox-cf,{PROFILE}")
    assert (first.reports / "sandbox-cf" / "junit.xml").is_file()
    again = run_pytest(tmp_path, "--profile", f"sandbox-cf,{PROFILE}", "-k", "misconfigured")
    assert again.code == 1, again.stdout
    assert LEFT_OUT in " ".join(again.stdout.split())
    assert sorted((again.reports / "sandbox-cf").iterdir()) == []
    assert (again.reports / PROFILE / "junit.xml").is_file()


def test_plain_pytest_in_a_folder_without_profiles_gives_the_hint(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 5, done.stdout
    assert ("cpi-preflight: no profile selected, so no check ran; there is no profiles folder "
            f"here ({tmp_path / 'profiles'}): write a profile with `cpi-preflight init "
            "--service-key KEY.json --name NAME`, or name the folder with --profiles-dir "
            "DIR") in " ".join(done.stdout.split())


def test_last_failed_works_in_the_clone(tmp_path: Path) -> None:
    """The clone's own pytest settings must not switch off the cache `--lf` reads."""
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "--profile", PROFILE, "-o",
             f"cache_dir={tmp_path / 'cache'}", f"--reports-dir={tmp_path / 'reports'}", *args],
            cwd=REPO, capture_output=True, text=True, timeout=120, check=False)

    assert run().returncode == 1
    again = run("--lf")
    assert again.returncode == 1, again.stdout
    assert "run-last-failure: rerun previous 3 failures" in again.stdout
    assert " 3 failed, 9 deselected in " in again.stdout.splitlines()[-1]


def test_a_limit_below_one_is_a_usage_error(tmp_path: Path) -> None:
    outcome = run_pytest(tmp_path, "--profile", "sandbox-cf", "--max-concurrency", "0")
    assert outcome.code == 4
    assert ("ERROR: --max-concurrency 0: give at least 1 (requests in flight at once); leave it "
            "out for the default 256") in outcome.stderr
