"""Text from outside made safe to show: one line of visible characters, cut by one rule.

A tenant's answers, profiles, Postman files and evidence files may hold anything. Shown raw, an
escape sequence could recolour or erase a terminal line, a carriage return could print a forged
"PASSED" over it, a newline could start a fake report line, and a bidi override (U+202E) could
reverse what follows. `one_line` removes all of that. The evidence document cleans every value
with it (`reporting.document`), and every format escaper calls it again before escaping for its
format: XML (`reporting.junit.xml_safe`), HTML (`reporting.html`, through the template's
finalize and the `prose` filter), Markdown (`markdown.cell`) and the terminal
(`reporting.terminal`). So one input gives one answer in every report. `cut` shortens text with
the one ellipsis rule.
"""

from __future__ import annotations

import re
import unicodedata

ELLIPSIS = "..."
# Unicode categories that never belong in a shown line: controls (Cc), format characters such
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


def one_line(text: str) -> str:
    """`text` as one line of visible characters: escape sequences removed whole (with their
    payload), line breaks and tabs folded into spaces, every other control, format (bidi,
    zero-width) or unassigned character dropped, runs of spaces squeezed, ends trimmed."""
    if _is_one_line(text):
        return text  # the common case, and every report cleans each of its texts
    return _cleaned(text)


def _is_one_line(text: str) -> bool:
    """Whether `text` is printable ASCII (no control, no escape, no space but " ") with single
    inner spaces and none at its ends: then `one_line` leaves it as it is."""
    return (text.isascii() and text.isprintable() and "  " not in text
            and not text.startswith(" ") and not text.endswith(" "))


def _cleaned(text: str) -> str:
    folded = _BREAKS.sub(" ", _ESCAPES.sub("", text))
    kept = "".join(_visible(c) for c in folded)
    return _SPACES.sub(" ", kept).strip()


def _visible(char: str) -> str:
    if char.isspace():
        return " "  # any other space (no-break, ideographic) is a plain space
    return "" if unicodedata.category(char) in _DROPPED else char


# GitHub's runner takes a workflow command from a log line that holds `##[name ...]` anywhere,
# or whose first characters after any whitespace are `::name ...::` (actions/runner,
# ActionCommand.TryParse and TryParseV2). A space breaks both.
_COMMAND_V1 = re.compile(r"#(?=#\[)")
_COMMAND_V2 = re.compile(r"(?<!\S)::+")


def no_workflow_commands(text: str) -> str:
    """`text` that cannot form a CI workflow command in a log line, wherever a line break
    puts it: `##[` becomes `# #[`, and colons that start a word (`::error`) are spaced
    (`: :error`). Other text, `https://` and `[::1]` included, is left as it is."""
    if "##[" not in text and "::" not in text:
        return text
    spaced = _COMMAND_V2.sub(lambda m: " ".join(m.group(0)), text)
    return _COMMAND_V1.sub("# ", spaced)


def log_line(text: str) -> str:
    """Text from outside as a terminal or a CI log shows it: one visible line (`one_line`)
    that forms no workflow command (`no_workflow_commands`)."""
    return no_workflow_commands(one_line(text))


def log_lines(text: str) -> str:
    """Text with several lines (a log record, a traceback) for a terminal or a CI log: each
    line as by `log_line`, line breaks and indentation kept."""
    return no_workflow_commands(lines(text))


def lines(text: str) -> str:
    """Text of our own making with several lines (a JUnit output): each line cleaned as by
    `one_line`, the line breaks and each line's indentation kept."""
    return "\n".join(line[: len(line) - len(line.lstrip(" "))] + one_line(line)
                     for line in text.split("\n"))


def cut(text: str, limit: int) -> str:
    """`text` when it has at most `limit` characters, else its start and `...`, `limit`
    characters in all (at least one character of `text` is kept)."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(ELLIPSIS), 1)] + ELLIPSIS


def hidden_character(text: str) -> str | None:
    """Where `text` holds its first character that a line cannot show as itself (a control such
    as ESC, CR, a newline or a tab; a bidi or zero-width format character; a line or paragraph
    separator; any other non-printable one), as `U+001B at position 5` (1-based); None when
    every character is visible or a plain space. For values that must be taken exactly as
    they are (a secret, a client id, a URL), where cleaning would change them."""
    for index, char in enumerate(text):
        if not char.isprintable():
            return f"U+{ord(char):04X} at position {index + 1}"
    return None
