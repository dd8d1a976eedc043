"""Checks written by the team belong to their profile's reports (issue 18.1).

A user's folder with the sandbox profile and a `checks/` test that fails: pytest exits 1, and
junit.xml, evidence.json (and .html), the terminal section and `cpi-preflight summary` all say
so, with the check's assertion message (the token in it masked) and its duration.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from .conftest import REPO

TEAM_CHECKS = '''
import os
import pathlib

import pytest


def test_logs_answer_201(preflight_api):
    token = preflight_api.headers["Authorization"].split()[1]
    pathlib.Path(os.environ["TOKEN_SEEN"]).write_text(token)
    status = preflight_api.get("/MessageProcessingLogs", params={"$top": "1"}).status_code
    assert status == 201, f"expected 201 & <x> \\"q\\" 'a' $HOME with {token}"


def test_logs_answer(preflight_api):
    assert preflight_api.get("/MessageProcessingLogs").status_code == 200


def test_nothing_to_do(preflight_profile):
    pytest.skip("no queues to look at")


def test_without_a_fixture():
    assert 1 + 1 == 2
'''
Run = tuple[Path, subprocess.CompletedProcess[str]]
FAILED_ID = "checks/test_team.py::test_logs_answer_201[sandbox-cf]"
MESSAGE = ("AssertionError: expected 201 & <x> \"q\" 'a' $HOME with *** assert 200 == 201")


@pytest.fixture(scope="module")
def team_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("team")
    (folder / "profiles").mkdir()
    shutil.copy(REPO / "profiles" / "sandbox-cf.yaml", folder / "profiles")
    (folder / "checks").mkdir()
    (folder / "checks" / "test_team.py").write_text(TEAM_CHECKS)
    env = {**os.environ, "COLUMNS": "100", "TOKEN_SEEN": str(folder / "token.txt")}
    done = subprocess.run([sys.executable, "-m", "pytest", "--profile", "sandbox-cf", "-p",
                           "no:cacheprovider", "-p", "no:randomly"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    return folder, done


def test_pytest_fails_and_every_report_says_failed(team_run: Run) -> None:
    folder, done = team_run
    assert done.returncode == 1, done.stdout + done.stderr
    doc = json.loads((folder / "reports" / "sandbox-cf" / "evidence.json").read_text())
    assert doc["summary"] == {"failed": 1, "warning": 0, "passed": 12, "skipped": 1,
                              "not_run": 0, "warning_findings": 0, "result": "failed"}
    schema = json.loads((REPO / "src" / "cpi_preflight" / "data" / "evidence.schema.json")
                        .read_text())
    jsonschema.validate(doc, schema)
    assert [(u["nodeid"], u["outcome"], u["ran"], u["message"]) for u in doc["user_checks"]] == [
        (FAILED_ID, "failed", True, MESSAGE),
        ("checks/test_team.py::test_logs_answer[sandbox-cf]", "passed", True, ""),
        ("checks/test_team.py::test_nothing_to_do[sandbox-cf]", "skipped", True,
         "no queues to look at"),
        ("checks/test_team.py::test_without_a_fixture", "passed", True, ""),
    ]
    assert all(u["duration_s"] >= 0 for u in doc["user_checks"])
    assert doc["user_checks"][0]["duration_s"] > 0


def test_junit_holds_the_team_s_checks_with_their_messages(team_run: Run) -> None:
    folder, _ = team_run
    root = ET.parse(folder / "reports" / "sandbox-cf" / "junit.xml").getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("14", "1", "1")
    ours = {c.get("name"): c for c in suite.iter("testcase")
            if c.get("classname") == "cpi_preflight.sandbox-cf.checks"}
    assert list(ours) == [FAILED_ID, "checks/test_team.py::test_logs_answer[sandbox-cf]",
                          "checks/test_team.py::test_nothing_to_do[sandbox-cf]",
                          "checks/test_team.py::test_without_a_fixture"]
    failure = ours[FAILED_ID].find("failure")
    assert failure is not None
    assert failure.get("message") == MESSAGE
    assert float(ours[FAILED_ID].get("time", "0")) > 0
    skipped = ours["checks/test_team.py::test_nothing_to_do[sandbox-cf]"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "no queues to look at"


def test_the_terminal_counts_and_shows_them(team_run: Run) -> None:
    _, done = team_run
    lines = done.stdout.splitlines()
    start = lines.index("sandbox-cf (cf): 1 failed, 12 passed, 1 skipped")
    assert lines[start + 11:start + 19] == [
        "  checks written by this team:",
        f"  failed   {FAILED_ID}",
        "    AssertionError: expected 201 & <x> \"q\" 'a' $HOME with *** assert 200 == 201",
        "  passed   checks/test_team.py::test_logs_answer[sandbox-cf]",
        "  skipped  checks/test_team.py::test_nothing_to_do[sandbox-cf]",
        "    no queues to look at",
        "  passed   checks/test_team.py::test_without_a_fixture",
        "report: reports/sandbox-cf/junit.xml",
    ]


def test_the_summary_is_red_for_a_red_job(team_run: Run) -> None:
    folder, _ = team_run
    page = subprocess.run([sys.executable, "-m", "cpi_preflight.cli", "summary", "reports"],
                          cwd=folder, capture_output=True, text=True, check=True).stdout
    assert "| sandbox-cf | cf | ❌ failed | 1 | 0 | 12 | 1 | 0 |" in page
    assert ("| checks/test\\_team.py::test\\_logs\\_answer\\_201\\[sandbox-cf\\] | team's check | "
            "AssertionError: expected 201 &amp; &lt;x&gt; \"q\" 'a' $HOME with \\*\\*\\* assert "
            "200 == 201 |  |") in page.splitlines()
    assert "✅" not in page


def test_the_evidence_page_lists_them_and_no_report_holds_the_token(team_run: Run) -> None:
    folder, done = team_run
    page = (folder / "reports" / "sandbox-cf" / "evidence.html").read_text()
    assert '<div class="badge failed" id="result">FAILED</div>' in page
    section = page.split('<section id="user-checks">', 1)[1].split("</section>", 1)[0]
    assert "<h2>Checks written by this team</h2>" in section
    assert html.unescape(section).count(MESSAGE) == 1
    token = (folder / "token.txt").read_text()
    assert len(token) > 20
    for report in (folder / "reports" / "sandbox-cf").iterdir():
        assert token not in report.read_text(), report
    assert token not in done.stdout + done.stderr
