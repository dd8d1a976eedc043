"""Issue 17.11b: text from outside in the CI job summary never becomes a link or a mention.

GitHub renders the step summary with cmark-gfm, whose autolink extension links `www.`,
`http(s)://`, `ftp://` and e-mail addresses; GitHub links `@name` as a mention, except inside
code, pre and links (html-pipeline's MentionFilter, IGNORE_PARENTS). The page is checked here
with cmarkgfm, the bindings to GitHub's cmark-gfm.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import cmarkgfm
import pytest

from cpi_preflight.commands import summary
from cpi_preflight.markdown import cell, code_span

LINKS = ("the API said: see https://evil.example/approve?x=1|2 or www.evil.example, mail "
         "ops@evil.example or mailto:ops@evil.example, ping @admin (ftp://evil.example)")


@pytest.mark.parametrize(("text", "shown"), [
    ("see https://evil.example now", "see `https://evil.example` now"),
    ("see www.evil.example.", "see `www.evil.example.`"),
    ("WWW.Evil.example", "`WWW.Evil.example`"),
    ("ping @admin", "ping `@admin`"),
    ("ops@evil.example", "`ops@evil.example`"),
    ("mailto:x", "`mailto:x`"),
    ("a|b://c", "`a\\|b://c`"),
    ("`x`@y", "`` `x`@y ``"),
    ("evil.example *b* <i>", "evil.example \\*b\\* &lt;i&gt;"),
])
def test_a_word_github_would_link_is_a_code_span(text: str, shown: str) -> None:
    assert cell(text) == shown


def test_a_code_span_fences_the_longest_run_of_backticks() -> None:
    assert code_span("a``b") == "```a``b```"
    assert code_span("`") == "`` ` ``"


def _page(tmp_path: Path, message: str) -> str:
    doc = {"profile": {"name": "p", "environment": "cf"}, "summary": {"result": "failed"},
           "findings": [{"check": "c", "code": "C", "severity": "failure", "message": message,
                         "fix": message}]}  # the Fix column is text from the file too
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "evidence.json").write_text(json.dumps(doc), encoding="utf-8")
    return summary.markdown_page(tmp_path)


def test_the_summary_as_github_renders_it_has_no_link(tmp_path: Path) -> None:
    page = _page(tmp_path, LINKS)
    said = ("the API said: see `https://evil.example/approve?x=1\\|2` or `www.evil.example,` "
            "mail `ops@evil.example` or `mailto:ops@evil.example,` ping `@admin` "
            "`(ftp://evil.example)`")
    assert page.splitlines()[-1] == f"| c | C | {said} | {said} |"
    rendered = cmarkgfm.github_flavored_markdown_to_html(page)
    assert "<a " not in rendered
    cell_html = re.search(r"<td>the API said.*?</td>", rendered)
    assert cell_html is not None
    outside_code = re.sub(r"<code>.*?</code>", "", cell_html.group(0))
    assert "@" not in outside_code
    assert "<code>https://evil.example/approve?x=1|2</code>" in rendered


def test_the_same_text_unescaped_would_be_linked() -> None:
    """The check above can fail: GitHub's renderer links this text when it is not escaped."""
    escaped = LINKS.replace("|", "\\|")
    rendered = cmarkgfm.github_flavored_markdown_to_html(f"| a |\n|---|\n| {escaped} |")
    assert rendered.count("<a ") == 5  # @admin is GitHub's own (mentions), not cmark's
