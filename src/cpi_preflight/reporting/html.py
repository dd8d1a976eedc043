"""evidence.html: one self-contained, printable page for the reviewer who signs off a go-live.

Rendered from the document's record through an autoescaping Jinja2 template
(`data/evidence.html.j2`) whose every printed text is first made one visible line
(`text.one_line`, as the template's finalize and in the `prose` filter), so no value can open
markup. This module (and with it markupsafe) is imported when the first report is written
(`reports.REPORTS`), Jinja2 when the first page is rendered; never when pytest starts.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from cpi_preflight.catalog import ENVIRONMENT_NAMES
from cpi_preflight.fixes import is_command
from cpi_preflight.reporting import outcomes
from cpi_preflight.reporting.document import SIGN_COMMANDS, VERIFY_COMMAND, Document, left_out
from cpi_preflight.text import one_line

if TYPE_CHECKING:
    import jinja2

TEMPLATE = "evidence.html.j2"
EVIDENCE, NOT_EVIDENCE = "Go-live evidence", "Not go-live evidence"  # the page's kind, its title
_CODE_SPAN = re.compile(r"`([^`]*)`")


def _shown(value: object) -> object:
    """The template's finalize: a plain text it prints becomes one visible line first (then
    autoescaping escapes it); markup the template made itself passes as it is."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return one_line(value)
    return value


def prose(text: object) -> Markup:
    """A fix as markup: `code spans` become <code>, a command span (`fixes.is_command`: a
    `cf ...` line) becomes a block of its own that can be copied whole. Only fixes are read so:
    their spans are their template's (`fixes.fill`); a finding's message, which quotes what the
    tenant said, is plain text. The text is made one visible line, every piece is escaped;
    nothing of `text` opens markup."""
    pieces: list[Markup] = []
    for number, part in enumerate(_CODE_SPAN.split(one_line(str(text)))):
        if number % 2 == 0:
            pieces.append(escape(part))
        elif is_command(part):
            pieces.append(Markup('<code class="command">{}</code>').format(part))
        else:
            pieces.append(Markup("<code>{}</code>").format(part))
    return Markup("").join(pieces)


def _row_shown(outcome: str, code: str) -> str:
    """How a row of a table is shown (`outcomes.shown`): a passed row with a code passed with
    a warning."""
    return outcomes.shown(outcome, ran=True, warned=bool(code)).value


def counts_text(summary: Mapping[str, Any]) -> str:
    """`9 checks: 2 failed, 1 warning, 5 passed, 1 skipped, 2 not run` (`outcomes`), then the
    number of warning findings."""
    total = outcomes.total(summary)
    text = f"{total} check{'' if total == 1 else 's'}: {outcomes.counts_words(summary) or 'none'}"
    found = int(summary.get("warning_findings") or 0)
    if found:
        text += f"; {found} warning finding{'' if found == 1 else 's'}"
    return text


def connections_text(hosts: Iterable[Mapping[str, Any]]) -> str:
    """`api.example.com: HTTP/2, 1 connection, 10 requests; ...`, per host, with the note of a
    host that went over to HTTP/1.1."""
    parts = []
    for host in hosts:
        if not isinstance(host, Mapping):
            continue
        opened, sent = _count(host.get("connections")), _count(host.get("requests"))
        text = (f"{host.get('host')}: {host.get('protocol') or 'no connection'}, "
                f"{opened} connection{'' if opened == 1 else 's'}, "
                f"{sent} request{'' if sent == 1 else 's'}")
        parts.append(text + (f" ({host['note']})" if host.get("note") else ""))
    return "; ".join(parts)


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@functools.lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("cpi_preflight", "data"), autoescape=True,
        undefined=jinja2.StrictUndefined, keep_trailing_newline=False, finalize=_shown,
        bytecode_cache=_bytecode_cache())
    environment.filters["prose"] = prose
    environment.globals.update(shown=_row_shown, not_run=outcomes.WORDS[outcomes.Shown.NOT_RUN])
    return environment.get_template(TEMPLATE)


def _cache_directory() -> str | None:
    """Where compiled templates are kept: None is Jinja2's own choice, a folder of the user's
    in the temporary folder that only the user may open (it refuses any other)."""
    return None


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Jinja2's cache of compiled templates, so a run loads the page's template instead of
    compiling it again (the costliest step of the first page). Its key also holds Jinja2's
    version and this module's source, which sets the environment the code was compiled for.
    A cache that cannot be read or written is no cache: the template is compiled as before."""
    import jinja2

    settings = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()

    class Cache(jinja2.FileSystemBytecodeCache):
        def get_cache_key(self, name: str, filename: str | None = None) -> str:
            key = f"{super().get_cache_key(name, filename)}|{jinja2.__version__}|{settings}"
            return hashlib.sha256(key.encode()).hexdigest()

        def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except Exception:  # a damaged file (its header is a pickle): compile instead
                bucket.reset()

        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)

    try:
        return Cache(_cache_directory(), "cpi-preflight-%s.cache")
    except (OSError, RuntimeError):  # no safe folder of the user's to keep it in
        return None


def _when(stamp: object) -> str:
    text = str(stamp or "")
    return text.replace("T", " ").replace("Z", " UTC") if text else ""


def _strict_text(record: Mapping[str, Any]) -> str:
    if not record["run"].get("strict"):
        return "no"
    return "yes (profile: strict: true)" if record["profile"].get("strict") else "yes (--strict)"


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def render(document: Document) -> str:
    """The page for one profile's document."""
    record = document.record
    environment = document.environment
    caveat = document.caveat
    return _template().render(
        kind=NOT_EVIDENCE if caveat else EVIDENCE, caveat=caveat,
        caveat_label=document.caveat_kind,
        doc=record, when=_when, strict=_strict_text(record), verify_command=VERIFY_COMMAND,
        sign_commands=SIGN_COMMANDS,
        counts=counts_text(record["summary"]),
        connections=connections_text(_list(record["run"].get("connections"))),
        environment=f"{ENVIRONMENT_NAMES.get(environment, environment)} ({environment})",
        findings=sorted(record["findings"], key=lambda f: f.get("severity") != "failure"),
        left_out=[(str(c.get("id", "")), outcomes.left_out_words(n))
                  for c in document.entries("checks") if (n := left_out(c))],
        user_checks=document.user_checks(),
    )
