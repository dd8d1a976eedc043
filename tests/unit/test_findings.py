"""The typed facts of verdicts, and what the readers after the diagnosis take from them."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from cpi_preflight import catalog, plan
from cpi_preflight.claims import TokenFacts
from cpi_preflight.findings import (
    FAILED,
    PASSED,
    SKIPPED,
    EndpointAnswer,
    Finding,
    RoleFacts,
    TokenAnswer,
    Verdict,
)
from cpi_preflight.observation import ProfileObservations
from cpi_preflight.rules import Context

from .conftest import NOW, cf_data, parse
from .test_evidence import junit_xml

CAT = catalog.load()
TOKEN = TokenFacts(format="jwt", zone="zone-1", scopes=("it!b1.NodeManager.read",))
MISSING = Finding("ROLE_MISSING", catalog.Severity.FAILURE, "R", "role R is missing", "add R")
REJECTED = Finding("CLIENT_CREDENTIALS_REJECTED", catalog.Severity.FAILURE, "c", "rejected",
                   "fix it")


def built() -> plan.Plan:
    return plan.build(parse(cf_data(endpoints=["MessageProcessingLogs", "IntegrationPackages"])),
                      CAT)


def context(the_plan: plan.Plan, *verdicts: Verdict) -> Context:
    return Context(the_plan, ProfileObservations("t"), CAT, NOW,
                   {v.check.id: v for v in verdicts})


def test_the_context_reads_the_token_from_the_token_verdict_once_it_passed() -> None:
    the_plan = built()
    check = the_plan.check(plan.TOKEN)
    assert context(the_plan).token is None
    failed = Verdict(check, FAILED, "rejected", (REJECTED,), TokenAnswer(401))
    assert context(the_plan, failed).token is None
    passed = Verdict(check, PASSED, "issued", facts=TokenAnswer(200, 12.0, TOKEN))
    assert context(the_plan, passed).token is TOKEN


def _times(verdicts: list[Verdict]) -> dict[str, str | None]:
    suite = ET.fromstring(junit_xml(built(), verdicts))
    return {case.get("name", ""): case.get("time") for case in suite.iter("testcase")}


def test_junit_times_a_check_by_the_call_its_facts_time() -> None:
    the_plan = built()
    mpl, packages = (the_plan.check(plan.endpoint_check_id(name))
                     for name in ("MessageProcessingLogs", "IntegrationPackages"))
    role = the_plan.check(plan.role_check_id("MonitoringDataRead"))
    assert _times([
        Verdict(the_plan.check(plan.TOKEN), PASSED, "issued",
                facts=TokenAnswer(200, 250.0, TOKEN)),
        Verdict(mpl, PASSED, "answered", facts=EndpointAnswer("/MessageProcessingLogs", 200,
                                                                1500.0)),
        Verdict(packages, FAILED, "403", (MISSING,),
                EndpointAnswer("/IntegrationPackages", 403, None)),
        Verdict(role, SKIPPED, "cannot be decided", facts=RoleFacts("unknown", None)),
    ]) == {"token": "0.250000", "endpoint[MessageProcessingLogs]": "1.500000",
           "endpoint[IntegrationPackages]": None, "role[MonitoringDataRead]": None}
