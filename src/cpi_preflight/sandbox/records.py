"""The sample records each simulated entity set returns, loaded from `sample_records.yaml`."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cpi_preflight.sandbox.behaviour import read_data_file


@dataclass(frozen=True)
class SampleSet:
    """The records of one entity set, with the OData facts needed to render them."""

    entity_type: str
    keys: tuple[str, ...]
    dates: tuple[str, ...]
    records: tuple[Mapping[str, Any], ...]

    def key_predicate(self, record: Mapping[str, Any]) -> str:
        """The OData key predicate, e.g. `('x')` or `(Id='x',Version='1')`."""
        if len(self.keys) == 1:
            return f"('{record[self.keys[0]]}')"
        return "(" + ",".join(f"{k}='{record[k]}'" for k in self.keys) + ")"


def _sample_set(raw: Mapping[str, Any]) -> SampleSet:
    return SampleSet(str(raw["type"]), tuple(raw["keys"]), tuple(raw["dates"]),
                     tuple(dict(r) for r in raw["records"]))


@functools.cache
def load_samples() -> Mapping[str, SampleSet]:
    """Sample records per entity set name (cached)."""
    raw: Mapping[str, Any] = read_data_file("sample_records.yaml")
    return {name: _sample_set(value) for name, value in raw.items()}
