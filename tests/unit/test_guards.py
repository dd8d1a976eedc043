"""Guards for the project's own invariants (not behaviour)."""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import cpi_preflight
from cpi_preflight import errors
from cpi_preflight.errors import PreflightError
from cpi_preflight.reporting import reports

PACKAGE = Path(cpi_preflight.__file__).parent
FORBIDDEN_MODULES = {"utils", "helpers", "misc", "token", "jwt"}
ORACLE_MUST_NOT_IMPORT = {"catalog", "probe", "diagnosis", "plan", "oauth", "claims", "posture"}


def _modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages([str(PACKAGE)], "cpi_preflight.")]


def test_every_exception_of_the_package_is_a_preflight_error() -> None:
    strays = []
    for name in _modules():
        if name.endswith("__main__"):
            continue
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (cls.__module__ == name and issubclass(cls, BaseException)
                    and not issubclass(cls, PreflightError)):
                strays.append(f"{name}.{cls.__name__}")
    assert strays == []


def _drawn_tree() -> dict[str, str]:
    """class name -> the name of its parent, as the tree in `errors`' docstring draws them."""
    parents: dict[str, str] = {}
    chain: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        found = re.match(r"^[ |]*(?:\+-- )?([A-Z]\w+Error) ", line)
        if not found:
            continue
        del chain[(found.start(1) - 4) // 5:]  # the root at column 4, five more a level down
        if chain:
            parents[found.group(1)] = chain[-1]
        chain.append(found.group(1))
    return parents


def test_the_drawn_exception_tree_is_the_code() -> None:
    """Every exception of the package is in the tree of `errors`' docstring, under its base."""
    actual = {}
    for name in _modules():
        if name.endswith("__main__"):
            continue
        for _, cls in inspect.getmembers(importlib.import_module(name), inspect.isclass):
            if cls.__module__ == name and issubclass(cls, PreflightError) and \
                    cls is not PreflightError:
                actual[cls.__name__] = cls.__bases__[0].__name__
                assert cls.__module__ == "cpi_preflight.errors", cls
    assert _drawn_tree() == actual


def test_no_module_has_a_vague_or_shadowing_name() -> None:
    names = {name.rsplit(".", 1)[-1] for name in _modules()}
    assert names & FORBIDDEN_MODULES == set()


def test_the_sandbox_never_imports_what_it_is_an_oracle_for() -> None:
    offending = []
    for path in (PACKAGE / "sandbox").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "cpi_preflight" and set(parts[1:2]) & ORACLE_MUST_NOT_IMPORT:
                    offending.append(f"{path.name}: {name}")
    assert offending == []


def _module_names(root: Path, package: str) -> dict[str, Path]:
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of `known` that module `name` imports anywhere: at module level, inside
    functions (lazy imports) or under TYPE_CHECKING."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package that holds the module
                here = name.split(".")[: len(name.split(".")) - node.level
                                         + (path.name == "__init__.py")]
                base = ".".join([*here, base] if base else here)
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                         for a in node.names)
    return {module for module in found if module in known and module != name}


def import_graph(root: Path, package: str, aside: str | None = None) -> dict[str, set[str]]:
    """module -> the modules of the package it imports; `aside`: a subpackage left out."""
    known = _module_names(root, package)
    graph = {name: _imported(name, path, known) for name, path in known.items()}
    if aside is None:
        return graph
    outside = {n for n in graph if n == aside or n.startswith(f"{aside}.")}
    return {n: deps - outside for n, deps in graph.items() if n not in outside}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles a depth-first walk meets, each as `[a, b, ..., a]`."""
    found: list[list[str]] = []
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = "open"
        path.append(name)
        for dep in sorted(graph[name]):
            if state.get(dep) == "open":
                found.append([*path[path.index(dep):], dep])
            elif dep not in state:
                visit(dep)
        path.pop()
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)
    return found


def test_the_import_graph_has_no_cycle_even_counting_lazy_imports() -> None:
    """No module imports one that imports it back, not even inside a function (a lazy import
    that dodges a circle is still a circle). The optional sandbox is left aside."""
    graph = import_graph(PACKAGE, "cpi_preflight", aside="cpi_preflight.sandbox")
    assert "cpi_preflight.urls" in graph["cpi_preflight.transport"]
    assert cycles(graph) == []


def test_the_cycle_guard_sees_imports_inside_functions(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def late():\n    from .a import name\n    return name\n")
    (package / "c.py").write_text("from pkg.a import name\n")
    assert cycles(import_graph(package, "pkg")) == [["pkg.a", "pkg.b", "pkg.a"]]


def test_the_plugin_module_only_wires() -> None:
    tree = ast.parse((PACKAGE / "plugin.py").read_text())
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert all(n.name.startswith(("pytest_", "preflight_", "_")) for n in functions)
    assert max(n.end_lineno - n.lineno for n in functions) < 30


def test_the_plugin_reaches_the_reporters_only_through_the_table() -> None:
    """The plugin writes a profile's files through `reporting.reports` and shows the terminal
    section through `reporting.terminal` (with GitHub's annotations, `reporting.github_annotations`,
    which are lines of the log too); it imports no renderer of a file format."""
    graph = import_graph(PACKAGE, "cpi_preflight", aside="cpi_preflight.sandbox")
    used = {m for m in graph["cpi_preflight.plugin"] if m.startswith("cpi_preflight.reporting")}
    assert used == {"cpi_preflight.reporting.reports", "cpi_preflight.reporting.terminal",
                    "cpi_preflight.reporting.github_annotations",
                    "cpi_preflight.reporting.document"}


def test_the_report_table_names_its_files_in_the_order_its_renderers_have() -> None:
    assert tuple(reports._renderers()) == reports.FILES == tuple(reports.REPORTS)


def test_every_report_file_is_one_render_function_of_the_reporting_package() -> None:
    for name, render in reports.REPORTS.items():
        assert render.__name__ == "render", name
        assert render.__module__.startswith("cpi_preflight.reporting."), name
        assert inspect.signature(render).parameters.keys() == {"document"}, name


START_UP_FREE = ("jwt", "cryptography", "jinja2", "junit_xml", "cpi_preflight.diagnosis",
                 "cpi_preflight.probe", "cpi_preflight.sandbox")


def test_loading_the_plugin_imports_nothing_only_a_run_needs() -> None:
    """pytest loads the plugin in every session of this environment and collection needs
    profiles and plans only: PyJWT with cryptography, Jinja2, junit_xml, the diagnosis, the probe
    and the sandbox are imported when a run uses them (issue 19: start-up)."""
    code = ("import sys, pytest, cpi_preflight.plugin; "
            "print(' '.join(sorted(m for m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    loaded = set(done.stdout.split())
    assert [m for m in START_UP_FREE if m in loaded] == []
    assert "cpi_preflight.plugin" in loaded


COLLECTION_FREE = ("asyncio", "anyio", "certifi", "jinja2", "jwt", "junit_xml",
                   "cpi_preflight.transport", "cpi_preflight.connections",
                   "cpi_preflight.observation", "cpi_preflight.claims", "cpi_preflight.probe",
                   "cpi_preflight.diagnosis", "cpi_preflight.sandbox",
                   "cpi_preflight.findings", "cpi_preflight.user_checks",
                   "cpi_preflight.reporting.outcomes", "cpi_preflight.reporting.terminal",
                   "cpi_preflight.reporting.document", "cpi_preflight.reporting.evidence",
                   "cpi_preflight.reporting.html", "cpi_preflight.reporting.junit",
                   "cpi_preflight.reporting.har", "cpi_preflight.reporting.metrics",
                   "cpi_preflight.reporting.github_annotations")
COLLECTED_PROFILE = """\
environment: cf
api_url: https://tenant.it-cpi018.cfapps.eu10-003.hana.ondemand.com
token_url: https://tenant.authentication.eu10.hana.ondemand.com/oauth/token
client_id: sb-abc!b1|it!b2
client_secret: ${TENANT_SECRET}
required_roles: [MonitoringDataRead]
endpoints: [MessageProcessingLogs]
"""


def test_collecting_a_profile_imports_nothing_only_a_run_needs(tmp_path: Path) -> None:
    """`pytest --profile NAME --collect-only` reads options and profiles and makes the items:
    the HTTP layer (asyncio, the transport, its observations), the token's claims, the probe,
    the diagnosis, the sandbox, the verdicts (findings, the team's checks' results), the
    terminal section, the document and its renderers are imported when a run or a report uses
    them (issue 19: start-up). Entry-point plugins are off, so that anyio's pytest
    plugin (which imports asyncio itself) does not hide ours."""
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "tenant.yaml").write_text(COLLECTED_PROFILE)
    code = ("import sys, pytest; code = pytest.main(['--profile', 'tenant', '--collect-only', "
            "'-q', '-p', 'cpi_preflight.plugin', '-p', 'no:cacheprovider']); "
            "print(code, ' '.join(sorted(sys.modules)))")
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
           "TENANT_SECRET": "s3cr&t<>\"'$x"}
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        env.pop(name, None)
        env.pop(name.lower(), None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=tmp_path, env=env)
    exit_code, loaded = done.stdout.splitlines()[-1].split(" ", 1)
    assert exit_code == "0", done.stdout + done.stderr
    assert "profiles/tenant.yaml::endpoint[MessageProcessingLogs]" in done.stdout
    assert [m for m in COLLECTION_FREE if m in loaded.split()] == []


def test_the_probe_does_not_import_the_diagnosis_nor_x509_before_it_needs_them() -> None:
    """The first request of a run waits for the probe's imports: the diagnosis (PyJWT,
    cryptography) is imported once the first profile is observed, and cryptography's x509
    only for a certificate profile's client certificate."""
    code = ("import sys; from cpi_preflight import probe; "
            "print(' '.join(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    loaded = done.stdout.split()
    assert "cpi_preflight.probe" in loaded
    assert [m for m in ("cryptography.x509", "jwt", "cpi_preflight.diagnosis",
                        "cpi_preflight.claims") if m in loaded] == []

