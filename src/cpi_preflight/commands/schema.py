"""`cpi-preflight schema`: print the JSON Schema of a profile; and the copy of it that `init`
writes beside the profiles, which their first line names (`profile_schema.MODELINE`).

The copy lives in the profiles' own folder because editors read a relative `$schema` path from
the YAML file's folder: it works offline, in every clone of the repository the profiles are
committed to, and it matches the version of cpi-preflight that wrote it.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from cpi_preflight import files, profile_schema

READ_LIMIT = 1024 * 1024


def run(args: argparse.Namespace) -> int:
    """Print the schema (the text of the package's data/profile.schema.json)."""
    print(profile_schema.text(), end="")
    return 0


def _current(path: Path) -> str | None:
    """The text of the schema file at `path`; None when there is none; '' when unreadable."""
    if not path.exists() and not path.is_symlink():
        return None
    try:
        return files.read_text(path, READ_LIMIT)
    except (OSError, UnicodeDecodeError):
        return ""


def _replace_command(path: Path) -> str:
    return f"cpi-preflight schema > {shlex.quote(str(path))}"


def write_beside(folder: Path, *, force: bool) -> list[str]:
    """Write `folder/profile.schema.json` unless it holds this version's schema already; one
    that differs is replaced only with `force`. The lines `init` prints about it (none when
    nothing changed). Never fails `init`: the profile is written by then, and the schema only
    helps editors."""
    path = folder / profile_schema.FILE_NAME
    wanted = profile_schema.text()
    current = _current(path)
    if current == wanted:
        return []
    if current is not None and not force:
        return [f"Kept {path}: it is not this version's profile schema (another version of "
                "cpi-preflight wrote it, or it was edited). Pass --force to replace it, or "
                "run:", "", _replace_command(path), ""]
    try:
        files.write_atomic(path, wanted.encode("utf-8"))
    except OSError as exc:
        return [f"Did not write {path} ({exc.strerror}); the profile's first line names it for "
                "editors. Write it yourself with:", "", _replace_command(path), ""]
    return [f"Wrote {path}, which the profile's first line names: editors with YAML language "
            "support (VS Code: the YAML extension) complete and check profiles with it. Commit it "
            "with the profile.", ""]
