"""`cpi-preflight schema`, and the schema `init` writes beside the profile its first line names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cpi_preflight import cli, profile, profile_schema

SECRET = "Fake$secret'with=quote&<>\""
API_URL = "https://example.it-cpi018.cfapps.eu10-003.hana.ondemand.com"
TOKEN_URL = "https://example.authentication.eu10.hana.ondemand.com/oauth/token"
CLIENT_ID = "sb-00000000-0000-4000-8000-000000000000!b12345|it!b1234"
SHIPPED = profile_schema.SHIPPED.read_text(encoding="utf-8")
MODELINE = "# yaml-language-server: $schema=profile.schema.json"
WROTE = ("Wrote profiles/profile.schema.json, which the profile's first line names: editors with "
         "YAML language support (VS Code: the YAML extension) complete and check profiles with "
         "it. Commit it with the profile.")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "key.json"
    path.write_text(json.dumps({"oauth": {"clientid": CLIENT_ID, "clientsecret": SECRET,
                                          "url": API_URL, "tokenurl": TOKEN_URL}}),
                    encoding="utf-8")
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _init(capsys: pytest.CaptureFixture[str], key: Path, name: str = "prod-cf",
          *more: str) -> tuple[int, list[str], str]:
    code, out, err = _run(capsys, "init", "--service-key", str(key), "--name", name, *more)
    return code, out.splitlines(), err


# --- cpi-preflight schema ------------------------------------------------------------------------

def test_schema_prints_the_shipped_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "schema") == (0, SHIPPED, "")


def test_schema_takes_no_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "schema", "profiles")
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == "cpi-preflight: error: unrecognized arguments: profiles"


def test_the_command_list_names_schema(capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    _, out, _ = _run(capsys, "--help")
    assert ("    schema    print the JSON Schema of a profile (for editors and validators)"
            in out.splitlines())


# --- the first line of a profile, and the schema beside it -------------------------------------

def test_init_names_the_schema_on_the_profile_s_first_line(
        key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, err = _init(capsys, key)
    assert (code, err) == (0, "")
    text = Path("profiles/prod-cf.yaml").read_text(encoding="utf-8")
    assert text.splitlines()[0] == MODELINE
    assert Path("profiles/profile.schema.json").read_text(encoding="utf-8") == SHIPPED
    assert lines[-5:] == [WROTE, "", "Then run the checks:", "", lines[-1]]


def test_the_loader_reads_a_profile_that_starts_with_the_line(
        key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _init(capsys, key)
    loaded = profile.load("prod-cf", Path("profiles"), {"CPI_PROD_CF_CLIENT_SECRET": SECRET})
    assert (loaded.api_url, loaded.client_id) == (API_URL, CLIENT_ID)


def test_the_line_is_found_from_the_profile_s_own_folder(
        key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Editors read a relative $schema from the YAML file's folder: --profiles-dir too."""
    _init(capsys, key, "eu", "--profiles-dir", "deep/tenants")
    assert Path("deep/tenants/eu.yaml").read_text(encoding="utf-8").startswith(MODELINE + "\n")
    assert Path("deep/tenants/profile.schema.json").read_text(encoding="utf-8") == SHIPPED
    assert not Path("profiles").exists()


def test_a_second_profile_leaves_the_same_schema_alone_and_says_nothing(
        key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _init(capsys, key)
    schema = Path("profiles/profile.schema.json")
    before = schema.stat().st_mtime_ns
    code, lines, _ = _init(capsys, key, "prod-2")
    assert code == 0
    assert schema.stat().st_mtime_ns == before
    assert not any("profile.schema.json" in line for line in lines)


def test_a_schema_from_another_version_is_kept_and_the_way_to_replace_it_printed(
        key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = Path("my tenants")
    folder.mkdir()
    (folder / "profile.schema.json").write_text('{"title": "older"}\n', encoding="utf-8")
    code, lines, err = _init(capsys, key, "prod-cf", "--profiles-dir", "my tenants")
    assert (code, err) == (0, "")
    assert (folder / "profile.schema.json").read_text(encoding="utf-8") == '{"title": "older"}\n'
    start = lines.index("Then run the checks:") - 4
    assert lines[start:start + 4] == [
        "Kept my tenants/profile.schema.json: it is not this version's profile schema (another "
        "version of cpi-preflight wrote it, or it was edited). Pass --force to replace it, or run:",
        "", "cpi-preflight schema > 'my tenants/profile.schema.json'", ""]


def test_force_replaces_a_schema_from_another_version(
        key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("profiles").mkdir()
    Path("profiles/profile.schema.json").write_text("{}\n", encoding="utf-8")
    code, lines, _ = _init(capsys, key, "prod-cf", "--force")
    assert code == 0
    assert Path("profiles/profile.schema.json").read_text(encoding="utf-8") == SHIPPED
    assert WROTE in lines


def test_the_schema_is_not_written_through_a_link_and_init_still_succeeds(
        tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text("{}\n", encoding="utf-8")
    Path("profiles").mkdir()
    Path("profiles/profile.schema.json").symlink_to(target)
    code, lines, err = _init(capsys, key, "prod-cf", "--force")
    assert (code, err) == (0, "")
    assert target.read_text(encoding="utf-8") == "{}\n"
    assert Path("profiles/prod-cf.yaml").is_file()
    start = lines.index("Then run the checks:") - 4
    assert lines[start:start + 4] == [
        "Did not write profiles/profile.schema.json (is a symbolic link; cpi-preflight does not "
        "write through links: remove the link or choose another path); the profile's first line "
        "names it for editors. Write it yourself with:",
        "", "cpi-preflight schema > profiles/profile.schema.json", ""]


def test_no_schema_is_written_when_init_refuses_the_profile(
        key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = _init(capsys, key, "prod-cf", "--roles", "MonitorDataRead")
    assert code == 2
    assert not Path("profiles").exists()
