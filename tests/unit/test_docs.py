"""The generated README tables: rendering, region replacement, and the README being up to date."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cpi_preflight import catalog, docs

README = Path(__file__).resolve().parents[2] / "README.md"
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def _cells(row: str) -> list[str]:
    return [c.strip() for c in _UNESCAPED_PIPE.split(row)[1:-1]]


def _rows(table: str) -> list[list[str]]:
    return [_cells(line) for line in table.splitlines()[2:]]


def test_readme_regions_are_up_to_date() -> None:
    try:
        stale = docs.stale_regions(README)
    except docs.DocsError as exc:
        pytest.fail(str(exc))
    assert not stale, (f"{README}: regions {stale} differ from the catalog; run "
                       "`python -m cpi_preflight.docs --write README.md` and commit the result")


def test_write_fills_the_regions_of_a_copy_of_the_readme(tmp_path: Path) -> None:
    copy = tmp_path / "README.md"
    copy.write_text(README.read_text(encoding="utf-8"), encoding="utf-8")
    docs.write(copy)
    assert docs.stale_regions(copy) == []


def test_codes_table_has_one_row_per_code_with_five_cells() -> None:
    table = docs.codes_table_markdown()
    header, rule = table.splitlines()[:2]
    assert header == ("| Code | Severity | What it means | How to fix (Cloud Foundry) | "
                      "How to fix (Neo) |")
    assert rule == "|---|---|---|---|---|"
    rows = _rows(table)
    assert [r[0] for r in rows] == [f"`{n}`" for n in catalog.load().codes]
    assert all(len(r) == 5 for r in rows)


def test_codes_table_shows_placeholders_as_names_in_angle_brackets() -> None:
    table = docs.codes_table_markdown()
    assert not re.search(r"\{[a-z_]+\}", table)
    row = next(r for r in _rows(table) if r[0] == "`ROLE_MISSING`")
    assert ("Then send them back with &lt;role&gt; added, `grant-types` included; with the roles "
            "this token shows that is `cf update-service <instance> -c '{\"roles\":"
            "<roles_after_json>,\"grant-types\":[\"<grant_type>\"]}'`") in row[3]
    assert "First read the instance's current parameters: `cf service <instance> --params`" in (
        row[3])
    assert "assign &lt;neo_roles&gt; to user oauth_client_&lt;client_id&gt;" in row[4]


def test_codes_table_says_when_a_code_does_not_occur_on_neo() -> None:
    row = next(r for r in _rows(docs.codes_table_markdown()) if r[0] == "`WRONG_SERVICE_PLAN`")
    assert row[1] == "failure"
    assert row[4] == "Does not occur on Neo (Cloud Foundry only)."


def test_codes_table_uses_the_generic_fix_for_both_environments() -> None:
    row = next(r for r in _rows(docs.codes_table_markdown()) if r[0] == "`SERVER_ERROR`")
    assert row[3] == row[4]
    assert row[3].startswith("Check SAP's status page")


def test_catalog_table_maps_each_endpoint_to_its_roles() -> None:
    rows = _rows(docs.catalog_table_markdown())
    by_name = {r[0]: r for r in rows}
    assert list(by_name) == list(catalog.load().endpoints)
    assert by_name["MessageProcessingLogs"][1:4] == [
        "GET /MessageProcessingLogs?$top=1", "MonitoringDataRead",
        "IntegrationOperationServer.read, NodeManager.read"]
    assert by_name["DataStores"][1] == "GET /DataStores"


def test_markdown_table_keeps_code_spans_and_escapes_the_rest() -> None:
    table = docs.markdown_table(["A"], [["use `<x> {y}` for <host> {role} a|b\n  c"]])
    # `>` is escaped too since one escaper serves docs and summary (summary escaped it)
    assert table.splitlines()[-1] == "| use `<x> <y>` for &lt;host&gt; &lt;role&gt; a\\|b c |"


def test_text_table_aligns_columns() -> None:
    table = docs.text_table(["A", "Bee"], [["long value", "{role}"]])
    assert table.splitlines() == ["A           Bee", "----------  ------",
                                  "long value  <role>"]


def test_text_blocks_put_each_cell_under_the_first_wrapped_without_splitting_words() -> None:
    blocks = docs.text_blocks(["Name", "Role", "Scopes"],
                              [["One", "{role}", "a.read, b.write, c.VeryLongScopeName.read"],
                               ["Two", "R", "x"]], 24)
    assert blocks.splitlines() == ["One", "  Role: <role>", "  Scopes: a.read,", "    b.write,",
                                   "    c.VeryLongScopeName.read", "", "Two", "  Role: R",
                                   "  Scopes: x"]


def test_fitted_table_is_a_table_when_it_fits_and_blocks_when_it_does_not() -> None:
    rows = [["long value", "{role}"]]
    assert docs.fitted_table(["A", "Bee"], rows, 18) == docs.text_table(["A", "Bee"], rows)
    assert docs.fitted_table(["A", "Bee"], rows, 17).splitlines() == ["long value",
                                                                       "  Bee: <role>"]


@pytest.mark.parametrize("environment", [None, "cf", "neo"])
@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_catalog_text_fits_the_width_but_for_one_word_alone(environment: str | None,
                                                            width: int) -> None:
    lines = docs.catalog_text(environment, width).splitlines()
    assert [line for line in lines if len(line) > width and len(line.split()) > 1] == []


def test_catalog_text_keeps_its_tables_on_a_terminal_wide_enough() -> None:
    lines = docs.catalog_text("cf", 200).splitlines()
    assert lines[1].split() == ["Endpoint", "Request", "Cloud", "Foundry", "role", "template",
                                "Confidence", "Source"]
    assert "  SD-mpl       SAP-docs/btp-integration-suite @0cb9189b" not in lines  # one line


def test_the_catalog_may_use_a_terminal_wider_than_prose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    assert (docs.terminal_width(), docs.terminal_width(limit=None)) == (120, 300)


def _readme(tmp_path: Path, body: str = "") -> Path:
    path = tmp_path / "README.md"
    path.write_text("# Title\n\nbefore\n\n<!-- catalog:start -->\n<!-- catalog:end -->\n\n"
                    f"<!-- codes:start -->{body}<!-- codes:end -->\n\nafter\n", encoding="utf-8")
    return path


def test_check_reports_stale_regions_and_names_the_fix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _readme(tmp_path, "\nold table\n")
    assert docs.main(["--check", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == (f"{path}: out of date with the catalog: <!-- codes:start -->, "
                   f"<!-- catalog:start -->; run `python -m cpi_preflight.docs --write {path}` "
                   "and commit the result\n")


def test_write_fills_both_regions_and_keeps_the_rest(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _readme(tmp_path, "\nold table\n")
    assert docs.main(["--write", str(path)]) == 0
    assert "changed: codes, catalog" in capsys.readouterr().out
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\nbefore\n\n<!-- catalog:start -->\n<!-- generated by")
    assert text.endswith("<!-- codes:end -->\n\nafter\n")
    assert "old table" not in text
    assert docs.codes_table_markdown() in text
    assert docs.catalog_table_markdown() in text
    assert docs.main(["--check", str(path)]) == 0


def test_write_twice_changes_nothing(tmp_path: Path) -> None:
    path = _readme(tmp_path)
    docs.write(path)
    first = path.read_text(encoding="utf-8")
    assert docs.write(path) == []
    assert path.read_text(encoding="utf-8") == first


def test_missing_markers_say_what_to_add_and_what_to_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "README.md"
    path.write_text("# no markers\n", encoding="utf-8")
    assert docs.main(["--check", str(path)]) == 1
    assert capsys.readouterr().err == (
        f"{path}: the codes region is missing; put the lines <!-- codes:start --> and "
        "<!-- codes:end --> where the table belongs, then run "
        f"`python -m cpi_preflight.docs --write {path}`\n")


def test_unreadable_readme_is_reported_without_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "missing.md"
    assert docs.main(["--write", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}: cannot be read (No such file or directory)")
    assert "Traceback" not in err


# --- terminal text: placeholders, wrapping, commands ------------------------------------------


def test_placeholders_become_names_and_doubled_braces_single() -> None:
    text = "run `cf update-service <instance> -c '{{\"roles\":{required_roles_json}}}'` for {role}"
    assert docs.show_placeholders(text) == (
        "run `cf update-service <instance> -c '{\"roles\":<required_roles_json>}'` for <role>")


def test_wrap_never_splits_a_code_span() -> None:
    text = "word " * 8 + "`cf create-service-key <instance> <key>` and more words after it"
    lines = docs.wrap(text, 40)
    assert "  `cf create-service-key <instance> <key>`" in lines
    assert all(len(line) <= 40 for line in lines if "`" not in line)


def test_fix_lines_put_each_command_alone_without_backticks() -> None:
    text = ("Create one with `cf create-service-key <instance> <key>` and read it with "
            "`cf service-key <instance> <key>`. Then rerun; `url` stays inline.")
    assert docs.fix_lines(text, 60) == [
        "  Create one with",
        "      cf create-service-key <instance> <key>",
        "  and read it with",
        "      cf service-key <instance> <key>",
        "  Then rerun; `url` stays inline.",
    ]


@pytest.mark.parametrize(("columns", "width"), [("72", 72), ("20", 40), ("400", 120)])
def test_terminal_width_follows_columns_within_limits(monkeypatch: pytest.MonkeyPatch,
                                                       columns: str, width: int) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    assert docs.terminal_width() == width


@pytest.mark.parametrize("width", [60, 100])
def test_codes_text_fits_the_width_except_whole_commands(width: int) -> None:
    """Only what must not be split may be wider: a command, or one long word such as a URL."""
    for line in docs.codes_text(width).splitlines():
        whole = line.lstrip().startswith(("cf ", "export ")) or len(line.split()) == 1
        assert len(line) <= width or whole, line


def test_explain_names_causes_fixes_and_sources() -> None:
    text = docs.explain("ROLE_NOT_EFFECTIVE", 100)
    assert text.splitlines()[0] == (
        "ROLE_NOT_EFFECTIVE (failure): Refused although the token carries the role")
    prose = " ".join(text.split())
    assert "a role change takes up to an hour to reach the tenant" in prose
    assert "token issued before the change" not in prose  # each run fetches a new token
    assert "Then send them back with AccessAllAccessPoliciesArtifacts added" in prose
    assert ("      cf update-service <instance> -c "
            "'{\"roles\":<roles_after_json>,\"grant-types\":[\"<grant_type>\"]}'") in (
        text.splitlines())
    assert "Fix on Neo:\n  Does not occur on Neo (Cloud Foundry only)." in text
    # sources a user can find: SAP document titles and URLs, never the internal reference
    assert text.split("\nSources:\n", 1)[1].splitlines() == [
        '  SAP Help Portal, "Tasks and Permissions for Cloud Integration":',
        "    https://help.sap.com/docs/integration-suite/sap-integration-suite/tasks-and-"
        "permissions-556d5575d4b0483e85d4f3251f21d0ec",
        "  a public CPI client that reads a 403 with an empty body as an access policy",
        "    (CpiRuntimeArtifactClient.java): https://github.com/figaf/cpi-api",
    ]


INTERNAL = ("reference section", "reference '", "reference sections", "Added 2026", "[SD]")


@pytest.mark.parametrize("code", list(catalog.load().codes))
def test_explain_cites_what_a_user_can_find(code: str) -> None:
    """Issue 18.13: explain named internal notes ("reference section 7"); it names SAP
    document titles and URLs (codes.yaml `documents`), each a title in quotes or a URL."""
    text = docs.explain(code, 100)
    sources = text.split("\nSources:\n", 1)[1]
    assert sources.strip()
    assert not [word for word in INTERNAL if word in text]
    for citation in catalog.load().citations(catalog.load().codes[code]):
        assert ('"' in citation or "https://" in citation
                or citation.startswith("this tool's ")), citation


def test_the_catalog_sources_shown_to_users_are_findable() -> None:
    for tag, text in catalog.load().sources.items():
        assert not [word for word in INTERNAL if word in text], tag
        assert 'SAP Help Portal, "' in text or "https://" in text or "evidence, not a " \
            "citation" in text, tag


def test_the_endpoint_check_is_described_as_the_catalog_sends_it() -> None:
    """Not every probe sends `$top=1`: only where SAP's specification offers it."""
    rows = [line for line in README.read_text().splitlines()
            if line.startswith("| `endpoint[<name>]` |")]
    assert rows == ["| `endpoint[<name>]` | a read-only `GET <api_url>/api/v1/<entity set>` "
                    "succeeds, with `$top=1` only where SAP's specification offers it and the "
                    "parameters the catalog lists (the request column of the endpoint table "
                    "below) |"]
