"""text and server_text: text from outside becomes one short visible line, for every output
alike; server_text.quote masks a tenant's text first."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cpi_preflight.secret import MASK, register
from cpi_preflight.server_text import QUOTE_LIMIT, quote
from cpi_preflight.text import _cleaned, cut, lines, no_workflow_commands, one_line


@pytest.mark.parametrize(("raw", "shown"), [
    ("plain words", "plain words"),
    ("colour \x1b[32mPASSED\x1b[0m", "colour PASSED"),
    ("erase\x1b[2K\rprofiles/p.yaml::token PASSED", "erase profiles/p.yaml::token PASSED"),
    ("line one\nline two\r\nthree", "line one line two three"),
    ("reversed \u202etxt.exe and \u2066isolate\u2069", "reversed txt.exe and isolate"),
    ("bell\x07 nul\x00 del\x7f c1\x85end", "bell nul del c1 end"),
    ("title \x1b]0;owned\x07 link \x1b]8;;http://e\x1b\\x\x1b]8;;\x1b\\", "title link x"),
    ("8-bit csi \x9b31m red", "8-bit csi red"),
    ("zero\u200bwidth\ufeff and\u00a0no-break", "zerowidth and no-break"),
    ("tabs\tand\u2028separators\u2029here", "tabs and separators here"),
    ("  trimmed   and   squeezed  ", "trimmed and squeezed"),
    # printable ASCII failing one test of the fast path only (pinned by mutation testing)
    ("inner  spaces", "inner spaces"),
    (" leading", "leading"),
    ("trailing ", "trailing"),
    ("Grüße, 日本語, émoji 🙂", "Grüße, 日本語, émoji 🙂"),
])
def test_one_line_keeps_only_visible_text_on_one_line(raw: str, shown: str) -> None:
    assert one_line(raw) == shown


def test_cut_has_one_rule_and_keeps_at_least_one_character() -> None:
    assert cut("abcdef", 6) == "abcdef"
    assert cut("abcdef", 5) == "ab..."
    assert cut("ab cdef", 6) == "ab ..."
    assert cut("abcdef", 2) == "a..."


def test_lines_cleans_each_line_and_keeps_our_line_structure() -> None:
    assert lines("CODE: a\x1b[31m\u202eb\n  fix: c\x07d  e\n") == "CODE: ab\n  fix: cd e\n"


def test_quote_cuts_long_text_and_marks_the_cut() -> None:
    assert quote("x" * 5000) == "x" * (QUOTE_LIMIT - 3) + "..."
    assert quote("abcdef", 5) == "ab..."
    assert quote("x" * QUOTE_LIMIT) == "x" * QUOTE_LIMIT


def test_quote_reads_no_further_than_four_times_its_limit() -> None:
    """Megabyte-sized values are bounded before cleaning: what lies beyond 4 x limit is never
    shown, even when everything before it is dropped as invisible."""
    assert quote("\x07" * 4 * QUOTE_LIMIT + "beyond") == ""
    assert quote("\x07" * 39 + "a" + "beyond", 10) == "a"
    assert quote("\x07" * 38 + "ab" + "beyond", 10) == "ab"


def test_quote_takes_any_value() -> None:
    assert quote(["a", {"b": 1}]) == "['a', {'b': 1}]"
    assert quote(None) == "None"
    assert quote(12) == "12"


def test_quote_masks_a_secret_before_it_could_cut_through_it() -> None:
    secret = "Quote&<>\"'$-secret-77"
    register(secret)
    shown = quote("y" * (QUOTE_LIMIT - 10) + secret)
    assert "Quote&" not in shown
    assert shown == "y" * (QUOTE_LIMIT - 10) + MASK


@given(st.text(st.characters(max_codepoint=0x7F)) | st.text())
def test_the_shortcut_for_text_that_is_already_one_line_gives_the_full_cleaning(
        text: str) -> None:
    assert one_line(text) == _cleaned(text)
    assert one_line(one_line(text)) == one_line(text)


# --- mutation: text ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "shown"), [
    ("::error::all checks passed", ": :error::all checks passed"),  # no "##[" in it
    ("  ::warning file=x::fold", "  : :warning file=x::fold"),
    (":::error::x", ": : :error::x"),
    ("##[group]x", "# #[group]x"),  # no "::" in it
    ("ok ##[error]approved", "ok # #[error]approved"),
    ("a::b ##[x]", "a::b # #[x]"),
    ("https://[::1]:8443/api", "https://[::1]:8443/api"),
])
def test_workflow_commands_are_spaced_apart_exactly(text: str, shown: str) -> None:
    assert no_workflow_commands(text) == shown
