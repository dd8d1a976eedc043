"""The exceptions cpi-preflight raises, all under one root.

    PreflightError                 anything this package raises on purpose
     +-- ConfigError               the user's input is wrong: becomes a pytest usage error (exit 4)
     |    +-- ProfileError         a profile file, a key in it, or a file it points to
     |    +-- ProfilesError        several profiles of one run, each with its ProfileError
     |    +-- PostmanError         a Postman collection or environment file given to `init`
     |    +-- SandboxSpecError     the `sandbox:` section of a profile
     |    +-- StructureError       parsed JSON/YAML too deep or too large, or not valid text
     +-- CatalogError              the shipped knowledge data is inconsistent (a bug of ours)
     +-- ReadOnlyViolationError    a write towards the tenant was asked of the HTTP layer
     +-- CheckFailedError          a check's verdict is "failed"
     |    +-- VerdictFailedError   raised by the check's pytest item when its verdict failed
     +-- DocsError                 the README's generated regions cannot be checked or written

Errors about the user's files carry where the problem is as attributes (`ProfileError.path` and
`.key`, `PostmanError.source`), so that callers never take the message apart.

Network failures are not exceptions here: the probe records them as observations and the
diagnosis turns them into findings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class PreflightError(Exception):
    """Root of every exception cpi-preflight raises on purpose."""


class ConfigError(PreflightError):
    """The user's configuration is wrong; the message says where and what to do."""


class ProfileError(ConfigError):
    """A profile, a key in it, or a file it refers to cannot be used.

    `path` is the file the problem is in, as the message shows it (None when the problem is in
    a command-line option such as `--profile`); `key` is the key it is in, as the message names
    it without a list index (`api_url`, `timeout.read`, `oauth.clientid`; `required_roles` for
    `required_roles[2]`), None when the file as a whole is wrong.
    """

    def __init__(self, message: str, *, path: Path | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.key = key


class ProfilesError(ConfigError):
    """Several profiles selected for one run cannot be used: `errors` holds each one's
    `ProfileError`; the message is a count line, then each error's message on a line of its
    own, indented (callers print each error's message cleaned, not the whole text)."""

    def __init__(self, errors: Sequence[ProfileError]) -> None:
        self.errors = tuple(errors)
        self.heading = f"{len(self.errors)} profiles cannot be used:"
        super().__init__("\n".join([self.heading, *(f"  {e}" for e in self.errors)]))


class PostmanError(ConfigError):
    """A Postman collection or environment cannot be imported: "<source>: <problem>".

    `source` is the option and the file the problem is in (`--postman C.json`). Code that reads
    a collection's content does not know its file and leaves the bare option `--postman`, which
    `postman.read` replaces with the option and file; None when the message names no file.
    """

    def __init__(self, problem: str, source: str | None = "--postman") -> None:
        super().__init__(problem if source is None else f"{source}: {problem}")
        self.problem = problem
        self.source = source


class SandboxSpecError(ConfigError):
    """The `sandbox:` section of a profile asks for something the sandbox cannot simulate."""


class StructureError(ConfigError):
    """Parsed data is too deep or too large, uses YAML aliases, or holds lone surrogates.
    Callers add the file's name to the message."""


class CatalogError(PreflightError):
    """The shipped catalog or failure-code data contradicts itself."""


class ReadOnlyViolationError(PreflightError):
    """A request other than GET/HEAD (or POST to the token URL) was refused."""


class CheckFailedError(PreflightError):
    """A check's verdict failed; pytest shows the findings, no traceback."""


class VerdictFailedError(CheckFailedError):
    """The failed verdict of one check item, its summary the message; the item's
    `repr_failure` shows the verdict's failures (`CODE: message` and the fix)."""


class DocsError(PreflightError):
    """A README cannot be checked or updated; the message says where and what to do."""
