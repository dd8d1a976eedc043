"""evidence.html in a real browser: headless Chromium renders it, with no secret in the page.

Skipped when Chromium is not installed (`apt-get install chromium` on Debian/Ubuntu, or set
CHROMIUM to the browser binary).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.test_evidence import CLIENT_ID, SECRET_FORMS, sample_evidence, write_evidence

CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")
SCREENSHOT = Path("/tmp/evidence.png")


def _chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM", ""), *CANDIDATES):
        found = shutil.which(name) if name else None
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = _chromium()
    if binary is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium, or set "
                    "CHROMIUM=/path/to/chrome); the evidence page was not rendered in a browser")
    return binary


def _browse(binary: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile_dir = tmp_path / "chromium-profile"
    command = [binary, *FLAGS, f"--user-data-dir={profile_dir}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("evidence")
    _, html_path = write_evidence(folder, sample_evidence())
    return html_path


def _text(dom: str) -> str:
    without_style = re.sub(r"<style>.*?</style>", " ", dom, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", without_style).split())


def test_rendered_dom_has_the_role_matrix_and_no_secret(chromium: str, page: Path,
                                                        tmp_path: Path) -> None:
    done = _browse(chromium, tmp_path, "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert re.search(r'<table id="role-matrix">', dom), dom[:2000]
    assert re.search(r'<table id="endpoints">', dom)
    text = _text(dom)
    for header in ("Role", "Required", "Granted by token", "Proven by call", "Result"):
        assert header in text
    assert "WorkspacePackagesRead" in text
    assert "ROLE_MISSING" in text
    assert "<script" not in dom.lower()
    for form in SECRET_FORMS:
        assert form not in dom
    assert CLIENT_ID in text  # a client id is shown in full: it is not a secret
    assert not re.search(r"<[a-z]+[^>]*\son[a-z]+=", dom)  # no event handler attribute


def test_screenshot(chromium: str, page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "evidence.png"
    done = _browse(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000",
                   page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    shutil.copyfile(shot, SCREENSHOT)
