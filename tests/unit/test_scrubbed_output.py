"""Log records are scrubbed before any handler sees them, even for a token learned later."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from cpi_preflight import scrubbed_output, secret
from cpi_preflight.secret import Secret

TOKEN = "eyJ0eXAi.set-cookie-token.sig"


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What a root handler prints while scrubbing is installed (isolated secrets)."""
    monkeypatch.setattr(secret, "_live", set(secret._live))
    monkeypatch.setattr(secret, "_ordered", secret._ordered)
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
