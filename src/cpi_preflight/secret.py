"""Secrets are wrapped the moment they are read, and scrubbed from anything written.

`Secret` never shows its value in `repr`, `str` or formatting. Every `Secret` created in this
process registers its value (and the encodings it travels in, such as a Basic header) with the
scrubber, so `scrub()` can remove them from reports and captured output as a last line of defence.
"""

from __future__ import annotations

import base64
import html
import json
import threading
from urllib.parse import quote, quote_plus

MASK = "***"
_MIN_SCRUB_LENGTH = 6

_lock = threading.Lock()
_live: set[str] = set()
_ordered: tuple[str, ...] = ()  # the live values, longest first
_stale = False  # a value was registered since `_ordered` was built


class Secret:
    """A value that must never be shown: client secrets, private keys, passwords, tokens."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register(value)

    def reveal(self) -> str:
        """The real value, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")


def register(value: str) -> None:
    """Remember `value` and its usual encodings so that `scrub` removes them."""
    if len(value) < _MIN_SCRUB_LENGTH:
        return
    global _stale
    # the value as it may travel: in a URL, in a form body, in JSON text, in HTML
    forms = {value, quote(value, safe=""), quote_plus(value), html.escape(value),
             json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(value)[1:-1]}
    with _lock:
        if not forms <= _live:
            _live.update(forms)
            _stale = True


def register_basic_credentials(client_id: str, secret: Secret) -> None:
    """Also scrub the Basic header that carries `client_id:secret`."""
    pair = f"{client_id}:{secret.reveal()}".encode()
    register(base64.b64encode(pair).decode())


def scrub(text: str) -> str:
    """Replace every registered secret value in `text` with the mask."""
    for value in _live_values():
        if value in text:
            text = text.replace(value, MASK)
    return text


def _live_values() -> tuple[str, ...]:
    """All live values, longest first (so a value is masked before any part of it)."""
    global _ordered, _stale
    with _lock:
        if _stale:
            _ordered = tuple(sorted(_live, key=len, reverse=True))
            _stale = False
        return _ordered
