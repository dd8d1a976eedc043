"""Fix texts: the codes data's templates filled so that only the tool's own commands are commands.

A fix template (`data/codes.yaml`) is prose with `code spans`; a span that starts with `cf ` or
`export ` is a command that the terminal prints alone on its line and the evidence page as a
block, to be pasted whole. Which spans are commands is decided by the template (`parts`), and
`fill` keeps it so whatever the values hold:

- A placeholder inside a command takes only validated vocabulary (`COMMAND_SLOTS`): a JSON list
  of role names the catalog knows, the grant type. Any other value leaves the placeholder in
  the command as `<name>` (as `explain` shows it), for the user to fill in like `<instance>`.
  A template that puts another placeholder inside a command is refused when the codes load.
- A placeholder in prose shows names the catalog knows as they are (`NAME_SLOTS`), our own
  text made from the catalog as it is (`OWN_SLOTS`), and everything else as quoted data: a
  client id, a host, a token's zone, a baseline's name, a role name from a baseline. Data is
  one visible line without backticks (so it cannot open a span of its own), in double quotes
  unless it is a plain name.

So the spans of a filled fix are exactly its template's spans, and text from outside (a
profile, a service key, a token, a baseline, a tenant's answer) is never shown as a command.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from cpi_preflight.errors import CatalogError
from cpi_preflight.text import one_line

PROSE, CODE, COMMAND = "prose", "code", "command"
COMMAND_START = re.compile(r"(?:cf|export) ")
_SPAN = re.compile(r"(`[^`]*`)")
_PLAIN = re.compile(r"[A-Za-z0-9._~!|@:/+=-]+")  # a data value shown without quotes
_NAME = re.compile(r"[A-Za-z0-9_.]+")  # a name safe inside a single-quoted shell argument
GRANT_TYPES = frozenset({"client_credentials"})


@dataclass(frozen=True)
class Part:
    """A piece of a template: prose, a `code span` or a command span (text without backticks)."""

    kind: str
    text: str


def parts(template: str) -> list[Part]:
    """`template` cut into prose, code spans and command spans, in order."""
    found = []
    for number, piece in enumerate(_SPAN.split(template)):
        if number % 2 == 0:
            found.append(Part(PROSE, piece))
        else:
            inner = piece[1:-1]
            found.append(Part(COMMAND if COMMAND_START.match(inner) else CODE, inner))
    return [p for p in found if p.text or p.kind != PROSE]


def is_command(span: str) -> bool:
    """Whether the text of a code span is a command (`cf ...`, `export ...`)."""
    return COMMAND_START.match(span) is not None


def placeholders(text: str) -> list[str]:
    """The placeholder names of a template piece (`{{`/`}}` are literal braces)."""
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


# --- what a placeholder may hold ----------------------------------------------------------


def _json_names(value: str, known: Collection[str]) -> str | None:
    """A JSON list of known, shell-safe names, written again by us; None for anything else."""
    try:
        names = json.loads(value)
    except ValueError:
        return None
    if not isinstance(names, list) or not all(
            isinstance(n, str) and n in known and _NAME.fullmatch(n) for n in names):
        return None
    return json.dumps(names, separators=(",", ":"))


def _grant_type(value: str, known: Collection[str]) -> str | None:
    return value if value in GRANT_TYPES else None


# placeholders a command may hold, each with the check its value must pass
COMMAND_SLOTS: dict[str, Callable[[str, Collection[str]], str | None]] = {
    "roles_after_json": _json_names, "required_roles_json": _json_names,
    "grant_type": _grant_type,
}
# placeholders whose value is a name, or a list of names joined by ", ", the catalog knows
NAME_SLOTS = frozenset({"role", "roles", "neo_roles", "endpoint", "grant_type"})
# placeholders the diagnosis fills with its own text made from the catalog (a profile key, an
# entity set's note, the request it sent)
OWN_SLOTS = frozenset({"key", "note", "request"})


def check_template(code: str, template: str) -> None:
    """Refuse a template with a placeholder in a code span that `fill` cannot keep safe."""
    for part in parts(template):
        if part.kind == PROSE:
            continue
        allowed = COMMAND_SLOTS if part.kind == COMMAND else {}
        for name in placeholders(part.text):
            if name not in allowed:
                raise CatalogError(
                    f"code {code} in data/codes.yaml puts {{{name}}} inside `{part.text}`; "
                    f"a {part.kind} span may hold only {', '.join(sorted(allowed)) or 'none'}")


def as_data(value: str) -> str:
    """A value from outside as prose shows it: one visible line without backticks, in double
    quotes unless it is a plain name (its own double quotes become single ones)."""
    text = one_line(value).replace("`", "'")
    if _PLAIN.fullmatch(text):
        return text
    return '"' + text.replace('"', "'") + '"'


def _in_prose(name: str, value: str, known: Collection[str]) -> str:
    if name in OWN_SLOTS:
        return one_line(value).replace("`", "'")
    if name in NAME_SLOTS and value and all(n in known for n in value.split(", ")):
        return value
    if name in COMMAND_SLOTS and COMMAND_SLOTS[name](value, known) is not None:
        return value
    return as_data(value)


def _in_command(name: str, value: str, known: Collection[str]) -> str:
    checked = COMMAND_SLOTS[name](value, known)
    return f"<{name}>" if checked is None else checked


def _filled(part: Part, values: Mapping[str, str], known: Collection[str]) -> str:
    shown = _in_command if part.kind == COMMAND else _in_prose
    out = []
    for literal, name, _, _ in string.Formatter().parse(part.text):
        out.append(literal)
        if name:
            value = values.get(name, "")
            out.append(shown(name, value, known) if value else "")
    return "".join(out)


def fill(template: str, values: Mapping[str, str], known: Collection[str]) -> str:
    """`template` with its placeholders filled from `values` (a missing one is empty), each
    as its place allows; `known` is the vocabulary names are checked against (the catalog's
    role templates, Neo roles, personas and entity sets)."""
    pieces = []
    for part in parts(template):
        text = _filled(part, values, known)
        pieces.append(text if part.kind == PROSE else f"`{text}`")
    return "".join(pieces)
