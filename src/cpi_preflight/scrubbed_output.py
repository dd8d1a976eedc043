"""Output pytest produces from outside our reporters passes the secret scrubber: log records,
warnings and INTERNALERROR tracebacks.

`install()` replaces the log record factory: every record created while a run is active has its
message (arguments merged in), exception text and stack text scrubbed and cleaned line by line.
A secret only becomes known when it is read; an access token only once its response has been
parsed, after httpcore has already logged that response's headers. So during the network phase
`held()` keeps every record back and passes it on, scrubbed again, when the phase ends (with
every token known).
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from cpi_preflight.secret import scrub
from cpi_preflight.text import log_lines

_lock = threading.Lock()
_original: Callable[..., logging.LogRecord] | None = None


def scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    """Scrub `record` in place: its message with the arguments merged in, and the texts of
    its exception and stack (formatted now, so formatters reuse the scrubbed text); each of
    their lines made visible and unable to form a CI workflow command (`text.log_lines`: a
    tenant's header values reach httpcore's debug log)."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it later, keep the raw parts
        message = f"{record.msg} {record.args!r}"
    record.msg, record.args = log_lines(scrub(message)), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = log_lines(scrub(record.exc_text))
        record.exc_info = None  # the traceback's frames are not needed any more
    if record.stack_info:
        record.stack_info = log_lines(scrub(record.stack_info))
    return record


def install() -> None:
    """Scrub every log record from now on (idempotent)."""
    global _original
    with _lock:
        if _original is not None:
            return
        _original = logging.getLogRecordFactory()
        make = _original

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return scrub_record(make(*args, **kwargs))

        logging.setLogRecordFactory(factory)


def uninstall() -> None:
    """Restore the log record factory `install` replaced."""
    global _original
    with _lock:
        if _original is not None:
            logging.setLogRecordFactory(_original)
            _original = None


class _Holding(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def held() -> Iterator[None]:
    """Hold back what is logged to the root logger's handlers inside the block; at its end,
    scrub each record again and hand it to the handlers that were there."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    holding = _Holding()
    for handler in handlers:
        root.removeHandler(handler)
    root.addHandler(holding)
    try:
        yield
    finally:
        root.removeHandler(holding)
        for handler in handlers:
            root.addHandler(handler)
        for record in holding.records:
            scrub_record(record)
            for handler in handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)


def scrub_warning(warning_message: warnings.WarningMessage) -> None:
    """Scrub a recorded warning's text in place (its category is kept apart)."""
    text = str(warning_message.message)
    if scrub(text) != text:
        warning_message.message = UserWarning(scrub(text))
    if warning_message.line:
        warning_message.line = scrub(warning_message.line)


def scrub_exception_repr(excrepr: object) -> None:
    """Make pytest's exception representation (an INTERNALERROR's traceback, with frame locals
    under -l) render scrubbed text to every later reader."""
    text = scrub(str(excrepr))

    def scrubbed(writer: Any) -> None:  # a _pytest TerminalWriter (not public API)
        writer.write(text)

    setattr(excrepr, "toterminal", scrubbed)  # noqa: B010  (an instance attribute on purpose)
