"""The pytest plugin: options, hooks and fixtures only. The work is done in `run` (load, probe,
diagnose) and `reporting` (one document per profile, the files of `reporting.reports`, the
terminal section).

Registered through the `pytest11` entry point `cpi_preflight`.
"""

from __future__ import annotations

import os
import signal
import threading
import warnings
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cpi_preflight import command_line, files, garbage_collection, profile, scrubbed_output
from cpi_preflight.errors import ConfigError, ProfilesError
from cpi_preflight.items import CheckItem, ProfileFile
from cpi_preflight.profile import Profile
from cpi_preflight.reporting import reports
from cpi_preflight.run import SELECTION_OPTIONS, Run, Settings
from cpi_preflight.secret import scrub

if TYPE_CHECKING:
    import httpx

    from cpi_preflight.claims import TokenFacts
    from cpi_preflight.reporting.document import Document

RUN_KEY = pytest.StashKey[Run]()
WRITTEN_KEY = pytest.StashKey[list[Path]]()
DOCUMENTS_KEY = pytest.StashKey["list[Document]"]()
HINT_KEY = pytest.StashKey[str]()
DEFAULT_REPORT_CHARS = "fE"  # pytest's -r default: left alone when the user gave -r
SIGTERM_KEY = pytest.StashKey[Any]()  # the SIGTERM handler before the run
GC_KEY = pytest.StashKey[tuple[int, int, int]]()  # the collector's thresholds before the run
PROFILE_PARAMETER = "preflight_profile_name"
NO_PROFILE = ""


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
                         "profiles/)")
    group.addoption("--baseline", metavar="PATH", default=None,
                    help="a previous run's evidence.json, or its reports folder, to compare "
                         "roles and endpoints against (drift)")
    group.addoption("--metrics-file", metavar="PATH", default=None,
                    help="also write OpenMetrics text of all profiles' results to PATH, for "
                         "node_exporter's textfile collector (name it *.prom)")
    group.addoption("--max-concurrency", type=int, default=Settings.max_concurrency,
                    metavar="N", help="requests in flight at once across all profiles (default "
                    f"{Settings.max_concurrency}; --max-per-host protects each tenant)")
    group.addoption("--max-per-host", type=int, default=Settings.max_per_host, metavar="N",
                    help=f"requests in flight at once per host (default {Settings.max_per_host})")
    group.addoption("--http2", choices=("on", "off"), default="on",
                    help="offer HTTP/2 to the tenants (default on; off: HTTP/1.1 only, for a "
                         "proxy that breaks under HTTP/2; a profile can say http2: false)")


_rerunning = False


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | pytest.ExitCode | None:
    """Run pytest again with `--opt=value` when `--opt value` made pytest misread its rootdir
    (see `command_line`); nothing has been configured or printed yet at this point."""
    global _rerunning
    again = None if _rerunning else command_line.rewritten(config.invocation_params.args,
                                                           os.environ)
    if again is None:
        return None
    args, addopts = again
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.stop_global_capturing()
    _rerunning = True
    try:
        with command_line.addopts_set_to(addopts):
            return pytest.main(args, plugins=list(config.invocation_params.plugins or ()))
    finally:
        _rerunning = False


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


def _metrics_file(config: pytest.Config) -> Path | None:
    """--metrics-file's path, relative to the folder pytest was started in; None without it."""
    value = config.getoption("metrics_file")
    if not value:
        return None
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
        max_concurrency=_limit(config, "max_concurrency"),
        max_per_host=_limit(config, "max_per_host"),
        http2=config.getoption("http2") == "on",
    )


def _limit(config: pytest.Config, option: str) -> int:
    value = int(config.getoption(option))
    if value < 1:
        flag = "--" + option.replace("_", "-")
        raise ConfigError(f"{flag} {value}: give at least 1 (requests in flight at once); "
                          f"leave it out for the default {getattr(Settings, option)}")
    return value


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
        reports.check_reports_dir(run.settings.reports_dir, [p.name for p in run.profiles])
        metrics_file = _metrics_file(config)
        if metrics_file is not None:
            reports.check_metrics_file(metrics_file)
        files.check_ssl_cert_file(os.environ)
    except ConfigError as exc:
        raise pytest.UsageError(_usage_text(exc)) from None
    config.stash[RUN_KEY] = run
    config.stash[GC_KEY] = garbage_collection.begin()
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (a CI job cancelled) ends the run like Ctrl-C: sandboxes stopped and their
        # key files removed, no report left that reads as current
        config.stash[SIGTERM_KEY] = signal.signal(signal.SIGTERM, _interrupt)
    if config.get_verbosity() <= -2:  # -qq: the summary lines only, unless asked for more
        if config.option.tbstyle == "auto":
            config.option.tbstyle = "no"
        if config.option.reportchars == DEFAULT_REPORT_CHARS:
            config.option.reportchars = "N"


def _usage_text(exc: ConfigError) -> str:
    """A usage error as pytest prints it: masked, every line one visible line (the values
    quoted from profiles, keys and folders may hold anything)."""
    from cpi_preflight.reporting import terminal  # a reporter: on this error only

    if isinstance(exc, ProfilesError):
        return "\n".join([exc.heading, *(f"  {terminal.printable(str(e))}" for e in exc.errors)])
    return terminal.printable(str(exc))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.hookimpl(tryfirst=True)  # before pytest's own closing collections
def pytest_unconfigure(config: pytest.Config) -> None:
    scrubbed_output.uninstall()
    thresholds = config.stash.get(GC_KEY, None)
    if thresholds is not None:
        garbage_collection.end(thresholds)
    previous = config.stash.get(SIGTERM_KEY, None)
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


@pytest.hookimpl(tryfirst=True)
def pytest_warning_recorded(warning_message: warnings.WarningMessage) -> None:
    scrubbed_output.scrub_warning(warning_message)  # before pytest's warnings summary keeps it


@pytest.hookimpl(tryfirst=True)
def pytest_internalerror(excrepr: object) -> None:
    scrubbed_output.scrub_exception_repr(excrepr)  # before pytest shows it (locals under -l)


def _checks_dir(config: pytest.Config) -> Path:
    """Where users' own checks live: checks/ beside the default profiles/."""
    return _base(config) / "checks"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With profiles selected and no test paths named (nor configured as `testpaths`), collect
    only checks/: a run of the checks never picks up other tests of the current folder."""
    if RUN_KEY not in config.stash or config.args_source != pytest.Config.ArgsSource.INVOCATION_DIR:
        return None
    checks = _checks_dir(config)
    inside = collection_path == checks or checks in collection_path.parents
    return None if inside or collection_path in checks.parents else True


def _no_profile_hint(config: pytest.Config) -> str:
    folder = _dir(config, "profiles_dir", "profiles")
    if not folder.is_dir():
        return (f"cpi-preflight: no profile selected, so no check ran; there is no profiles "
                f"folder here ({folder}): write a profile with `cpi-preflight init "
                "--service-key KEY.json --name NAME`, or name the folder with --profiles-dir DIR")
    known = profile.available(folder)
    listing = ", ".join(known) if known else "none yet"
    return (f"cpi-preflight: no profile selected, so no check ran; run `pytest --profile NAME` "
            f"or `pytest --profile all` (profiles: {listing})")


def _needs_a_profile(item: pytest.Item) -> bool:
    """A test of checks/ asking for a preflight fixture, collected while no profile is chosen."""
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.params.get(PROFILE_PARAMETER) == NO_PROFILE


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        _deselect_what_needs_a_profile(config, items)
        return
    ours: list[pytest.Item] = []
    for plan in run.plans.values():
        node = ProfileFile.from_parent(session, path=plan.profile.path,
                                       nodeid=_profile_nodeid(config, plan.profile.path))
        node.run, node.plan = run, plan
        checks = list(node.collect())
        session.ihook.pytest_collectreport(
            report=pytest.CollectReport(node.nodeid, "passed", None, list(checks)))
        ours.extend(checks)
    items[:0] = ours


def _profile_nodeid(config: pytest.Config, path: Path) -> str:
    """`profiles/NAME.yaml` below the rootdir; the absolute path of a profile elsewhere
    (pytest would make that `::NAME.yaml`, which -k, --deselect and readers cannot place)."""
    absolute = path.absolute()
    try:
        return absolute.relative_to(config.rootpath).as_posix()
    except ValueError:
        return absolute.as_posix()


def _deselect_what_needs_a_profile(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without --profile, tests that need one are deselected, not skipped: a run that checks
    nothing then ends as pytest's "no tests collected" (exit 5), not green."""
    unfit = [i for i in items if _needs_a_profile(i)]
    if unfit:
        items[:] = [i for i in items if not _needs_a_profile(i)]
        config.hook.pytest_deselected(items=unfit)
    no_paths_given = config.args_source != pytest.Config.ArgsSource.ARGS
    # the hint where it helps, not in every other project that has the plugin installed
    has_profiles = _dir(config, "profiles_dir", "profiles").is_dir()
    if unfit or (no_paths_given and (has_profiles or not items)):
        config.stash[HINT_KEY] = _no_profile_hint(config)


def pytest_deselected(items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, CheckItem):
            assert isinstance(item.parent, ProfileFile)
            item.parent.run.deselected.add((item.profile_name, item.check.id))


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    run = session.config.stash.get(RUN_KEY, None)
    if run is None or session.config.option.collectonly:
        return
    selected = {name for name in map(_profile_of, session.items) if name}
    # an interrupted or empty run, or a profile left out of it, must not leave the previous
    # run's reports looking current
    reports.remove_previous(run.settings.reports_dir, sorted(run.plans))
    if not selected:
        session.config.stash[HINT_KEY] = _nothing_selected_hint(run)
        return
    left_out = [name for name in run.plans if name not in selected]
    if left_out:
        session.config.stash[HINT_KEY] = _left_out_hint(left_out)
    run.user_checks.expect((item.nodeid, _profile_of(item)) for item in session.items
                           if not isinstance(item, CheckItem))
    with scrubbed_output.held():  # tokens are known only once their answers are parsed
        run.execute(selected)


def _profile_of(item: pytest.Item) -> str | None:
    """The profile a selected item needs probed: a built-in check's, or a user check's that
    asks for a preflight fixture (such a check alone still needs its profile's run)."""
    if isinstance(item, CheckItem):
        return item.profile_name
    callspec = getattr(item, "callspec", None)
    name = callspec.params.get(PROFILE_PARAMETER) if callspec is not None else None
    return name if isinstance(name, str) and name != NO_PROFILE else None


def _nothing_selected_hint(run: Run) -> str:
    names = ", ".join(run.plans)
    return (f"cpi-preflight: no check of profile {names} was selected ({SELECTION_OPTIONS} "
            "left out every one), so nothing was probed and no report was written; the "
            "previous reports of these profiles were removed so that none reads as current")


def _left_out_hint(names: list[str]) -> str:
    many = len(names) > 1
    return (f"cpi-preflight: no check of profile {', '.join(names)} was selected in this run "
            f"({SELECTION_OPTIONS} left out every one), so {'they were' if many else 'it was'} "
            f"not probed and got no report; {'their' if many else 'its'} previous reports were "
            "removed so that none reads as current")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)  # outermost: sees the final report (xfail)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    test_report = outcome.get_result()
    run = item.config.stash.get(RUN_KEY, None)
    if run is not None and not isinstance(item, CheckItem):
        run.user_checks.record(item.nodeid, test_report)  # before its text is made a string
    if isinstance(test_report.longrepr, tuple):
        path, line, message = test_report.longrepr
        if isinstance(item, CheckItem):  # point at the profile, not our code
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
        metafunc.parametrize(PROFILE_PARAMETER, [pytest.param(NO_PROFILE, marks=hint)],
                             ids=["no-profile"], scope="session")
        return
    names = list(run.plans)
    metafunc.parametrize(PROFILE_PARAMETER, names, ids=names, scope="session")


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
        documents = [run.document(name, os.environ) for name in run.verdicts]
        session.config.stash[DOCUMENTS_KEY] = documents
        written = reports.write_all(run.settings.reports_dir, documents)
        metrics_file = _metrics_file(session.config)
        if metrics_file is not None and run.executed:  # not for --collect-only or no selection
            written.append(reports.write_metrics(metrics_file, documents))
        session.config.stash[WRITTEN_KEY] = written
    finally:
        run.close()


def pytest_report_header(config: pytest.Config) -> list[str]:
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        return []
    from cpi_preflight import transport  # the HTTP layer: shown in the header, not under -q
    from cpi_preflight.reporting import terminal

    settings = run.settings
    return [terminal.printable(f"cpi-preflight: profiles {', '.join(run.plans)} from "
                               f"{settings.profiles_dir}; reports to {settings.reports_dir}"),
            terminal.printable(
                f"cpi-preflight: network: {transport.proxy_setting(os.environ)}; CA files from "
                f"{'SSL_CERT_FILE' if os.environ.get('SSL_CERT_FILE') else 'certifi'}"
                " (plus each profile's ca_bundle)")]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    config = terminalreporter.config
    verbosity = int(config.getoption("verbose"))
    hint = config.stash.get(HINT_KEY, None)
    run = config.stash.get(RUN_KEY, None)
    if not hint and (run is None or not run.executed):
        return  # nothing to show (--collect-only): the reporters are not even imported
    lines = _summary_lines(config, hint, run, verbosity)
    if not lines:
        return
    terminalreporter.ensure_newline()  # after a progress line, before our first line
    if verbosity > -2:
        terminalreporter.section("cpi-preflight")
    for line in lines:
        terminalreporter.write_line(line)


def _summary_lines(config: pytest.Config, hint: str | None, run: Run | None,
                   verbosity: int) -> list[str]:
    # the reporters: imported when there is something to show, never at collection
    from cpi_preflight.reporting import github_annotations, terminal

    width = config.get_terminal_writer().fullwidth
    lines = terminal.wrapped(hint, width) if hint else []
    if run is not None and run.executed:
        for document in config.stash.get(DOCUMENTS_KEY, []):
            lines.extend(terminal.render(document, width=width, verbosity=verbosity))
        lines.extend(line for warning in run.baseline_warnings
                     for line in terminal.wrapped(f"warning: {warning}", width))
        if verbosity > -2:
            written: list[Path] = config.stash.get(WRITTEN_KEY, [])
            lines.extend(terminal.report_lines(written))
        if github_annotations.enabled(os.environ):  # the Checks UI shows these lines
            documents: list[Document] = config.stash.get(DOCUMENTS_KEY, [])
            lines.extend(github_annotations.render(documents))
    return lines
