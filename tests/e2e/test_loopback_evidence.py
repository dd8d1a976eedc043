"""Issue 18.3: a run against a `cpi-preflight sandbox` started on its own (a tenant on
127.0.0.1) is never presented as go-live evidence for a real tenant: not with the profile
`init` writes from the sandbox's key (`simulated: sandbox`), and not without that marker
(the hosts are on this machine)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from markupsafe import escape

from .test_first_run import _bash, sandbox_command

SIGN_OFF = "<div>Reviewer name</div>"


@pytest.fixture
def sandbox_profile(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A sandbox started on its own, the profile `init` wrote from its key, and the lines
    `init` printed to run next (export the secret, run pytest)."""
    sandbox = sandbox_command(tmp_path, "--service-key", "key.json")
    try:
        printed = sandbox.until("Serving; press Ctrl-C to stop.")
        init_line = printed[printed.index("Wrote the service key to key.json (mode 0600). Set "
                                          "up a profile from it:") + 2].strip()
        init = _bash(tmp_path, init_line)
        assert (init.returncode, init.stderr) == (0, "")
        told = [line for line in init.stdout.splitlines()
                if line.startswith(("export ", "pytest "))]
        assert told[-1] == "pytest --profile my-sandbox-cf"
        yield tmp_path / "profiles" / "my-sandbox-cf.yaml", "\n".join(told)
    finally:
        sandbox.proc.terminate()
        sandbox.proc.wait(timeout=10)


def _run(folder: Path, told: str) -> tuple[subprocess.CompletedProcess[str], dict, str]:
    done = _bash(folder, told)
    reports = folder / "reports" / "my-sandbox-cf"
    evidence = json.loads((reports / "evidence.json").read_text(encoding="utf-8"))
    return done, evidence, (reports / "evidence.html").read_text(encoding="utf-8")


def _hosts(evidence: dict) -> tuple[str, str]:
    return evidence["tenant"]["api_host"], evidence["tenant"]["token_host"]


def test_the_profile_init_wrote_from_the_sandbox_key_is_simulated(
        sandbox_profile: tuple[Path, str]) -> None:
    profile, told = sandbox_profile
    assert "simulated: sandbox" in profile.read_text(encoding="utf-8")
    done, evidence, page = _run(profile.parents[1], told)
    assert done.returncode == 0, done.stdout[-3000:]
    caveat = ("simulated tenant: a cpi-preflight sandbox started on its own (the profile says "
              "simulated: sandbox)")
    assert evidence["tenant"]["simulated"] is True
    assert evidence["tenant"]["go_live_evidence"] is False
    assert evidence["tenant"]["caveat"] == caveat
    assert evidence["summary"]["result"] == "passed"
    assert "<title>Not go-live evidence: my-sandbox-cf</title>" in page
    assert ('<p class="kicker">Not go-live evidence &middot; SAP Cloud Integration API client'
            '</p>') in page
    assert ('<p class="not-evidence" id="not-evidence"><strong>Not go-live evidence for a real '
            f"tenant</strong>: {caveat}.</p>") in page
    assert SIGN_OFF not in page


def test_without_the_marker_a_loopback_tenant_is_still_simulated(
        sandbox_profile: tuple[Path, str]) -> None:
    profile, told = sandbox_profile
    text = profile.read_text(encoding="utf-8")
    unmarked = re.sub(r"(?m)^simulated: sandbox\n", "", text)
    assert unmarked != text
    profile.write_text(unmarked, encoding="utf-8")
    done, evidence, page = _run(profile.parents[1], told)
    assert done.returncode == 0, done.stdout[-3000:]
    api, token = _hosts(evidence)
    assert api.startswith("127.0.0.1:")
    assert token.startswith("127.0.0.1:")
    caveat = (f"simulated tenant: the API host {api} and the token host {token} are on this "
              "machine (loopback), not SAP's tenant")
    assert (evidence["tenant"]["simulated"], evidence["tenant"]["go_live_evidence"],
            evidence["tenant"]["caveat"]) == (True, False, caveat)
    shown = escape(caveat)  # SAP's: &#39;
    assert f"<strong>Not go-live evidence for a real tenant</strong>: {shown}.</p>" in page
    assert ('<p class="incomplete-note" id="no-signoff">This run cannot be signed off as '
            f"go-live evidence: {shown}. Run profile my-sandbox-cf against the real tenant and "
            "review that evidence.</p>") in page
    assert SIGN_OFF not in page

    summary = _bash(profile.parents[1], "cpi-preflight summary")
    assert summary.returncode == 0, summary.stderr
    lines = summary.stdout.splitlines()
    row = next(line for line in lines if line.startswith("| my-sandbox-cf |"))
    assert row.startswith("| my-sandbox-cf | cf | ✅ passed | ")
    assert row.endswith(" | no: simulated tenant |")
    assert f"- **my-sandbox-cf** is not go-live evidence for a real tenant: {caveat}" in lines
