"""The probe hands each profile's observations on as soon as that profile's requests are over
(`probe.run(done=...)`), so its diagnosis runs while other profiles still wait for answers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cpi_preflight import probe
from cpi_preflight.observation import ProfileObservations


def fake_plan(name: str) -> Any:
    return SimpleNamespace(profile=SimpleNamespace(name=name))


def test_each_profile_is_handed_on_when_its_own_requests_are_over(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fast_handed_on = asyncio.Event()

    async def probe_profile(plan: Any, limits: Any, *, http2: bool = True
                            ) -> ProfileObservations:
        if plan.profile.name == "slow":  # ends only once "fast" has been handed on
            await asyncio.wait_for(fast_handed_on.wait(), timeout=10)
        return ProfileObservations(plan.profile.name)

    handed_on: list[str] = []

    def done(plan: Any, seen: ProfileObservations) -> None:
        handed_on.append(seen.profile)
        if plan.profile.name == "fast":
            fast_handed_on.set()

    monkeypatch.setattr(probe, "probe_profile", probe_profile)
    observed = probe.run([fake_plan("slow"), fake_plan("fast")], done=done)
    assert handed_on == ["fast", "slow"]
    assert list(observed) == ["slow", "fast"]  # the plans' order, whatever ended first
    assert [seen.profile for seen in observed.values()] == ["slow", "fast"]


def test_the_run_diagnoses_each_profile_as_it_is_handed_on_and_keeps_the_profiles_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cpi_preflight import diagnosis
    from cpi_preflight.run import Run, Settings

    from .conftest_support import write_profile

    for name in ("a-first", "b-second", "c-third"):
        write_profile(tmp_path, name)
    events: list[str] = []

    def fake_run(plans: list[Any], *, done: Any, **_: Any) -> dict[str, ProfileObservations]:
        seen = {p.profile.name: ProfileObservations(p.profile.name) for p in plans}
        for p in reversed(plans):  # the last profile's requests end first
            events.append(f"handed on {p.profile.name}")
            done(p, seen[p.profile.name])
        events.append("probe over")
        return seen

    def fake_diagnose(p: Any, seen: ProfileObservations, *_: Any, **__: Any) -> dict[str, Any]:
        events.append(f"diagnosed {seen.profile}")
        return {}

    monkeypatch.setattr(probe, "run", fake_run)
    monkeypatch.setattr(diagnosis, "diagnose", fake_diagnose)
    run = Run.load(["a-first", "b-second", "c-third"], Settings(tmp_path, tmp_path / "reports"))
    run.execute()
    assert events == ["handed on c-third", "diagnosed c-third", "handed on b-second",
                      "diagnosed b-second", "handed on a-first", "diagnosed a-first",
                      "probe over"]
    assert list(run.verdicts) == ["a-first", "b-second", "c-third"]
