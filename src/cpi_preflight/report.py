"""Reporters: files written from the verdicts of a run. Rendering is pure; writing is last.

`<reports-dir>/<profile>/junit.xml`: one testsuite per profile, one testcase per check; a failed
check is a <failure> whose type is the failure code and whose message names the thing at fault
and the fix. Every text is masked (secret scrubber) and cleaned line by line (`text.lines`: no
escape sequence, control, bidi or other character XML cannot hold) *before* it goes to the XML
serializer, so no mask can cut through markup.

Writing is atomic and never through a symbolic link (`files.write_text`). At the start of a
run the previous reports of its profiles are removed (`remove_previous`), so an interrupted run
leaves no report that reads as the current result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from junit_xml import TestCase, TestSuite, to_xml_report_string

from cpi_preflight import __version__, files
from cpi_preflight.errors import ConfigError
from cpi_preflight.files import shown_path
from cpi_preflight.findings import FAILED, SKIPPED, Verdict
from cpi_preflight.plan import Plan
from cpi_preflight.secret import scrub, scrub_all
from cpi_preflight.text import lines

REPORT_FILES = ("junit.xml", "evidence.json", "evidence.html")


def xml_safe(texts: Sequence[str]) -> list[str]:
    """`texts` masked, then each line made visible text (`text.lines`): what XML 1.0 cannot
    hold (C0 controls, lone surrogates, U+FFFE/U+FFFF) is dropped with the rest."""
    return [lines(t) for t in scrub_all(texts)]


def _fields(verdict: Verdict) -> list[str]:
    """The texts of one testcase, in the order `_case` takes them."""
    first = verdict.failures[0] if verdict.failures else None
    warnings = "".join(f"\nwarning {w.text()}" for w in verdict.warnings)
    return [verdict.summary + warnings,
            f"{first.message} -- fix: {first.fix}" if first else "",
            "\n".join(f.text() for f in verdict.failures), verdict.summary]


def _case(profile_name: str, verdict: Verdict, texts: Sequence[str]) -> TestCase:
    stdout, message, output, skip = texts
    elapsed = verdict.elapsed_ms
    case = TestCase(
        name=verdict.check.id, classname=f"cpi_preflight.{profile_name}",
        elapsed_sec=elapsed / 1000 if elapsed is not None else None,
        stdout=stdout,
    )
    if verdict.outcome == FAILED:
        case.add_failure_info(message=message, output=output,
                              failure_type=verdict.failures[0].code)
    elif verdict.outcome == SKIPPED:
        case.add_skipped_info(message=skip)
    return case


def junit_xml(plan: Plan, verdicts: Iterable[Verdict]) -> str:
    """The JUnit XML document for one profile."""
    prof, listed = plan.profile, list(verdicts)
    properties = {
        "environment": prof.environment, "api_url": prof.api_url,
        "token_url": prof.token_url, "client_id": prof.client_id,
        "profile_file": shown_path(prof.path), "tool": f"cpi-preflight {__version__}",
    }
    per_case = 4
    texts = xml_safe([t for v in listed for t in _fields(v)] + list(properties.values()))
    cases = [_case(prof.name, v, texts[i * per_case:(i + 1) * per_case])
             for i, v in enumerate(listed)]
    clean_properties = dict(zip(properties, texts[len(listed) * per_case:], strict=True))
    suite = TestSuite(name=prof.name, test_cases=cases, properties=clean_properties)
    return str(to_xml_report_string([suite], prettyprint=True, encoding="utf-8"))


def write_junit(reports_dir: Path, plan: Plan, verdicts: Iterable[Verdict]) -> Path:
    """Write `<reports_dir>/<profile>/junit.xml`."""
    return files.write_text(reports_dir / plan.profile.name / "junit.xml",
                            junit_xml(plan, verdicts))


def check_reports_dir(reports_dir: Path, names: Iterable[str]) -> None:
    """Before any request: `reports_dir` must be (or become) a writable folder, and no report
    a run writes may be a symbolic link. Raises `ConfigError` (a usage error, exit 4)."""
    option = f"--reports-dir {reports_dir}"
    try:
        files.check_writable_dir(reports_dir)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and exc.filename != str(reports_dir) else ""
        raise ConfigError(f"{option}: cannot write reports there{where}: {exc.strerror}; "
                          "give a writable folder with --reports-dir=DIR") from None
    for name in names:
        folder = reports_dir / name
        for path in (folder, *(folder / f for f in REPORT_FILES)):
            if path.is_symlink():
                raise ConfigError(f"{option}: {path} is a symbolic link; cpi-preflight does "
                                  "not write through links: remove it, or choose another "
                                  "--reports-dir")
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"{option}: {folder} is not a folder; remove it or choose "
                              "another --reports-dir")


def remove_previous(reports_dir: Path, names: Iterable[str]) -> None:
    """Delete the reports an earlier run wrote for `names` (links themselves, not targets)."""
    for name in names:
        for report in REPORT_FILES:
            (reports_dir / name / report).unlink(missing_ok=True)


__all__ = ["REPORT_FILES", "check_reports_dir", "junit_xml", "remove_previous", "scrub",
           "write_junit", "xml_safe"]
