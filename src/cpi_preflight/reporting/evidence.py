"""evidence.json: the document's record as a file, for reviewers, the CI job summary and a
later run's `--baseline`.

The record is already masked, cleaned and sealed (`document.build`); this writes it as indented
UTF-8 JSON. Its SHA-256 is over the canonical JSON (`document.canonical_json`), not over these
bytes, so the layout here may change without breaking a seal.
"""

from __future__ import annotations

import json

from cpi_preflight.reporting.document import Document


def render(document: Document) -> str:
    """The text of evidence.json."""
    return json.dumps(document.record, indent=2, ensure_ascii=False) + "\n"
