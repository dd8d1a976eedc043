"""Guards for the project's own invariants (not behaviour)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import cpi_preflight
from cpi_preflight import errors
from cpi_preflight.errors import PreflightError

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


def test_the_plugin_module_only_wires() -> None:
    tree = ast.parse((PACKAGE / "plugin.py").read_text())
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert all(n.name.startswith(("pytest_", "preflight_", "_")) for n in functions)
    assert max(n.end_lineno - n.lineno for n in functions) < 30
