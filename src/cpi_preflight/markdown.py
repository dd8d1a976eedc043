"""Markdown table cells and tables: the one Markdown escaper, for the README's generated
regions (`docs`) and the CI job summary (`reporting.markdown`).

A cell is first made one visible line (`text.one_line`) and cut (`text.cut`); then `&`, `<` and
`>` become HTML entities (GitHub renders HTML in Markdown) and table pipes are escaped. Text
from outside has every character that makes Markdown markup or escapes backslash-escaped as
well (`` \\ ` * _ [ ] ~ ``), so that nothing of it becomes markup or a code span of its own,
and a word GitHub would make a link or a mention of (a URL, `www.`, an e-mail address,
`@name`) shown as a code span, so that nothing of it becomes a link or a mention. Only
our own text keeps its Markdown (`markup=True`: `code spans`, **bold**); inside a code span the
text is shown verbatim by any renderer, so only its pipes are escaped there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from cpi_preflight.text import cut, one_line

_CODE_SPAN = re.compile(r"(`[^`]*`)")
_MARKUP = re.compile(r"([\\`*_\[\]~])")
# What GitHub makes a link or a mention of in text: GFM's autolink extension links `www.`,
# `http://`, `https://`, `ftp://` and e-mail addresses (also `mailto:` and `xmpp:`), and a
# backslash escape does not stop it (`a\@b.co` still becomes a mailto link); GitHub links
# `@name` too. Neither happens inside a code span, so a word holding any of these is shown as
# one (case-insensitive, and for any `://`, to be safe).
_LINKABLE = re.compile(r"@|://|www\.|^(?:mailto|xmpp):", re.IGNORECASE)
_BACKTICKS = re.compile(r"`+")


def _escaped(text: str, markup: bool) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (text if markup else _MARKUP.sub(r"\\\1", text)).replace("|", "\\|")


def code_span(text: str) -> str:
    """`text` as a code span shown verbatim: fenced by one backtick more than its longest run
    of them (padded by a space where it starts or ends with one), pipes escaped for a table."""
    fence = "`" * (max(map(len, _BACKTICKS.findall(text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return fence + pad + text.replace("|", "\\|") + pad + fence


def _outside(text: str) -> str:
    """Text from outside: no markup, and no word GitHub would link (`_LINKABLE`): such a word
    is a code span."""
    return " ".join(code_span(word) if _LINKABLE.search(word) else _escaped(word, markup=False)
                    for word in text.split(" "))


def cell(value: object, limit: int | None = None, *, markup: bool = False) -> str:
    """`value` as the text of one Markdown table cell: one line of at most `limit` characters
    (before escaping), HTML and pipes escaped, and no Markdown markup unless `markup` (our
    own text only, never text from outside: its code spans and emphasis are kept)."""
    text = one_line(str(value))
    if limit is not None:
        text = cut(text, limit)
    if not markup:
        return _outside(text)
    return "".join(part.replace("|", "\\|") if number % 2 else _escaped(part, markup=True)
                   for number, part in enumerate(_CODE_SPAN.split(text)))


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *,
          markup: bool = False) -> str:
    """A GitHub-flavoured Markdown table; headers and cells are escaped with `cell`."""
    lines = ["| " + " | ".join(cell(h, markup=markup) for h in headers) + " |",
             "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(c, markup=markup) for c in row) + " |" for row in rows]
    return "\n".join(lines)
