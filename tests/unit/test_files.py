"""Every file the tool reads is a regular file, bounded and parsed with limits; every file it
writes is written atomically and never through a link. Exact messages are asserted."""

from __future__ import annotations

import errno
import json
import os
import re
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
from cpi_preflight.errors import ConfigError, ProfileError, SandboxSpecError, StructureError
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


PLAIN_YAML = [
    "environment: cf\napi_url: https://t.example/api\nroles: [A, B]\nn: 0x1F\non: yes\n",
    "a:\n  b:\n    - 1\n    - {c: 2019-01-01, d: ~, e: .inf, f: '0777', g: 0777}\n",
    "", "# only a comment\n", "- just\n- a list\n", "key: |\n  two\n  lines\n",
    "environment: " + "[" * 30 + "]" * 30 + "\n",
]


def _python_loader(text: str) -> object:
    loader = files._BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


@pytest.mark.parametrize("text", PLAIN_YAML)
def test_libyaml_reads_a_plain_document_as_the_python_loader_does(text: str) -> None:
    assert files._load_plain(text) is not files._NOT_PLAIN
    assert files._load_plain(text) == _python_loader(text)
    assert files.load_yaml(text) == _python_loader(text)


@pytest.mark.parametrize("text", [
    "a: &x [1]\nb: *x\n",  # an alias: only the Python loader counts what it expands to
    "environment: " + "[" * 32 + "]" * 32 + "\n",  # as deep as the limit
    "a: [1, 2\n",  # an error: the Python loader says where
    "a: !!python/object:os.system x\n",  # a tag the safe constructor refuses
    "- 1\n" * (files.MAX_YAML_VALUES + 1),  # more values than the limit
])
def test_what_is_not_plainly_within_the_limits_goes_to_the_python_loader(text: str) -> None:
    assert files._load_plain(text) is files._NOT_PLAIN


def test_libyaml_reads_collections_nested_less_deep_than_the_limit() -> None:
    assert files._load_plain("[" * 31 + "]" * 31) == _python_loader("[" * 31 + "]" * 31)
    assert files._load_plain("[" * 32 + "]" * 32) is files._NOT_PLAIN


def test_libyaml_reads_exactly_as_many_values_as_the_limit() -> None:
    most = "- 1\n" * (files.MAX_YAML_VALUES - 1)  # and the list itself
    assert files._load_plain(most) == [1] * (files.MAX_YAML_VALUES - 1)
    assert files._load_plain(most + "- 1\n") is files._NOT_PLAIN


def test_a_plain_profile_is_not_read_by_the_python_loader(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str) -> None:
        raise AssertionError("the Python loader read a plain document")

    monkeypatch.setattr(files, "_BoundedLoader", refuse)
    assert files.load_yaml(PLAIN_YAML[0])["roles"] == ["A", "B"]  # type: ignore[index]


def test_without_libyaml_the_python_loader_reads_everything(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "_LIBYAML", None)
    assert files._load_plain(PLAIN_YAML[0]) is files._NOT_PLAIN
    assert files.load_yaml(PLAIN_YAML[0]) == _python_loader(PLAIN_YAML[0])


def test_a_yaml_error_reads_as_before(workdir: Path, profiles: Path) -> None:
    with pytest.raises(yaml.YAMLError) as caught:
        files.load_yaml("a: [1, 2\n")
    with pytest.raises(yaml.YAMLError) as python:
        _python_loader("a: [1, 2\n")
    assert str(caught.value) == str(python.value)
    assert "line 2, column 1" in str(caught.value)


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


# --- pinned by mutation testing (mutation/run files) -------------------------------------


def test_a_file_of_exactly_the_limit_is_read_whole_across_chunks(tmp_path: Path) -> None:
    data = bytes(range(256)) * (10 * files.KIB)  # 2.5 MiB: three reads of at most 1 MiB
    (tmp_path / "big").write_bytes(data)
    assert files.read_bytes(tmp_path / "big", len(data)) == data


def test_a_file_that_grows_past_its_limit_while_read_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "growing").write_bytes(b"x" * (3 * files.MIB))
    real_fstat = os.fstat

    def looked_small(fd: int) -> os.stat_result:  # as when it was still small
        info = real_fstat(fd)
        return os.stat_result((info.st_mode, *info[1:6], 0, *info[7:]))

    monkeypatch.setattr(files.os, "fstat", looked_small)
    with pytest.raises(OSError, match="more than") as refused:
        files.read_bytes(tmp_path / "growing", files.MIB + files.MIB // 2)
    assert refused.value.strerror == "is more than the 1.5 MiB this file may have"
    with pytest.raises(OSError, match="more than") as at_a_chunk:  # the limit read in one go
        files.read_bytes(tmp_path / "growing", files.MIB)
    assert at_a_chunk.value.strerror == "is more than the 1.0 MiB this file may have"


def test_a_file_is_opened_without_being_inherited_by_children(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "f").write_bytes(b"ok")
    flags = []
    real_open = os.open

    def recording(path: Any, flag: int, *args: Any) -> int:
        flags.append(flag)
        return real_open(path, flag, *args)

    monkeypatch.setattr(files.os, "open", recording)
    assert files.read_bytes(tmp_path / "f", 2) == b"ok"
    assert flags == [os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC]


def test_kinds_and_sizes_are_named_as_people_say_them() -> None:
    assert files._kind(0) == "a special file"  # none of the kinds Linux has
    assert (files._size(files.MIB), files._size(files.MIB - 1)) == ("1.0 MiB", "1024 KiB")


def test_read_named_says_what_is_wrong_and_what_to_give(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def read(path: Path) -> bytes:
        return files.read_named(path, 4, "--opt X", missing="give one", refused="give a file")

    (tmp_path / "ok").write_bytes(b"ok")
    os.mkfifo(tmp_path / "fifo")
    assert read(tmp_path / "ok") == b"ok"
    with pytest.raises(ConfigError) as missing:
        read(tmp_path / "none")
    assert str(missing.value) == "--opt X: no such file; give one"
    with pytest.raises(ConfigError) as fifo:
        read(tmp_path / "fifo")
    assert str(fifo.value) == "--opt X: is a FIFO (named pipe), not a regular file; give a file"

    def denied(path: Path, limit: int) -> bytes:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(files, "read_bytes", denied)
    with pytest.raises(ConfigError) as unreadable:
        read(tmp_path / "ok")
    assert str(unreadable.value) == (
        "--opt X: cannot be read (Permission denied); check the file's permissions")


def test_check_regular_reads_within_the_limit(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"12345")
    assert files.check_regular(tmp_path / "f", 5) is None
    with pytest.raises(OSError, match="more than") as refused:
        files.check_regular(tmp_path / "f", 4)
    assert refused.value.strerror == "is 0 KiB, more than the 0 KiB this file may have"


def test_ssl_cert_file_must_name_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("pem")
    os.mkfifo(tmp_path / "fifo")
    assert files.check_ssl_cert_file({}) is None
    assert files.check_ssl_cert_file({"SSL_CERT_FILE": ""}) is None
    assert files.check_ssl_cert_file({"SSL_CERT_FILE": str(tmp_path / "ca.pem")}) is None
    with pytest.raises(ConfigError) as refused:
        files.check_ssl_cert_file({"SSL_CERT_FILE": str(tmp_path / "fifo")})
    assert str(refused.value) == (
        f"SSL_CERT_FILE {tmp_path / 'fifo'}: cannot be read: is a FIFO (named pipe), not a "
        "regular file; point it at a PEM file of CA certificates, or unset it")


def test_check_writable_dir_creates_the_folder_and_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "b"
    files.check_writable_dir(folder)
    assert list(folder.iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError) as refused:
        files.check_writable_dir(tmp_path / "file")
    assert (refused.value.errno, refused.value.strerror) == (20, "is not a folder")


def _nested(levels: int) -> object:
    data: object = "leaf"
    for _ in range(levels):
        data = {"k": [data]}
    return data


def test_structure_depth_is_counted_from_0_at_the_top_for_keys_values_and_items() -> None:
    files.check_structure(_nested(2), max_depth=4)  # leaf at depth 4
    with pytest.raises(StructureError) as deep:
        files.check_structure(_nested(3), max_depth=5)  # leaf at depth 6
    assert str(deep.value) == "nested more than 5 levels deep (at k item 1.k item 1.k item 1)"
    files.check_structure({"a": {"b": "c"}}, max_depth=2)
    with pytest.raises(StructureError, match="levels") as key:
        files.check_structure({"a": {("t",): "c"}}, max_depth=2)  # the key's items count too
    assert str(key.value) == "nested more than 2 levels deep (at a item 1)"


def test_a_lone_surrogate_is_located_in_the_text() -> None:
    with pytest.raises(StructureError) as bad:
        files.check_structure("ab\ud800")
    assert str(bad.value) == (
        "the text: holds an invalid character (a lone surrogate, U+D800) at position 3")
    with pytest.raises(StructureError) as long_key:
        files.check_structure({"k" * 100: "\udfff"})
    assert str(long_key.value).startswith("k" * 80 + ": holds")


def test_load_json_checks_the_structure_it_parsed() -> None:
    assert files.load_json('{"a": [1]}', max_depth=2) == {"a": [1]}
    with pytest.raises(StructureError, match="more than 1 levels"):
        files.load_json('{"a": [1]}', max_depth=1)
    with pytest.raises(StructureError, match="lone surrogate"):
        files.load_json('"\\ud800"')


def test_write_atomic_gives_a_report_the_umask_s_mode(tmp_path: Path) -> None:
    written = files.write_atomic(tmp_path / "r.txt", b"x")
    assert (written.stat().st_mode & 0o777) == 0o666 & ~files._UMASK
    assert [p.name for p in tmp_path.iterdir()] == ["r.txt"]


def test_write_text_creates_folders_and_replaces_what_it_cannot_encode(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "r.txt"
    files.write_text(target, "a\ud800b")
    files.write_text(target, "a\ud800b")  # the folder exists now
    assert target.read_bytes() == b"a?b"


def test_a_list_item_in_a_structure_error_is_counted_from_one() -> None:
    from cpi_preflight.errors import StructureError

    with pytest.raises(StructureError) as caught:
        files.check_structure({"oauth": {"scopes": ["a", "b\ud800"]}})
    assert str(caught.value) == ("oauth.scopes item 2: holds an invalid character (a lone "
                                 "surrogate, U+D800) at position 2")


# --- mutation: files -------------------------------------------------------------------------


def yaml_problem(text: str) -> str:
    with pytest.raises(StructureError) as refused:
        files.load_yaml(text)
    return str(refused.value)


def test_yaml_of_exactly_the_value_limit_through_aliases_is_read() -> None:
    # the root, one list of 7 values and 2856 aliases of it: 1 + 7 x 2857 = 20000 values
    text = "- &a [0, 0, 0, 0, 0, 0]\n" + "- *a\n" * 2856
    assert files.load_yaml(text) == [[0] * 6] * 2857
    assert yaml_problem(text + "- 0\n") == (
        "line 2858: the YAML expands to more than 20000 values (through anchors and aliases); "
        "write it out plainly")


def test_an_alias_inside_its_own_anchor_counts_as_one_value() -> None:
    # root, the list and the alias: 3 values, 19997 more make the limit
    assert yaml_problem("- &a [*a]\n" + "- 0\n" * 19997) == (
        "nested more than 32 levels deep (at" + " item 1" * 33 + ")")
    assert yaml_problem("- &a [*a]\n" + "- 0\n" * 19998).startswith(
        "line 19999: the YAML expands to more than 20000 values")


ANCHORED = "a: &x 1\nb: *x\nc: "  # an alias: the bounded Python loader reads it


def test_yaml_with_aliases_nested_exactly_to_the_depth_limit_is_read() -> None:
    assert files.load_yaml(ANCHORED + "[" * 31 + "]" * 31 + "\n")
    assert yaml_problem(ANCHORED + "[" * 32 + "]" * 32 + "\n") == (
        "line 3: nested more than 32 levels deep")


def test_yaml_depth_comes_back_one_level_per_node_read() -> None:
    # the deep list follows a value three levels down; its innermost list is 33 deep
    assert yaml_problem(ANCHORED + "[[0, " + "[" * 30 + "]" * 30 + "]]\n") == (
        "line 3: nested more than 32 levels deep")


@pytest.mark.parametrize(("text", "problem"), [
    ('{"X-Trace": "\\ud800"}', "X-Trace: holds"),  # a key starting with X keeps its X
    ('["ok", "\\ud800"]', "item 2: holds"),  # a list at the top is named without a space
])
def test_where_a_lone_surrogate_is_named_as_written(text: str, problem: str) -> None:
    with pytest.raises(StructureError) as bad:
        files.load_json(text)
    assert str(bad.value) == (
        f"{problem} an invalid character (a lone surrogate, U+D800) at position 1")


def test_a_path_outside_the_current_folder_directly_under_the_root_is_its_name(
        tmp_path: Path) -> None:
    assert files.shown_path(Path("/prod-cf.yaml"), tmp_path) == "prod-cf.yaml"
    assert files.shown_path(Path("/srv/prod-cf.yaml"), tmp_path) == "srv/prod-cf.yaml"


def test_a_refused_link_says_eloop(tmp_path: Path) -> None:
    """`sandbox --service-key` tells a link by its errno ("it is a symbolic link")."""
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError, match="is a symbolic link") as refused:
        files.write_atomic(tmp_path / "link", b"x")
    assert refused.value.errno == errno.ELOOP
    assert str(refused.value) == (
        f"[Errno 40] is a symbolic link; cpi-preflight does not write through links: remove the "
        f"link or choose another path: '{tmp_path / 'link'}'")


def listing_when(monkeypatch: pytest.MonkeyPatch, name: str, folder: Path) -> list[list[str]]:
    """What `folder` holds each time `files` calls `os.<name>` (the call then goes on)."""
    seen: list[list[str]] = []
    real = getattr(os, name)

    def looking(*args: Any) -> Any:
        seen.append(sorted(p.name for p in folder.iterdir()))
        return real(*args)

    monkeypatch.setattr(files.os, name, looking)
    return seen


def test_write_atomic_writes_a_hidden_tmp_file_beside_the_target(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = listing_when(monkeypatch, "fsync", tmp_path)
    files.write_atomic(tmp_path / "evidence.json", b"{}")
    monkeypatch.undo()
    ((temporary,),) = seen
    assert re.fullmatch(r"\.evidence\.json\.\w+\.tmp", temporary)
    assert [p.name for p in tmp_path.iterdir()] == ["evidence.json"]


def test_an_interruption_after_the_rename_is_raised_as_itself(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.replace

    def replace_then_interrupt(source: str, target: Path) -> None:
        real(source, target)
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "replace", replace_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        files.write_atomic(tmp_path / "r.txt", b"new")
    assert (tmp_path / "r.txt").read_bytes() == b"new"


def test_check_writable_dir_probes_with_a_hidden_file_in_the_folder_itself(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = listing_when(monkeypatch, "close", tmp_path)
    files.check_writable_dir(tmp_path)
    monkeypatch.undo()
    ((probe,),) = seen
    assert re.fullmatch(r"\.cpi-preflight-\w+\.probe", probe)
    assert list(tmp_path.iterdir()) == []


def test_check_writable_dir_names_the_file_that_is_no_folder(tmp_path: Path) -> None:
    (tmp_path / "reports").write_text("x")
    with pytest.raises(NotADirectoryError) as refused:
        files.check_writable_dir(tmp_path / "reports")
    assert str(refused.value) == f"[Errno 20] is not a folder: '{tmp_path / 'reports'}'"
