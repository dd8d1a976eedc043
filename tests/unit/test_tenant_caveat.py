"""Issue 18.3: a run is go-live evidence for a real tenant only when nothing says otherwise: a
simulated tenant (sandbox, `simulated: sandbox`, a host on this machine) or a host at a private
address is marked so in evidence.json, evidence.html and the job summary."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from markupsafe import escape

from cpi_preflight import urls
from cpi_preflight.reporting import document
from cpi_preflight.reporting import markdown as summary_page
from cpi_preflight.reporting.document import Document
from tests.unit.test_evidence import VALIDATOR, build, render_html, sample_plan

SANDBOX = "simulated tenant: the built-in sandbox of cpi-preflight (the profile's sandbox:)"
STARTED_ON_ITS_OWN = ("simulated tenant: a cpi-preflight sandbox started on its own (the "
                      "profile says simulated: sandbox)")
SIGN_OFF = "<div>Reviewer name</div>"


@pytest.mark.parametrize(("url", "kind"), [
    ("https://127.0.0.1:8443/api", "loopback"), ("https://127.9.9.9", "loopback"),
    ("https://[::1]:4443", "loopback"), ("https://localhost", "loopback"),
    ("https://LOCALHOST.:8443", "loopback"), ("https://cpi.localhost", "loopback"),
    ("https://0.0.0.0:8443", "loopback"), ("https://[::]", "loopback"),
    ("https://[::ffff:127.0.0.1]", "loopback"), ("https://127.1", "loopback"),
    ("https://2130706433", "loopback"), ("https://0x7f.1", "loopback"),
    ("https://10.20.30.40", "private"), ("https://172.16.0.1", "private"),
    ("https://172.31.255.254", "private"), ("https://192.168.1.10:443", "private"),
    ("https://[fd12:3456::1]", "private"), ("https://[fe80::1]", "private"),
    ("https://169.254.169.254", "private"), ("https://[::ffff:10.0.0.1]", "private"),
    ("https://172.32.0.1", ""), ("https://8.8.8.8", ""), ("https://[2001:db8::1]", ""),
    ("https://acme.it-cpi018.cfapps.eu10.hana.ondemand.com", ""),
    ("https://intranet.corp", ""), ("https://localhost.example.com", ""),
])
def test_address_kind(url: str, kind: str) -> None:
    assert urls.address_kind(url) == kind


def _built(**profile: Any) -> dict[str, Any]:
    the_plan = sample_plan()
    return build(replace(the_plan, profile=replace(the_plan.profile, **profile)))


@pytest.mark.parametrize(("profile", "caveat"), [
    ({}, ""),
    ({"sandbox": {}}, SANDBOX),
    ({"simulated": "sandbox"}, STARTED_ON_ITS_OWN),
    ({"api_url": "https://127.0.0.1:8443", "token_url": "https://127.0.0.1:8444/oauth/token"},
     "simulated tenant: the API host 127.0.0.1:8443 and the token host 127.0.0.1:8444 are on "
     "this machine (loopback), not SAP's tenant"),
    ({"token_url": "https://localhost/oauth/token"},
     "simulated tenant: the token host localhost is on this machine (loopback), not SAP's "
     "tenant"),
    ({"api_url": "https://10.1.2.3:8443"},
     "private address: the API host 10.1.2.3:8443 is not verifiable as SAP's tenant (an "
     "on-premise proxy, or a host that is not SAP's)"),
    ({"api_url": "https://10.1.2.3", "token_url": "https://[::1]:99/oauth/token"},
     "simulated tenant: the token host [::1]:99 is on this machine (loopback), not SAP's "
     "tenant"),
])
def test_the_record_says_whether_the_run_is_go_live_evidence(profile: dict[str, Any],
                                                             caveat: str) -> None:
    doc = _built(**profile)
    assert (doc["tenant"]["caveat"], doc["tenant"]["go_live_evidence"],
            doc["tenant"]["simulated"]) == (caveat, not caveat,
                                            caveat.startswith("simulated tenant"))
    assert not list(VALIDATOR.iter_errors(json.loads(json.dumps(doc))))


def test_a_real_tenant_page_is_go_live_evidence_with_a_sign_off() -> None:
    page = render_html(build())
    assert "<title>Go-live evidence: prod-cf</title>" in page
    assert 'id="not-evidence"' not in page
    assert 'id="simulated"' not in page
    assert SIGN_OFF in page


def test_a_private_address_page_says_why_it_is_not_go_live_evidence() -> None:
    doc = _built(api_url="https://192.168.7.7")
    caveat = doc["tenant"]["caveat"]
    page = render_html(doc)
    assert "<title>Not go-live evidence: prod-cf</title>" in page
    assert '<p class="simulated" id="simulated">private address</p>' in page
    assert ('<p class="not-evidence" id="not-evidence"><strong>Not go-live evidence for a real '
            f"tenant</strong>: {escape(caveat)}.</p>") in page
    assert SIGN_OFF not in page
    assert 'id="no-signoff"' in page


def test_an_incomplete_run_keeps_its_own_note() -> None:
    doc = _built(sandbox={})
    doc["summary"] = {**doc["summary"], "result": "incomplete", "not_run": 1}
    page = render_html(doc)
    assert 'id="incomplete"' in page
    assert 'id="no-signoff"' not in page


def test_the_summary_marks_each_profile() -> None:
    real, private, simulated = build(), _built(api_url="https://10.0.0.9"), _built(sandbox={})
    for doc, name in ((real, "real"), (private, "private"), (simulated, "sim")):
        doc["profile"] = {**doc["profile"], "name": name}
    lines = summary_page.render([Document(d) for d in (real, private, simulated)]).splitlines()
    rows = {line.split(" | ")[0][2:]: line for line in lines if line.startswith("| ")}
    assert rows["real"].endswith(" | yes |")
    assert rows["private"].endswith(" | no: private address |")
    assert rows["sim"].endswith(" | no: simulated tenant |")
    assert lines[lines.index(rows["sim"]) + 2:lines.index(rows["sim"]) + 4] == [
        "- **private** is not go-live evidence for a real tenant: private address: the API host "
        "10.0.0.9 is not verifiable as SAP's tenant (an on-premise proxy, or a host that is not "
        "SAP's)",
        f"- **sim** is not go-live evidence for a real tenant: {SANDBOX}"]


@pytest.mark.parametrize(("tenant", "caveat"), [
    ({"simulated": True}, "simulated tenant"), ({"simulated": False}, ""), ({}, ""),
    ({"go_live_evidence": False}, "not go-live evidence"), ("odd", ""), ({"caveat": 5}, ""),
    ({"caveat": "private address: x", "go_live_evidence": False}, "private address: x"),
])
def test_a_record_of_an_older_version_or_any_shape_reads_back(tenant: object,
                                                              caveat: str) -> None:
    assert Document({"tenant": tenant}).caveat == caveat
    assert document.SIMULATED == "simulated tenant"
