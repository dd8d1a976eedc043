"""Maps request paths under `/api/v1` to the entity sets of the behaviour table.

Paths in the table are SAP's spec paths; `{Name}` placeholders inside quotes match any key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cpi_preflight.sandbox.behaviour import EntitySet

_PLACEHOLDER = re.compile(r"\\\{(\w+)\\\}")


@dataclass(frozen=True)
class Route:
    """One served path: its entity set, whether it is `$count`, and its key parameters."""

    entity: EntitySet
    pattern: re.Pattern[str]
    count: bool


@dataclass(frozen=True)
class Match:
    """A request path resolved to a route, with the keys the path named."""

    route: Route
    keys: Mapping[str, str]


def _compile(path: str) -> re.Pattern[str]:
    return re.compile(_PLACEHOLDER.sub(r"(?P<\1>[^']*)", re.escape(path.lstrip("/"))))


class Routes:
    """The paths one tenant serves (entity sets of its environment only)."""

    def __init__(self, entity_sets: Iterable[EntitySet], environment: str) -> None:
        self.entity_sets = {e.name: e for e in entity_sets if environment in e.environments}
        self._routes = [Route(e, _compile(p), p.endswith("/$count"))
                        for e in self.entity_sets.values() for p in e.paths]

    def match(self, rest: str) -> Match | None:
        """The route serving `rest` (the path after `/api/v1/`), if any."""
        for route in self._routes:
            found = route.pattern.fullmatch(rest)
            if found:
                return Match(route, found.groupdict())
        return None

    def named(self, rest: str) -> EntitySet | None:
        """The entity set named by the first segment of `rest` (keys stripped), if served."""
        return self.entity_sets.get(rest.split("/")[0].split("(")[0])
