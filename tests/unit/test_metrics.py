"""The metrics file (`reporting.metrics`): OpenMetrics text of a run's documents, parsed back
with prometheus_client's own OpenMetrics parser; labels only from the tool's vocabulary."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from cpi_preflight import command_line, plugin
from cpi_preflight.errors import ConfigError
from cpi_preflight.findings import Finding
from cpi_preflight.observation import Exchange, ProfileObservations, TlsCertificate
from cpi_preflight.reporting import document, evidence, metrics, reports
from cpi_preflight.reporting.document import Document
from cpi_preflight.secret import Secret

from .test_evidence import (
    STARTED,
    TOKEN_URL,
    sample_observations,
    sample_plan,
    sample_verdicts,
)

HOSTILE_SECRET = "s3cr3t&<>\"'$"
SERVER_TEXT = "denied by the tenant"
API_HOST = "acme.it-cpi018.cfapps.eu10.hana.ondemand.com"
TOKEN_HOST = "acme.authentication.eu10.hana.ondemand.com"
NAMES = ["cpi_preflight_check_outcome", "cpi_preflight_token_latency_seconds",
         "cpi_preflight_endpoint_latency_seconds", "cpi_preflight_certificate_expiry_days",
         "cpi_preflight_run_timestamp_seconds"]
UNITS = {"cpi_preflight_check_outcome": "", "cpi_preflight_token_latency_seconds": "seconds",
         "cpi_preflight_endpoint_latency_seconds": "seconds",
         "cpi_preflight_certificate_expiry_days": "days",
         "cpi_preflight_run_timestamp_seconds": "seconds"}
SHOWN = ["failed", "warning", "passed", "skipped", "not_run"]
# the sample run's checks as the reports show them: (check, code, outcome)
CHECKS = [
    ("token", "", "passed"),
    ("api", "", "passed"),
    ("role[WorkspacePackagesRead]", "ROLE_MISSING", "failed"),
    ("role[MonitoringDataRead]", "", "passed"),
    ("endpoint[MessageProcessingLogs]", "", "passed"),
    ("endpoint[IntegrationPackages]", "", "skipped"),
    ("least-privilege", "EXCESS_ROLES", "warning"),
    ("tls-expiry", "", "not_run"),  # no verdict: pytest did not run it
]


def _certificate(host: str, not_after: str) -> TlsCertificate:
    return TlsCertificate(host, f"CN={host}", "CN=Some CA", not_after)


def observations() -> ProfileObservations:
    """The sample run's observations with a token answer and the certificates read."""
    seen = sample_observations()
    seen.token = Exchange("POST", TOKEN_URL, 200, elapsed_ms=95.25)
    seen.server_certificates = {
        TOKEN_HOST: _certificate(TOKEN_HOST, "2025-06-30T10:00:00+00:00"),  # 60 days
        API_HOST: _certificate(API_HOST, "2025-05-21T04:00:00+00:00"),  # 19.75 days
    }
    seen.client_certificate = _certificate("client certificate", "2025-04-29T10:00:00+00:00")
    return seen


def built(name: str = "prod-cf", seen: ProfileObservations | None = None,
          **keys: Any) -> Document:
    the_plan = sample_plan(**keys)
    the_plan = replace(the_plan, profile=replace(the_plan.profile, name=name))
    return document.build(the_plan, seen or observations(), sample_verdicts(the_plan),
                          started_at=STARTED, duration_s=1.5, token=None, trust="system CAs",
                          proxy="direct", baseline=None)


def parsed(text: str) -> dict[str, tuple[str, str, list[tuple[dict[str, str], float]]]]:
    """name -> (type, unit, [(labels, value)]), as prometheus_client's parser reads the text."""
    return {f.name: (f.type, f.unit, [(s.labels, s.value) for s in f.samples])
            for f in text_string_to_metric_families(text)}


def outcome_samples(profile: str) -> list[tuple[dict[str, str], float]]:
    return [({"profile": profile, "check": check, "code": code, "outcome": shown},
             1.0 if shown == outcome else 0.0)
            for check, code, outcome in CHECKS for shown in SHOWN]


# --- what the file holds ----------------------------------------------------------------------


def test_one_profile_gives_every_family_with_exact_names_labels_and_values() -> None:
    text = metrics.render([built()])
    found = parsed(text)
    assert list(found) == NAMES
    assert {name: (kind, unit) for name, (kind, unit, _) in found.items()} == {
        name: ("gauge", unit) for name, unit in UNITS.items()}
    assert found["cpi_preflight_check_outcome"][2] == outcome_samples("prod-cf")
    assert found["cpi_preflight_token_latency_seconds"][2] == [({"profile": "prod-cf"}, 0.09525)]
    assert found["cpi_preflight_endpoint_latency_seconds"][2] == [
        ({"profile": "prod-cf", "endpoint": "MessageProcessingLogs"}, 0.1234),
        ({"profile": "prod-cf", "endpoint": "IntegrationPackages"}, 0.088)]  # a 403 answered
    assert found["cpi_preflight_certificate_expiry_days"][2] == [
        ({"profile": "prod-cf", "certificate": "client"}, -2.0),
        ({"profile": "prod-cf", "certificate": "token-host"}, 60.0),
        ({"profile": "prod-cf", "certificate": "api-host"}, 19.75)]
    assert found["cpi_preflight_run_timestamp_seconds"][2] == [
        ({"profile": "prod-cf"}, STARTED.timestamp())]


def test_the_text_is_openmetrics_with_help_type_unit_and_eof() -> None:
    lines = metrics.render([built()]).splitlines(keepends=True)
    assert lines[:2] == [
        "# HELP cpi_preflight_check_outcome Outcome of a cpi-preflight check in the last run: 1 "
        "for the outcome it had, 0 for the others; code is its first failure or warning code.\n",
        "# TYPE cpi_preflight_check_outcome gauge\n"]
    assert lines[2] == ('cpi_preflight_check_outcome{profile="prod-cf",check="token",code="",'
                        'outcome="failed"} 0\n')
    start = lines.index("# TYPE cpi_preflight_token_latency_seconds gauge\n")
    assert lines[start - 1:start + 3] == [
        "# HELP cpi_preflight_token_latency_seconds Time the token endpoint took to answer in "
        "the last run.\n",
        "# TYPE cpi_preflight_token_latency_seconds gauge\n",
        "# UNIT cpi_preflight_token_latency_seconds seconds\n",
        'cpi_preflight_token_latency_seconds{profile="prod-cf"} 0.09525\n']
    assert lines[-2:] == ['cpi_preflight_run_timestamp_seconds{profile="prod-cf"} 1746093600\n',
                          "# EOF\n"]


def test_every_family_is_a_gauge_with_a_plain_help_and_its_unit_as_suffix() -> None:
    for family in metrics.FAMILIES:
        assert family.name.startswith("cpi_preflight_")
        assert not set(family.help) & {"\\", '"', "\n"}, family.name  # node_exporter's parser
        assert not family.unit or family.name.endswith(f"_{family.unit}")
    assert [f.name for f in metrics.FAMILIES] == NAMES


def test_the_profiles_of_a_run_share_one_block_per_family() -> None:
    """OpenMetrics allows each family once: the documents of all profiles are rendered
    together, each family's samples of every profile in one block, in the run's order."""
    first, second = built("prod-cf"), built("test-cf")
    found = parsed(metrics.render([first, second]))
    assert found["cpi_preflight_check_outcome"][2] == (outcome_samples("prod-cf")
                                                       + outcome_samples("test-cf"))
    assert [labels["profile"] for labels, _ in found["cpi_preflight_run_timestamp_seconds"][2]
            ] == ["prod-cf", "test-cf"]
    glued = metrics.render([first]).removesuffix("# EOF\n") + metrics.render([second])
    with pytest.raises(ValueError, match="Clashing name"):  # why render takes every document
        parsed(glued)


def test_a_profile_given_twice_is_rendered_once() -> None:
    doc = built()
    assert metrics.render([doc, doc]) == metrics.render([doc])


def test_a_run_without_documents_is_an_empty_exposition() -> None:
    assert metrics.render([]) == "# EOF\n"
    assert parsed(metrics.render([])) == {}


def test_without_an_answer_there_is_no_latency_and_without_tls_no_expiry() -> None:
    seen = observations()
    seen.token = Exchange("POST", TOKEN_URL, None, elapsed_ms=5000.0)  # timed out
    seen.server_certificates, seen.client_certificate = {}, None
    seen.endpoints = {}
    found = parsed(metrics.render([built(seen=seen)]))
    assert list(found) == ["cpi_preflight_check_outcome", "cpi_preflight_run_timestamp_seconds"]


def test_a_token_refused_with_an_answer_still_has_its_latency() -> None:
    seen = observations()
    seen.token = Exchange("POST", TOKEN_URL, 401, elapsed_ms=40.0)
    found = parsed(metrics.render([built(seen=seen)]))
    assert found["cpi_preflight_token_latency_seconds"][2] == [({"profile": "prod-cf"}, 0.04)]


def test_server_certificates_are_matched_to_the_profiles_hosts_as_httpx_names_them() -> None:
    """The probe keys server certificates by httpx's netloc: lower-case, default port left
    out; a profile's URL may be written otherwise."""
    seen = observations()
    seen.client_certificate = None
    doc = built(seen=seen, api_url="https://ACME.it-cpi018.cfapps.eu10.hana.ondemand.com:443",
                token_url=TOKEN_URL.replace("https://", "HTTPS://"))
    assert doc.details["expiry"] == [
        {"kind": "token-host", "expires_at": "2025-06-30T10:00:00Z"},
        {"kind": "api-host", "expires_at": "2025-05-21T04:00:00Z"}]


def test_a_document_read_back_from_its_file_gives_what_its_record_holds() -> None:
    """No details in a file: no token latency, no expiry; outcomes, endpoint times and the
    time of the run come from the record."""
    loaded = Document(json.loads(evidence.render(built())))
    found = parsed(metrics.render([loaded]))
    assert list(found) == ["cpi_preflight_check_outcome", "cpi_preflight_endpoint_latency_seconds",
                           "cpi_preflight_run_timestamp_seconds"]
    assert found["cpi_preflight_check_outcome"][2] == outcome_samples("prod-cf")


@pytest.mark.parametrize("odd", [
    {},
    {"profile": {"name": "p"}, "checks": 5, "endpoints": {"a": 1}, "run": []},
    {"profile": {"name": "p"}, "run": {"started_at": "yesterday"},
     "endpoints": [None, {"name": "MessageProcessingLogs", "status": True, "latency_ms": 1},
                   {"name": "MessageProcessingLogs", "status": 200, "latency_ms": "1"},
                   {"name": "MessageProcessingLogs", "status": 200, "latency_ms": float("nan")}]},
])
def test_a_document_of_any_shape_gives_a_readable_file(odd: dict[str, Any]) -> None:
    details = {"token_latency_ms": "fast", "expiry": [3, {"kind": "client", "expires_at": 5}]}
    found = parsed(metrics.render([Document(odd, details)]))
    assert "cpi_preflight_token_latency_seconds" not in found
    assert "cpi_preflight_endpoint_latency_seconds" not in found
    assert "cpi_preflight_certificate_expiry_days" not in found


# --- no secret, no server text: labels from the vocabulary only --------------------------------


def _forms(text: str) -> set[str]:
    return {text, text.replace("\\", "\\\\").replace('"', '\\"'), json.dumps(text)[1:-1]}


def assert_vocabulary_only(text: str, *profiles: str) -> None:
    """Every label value of `text` is a profile name given or a word of the tool's own."""
    words = metrics.vocabulary()
    allowed = {*profiles, *words.checks, *words.codes, *words.endpoints, *SHOWN,
               *metrics.CERTIFICATES, ""}
    values = {v for f in text_string_to_metric_families(text) for s in f.samples
              for v in s.labels.values()}
    assert values, text
    assert values <= allowed, values - allowed


def test_no_secret_and_no_server_text_reach_the_file_from_a_run() -> None:
    """A secret of & < > " ' $ in the profile, echoed by the tenant in a finding, a summary and
    the client id; server text in every text field the checks have."""
    Secret(HOSTILE_SECRET)
    the_plan = sample_plan(client_secret=HOSTILE_SECRET,
                           client_id=f"sb-{HOSTILE_SECRET}!b42|it!b182722")
    verdicts = sample_verdicts(the_plan)
    echoed = Finding("SERVER_ERROR", "failure", f"{SERVER_TEXT} {HOSTILE_SECRET}",
                     f"{SERVER_TEXT}: {HOSTILE_SECRET}", f"{SERVER_TEXT} fix")
    check = "endpoint[MessageProcessingLogs]"
    verdicts[check] = replace(verdicts[check], outcome="failed", findings=(echoed,),
                              summary=f"{SERVER_TEXT} {HOSTILE_SECRET}")
    doc = document.build(the_plan, observations(), verdicts, started_at=STARTED,
                         duration_s=1.5, token=None, trust="system CAs", proxy="direct",
                         baseline=None)
    text = metrics.render([doc])
    assert ('cpi_preflight_check_outcome{profile="prod-cf",check="endpoint[MessageProcessingLogs]",'
            'code="SERVER_ERROR",outcome="failed"} 1') in text  # the failure is there
    for form in _forms(HOSTILE_SECRET) | {SERVER_TEXT, "denied", "sb-"}:
        assert form not in text
    assert_vocabulary_only(text, "prod-cf")


HOSTILE_VALUES = [HOSTILE_SECRET, f'{SERVER_TEXT}"}} 1\nfake_metric 1', "ROLE_MISSING\n",
                  "token ", "prod-cf\n"]


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_a_read_back_document_cannot_put_outside_text_into_a_label(value: str) -> None:
    """A document read back from a file may hold anything where the vocabulary belongs: such a
    sample is left out, never written (a value that only looks like one, with a line break or
    a space, too)."""
    record = json.loads(evidence.render(built()))
    record["checks"].append({"id": value, "outcome": "failed", "ran": True})
    record["checks"].append({"id": "drift", "outcome": "failed", "ran": True})
    record["findings"].append({"check": "drift", "code": value, "severity": "failure"})
    record["endpoints"].append({"name": value, "status": 200, "latency_ms": 5.0})
    details = {"token_latency_ms": 3.0,
               "expiry": [{"kind": value, "expires_at": "2025-06-01T00:00:00Z"}]}
    text = metrics.render([Document(record, details)])
    found = parsed(text)
    checks = [labels["check"] for labels, _ in found["cpi_preflight_check_outcome"][2]]
    assert checks == [c for c, _, _ in CHECKS for _ in SHOWN]  # neither value nor drift
    assert [labels["endpoint"] for labels, _ in found["cpi_preflight_endpoint_latency_seconds"][2]
            ] == ["MessageProcessingLogs", "IntegrationPackages"]
    assert "cpi_preflight_certificate_expiry_days" not in found
    assert_vocabulary_only(text, "prod-cf")
    for outside in ("fake_metric", HOSTILE_SECRET, SERVER_TEXT):
        assert outside not in text
    record["profile"]["name"] = value
    assert metrics.render([Document(record, details)]) == "# EOF\n"


def test_every_check_a_plan_makes_is_of_the_vocabulary() -> None:
    """A check whose id the vocabulary lacks would be missing from the file: every check of
    a plan with every endpoint, on both environments, is known."""
    from cpi_preflight import catalog

    words, cat = metrics.vocabulary(), catalog.load()
    cf = sample_plan(endpoints=list(cat.endpoints), required_roles=list(cat.roles))
    neo = sample_plan(environment="neo", endpoints=list(cat.endpoints),
                      required_roles=list(cat.neo_roles),
                      api_url="https://acme.hana.ondemand.com",
                      token_url="https://oauthasservices-acme.hana.ondemand.com/oauth2/api/v1/token")
    for the_plan in (cf, neo):
        assert {c.id for c in the_plan.checks} <= words.checks
    assert {"drift", "credential-expiry"} <= words.checks
    assert set(cat.codes) == words.codes


def test_label_values_are_escaped_for_openmetrics_after_the_one_cleaning() -> None:
    assert metrics.label_value('a\\b"c') == 'a\\\\b\\"c'
    assert metrics.label_value("two\nlines\x1b[2K") == "two lines"
    line = f'x{{a="{metrics.label_value(chr(92) + chr(34) + "q")}"}} 1\n# EOF\n'
    assert parsed(line)["x"][2] == [({"a": '\\"q'}, 1.0)]


@pytest.mark.parametrize(("value", "shown"), [(1.0, "1"), (0.0, "0"), (-2.0, "-2"),
                                              (0.09525, "0.09525"), (19.75, "19.75"),
                                              (1746093600.0, "1746093600"), (1e-07, "1e-07")])
def test_numbers(value: float, shown: str) -> None:
    assert metrics.number(value) == shown


# --- writing the file ---------------------------------------------------------------------------


def test_the_file_is_written_atomically_and_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "textfile" / "cpi-preflight.prom"
    reports.check_metrics_file(target)  # creates the folder
    target.write_text("old\n")
    before = target.stat().st_ino
    assert reports.write_metrics(target, [built()]) == target
    assert target.read_text(encoding="utf-8") == metrics.render([built()])
    assert target.stat().st_ino != before  # renamed over, not written into
    assert sorted(p.name for p in target.parent.iterdir()) == ["cpi-preflight.prom"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_folder_is_refused_with_a_file_name_to_give(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        reports.check_metrics_file(tmp_path)
    assert str(caught.value) == (f"--metrics-file {tmp_path}: is a folder; name a file in it, "
                                 f"such as --metrics-file={tmp_path / 'cpi-preflight.prom'}")


def test_a_link_is_refused_before_any_request(tmp_path: Path) -> None:
    target = tmp_path / "m.prom"
    target.symlink_to(tmp_path / "victim")
    with pytest.raises(ConfigError) as caught:
        reports.check_metrics_file(target)
    assert str(caught.value) == (f"--metrics-file {target}: is a symbolic link; cpi-preflight "
                                 "does not write through links: remove it, or name another file")
    (tmp_path / "real").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    with pytest.raises(ConfigError) as caught:
        reports.check_metrics_file(tmp_path / "linked" / "m.prom")
    assert str(caught.value) == (
        f"--metrics-file {tmp_path / 'linked' / 'm.prom'}: its folder {tmp_path / 'linked'} is "
        "a symbolic link; cpi-preflight does not write through links: remove it, or name "
        "another file")
    assert not (tmp_path / "victim").exists()


def test_a_folder_that_cannot_be_made_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    target = tmp_path / "file" / "m.prom"
    with pytest.raises(ConfigError) as caught:
        reports.check_metrics_file(target)
    assert str(caught.value) == (f"--metrics-file {target}: cannot write in {target.parent}: "
                                 "is not a folder; give a file in a writable folder with "
                                 "--metrics-file=PATH")


def test_a_path_below_the_current_folder_is_named_relative(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    with pytest.raises(ConfigError) as caught:
        reports.check_metrics_file(tmp_path / "out")
    assert str(caught.value) == ("--metrics-file out: is a folder; name a file in it, such as "
                                 "--metrics-file=out/cpi-preflight.prom")


# --- the option as typed ---------------------------------------------------------------------


class _Group:
    def __init__(self) -> None:
        self.options: list[tuple[str, dict[str, Any]]] = []

    def addoption(self, name: str, **keys: Any) -> None:
        self.options.append((name, keys))


class _Parser:
    def __init__(self) -> None:
        self.group = _Group()

    def getgroup(self, *args: Any) -> _Group:
        return self.group


def test_every_option_of_ours_that_takes_a_value_is_joined_in_the_space_form() -> None:
    """`--metrics-file /srv/textfile/cpi.prom` names an existing file from the second
    scheduled run on: pytest would take it for a test path unless it is joined."""
    parser = _Parser()
    plugin.pytest_addoption(parser)  # type: ignore[arg-type]
    taking_values = [name for name, keys in parser.group.options
                     if keys.get("action") not in ("store_true", "store_false", "count")]
    assert "--metrics-file" in taking_values
    assert set(taking_values) == set(command_line.VALUE_OPTIONS)


# --- the README's alert rules ----------------------------------------------------------------


def _readme_rules() -> list[dict[str, Any]]:
    import re

    import yaml

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", readme, re.S)]
    [groups] = [b["groups"] for b in blocks if isinstance(b, dict) and "groups" in b]
    rules: list[dict[str, Any]] = groups[0]["rules"]
    return rules


def test_the_readme_alert_rules_use_the_names_and_labels_the_file_has() -> None:
    """A check failed, a certificate expires within 30 days, and the health check stopped:
    each rule reads a family the file has, with its labels and words."""
    import re

    labels = {"cpi_preflight_check_outcome": {"profile", "check", "code", "outcome"},
              "cpi_preflight_certificate_expiry_days": {"profile", "certificate"},
              "cpi_preflight_run_timestamp_seconds": {"profile"}}
    rules = {rule["alert"]: rule for rule in _readme_rules()}
    assert {name: rule["expr"] for name, rule in rules.items()} == {
        "CpiPreflightCheckFailed": 'cpi_preflight_check_outcome{outcome="failed"} == 1',
        "CpiPreflightCertificateExpiresSoon": "cpi_preflight_certificate_expiry_days < 30",
        "CpiPreflightNotRunning": "time() - cpi_preflight_run_timestamp_seconds > 3600"}
    for rule in rules.values():
        [name] = re.findall(r"cpi_preflight_[a-z_]+", rule["expr"])
        assert name in NAMES
        used = set(re.findall(r"\$labels\.(\w+)", json.dumps(rule["annotations"])))
        assert used <= labels[name], rule["alert"]
    assert "failed" in SHOWN
