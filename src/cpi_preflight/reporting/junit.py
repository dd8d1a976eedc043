"""junit.xml: one testsuite per profile, one testcase per check, as CI tools read them.

A failed check is a <failure> whose type is the failure code and whose message names the thing
at fault and the fix; a skipped one (also one pytest did not run) is <skipped> with the reason.
JUnit has no warning state: a check that passed with warnings is named with them
(`least-privilege (WARNING EXCESS_ROLES)`, what GitLab's Tests tab shows of a passed testcase)
and its <system-out> holds a `WARNING CODE: message` line and the fix per warning.
The checks written by the team (the tests of `checks/` that ran for the profile) follow as
testcases of class `cpi_preflight.<profile>.checks`, named by their pytest node id, with their
assertion message. The testsuite's properties name the connection. Everything comes from the
masked document; each text is made visible line by line (`xml_safe`: `text.lines`, which also
drops what XML 1.0 cannot hold) before the XML serializer escapes it, so no mask can cut
through markup.

`junit_xml` is imported when a report is rendered, not when pytest starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cpi_preflight.findings import FAILED, SKIPPED
from cpi_preflight.reporting import outcomes
from cpi_preflight.reporting.document import CheckRow, Document
from cpi_preflight.reporting.outcomes import Shown
from cpi_preflight.text import lines

WARNING = "WARNING"  # how a warning is marked where JUnit has no state for it
OWN_CLASS = "checks"  # the classname suffix of the team's own checks (checks/)

if TYPE_CHECKING:
    from junit_xml import TestCase


def xml_safe(text: str) -> str:
    """`text` (of our making, several lines) with each line made visible text (`text.lines`):
    what XML 1.0 cannot hold (C0 controls, lone surrogates, U+FFFE/U+FFFF) is dropped."""
    return lines(text)


def _stdout(check: CheckRow) -> str:
    """The check's summary, then `WARNING CODE: message` and its fix per warning; a summary
    that is a warning's message is said once, on the warning's line."""
    warned = {w.message for w in check.warnings}
    head = [] if check.summary in warned else [check.summary]
    return "\n".join([*head, *(f"{WARNING} {w.code}: {w.message}\n  fix: {w.fix}"
                                for w in check.warnings)])


def case_name(check: CheckRow) -> str:
    """The testcase's name: the check id, and for a check that passed with warnings its codes
    (`least-privilege (WARNING EXCESS_ROLES)`): JUnit has no warning state, and GitLab's Tests
    tab shows a passed testcase's name and status only, never its output."""
    if check.shown != Shown.WARNING:
        return check.id
    return f"{check.id} ({WARNING} {', '.join(dict.fromkeys(w.code for w in check.warnings))})"


def _left_out(check: CheckRow) -> str:
    return f"\n{outcomes.left_out_words(check.left_out)}" if check.left_out else ""


def _case(profile_name: str, check: CheckRow) -> TestCase:
    from junit_xml import TestCase

    elapsed = check.elapsed_ms
    case = TestCase(name=case_name(check), classname=f"cpi_preflight.{profile_name}",
                    elapsed_sec=elapsed / 1000 if elapsed is not None else None,
                    stdout=xml_safe(_stdout(check) + _left_out(check)))
    if check.outcome == FAILED:
        first = check.failures[0] if check.failures else None
        case.add_failure_info(
            message=xml_safe(f"{first.message} -- fix: {first.fix}" if first else ""),
            output=xml_safe("\n".join(f.text() for f in check.failures) + _left_out(check)),
            failure_type=first.code if first else "")
    elif check.outcome == SKIPPED:
        case.add_skipped_info(message=xml_safe(check.summary))
    return case


def _own_case(profile_name: str, check: CheckRow) -> TestCase:
    """A check of the team's (`checks/`): its outcome, message and duration."""
    from junit_xml import TestCase

    elapsed = check.elapsed_ms
    case = TestCase(name=check.id, classname=f"cpi_preflight.{profile_name}.{OWN_CLASS}",
                    elapsed_sec=elapsed / 1000 if elapsed is not None else None)
    if check.outcome == FAILED:
        case.add_failure_info(message=xml_safe(check.summary), output=xml_safe(check.summary))
    elif check.outcome == SKIPPED:
        case.add_skipped_info(message=xml_safe(check.summary))
    return case


def _properties(document: Document) -> dict[str, str]:
    profile, tool = document.section("profile"), document.section("tool")
    values = {
        "environment": document.environment, "api_url": document.details.get("api_url", ""),
        "token_url": document.details.get("token_url", ""),
        "client_id": document.section("client").get("id", ""),
        "profile_file": profile.get("file", ""),
        "tool": f"{tool.get('name', '')} {tool.get('version', '')}",
    }
    return {key: xml_safe(str(value)) for key, value in values.items()}


XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'


def render(document: Document) -> str:
    """The JUnit XML of one profile's document."""
    from junit_xml import TestSuite, to_xml_report_string

    cases = [_case(document.name, check) for check in document.checks()]
    cases += [_own_case(document.name, check) for check in document.user_checks()]
    suite = TestSuite(name=document.name, test_cases=cases, properties=_properties(document))
    # not pretty-printed: junit_xml pretty-prints by parsing its output again with minidom,
    # which took three quarters of this renderer's time; CI systems read either
    body = str(to_xml_report_string([suite], prettyprint=False, encoding="utf-8"))
    return f'{XML_DECLARATION}\n{body}\n'

