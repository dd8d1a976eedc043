"""Secrets are wrapped the moment they are read, and masked in anything shown or written.

`Secret` never shows its value in `repr`, `str` or formatting. Every `Secret` created in this
process registers its value with the scrubber, in every form it may travel in (see `forms`), so
`scrub()` masks them in text before it is rendered into a report, printed or logged.

What `scrub` guarantees for a registered value of any length: it is masked where it appears
verbatim, URL-encoded (`%XX` or `+` for spaces), JSON-, HTML- or XML-escaped, as a Python
`repr`, base64- or base64url-encoded (alone or inside a longer base64 text, at any offset; up to
two characters at each end of such a run may remain), and any of these broken across lines
(line breaks inside a value are ignored when matching). Other transformations (hex, other
encodings, a value split by other characters, hashes) are not recognised.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
import threading
from collections.abc import Iterable, Sequence
from typing import NamedTuple
from urllib.parse import quote, quote_plus

MASK = "***"
_LINE_BREAKS = str.maketrans("", "", "\r\n")
_JOIN = "\x00"

_lock = threading.Lock()
_live: set[str] = set()
_GRAM = 8  # the most characters a value is looked up by
_STRIDE = 8  # the farthest apart the places of a text are read at (see `_Tier`)
_CHUNK = 1 << 16  # a long text is read for keys in pieces of this many characters


class _Tier(NamedTuple):
    """Values looked up by `gram` characters read at every `stride`-th place of a text. Each
    value has `stride` keys (its `gram` characters from offsets 0 to `stride` - 1): wherever
    it occurs, one of its keys begins at a place that is read. So a text is read at 1 place in
    `stride`; that needs values of at least `gram` + `stride` - 1 characters (`fits`)."""

    gram: int
    stride: int
    by_key: dict[str, list[int]]  # a key -> the places (in `_Index.values`) that have it

    def fits(self, value: str) -> bool:
        return len(value) >= self.gram + self.stride - 1

    def add(self, place: int, value: str) -> None:
        for key in dict.fromkeys(value[k:k + self.gram] for k in range(self.stride)):
            self.by_key.setdefault(key, []).append(place)


class _Index:
    """The live forms and their tiers, grown as values are registered (never rebuilt for one
    more value): forms of `_GRAM` + `_STRIDE` - 1 characters or more in `long`, read at every
    `_STRIDE`-th place; shorter ones in `short`, read as closely as the shortest of them
    needs (rebuilt when a shorter one comes)."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values: list[str] = []
        self.long = _Tier(_GRAM, _STRIDE, {})
        self.short: _Tier | None = None
        self._short_places: list[int] = []
        for value in values:
            self.add(value)

    @property
    def tiers(self) -> tuple[_Tier, ...]:
        return (self.long,) if self.short is None else (self.long, self.short)

    def add(self, value: str) -> None:
        place = len(self.values)
        self.values.append(value)
        if self.long.fits(value):
            self.long.add(place, value)
            return
        self._short_places.append(place)
        if self.short is not None and self.short.fits(value):
            self.short.add(place, value)
            return
        # the shortest short value now: every one before fits the tier it does not fit
        gram = min(_GRAM, len(value))
        self.short = _Tier(gram, min(_STRIDE, len(value) - gram + 1), {})
        for known in self._short_places:
            self.short.add(known, self.values[known])


_index = _Index()
_stale = False  # `_live` was changed other than by `register`: `_index` is built anew
_generation = 0  # counts the changes of `_index`: what `scrub` remembers is for one


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


def _base64_runs(data: bytes) -> set[str]:
    """The base64 text `data` always turns into, wherever it starts inside a longer input:
    for each of the three alignments, the encoding of the whole 3-byte groups it fills."""
    runs = {base64.b64encode(data).decode("ascii"),  # the value encoded on its own
            base64.urlsafe_b64encode(data).decode("ascii")}
    for skip in range(3):
        part = data[skip:]
        part = part[: len(part) - len(part) % 3]
        if part:
            runs.add(base64.b64encode(part).decode("ascii"))
            runs.add(base64.urlsafe_b64encode(part).decode("ascii"))
    return runs


_APOSTROPHES = ("'", "&#x27;", "&#39;", "&apos;")
_QUOTES = ('"', "&quot;", "&#34;", "&#x22;")


def _markup_escaped(value: str) -> set[str]:
    """`value` as HTML or XML writers escape it: `&<>` always, quotes in any of their forms."""
    base = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    found = {base, html.escape(value)}
    if "'" in value or '"' in value:
        found |= {base.replace("'", a).replace('"', q) for a in _APOSTROPHES for q in _QUOTES}
    return found


_PERCENT = re.compile(r"%[0-9A-F]{2}")
_MARKUP_SPECIALS = frozenset("&<>\"'")
_URL_UNRESERVED = frozenset("-_.~")
_SAFE_MARKS = frozenset("-_.,")


def _percent_encoded(data: bytes) -> set[str]:
    """URL encodings: the usual ones, every byte encoded, each in upper- and lower-case hex."""
    found = {quote(data, safe=""), quote_plus(data), quote(data, safe="/:@")}
    found |= {_PERCENT.sub(lambda m: m.group(0).lower(), f) for f in found if "%" in f}
    every = "%" + data.hex("%")  # every byte encoded
    return found | {every, every.upper()} if data else found


def _character_references(value: str) -> set[str]:
    """`value` with `&<>"'` (or every character but letters and digits) written as numeric
    character references, decimal or hexadecimal."""
    found = set()
    others = frozenset(c for c in value if not c.isalnum())
    # what encoders pick: the markup characters, everything else, or all but URL-safe marks
    for picked in (_MARKUP_SPECIALS, others, others - _URL_UNRESERVED, others - _SAFE_MARKS):
        for form in ("&#{0};", "&#x{0:x};", "&#x{0:X};"):
            found.add(value.translate({ord(c): form.format(ord(c)) for c in picked}))
    return found


def _json_escaped(value: str) -> set[str]:
    """JSON string bodies as common encoders write them: Python's (with and without
    ensure_ascii) and the HTML-safe style that writes `<>&'` as \\u escapes."""
    found = {json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(value)[1:-1]}
    for text in list(found):
        for digits in ("{0:04x}", "{0:04X}"):
            for escaped in ("<>&", "<>&'"):  # Go's encoder, and those that also escape '
                safe = text
                for c in escaped:
                    safe = safe.replace(c, "\\u" + digits.format(ord(c)))
                found.add(safe)
    return found


def forms(value: str) -> set[str]:
    """`value` in the forms it may travel in: raw, URL-encoded (any hex case, any bytes),
    JSON-escaped, HTML- and XML-escaped (named or numeric references), Python `repr` (str and
    bytes), and base64/base64url (see `_base64_runs`)."""
    data = value.encode("utf-8", "surrogatepass")  # a lone surrogate must not crash the scrubber
    found = {
        value, *_percent_encoded(data), *_markup_escaped(value), *_character_references(value),
        *_json_escaped(value), repr(value)[1:-1], repr(data)[2:-1], *_base64_runs(data),
    }
    return {f for f in (v.translate(_LINE_BREAKS) for v in found) if f}


def register(value: str) -> None:
    """Remember `value`, in all its `forms`, so that `scrub` masks it."""
    if not value:
        return
    global _generation
    new = forms(value)
    with _lock:
        added = new - _live
        if added:
            _live.update(added)
            if not _stale:  # else the index is built anew, with these, when next read
                for form in sorted(added):
                    _index.add(form)
                _generation += 1


def register_basic_credentials(client_id: str, secret: Secret) -> None:
    """Also scrub the Basic header that carries `client_id:secret`."""
    pair = f"{client_id}:{secret.reveal()}".encode("utf-8", "surrogatepass")
    register(base64.b64encode(pair).decode())


def scrub(text: str) -> str:
    """`text` with every registered secret, in every form, replaced by the mask."""
    _snapshot()  # brings `_generation` up to date
    if len(text) <= _CACHED_LENGTH:  # the same short texts are scrubbed again and again
        return _scrub_short(text, _generation)
    return scrub_all([text])[0]


_CACHED_LENGTH = 4096


@functools.lru_cache(maxsize=4096)
def _scrub_short(text: str, generation: int) -> str:
    """`scrub` of a short text, remembered until the registered secrets change."""
    return scrub_all([text])[0]


def scrub_all(texts: Sequence[str]) -> list[str]:
    """`scrub` for many texts at once (one search for which secrets occur at all)."""
    if not texts:
        return []
    everything = _JOIN.join(texts).translate(_LINE_BREAKS)
    with _lock:
        index = _index_locked()
        values = index.values
        found = {values[place] for tier in index.tiers for place in _places(everything, tier)}
    # only a value one of whose keys occurs can occur; longest first (a value is masked before
    # any part of it), then in a fixed order
    present = sorted((v for v in found if v in everything), key=lambda v: (-len(v), v))
    if not present:
        return list(texts)
    return [_mask(text, present) for text in texts]


def _places(text: str, tier: _Tier) -> set[int]:
    """The places (in `_Index.values`) of the values of `tier` one of whose keys is read in
    `text`: a search as long as the text divided by the stride, not as long as the text times
    the number of values. Read in pieces, so that a long text never becomes as many strings at
    once."""
    gram, stride, by_key = tier
    places: set[int] = set()
    last = len(text) - gram + 1  # the number of places a key can begin at
    for piece in range(0, max(last, 0), _CHUNK):
        keys = {text[i:i + gram] for i in range(piece, min(piece + _CHUNK, last), stride)}
        for key in keys & by_key.keys():
            places.update(by_key[key])
    return places


def _mask(text: str, values: Sequence[str]) -> str:
    """Mask every occurrence of `values` in `text`, ignoring line breaks inside a match."""
    flat = text.translate(_LINE_BREAKS)
    values = [v for v in values if v in flat]
    if not values:
        return text
    if flat == text:
        for value in values:  # longest first: a value is masked before any part of it
            if value in text:
                text = text.replace(value, MASK)
        return text
    where = [i for i, c in enumerate(text) if c not in "\r\n"]  # flat index -> text index
    spans = []
    for value in values:
        start = flat.find(value)
        while start != -1:
            spans.append((where[start], where[start + len(value) - 1] + 1))
            start = flat.find(value, start + len(value))
    return _replace_spans(text, spans)


def _replace_spans(text: str, spans: list[tuple[int, int]]) -> str:
    out, cursor = [], 0
    for start, end in sorted(spans):
        if end <= cursor:
            continue
        if start >= cursor:
            out.append(text[cursor:start])
            out.append(MASK)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def _snapshot() -> _Index:
    """The index, up to date (its contents may be read only while it cannot change: in
    tests)."""
    with _lock:
        return _index_locked()


def _index_locked() -> _Index:
    """The index of all live forms, built anew when `_live` was changed other than by
    `register` (`_stale`); the caller holds `_lock`."""
    global _index, _stale, _generation
    if _stale:
        _index = _Index(sorted(_live))
        _stale = False
        _generation += 1
    return _index
