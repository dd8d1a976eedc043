"""End-to-end helpers: run the real `pytest --profile ...` command in a subprocess."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass
class Outcome:
    """What one run of the product printed and wrote."""

    code: int
    stdout: str
    stderr: str
    reports: Path

    def junit(self, profile: str) -> ET.Element:
        return ET.parse(self.reports / profile / "junit.xml").getroot()

    def cases(self, profile: str) -> dict[str, ET.Element]:
        """Testcases by check id (junit.xml names a check that passed with warnings with
        their codes, `least-privilege (WARNING EXCESS_ROLES)`), the checks of checks/ by node
        id."""
        return {c.get("name", "").split(" (WARNING ", 1)[0]: c
                for c in self.junit(profile).iter("testcase")}

    def failure_types(self, profile: str) -> dict[str, str]:
        """Failure code by built-in check (the checks of checks/ have none)."""
        found = {}
        for name, case in self.cases(profile).items():
            failure = case.find("failure")
            if failure is not None and case.get("classname") == f"cpi_preflight.{profile}":
                found[name] = failure.get("type", "")
        return found

    def property(self, profile: str, name: str) -> str:
        for prop in self.junit(profile).iter("property"):
            if prop.get("name") == name:
                return prop.get("value", "")
        raise KeyError(name)


# Placeholders in expected messages: what varies from run to run (ports, ids, times).
PLACEHOLDERS = (("<host>", r"127\.0\.0\.1:\d+"), ("<client>", r"\S+?"), ("<any>", r".+?"),
                ("<n>", r"\d+"), ("<date>", r"\d{4}-\d\d-\d\d"))


def matches(template: str, text: str) -> bool:
    """Whether `text` is `template` word for word, each placeholder standing for its pattern."""
    pattern = re.escape(template)
    for placeholder, regex in PLACEHOLDERS:
        pattern = pattern.replace(re.escape(placeholder), regex)
    return re.fullmatch(pattern, text) is not None


def run_pytest(tmp_path: Path, *args: str, profiles_dir: Path | None = None,
               env: dict[str, str] | None = None, cwd: Path = REPO) -> Outcome:
    reports = tmp_path / "reports"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
               f"--profiles-dir={profiles_dir or REPO / 'profiles'}",
               f"--reports-dir={reports}", *args]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=180,
                          env=env, check=False)
    return Outcome(done.returncode, done.stdout, done.stderr, reports)


@pytest.fixture
def product(tmp_path: Path):
    def invoke(*args: str, **kwargs: object) -> Outcome:
        return run_pytest(tmp_path, *args, **kwargs)  # type: ignore[arg-type]
    return invoke
