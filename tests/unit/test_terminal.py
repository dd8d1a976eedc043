"""The lines of the cpi-preflight terminal section, from verdicts."""

from __future__ import annotations

import pytest

from cpi_preflight.findings import FAILED, PASSED, SKIPPED, Finding, Verdict
from cpi_preflight.plan import Check
from cpi_preflight.terminal import fitted, profile_lines


def _verdict(check_id: str, outcome: str, summary: str = "", *findings: Finding) -> Verdict:
    return Verdict(Check(check_id, check_id, check_id, check_id, ()), outcome, summary,
                   findings)


MISSING = Finding("ROLE_MISSING", "failure", "R", "role R is not granted to client c " * 4,
                  "add R")
EXCESS = Finding("EXCESS_ROLES", "warning", "X", "the token grants X", "remove X")
VERDICTS = {
    "token": _verdict("token", PASSED),
    "role[R]": _verdict("role[R]", FAILED, "", MISSING),
    "least-privilege": _verdict("least-privilege", PASSED, "", EXCESS),
    "endpoint[E]": _verdict("endpoint[E]", SKIPPED, "fix role[R] first"),
}


def test_default_verbosity_shows_every_check_with_reasons_warnings_and_fixes() -> None:
    assert profile_lines("p (cf)", VERDICTS, {"tls-expiry": "not selected"}, width=80,
                         verbosity=0) == [
        "p (cf): 1 failed, 1 warning, 1 passed, 1 skipped, 1 not run",
        "  token           passed",
        "  role[R]         failed   ROLE_MISSING",
        "    role R is not granted to client c role R is not granted to client c role ...",
        "  least-privilege warning  EXCESS_ROLES",
        "    the token grants X",
        "    fix: remove X",
        "  endpoint[E]     skipped  fix role[R] first",
        "  not run (1): tls-expiry; not selected",
    ]


def test_q_keeps_failures_and_warnings() -> None:
    lines = profile_lines("p (cf)", VERDICTS, {"tls-expiry": "x"}, width=80, verbosity=-1)
    assert [line.split()[0] for line in lines[1:] if not line.startswith("    ")] == [
        "role[R]", "least-privilege"]


def test_qq_keeps_the_summary_line() -> None:
    assert profile_lines("p (cf)", VERDICTS, {}, width=80, verbosity=-2) == [
        "p (cf): 1 failed, 1 warning, 1 passed, 1 skipped"]


@pytest.mark.parametrize("width", [40, 60, 120])
def test_rows_fit_the_width(width: int) -> None:
    lines = profile_lines("p (cf)", VERDICTS, {}, width=width, verbosity=0)
    assert max(len(line) for line in lines) <= width


def test_control_characters_never_reach_the_terminal() -> None:
    hostile = _verdict("endpoint[E]", SKIPPED, "answered \x1b[2Jgone\r\x07")
    lines = profile_lines("p (cf)", {"endpoint[E]": hostile}, {}, width=80, verbosity=0)
    assert not any(c in "".join(lines) for c in "\x1b\r\x07")


def test_failure_text_is_wrapped_with_its_fix_indented() -> None:
    text = "CODE: " + "word " * 20 + "\n  fix: " + "do " * 20
    assert fitted(text, 40).splitlines() == [
        "CODE: word word word word word word word",
        "  word word word word word word word",
        "  word word word word word word",
        "  fix: do do do do do do do do do do do",
        "    do do do do do do do do do",
    ]


def test_a_fix_puts_each_cf_command_alone_on_a_line_without_backticks() -> None:
    text = ("ROLE_MISSING: role X is not granted\n"
            "  fix: Add X in the cockpit; or run `cf update-service <instance> -c "
            "'{\"roles\":[\"X\"]}'` with the full list, then fetch a new token.")
    assert fitted(text, 40).splitlines() == [
        "ROLE_MISSING: role X is not granted",
        "  fix: Add X in the cockpit; or run",
        "        cf update-service <instance> -c '{\"roles\":[\"X\"]}'",
        "    with the full list, then fetch a new",
        "    token.",
    ]


def test_a_warning_s_fix_keeps_its_cf_command_whole() -> None:
    excess = Finding("EXCESS_ROLES", "warning", "X", "the token grants X",
                     "Remove X in the cockpit or with `cf update-service <instance> -c "
                     "'{\"roles\":[\"R\"]}'`, which sets the full list.")
    verdicts = {"least-privilege": _verdict("least-privilege", PASSED, "", excess)}
    assert profile_lines("p (cf)", verdicts, {}, width=40, verbosity=0)[2:] == [
        "    the token grants X",
        "    fix: Remove X in the cockpit or with",
        "          cf update-service <instance> -c '{\"roles\":[\"R\"]}'",
        "      which sets the full list.",
    ]
