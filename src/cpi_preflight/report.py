"""Reporters: files written from the verdicts of a run. Rendering is pure; writing is last.

`<reports-dir>/<profile>/junit.xml`: one testsuite per profile, one testcase per check; a failed
check is a <failure> whose type is the failure code and whose message names the thing at fault
and the fix. Every text passes the secret scrubber before it is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from junit_xml import TestCase, TestSuite, to_xml_report_string

from cpi_preflight import __version__
from cpi_preflight.findings import FAILED, SKIPPED, Verdict
from cpi_preflight.plan import Plan
from cpi_preflight.secret import scrub


def _case(profile_name: str, verdict: Verdict) -> TestCase:
    elapsed = verdict.facts.get("elapsed_ms")
    case = TestCase(
        name=verdict.check.id, classname=f"cpi_preflight.{profile_name}",
        elapsed_sec=(float(elapsed) / 1000) if isinstance(elapsed, int | float) else None,
        stdout=verdict.summary,
    )
    if verdict.outcome == FAILED:
        first = verdict.failures[0]
        case.add_failure_info(message=f"{first.message} -- fix: {first.fix}",
                              output="\n".join(f.text() for f in verdict.failures),
                              failure_type=first.code)
    elif verdict.outcome == SKIPPED:
        case.add_skipped_info(message=verdict.summary)
    for warning in verdict.warnings:
        case.stdout = f"{case.stdout}\nwarning {warning.text()}"
    return case


def junit_xml(plan: Plan, verdicts: Iterable[Verdict]) -> str:
    """The JUnit XML document for one profile."""
    prof = plan.profile
    suite = TestSuite(
        name=prof.name,
        test_cases=[_case(prof.name, v) for v in verdicts],
        properties={
            "environment": prof.environment,
            "api_url": prof.api_url,
            "token_url": prof.token_url,
            "client_id": prof.client_id,
            "profile_file": str(prof.path),
            "tool": f"cpi-preflight {__version__}",
        },
    )
    return scrub(to_xml_report_string([suite], prettyprint=True, encoding="utf-8"))


def write_text(path: Path, text: str) -> Path:
    """Write scrubbed `text` to `path`, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(scrub(text), encoding="utf-8")
    return path


def write_junit(reports_dir: Path, plan: Plan, verdicts: Iterable[Verdict]) -> Path:
    """Write `<reports_dir>/<profile>/junit.xml`."""
    return write_text(reports_dir / plan.profile.name / "junit.xml", junit_xml(plan, verdicts))
