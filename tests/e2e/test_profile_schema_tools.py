"""The README's profile-schema commands, run as printed with the installed console scripts:
`cpi-preflight init` and `schema` write what `check-jsonschema` (ECMA-262 patterns, like the
editors) then accepts or refuses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cpi_preflight import profile_schema

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECTION = "### The profile schema"


def _readme_commands() -> list[str]:
    """The shell lines of the README's profile-schema section, but installing software."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    lines = [line for block in re.findall(r"```sh\n(.*?)```", section, re.S)
             for line in block.splitlines()]
    return [line for line in lines if not line.startswith(("code --install", "pip install"))]


COMMANDS = _readme_commands()
SCHEMA_COMMAND = "cpi-preflight schema > profiles/profile.schema.json"
CHECK_COMMAND = "check-jsonschema --schemafile profiles/profile.schema.json profiles/*.yaml"


def _sh(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "key.json").write_text(json.dumps({"oauth": {
        "clientid": "sb-00000000-0000-4000-8000-000000000000!b12345|it!b1234",
        "clientsecret": "Fake$secret'&<>\"", "tokenurl":
        "https://example.authentication.eu10.hana.ondemand.com/oauth/token",
        "url": "https://example.it-cpi018.cfapps.eu10-003.hana.ondemand.com"}}), encoding="utf-8")
    return tmp_path


def test_the_readme_shows_the_commands_this_test_runs() -> None:
    assert COMMANDS == [SCHEMA_COMMAND, CHECK_COMMAND]


def test_check_jsonschema_accepts_a_profile_init_wrote(workspace: Path) -> None:
    made = _sh("cpi-preflight init --service-key key.json --name prod-cf", workspace)
    assert (made.returncode, made.stderr) == (0, "")
    text = (workspace / "profiles" / "prod-cf.yaml").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "# yaml-language-server: $schema=profile.schema.json"
    checked = _sh(CHECK_COMMAND, workspace)
    assert (checked.returncode, checked.stdout.strip()) == (0, "ok -- validation done")


def test_check_jsonschema_refuses_a_misspelt_role_until_it_is_corrected(workspace: Path) -> None:
    profiles = workspace / "profiles"
    profiles.mkdir()
    hand = profiles / "hand.yaml"
    hand.write_text("environment: neo\nservice_key: keys/neo.json\n"
                    "required_roles: [NodeManager.reed]\n", encoding="utf-8")
    assert _sh(SCHEMA_COMMAND, workspace).returncode == 0
    assert (profiles / "profile.schema.json").read_text(encoding="utf-8") == (
        profile_schema.SHIPPED.read_text(encoding="utf-8"))
    refused = _sh(CHECK_COMMAND, workspace)
    assert refused.returncode == 1
    assert "profiles/hand.yaml::$.required_roles: " in refused.stdout
    hand.write_text(hand.read_text(encoding="utf-8").replace("reed", "read"), encoding="utf-8")
    assert _sh(CHECK_COMMAND, workspace).returncode == 0


def test_check_jsonschema_accepts_the_repository_s_profiles() -> None:
    schema = profile_schema.SHIPPED
    done = _sh(f"check-jsonschema --schemafile {schema} profiles/*.yaml", REPO)
    assert (done.returncode, done.stdout.strip()) == (0, "ok -- validation done")


def test_the_schema_s_patterns_are_ecma_262(tmp_path: Path) -> None:
    """Editors and check-jsonschema read patterns as ECMA-262 (not Python's `re`); the
    metaschema check refuses a pattern that is not one, as the second file shows."""
    done = _sh(f"check-jsonschema --check-metaschema {profile_schema.SHIPPED}", tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, "ok -- validation done")
    python_only = tmp_path / "python-only.json"
    python_only.write_text(json.dumps({"$schema": profile_schema.DRAFT,
                                       "properties": {"a": {"pattern": "(?i)cf"}}}))
    assert _sh(f"check-jsonschema --check-metaschema {python_only}", tmp_path).returncode == 1
