"""The default limits: each tenant is protected per host, and the global cap is not the
bottleneck of a landscape run (bench/run.py measures what that buys)."""

from __future__ import annotations

import inspect
import subprocess
import sys

from cpi_preflight import probe
from cpi_preflight.network_settings import MAX_CONCURRENCY, MAX_PER_HOST
from cpi_preflight.run import Settings
from cpi_preflight.transport import Limits

LANDSCAPE = 20  # tenants in the benchmark's landscape case


def test_the_global_cap_leaves_every_tenant_its_per_host_share() -> None:
    assert Settings.max_concurrency >= LANDSCAPE * Settings.max_per_host


def test_one_default_serves_the_option_the_probe_and_the_limits() -> None:
    """The default was set three times with two values (256 in run and probe, 32 in Limits);
    the documented 256 is the one constant now."""
    given = inspect.signature(probe.run).parameters
    assert (Settings.max_concurrency, given["total"].default, Limits().total) == (
        MAX_CONCURRENCY, MAX_CONCURRENCY, MAX_CONCURRENCY)
    assert (Settings.max_per_host, given["per_host"].default, Limits().per_host) == (
        MAX_PER_HOST, MAX_PER_HOST, MAX_PER_HOST)
    assert MAX_CONCURRENCY == 256


def test_the_help_states_the_defaults_that_apply() -> None:
    shown = subprocess.run([sys.executable, "-m", "pytest", "--help"], capture_output=True,
                           text=True, check=True, timeout=60).stdout
    assert "requests in flight at once across all profiles (default" in shown
    assert " ".join(shown.split()).count(
        f"(default {Settings.max_concurrency}; --max-per-host protects each tenant)") == 1
    assert f"requests in flight at once per host (default {Settings.max_per_host})" in " ".join(
        shown.split())
