"""Our options in the space form (`--reports-dir /tmp/r`), made to work like `--reports-dir=/tmp/r`.

pytest decides its rootdir and config file from the command line before it loads entry-point
plugins. At that moment it does not know our options, so in `--reports-dir /tmp/r` it takes
`/tmp/r` for a test path: the rootdir moves there, the config file (and its `testpaths`) is not
found, and the whole current folder is collected. The `=` form is one token and is read right.

pytest offers no hook early enough to change that first reading, and re-deciding the rootdir
afterwards means writing into private parts of `Config` that differ between pytest 8 and 9.
So, when (and only when) the first reading can have gone wrong, the plugin runs pytest again,
in the same process, with the same arguments written in the `=` form (see
`plugin.pytest_cmdline_main`). Only public pytest API is used for that.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

# Every option of ours that takes a value (pytest's parser does not allow abbreviations).
VALUE_OPTIONS = ("--profile", "--profiles-dir", "--reports-dir", "--baseline",
                 "--max-concurrency", "--max-per-host", "--http2", "--metrics-file")
ADDOPTS_VARIABLE = "PYTEST_ADDOPTS"


def _names_a_path(value: str) -> bool:
    """Whether pytest's first reading would take `value` for an existing test path."""
    try:
        return Path(value.split("::")[0]).expanduser().exists()
    except (OSError, ValueError, RuntimeError):
        return False


def joined(args: Sequence[str]) -> tuple[list[str], bool]:
    """`args` with each `--opt value` of ours written `--opt=value`, and whether one of the
    values names an existing file or folder (only then can pytest's first reading differ)."""
    result: list[str] = []
    misread = False
    position = 0
    while position < len(args):
        arg = str(args[position])
        if arg == "--":
            result.extend(str(a) for a in args[position:])
            break
        following = str(args[position + 1]) if position + 1 < len(args) else None
        if arg in VALUE_OPTIONS and following is not None and not following.startswith("-"):
            result.append(f"{arg}={following}")
            misread = misread or _names_a_path(following)
            position += 2
            continue
        result.append(arg)
        position += 1
    return result, misread


def rewritten(args: Sequence[str], environ: Mapping[str, str]
              ) -> tuple[list[str], str | None] | None:
    """The arguments (and PYTEST_ADDOPTS) to run pytest with again, or None when pytest read
    the command line right the first time."""
    new_args, args_misread = joined(args)
    addopts = environ.get(ADDOPTS_VARIABLE)
    new_addopts, addopts_misread = joined(shlex.split(addopts)) if addopts else ([], False)
    if not (args_misread or addopts_misread):
        return None
    return new_args, shlex.join(new_addopts) if addopts else None


@contextmanager
def addopts_set_to(value: str | None) -> Iterator[None]:
    """PYTEST_ADDOPTS set to `value` (when not None) for the duration, then restored."""
    before = os.environ.get(ADDOPTS_VARIABLE)
    if value is not None:
        os.environ[ADDOPTS_VARIABLE] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ADDOPTS_VARIABLE, None)
        else:
            os.environ[ADDOPTS_VARIABLE] = before
