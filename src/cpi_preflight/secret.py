"""Secrets are wrapped the moment they are read, and scrubbed from anything written.

`Secret` never shows its value in `repr`, `str` or formatting. Every `Secret` created in this
process registers its value (and the encodings it travels in, such as a Basic header) with the
scrubber, so `scrub()` can remove them from reports and captured output as a last line of defence.
"""

from __future__ import annotations

import base64
import re
import threading
from urllib.parse import quote, quote_plus

MASK = "***"
_MIN_SCRUB_LENGTH = 6

_lock = threading.Lock()
_live: set[str] = set()
_pattern: re.Pattern[str] | None = None  # all live values, longest first; rebuilt on change


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
    global _pattern
    forms = {value, quote(value, safe=""), quote_plus(value)}
    with _lock:
        if not forms <= _live:
            _live.update(forms)
            ordered = sorted(_live, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def register_basic_credentials(client_id: str, secret: Secret) -> None:
    """Also scrub the Basic header that carries `client_id:secret`."""
    pair = f"{client_id}:{secret.reveal()}".encode()
    register(base64.b64encode(pair).decode())


def scrub(text: str) -> str:
    """Replace every registered secret value in `text` with the mask."""
    pattern = _pattern
    return text if pattern is None else pattern.sub(MASK, text)


def mask_client_id(client_id: str) -> str:
    """Show the first and last four characters of a client id, mask the rest."""
    if len(client_id) <= 8:
        return MASK
    return f"{client_id[:4]}{MASK}{client_id[-4:]}"
