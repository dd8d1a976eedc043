"""The pytest nodes: a profile file collected as a suite of checks, one item per check."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from cpi_preflight.errors import VerdictFailedError
from cpi_preflight.plan import Check, Plan
from cpi_preflight.secret import scrub

if TYPE_CHECKING:
    from cpi_preflight.run import Run


class ProfileFile(pytest.File):
    """A profile YAML, collected as the checks its plan contains."""

    run: Run
    plan: Plan

    def collect(self) -> Iterator[CheckItem]:
        for check in self.plan.checks:
            # The id given as text, as pytest would parse it back from its cache: a check id
            # such as role[X] looks parametrized, and pytest 9's --lf/--ff compare parsed ids.
            yield CheckItem.from_parent(self, name=check.id, nodeid=f"{self.nodeid}::{check.id}",
                                        check=check)


class CheckItem(pytest.Item):
    """One check of one profile; its outcome is the verdict of the diagnosis."""

    def __init__(self, *, check: Check, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.add_marker(pytest.mark.cpi_preflight)
        self.keywords[check.kind] = True

    @property
    def profile_name(self) -> str:
        assert isinstance(self.parent, ProfileFile)
        return self.parent.plan.profile.name

    def runtest(self) -> None:
        # the verdicts' words and the terminal's: a run's, never collection's
        from cpi_preflight.findings import FAILED, SKIPPED
        from cpi_preflight.reporting import terminal

        assert isinstance(self.parent, ProfileFile)
        self.parent.run.ran.add((self.profile_name, self.check.id))
        verdict = self.parent.run.verdict(self.profile_name, self.check.id)
        self.user_properties.append(("code", verdict.code))
        if verdict.outcome == FAILED:
            raise VerdictFailedError(verdict.summary)  # `repr_failure` shows its findings
        if verdict.outcome == SKIPPED:
            pytest.skip(terminal.printable(verdict.summary))
        for warning in verdict.warnings:
            self.user_properties.append(("warning", f"{warning.code}: {warning.message}"))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, VerdictFailedError):
            from cpi_preflight.reporting import terminal  # a run's, never collection's

            assert isinstance(self.parent, ProfileFile)
            width = self.config.get_terminal_writer().fullwidth
            verdict = self.parent.run.verdict(self.profile_name, self.check.id)
            return "\n".join(terminal.fitted(finding, width) for finding in verdict.failures)
        return scrub(str(super().repr_failure(excinfo)))

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"{self.profile_name}: {self.check.title}"
