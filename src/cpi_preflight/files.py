"""Reading and writing files that come from outside, safely.

Reading: only regular files (a FIFO, a device such as /dev/zero or a folder is refused without
blocking), at most a stated number of bytes, decoded as UTF-8 without lone surrogates. YAML is
parsed with a depth limit and a limit on the values it expands to (aliases included); JSON
with a depth limit.
A refused read raises `OSError` with a `strerror` that says what is wrong, so callers that
already report "cannot be read: <strerror>" keep working.

Paths for humans: `message_path` (messages: relative to the current folder when below it) and
`shown_path` (reports: never a local absolute path).

Writing: `write_atomic` writes a temporary file next to the target and renames it over the
target; it refuses to write through a symbolic link (the target or the folder it is in).
`write_text` writes a report that way, creating its folder.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from cpi_preflight.errors import ConfigError, StructureError

KIB = 1024
MIB = 1024 * KIB
PROFILE_LIMIT = 256 * KIB
SERVICE_KEY_LIMIT = 256 * KIB
PEM_LIMIT = 1 * MIB
CA_LIMIT = 16 * MIB
BASELINE_LIMIT = 16 * MIB
SPEC_LIMIT = 256 * KIB
MAX_DEPTH = 32
MAX_YAML_VALUES = 20_000

_UMASK = os.umask(0o022)
os.umask(_UMASK)

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _refused(path: Path, problem: str) -> OSError:
    return OSError(errno.EINVAL, problem, str(path))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def _size(size: int) -> str:
    return f"{size / MIB:.1f} MiB" if size >= MIB else f"{size / KIB:.0f} KiB"


def read_bytes(path: Path, limit: int) -> bytes:
    """The content of the regular file `path`, refusing anything else or more than `limit`
    bytes. Opening never blocks (a FIFO is refused, not waited on)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refused(path, f"is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise _refused(path, f"is {_size(info.st_size)}, more than the {_size(limit)} "
                                 "this file may have")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(limit + 1 - size, MIB))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # it grew while being read
            raise _refused(path, f"is more than the {_size(limit)} this file may have")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: Path, limit: int) -> str:
    """`read_bytes` decoded as UTF-8; raises `UnicodeDecodeError` for other encodings."""
    return read_bytes(path, limit).decode("utf-8")


def read_named(path: Path, limit: int, where: str, *, missing: str, refused: str) -> bytes:
    """`read_bytes` of a file the user named (`where`: the option and path, for messages); any
    problem is a one-line `ConfigError`: `missing` and `refused` say what to give instead when
    there is no such file, or when it is not a regular file or too large."""
    if not path.exists():
        raise ConfigError(f"{where}: no such file; {missing}")
    try:
        return read_bytes(path, limit)
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # refused here: not a regular file, or too large
            raise ConfigError(f"{where}: {exc.strerror}; {refused}") from None
        raise ConfigError(f"{where}: cannot be read ({exc.strerror}); check the file's "
                          "permissions") from None


def check_regular(path: Path, limit: int) -> None:
    """Raise `OSError` unless `path` is a readable regular file of at most `limit` bytes."""
    read_bytes(path, limit)


def check_ssl_cert_file(environ: Mapping[str, str]) -> None:
    """Raise `ConfigError` unless `SSL_CERT_FILE`, when set, names a regular CA file of at
    most `CA_LIMIT` bytes (a FIFO there would block every TLS client forever)."""
    value = environ.get("SSL_CERT_FILE")
    if not value:
        return
    try:
        check_regular(Path(value), CA_LIMIT)
    except OSError as exc:
        raise ConfigError(f"SSL_CERT_FILE {value}: cannot be read: {exc.strerror}; point it at "
                          "a PEM file of CA certificates, or unset it") from None


# --- text and structure limits ---------------------------------------------------------------


def lone_surrogate(text: str) -> int | None:
    """The index of the first lone surrogate in `text` (not encodable as UTF-8), if any."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def check_structure(data: object, max_depth: int = MAX_DEPTH) -> None:
    """Raise `StructureError` if `data` nests deeper than `max_depth` or holds a string (key
    or value) with a lone surrogate. Iterative, so it cannot overflow the stack itself."""
    pending: list[tuple[object, int, str]] = [(data, 0, "")]
    while pending:
        item, depth, where = pending.pop()
        if depth > max_depth:
            raise StructureError(f"nested more than {max_depth} levels deep (at {where})")
        if isinstance(item, str):
            index = lone_surrogate(item)
            if index is not None:
                raise StructureError(f"{where or 'the text'}: holds an invalid character (a "
                                     f"lone surrogate, U+{ord(item[index]):04X}) at position "
                                     f"{index + 1}")
        elif isinstance(item, dict):
            for key, value in item.items():
                pending.append((key, depth + 1, where))
                pending.append((value, depth + 1, f"{where}.{key}".lstrip(".")[:80]))
        elif isinstance(item, list | tuple):
            pending.extend((v, depth + 1, f"{where} item {i + 1}".lstrip())  # from 1, as said
                           for i, v in enumerate(item))


class _BoundedLoader(yaml.SafeLoader):
    """A safe YAML loader with a depth limit and a limit on the number of values the document
    expands to: an alias counts as many values as the node it repeats (an alias bomb of a
    few hundred bytes expands to hundreds of millions)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._values = 0
        self._sizes: dict[int, int] = {}

    def _count(self, amount: int, where: str) -> None:
        self._values += amount
        if self._values > MAX_YAML_VALUES:
            raise StructureError(f"{where}: the YAML expands to more than {MAX_YAML_VALUES} "
                                 "values (through anchors and aliases); write it out plainly")

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        where = f"line {event.start_mark.line + 1}" if event.start_mark else "somewhere"
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            self._count(self._sizes.get(id(node), 1), where)
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise StructureError(f"{where}: nested more than {MAX_DEPTH} levels deep")
        before = self._values
        self._count(1, where)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            self._sizes[id(node)] = self._values - before
        return node


def load_yaml(text: str) -> object:
    """Parse YAML safely and within limits; raises `yaml.YAMLError` or `StructureError`."""
    data = _load_plain(text)
    if data is _NOT_PLAIN:
        loader = _BoundedLoader(text)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    check_structure(data)
    return data


_LIBYAML: type[yaml.CSafeLoader] | None = getattr(yaml, "CSafeLoader", None)
_NOT_PLAIN = object()  # `_load_plain` leaves the document to `_BoundedLoader`
_OPENS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSES = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _load_plain(text: str) -> object:
    """The document, read by libyaml (PyYAML's C parser, several times faster than its Python
    one) when it is plainly within the limits: no alias, collections nested less than
    `MAX_DEPTH` deep, at most `MAX_YAML_VALUES` values; else `_NOT_PLAIN`. An error is
    `_NOT_PLAIN` too: `_BoundedLoader` then reads it again and says where it lies."""
    if _LIBYAML is None:
        return _NOT_PLAIN
    depth = values = 0
    try:
        for event in yaml.parse(text, Loader=_LIBYAML):
            if isinstance(event, yaml.AliasEvent):
                return _NOT_PLAIN
            values += isinstance(event, yaml.NodeEvent)
            depth += isinstance(event, _OPENS) - isinstance(event, _CLOSES)
            if depth >= MAX_DEPTH or values > MAX_YAML_VALUES:
                return _NOT_PLAIN
        return yaml.load(text, Loader=_LIBYAML)  # CSafeLoader: the safe constructor
    except yaml.YAMLError:
        return _NOT_PLAIN


def load_json(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON within limits; raises `json.JSONDecodeError` or `StructureError`."""
    try:
        data: Any = json.loads(text)
    except RecursionError:
        raise StructureError(f"nested more than {max_depth} levels deep") from None
    check_structure(data, max_depth)
    return data


def message_path(path: Path) -> Path:
    """`path` relative to the current folder when it lies below it, else as given: messages
    name the file the user can open (reports use `shown_path`)."""
    here = Path.cwd()
    try:  # without following links first: a profile may be a link to anywhere
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(here))
    except ValueError:
        pass
    try:
        return path.resolve().relative_to(here.resolve())
    except (ValueError, OSError):
        return path


def shown_path(path: Path, base: Path | None = None) -> str:
    """`path` relative to `base` (the current folder) when below it, else `<folder>/<file>`:
    reports name a profile without disclosing local absolute paths."""
    try:
        return path.resolve().relative_to((base or Path.cwd()).resolve()).as_posix()
    except (ValueError, OSError):
        return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


# --- writing ---------------------------------------------------------------------------------


def refuse_link(path: Path) -> None:
    """Raise `OSError` if `path` is a symbolic link (dangling or not)."""
    if path.is_symlink():
        raise OSError(errno.ELOOP, "is a symbolic link; cpi-preflight does not write through "
                                   "links: remove the link or choose another path", str(path))


def write_atomic(path: Path, data: bytes, *, private: bool = False) -> Path:
    """Write `data` to `path` through a temporary file in the same folder, then rename it
    over `path` (readers see the old or the new file, never half of one). Refuses a `path`
    that is a symbolic link, or whose folder is one. `private`: mode 0600, else as the umask
    allows."""
    refuse_link(path.parent)
    refuse_link(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600 if private else 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        refuse_link(path)  # it may have appeared meanwhile; os.replace would not follow it
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` (a report, rendered from a masked document) to `path` atomically; the
    folder is created, and neither it nor the file may be a symbolic link."""
    refuse_link(path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, data)


def write_text(path: Path, text: str) -> Path:
    """`write_bytes` of `text` in UTF-8."""
    return write_bytes(path, text.encode("utf-8", "replace"))


def check_writable_dir(path: Path) -> None:
    """Create `path` if needed and prove a file can be written in it; raises `OSError`."""
    if path.exists() and not path.is_dir():
        raise OSError(errno.ENOTDIR, "is not a folder", str(path))
    path.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=".cpi-preflight-", suffix=".probe", dir=path)
    os.close(fd)
    os.unlink(probe)
