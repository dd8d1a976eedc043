"""The metrics file (`--metrics-file`): a run's results as OpenMetrics text for monitoring.

A scheduled run feeds Prometheus through node_exporter's textfile collector, which serves the
`*.prom` files of one folder. One file holds every profile of the run: `render` takes all the
run's documents at once, because OpenMetrics allows each metric family once, with all its
samples together (a second block of the same family makes the whole file unreadable), so
per-profile texts could not be joined. A profile name that occurs twice is rendered once.

Families, each a gauge (the one type both the OpenMetrics parser and node_exporter's Prometheus
text parser read), without timestamps (the textfile collector refuses them):

- `cpi_preflight_check_outcome{profile, check, code, outcome}`: 1 for the outcome the check is
  shown with (`outcomes.Shown`), 0 for the four others; `code` is the check's first failure
  (or warning) code, empty when clean;
- `cpi_preflight_token_latency_seconds{profile}`, `cpi_preflight_endpoint_latency_seconds{profile,
  endpoint}`: time to the final answer, for requests that got an HTTP answer;
- `cpi_preflight_certificate_expiry_days{profile, certificate}`: days from the run's start until
  the `client` certificate, or the server certificate of the `token-host` or `api-host`,
  expires (negative once expired), for the certificates the run read;
- `cpi_preflight_run_timestamp_seconds{profile}`: when the run started.

A client secret's expiry is not known to the tool (a service key of type secret carries none,
and SAP documents none for it), so it has no series.

Labels hold the tool's own vocabulary only (`Vocabulary`): validated profile names, the check
ids, failure codes and endpoint names the catalog allows, outcome words and certificate kinds.
A value outside it (a document read back from a file may hold anything) leaves its sample out
and never becomes a label; values are escaped for the format all the same (`label_value`).
The document is read only, never verdicts; latencies and expiry dates come from its record and
details.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from cpi_preflight import catalog, plan
from cpi_preflight.profile import NAME
from cpi_preflight.reporting.document import CheckRow, Document
from cpi_preflight.reporting.outcomes import Shown
from cpi_preflight.text import one_line


@dataclass(frozen=True)
class Family:
    """A metric family: its name, HELP text and unit (the name ends with `_<unit>`). A HELP
    text holds no backslash, double quote or line break: OpenMetrics would want them escaped,
    and older versions of node_exporter's parser refuse an escaped double quote there."""

    name: str
    help: str
    unit: str = ""


OUTCOME = Family("cpi_preflight_check_outcome",
                 "Outcome of a cpi-preflight check in the last run: 1 for the outcome it had, "
                 "0 for the others; code is its first failure or warning code.")
TOKEN_LATENCY = Family("cpi_preflight_token_latency_seconds",
                       "Time the token endpoint took to answer in the last run.", "seconds")
ENDPOINT_LATENCY = Family("cpi_preflight_endpoint_latency_seconds",
                          "Time an API endpoint took to answer in the last run.", "seconds")
CERTIFICATE_EXPIRY = Family("cpi_preflight_certificate_expiry_days",
                            "Days from the start of the last run until a certificate expires "
                            "(client, token-host, api-host); negative once expired.", "days")
RUN_TIME = Family("cpi_preflight_run_timestamp_seconds",
                  "When the last run of the profile started, in seconds since the epoch.",
                  "seconds")
FAMILIES = (OUTCOME, TOKEN_LATENCY, ENDPOINT_LATENCY, CERTIFICATE_EXPIRY, RUN_TIME)
CERTIFICATES = ("client", "token-host", "api-host")  # the `kind`s of the document's `expiry`

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Sample:
    """One line of the file: a family's value for one set of labels."""

    family: Family
    labels: Labels
    value: float


@dataclass(frozen=True)
class Vocabulary:
    """The label values the catalog allows: check ids, failure codes, endpoint names."""

    checks: frozenset[str]
    codes: frozenset[str]
    endpoints: frozenset[str]


@cache
def vocabulary() -> Vocabulary:
    """Every check id a plan can have, every code and every endpoint of the catalog."""
    cat = catalog.load()
    single = (plan.TOKEN, plan.API, plan.LEAST_PRIVILEGE, plan.TLS_EXPIRY,
              plan.CREDENTIAL_EXPIRY, plan.DRIFT)
    roles = {*cat.roles, *cat.neo_roles, *cat.personas}
    checks = {*single, *map(plan.role_check_id, roles), *map(plan.endpoint_check_id, cat.endpoints)}
    return Vocabulary(frozenset(checks), frozenset(cat.codes), frozenset(cat.endpoints))


# --- reading the document --------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A finite number, or None (a document read back from a file may hold anything)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _time(value: Any) -> datetime | None:
    """An ISO 8601 time of the document (naive: UTC), or None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _code(row: CheckRow) -> str:
    first = row.failures or row.warnings
    return first[0].code if first else ""


def _outcomes(profile: str, row: CheckRow, words: Vocabulary) -> list[Sample]:
    code = _code(row)
    if row.id not in words.checks or (code and code not in words.codes):
        return []
    labels = (("profile", profile), ("check", row.id), ("code", code))
    shown = row.shown
    return [Sample(OUTCOME, (*labels, ("outcome", s.value)), 1.0 if s == shown else 0.0)
            for s in Shown]


def _token_latency(profile: str, document: Document) -> list[Sample]:
    latency = _number(document.details.get("token_latency_ms"))
    return [] if latency is None else [
        Sample(TOKEN_LATENCY, (("profile", profile),), round(latency / 1000, 6))]


def _endpoint_latencies(profile: str, document: Document, words: Vocabulary) -> list[Sample]:
    found = []
    for entry in document.entries("endpoints"):
        name, latency = entry.get("name"), _number(entry.get("latency_ms"))
        answered = _number(entry.get("status")) is not None
        if isinstance(name, str) and name in words.endpoints and answered and latency is not None:
            found.append(Sample(ENDPOINT_LATENCY, (("profile", profile), ("endpoint", name)),
                                round(latency / 1000, 6)))
    return found


def _expiry(profile: str, document: Document, started: datetime | None) -> list[Sample]:
    entries = document.details.get("expiry")
    if started is None or not isinstance(entries, list):
        return []
    found = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kind, expires = entry.get("kind"), _time(entry.get("expires_at"))
        if kind in CERTIFICATES and expires is not None:
            days = (expires - started).total_seconds() / 86400
            found.append(Sample(CERTIFICATE_EXPIRY, (("profile", profile), ("certificate", kind)),
                                round(days, 3)))
    return found


def _samples(document: Document, words: Vocabulary) -> list[Sample]:
    """Every sample of one profile's document, in the order of `FAMILIES` (none when its
    profile name is not a valid one)."""
    profile = document.name
    if not NAME.fullmatch(profile):
        return []
    started = _time(document.section("run").get("started_at"))
    found = [s for row in document.checks() for s in _outcomes(profile, row, words)]
    found += _token_latency(profile, document)
    found += _endpoint_latencies(profile, document, words)
    found += _expiry(profile, document, started)
    if started is not None:
        found.append(Sample(RUN_TIME, (("profile", profile),), started.timestamp()))
    return found


# --- the format ------------------------------------------------------------------------------


def label_value(text: str) -> str:
    """`text` as an OpenMetrics label value, without its quotes: one visible line
    (`text.one_line`, which removes line breaks), backslashes and double quotes escaped."""
    return one_line(text).replace("\\", "\\\\").replace('"', '\\"')


def number(value: float) -> str:
    """A sample value: whole numbers without a fraction, others as Python's shortest repr."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _line(sample: Sample) -> str:
    labels = ",".join(f'{name}="{label_value(value)}"' for name, value in sample.labels)
    return f"{sample.family.name}{{{labels}}} {number(sample.value)}"


def _descriptor(family: Family) -> list[str]:
    lines = [f"# HELP {family.name} {family.help}", f"# TYPE {family.name} gauge"]
    return lines + ([f"# UNIT {family.name} {family.unit}"] if family.unit else [])


def _grouped(documents: Iterable[Document]) -> Iterator[tuple[Family, list[Sample]]]:
    words, done = vocabulary(), set()
    by_family: dict[Family, list[Sample]] = {family: [] for family in FAMILIES}
    for document in documents:
        if document.name in done:
            continue
        done.add(document.name)
        for sample in _samples(document, words):
            by_family[sample.family].append(sample)
    yield from by_family.items()


def render(documents: Iterable[Document]) -> str:
    """The OpenMetrics text of a run's documents: each family with samples once, its samples
    of every profile together, `# EOF` at the end."""
    lines = [line for family, found in _grouped(documents) if found
             for line in [*_descriptor(family), *map(_line, found)]]
    return "\n".join([*lines, "# EOF"]) + "\n"
