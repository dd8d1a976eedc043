"""Rewriting our options from `--opt value` to `--opt=value` (see cpi_preflight.command_line)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cpi_preflight.command_line import addopts_set_to, joined, rewritten


def test_every_option_of_ours_is_joined_and_others_are_left_alone(tmp_path: Path) -> None:
    args = ["--profile", "a,b", "--profiles-dir", str(tmp_path), "-k", "token",
            "--reports-dir", "r", "--baseline", "b", "--max-concurrency", "64",
            "--max-per-host", "4", "tests", "-x"]
    assert joined(args) == ([
        "--profile=a,b", f"--profiles-dir={tmp_path}", "-k", "token", "--reports-dir=r",
        "--baseline=b", "--max-concurrency=64", "--max-per-host=4", "tests", "-x"], True)


@pytest.mark.parametrize("args", [
    ["--profile", "sandbox-cf"],  # a name, not a path
    ["--reports-dir=/"],  # already one token
    ["--reports-dir", "/definitely/not/here"],  # pytest ignores paths that do not exist
    ["--reports-dir"],  # argparse reports the missing value itself
    ["--reports-dir", "-x"],
])
def test_nothing_to_rewrite_when_pytest_cannot_have_misread(args: list[str]) -> None:
    assert joined(args)[1] is False
    assert rewritten(args, {}) is None


def test_after_a_double_dash_nothing_is_touched(tmp_path: Path) -> None:
    assert joined(["--", "--reports-dir", str(tmp_path)]) == (
        ["--", "--reports-dir", str(tmp_path)], False)


def test_a_path_in_pytest_addopts_is_rewritten_too(tmp_path: Path) -> None:
    environ = {"PYTEST_ADDOPTS": f"-q --reports-dir '{tmp_path}'"}
    assert rewritten(["--profile", "x"], environ) == (
        ["--profile=x"], f"-q --reports-dir={tmp_path}")


def test_addopts_are_restored_after_the_rerun(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-q")
    with addopts_set_to("-x"):
        assert os.environ["PYTEST_ADDOPTS"] == "-x"
    assert os.environ["PYTEST_ADDOPTS"] == "-q"
    monkeypatch.delenv("PYTEST_ADDOPTS")
    with addopts_set_to("-x"):
        pass
    assert "PYTEST_ADDOPTS" not in os.environ
