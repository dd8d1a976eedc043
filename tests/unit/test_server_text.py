"""server_text: a tenant's text becomes one short visible line, for every output alike."""

from __future__ import annotations

import pytest

from cpi_preflight.secret import MASK, register
from cpi_preflight.server_text import QUOTE_LIMIT, printable, quote


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
    ("Grüße, 日本語, émoji 🙂", "Grüße, 日本語, émoji 🙂"),
])
def test_printable_keeps_only_visible_text_on_one_line(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_quote_cuts_long_text_and_marks_the_cut() -> None:
    assert quote("x" * 5000) == "x" * (QUOTE_LIMIT - 3) + "..."
    assert quote("abcdef", 5) == "ab..."
    assert quote("x" * QUOTE_LIMIT) == "x" * QUOTE_LIMIT


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
