"""The lines of the cpi-preflight terminal section, from the checks of a document."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from cpi_preflight.findings import FAILED, PASSED, SKIPPED, Finding, Verdict
from cpi_preflight.plan import Check
from cpi_preflight.reporting import terminal
from cpi_preflight.reporting.document import CheckRow
from cpi_preflight.reporting.terminal import fitted, notice_lines


def profile_lines(title: str, verdicts: Mapping[str, Verdict], not_run: Mapping[str, str], *,
                  width: int, verbosity: int) -> list[str]:
    """The section for checks that ran (`verdicts`) and checks not run (id -> why), as a
    document holds them."""
    rows = [CheckRow(v.check.id, v.outcome, True, v.summary, v.findings) for v in verdicts.values()]
    rows += [CheckRow(i, SKIPPED, False, why) for i, why in not_run.items()]
    return terminal.profile_lines(title, rows, width=width, verbosity=verbosity)


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
    finding = Finding("CODE", "failure", "s", "word " * 20, "do " * 20)
    assert fitted(finding, 40).splitlines() == [
        "CODE: word word word word word word word",
        "  word word word word word word word",
        "  word word word word word word",
        "  fix: do do do do do do do do do do do",
        "    do do do do do do do do do",
    ]


def test_a_fix_puts_each_cf_command_alone_on_a_line_without_backticks() -> None:
    finding = Finding("ROLE_MISSING", "failure", "X", "role X is not granted",
                      "Add X in the cockpit; or run `cf update-service <instance> -c "
                      "'{\"roles\":[\"X\"]}'` with the full list, then fetch a new token.")
    assert fitted(finding, 40).splitlines() == [
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


CLIENT = "sb-79486177-2f4c-4b0e-9a1d-5c3e8f2b7a09!b34852|it!b68809"
LONG_ROWS = {
    "endpoint[MessageProcessingLogs]": _verdict("endpoint[MessageProcessingLogs]", PASSED),
    "least-privilege": _verdict("least-privilege", PASSED, "", Finding(
        "EXCESS_ROLES", "warning", "X", f"the token of client {CLIENT} carries X.Read",
        "remove X")),
    "drift": _verdict("drift", PASSED, "",
                      Finding("ROLE_LOST", "warning", "A", "role A was granted", "restore A"),
                      Finding("ROLE_GAINED", "warning", "B", "role B is new", "confirm B"),
                      Finding("ENDPOINT_REMOVED", "warning", "E", "E is gone", "check E")),
}
DRIFT_DETAILS = [
    "    ROLE_LOST: role A was granted",
    "    fix: restore A",
    "    ROLE_GAINED: role B is new",
    "    fix: confirm B",
    "    ENDPOINT_REMOVED: E is gone",
    "    fix: check E",
]


def test_at_80_codes_that_do_not_fit_the_row_go_whole_to_the_next_line() -> None:
    assert profile_lines("p (cf)", LONG_ROWS, {}, width=80, verbosity=0)[1:] == [
        "  endpoint[MessageProcessingLogs] passed",
        "  least-privilege                 warning  EXCESS_ROLES",
        f"    the token of client {CLIENT}",
        "      carries X.Read",
        "    fix: remove X",
        "  drift                           warning",
        "    ROLE_LOST, ROLE_GAINED, ENDPOINT_REMOVED",
        *DRIFT_DETAILS,
    ]


def test_at_60_a_client_id_longer_than_the_line_stands_whole_on_its_own() -> None:
    assert profile_lines("p (cf)", LONG_ROWS, {}, width=60, verbosity=0)[1:] == [
        "  endpoint[MessageProcessingLogs] passed",
        "  least-privilege                 warning  EXCESS_ROLES",
        "    the token of client",
        f"      {CLIENT}",
        "      carries X.Read",
        "    fix: remove X",
        "  drift                           warning",
        "    ROLE_LOST, ROLE_GAINED, ENDPOINT_REMOVED",
        *DRIFT_DETAILS,
    ]


def test_at_40_ids_and_codes_move_to_their_own_lines_instead_of_being_cut() -> None:
    """An id too long for the column stands alone and does not widen the column."""
    assert profile_lines("p (cf)", LONG_ROWS, {}, width=40, verbosity=0)[1:] == [
        "  endpoint[MessageProcessingLogs]",
        "                  passed",
        "  least-privilege warning  EXCESS_ROLES",
        "    the token of client",
        f"      {CLIENT}",
        "      carries X.Read",
        "    fix: remove X",
        "  drift           warning",
        "    ROLE_LOST, ROLE_GAINED,",
        "      ENDPOINT_REMOVED",
        *DRIFT_DETAILS,
    ]


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_long_rows_fit_the_width_but_for_one_word_alone(width: int) -> None:
    lines = profile_lines("p (cf)", LONG_ROWS, {}, width=width, verbosity=0)
    assert [line for line in lines if len(line) > width and len(line.split()) > 1] == []
    assert all("..." not in line for line in lines)


def test_an_id_longer_than_the_column_limit_is_shown_whole_on_its_own_line() -> None:
    long_id = "endpoint[MessageMappingDesigntimeArtifacts]"
    missing = Finding("ENDPOINT_NOT_FOUND", "failure", "E", "GET answered 404", "check E")
    verdicts = {"token": _verdict("token", PASSED),
                long_id: _verdict(long_id, FAILED, "", missing)}
    assert profile_lines("p (cf)", verdicts, {}, width=100, verbosity=0)[1:] == [
        "  token passed",
        f"  {long_id}",
        "        failed   ENDPOINT_NOT_FOUND",
        "    GET answered 404",
    ]


def test_a_notice_is_one_line_under_the_profile_when_it_fits() -> None:
    text = "SAP: the Neo environment sunsets on 2028-12-31 (SAP Note 3351844)"
    assert notice_lines([text], 80) == [f"  notice: {text}"]
    assert notice_lines([text], 40) == [
        "  notice: SAP: the Neo environment", "    sunsets on 2028-12-31 (SAP Note",
        "    3351844)"]
    assert notice_lines([], 80) == []


def test_report_lines_are_relative_to_the_current_folder_where_possible(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    monkeypatch.chdir(project)
    written = [project / "reports" / "prod-cf" / "junit.xml",
               elsewhere / "reports" / "prod-cf" / "evidence.json"]
    assert terminal.report_lines(written) == [
        "report: reports/prod-cf/junit.xml",
        f"report: {elsewhere}/reports/prod-cf/evidence.json",
    ]


def test_each_code_of_a_drift_row_shows_its_own_fix() -> None:
    """The drift row once showed ROLE_LOST, ROLE_GAINED, ENDPOINT_REGRESSED with one fix line,
    ROLE_GAINED's, which read as the row's fix (issue 18.4)."""
    lost = Finding("ROLE_LOST", "failure", "R", "role R was granted in the baseline",
                   "Add R back: `cf update-service <instance> -c '{\"roles\":[\"R\"]}'`.")
    gained = Finding("ROLE_GAINED", "warning", "G", "role G is granted now", "Confirm G.")
    regressed = Finding("ENDPOINT_REGRESSED", "failure", "E", "GET /E answered before",
                        "See E's own finding.")
    verdicts = {"drift": _verdict("drift", FAILED, lost.message, lost, gained, regressed)}
    assert profile_lines("p (cf)", verdicts, {}, width=80, verbosity=0)[1:] == [
        "  drift failed   ROLE_LOST, ROLE_GAINED, ENDPOINT_REGRESSED",
        "    ROLE_LOST: role R was granted in the baseline",
        "    fix: Add R back:",
        "          cf update-service <instance> -c '{\"roles\":[\"R\"]}'",
        "    ENDPOINT_REGRESSED: GET /E answered before",
        "    fix: See E's own finding.",
        "    ROLE_GAINED: role G is granted now",
        "    fix: Confirm G.",
    ]


def test_a_single_failure_keeps_its_fix_for_the_failures_section() -> None:
    lost = Finding("ROLE_LOST", "failure", "R", "role R was granted in the baseline", "Add R.")
    verdicts = {"drift": _verdict("drift", FAILED, lost.message, lost)}
    assert profile_lines("p (cf)", verdicts, {}, width=80, verbosity=0)[1:] == [
        "  drift failed   ROLE_LOST",
        "    role R was granted in the baseline",
    ]
