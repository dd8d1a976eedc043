"""hosts: which host is which, from data/hosts.yaml (every entry sourced), before any call."""

from __future__ import annotations

import re

import pytest

from cpi_preflight import hosts
from cpi_preflight.profile import normalize_api_url
from cpi_preflight.transport import proxy_for

CONFIDENCE = {"documented", "inferred", "unconfirmed"}


def _entries() -> list[dict[str, object]]:
    data = hosts.data()
    entries = [*data["api_hosts"]["documented"], *data["api_hosts"]["wrong"],
               *data["token_hosts"], data["ui_paths"], data["router"], data["proxy"],
               *data["rate_limits"].values(), data["edge_integration_cell"]]
    assert set(data) == {"schema", "sources", "api_hosts", "ui_paths", "token_hosts", "router",
                         "proxy", "rate_limits", "edge_integration_cell"}  # all of them read here
    return entries


def test_every_entry_names_a_known_source_and_a_confidence() -> None:
    sources = hosts.data()["sources"]
    for entry in _entries():
        assert entry["source"] in sources, entry
        assert entry["confidence"] in CONFIDENCE, entry
        for key in ("meaning_confidence", "cloud_check_confidence"):
            assert entry.get(key, "documented") in CONFIDENCE, entry


def test_every_pattern_is_anchored_and_compiles() -> None:
    for entry in _entries():
        if "pattern" in entry:
            pattern = str(entry["pattern"])
            assert pattern.startswith("^"), pattern
            assert pattern.endswith("$"), pattern
            re.compile(pattern)


@pytest.mark.parametrize(("api_url", "right"), [
    ("https://sub.it-cpi018-rt.cfapps.eu10.hana.ondemand.com",
     "https://sub.it-cpi018.cfapps.eu10.hana.ondemand.com"),
    ("https://SUB.IT-CPI018-RT.cfapps.eu10-004.hana.ondemand.com:443",
     "https://sub.it-cpi018.cfapps.eu10-004.hana.ondemand.com"),
    ("https://sub.integrationsuite.cfapps.us10.hana.ondemand.com",
     "https://sub.it-cpi<nnn>.cfapps.us10.hana.ondemand.com"),
    ("https://sub.integrationsuite-trial.cfapps.us10.hana.ondemand.com",
     "https://sub.it-cpi<nnn>.cfapps.us10.hana.ondemand.com"),
    ("https://l5470-iflmap.hcisbp.us2.hana.ondemand.com",
     "https://l5470-tmn.hcisbp.us2.hana.ondemand.com"),
])
def test_wrong_api_hosts_are_named_with_the_host_to_use(api_url: str, right: str) -> None:
    wrong = hosts.wrong_api_host(api_url)
    assert wrong is not None
    assert wrong.right == right
    assert not hosts.is_documented_api_host(api_url)


@pytest.mark.parametrize("api_url", [
    "https://sub.it-cpi018.cfapps.eu10.hana.ondemand.com",
    "https://12345abc.it-xyz789.cfapps.us10-001.hana.ondemand.com",  # SAP's own example
    "https://acct-tmn.hci.eu1.hana.ondemand.com",
])
def test_the_documented_api_hosts_are_not_wrong(api_url: str) -> None:
    assert hosts.wrong_api_host(api_url) is None
    assert hosts.is_documented_api_host(api_url)


@pytest.mark.parametrize("api_url", [
    "https://tenant.example.com", "https://127.0.0.1:8443", "https://rt.example.com",
    "https://my-rt.cfapps.example.com", "https://integrationsuite.example.com", "", "not a url",
])
def test_other_hosts_are_neither_wrong_nor_documented(api_url: str) -> None:
    assert hosts.wrong_api_host(api_url) is None
    assert not hosts.is_documented_api_host(api_url)


@pytest.mark.parametrize(("token_url", "documented", "certificate"), [
    ("https://sub.authentication.eu10.hana.ondemand.com/oauth/token", True,
     "https://sub.authentication.cert.eu10.hana.ondemand.com/oauth/token"),
    ("https://sub.authentication.sap.hana.ondemand.com/oauth/token/", True,
     "https://sub.authentication.cert.sap.hana.ondemand.com/oauth/token"),
    ("https://sub.authentication.cert.eu10.hana.ondemand.com/oauth/token", True, None),
    ("https://oauthasservices-acct.hana.ondemand.com/oauth2/api/v1/token", True, None),
    ("https://sub.authentication.eu10.hana.ondemand.com/login", False,
     "https://sub.authentication.cert.eu10.hana.ondemand.com/oauth/token"),
    ("https://sub.authentication.example.com/oauth/token", False, None),
    ("http://127.0.0.1:8080/oauth/token", False, None),
])
def test_token_urls(token_url: str, documented: bool, certificate: str | None) -> None:
    assert hosts.is_documented_token_url(token_url) is documented
    assert hosts.certificate_token_url(token_url) == certificate
    assert hosts.is_certificate_token_url(token_url) is (".cert." in token_url)


@pytest.mark.parametrize(("given", "api_url"), [
    ("https://acct-tmn.hci.eu1.hana.ondemand.com/itspaces/shell/integration",
     "https://acct-tmn.hci.eu1.hana.ondemand.com"),
    ("https://sub.it-cpi018.cfapps.eu10.hana.ondemand.com/itspaces/",
     "https://sub.it-cpi018.cfapps.eu10.hana.ondemand.com"),
    ("https://sub.integrationsuite.cfapps.eu10.hana.ondemand.com/shell/home",
     "https://sub.integrationsuite.cfapps.eu10.hana.ondemand.com"),
    ("https://sub.integrationsuite.cfapps.eu10.hana.ondemand.com/Shell#/monitoring",
     "https://sub.integrationsuite.cfapps.eu10.hana.ondemand.com"),
    ("https://host.example/shellfish/api/v1", "https://host.example/shellfish"),
    ("https://host.example/cpi/itspaces", "https://host.example/cpi/itspaces"),
    ("https://host.example/api/v1/", "https://host.example"),
])
def test_ui_paths_pass_through_normalize_api_url(given: str, api_url: str) -> None:
    assert normalize_api_url(given) == api_url


@pytest.mark.parametrize(("api_url", "edge"), [
    ("https://edge-runtime.acme.com/local/api/v1", True),
    ("https://edge-runtime.acme.com/LOCAL", True),
    ("https://edge-runtime.acme.com/locally", False),
    ("https://edge-runtime.acme.com", False),
])
def test_edge_integration_cell_local_paths(api_url: str, edge: bool) -> None:
    assert hosts.is_edge_local(normalize_api_url(api_url)) is edge


def test_the_path_after_the_host() -> None:
    assert hosts.path_after_host("https://h.example/cpi/") == "/cpi"
    assert hosts.path_after_host("https://h.example") == ""


def test_the_router_s_unknown_route_is_explained_and_nothing_else() -> None:
    assert hosts.router_error("unknown_route") == (
        "no application has this host name, which usually means the tenant was deleted, the "
        "trial expired, or the host name is mistyped")
    assert hosts.router_error("endpoint_failure") == ""
    assert hosts.router_error("") == ""


ENV = {"HTTPS_PROXY": "http://user:p%40ss@proxy.corp:3128", "HTTP_PROXY": "http://plain:8080",
       "NO_PROXY": ".internal.corp,hana.ondemand.com,10.1.2.3,localhost"}


@pytest.mark.parametrize(("url", "proxy"), [
    ("https://api.example.com/x", "HTTPS_PROXY=http://***@proxy.corp:3128"),
    ("http://api.example.com/x", "HTTP_PROXY=http://plain:8080"),
    ("https://sub.authentication.eu10.hana.ondemand.com/oauth/token", ""),  # a subdomain
    ("https://hana.ondemand.com/", ""),  # the name itself
    ("https://xhana.ondemand.com/", "HTTPS_PROXY=http://***@proxy.corp:3128"),
    ("https://a.internal.corp/", ""),
    ("https://internal.corp/", "HTTPS_PROXY=http://***@proxy.corp:3128"),  # .name: below only
    ("https://10.1.2.3/", ""),
    ("https://10.1.2.30/", "HTTPS_PROXY=http://***@proxy.corp:3128"),
    ("https://localhost:8443/", ""),
    ("http://127.0.0.1:8080/", ""),  # plain-http loopback is always reached directly
])
def test_proxy_for_reads_the_variables_as_httpx_does(url: str, proxy: str) -> None:
    assert proxy_for(url, ENV) == proxy


def test_proxy_for_prefers_the_lowercase_spelling_and_falls_back_to_all_proxy() -> None:
    assert proxy_for("https://x.example", {"https_proxy": "p:1", "HTTPS_PROXY": "q:2"}) == (
        "https_proxy=p:1")
    assert proxy_for("https://x.example", {"ALL_PROXY": "http://a:3"}) == "ALL_PROXY=http://a:3"
    assert proxy_for("https://x.example", {"NO_PROXY": "*", "ALL_PROXY": "http://a:3"}) == ""
    assert proxy_for("https://x.example", {}) == ""


# --- pinned by mutation testing (mutation/run hosts) -------------------------------------


def test_a_url_httpx_cannot_read_has_no_host_and_no_path() -> None:
    assert hosts.host_of("https://[zz]/oauth/token") == ""
    assert hosts.path_after_host("https://[zz]/api") == ""


def test_a_trailing_slash_is_all_that_is_stripped_from_a_path() -> None:
    assert hosts.path_after_host("https://h.example/api/X") == "/api/X"
    assert not hosts.is_documented_token_url(
        "https://sub.authentication.eu10.hana.ondemand.com/oauth/tokenX")


def test_a_certificate_client_s_wrong_token_url_names_the_whole_host() -> None:
    wrong = hosts.wrong_certificate_token_url(
        "https://sub.authentication.eu10.hana.ondemand.com/oauth/token")
    assert wrong == hosts.WrongHost(
        "sub.authentication.eu10.hana.ondemand.com",
        "XSUAA's plain host, which does not ask for the client certificate and answers 401",
        "https://sub.authentication.cert.eu10.hana.ondemand.com/oauth/token", "documented")


def test_an_upper_case_scheme_still_has_a_first_path_segment() -> None:
    assert hosts.is_edge_local("HTTPS://Edge-Runtime.acme.com/local/api/v1")
