"""One pytest run over one or more profiles: load, plan, start sandboxes, probe, diagnose.

The pytest plugin owns a `Run` and asks it for verdicts; everything else happens here, in the
one direction profile -> plan -> probe -> diagnosis.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpi_preflight import baseline, network_settings, plan, profile
from cpi_preflight import catalog as catalog_module
from cpi_preflight.plan import Plan
from cpi_preflight.profile import Profile
from cpi_preflight.secret import Secret

if TYPE_CHECKING:
    import httpx

    from cpi_preflight.claims import TokenFacts
    from cpi_preflight.findings import Verdict
    from cpi_preflight.observation import ProfileObservations
    from cpi_preflight.reporting.document import Document
    from cpi_preflight.sandbox import Sandbox
    from cpi_preflight.user_checks import UserChecks


# Why a planned check has no result in the reports (pytest did not run its item).
SELECTION_OPTIONS = "-k, -m, --deselect, --lf or --sw"  # pytest's options that deselect checks
NOT_SELECTED = f"not selected in this run ({SELECTION_OPTIONS} left it out)"
NOT_REACHED = "not run: the session stopped before it (-x, --maxfail or an interrupt)"


@dataclass(frozen=True)
class Settings:
    """Run-wide options from the command line."""

    profiles_dir: Path
    reports_dir: Path
    strict: bool = False
    baseline: Path | None = None
    max_concurrency: int = network_settings.MAX_CONCURRENCY
    max_per_host: int = network_settings.MAX_PER_HOST
    http2: bool = True  # offer HTTP/2 (--http2 off: HTTP/1.1 only)


@dataclass
class Run:
    """The profiles of this pytest session and, once executed, their verdicts."""

    settings: Settings
    profiles: list[Profile]
    plans: dict[str, Plan] = field(default_factory=dict)
    observations: dict[str, ProfileObservations] = field(default_factory=dict)
    verdicts: dict[str, dict[str, Verdict]] = field(default_factory=dict)
    sandboxes: dict[str, Sandbox] = field(default_factory=dict)
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)
    baseline_warnings: list[str] = field(default_factory=list)  # shown as `warning:` lines
    started_at: datetime | None = None
    duration_s: float = 0.0
    executed: bool = False
    ran: set[tuple[str, str]] = field(default_factory=set)
    deselected: set[tuple[str, str]] = field(default_factory=set)

    @functools.cached_property
    def user_checks(self) -> UserChecks:
        """The results of the team's tests (checks/), recorded as pytest runs them; made when
        first used (its outcomes are findings', which collection never needs)."""
        from cpi_preflight.user_checks import UserChecks

        return UserChecks()

    @classmethod
    def load(cls, names: list[str], settings: Settings) -> Run:
        """Resolve names and load every profile; raises `ConfigError` before any network."""
        if network_settings.names_a_proxy_variable(os.environ):
            # the HTTP layer (httpx's client, asyncio) only when there are proxy variables to
            # check: without them both checks have nothing to read, and collection needs neither
            from cpi_preflight import transport

            transport.check_proxy_variables(os.environ)
            transport.check_client_environment()
        profiles = profile.load_selected(names, settings.profiles_dir)
        cat = catalog_module.load()
        run = cls(settings, profiles)
        names = [p.name for p in profiles]
        found = baseline.load(settings.baseline, names)
        run.baselines, ignored = baseline.within_catalog(settings.baseline, found, cat)
        run.baseline_warnings = [*baseline.gaps(settings.baseline, names, found), *ignored]
        run.plans = {p.name: plan.build(p, cat, with_baseline=settings.baseline is not None)
                     for p in profiles}
        return run

    def execute(self, selected: set[str] | None = None) -> None:
        """Start sandboxes, probe every selected profile concurrently, and diagnose."""
        if self.executed:
            return
        # imported here, not at start-up: collection (and --collect-only) never needs it; the
        # diagnosis once the first profile is observed (`diagnose`), not before the first request
        from cpi_preflight import probe

        self.executed = True
        self.started_at = datetime.now(UTC)
        began = time.monotonic()
        chosen = [p for p in self.profiles if selected is None or p.name in selected]
        with ThreadPoolExecutor(max_workers=4) as pool:  # key generation runs outside the GIL
            bound = list(pool.map(self._bind, chosen))
        cat = catalog_module.load()
        plans = [plan.build(p, cat, with_baseline=self.settings.baseline is not None)
                 for p in bound]
        self.plans.update({p.profile.name: p for p in plans})
        verdicts: dict[str, dict[str, Verdict]] = {}

        def diagnose(p: Plan, seen: ProfileObservations) -> None:
            """Each profile as soon as its own requests are over, while others still wait."""
            from cpi_preflight import diagnosis

            name = p.profile.name
            verdicts[name] = diagnosis.diagnose(
                p, seen, cat, datetime.now(UTC), strict=self.settings.strict,
                baseline=self.baselines.get(name))

        self.observations = probe.run(plans, total=self.settings.max_concurrency,
                                      per_host=self.settings.max_per_host,
                                      http2=self.settings.http2, done=diagnose)
        self.verdicts.update((p.profile.name, verdicts[p.profile.name]) for p in plans)
        self.duration_s = time.monotonic() - began

    def _bind(self, prof: Profile) -> Profile:
        if prof.sandbox is None:
            return prof
        from cpi_preflight.sandbox import Sandbox, SandboxSpec

        spec = SandboxSpec.from_mapping(prof.sandbox, environment=prof.environment,
                                        source=str(prof.path))
        sandbox = Sandbox.start(spec)
        self.sandboxes[prof.name] = sandbox
        conn = sandbox.connection
        return profile.bind(
            prof, api_url=conn.api_url, token_url=conn.token_url, client_id=conn.client_id,
            client_secret=Secret(conn.client_secret) if conn.client_secret else None,
            certificate=Path(conn.certificate_path) if conn.certificate_path else None,
            key=Path(conn.key_path) if conn.key_path else None, ca_bundle=Path(conn.ca_path),
        )

    def verdict(self, profile_name: str, check_id: str) -> Verdict:
        """The verdict of one check (the run must have executed)."""
        return self.verdicts[profile_name][check_id]

    def not_run(self, profile_name: str) -> dict[str, str]:
        """Planned checks of an executed profile that pytest did not run: id -> why."""
        return {c.id: NOT_SELECTED if (profile_name, c.id) in self.deselected else NOT_REACHED
                for c in self.plans[profile_name].checks if (profile_name, c.id) not in self.ran}

    def reported(self, profile_name: str) -> dict[str, Verdict]:
        """What the reports say per check: the verdict of each check pytest ran, and a skip
        saying why for the others, so table, JUnit, evidence and exit code tell one story."""
        from cpi_preflight.findings import SKIPPED, Verdict  # verdicts: after a run only

        missing = self.not_run(profile_name)
        verdicts = self.verdicts[profile_name]
        return {c.id: Verdict(c, SKIPPED, missing[c.id], ran=False) if c.id in missing
                else verdicts[c.id] for c in self.plans[profile_name].checks}

    def token_facts(self, profile_name: str) -> TokenFacts | None:
        """What the token of a profile said about itself, if one was issued and read."""
        from cpi_preflight.findings import issued_token  # verdicts: after a run only

        return issued_token(self.verdicts.get(profile_name, {}).get(plan.TOKEN))

    def api_client(self, profile_name: str) -> httpx.Client | None:
        """A read-only client for the tenant API with this run's token, or None without one."""
        seen, prof = self.observations.get(profile_name), self.plans[profile_name].profile
        if seen is None or seen.access_token is None:
            return None
        from cpi_preflight import transport  # imported by the run (probe) already

        settings = transport.trust_settings(prof.ca_bundle, prof.certificate, prof.key)
        return transport.build_api_client(
            settings, transport.ReadOnlyGuard(prof.token_url), prof.api_root,
            seen.access_token.reveal(), prof.timeouts.connect, prof.timeouts.read)

    def document(self, profile_name: str, environ: Mapping[str, str]) -> Document:
        """The masked document every report of one profile renders (`document.build`)."""
        from cpi_preflight import transport  # the document and the HTTP layer: not at collection
        from cpi_preflight.reporting import document

        prof = self.plans[profile_name].profile
        baseline = self.baselines.get(profile_name)
        return document.build(
            self.plans[profile_name], self.observations[profile_name],
            self.reported(profile_name), started_at=self.started_at or datetime.now(UTC),
            duration_s=self.duration_s, token=self.token_facts(profile_name),
            trust=document.trust_text(prof, environ), proxy=transport.proxy_setting(environ),
            baseline=str(baseline["_path"]) if baseline else None, strict=self.settings.strict,
            ci=document.ci_run(environ), user_checks=self.user_checks.of(profile_name, NOT_REACHED))

    def close(self) -> None:
        """Stop every sandbox this run started."""
        for sandbox in self.sandboxes.values():
            sandbox.stop()
        self.sandboxes.clear()

    def describe_connection(self, profile_name: str) -> dict[str, Any]:
        """Non-secret facts about a profile's connection, for report headers."""
        prof = self.plans[profile_name].profile
        return {
            "environment": prof.environment,
            "api_url": prof.api_url,
            "token_url": prof.token_url,
            "credential": "certificate" if prof.uses_certificate else "secret",
            "sandbox": prof.sandbox is not None,
        }
