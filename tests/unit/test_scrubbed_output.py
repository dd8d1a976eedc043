"""Log records are scrubbed before any handler sees them, even for a token learned later."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator

import pytest

from cpi_preflight import scrubbed_output, secret
from cpi_preflight.secret import Secret

TOKEN = "eyJ0eXAi.set-cookie-token.sig"


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What a root handler prints while scrubbing is installed (isolated secrets)."""
    monkeypatch.setattr(secret, "_live", set(secret._live))
    monkeypatch.setattr(secret, "_index", secret._index)
    monkeypatch.setattr(secret, "_stale", True)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    scrubbed_output.install()
    yield stream
    scrubbed_output.uninstall()
    root.removeHandler(handler)
    root.setLevel(level)


def test_a_known_secret_is_masked_in_message_and_arguments(shown: io.StringIO) -> None:
    Secret("pa'ss&<w>rd")
    logging.getLogger("httpcore.http11").debug("headers=%r", [(b"X-Echo", b"pa'ss&<w>rd")])
    assert shown.getvalue() == "httpcore.http11 headers=[(b'X-Echo', b\"***\")]\n"


def test_a_token_learned_after_it_was_logged_is_masked_when_held(shown: io.StringIO) -> None:
    with scrubbed_output.held():
        logging.getLogger("httpcore").debug("Set-Cookie: t=%s; Secure", TOKEN)
        assert shown.getvalue() == ""  # held back while the token is unknown
        Secret(TOKEN)  # the token answer is parsed after its headers were logged
    assert shown.getvalue() == "httpcore Set-Cookie: t=***; Secure\n"


def test_exception_text_is_scrubbed(shown: io.StringIO) -> None:
    Secret("s3cr3t-in-an-error")
    try:
        raise ValueError("refused s3cr3t-in-an-error")
    except ValueError:
        logging.getLogger("x").exception("failed")
    assert "s3cr3t-in-an-error" not in shown.getvalue()
    assert "ValueError: refused ***" in shown.getvalue()


def test_uninstall_restores_the_factory() -> None:
    before = logging.getLogRecordFactory()
    scrubbed_output.install()
    scrubbed_output.install()
    assert logging.getLogRecordFactory() is not before
    scrubbed_output.uninstall()
    assert logging.getLogRecordFactory() is before


# --- pinned by mutation testing (mutation/run scrubbed_output) ---------------------------


def test_a_bad_format_string_keeps_its_raw_parts_scrubbed(shown: io.StringIO) -> None:
    Secret("s3cr3t&<'\"$")
    logging.getLogger("x").warning("refused %s %s", "s3cr3t&<'\"$")
    assert shown.getvalue() == "x refused %s %s ('***',)\n"


def test_a_record_s_texts_are_scrubbed_once_formatted() -> None:
    Secret("s3cr3t-in-a-record")
    try:
        raise ValueError("refused s3cr3t-in-a-record")
    except ValueError as exc:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "use %s",
                                   ("s3cr3t-in-a-record",), (ValueError, exc, exc.__traceback__),
                                   sinfo="Stack (most recent call last):\n  s3cr3t-in-a-record")
    assert scrubbed_output.scrub_record(record) is record
    assert (record.msg, record.args, record.exc_info) == ("use ***", None, None)
    assert record.exc_text is not None
    assert record.exc_text.endswith("ValueError: refused ***")
    assert record.stack_info == "Stack (most recent call last):\n  ***"


def test_an_exception_text_formatted_before_is_scrubbed_too() -> None:
    Secret("s3cr3t-formatted")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "m", None, None)
    record.exc_text = "Traceback: s3cr3t-formatted"
    scrubbed_output.scrub_record(record)
    assert (record.exc_text, record.stack_info) == ("Traceback: ***", None)


def test_held_records_reach_only_the_handlers_whose_level_they_meet(
        shown: io.StringIO) -> None:
    quiet = io.StringIO()
    handler = logging.StreamHandler(quiet)
    handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with scrubbed_output.held():
            logging.getLogger("a").debug("detail")
            logging.getLogger("b").warning("warned")
            assert [type(h).__name__ for h in root.handlers] == ["_Holding"]
        logging.getLogger("c").info("after")
    finally:
        root.removeHandler(handler)
    assert shown.getvalue() == "a detail\nb warned\nc after\n"
    assert quiet.getvalue() == "warned\n"


def test_a_warning_with_a_secret_is_masked_and_one_without_is_kept() -> None:
    Secret("s3cr3t-warned")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("saw s3cr3t-warned", DeprecationWarning, stacklevel=1)
        warnings.warn("nothing secret", DeprecationWarning, stacklevel=1)
    masked, kept = caught
    masked.line = "warn('s3cr3t-warned')"
    original = kept.message
    scrubbed_output.scrub_warning(masked)
    scrubbed_output.scrub_warning(kept)
    assert (type(masked.message), str(masked.message)) == (UserWarning, "saw ***")
    assert masked.line == "warn('***')"
    assert kept.message is original
    assert kept.line is None


def test_an_exception_representation_renders_scrubbed() -> None:
    Secret("s3cr3t-internal")

    class Repr:
        def __str__(self) -> str:
            return "INTERNALERROR> s3cr3t-internal"

    class Writer:
        def __init__(self) -> None:
            self.text = ""

        def write(self, text: str) -> None:
            self.text += text

    excrepr, writer = Repr(), Writer()
    scrubbed_output.scrub_exception_repr(excrepr)
    excrepr.toterminal(writer)  # type: ignore[attr-defined]
    assert writer.text == "INTERNALERROR> ***"


def test_uninstall_without_install_changes_nothing() -> None:
    before = logging.getLogRecordFactory()
    scrubbed_output.uninstall()
    assert logging.getLogRecordFactory() is before


def test_the_installed_factory_takes_keyword_arguments_as_logging_s_own(
        shown: io.StringIO) -> None:
    Secret("s3cr3t-by-keyword")
    record = logging.getLogRecordFactory()(
        name="x", level=logging.INFO, pathname=__file__, lineno=1, msg="saw %s",
        args=("s3cr3t-by-keyword",), exc_info=None)
    assert (record.msg, record.args) == ("saw ***", None)
