"""Issue 18.11, as a user meets it: two runs write into one reports folder; `cpi-preflight
summary` shows the latest run's reports with their time and run, `--all` shows every report,
and a folder that does not exist is an error naming it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import run_pytest

CLI = str(Path(sys.executable).parent / "cpi-preflight")


def _summary(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, "summary", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)


def _profiles(page: str) -> list[str]:
    return [line.split(" | ")[0][2:] for line in page.splitlines()
            if line.startswith("| sandbox-")]


def test_the_summary_shows_the_latest_run_with_its_time_and_ci_run(tmp_path: Path) -> None:
    first = run_pytest(tmp_path, "--profile", "sandbox-cf")
    assert first.code == 0, first.stdout
    in_ci = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "4242"}
    second = run_pytest(tmp_path, "--profile", "sandbox-neo", env=in_ci)
    assert second.code == 0, second.stdout
    evidence = json.loads((second.reports / "sandbox-neo" / "evidence.json").read_text())
    assert evidence["run"]["ci"] == {"system": "github", "run_id": "4242"}
    started = evidence["run"]["started_at"].replace("T", " ").rstrip("Z")

    latest = _summary("reports", cwd=tmp_path)
    assert (latest.returncode, latest.stderr) == (0, "")
    assert _profiles(latest.stdout) == ["sandbox-neo"]
    row = next(line for line in latest.stdout.splitlines() if line.startswith("| sandbox-neo"))
    assert row.endswith(f" | {started} | GitHub run 4242 | no: simulated tenant |")
    assert latest.stdout.splitlines()[-1] == ("1 report of earlier runs is not shown; add --all "
                                              "to show every report.")
    every = _summary("reports", "--all", cwd=tmp_path)
    assert _profiles(every.stdout) == ["sandbox-cf", "sandbox-neo"]


def test_a_folder_that_does_not_exist_is_an_error_naming_it(tmp_path: Path) -> None:
    done = _summary("reprots", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == ("cpi-preflight summary: reprots: no such folder; give the folder a "
                           "run of pytest --profile wrote its reports to (--reports-dir, "
                           "default reports/)\n")
