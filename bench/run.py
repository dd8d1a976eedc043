"""Benchmark: the real `pytest --profile ...` command against sandbox tenants with added latency.

    python bench/run.py            # the table of issue 5: 1x10 and 20x10 at 0 and 100 ms, RSS
    python bench/run.py --quick    # only 1x10 and 20x10 at 0 ms

For each case it starts `python -m cpi_preflight.sandbox --count N --json` in its own process
(so the server's CPU does not count against the client), writes N real profiles pointing at
those tenants, runs pytest in a subprocess and reports: wall time; the floor (the same case's
wall time at 0 ms latency, plus 2 x latency: one round trip for the token, one for the endpoints;
the JWKS request runs beside the token request, so it is not on the critical path); the
sequential estimate (requests x latency); and the peak RSS of the pytest process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

ROLES = ["MonitoringDataRead", "WorkspacePackagesRead", "DataStoresAndQueuesRead",
         "AccessPoliciesRead"]
ENDPOINTS = ["MessageProcessingLogs", "MessageProcessingLogsCount", "IntegrationRuntimeArtifacts",
             "IntegrationPackages", "ValueMappingDesigntimeArtifacts", "UserCredentials",
             "KeystoreEntries", "DataStores", "NumberRanges", "AccessPolicies"]
REQUESTS_PER_PROFILE = 2 + len(ENDPOINTS)  # token + token_keys + endpoints


@dataclass
class Result:
    profiles: int
    latency_ms: int
    wall_s: float
    rss_mb: float
    exit_code: int
    extra: str = ""


@contextmanager
def sandboxes(count: int, latency_ms: int) -> Iterator[list[dict[str, str]]]:
    command = [sys.executable, "-m", "cpi_preflight.sandbox", "--count", str(count), "--json",
               "--latency-ms", str(latency_ms), "--roles", ",".join(ROLES)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    tenants = []
    for line in server.stdout:
        if line.strip() == "ready":
            break
        tenants.append(json.loads(line))
    try:
        yield tenants
    finally:
        server.terminate()
        server.wait(timeout=10)


def write_profiles(folder: Path, tenants: list[dict[str, str]]) -> dict[str, str]:
    env = dict(os.environ)
    # Measure as users run it: with Python's bytecode cache (this workplace sets it off).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # One trust bundle for the landscape, as a real one has (all SAP hosts share public CAs);
    # each sandbox tenant has its own throwaway CA, so they are concatenated.
    bundle = folder / "landscape-ca.pem"
    bundle.write_text("".join(Path(t["ca_path"]).read_text() for t in tenants))
    for number, tenant in enumerate(tenants):
        variable = f"BENCH_SECRET_{number}"
        env[variable] = tenant["client_secret"]
        body = {"environment": "cf", "api_url": tenant["api_url"],
                "token_url": tenant["token_url"], "client_id": tenant["client_id"],
                "client_secret": "${" + variable + "}", "ca_bundle": str(bundle),
                "required_roles": ROLES, "endpoints": ENDPOINTS}
        (folder / f"tenant-{number:03d}.yaml").write_text(yaml.safe_dump(body))
    return env


def run_pytest(folder: Path, env: dict[str, str], *extra: str) -> tuple[float, float, int]:
    command = [sys.executable, "-m", "pytest", "--profile", "all", "-q", "-p",
               "no:cacheprovider", f"--profiles-dir={folder / 'profiles'}",
               f"--reports-dir={folder / 'reports'}", *extra]
    began = time.perf_counter()
    child = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - began
    return wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def measure(count: int, latency_ms: int, *extra: str) -> Result:
    with tempfile.TemporaryDirectory(prefix="cpi-bench-") as tmp, \
            sandboxes(count, latency_ms) as tenants:
        folder = Path(tmp)
        (folder / "profiles").mkdir()
        env = write_profiles(folder / "profiles", tenants)
        wall, rss, code = run_pytest(folder, env, *extra)
    return Result(count, latency_ms, wall, rss, code, " ".join(extra))


def startup(count: int) -> float:
    with tempfile.TemporaryDirectory(prefix="cpi-bench-") as tmp, \
            sandboxes(count, 0) as tenants:
        folder = Path(tmp)
        (folder / "profiles").mkdir()
        env = write_profiles(folder / "profiles", tenants)
        wall, _, _ = run_pytest(folder, env, "--collect-only")
    return wall


def table(results: list[Result], base: dict[int, float], boot: dict[int, float]) -> None:
    """floor: the same case at 0 ms + 2 x latency; strict floor: start-up and collection only
    (`--collect-only`, no requests at all) + 2 x latency."""
    print(f"{'case':<38}{'wall s':>7}{'floor':>7}{'x floor':>8}{'strict':>8}{'x strict':>9}"
          f"{'seq. est':>9}{'x faster':>9}{'RSS MB':>7}{'exit':>5}")
    for r in results:
        floor = base[r.profiles] + 2 * r.latency_ms / 1000
        strict = boot[r.profiles] + 2 * r.latency_ms / 1000
        sequential = r.profiles * REQUESTS_PER_PROFILE * r.latency_ms / 1000
        speedup = f"{sequential / r.wall_s:.1f}" if sequential else "-"
        name = f"{r.profiles}x{len(ENDPOINTS)} @{r.latency_ms}ms {r.extra}".strip()
        print(f"{name:<38}{r.wall_s:>7.2f}{floor:>7.2f}{r.wall_s / floor:>8.2f}{strict:>8.2f}"
              f"{r.wall_s / strict:>9.2f}{sequential:>9.1f}{speedup:>9}{r.rss_mb:>7.0f}"
              f"{r.exit_code:>5}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the 0 ms cases")
    parser.add_argument("--rss-profiles", type=int, default=100,
                        help="profiles for the memory case (default 100)")
    options = parser.parse_args()
    latencies = [0] if options.quick else [0, 100]
    startup(1)  # warm-up: fills the bytecode cache, like any second run on a user's machine
    results = [measure(count, latency) for count in (1, 20) for latency in latencies]
    if not options.quick:
        results.append(measure(20, 100, "--max-concurrency=32"))  # the default until 2026-11-26
        results.append(measure(options.rss_profiles, 0))
    base = {r.profiles: r.wall_s for r in results if r.latency_ms == 0}
    boot = {count: startup(count) for count in base}
    table(results, base, boot)
    print(f"\npytest start-up + collection for 20 profiles: {boot[20]:.2f} s")
    return 0 if all(r.exit_code == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
