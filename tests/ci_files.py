"""The CI files as the CI systems read them: the GitHub Action, the two templates, the GitLab
include; and the small part of GitHub's expression language those files use.

Shared by tests/unit/test_ci_*.py (each step alone, with stand-ins) and tests/e2e/test_ci_steps.py
(whole jobs against the sandbox).
"""

from __future__ import annotations

import copy
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
ACTION = REPO / "action.yml"
GITHUB = REPO / "examples" / "ci" / "github-actions.yml"
GITLAB = REPO / "examples" / "ci" / "gitlab-ci.yml"
GITLAB_INCLUDE = REPO / "ci" / "cpi-preflight.gitlab-ci.yml"
# the action as the template names it (placeholders for the owner and the pinned ref)
ACTION_USES = "<your-org>/cpi-preflight@<ref>"


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path}: must hold a mapping"
    return data


# --- GitHub -------------------------------------------------------------------------------------

def github_job(path: Path = GITHUB) -> dict[str, Any]:
    jobs = load(path)["jobs"]
    assert len(jobs) == 1, f"{path}: expected one job"
    job: dict[str, Any] = next(iter(jobs.values()))
    return job


def action_steps(path: Path = ACTION) -> list[dict[str, Any]]:
    runs = load(path)["runs"]
    assert runs["using"] == "composite", f"{path}: expected a composite action"
    steps: list[dict[str, Any]] = runs["steps"]
    return steps


def action_step(name: str, path: Path = ACTION) -> dict[str, Any]:
    found = [s for s in action_steps(path) if s.get("name") == name]
    assert len(found) == 1, f"{path}: expected one step named {name!r}"
    return found[0]


def action_inputs(path: Path = ACTION) -> dict[str, dict[str, Any]]:
    inputs: dict[str, dict[str, Any]] = load(path)["inputs"]
    return inputs


EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")
_COMPARISON = re.compile(r"^([\w.-]+)\s*(==|!=)\s*'([^']*)'$")


def lookup(context: Mapping[str, Any], path: str) -> Any:
    """`steps.plan.outputs.artifact` in a nested context; a missing step output is '' (as in
    GitHub), a missing context name is a test error."""
    head, *rest = path.split(".")
    assert head in context, f"unknown context {head!r} in {path!r}"
    value: Any = context[head]
    for part in rest:
        value = value.get(part, "") if isinstance(value, Mapping) else ""
    return value


def expand(text: object, context: Mapping[str, Any]) -> str:
    """`${{ path }}` replaced by its value (the only expressions the files put in values)."""
    return EXPRESSION.sub(lambda m: str(lookup(context, m.group(1))), str(text))


def condition(expression: str | None, context: Mapping[str, Any], *, failed: bool) -> bool:
    """A step's `if:`: terms joined by `&&`, each `always()`, `success()`, `failure()` or
    `path == 'literal'` / `!=`; anything else is a test error (the emulation would guess).
    Without a status function, `success()` is implied, as in GitHub."""
    text = (expression or "").strip()
    match = EXPRESSION.fullmatch(text)
    terms = [t.strip() for t in (match.group(1) if match else text).split("&&") if t.strip()]
    if not any(t in ("always()", "success()", "failure()") for t in terms):
        terms.insert(0, "success()")
    for term in terms:
        if term in ("always()", "success()", "failure()"):
            if term != "always()" and failed != (term == "failure()"):
                return False
            continue
        comparison = _COMPARISON.match(term)
        assert comparison, f"if: {expression!r}: the emulation does not read {term!r}"
        path, operator, literal = comparison.groups()
        if (str(lookup(context, path)) == literal) != (operator == "=="):
            return False
    return True


def bash(script: str, cwd: Path, env: Mapping[str, str],
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """A `shell: bash` step as the runner runs it."""
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                          cwd=cwd, env=dict(env), capture_output=True, text=True,
                          timeout=timeout, check=False)


def workflow_commands(log: str) -> list[str]:
    """The lines of a log that GitHub's runner reads as workflow commands: `::` at the start
    (after spaces) or `##[` anywhere."""
    return [line for line in log.splitlines()
            if line.lstrip().startswith("::") or "##[" in line]


# --- GitLab -------------------------------------------------------------------------------------

def _merged(base: Any, override: Any) -> Any:
    """GitLab's `extends`: hashes merged key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merged(base.get(key), value) if key in base else value
        return merged
    return copy.deepcopy(override)


def gitlab_job(path: Path = GITLAB, include: Path = GITLAB_INCLUDE) -> dict[str, Any]:
    """The template's one job with `extends` resolved from the included file (which must be
    the include this repository ships, named by its path)."""
    data = load(path)
    jobs = {k: v for k, v in data.items() if isinstance(v, dict) and not k.startswith(".")
            and k not in ("include", "variables", "default", "workflow")}
    assert len(jobs) == 1, f"{path}: expected one job"
    job: dict[str, Any] = next(iter(jobs.values()))
    parent = job.get("extends")
    if parent is None:
        return job
    files = [entry["file"] for entry in data["include"]]
    assert files == ["/" + include.relative_to(REPO).as_posix()], files
    hidden = load(include)[parent]
    resolved: dict[str, Any] = _merged(hidden, {k: v for k, v in job.items() if k != "extends"})
    return resolved


def gitlab_profile_variable(job: Mapping[str, Any]) -> tuple[str, str]:
    """(variable, first profile) of the job's parallel matrix."""
    entry = job["parallel"]["matrix"][0]
    assert len(entry) == 1, entry
    name, values = next(iter(entry.items()))
    return name, values[0]


# --- running the action's steps as the runner does ----------------------------------------------

@dataclass
class StepResult:
    """One step of a run: its outcome (`success`, `failure`, `skipped`) and log."""

    name: str
    outcome: str
    log: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


UsesHandler = Callable[[str, dict[str, str]], bool]


@dataclass
class ActionRun:
    """The action's steps, run as a composite action runs: inputs from `with:` over the
    defaults, each `run:` step with `bash -eo pipefail`, step outputs read from $GITHUB_OUTPUT,
    `if:` decided by `condition`. `uses:` steps go to `uses(action, options)` (True: success);
    `skip` names steps done elsewhere (the install, once per test module)."""

    workspace: Path
    env: dict[str, str]
    inputs: dict[str, str]
    github: dict[str, str]
    uses: UsesHandler
    skip: frozenset[str] = frozenset()
    results: list[StepResult] = field(default_factory=list)

    def _inputs(self) -> dict[str, str]:
        declared = action_inputs()
        unknown = set(self.inputs) - set(declared)
        assert not unknown, f"{ACTION}: no input {sorted(unknown)}"
        values = {}
        for name, spec in declared.items():
            if name in self.inputs:
                values[name] = self.inputs[name]
            else:
                assert not spec.get("required"), f"input {name} is required"
                values[name] = expand(spec.get("default", ""), {"github": self.github})
        return values

    def run(self, until: str | None = None) -> list[StepResult]:
        context: dict[str, Any] = {"inputs": self._inputs(), "github": self.github, "steps": {}}
        failed = False
        summary = Path(self.env["GITHUB_STEP_SUMMARY"])
        summary.touch()
        for number, step in enumerate(action_steps()):
            name = step.get("name", f"step {number}")
            if name in self.skip or not condition(step.get("if"), context, failed=failed):
                result = StepResult(name, "skipped" if name not in self.skip else "success")
            elif "uses" in step:
                options = {k: expand(v, context) for k, v in step.get("with", {}).items()}
                result = StepResult(name, "success" if self.uses(step["uses"], options)
                                    else "failure")
            else:
                result = self._run(name, step, context)
            failed = failed or result.outcome == "failure"
            if "id" in step:
                context["steps"][step["id"]] = {"outcome": result.outcome,
                                                "outputs": result.outputs}
            self.results.append(result)
            if name == until:
                break
        return self.results

    def _run(self, name: str, step: dict[str, Any], context: dict[str, Any]) -> StepResult:
        assert step.get("shell") == "bash", f"{name}: composite run steps need shell: bash"
        outputs = self.workspace.parent / f"output-{len(self.results)}-{self.workspace.name}"
        outputs.write_text("")
        env = {**self.env, **{k: expand(v, context) for k, v in step.get("env", {}).items()},
               "GITHUB_OUTPUT": str(outputs)}
        done = bash(step["run"], self.workspace, env)
        values = {}
        for line in outputs.read_text().splitlines():
            key, separator, value = line.partition("=")
            assert separator, f"{name}: output line {line!r}"
            assert "<<" not in key, f"{name}: multi-line output {line!r}"
            values[key] = value
        return StepResult(name, "success" if done.returncode == 0 else "failure",
                          done.stdout + done.stderr, values)

    def step(self, name: str) -> StepResult:
        found = [r for r in self.results if r.name == name]
        assert len(found) == 1, f"no step {name!r} ran: {[r.name for r in self.results]}"
        return found[0]

    @property
    def log(self) -> str:
        return "\n".join(r.log for r in self.results)
