"""`cpi-preflight init` writes no file through a link and turns bad characters into errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cpi_preflight import cli

from .test_cli import API_URL, CLIENT_ID, TOKEN_URL, _certificate_pems


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _key(path: Path, **oauth: str) -> Path:
    fields = {"clientid": CLIENT_ID, "url": API_URL, "tokenurl": TOKEN_URL, **oauth}
    path.write_text(json.dumps({"oauth": fields}), encoding="utf-8")
    return path


def _init(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["init", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("force", [False, True])
def test_write_pem_refuses_a_dangling_link(tmp_path: Path, force: bool,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    certificate, key = _certificate_pems()
    service_key = _key(tmp_path / "cert-key.json", certificate=certificate, key=key)
    Path("keys").mkdir()
    Path("keys/prod-cf.key").symlink_to(tmp_path / "planted")
    code, out, err = _init(capsys, "--service-key", str(service_key), "--name", "prod-cf",
                           "--write-pem", "keys", *(["--force"] if force else []))
    assert (code, out) == (2, "")
    assert err == ("cpi-preflight init: keys/prod-cf.key is a symbolic link; cpi-preflight "
                   "does not write through links: remove it, or choose another --write-pem "
                   "directory\n")
    assert not (tmp_path / "planted").exists()
    assert not Path("profiles").exists()


def test_the_profile_is_not_written_through_a_link(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    service_key = _key(tmp_path / "key.json", clientsecret="s3cr3t&<>\"'$")
    Path("profiles").mkdir()
    (tmp_path / "victim").write_text("precious")
    Path("profiles/prod-cf.yaml").symlink_to(tmp_path / "victim")
    code, _, err = _init(capsys, "--service-key", str(service_key), "--name", "prod-cf",
                         "--force")
    assert code == 2
    assert err == ("cpi-preflight init: profiles/prod-cf.yaml is a symbolic link; "
                   "cpi-preflight does not write through links: remove it, or choose another "
                   "--name\n")
    assert (tmp_path / "victim").read_text() == "precious"


def test_a_lone_surrogate_in_the_service_key_secret(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    service_key = _key(tmp_path / "key.json", clientsecret="ab\ud800cd")
    code, out, err = _init(capsys, "--service-key", str(service_key), "--name", "prod-cf")
    assert (code, out) == (2, "")
    assert err == ("cpi-preflight init: key.json: oauth.clientsecret: holds an invalid "
                   "character (a lone surrogate, U+D800) at position 3; download the service "
                   "key again from the BTP cockpit\n")
    assert not Path("profiles").exists()


def test_a_lone_surrogate_in_an_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _init(capsys, "--environment", "neo", "--name", "n", "--api-url",
                           "https://acc-tmn.hci.eu1.hana.ondemand.com", "--token-url",
                           "https://oauthasservices-acc.hana.ondemand.com/oauth2/api/v1/token",
                           "--client-id", "client\udcff")
    assert (code, out) == (2, "")
    assert err == ("cpi-preflight init: --client-id: holds a control or invisible character "
                   "(U+DCFF at position 7); give the value exactly as the cockpit or the service "
                   "key shows it\n")
    assert not Path("profiles").exists()


def test_write_pem_refuses_a_folder_that_is_a_link(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A private key must not land wherever a planted `keys -> elsewhere` link points."""
    certificate, key = _certificate_pems()
    service_key = _key(tmp_path / "cert-key.json", certificate=certificate, key=key)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Path("keys").symlink_to(elsewhere)
    code, out, err = _init(capsys, "--service-key", str(service_key), "--name", "prod-cf",
                           "--write-pem", "keys")
    assert (code, out) == (2, "")
    assert err == ("cpi-preflight init: keys: cannot write (is a symbolic link; cpi-preflight "
                   "does not write through links: remove the link or choose another path); "
                   "check that the folder is writable, or choose another with --profiles-dir "
                   "/ --write-pem\n")
    assert list(elsewhere.iterdir()) == []
    assert not Path("profiles").exists()
