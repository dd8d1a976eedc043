"""Issue 17.11c: the evidence says what its SHA-256 proves and what not, and offers a signature;
the signing commands run as the page and the README print them."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cpi_preflight.reporting.document import SIGN_COMMANDS

from .test_evidence import page_text, sample_evidence, write_evidence

README = Path(__file__).resolve().parents[2] / "README.md"
SCHEMA = Path(__file__).resolve().parents[2] / "src/cpi_preflight/data/evidence.schema.json"


def _sh(command: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", command], cwd=folder, capture_output=True, text=True,
                          check=False, timeout=120)


def _readme_block() -> list[str]:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"```sh\n(openssl genpkey.*?)```", text, re.S)
    assert found is not None
    return found.group(1).strip().splitlines()


def test_the_readme_prints_the_commands_the_page_prints(tmp_path: Path) -> None:
    assert _readme_block() == list(SIGN_COMMANDS)
    _, page_path = write_evidence(tmp_path, sample_evidence())
    page = page_path.read_text(encoding="utf-8")
    for command in SIGN_COMMANDS:
        assert f'<code class="command">{html.escape(command)}</code>' in page


def test_the_page_says_what_the_hash_proves_and_what_not(tmp_path: Path) -> None:
    _, page_path = write_evidence(tmp_path, sample_evidence())
    text = " ".join(page_text(page_path.read_text(encoding="utf-8")).split())
    assert ("What the SHA-256 proves: that evidence.json has not changed by accident since it "
            "was written (a truncated or edited copy, a file of another run). What it does not "
            "prove: who wrote it. It is not a signature; anyone who edits the file can compute "
            "a new hash.") in text
    assert "gh attestation verify evidence.json --repo OWNER/REPO" in text


def test_the_schema_says_it_too() -> None:
    description = json.loads(SCHEMA.read_text(encoding="utf-8"))["description"]
    assert ("It proves integrity against accidents (the file did not change since it was "
            "written), not authenticity: it is unkeyed, so anyone who edits the document can "
            "compute a new one.") in description


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_the_signing_commands_work_as_printed(tmp_path: Path) -> None:
    json_path, _ = write_evidence(tmp_path, sample_evidence())
    folder = json_path.parent
    for command in SIGN_COMMANDS[:3]:
        done = _sh(command, folder)
        assert done.returncode == 0, done.stderr
    checked = _sh(SIGN_COMMANDS[3], folder)
    assert (checked.returncode, checked.stdout.strip()) == (0, "Verified OK")
    record = json.loads(json_path.read_text(encoding="utf-8"))
    record["summary"]["result"] = "passed"
    json_path.write_text(json.dumps(record), encoding="utf-8")
    tampered = _sh(SIGN_COMMANDS[3], folder)
    assert tampered.returncode == 1
    assert tampered.stdout.strip() == "Verification failure"
