"""Benchmark: the real `pytest --profile ...` command against sandbox tenants, beside a bare client.

    python bench/run.py               # every case, once
    python bench/run.py --repeat 5    # every case five times; the table shows medians
    python bench/run.py --quick       # only the 0 ms cases of 1 and 20 profiles
    python bench/run.py --python /tmp/venv-user/bin/python   # the product from a users' venv
    python bench/run.py --python NEW/bin/python --compare OLD/bin/python   # two, interleaved

Each case is a landscape: `python -m cpi_preflight.sandbox --count N --json --http2` in its own
process (so the server's CPU does not count against the client), N real profiles pointing at its
tenants, and these runs on it, one after the other, in the same bench run:

- floor: bench/floor.py, a minimal httpx + PyJWT script doing the same exchanges over one
  HTTP/1.1 connection per host (no retries, no reports): what any client must do at the least;
- HTTP/1.1: `pytest --profile all --http2 off`;
- HTTP/2: `pytest --profile all` (the sandbox offers HTTP/2 through ALPN).

For each: wall time (median over --repeat) and its ratio to the floor of the same case; the
network phase alone (the product's `Run.execute`, as evidence.json's run.duration_s says: plan,
probe and diagnosis; the floor's exchanges without its start-up) and its ratio; the connections
opened per profile (from the evidence, the floor's own count) and the most on one host; peak
RSS. Then the issue-19 targets, each with the numbers measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROLES = ["MonitoringDataRead", "WorkspacePackagesRead", "DataStoresAndQueuesRead",
         "AccessPoliciesRead"]
ENDPOINTS = ["MessageProcessingLogs", "MessageProcessingLogsCount", "IntegrationRuntimeArtifacts",
             "IntegrationPackages", "ValueMappingDesigntimeArtifacts", "UserCredentials",
             "KeystoreEntries", "DataStores", "NumberRanges", "AccessPolicies"]
REQUESTS_PER_PROFILE = 2 + len(ENDPOINTS)  # token + token_keys + endpoints
FLOOR, HTTP11, HTTP2 = "floor", "HTTP/1.1", "HTTP/2"
KINDS = (FLOOR, HTTP11, HTTP2)


@dataclass
class Row:
    """One kind of run on one landscape, measured --repeat times."""

    profiles: int
    latency_ms: int
    kind: str
    walls: list[float] = field(default_factory=list)
    networks: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)
    per_profile: float = 0.0  # connections opened per profile (last run)
    per_host: int = 0  # the most connections one profile opened to one host (last run)

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def network(self) -> float:
        done = [n for n, code in zip(self.networks, self.exit_codes, strict=True) if code == 0]
        return statistics.median(done) if done else float("nan")

    @property
    def rss(self) -> float:
        return statistics.median(self.rss_mb)

    @property
    def case(self) -> str:
        return f"{self.profiles}x{len(ENDPOINTS)} @{self.latency_ms}ms"


@dataclass
class Landscape:
    folder: Path
    env: dict[str, str]
    tenants_file: Path
    bundle: Path


@contextmanager
def sandboxes(count: int, latency_ms: int) -> Iterator[list[dict[str, str]]]:
    command = [sys.executable, "-m", "cpi_preflight.sandbox", "--count", str(count), "--json",
               "--latency-ms", str(latency_ms), "--roles", ",".join(ROLES), "--http2"]
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


def landscape(folder: Path, tenants: list[dict[str, str]]) -> Landscape:
    profiles = folder / "profiles"
    profiles.mkdir()
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
        (profiles / f"tenant-{number:03d}.yaml").write_text(yaml.safe_dump(body))
    tenants_file = folder / "tenants.json"
    tenants_file.write_text("".join(json.dumps(t) + "\n" for t in tenants))
    return Landscape(folder, env, tenants_file, bundle)


def timed(command: list[str], cwd: Path, env: dict[str, str],
          ok: tuple[int, ...] = (0, 1)) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS in MB, exit code and standard output of one child process (its
    standard error is kept in a file and shown when it fails)."""
    began = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:
        child = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                 stderr=errors, text=True)
        assert child.stdout is not None
        out = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - began
        code = os.waitstatus_to_exitcode(status)
        if code not in ok:
            errors.seek(0)
            print(f"exit {code}: {' '.join(command[:4])} ...\n{errors.read()[-2000:]}",
                  file=sys.stderr)
    return wall, usage.ru_maxrss / 1024, code, out


PRODUCT_PYTHON = [sys.executable]  # --python: the interpreter of the product's runs
COMPARED = "base "  # the prefix of the kinds run by --compare's interpreter
COMPARE_PYTHON: list[str] = []  # --compare: another version of the product, run beside


def pytest_command(land: Landscape, *extra: str, python: str | None = None) -> list[str]:
    return [python or PRODUCT_PYTHON[0], "-m", "pytest", "--profile", "all", "-q", "-p",
            "no:cacheprovider",
            f"--profiles-dir={land.folder / 'profiles'}",
            f"--reports-dir={land.folder / 'reports'}", *extra]


def evidence_seen(reports: Path) -> tuple[float, int, float]:
    """Connections per profile (mean), the most one profile opened to one host, and the
    network phase in seconds, as the evidence of the last run says."""
    totals, most, network = [], 0, 0.0
    for path in reports.glob("*/evidence.json"):
        run = json.loads(path.read_text())["run"]
        hosts = run.get("connections", [])
        totals.append(sum(h["connections"] for h in hosts))
        most = max([most, *(h["connections"] for h in hosts)])
        network = run["duration_s"]  # the same for every profile of a run
    return (statistics.mean(totals) if totals else 0.0), most, network


def run_once(row: Row, land: Landscape) -> None:
    if row.kind == FLOOR:
        command = [sys.executable, str(HERE / "floor.py"), str(land.tenants_file),
                   str(land.bundle)]
    else:
        kind = row.kind.removeprefix(COMPARED)
        python = COMPARE_PYTHON[0] if row.kind.startswith(COMPARED) else None
        command = pytest_command(land, *(["--http2=off"] if kind == HTTP11 else []),
                                 python=python)
    wall, rss, code, out = timed(command, land.folder, land.env)
    row.walls.append(wall)
    row.rss_mb.append(rss)
    row.exit_codes.append(code)
    if row.kind == FLOOR:
        said = json.loads(out.strip().splitlines()[-1]) if code == 0 else {}
        row.per_profile, row.per_host = said.get("connections", 0) / row.profiles, 1
        row.networks.append(said.get("network_s", 0.0))
    else:
        row.per_profile, row.per_host, network = evidence_seen(land.folder / "reports")
        row.networks.append(network)


def measure_case(count: int, latency_ms: int, repeat: int) -> list[Row]:
    kinds = [*KINDS, *(COMPARED + k for k in KINDS[1:] if COMPARE_PYTHON)]
    rows = [Row(count, latency_ms, kind) for kind in kinds]
    with tempfile.TemporaryDirectory(prefix="cpi-bench-") as tmp, \
            sandboxes(count, latency_ms) as tenants:
        land = landscape(Path(tmp), tenants)
        for _ in range(repeat):
            for row in rows:  # interleaved, so that noise from other work spreads evenly
                run_once(row, land)
    return rows


def startup(count: int, repeat: int) -> float:
    """Median wall time of pytest start-up and collection of `count` profiles."""
    with tempfile.TemporaryDirectory(prefix="cpi-bench-") as tmp, \
            sandboxes(count, 0) as tenants:
        land = landscape(Path(tmp), tenants)
        walls = [timed(pytest_command(land, "--collect-only"), land.folder, land.env)[0]
                 for _ in range(repeat)]
    return statistics.median(walls)


def bare_pytest(repeat: int) -> float:
    """Median wall time of `pytest --collect-only` in an empty folder without cpi-preflight:
    what start-up costs before any of ours (pytest and the plugins installed beside it)."""
    with tempfile.TemporaryDirectory(prefix="cpi-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        command = [PRODUCT_PYTHON[0], "-m", "pytest", "--collect-only", "-q",
                   "-p", "no:cacheprovider", "-p", "no:cpi_preflight"]
        nothing = (5,)  # pytest's exit code when no test was collected
        timed(command, Path(tmp), env, nothing)  # warm-up
        return statistics.median(timed(command, Path(tmp), env, nothing)[0]
                                 for _ in range(repeat))


def table(rows: list[Row]) -> None:
    floors = {(r.profiles, r.latency_ms): r for r in rows if r.kind == FLOOR}
    print(f"{'case':<16}{'run':<15}{'wall s':>8}{'x floor':>9}{'net s':>7}{'x floor':>9}"
          f"{'conn/profile':>14}{'max/host':>10}{'RSS MB':>8}{'exit':>6}")
    for r in rows:
        floor = floors[(r.profiles, r.latency_ms)]
        codes = ",".join(str(c) for c in sorted(set(r.exit_codes)))
        net = r.network / floor.network
        print(f"{r.case:<16}{r.kind:<15}{r.wall:>8.2f}{r.wall / floor.wall:>9.2f}"
              f"{r.network:>7.2f}{net:>9.2f}{r.per_profile:>14.1f}{r.per_host:>10}"
              f"{r.rss:>8.0f}{codes:>6}")


def find(rows: list[Row], profiles: int, latency: int, kind: str) -> Row | None:
    return next((r for r in rows if (r.profiles, r.latency_ms, r.kind) ==
                 (profiles, latency, kind)), None)


def targets(rows: list[Row], rss_profiles: int) -> None:
    """The targets of issue 19, each with what was measured."""
    print("\ntargets (issue 19):")
    floor, h1 = find(rows, 20, 0, FLOOR), find(rows, 20, 0, HTTP11)
    if floor and h1:
        print(f"  20x10 @0ms HTTP/1.1 <= 1.5x the floor: {h1.wall:.2f} s = "
              f"{h1.wall / floor.wall:.2f}x {floor.wall:.2f} s (network phase alone: "
              f"{h1.network:.2f} s = {h1.network / floor.network:.2f}x {floor.network:.2f} s)")
    for kind in (HTTP11, HTTP2):
        slow, fast = find(rows, 20, 100, kind), find(rows, 20, 0, kind)
        if slow and fast:
            print(f"  20x10 @100ms {kind} <= its 0 ms time + 2 round trips: {slow.wall:.2f} s "
                  f"vs {fast.wall:.2f} + 0.20 = {fast.wall + 0.2:.2f} s")
    for kind in (HTTP11, HTTP2):
        big = find(rows, rss_profiles, 0, kind)
        if big:
            print(f"  {big.case} {kind} <= 3 s, RSS < 150 MB: {big.wall:.2f} s, "
                  f"{big.rss:.0f} MB")
    most = max((r.per_host for r in rows if r.kind == HTTP2), default=0)
    print(f"  HTTP/2: one connection per host per profile: at most {most} on any host")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the 0 ms cases")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each case; the table shows medians (default 1)")
    parser.add_argument("--rss-profiles", type=int, default=100,
                        help="profiles for the memory case (default 100)")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter of the product's runs, e.g. that of a venv made "
                             "with `pip install .` (no test extras), as users have (default: "
                             "this one)")
    parser.add_argument("--compare", metavar="PYTHON",
                        help="also run the product from this interpreter (e.g. a venv of an "
                             "earlier commit), interleaved on the same landscapes: rows "
                             "'base HTTP/1.1' and 'base HTTP/2'")
    options = parser.parse_args()
    PRODUCT_PYTHON[0] = options.python
    if options.compare:
        COMPARE_PYTHON.append(options.compare)
    cases = [(1, 0), (20, 0)] if options.quick else \
        [(1, 0), (20, 0), (20, 100), (options.rss_profiles, 0)]
    startup(1, 1)  # warm-up: fills the bytecode cache, like any second run on a user's machine
    rows = [row for count, latency in cases
            for row in measure_case(count, latency, options.repeat)]
    table(rows)
    targets(rows, options.rss_profiles)
    print(f"\npytest start-up + collection for 20 profiles: {startup(20, options.repeat):.2f} s"
          f" (median of {options.repeat}); pytest alone, without cpi-preflight: "
          f"{bare_pytest(max(3, options.repeat)):.2f} s")
    return 0 if all(code == 0 for r in rows for code in r.exit_codes) else 1


if __name__ == "__main__":
    sys.exit(main())
