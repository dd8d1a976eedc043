"""One cleaning of untrusted text: every format escaper gives the answer `text.one_line` gives.

Before, four modules each decided what a safe line is, and for the input below they gave four
answers (escape payload `[2K` left behind, `?` for controls, the zero-width joiner or the bidi
override kept). The stricter policy (server_text's) now serves them all.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from cpi_preflight import docs, markdown, postman
from cpi_preflight.commands import summary
from cpi_preflight.findings import SKIPPED, Finding
from cpi_preflight.reporting import html, junit, metrics, terminal
from cpi_preflight.server_text import quote
from cpi_preflight.text import one_line
from tests.unit.test_evidence import (
    junit_xml,
    render_html,
    sample_evidence,
    sample_plan,
    sample_verdicts,
)
from tests.unit.test_har import entries, one_endpoint

HOSTILE = "\x1b[2Kok \u202eevil\u200d x\x07"
ANSWER = "ok evil x"


def _junit_skip_message(text: str) -> str:
    the_plan = sample_plan()
    verdicts = sample_verdicts(the_plan)
    first = next(iter(verdicts.values()))
    verdicts[first.check.id] = replace(first, outcome=SKIPPED, summary=text, findings=())
    root = ET.fromstring(junit_xml(the_plan, verdicts.values()).encode("utf-8"))
    skipped = root.find(f".//testcase[@name='{first.check.id}']/skipped")
    assert skipped is not None
    return skipped.get("message", "")


def _html_description(text: str) -> str:
    doc = sample_evidence()
    doc["profile"]["description"] = text
    page = render_html(doc)
    start = page.index('<p class="description">') + len('<p class="description">')
    return page[start:page.index("</p>", start)]


def _summary_row(text: str, tmp_path: Path) -> str:
    doc = {"profile": {"name": "p", "environment": "cf"}, "summary": {"result": "failed"},
           "findings": [{"check": "c", "code": "C", "severity": "failure", "message": text,
                         "fix": text}]}
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "evidence.json").write_text(json.dumps(doc), encoding="utf-8")
    return summary.markdown_page(tmp_path).splitlines()[-1]


def _har_body(text: str) -> str:
    return str(entries(one_endpoint(text))[-1]["response"]["content"]["text"])


ESCAPERS: dict[str, Callable[[str], str]] = {
    "text.one_line": one_line,
    "server_text.quote": quote,
    "terminal.printable": terminal.printable,
    "terminal.wrapped": lambda t: "\n".join(terminal.wrapped(t, 80)),
    "terminal.fitted": lambda t: terminal.fitted(Finding("C", "failure", "s", t, "f"),
                                                 80).splitlines()[0].removeprefix("C: "),
    "XML junit.xml_safe": junit.xml_safe,
    "XML junit.xml": _junit_skip_message,
    "HTML evidence prose": lambda t: str(html.prose(t)),
    "HTML evidence.html": _html_description,
    "Markdown markdown.cell": markdown.cell,
    "Markdown our own text": lambda t: markdown.cell(t, markup=True),
    "Markdown docs table": lambda t: docs.markdown_table(["A"], [[t]]).splitlines()[-1][2:-2],
    "postman.shown": postman.shown,
    "OpenMetrics metrics.label_value": metrics.label_value,
    "HAR exchanges.har": _har_body,
}


@pytest.mark.parametrize("name", ESCAPERS)
def test_every_escaper_gives_the_one_answer(name: str) -> None:
    assert ESCAPERS[name](HOSTILE) == ANSWER


def test_the_summary_page_gives_the_one_answer(tmp_path: Path) -> None:
    assert _summary_row(HOSTILE, tmp_path) == f"| c | C | {ANSWER} | {ANSWER} |"
