"""The pytest plugin: options, hooks and fixtures only. The work is done in `run`, `report`.

Registered through the `pytest11` entry point `cpi_preflight`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Generator
from pathlib import Path

import httpx
import pytest

from cpi_preflight import evidence, files, profile, report, scrubbed_output, transport
from cpi_preflight.claims import TokenFacts
from cpi_preflight.errors import ConfigError
from cpi_preflight.items import CheckItem, NoProfileItem, ProfileFile
from cpi_preflight.profile import Profile
from cpi_preflight.run import Run, Settings
from cpi_preflight.secret import scrub

RUN_KEY = pytest.StashKey[Run]()
WRITTEN_KEY = pytest.StashKey[list[Path]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cpi-preflight", "SAP Cloud Integration API client checks")
    group.addoption("--profile", action="append", default=[], metavar="NAME",
                    help="run the checks of profiles/NAME.yaml; repeat it, give a comma list, "
                         "or 'all'")
    group.addoption("--profiles-dir", metavar="DIR", default=None,
                    help="where profile YAML files are (default: profiles/ in the current "
                         "folder, else under the rootdir)")
    group.addoption("--reports-dir", metavar="DIR", default=None,
                    help="where reports are written (default: reports/ next to the default "
                         "profiles/); a folder outside the project needs --reports-dir=DIR")
    group.addoption("--baseline", metavar="PATH", default=None,
                    help="a previous run's evidence.json, or its reports folder, to compare "
                         "roles and endpoints against (drift)")
    group.addoption("--max-concurrency", type=int, default=32, metavar="N",
                    help="requests in flight at once across all profiles (default 32)")
    group.addoption("--max-per-host", type=int, default=10, metavar="N",
                    help="requests in flight at once per host (default 10)")


def _base(config: pytest.Config) -> Path:
    """Where default folders live: the invocation folder if it holds profiles/, else rootdir."""
    here = config.invocation_params.dir
    return here if (here / "profiles").is_dir() else config.rootpath


def _dir(config: pytest.Config, option: str, default: str) -> Path:
    value = config.getoption(option)
    if not value:
        return _base(config) / default
    path = Path(value).expanduser()
    return path if path.is_absolute() else config.invocation_params.dir / path


def _settings(config: pytest.Config) -> Settings:
    baseline = config.getoption("baseline")
    return Settings(
        profiles_dir=_dir(config, "profiles_dir", "profiles"),
        reports_dir=_dir(config, "reports_dir", "reports"),
        # pytest's own --strict (strict mode) also makes cpi-preflight warnings fail
        strict=bool(config.getoption("strict", False)),
        baseline=Path(baseline) if baseline else None,
        max_concurrency=max(1, int(config.getoption("max_concurrency"))),
        max_per_host=max(1, int(config.getoption("max_per_host"))),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cpi_preflight: a built-in cpi-preflight check")
    if config.getoption("help", False) or config.getoption("version", False):
        return
    names = config.getoption("profile")
    if not names:
        return
    scrubbed_output.install()  # before profiles are read: their secrets are registered then
    try:
        run = Run.load(names, _settings(config))
        report.check_reports_dir(run.settings.reports_dir, [p.name for p in run.profiles])
        files.check_ssl_cert_file(os.environ)
    except ConfigError as exc:
        raise pytest.UsageError(scrub(str(exc))) from None
    config.stash[RUN_KEY] = run


def pytest_unconfigure(config: pytest.Config) -> None:
    scrubbed_output.uninstall()


@pytest.hookimpl(tryfirst=True)
def pytest_warning_recorded(warning_message: warnings.WarningMessage) -> None:
    scrubbed_output.scrub_warning(warning_message)  # before pytest's warnings summary keeps it


@pytest.hookimpl(tryfirst=True)
def pytest_internalerror(excrepr: object) -> None:
    scrubbed_output.scrub_exception_repr(excrepr)  # before pytest shows it (locals under -l)


def _no_profile_hint(config: pytest.Config) -> str:
    known = profile.available(_settings(config).profiles_dir)
    listing = ", ".join(known) if known else "none yet"
    return (f"cpi-preflight: no profile selected; run `pytest --profile NAME` or "
            f"`pytest --profile all` (profiles: {listing})")


def _wants_placeholder(config: pytest.Config) -> bool:
    no_paths_given = config.args_source != pytest.Config.ArgsSource.ARGS
    return no_paths_given and _settings(config).profiles_dir.is_dir()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        if _wants_placeholder(config):
            hint = _no_profile_hint(config)
            items.insert(0, NoProfileItem.from_parent(
                session, name="no-profile", hint=hint, path=_settings(config).profiles_dir))
        return
    ours: list[pytest.Item] = []
    for plan in run.plans.values():
        node = ProfileFile.from_parent(session, path=plan.profile.path)
        node.run, node.plan = run, plan
        checks = list(node.collect())
        session.ihook.pytest_collectreport(
            report=pytest.CollectReport(node.nodeid, "passed", None, list(checks)))
        ours.extend(checks)
    items[:0] = ours


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    run = session.config.stash.get(RUN_KEY, None)
    if run is None or session.config.option.collectonly:
        return
    selected = {i.profile_name for i in session.items if isinstance(i, CheckItem)}
    if selected:
        # an interrupted run must not leave the previous run's reports looking current
        report.remove_previous(run.settings.reports_dir, sorted(selected))
        with scrubbed_output.held():  # tokens are known only once their answers are parsed
            run.execute(selected)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    test_report = outcome.get_result()
    if isinstance(test_report.longrepr, tuple):
        path, line, message = test_report.longrepr
        if isinstance(item, CheckItem | NoProfileItem):  # point at the profile, not our code
            path, line = str(item.path), None
        test_report.longrepr = (path, line, scrub(message))
    elif test_report.longrepr is not None:
        test_report.longrepr = scrub(str(test_report.longrepr))
    test_report.sections = [(title, scrub(text)) for title, text in test_report.sections]


USER_FIXTURES = ("preflight_profile", "preflight_token", "preflight_api")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not set(USER_FIXTURES) & set(metafunc.fixturenames):
        return
    run = metafunc.config.stash.get(RUN_KEY, None)
    if run is None:
        hint = pytest.mark.skip(reason="cpi-preflight: no profile selected; run pytest "
                                "--profile NAME")
        metafunc.parametrize("preflight_profile_name", [pytest.param("", marks=hint)],
                             ids=["no-profile"], scope="session")
        return
    names = list(run.plans)
    metafunc.parametrize("preflight_profile_name", names, ids=names, scope="session")


def _run_for(request: pytest.FixtureRequest) -> Run:
    run = request.config.stash.get(RUN_KEY, None)
    if run is None or not run.executed:
        pytest.skip("cpi-preflight: no profile selected; run pytest --profile NAME")
    return run


@pytest.fixture(scope="session")
def preflight_profile(request: pytest.FixtureRequest, preflight_profile_name: str) -> Profile:
    """The profile this check runs for, with its connection filled in (no secret shown)."""
    return _run_for(request).plans[preflight_profile_name].profile


@pytest.fixture(scope="session")
def preflight_token(request: pytest.FixtureRequest, preflight_profile_name: str) -> TokenFacts:
    """The non-secret facts of the profile's token (issuer, zone, scopes, expiry)."""
    facts = _run_for(request).token_facts(preflight_profile_name)
    if facts is None:
        pytest.skip(f"{preflight_profile_name}: no token was issued; see the token check")
    return facts


@pytest.fixture(scope="session")
def preflight_api(request: pytest.FixtureRequest,
                  preflight_profile_name: str) -> Generator[httpx.Client, None, None]:
    """A read-only httpx client for `<api_url>/api/v1`, authenticated with the run's token."""
    client = _run_for(request).api_client(preflight_profile_name)
    if client is None:
        pytest.skip(f"{preflight_profile_name}: no token was issued; see the token check")
    with client:
        yield client


def pytest_sessionfinish(session: pytest.Session) -> None:
    run = session.config.stash.get(RUN_KEY, None)
    if run is None:
        return
    try:
        written: list[Path] = []
        for name, verdicts in run.verdicts.items():
            written.append(report.write_junit(run.settings.reports_dir, run.plans[name],
                                              verdicts.values()))
            written.extend(evidence.write_evidence(run.settings.reports_dir,
                                                   run.evidence(name, os.environ)))
        session.config.stash[WRITTEN_KEY] = written
    finally:
        run.close()


def pytest_report_header(config: pytest.Config) -> list[str]:
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        return []
    return [f"cpi-preflight: profiles {', '.join(run.plans)} from {run.settings.profiles_dir}; "
            f"reports to {run.settings.reports_dir}",
            f"cpi-preflight: network: {transport.proxy_setting(os.environ)}; CA files from "
            f"{'SSL_CERT_FILE' if os.environ.get('SSL_CERT_FILE') else 'certifi'}"
            " (plus each profile's ca_bundle)"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    run = terminalreporter.config.stash.get(RUN_KEY, None)
    if run is None or not run.executed:
        return
    terminalreporter.section("cpi-preflight")
    for name, verdicts in run.verdicts.items():
        terminalreporter.write_line(f"{name} ({run.plans[name].profile.environment}):")
        for verdict in verdicts.values():
            outcome = "warning" if verdict.outcome == "passed" and verdict.warnings \
                else verdict.outcome
            code = verdict.code or "-"
            terminalreporter.write_line(f"  {verdict.check.id:<44} {outcome:<8} {code}")
    for path in terminalreporter.config.stash.get(WRITTEN_KEY, []):
        terminalreporter.write_line(f"report: {path}")
