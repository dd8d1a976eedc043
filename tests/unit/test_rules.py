"""The rule registry: one rule per check kind, and a second registration is our bug."""

from __future__ import annotations

import pytest

from cpi_preflight import diagnosis
from cpi_preflight.findings import SKIPPED, Verdict
from cpi_preflight.plan import Check, CheckKind
from cpi_preflight.rules import RULES, Context, rule


def test_every_check_kind_has_exactly_one_rule() -> None:
    assert diagnosis.diagnose  # importing the diagnosis registers every rule
    assert set(RULES) == set(CheckKind)


def test_registering_a_second_rule_for_a_kind_is_an_assertion_error() -> None:
    def another_token_rule(ctx: Context, check: Check) -> Verdict:
        return Verdict(check, SKIPPED, "never")

    registered = RULES[CheckKind.TOKEN]
    with pytest.raises(AssertionError) as caught:
        rule(CheckKind.TOKEN)(another_token_rule)
    assert str(caught.value) == ("a rule for check kind 'token' is already registered: "
                                 "token_rule")
    assert RULES[CheckKind.TOKEN] is registered
