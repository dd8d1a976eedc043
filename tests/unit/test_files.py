"""Every file the tool reads is a regular file, bounded and parsed with limits; every file it
writes is written atomically and never through a link. Exact messages are asserted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cpi_preflight import baseline, files, service_key
from cpi_preflight import profile as profile_module
from cpi_preflight.errors import ConfigError, ProfileError, SandboxSpecError
from cpi_preflight.reporting.reports import REPORTS, check_reports_dir, remove_previous
from cpi_preflight.sandbox.__main__ import build_parser, build_spec

from .conftest import CLIENT_ID, PemPair, cf_data, write_yaml

WHERE = "profiles/t.yaml"
ALIAS_BOMB = """\
a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
environment: [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def within(seconds: float, work: Callable[[], Any]) -> Any:
    """Run `work` in a thread; fail (instead of hanging the suite) if it blocks."""
    outcome: dict[str, Any] = {}

    def call() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the test below
            outcome["error"] = exc

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def profile_problem(workdir: Path, name: str = "t") -> str:
    with pytest.raises(ProfileError) as caught:
        within(20, lambda: profile_module.load(name, workdir / "profiles", {}))
    return str(caught.value)


@pytest.fixture
def profiles(workdir: Path) -> Path:
    folder = workdir / "profiles"
    folder.mkdir()
    return folder


# --- reading ---------------------------------------------------------------------------


def test_a_fifo_profile_is_refused_without_blocking(workdir: Path, profiles: Path) -> None:
    os.mkfifo(profiles / "t.yaml")
    assert profile_problem(workdir) == (
        f"{WHERE}: cannot be read: is a FIFO (named pipe), not a regular file")


def test_a_profile_linked_to_a_device_is_refused(workdir: Path, profiles: Path) -> None:
    (profiles / "t.yaml").symlink_to("/dev/zero")
    assert profile_problem(workdir) == (
        f"{WHERE}: cannot be read: is a character device, not a regular file")


def test_an_oversized_profile_is_refused_unread(workdir: Path, profiles: Path) -> None:
    with (profiles / "t.yaml").open("wb") as handle:
        handle.truncate(3 * 1024**3)  # sparse: 3 GiB of nothing
    assert profile_problem(workdir) == (
        f"{WHERE}: cannot be read: is 3072.0 MiB, more than the 256 KiB this file may have")


def test_a_yaml_alias_bomb_is_refused_at_once(workdir: Path, profiles: Path) -> None:
    (profiles / "t.yaml").write_text(ALIAS_BOMB, encoding="utf-8")
    assert profile_problem(workdir) == (
        f"{WHERE}: line 5: the YAML expands to more than 20000 values (through anchors and "
        "aliases); write it out plainly")


def test_ordinary_anchors_and_aliases_are_fine() -> None:
    text = "a: &x [1, 2]\nb: *x\nc: {k: *x}\n"  # yaml.safe_dump writes these for shared lists
    assert files.load_yaml(text) == {"a": [1, 2], "b": [1, 2], "c": {"k": [1, 2]}}


def test_deep_yaml_nesting_is_refused(workdir: Path, profiles: Path) -> None:
    (profiles / "t.yaml").write_text("environment: " + "[" * 200 + "]" * 200 + "\n")
    assert profile_problem(workdir) == f"{WHERE}: line 1: nested more than 32 levels deep"


def test_a_fifo_or_huge_ca_bundle_is_refused(workdir: Path, profiles: Path) -> None:
    os.mkfifo(workdir / "fifo.pem")
    with (workdir / "huge.pem").open("wb") as handle:
        handle.truncate(3 * 1024**3)
    for name, problem in (("fifo.pem", "is a FIFO (named pipe), not a regular file"),
                          ("huge.pem", "is 3072.0 MiB, more than the 16.0 MiB this file may "
                                       "have")):
        write_yaml(profiles, "t", cf_data(ca_bundle=str(workdir / name)))
        assert profile_problem(workdir) == (
            f"{WHERE}: ca_bundle: file {workdir / name} cannot be read: {problem}")


def test_read_text_for_ssl_cert_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OSError, match="is a FIFO") as caught:
        within(20, lambda: files.read_text(tmp_path / "fifo", files.CA_LIMIT))
    assert caught.value.filename == str(tmp_path / "fifo")
    (tmp_path / "ok.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    assert files.read_text(tmp_path / "ok.pem", files.CA_LIMIT).startswith("-----BEGIN")


@pytest.mark.parametrize("where", ["value", "environment"])
def test_a_lone_surrogate_in_a_secret_is_a_profile_error(workdir: Path, profiles: Path,
                                                         where: str) -> None:
    bad = "s3cr\udcffet"  # what os.environ holds for a non-UTF-8 byte
    if where == "value":
        (profiles / "t.yaml").write_text(yaml.safe_dump(cf_data(client_secret="X")).replace(
            "client_secret: X", 'client_secret: "s3cr\\udcffet"'), encoding="utf-8")
        environ: dict[str, str] = {}
    else:
        write_yaml(profiles, "t", cf_data(client_secret="${SECRET}"))
        environ = {"SECRET": bad}
    with pytest.raises(ProfileError) as caught:
        profile_module.load("t", profiles, environ)
    hint = ("; check the value and the encoding of any environment variable it names"
            if where == "environment" else "")
    assert str(caught.value) == (
        f"{WHERE}: client_secret: holds an invalid character (a lone surrogate, U+DCFF) at "
        f"position 5{hint}")


# --- service keys and baselines ----------------------------------------------------------


def key_problem(path: Path) -> str:
    with pytest.raises(ProfileError) as caught:
        within(20, lambda: service_key.read_service_key(path))
    return str(caught.value)


AGAIN = "download the service key again from the BTP cockpit"


def test_service_key_limits(workdir: Path) -> None:
    deep = workdir / "deep.json"
    deep.write_text('{"oauth": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert key_problem(deep) == f"deep.json: nested more than 32 levels deep; {AGAIN}"
    shallow_but_deep = workdir / "d40.json"
    shallow_but_deep.write_text('{"oauth": ' + "[" * 40 + "]" * 40 + "}")
    assert key_problem(shallow_but_deep).startswith(
        "d40.json: nested more than 32 levels deep (at oauth")
    surrogate = workdir / "s.json"
    surrogate.write_text(json.dumps({"oauth": {"clientid": CLIENT_ID, "url": "https://a",
                                               "tokenurl": "https://b",
                                               "clientsecret": "ab\ud800cd"}}))
    assert key_problem(surrogate) == (
        "s.json: oauth.clientsecret: holds an invalid character (a lone surrogate, U+D800) at "
        f"position 3; {AGAIN}")
    os.mkfifo(workdir / "fifo.json")
    assert key_problem(workdir / "fifo.json") == (
        "fifo.json: cannot be read: is a FIFO (named pipe), not a regular file")


def test_baseline_limits(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError) as caught:
        baseline.load(deep, ["p"])
    assert str(caught.value) == (f"--baseline {deep}: is not an evidence.json written by "
                                 "cpi-preflight (nested more than 8 levels deep)")
    os.mkfifo(tmp_path / "fifo.json")
    with pytest.raises(ConfigError) as caught:
        within(20, lambda: baseline.load(tmp_path / "fifo.json", ["p"]))
    assert str(caught.value) == (f"--baseline {tmp_path / 'fifo.json'}: cannot be read: is a "
                                 "FIFO (named pipe), not a regular file")


# --- sandbox --spec ----------------------------------------------------------------------


@pytest.mark.parametrize(("content", "expected"), [
    (b"\xff\xfe", "is not UTF-8 text"),
    (ALIAS_BOMB.encode(), "line 5: the YAML expands to more than 20000 values (through "
                          "anchors and aliases); write it out plainly"),
    (b"sandbox: [1, 2]\n", "sandbox: expected a mapping, got list"),
    (b"- 1\n", "expected a mapping (a sandbox section or a profile), got list"),
    (b"roles: [\n", "invalid YAML at line 2, column 1: expected the node content, but found "
                    "'<stream end>'"),
])
def test_bad_spec_files(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(content)
    with pytest.raises(SandboxSpecError) as caught:
        build_spec(build_parser().parse_args(["--spec", str(path)]))
    assert str(caught.value) == f"--spec {path}: {expected}"


def test_a_fifo_spec_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "spec.yaml")
    with pytest.raises(SandboxSpecError) as caught:
        within(20, lambda: build_spec(build_parser().parse_args(
            ["--spec", str(tmp_path / "spec.yaml")])))
    assert str(caught.value) == (f"--spec {tmp_path / 'spec.yaml'}: cannot be read: is a FIFO "
                                 "(named pipe), not a regular file")


# --- writing -----------------------------------------------------------------------------


def test_write_atomic_refuses_links_and_leaves_the_target_alone(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = tmp_path / "junit.xml"
    link.symlink_to(victim)
    with pytest.raises(OSError, match="is a symbolic link") as caught:
        files.write_atomic(link, b"report")
    assert caught.value.filename == str(link)
    assert victim.read_text() == "precious"
    dangling = tmp_path / "key.pem"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(OSError, match="is a symbolic link"):
        files.write_atomic(dangling, b"secret", private=True)
    assert not (tmp_path / "nowhere").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junit.xml", "key.pem", "victim"]


def test_write_atomic_refuses_a_folder_that_is_a_link(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "keys").symlink_to(elsewhere)
    with pytest.raises(OSError, match="is a symbolic link") as caught:
        files.write_atomic(tmp_path / "keys" / "p.key", b"secret", private=True)
    assert caught.value.filename == str(tmp_path / "keys")
    assert list(elsewhere.iterdir()) == []


def test_write_atomic_replaces_whole_files_with_the_right_mode(tmp_path: Path) -> None:
    target = tmp_path / "report.xml"
    target.write_text("old")
    files.write_atomic(target, b"new")
    assert target.read_text() == "new"
    files.write_atomic(tmp_path / "key.pem", b"k", private=True)
    assert (tmp_path / "key.pem").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.pem", "report.xml"]


def test_reports_in_a_linked_profile_folder_are_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "p").symlink_to(elsewhere)
    with pytest.raises(OSError, match="is a symbolic link"):
        files.write_text(tmp_path / "reports" / "p" / "junit.xml", "x")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("setup", ["file", "under-a-file", "link"])
def test_check_reports_dir(tmp_path: Path, setup: str) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    reports = {"file": blocker, "under-a-file": blocker / "reports",
               "link": tmp_path / "reports"}[setup]
    if setup == "link":
        (reports / "p").mkdir(parents=True)
        (reports / "p" / "junit.xml").symlink_to(tmp_path / "victim")
    with pytest.raises(ConfigError) as caught:
        check_reports_dir(reports, ["p"])
    expected = {
        "file": f"--reports-dir {reports}: cannot write reports there: is not a folder; give "
                "a writable folder with --reports-dir=DIR",
        "under-a-file": f"--reports-dir {reports}: cannot write reports there: Not a "
                        "directory; give a writable folder with --reports-dir=DIR",
        "link": f"--reports-dir {reports}: {reports / 'p' / 'junit.xml'} is a symbolic link; "
                "cpi-preflight does not write through links: remove it, or choose another "
                "--reports-dir",
    }[setup]
    assert str(caught.value) == expected


def test_remove_previous_removes_only_the_reports_of_the_run(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for report_name in REPORTS:
            (tmp_path / name / report_name).write_text("passed")
    (tmp_path / "a" / "notes.txt").write_text("mine")
    remove_previous(tmp_path, ["a"])
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["notes.txt"]
    assert len(list((tmp_path / "b").iterdir())) == len(REPORTS)


# --- the private key of a certificate service key ----------------------------------------


def test_a_certificate_keys_private_key_never_reaches_the_disk(tmp_path: Path,
                                                              pem_pair: PemPair) -> None:
    if not hasattr(os, "memfd_create"):
        pytest.skip("no memfd on this platform: temporary files are used (tested below)")
    data = {"oauth": {"clientid": CLIENT_ID, "url": "https://a", "tokenurl": "https://b",
                      "certificate": pem_pair.certificate, "key": pem_pair.key}}
    key = service_key.parse_service_key(tmp_path / "k.json", data)
    assert key.key is not None
    assert str(key.key).startswith("/proc/self/fd/")
    assert key.key.read_text() == pem_pair.key
    assert key.key.stat().st_mode & 0o777 == 0o600


HOLD_A_KEY = """
import json, os, sys, time
from pathlib import Path
if sys.argv[2] == "no-memfd":
    del os.memfd_create
from cpi_preflight import service_key
key = service_key.read_service_key(Path(sys.argv[1]))
print("ready", key.key, flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("mode", ["memfd", "no-memfd"])
def test_no_copy_of_a_private_key_is_left_after_sigterm(tmp_path: Path, pem_pair: PemPair,
                                                        mode: str) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps({"oauth": {
        "clientid": CLIENT_ID, "url": "https://a", "tokenurl": "https://b",
        "certificate": pem_pair.certificate, "key": pem_pair.key}}))
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_KEY, str(key_file), mode], stdout=subprocess.PIPE,
        text=True, env={**os.environ, "TMPDIR": str(temporary)})
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith("ready ")
        if mode == "memfd":
            assert line.startswith("ready /proc/self/fd/")
        else:
            assert len(list(temporary.iterdir())) == 1  # the copy exists while it is needed
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == -signal.SIGTERM
    finally:
        child.kill()
        child.wait()
    assert list(temporary.iterdir()) == []


def test_a_list_item_in_a_structure_error_is_counted_from_one() -> None:
    from cpi_preflight.errors import StructureError

    with pytest.raises(StructureError) as caught:
        files.check_structure({"oauth": {"scopes": ["a", "b\ud800"]}})
    assert str(caught.value) == ("oauth.scopes item 2: holds an invalid character (a lone "
                                 "surrogate, U+D800) at position 2")
