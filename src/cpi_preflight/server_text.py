"""Text a tenant sent us, quoted where it enters the facts: masked, one line, short.

Servers put whatever they like into `error_description`, OData messages, header values and
token claims. `quote` is the entry point for all of it: registered secrets are masked first
(so that no cut leaves part of one behind), then the text is cleaned by `text.one_line` and cut
to `QUOTE_LIMIT` characters by `text.cut`, the same cleaning every format escaper applies.
"""

from __future__ import annotations

from cpi_preflight.secret import scrub
from cpi_preflight.text import cut, one_line

QUOTE_LIMIT = 300


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A tenant's text as one visible line of at most `limit` characters (marked when cut),
    registered secrets masked first so that no cut leaves part of one behind."""
    text = scrub(value if isinstance(value, str) else str(value))  # before any cut
    if len(text) > limit * 4:
        text = text[: limit * 4]  # bound the work on megabyte-sized values
    return cut(one_line(text), limit)
