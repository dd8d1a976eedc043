"""`python -m cpi_preflight.sandbox`: serve simulated tenants in the foreground until Ctrl-C,
or, with `--replay FILE.har`, the answers a recorded probe got (`sandbox.replay`)."""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import yaml

from cpi_preflight import files
from cpi_preflight.errors import SandboxSpecError, StructureError
from cpi_preflight.sandbox.describe import describe, describe_replay, init_command
from cpi_preflight.sandbox.instance import Sandbox
from cpi_preflight.sandbox.replay import Replay, read_recording
from cpi_preflight.sandbox.spec import CREDENTIALS, ENVIRONMENTS, SandboxSpec
from cpi_preflight.text import hidden_character, log_line

PROG = "python -m cpi_preflight.sandbox"
MAX_COUNT = 200  # each tenant holds a few sockets and TLS contexts; the bench uses 100


class _Parser(argparse.ArgumentParser):
    """A usage error quotes the arguments as one visible line (argparse repeats them raw)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {log_line(message)}\n")


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The sandbox's arguments; `prog` is how the user called it (also `cpi-preflight sandbox`)."""
    parser = _Parser(
        prog=prog,
        description="Serve simulated SAP Cloud Integration tenants on 127.0.0.1 until Ctrl-C.")
    parser.add_argument("--environment", choices=ENVIRONMENTS,
                        help="cf (default), neo, or edge (an Edge Integration Cell's local API)")
    parser.add_argument("--roles", help="comma-separated role templates (or Neo roles)")
    parser.add_argument("--credential", choices=CREDENTIALS, help="secret (default) or certificate")
    parser.add_argument("--latency-ms", type=int, help="delay every response by N ms")
    parser.add_argument("--http2", action="store_true",
                        help="offer HTTP/2 through ALPN (HTTP/1.1 stays available)")
    parser.add_argument("--spec", type=Path, help="YAML file with a sandbox mapping (or a profile)")
    parser.add_argument("--count", type=int, default=1,
                        help=f"serve N independent tenants (1 to {MAX_COUNT})")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON line per tenant, then 'ready'")
    parser.add_argument("--service-key", type=Path, metavar="FILE",
                        help="write the tenant's service key (JSON, mode 0600) to FILE instead "
                             "of printing it, for `cpi-preflight init --service-key FILE`; an "
                             "existing FILE is kept unless --force is given")
    parser.add_argument("--force", action="store_true",
                        help="with --service-key: replace FILE if it exists")
    parser.add_argument("--replay", type=Path, metavar="FILE.har",
                        help="serve the answers recorded in a run's exchanges.har "
                             "(reports/<profile>/exchanges.har) instead of a simulated tenant")
    parser.add_argument("--write-profile", type=Path, metavar="FILE",
                        help="with --replay: write the profile that points at the replay to "
                             "FILE (mode 0600) instead of printing it")
    return parser


def _read_spec(path: Path) -> object:
    """The YAML of a --spec file: a regular file, bounded, no aliases, nesting limited."""
    try:
        return files.load_yaml(files.read_text(path, files.SPEC_LIMIT))
    except OSError as exc:
        raise SandboxSpecError(f"--spec {path}: cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SandboxSpecError(f"--spec {path}: is not UTF-8 text") from None
    except StructureError as exc:
        raise SandboxSpecError(f"--spec {path}: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        raise SandboxSpecError(f"--spec {path}: invalid YAML at {where}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise SandboxSpecError(f"--spec {path}: invalid YAML: {exc}") from None


def _from_file(path: Path) -> tuple[dict[str, Any], str | None]:
    data = _read_spec(path) or {}
    if not isinstance(data, dict):
        raise SandboxSpecError(f"--spec {path}: expected a mapping (a sandbox section or a "
                               f"profile), got {type(data).__name__}")
    if "sandbox" in data:
        environment = data.get("environment")
        inner = data["sandbox"] or {}
        if not isinstance(inner, dict):
            raise SandboxSpecError(f"--spec {path}: sandbox: expected a mapping, got "
                                   f"{type(inner).__name__}")
        return dict(inner), environment if isinstance(environment, str) else None
    return data, None


def build_spec(args: argparse.Namespace) -> SandboxSpec:
    """The spec the command line asks for: the --spec file, then the flags on top."""
    mapping, file_env = _from_file(args.spec) if args.spec else ({}, None)
    if args.roles is not None:
        mapping["roles"] = args.roles
    if args.credential is not None:
        mapping["credential"] = args.credential
    if args.http2:
        mapping["http2"] = True
    if args.latency_ms is not None:
        faults = dict(mapping.get("faults") or {})
        faults["latency_ms"] = args.latency_ms
        mapping["faults"] = faults
    source = str(args.spec) if args.spec else "command line"
    return SandboxSpec.from_mapping(mapping, environment=args.environment or file_env or "cf",
                                    source=source)


def _check_count(args: argparse.Namespace) -> None:
    if not 1 <= args.count <= MAX_COUNT:
        raise SandboxSpecError(f"--count {args.count}: serve 1 to {MAX_COUNT} tenants at once; "
                               "start several sandboxes for more")


def _check_key_option(args: argparse.Namespace, spec: SandboxSpec) -> None:
    if args.service_key is None:
        return
    if spec.environment == "neo":
        raise SandboxSpecError("--service-key: Neo has no service keys; drop --service-key (the "
                               "text output lists the URLs, client id and secret)")
    if spec.environment == "edge":
        raise SandboxSpecError("--service-key: the Edge Integration Cell's local API is reached "
                               "at its virtual host, which no service key names; drop "
                               "--service-key (the text output lists the URL and credentials)")
    if args.count > 1:
        raise SandboxSpecError(f"--service-key: one file holds one tenant's key; drop --count "
                               f"{args.count} or --service-key")
    hidden = hidden_character(str(args.service_key))
    if hidden is not None:  # the path is printed, in the init command to paste too
        raise SandboxSpecError(f"--service-key: the path holds a control or invisible character "
                               f"({hidden}); {_NOT_WRITTEN}")
    _check_key_file(args.service_key, args.force)


_NOT_WRITTEN = "give a path in a writable folder"


def _check_key_file(path: Path, force: bool) -> None:
    """Refuse, before any tenant starts, a key file that is a link, or that exists without
    --force (`key.json` may be the user's real service key)."""
    if path.is_symlink():
        raise SandboxSpecError(f"--service-key {path}: cannot write (it is a symbolic link); "
                               f"{_NOT_WRITTEN}")
    if path.exists() and not force:
        raise SandboxSpecError(f"--service-key {path}: the file already exists (it may be a "
                               "real service key); pass --force to replace it, or give another "
                               "file")


def write_service_key(path: Path, sandbox: Sandbox, *, force: bool = False) -> None:
    """The tenant's service key as a JSON file readable only by this user: created, never
    through a link and never over an existing file (`force`: replaced atomically)."""
    data = (json.dumps(sandbox.connection.service_key, indent=2) + "\n").encode("utf-8")
    if force:
        files.write_atomic(path, data, private=True)
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _wrote_key(path: Path, sandbox: Sandbox, force: bool) -> bool:
    try:
        write_service_key(path, sandbox, force=force)
    except OSError as exc:
        reasons = {errno.ELOOP: "it is a symbolic link",
                   errno.EEXIST: "the file appeared meanwhile; pass --force to replace it"}
        print(f"error: --service-key {path}: cannot write "
              f"({reasons.get(exc.errno or 0, exc.strerror)}); {_NOT_WRITTEN}", file=sys.stderr)
        return False
    return True


def write_private(path: Path, text: str) -> None:
    """`text` into `path`, readable only by this user, never through a symbolic link."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


def _wrote(option: str, path: Path, text: str) -> bool:
    """Write a private file the user asked for; False (and the reason printed) if it failed."""
    try:
        write_private(path, text)
    except OSError as exc:
        reason = "it is a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
        print(f"error: {option} {path}: cannot write ({reason}); give a path in a "
              "writable folder", file=sys.stderr)
        return False
    return True


def _announce(sandboxes: list[Sandbox], args: argparse.Namespace) -> None:
    for index, sandbox in enumerate(sandboxes, start=1):
        if args.json:
            print(json.dumps(sandbox.connection.to_dict()))
        else:
            print(describe(sandbox, index, len(sandboxes), key_file=args.service_key))
    if args.service_key is not None and not args.json:
        print(f"Wrote the service key to {args.service_key} (mode 0600). Set up a profile "
              "from it:", "", "  " + init_command(sandboxes[0], args.service_key), "", sep="\n")
    print("ready" if args.json else "Serving; press Ctrl-C to stop.", flush=True)


def _stop_on_signal() -> threading.Event:
    """Install the SIGINT/SIGTERM handlers before anything is announced, so a signal sent
    right after "ready" is never a KeyboardInterrupt."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


# options that shape a simulated tenant, which a replay does not have
SPEC_OPTIONS = (("environment", "--environment"), ("roles", "--roles"),
                ("credential", "--credential"), ("latency_ms", "--latency-ms"),
                ("spec", "--spec"), ("service_key", "--service-key"))


def _check_replay_options(args: argparse.Namespace) -> None:
    if args.replay is None:
        if args.write_profile is not None:
            raise SandboxSpecError("--write-profile: only a replay writes a profile; add "
                                   "--replay FILE.har, or drop --write-profile")
        return
    given = [flag for name, flag in SPEC_OPTIONS if getattr(args, name) is not None]
    if args.count != 1:
        given.append("--count")
    if given:
        raise SandboxSpecError(f"--replay: a replay answers as recorded; {', '.join(given)} "
                               "cannot change that: drop them")


def _replay(args: argparse.Namespace, stop: threading.Event) -> int:
    recording = read_recording(args.replay)
    with Replay.start(recording) as replay:
        profile = yaml.safe_dump(replay.profile, sort_keys=False, width=1000)
        if args.write_profile is not None and not _wrote("--write-profile",
                                                         args.write_profile, profile):
            return 2
        if args.json:
            print(json.dumps({"environment": recording.environment, "ca_path": replay.ca_path,
                              "hosts": replay.answers.moved, "profile": replay.profile}))
            print("ready", flush=True)
        else:
            print(describe_replay(replay, args.replay, args.write_profile))
            print("Serving; press Ctrl-C to stop.", flush=True)
        while not stop.wait(1.0):
            pass
    return 0


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """Run the command; returns the exit status."""
    args = build_parser(prog).parse_args(argv)
    try:
        _check_replay_options(args)
        if args.replay is not None:
            return _replay(args, _stop_on_signal())
        _check_count(args)
        spec = build_spec(args)
        _check_key_option(args, spec)
    except (SandboxSpecError, OSError, yaml.YAMLError) as exc:
        print(f"error: {log_line(str(exc))}", file=sys.stderr)  # it may quote the spec file
        return 2
    sandboxes: list[Sandbox] = []
    stop = _stop_on_signal()
    try:
        sandboxes.extend(Sandbox.start(spec) for _ in range(args.count))
        if args.service_key is not None and not _wrote_key(args.service_key, sandboxes[0],
                                                           args.force):
            return 2
        _announce(sandboxes, args)
        while not stop.wait(1.0):
            pass
    finally:
        for sandbox in sandboxes:
            sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
