"""The README's two commands are the ones CI and the end-to-end tests run."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INSTALL = "python3 -m venv .venv && . .venv/bin/activate && "


def _top_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block is not None, "README.md must open with a ```sh block holding the two commands"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_readme_opens_with_the_two_commands() -> None:
    assert _top_commands() == [
        INSTALL + "pip install -e . && pytest --profile sandbox-cf",
        INSTALL + "pip install -e '.[test]' && pytest tests",
    ]


def test_ci_runs_the_readme_test_command() -> None:
    lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert "python -m pip install --quiet -e '.[test]'" in lines
    assert lines[-1] == _top_commands()[1].rsplit(" && ", 1)[1]


def test_the_shipped_sandbox_profile_of_the_first_command_exists() -> None:
    name = _top_commands()[0].rsplit("--profile ", 1)[1]
    assert (REPO / "profiles" / f"{name}.yaml").is_file()
