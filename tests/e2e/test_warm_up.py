"""What the run needs after the probe is loaded while the probe runs, not after it: the
renderers (`reporting.reports.warm_up`) and the diagnosis (`run.preload_diagnosis`)."""

from __future__ import annotations

import os
from pathlib import Path

from cpi_preflight.reporting.reports import WARM_UP_THREAD
from cpi_preflight.run import DIAGNOSIS_PRELOAD

from .conftest import run_pytest

# A plugin of the test's own: when the probe starts, it writes whether the warm-up has begun
# (its thread is alive, or has already imported Jinja2, which nothing before it imports).
WATCHER = f"""
import os, sys, threading
from cpi_preflight import run

_execute = run.Run.execute

def execute(self, *args, **kwargs):
    begun = any(t.name == {WARM_UP_THREAD!r} for t in threading.enumerate()) \\
        or "jinja2" in sys.modules
    with open(os.environ["WARM_UP_SEEN"], "w") as out:
        out.write("begun" if begun else "not begun")
    return _execute(self, *args, **kwargs)

run.Run.execute = execute

from cpi_preflight import probe

_probe = probe.run

def probe_run(*args, **kwargs):
    begun = any(t.name == {DIAGNOSIS_PRELOAD!r} for t in threading.enumerate()) \\
        or "cpi_preflight.diagnosis" in sys.modules
    with open(os.environ["WARM_UP_SEEN"], "a") as out:
        out.write(" diagnosis begun" if begun else " diagnosis not begun")
    return _probe(*args, **kwargs)

probe.run = probe_run
"""


def test_the_renderers_and_the_diagnosis_load_while_the_probe_runs(tmp_path: Path) -> None:
    seen = tmp_path / "seen.txt"
    (tmp_path / "watch_warm_up.py").write_text(WATCHER)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "WARM_UP_SEEN": str(seen)}
    outcome = run_pytest(tmp_path, "--profile", "sandbox-cf", "-p", "watch_warm_up", env=env)
    assert outcome.code == 0, outcome.stdout + outcome.stderr
    assert seen.read_text() == "begun diagnosis begun"
    assert (outcome.reports / "sandbox-cf" / "evidence.html").read_text().startswith(
        "<!DOCTYPE html>")
