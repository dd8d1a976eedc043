"""The reporting package: one masked document per profile, one wording, one table of files.

Where the reporters that came before it disagreed, the stricter one wins here, with a test:
- junit.xml masked the client id, evidence.json did not (its `id` field is vocabulary);
- junit.xml kept a text's line breaks (only each line was cleaned) and evidence.json kept the
  text raw, while evidence.html and the terminal showed one visible line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cpi_preflight.errors import ConfigError
from cpi_preflight.findings import PASSED, SKIPPED, Verdict
from cpi_preflight.plan import Plan
from cpi_preflight.reporting import document, evidence, html, junit, outcomes, reports, terminal
from cpi_preflight.reporting.document import Document
from cpi_preflight.secret import MASK, Secret

from .test_evidence import (
    STARTED,
    page_text,
    sample_observations,
    sample_plan,
    sample_token,
    sample_verdicts,
)


def built(the_plan: Plan | None = None, verdicts: dict[str, Verdict] | None = None) -> Document:
    the_plan = the_plan or sample_plan()
    return document.build(the_plan, sample_observations(),
                          sample_verdicts(the_plan) if verdicts is None else verdicts,
                          started_at=STARTED, duration_s=1.5, token=sample_token(),
                          trust="system CAs", proxy="direct", baseline=None)


def _junit(doc: Document) -> ET.Element:
    return ET.fromstring(junit.render(doc).encode("utf-8"))


def _properties(doc: Document) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in _junit(doc).iter("property")}


# --- one masking, the stricter rule where two reporters disagreed ------------------------------


def test_a_secret_inside_the_client_id_is_masked_in_every_report() -> None:
    """junit.xml masked its client_id property; evidence.json's client.id was left alone
    because `id` is vocabulary for check ids. The client id is text from outside: masked."""
    Secret("a1b2c3d4e5f6")
    doc = built()
    shown = f"sb-{MASK}!b42|it!b182722"
    assert doc.record["client"]["id"] == shown
    assert _properties(doc)["client_id"] == shown
    assert f"<code>{shown}</code>" in html.render(doc)
    assert "a1b2c3d4e5f6" not in evidence.render(doc) + junit.render(doc) + html.render(doc)


def test_check_ids_outcomes_and_codes_are_vocabulary_in_every_report() -> None:
    """A secret equal to a word of the tool's own (a check id from the catalog, an outcome, a
    code) masks none of them anywhere: ids name what was checked, in the same words in the
    terminal (which used to mask them with the rest of a line), junit.xml and evidence.json.
    The same word in text from outside is masked."""
    the_plan = sample_plan()
    verdicts = sample_verdicts(the_plan)
    token = verdicts["token"]
    verdicts["token"] = replace(token, summary="the server said token")
    Secret("token")
    doc = built(the_plan, verdicts)
    assert [c["id"] for c in doc.record["checks"]][:2] == ["token", "api"]
    assert doc.record["checks"][0]["summary"] == f"the server said {MASK}"
    assert next(c.get("name") for c in _junit(doc).iter("testcase")) == "token"
    lines = terminal.render(doc, width=100, verbosity=0)
    assert lines[1].split() == ["token", "passed"]


def test_a_text_is_one_visible_line_in_every_report() -> None:
    """junit.xml kept the line breaks of a text (cleaning each line) and evidence.json kept the
    text as it was, while evidence.html and the terminal showed one visible line: every report
    now shows the line the document holds."""
    the_plan = replace(sample_plan(), profile=replace(sample_plan().profile,
                                                      description="first\nsecond \u202eline"))
    verdicts = sample_verdicts(the_plan)
    skipped = verdicts["endpoint[IntegrationPackages]"]
    verdicts[skipped.check.id] = replace(skipped, summary="answered 403\r\nPASSED \x1b[2Kforged")
    doc = built(the_plan, verdicts)
    said = "answered 403 PASSED forged"
    assert doc.record["profile"]["description"] == "first second line"
    assert json.loads(evidence.render(doc))["checks"][5]["summary"] == said
    case = _junit(doc).find(".//testcase[@name='endpoint[IntegrationPackages]']/skipped")
    assert case is not None
    assert case.get("message") == said
    assert "first second line" in page_text(html.render(doc))
    assert f"  endpoint[IntegrationPackages]   skipped  {said}" in terminal.render(
        doc, width=100, verbosity=0)


def test_the_document_is_masked_once_before_any_renderer() -> None:
    Secret("S3cr&t<>\"'$")
    the_plan = sample_plan()
    verdicts = sample_verdicts(the_plan)
    role = verdicts["role[WorkspacePackagesRead]"]
    verdicts[role.check.id] = replace(role, summary="echo S3cr&t<>\"'$ back")
    doc = built(the_plan, verdicts)
    texts = json.dumps([doc.record, doc.details], ensure_ascii=False)
    assert "S3cr&t" not in texts
    assert f"echo {MASK} back" in texts
    assert doc.details["api_url"] == "https://acme.it-cpi018.cfapps.eu10.hana.ondemand.com"


# --- one wording ---------------------------------------------------------------------------


@pytest.mark.parametrize(("counts", "words"), [
    ({"failed": 2, "warning": 2, "passed": 1, "skipped": 0, "not_run": 3},
     "2 failed, 2 warnings, 1 passed, 3 not run"),
    ({"warning": 1}, "1 warning"),
    ({}, ""),
    ({"failed": "2", "passed": True, "skipped": None}, ""),  # read back from a file: not counts
])
def test_counts_words(counts: dict[str, Any], words: str) -> None:
    assert outcomes.counts_words(counts) == words


@pytest.mark.parametrize(("outcome", "ran", "warned", "shown"), [
    (PASSED, True, False, "passed"), (PASSED, True, True, "warning"),
    ("failed", True, True, "failed"), (SKIPPED, True, False, "skipped"),
    (SKIPPED, False, False, "not_run"), (PASSED, False, True, "not_run"),
])
def test_shown_outcome(outcome: str, ran: bool, warned: bool, shown: str) -> None:
    assert outcomes.shown(outcome, ran=ran, warned=warned) == shown


def test_the_run_result() -> None:
    assert outcomes.run_result({"failed": 1, "not_run": 2}) == "failed"
    assert outcomes.run_result({"passed": 3, "not_run": 1}) == "incomplete"
    assert outcomes.run_result({"passed": 3, "warning": 1}) == "passed"


def test_terminal_html_and_record_count_alike() -> None:
    doc = built()
    words = outcomes.counts_words(doc.record["summary"])
    assert words == "1 failed, 1 warning, 4 passed, 1 skipped, 1 not run"
    assert terminal.render(doc, width=100, verbosity=-2) == [f"prod-cf (cf): {words}"]
    assert f"8 checks: {words}; 1 warning finding" in html.render(doc)


# --- renderers read the document, also one read back from evidence.json -----------------------


def test_renderers_give_the_same_from_a_document_read_back_from_its_file() -> None:
    doc = built()
    loaded = Document(json.loads(evidence.render(doc)))
    assert evidence.render(loaded) == evidence.render(doc)
    assert html.render(loaded) == html.render(doc)
    for verbosity in (-2, -1, 0):
        assert terminal.render(loaded, width=80, verbosity=verbosity) == terminal.render(
            doc, width=80, verbosity=verbosity)
    # the file holds no full URLs and no call times: junit.xml says less, nothing else
    cases = {c.get("name"): c for c in _junit(loaded).iter("testcase")}
    assert cases["token"].get("time") is None
    assert _properties(loaded)["api_url"] == ""
    assert [c.get("name") for c in cases.values()] == [
        f"{c['id']} (WARNING EXCESS_ROLES)" if c["id"] == "least-privilege" else c["id"]
        for c in doc.record["checks"]]


@pytest.mark.parametrize(("odd", "ids", "line"), [
    ({}, [], "(): no checks"),
    ({"checks": 5, "findings": {"a": 1}}, [], "(): no checks"),
    ({"checks": [None, 3, {"id": 7, "outcome": "maybe"}], "profile": []}, ["7"], "(): 1 not run"),
    ({"checks": [{"id": "a", "outcome": []}, {"id": "b", "outcome": "passed", "ran": True}],
      "findings": [{"check": "b", "severity": "warning", "code": "X"}]}, ["a", "b"],
     "(): 1 warning, 1 not run"),
])
def test_a_document_of_any_shape_is_read_without_a_crash(odd: dict[str, Any], ids: list[str],
                                                         line: str) -> None:
    """A check whose outcome cannot be read proves nothing: it is shown as not run."""
    doc = Document(odd)
    assert doc.section("profile") == {}
    assert [c.id for c in doc.checks()] == ids
    assert terminal.render(doc, width=80, verbosity=0)[0] == line
    assert [c.get("name") for c in _junit(doc).iter("testcase") if c.find("skipped") is not None
            ] == [i for i in ids if i != "b"]


# --- one table of files ------------------------------------------------------------------------


def test_the_table_names_the_files_a_run_writes_in_order() -> None:
    assert list(reports.REPORTS) == ["junit.xml", "evidence.json", "evidence.html",
                                     "exchanges.har"]


def test_a_new_report_is_one_table_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A renderer is a function of the document returning text or bytes; the table drives
    writing, the check for links before a run and the removal of earlier reports."""
    table = {**reports.REPORTS, "metrics.bin": lambda d: d.name.encode() + b"\x00"}
    monkeypatch.setattr(reports, "REPORTS", table)
    written = reports.write(tmp_path, built())
    assert [p.name for p in written] == list(table)
    assert (tmp_path / "prod-cf" / "metrics.bin").read_bytes() == b"prod-cf\x00"
    reports.remove_previous(tmp_path, ["prod-cf"])
    assert list((tmp_path / "prod-cf").iterdir()) == []
    (tmp_path / "prod-cf" / "metrics.bin").symlink_to(tmp_path / "victim")
    with pytest.raises(ConfigError) as caught:
        reports.check_reports_dir(tmp_path, ["prod-cf"])
    assert str(caught.value) == (
        f"--reports-dir {tmp_path}: {tmp_path / 'prod-cf' / 'metrics.bin'} is a symbolic link; "
        "cpi-preflight does not write through links: remove it, or choose another --reports-dir")


def _named(doc: Document, name: str) -> Document:
    return Document({**doc.record, "profile": {**doc.record["profile"], "name": name}},
                    doc.details)


def test_a_runs_reports_are_written_in_profile_then_table_order(tmp_path: Path) -> None:
    docs = [_named(built(), name) for name in ("b-second", "a-first", "c-third")]
    written = reports.write_all(tmp_path, docs)
    assert [p.relative_to(tmp_path).as_posix() for p in written] == [
        f"{name}/{file}" for name in ("b-second", "a-first", "c-third")
        for file in reports.REPORTS]
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)


def test_a_failed_write_is_raised_after_the_others_end(tmp_path: Path) -> None:
    (tmp_path / "victim").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "victim")
    docs = [_named(built(), name) for name in ("before", "linked", "after")]
    with pytest.raises(OSError, match="linked"):
        reports.write_all(tmp_path, docs)
    assert sorted(p.name for p in (tmp_path / "after").iterdir()) == sorted(reports.REPORTS)
    assert list((tmp_path / "victim").iterdir()) == []


def test_junit_xml_declares_utf_8_and_is_not_pretty_printed() -> None:
    text = junit.render(built())
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>\n<testsuites ')
    assert text.endswith("</testsuites>\n")
    assert "\t<" not in text  # minidom's indentation
    assert "\n<testcase" not in text
    assert ET.fromstring(text.encode("utf-8")).tag == "testsuites"


# --- start-up: reporters stay out of it ---------------------------------------------------------


def _loaded_after(code: str) -> list[str]:
    script = (f"import sys; {code}; print(sorted(m for m in ('jinja2', 'markupsafe', "
              "'junit_xml') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=120, cwd=Path(__file__).parents[2])
    loaded: list[str] = json.loads(done.stdout.replace("'", '"'))
    return loaded


def test_pytest_start_up_imports_no_template_or_xml_library() -> None:
    """Importing the plugin (as pytest does at every start) loads neither Jinja2 nor
    junit_xml; they are imported when the first report is rendered."""
    assert _loaded_after("import cpi_preflight.plugin") == []
    rendered = ("from tests.unit.test_reporting import built; "
                "from cpi_preflight.reporting import html, junit; "
                "html.render(built()); junit.render(built())")
    assert _loaded_after(rendered) == ["jinja2", "junit_xml", "markupsafe"]

