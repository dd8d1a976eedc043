"""Text a tenant sent us, made safe to quote: one short line of visible characters.

Servers put whatever they like into `error_description`, OData messages, header values and
token claims. Quoted raw, an ESC sequence could recolour or erase the terminal line, a carriage
return could print a forged "PASSED" over it, a newline could start a fake report line, and a
bidi override (U+202E) could reverse what follows. `quote` removes all of that, the same way for
the terminal, JUnit and HTML, so every reporter gets the same clean text.
"""

from __future__ import annotations

import re
import unicodedata

from cpi_preflight.secret import scrub

QUOTE_LIMIT = 300
ELLIPSIS = "..."
# Unicode categories that never belong in a quoted line: controls (Cc), format characters such
# as bidi overrides and zero-width joiners (Cf), surrogates (Cs), private use (Co), unassigned
# (Cn), and line/paragraph separators (Zl, Zp).
_DROPPED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# whole escape sequences go, not just their ESC: CSI (colours, cursor moves, erase line) and
# OSC (window titles, hyperlinks), in their 7-bit and 8-bit forms
_ESCAPES = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
                      r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
                      r"|\x1b[ -/]*[0-~]")
_BREAKS = re.compile(r"[\r\n\t\v\f\x1c-\x1e\x85\u2028\u2029]+")
_SPACES = re.compile(r" {2,}")


def printable(text: str) -> str:
    """`text` with line breaks folded into spaces and every other invisible character dropped
    (no truncation: for messages whose length we control)."""
    folded = _BREAKS.sub(" ", _ESCAPES.sub("", text))
    kept = "".join(_visible(c) for c in folded)
    return _SPACES.sub(" ", kept).strip()


def _visible(char: str) -> str:
    if char.isspace():
        return " "  # any other space (no-break, ideographic) is a plain space
    return "" if unicodedata.category(char) in _DROPPED else char


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A tenant's text as one visible line of at most `limit` characters (marked when cut),
    registered secrets masked first so that no cut leaves part of one behind."""
    text = scrub(value if isinstance(value, str) else str(value))  # before any cut
    if len(text) > limit * 4:
        text = text[: limit * 4]  # bound the work on megabyte-sized values
    clean = printable(text)
    if len(clean) <= limit:
        return clean
    return clean[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS
