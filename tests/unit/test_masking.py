"""Masking happens on values, before the XML serializer and the HTML template see them.

The secrets here are registered in an isolated scrubber (`isolated_secrets`), because words
such as "failed" would otherwise be masked in every later test of this process.
"""

from __future__ import annotations

import base64
import html
import json
import pickle
import textwrap
import xml.etree.ElementTree as ET
import xml.sax.saxutils
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpi_preflight import files, secret
from cpi_preflight.findings import FAILED
from cpi_preflight.reporting import document
from cpi_preflight.secret import MASK, Secret, scrub
from tests.unit.test_evidence import (
    broken_markup,
    build,
    junit_xml,
    page_text,
    render_html,
    sample_plan,
    sample_verdicts,
)

HOSTILE = "pa'ss&<w>\"rd$1"
MARKUP_WORDS = ("testcase", "failed", "profile", "testsuite", "property", "passed", "result")


@contextmanager
def isolated() -> Iterator[None]:
    """Secrets registered inside are forgotten afterwards."""
    saved = (secret._live, secret._index, secret._stale)
    secret._live, secret._stale = set(saved[0]), True
    try:
        yield
    finally:
        secret._live, secret._index, secret._stale = saved


@pytest.fixture
def isolated_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secret, "_live", set(secret._live))
    monkeypatch.setattr(secret, "_index", secret._index)
    monkeypatch.setattr(secret, "_stale", True)
    return


def _leaky_verdicts(value: str) -> dict:
    """The sample verdicts, with `value` echoed into a failure's message, fix and summary."""
    the_plan = sample_plan()
    verdicts = sample_verdicts(the_plan)
    role = verdicts["role[WorkspacePackagesRead]"]
    finding = replace(role.findings[0], message=f"server said <{value}> back",
                      fix=f"not {value}", subject="WorkspacePackagesRead")
    verdicts[role.check.id] = replace(role, summary=f"echo: {value}", findings=(finding,))
    return verdicts


def _all_xml_text(root: ET.Element) -> str:
    parts = []
    for element in root.iter():
        parts.extend([element.tag, element.text or "", element.tail or ""])
        parts.extend(f"{k}={v}" for k, v in element.attrib.items())
    return "\n".join(parts)


def test_junit_masks_a_secret_with_quote_and_markup_characters(isolated_secrets: None) -> None:
    Secret(HOSTILE)
    the_plan = sample_plan()
    text = junit_xml(the_plan, _leaky_verdicts(HOSTILE).values())
    root = ET.fromstring(text.encode("utf-8"))
    assert HOSTILE not in _all_xml_text(root)  # in no escaped form either: parsed back here
    assert f"echo: {MASK}" in _all_xml_text(root)


def test_evidence_masks_a_secret_with_quote_and_markup_characters(
        isolated_secrets: None) -> None:
    Secret(HOSTILE)
    doc = build(sample_plan(), _leaky_verdicts(HOSTILE))
    page = render_html(doc)
    assert HOSTILE not in page_text(page)
    assert HOSTILE not in json.dumps(doc, ensure_ascii=False)
    assert f"server said <{MASK}> back" in page_text(page)
    assert broken_markup(page) == []


@pytest.mark.parametrize("word", MARKUP_WORDS)
def test_a_secret_equal_to_a_markup_word_breaks_no_report(word: str,
                                                         isolated_secrets: None) -> None:
    Secret(word)
    the_plan = sample_plan()
    verdicts = _leaky_verdicts(word)
    root = ET.fromstring(junit_xml(the_plan, verdicts.values()).encode("utf-8"))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    # a check that passed with a warning is named with its code (JUnit has no warning state)
    assert list(cases) == [f"{i} (WARNING EXCESS_ROLES)" if i == "least-privilege" else i
                           for i in verdicts]
    failed = cases["role[WorkspacePackagesRead]"].find("failure")
    assert failed is not None
    assert failed.get("type") == "ROLE_MISSING"
    assert root.find("testsuite").get("name") == "prod-cf"  # type: ignore[union-attr]
    texts = [e.text or "" for e in root.iter()] + [
        e.get("message", "") for e in root.iter() if e.tag in ("failure", "skipped")]
    assert f"echo: {MASK}" in texts
    assert not [t for t in texts if word in t]

    doc = build(the_plan, verdicts)
    assert doc["profile"]["name"] == "prod-cf"
    assert doc["summary"]["result"] == FAILED
    assert doc["checks"][2]["outcome"] == FAILED
    assert document.verify_sha256(json.loads(json.dumps(doc)))
    page = render_html(doc)
    assert 'class="badge failed" id="result">FAILED<' in page
    assert broken_markup(page) == []
    assert f"echo: {MASK}" in page_text(page)


def test_masking_cannot_cut_a_tag_open(isolated_secrets: None) -> None:
    """A secret of markup characters: the old page-wide scrub removed a '>' and left a
    server-controlled attribute inside a tag."""
    Secret('"fix"><strong>Fix:</strong>')  # equal to markup the page writes around a fix
    verdicts = _leaky_verdicts("onfocus=alert(1) autofocus")
    page = render_html(build(sample_plan(), verdicts))
    assert broken_markup(page) == []
    assert "not onfocus=alert(1) autofocus" in page_text(page)


@pytest.mark.parametrize("value", ["abc", "pw", "k"])
def test_short_secrets_are_masked_too(value: str, isolated_secrets: None) -> None:
    Secret(value)
    assert scrub(f"the server echoed [{value}]") == f"the server echoed [{MASK}]"


LONG_TOKEN = "eyJhbGciOiJSUzI1NiJ9." + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" * 6 + ".c2ln"


def test_a_token_wrapped_at_64_columns_is_masked(isolated_secrets: None) -> None:
    Secret(LONG_TOKEN)
    wrapped = "\n".join(textwrap.wrap(LONG_TOKEN, 64))
    for text in (wrapped, wrapped.replace("\n", "\r\n"), f"body: {wrapped} end"):
        shown = scrub(text)
        assert LONG_TOKEN[:40] not in shown.replace("\n", "").replace("\r", "")
        assert MASK in shown


@pytest.mark.parametrize("prefix", [b"", b"x", b"xy", b"Bearer: ", b"user:"])
def test_a_base64_encoded_secret_is_masked_at_any_offset(prefix: bytes,
                                                        isolated_secrets: None) -> None:
    Secret(HOSTILE)
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(prefix + HOSTILE.encode() + b"tail").decode()
        shown = scrub(f"echo {text}")
        core = encode(HOSTILE.encode()[2:11]).decode()
        assert core not in shown
        assert MASK in shown
        wrapped = "\n".join(textwrap.wrap(text, 8))
        assert MASK in scrub(wrapped)


def test_xml_escaped_and_repr_forms_are_masked(isolated_secrets: None) -> None:
    Secret(HOSTILE)
    for form in ("pa&apos;ss&amp;&lt;w&gt;&quot;rd$1", "pa&#39;ss&amp;&lt;w&gt;&#34;rd$1",
                 repr(HOSTILE)[1:-1], repr(HOSTILE.encode())[2:-1],
                 json.dumps(HOSTILE)[1:-1]):
        assert scrub(f"<{form}>") == f"<{MASK}>", form


def test_a_lone_surrogate_does_not_crash_the_scrubber(isolated_secrets: None) -> None:
    Secret("bad\ud800secret")
    assert scrub("x bad\ud800secret y") == f"x {MASK} y"


def test_evidence_records_strict_simulated_and_no_absolute_paths(tmp_path: Path) -> None:
    the_plan = sample_plan()
    doc = build(the_plan, strict=True, baseline=str(tmp_path / "old" / "evidence.json"),
                trust=document.trust_text(replace(the_plan.profile, ca_bundle=tmp_path /
                                                  "corp-ca.pem"), {}))
    assert doc["run"]["strict"] is True
    assert doc["run"]["trust"] == "system CAs + profile CA corp-ca.pem"
    assert doc["run"]["baseline"] == "old/evidence.json"
    assert str(tmp_path) not in json.dumps(doc)
    page = render_html(doc)
    assert "Strict mode</dt><dd>yes (--strict)" in page
    assert 'id="simulated"' not in page
    sandboxed = replace(the_plan, profile=replace(the_plan.profile, sandbox={}))
    simulated = build(sandboxed)
    assert simulated["tenant"]["simulated"] is True
    assert ('<p class="simulated" id="simulated">simulated tenant</p>'
            in render_html(simulated))


def test_trust_text_names_files_without_their_folders(tmp_path: Path) -> None:
    prof = replace(sample_plan().profile, ca_bundle=tmp_path / "ca.pem",
                   certificate=tmp_path / "c.crt", key=tmp_path / "c.key")
    text = document.trust_text(prof, {"SSL_CERT_FILE": str(tmp_path / "corp-bundle.pem")})
    assert text == "SSL_CERT_FILE corp-bundle.pem + profile CA ca.pem + client certificate"


def test_profile_file_is_shown_relative_to_the_project(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert files.shown_path(tmp_path / "profiles" / "p.yaml") == "profiles/p.yaml"
    assert files.shown_path(Path("/elsewhere/deep/profiles/p.yaml")) == "profiles/p.yaml"


FORMS = {
    "raw": lambda v: v,
    "url": lambda v: quote(v, safe=""),
    "form": lambda v: quote_plus(v),
    "json": lambda v: json.dumps(v)[1:-1],
    "html": lambda v: html.escape(v),
    "xml": lambda v: xml.sax.saxutils.escape(v, {"'": "&apos;", '"': "&quot;"}),
    "repr": lambda v: repr(v)[1:-1],
    "base64": lambda v: base64.b64encode(v.encode()).decode(),
    "base64url": lambda v: base64.urlsafe_b64encode(v.encode()).decode(),
}
SECRETS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="*\r\n"),
                  min_size=1, max_size=40).filter(str.strip)


@settings(max_examples=300, deadline=None)
@given(value=SECRETS, form=st.sampled_from(sorted(FORMS)),
       before=st.text(max_size=20), after=st.text(max_size=20),
       width=st.integers(min_value=0, max_value=70))
def test_every_stated_form_is_masked_anywhere(value: str, form: str, before: str, after: str,
                                              width: int) -> None:
    shown = FORMS[form](value)
    if width:  # broken across lines, as a wrapped header or PEM body is
        shown = "\n".join(shown[i:i + width] for i in range(0, len(shown), width))
    with isolated():
        Secret(value)
        assert FORMS[form](value) not in scrub(before + shown + after).replace("\n", "")


def test_a_base64_encoded_secret_inside_longer_base64_at_every_offset() -> None:
    value = "k3y&'\"<>$"
    for offset in range(3):
        blob = base64.b64encode(b"x" * offset + value.encode() + b"tail").decode()
        with isolated():
            Secret(value)
            masked = scrub(blob)
        core = base64.b64encode(value.encode()[2:8]).decode()
        assert core not in masked
        assert MASK in masked


ECHOED = "S3cr&t<>\"'$-hostile"


@pytest.mark.parametrize("echo", [
    "S3cr%26t%3c%3e%22%27%24-hostile",  # URL-encoded, lower-case hex
    "".join(f"%{b:02X}" for b in ECHOED.encode()),  # every byte percent-encoded
    "".join(f"%{b:02x}" for b in ECHOED.encode()),
    "S3cr&#38;t&#60;&#62;&#34;&#39;&#36;-hostile",  # numeric references, decimal
    "S3cr&#x26;t&#x3c;&#x3e;&#x22;&#x27;$-hostile",  # numeric references, hex
    "S3cr&#38;t&#60;&#62;&#34;&#39;$-hostile",
    "S3cr\\u0026t\\u003c\\u003e\\\"'$-hostile",  # JSON the HTML-safe way (Go's encoder)
    "S3cr\\u0026t\\u003C\\u003E\\\"\\u0027$-hostile",
])
def test_echoed_encodings_of_a_secret_are_masked(echo: str) -> None:
    Secret(ECHOED)
    assert secret.scrub(f"the server said: {echo} (end)") == "the server said: *** (end)"


def test_forms_as_long_as_the_text_or_shorter_are_all_searched() -> None:
    long_token = "eyJ" + "a1B2" * 250  # longer than the short texts below
    Secret(long_token)
    Secret("short-S3cret")
    assert scrub("short-S3cret") == MASK  # a text exactly as long as a form
    assert scrub("x short-S3cret y") == "x *** y"
    assert scrub(long_token) == MASK
    assert scrub(f"Bearer {long_token}.") == "Bearer ***."


# --- pinned by mutation testing (mutation/run secret) ------------------------------------


def test_a_secret_hashes_by_value_and_is_true_when_not_empty(isolated_secrets: None) -> None:
    assert hash(Secret(HOSTILE)) == hash(Secret(HOSTILE))
    assert hash(Secret(HOSTILE)) != hash(Secret(HOSTILE + "2"))
    assert (bool(Secret(HOSTILE)), bool(Secret(""))) == (True, False)


def test_a_secret_refuses_pickling_with_the_reason(isolated_secrets: None) -> None:
    with pytest.raises(TypeError) as refused:
        pickle.dumps(Secret(HOSTILE))
    assert str(refused.value) == "a Secret cannot be pickled"


def test_a_basic_header_with_a_lone_surrogate_is_registered(isolated_secrets: None) -> None:
    secret.register_basic_credentials("id\ud800", Secret("s&<'\"$"))
    header = base64.b64encode("id\ud800:s&<'\"$".encode("utf-8", "surrogatepass")).decode()
    assert scrub(f"Authorization: Basic {header}") == f"Authorization: Basic {MASK}"


def test_a_value_broken_across_lines_is_masked_up_to_its_last_character(
        isolated_secrets: None) -> None:
    Secret(HOSTILE)
    assert scrub(f"< {HOSTILE[:4]}\n{HOSTILE[4:]} >") == f"< {MASK} >"


def test_every_occurrence_in_a_text_with_line_breaks_is_masked(isolated_secrets: None) -> None:
    Secret(HOSTILE)
    assert scrub(f"1 {HOSTILE}\n2 {HOSTILE} 3 {HOSTILE} 4") == f"1 {MASK}\n2 {MASK} 3 {MASK} 4"


def test_a_value_inside_another_masks_the_later_spans_too(isolated_secrets: None) -> None:
    Secret("outer-secret-value")
    Secret("secret")
    assert scrub("outer-secret-val\nue, then secret") == f"{MASK}, then {MASK}"


@pytest.mark.parametrize(("value", "form"), [
    ('q"u<x', "q&#x22;u&lt;x"),  # a double quote alone still gets every quote form
    ("a/b c", "a%2Fb%20c"),  # nothing kept unencoded
    ("user:pa ss@host", "user:pa%20ss@host"),  # a URL's user-info marks kept
])
def test_mixed_escaping_forms_are_masked(value: str, form: str, isolated_secrets: None) -> None:
    Secret(value)
    assert scrub(f"[{form}]") == f"[{MASK}]"


@pytest.mark.parametrize(("value", "form"), [
    ("a<b", "a&#x3C;b"),  # upper-case hexadecimal references
    ('é"x', 'é\\"x'),  # JSON without ensure_ascii
    ('é"x', '\\u00e9\\"x'),  # JSON with it
    ("X'<", "X'\\u003c"),  # Go's encoder: <>& only
    ("X'<", "X\\u0027\\u003c"),  # encoders that also escape '
    ("é\x01", "é\\x01"),  # Python's repr of the text
    ("é1", "\\xc3\\xa91"),  # and of its bytes
])
def test_each_encoded_form_is_masked_whole(value: str, form: str,
                                           isolated_secrets: None) -> None:
    Secret(value)
    assert scrub(f'{{"v": "{form}"}}') == f'{{"v": "{MASK}"}}'


def test_an_empty_value_has_no_forms() -> None:
    assert secret.forms("") == set()


# --- the index by first characters (scrub_all looks up only values whose start occurs) ---------


@pytest.mark.parametrize("offset", [-9, -3, -1, 0, 1])
def test_a_secret_across_the_edge_of_a_piece_of_a_long_text_is_masked(
        offset: int, isolated_secrets: None) -> None:
    value = "S3cr&t<Value>'$x"
    secret.register(value)
    before = "a" * (secret._CHUNK + offset)
    assert secret.scrub_all([before + value + "b"]) == [before + MASK + "b"]


def test_a_secret_shorter_than_the_index_key_is_masked_next_to_long_ones(
        isolated_secrets: None) -> None:
    secret._live.clear()  # the session's other values may be shorter
    secret.register("q&<'")
    secret.register("a-much-longer-client-secret-value")
    assert secret.scrub_all(["x q&<' y", "a-much-longer-client-secret-value"]) == [
        f"x {MASK} y", MASK]
    assert [(t.gram, t.stride) for t in secret._snapshot().tiers] == [(8, 8), (4, 1)]


def test_values_sharing_a_start_are_masked_longest_first(isolated_secrets: None) -> None:
    secret.register("abcdefgh")
    secret.register("abcdefgh-and-more")
    assert secret.scrub_all(["[abcdefgh-and-more] [abcdefgh]"]) == [f"[{MASK}] [{MASK}]"]


def test_a_value_none_of_whose_keys_occurs_is_not_searched(isolated_secrets: None) -> None:
    secret._live.clear()
    secret.register("zzzz-secret-value")
    index = secret._snapshot()
    (tier,) = index.tiers
    # its keys are its 8 characters from offsets 0 to 7: none is whole in these pieces
    assert secret._places("a text with zzzz-se and cret-va, in pieces", tier) == set()
    assert secret._places("see zzzz-secret-value", tier) == {
        index.values.index("zzzz-secret-value")}


def test_the_masking_walk_masks_texts_from_outside_in_place_and_keeps_vocabulary(
        isolated_secrets: None) -> None:
    secret.register("s3cr&t<'$")
    value = "s3cr&t<'$"
    doc = {"record": {"client": {"id": f"id {value}"}, "name": value,
                      "findings": [{"code": value, "message": f"a {value} b"},
                                   {"message": ["x\nline", {"detail": value}, 7, None,
                                                f"b {value}"]}]},
           "details": {"notes": [[value], {"code": "ok"}]}}
    assert document._masked(doc) == {
        "record": {"client": {"id": f"id {MASK}"}, "name": value,
                   "findings": [{"code": value, "message": f"a {MASK} b"},
                                {"message": ["x line", {"detail": MASK}, 7, None,
                                             f"b {MASK}"]}]},
        "details": {"notes": [[MASK], {"code": "ok"}]}}


def test_a_value_at_the_very_start_or_end_of_a_text_is_found() -> None:
    tier = secret._Tier(3, 1, {"abc": (0,), "xyz": (1,)})
    assert secret._places("abc--", tier) == {0}
    assert secret._places("--xyz", tier) == {1}
    assert secret._places("ab", tier) == set()


def test_forms_of_15_characters_or_more_are_read_at_every_8th_place_by_8_keys_each(
        isolated_secrets: None) -> None:
    secret._live.clear()
    secret.register("0123456789abcdef")  # 16 characters: its keys begin at offsets 0 to 7
    index = secret._snapshot()
    (tier,) = index.tiers
    assert (tier.gram, tier.stride) == (8, 8)
    place = index.values.index("0123456789abcdef")
    assert {key for key, places in tier.by_key.items() if place in places} == {
        "01234567", "12345678", "23456789", "3456789a", "456789ab", "56789abc", "6789abcd",
        "789abcde"}
    # read at places 0 and 8 only: "-0123456" and "789abcde"
    assert secret._places("-0123456789abcde", tier) == {place}
    assert secret._places("-0123456789abcd-", tier) == set()


def test_registering_a_value_grows_the_index_it_does_not_build_it_anew(
        isolated_secrets: None) -> None:
    secret.register("a-first-long-client-secret")
    index = secret._snapshot()
    places = len(index.values)
    secret.register("a-second-long-client-secret")
    assert secret._snapshot() is index
    assert len(index.values) > places
    assert secret.scrub_all(["x a-second-long-client-secret y"]) == [f"x {MASK} y"]


def test_a_shorter_short_value_rebuilds_the_short_tier_to_read_closer() -> None:
    index = secret._Index(["a-sixteen-chars!", "abcdefghij"])  # 10 characters: stride 3
    assert [(t.gram, t.stride) for t in index.tiers] == [(8, 8), (8, 3)]
    index.add("abcdefghijk")  # fits the short tier as it is
    assert [(t.gram, t.stride) for t in index.tiers] == [(8, 8), (8, 3)]
    index.add("xyz")
    long, short = index.tiers
    assert (short.gram, short.stride) == (3, 1)
    assert secret._places("1 abcdefghij 2 xyz 3", short) == {1, 2, 3}
    assert secret._places("abc", short) == {1, 2}
    assert secret._places("a-sixteen-chars!", long) == {0}


def test_a_tier_takes_values_from_gram_plus_stride_minus_one_characters() -> None:
    tier = secret._Tier(8, 8, {})
    assert tier.fits("x" * 15)
    assert not tier.fits("x" * 14)
    assert secret._Tier(3, 1, {}).fits("abc")


def test_every_registration_changes_what_scrub_remembers(isolated_secrets: None) -> None:
    values = ["first-long-secret-value", "second-long-secret-value", "third-long-secret-value"]
    text = " ".join(values)
    for count, value in enumerate(values, start=1):
        secret.register(value)
        assert secret.scrub(text) == " ".join([MASK] * count + values[count:])


@pytest.mark.parametrize("offset", range(17))
def test_a_long_secret_is_masked_at_any_offset_in_short_and_long_texts(
        offset: int, isolated_secrets: None) -> None:
    value = "S3cr&t<Value>'$x-long"
    secret.register(value)
    secret.register("q&<'")  # a short one beside it: two tiers
    for length in (0, 3, secret._CHUNK - 5):
        before = "a" * (length + offset)
        assert secret.scrub_all([before + value + "b"]) == [before + MASK + "b"]


def test_a_text_scrubbed_before_its_secret_was_registered_is_masked_after(
        isolated_secrets: None) -> None:
    text = "the answer quoted late-registered-Secret&1 back"
    secret.register("an-earlier-secret-value")
    assert scrub(text) == text  # remembered for the secrets known now
    secret.register("late-registered-Secret&1")
    assert scrub(text) == f"the answer quoted {MASK} back"


@pytest.mark.parametrize("shown", ["pa&apos;ss-Word$1", "pa&#39;ss-Word$1", "pa&#x27;ss-Word$1"])
def test_a_secret_with_an_apostrophe_alone_is_masked_in_every_markup_form(
        shown: str, isolated_secrets: None) -> None:
    secret.register("pa'ss-Word$1")  # an apostrophe, no double quote
    assert scrub(f"<v>{shown}</v>") == f"<v>{MASK}</v>"
