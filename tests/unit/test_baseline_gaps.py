"""`--baseline` that holds no evidence for a profile: a warning naming the profile and path."""

from __future__ import annotations

import json
from pathlib import Path

from cpi_preflight import baseline


def _evidence(path: Path, name: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"profile": {"name": name}}))
    return path


def test_a_reports_folder_without_the_profile_is_named(tmp_path: Path) -> None:
    _evidence(tmp_path / "qa" / "evidence.json", "qa")
    found = baseline.load(tmp_path, ["qa", "prod"])
    assert list(found) == ["qa"]
    assert baseline.gaps(tmp_path, ["qa", "prod"], found) == [
        f"--baseline {tmp_path}: no evidence for profile prod (no "
        f"{tmp_path / 'prod' / 'evidence.json'}); drift is not checked for prod. Pass the "
        "reports folder of a run that included prod, or its evidence.json"]


def test_one_evidence_file_of_another_profile_is_named(tmp_path: Path) -> None:
    file = _evidence(tmp_path / "evidence.json", "qa")
    found = baseline.load(file, ["prod"])
    assert baseline.gaps(file, ["prod"], found) == [
        f"--baseline {file}: no evidence for profile prod (it holds the evidence of profile "
        "qa); drift is not checked for prod. Pass the reports folder of a run that included "
        "prod, or its evidence.json"]


def test_no_baseline_no_warning(tmp_path: Path) -> None:
    assert baseline.gaps(None, ["prod"], {}) == []
    _evidence(tmp_path / "prod" / "evidence.json", "prod")
    assert baseline.gaps(tmp_path, ["prod"], baseline.load(tmp_path, ["prod"])) == []
