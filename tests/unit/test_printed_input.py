"""Issue 17.2: whatever the command line prints from any input is printable: escape sequences
(CSI, OSC 52 which sets the clipboard), CR and bidi controls never reach the terminal, and no
workflow command reaches a CI log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cpi_preflight import cli
from cpi_preflight.sandbox import __main__ as sandbox_main

OSC52 = "\x1b]52;c;Y3VybCBldmlsfHNo\x07"
HOSTILE = f"{OSC52}x\x1b[2K\r\u202e##[error]approved"
USAGE = "usage: cpi-preflight [-h] [--version] COMMAND ...\n"


def _clean(text: str) -> None:
    for raw in ("\x1b", "\x07", "\r", "\u202e", "##["):
        assert raw not in text, repr(raw)


def test_an_unknown_argument_is_quoted_printable(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["catalog", HOSTILE, "::error::approved"]) == 2
    assert capsys.readouterr().err == (
        f"{USAGE}cpi-preflight: error: unrecognized arguments: x # #[error]approved "
        ": :error::approved\n")


def test_a_sandbox_argument_is_quoted_printable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        sandbox_main.main(["--count", HOSTILE])
    assert raised.value.code == 2
    err = capsys.readouterr().err
    _clean(err)
    assert err.endswith("error: argument --count: invalid int value: "
                        "'\\x1b]52;c;Y3VybCBldmlsfHNo\\x07x\\x1b[2K\\r\\u202e# #[error]approved'\n")


def test_a_sandbox_spec_error_is_printable(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(json.dumps({"environment": "cf", "sandbox": {"roles": [HOSTILE]}}),
                    encoding="utf-8")
    assert sandbox_main.main(["--spec", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {spec}: sandbox.roles[0]: unknown role template "
                          "'x # #[error]approved'; valid role templates: ")
    _clean(err)


def test_a_sandbox_key_path_with_a_control_character_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / f"key{OSC52}.json"
    assert sandbox_main.main(["--service-key", str(target)]) == 2
    assert capsys.readouterr().err == (
        "error: --service-key: the path holds a control or invisible character (U+001B at "
        f"position {len(str(tmp_path)) + 5}); give a path in a writable folder\n")
    assert not target.exists()


def test_init_names_a_hostile_file_printably(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    key = tmp_path / f"rt{OSC52}\u202e##[error]x.json"
    key.write_text(json.dumps({"oauth": {
        "clientid": "sb-1!b2|it-rt-example!b3", "clientsecret": "S3cr&t<>\"'$",
        "url": "https://example.it-cpi018-rt.cfapps.eu10-003.hana.ondemand.com",
        "tokenurl": "https://example.authentication.eu10.hana.ondemand.com/oauth/token"}}),
        encoding="utf-8")
    assert cli.main(["init", "--service-key", str(key), "--name", "rt"]) == 0
    out, err = capsys.readouterr()
    assert err == (f"warning: {tmp_path}/rt# #[error]x.json: the client id ends in "
                   "|it-rt-...: this is a key of the integration-flow plan, which cannot call "
                   "the API; create a service key of an instance with plan api and run init "
                   "again\n")
    _clean(out)
    assert "export CPI_RT_CLIENT_SECRET='S3cr&t<>\"'\"'\"'$'" in out.splitlines()
