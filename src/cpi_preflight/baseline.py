"""Reading `--baseline`: a previous run's evidence.json, or the reports folder holding them.

A baseline comes from outside (an artifact downloaded from an earlier CI run) and may list any
strings as roles and endpoints. Each row the drift rule reads becomes a finding with its fix, so
only rows that name a role or an endpoint of the catalog are kept (`within_catalog`); the others
are counted in one warning per baseline file. That bounds the drift findings by the catalog, not
by the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cpi_preflight import files
from cpi_preflight.catalog import Catalog
from cpi_preflight.errors import ConfigError, StructureError

BASELINE_DEPTH = 8  # evidence.json nests 4 levels deep


def _read(path: Path) -> dict[str, Any]:
    try:
        doc: Any = files.load_json(files.read_text(path, files.BASELINE_LIMIT),
                                   max_depth=BASELINE_DEPTH)
    except StructureError as exc:
        raise ConfigError(f"--baseline {path}: is not an evidence.json written by "
                          f"cpi-preflight ({exc})") from None
    except OSError as exc:
        raise ConfigError(f"--baseline {path}: cannot be read: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigError(f"--baseline {path}: is not an evidence.json written by "
                          "cpi-preflight (invalid JSON); pass reports/<profile>/evidence.json "
                          "or the reports/ folder of an earlier run") from None
    profile = doc.get("profile") if isinstance(doc, dict) else None
    if not isinstance(profile, dict) or not isinstance(profile.get("name"), str):
        raise ConfigError(f"--baseline {path}: is not an evidence.json written by cpi-preflight "
                          "(no profile.name); pass reports/<profile>/evidence.json or reports/")
    found: dict[str, Any] = doc
    found["_path"] = files.shown_path(path)  # named in findings and reports: no local paths
    return found


def load(path: Path | None, names: list[str]) -> dict[str, dict[str, Any]]:
    """Baseline documents by profile name: one file, or `<dir>/<profile>/evidence.json`."""
    if path is None:
        return {}
    if path.is_dir():
        found = {n: path / n / "evidence.json" for n in names}
        return {n: _read(p) for n, p in found.items() if p.is_file()}
    if not path.exists():
        raise ConfigError(f"--baseline {path}: no such file or folder; pass a previous run's "
                          "reports/<profile>/evidence.json or its reports/ folder")
    doc = _read(path)
    return {doc["profile"]["name"]: doc}


def gaps(path: Path | None, names: list[str], found: dict[str, dict[str, Any]]) -> list[str]:
    """A warning per profile that `--baseline` holds no evidence for (its drift is not checked)."""
    if path is None:
        return []
    messages = []
    for name in names:
        if name in found:
            continue
        if path.is_dir():
            where = f"no {path / name / 'evidence.json'}"
        else:
            where = f"it holds the evidence of profile {', '.join(found) or 'none'}"
        messages.append(f"--baseline {path}: no evidence for profile {name} ({where}); drift is "
                        f"not checked for {name}. Pass the reports folder of a run that "
                        f"included {name}, or its evidence.json")
    return messages


def _known(rows: Any, key: str, names: Callable[[str], bool]) -> tuple[list[Any], int]:
    """The rows of a baseline list whose `key` names something `names` knows, and how many
    others there were (rows of another shape count as unknown too)."""
    listed = rows if isinstance(rows, list) else []
    kept = [r for r in listed if isinstance(r, dict) and isinstance(r.get(key), str)
            and names(r[key])]
    return kept, len(listed) - len(kept)


def _counted(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def within_catalog(path: Path | None, found: dict[str, dict[str, Any]],
                   cat: Catalog) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """`found` with only the roles and endpoints of the catalog kept, and a warning per
    profile whose baseline listed others (they are ignored, never findings)."""
    kept: dict[str, dict[str, Any]] = {}
    warnings = []
    for name, doc in found.items():
        roles, odd_roles = _known(doc.get("roles"), "role",
                                  lambda r: r in cat.roles or r in cat.neo_roles)
        endpoints, odd_endpoints = _known(doc.get("endpoints"), "name",
                                          lambda e: e in cat.endpoints)
        kept[name] = {**doc, "roles": roles, "endpoints": endpoints}
        ignored = [_counted(n, w) for n, w in ((odd_roles, "role"), (odd_endpoints, "endpoint"))
                   if n]
        if ignored:
            warnings.append(
                f"--baseline {path}: the evidence of profile {name} lists {' and '.join(ignored)} "
                "that cpi-preflight does not know (not in its catalog); they were ignored, and "
                f"drift is checked for the roles and endpoints it knows")
    return kept, warnings
