"""Markdown table cells and tables: the one Markdown escaper, for the README's generated
regions (`docs`) and the CI job summary (`reporting.markdown`).

A cell is first made one visible line (`text.one_line`) and cut (`text.cut`); then `&`, `<` and
`>` become HTML entities (GitHub renders HTML in Markdown) and table pipes are escaped. Text
from outside has every character that makes Markdown markup or escapes backslash-escaped as
well (`` \\ ` * _ [ ] ~ ``), so that nothing of it becomes markup, a code span or a link. Only
our own text keeps its Markdown (`markup=True`: `code spans`, **bold**); inside a code span the
text is shown verbatim by any renderer, so only its pipes are escaped there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from cpi_preflight.text import cut, one_line

_CODE_SPAN = re.compile(r"(`[^`]*`)")
_MARKUP = re.compile(r"([\\`*_\[\]~])")


def _escaped(text: str, markup: bool) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (text if markup else _MARKUP.sub(r"\\\1", text)).replace("|", "\\|")


def cell(value: object, limit: int | None = None, *, markup: bool = False) -> str:
    """`value` as the text of one Markdown table cell: one line of at most `limit` characters
    (before escaping), HTML and pipes escaped, and no Markdown markup unless `markup` (our
    own text only, never text from outside: its code spans and emphasis are kept)."""
    text = one_line(str(value))
    if limit is not None:
        text = cut(text, limit)
    if not markup:
        return _escaped(text, markup=False)
    return "".join(part.replace("|", "\\|") if number % 2 else _escaped(part, markup=True)
                   for number, part in enumerate(_CODE_SPAN.split(text)))


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *,
          markup: bool = False) -> str:
    """A GitHub-flavoured Markdown table; headers and cells are escaped with `cell`."""
    lines = ["| " + " | ".join(cell(h, markup=markup) for h in headers) + " |",
             "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(c, markup=markup) for c in row) + " |" for row in rows]
    return "\n".join(lines)
