"""What the terminal shows without extra flags: reasons, warnings with their fix, drift, -q/-qq.

Runs the real command against the sandbox; `COLUMNS` sets the width pytest's terminal writer
uses, as a real terminal would.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from .conftest import Outcome, run_pytest

BODY = {"environment": "cf", "required_roles": ["MonitoringDataRead", "WorkspacePackagesRead"],
        "endpoints": ["MessageProcessingLogs", "IntegrationPackages"], "attempts": 1}
WIDE = {"roles": ["MonitoringDataRead", "WorkspacePackagesRead", "AccessPoliciesRead"]}
MISCONFIGURED = "sandbox-cf-misconfigured"


def _profiles(folder: Path, name: str, sandbox: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump({**BODY, "sandbox": sandbox}))
    return folder


def _run(tmp_path: Path, *args: str, columns: int = 100, **kwargs: object) -> Outcome:
    env = {**os.environ, "COLUMNS": str(columns)}
    return run_pytest(tmp_path, "-p", "no:randomly", *args, env=env, **kwargs)  # type: ignore[arg-type]


def section(outcome: Outcome) -> list[str]:
    """The lines of the cpi-preflight section, up to pytest's next section."""
    lines = outcome.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if " cpi-preflight " in line and "===" in line)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("===")),
               len(lines))
    return lines[start + 1:end]


def test_a_warning_shows_its_message_and_fix(tmp_path: Path) -> None:
    profiles = _profiles(tmp_path / "profiles", "wide", WIDE)
    outcome = _run(tmp_path, "--profile", "wide", profiles_dir=profiles)
    assert outcome.code == 0, outcome.stdout
    shown = section(outcome)
    row = next(i for i, line in enumerate(shown) if line.startswith("  least-privilege "))
    assert re.fullmatch(r"  least-privilege +warning  EXCESS_ROLES", shown[row])
    detail = " ".join(line.strip() for line in shown[row + 1:row + 6])
    assert re.search(r"^the token of client \S+ carries permissions AccessPolicies.Read \(from "
                     r"AccessPoliciesRead\) beyond what required_roles \(MonitoringDataRead, "
                     r"WorkspacePackagesRead\) need", detail), detail
    assert ("fix: Take AccessPoliciesRead out of the roles of the Process Integration Runtime "
            "instance, or add them to `required_roles:` if the client really needs them. First "
            "read the instance's") in detail
    # 7 built-in checks passed, and checks/test_odata_shape.py, the project's own check
    assert shown[0] == "wide (cf): 1 warning, 8 passed"


def test_a_skipped_check_shows_its_reason(tmp_path: Path) -> None:
    outcome = _run(tmp_path, "--profile", MISCONFIGURED)
    shown = section(outcome)
    row = shown.index("  endpoint[IntegrationPackages]   skipped")
    assert " ".join(line.strip() for line in shown[row + 1:row + 3]) == (
        "GET /api/v1/IntegrationPackages answered 403 because role[WorkspacePackagesRead] failed "
        "(ROLE_MISSING); fix that first")
    assert not any(line.rstrip().endswith(" -") for line in shown)


def test_drift_findings_appear_in_the_table(tmp_path: Path) -> None:
    first = _run(tmp_path / "first", "--profile", "prod",
                 profiles_dir=_profiles(tmp_path / "p1", "prod", {"roles": BODY["required_roles"]}))
    assert first.code == 0, first.stdout
    baseline = first.reports / "prod" / "evidence.json"
    after = {"roles": ["MonitoringDataRead", "WorkspacePackagesRead", "AccessPoliciesRead"]}
    second = _run(tmp_path / "second", "--profile", "prod", f"--baseline={baseline}",
                  profiles_dir=_profiles(tmp_path / "p2", "prod", after))
    shown = section(second)
    row = next(i for i, line in enumerate(shown) if line.startswith("  drift "))
    assert re.fullmatch(r"  drift +warning  ROLE_GAINED", shown[row])
    detail = " ".join(line.strip() for line in shown[row + 1:row + 6])
    assert detail.startswith("role AccessPoliciesRead is granted now but was not in the baseline")
    assert ("fix: Confirm the change was intended; if so, refresh the baseline with this run's "
            "evidence.json.") in detail


def test_a_baseline_without_evidence_for_the_profile_is_a_visible_warning(tmp_path: Path) -> None:
    empty = tmp_path / "old-reports"
    empty.mkdir()
    outcome = _run(tmp_path, "--profile", "sandbox-cf", f"--baseline={empty}", columns=400)
    assert outcome.code == 0, outcome.stdout
    assert (f"warning: --baseline {empty}: no evidence for profile sandbox-cf (no "
            f"{empty / 'sandbox-cf' / 'evidence.json'}); drift is not checked for sandbox-cf. "
            "Pass the reports folder of a run that included sandbox-cf, or its evidence.json"
            ) in section(outcome)


def test_q_keeps_failures_warnings_and_the_summary(tmp_path: Path) -> None:
    outcome = _run(tmp_path, "--profile", MISCONFIGURED, "-q")
    shown = section(outcome)
    rows = [line.split()[0] for line in shown if line.startswith("  ") and
            not line.startswith("    ")]
    assert rows == ["role[WorkspacePackagesRead]", "role[DataStoresAndQueuesRead]",
                    "endpoint[NumberRanges]"]
    assert shown[0] == f"{MISCONFIGURED} (cf): 3 failed, 7 passed, 2 skipped"


def test_qq_shows_only_the_summary_line(tmp_path: Path) -> None:
    outcome = _run(tmp_path, "--profile", MISCONFIGURED, "-qq")
    assert outcome.code == 1
    ours = [line for line in outcome.stdout.splitlines() if MISCONFIGURED in line
            and "::" not in line and not line.startswith("_")]
    assert ours == [f"{MISCONFIGURED} (cf): 3 failed, 7 passed, 2 skipped"]
    assert " cpi-preflight " not in outcome.stdout
    assert "report: " not in outcome.stdout
    assert " FAILURES " not in outcome.stdout
    assert "short test summary info" not in outcome.stdout
    assert [line for line in outcome.stdout.splitlines() if line.strip()][-1] == (
        f"{MISCONFIGURED} (cf): 3 failed, 7 passed, 2 skipped")


def test_qq_with_tb_keeps_the_failure_texts(tmp_path: Path) -> None:
    outcome = _run(tmp_path, "--profile", MISCONFIGURED, "-qq", "--tb=short", "-rf")
    assert outcome.code == 1
    assert " FAILURES " in outcome.stdout
    assert "short test summary info" in outcome.stdout


def test_lines_fit_the_terminal_width(tmp_path: Path) -> None:
    outcome = _run(tmp_path, "--profile", MISCONFIGURED, columns=60)
    shown = section(outcome)
    # a pytest node id longer than the width (a check of checks/) stands alone on its line
    too_wide = [line for line in shown if len(line) > 60 and not line.startswith("report: ")
                and len(line.split()) > 1]
    assert too_wide == []
    assert "  role[WorkspacePackagesRead]     failed   ROLE_MISSING" in shown
    failures = outcome.stdout.split(" FAILURES ", 1)[1].split(" cpi-preflight ", 1)[0]
    # a word longer than the width (a client id) and a `cf` command are never cut, so that they
    # can be copied whole: such a line holds that word or that command alone
    too_wide = [line for line in failures.splitlines()
                if len(line) > 60 and not line.startswith("_") and len(line.split()) > 1
                and not line.strip().startswith("cf update-service ")]
    assert too_wide == []
    assert ("        cf update-service <instance> -c '{\"roles\":[\"MonitoringDataRead\","
            "\"WorkspacePackagesRead\",\"DataStoresAndQueuesRead\"],\"grant-types\":"
            "[\"client_credentials\"]}'") in failures.splitlines()
    assert "        cf service <instance> --params" in failures.splitlines()
