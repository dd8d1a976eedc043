"""The `cpi-preflight` subcommands that do more than print: one module per verb.

`cli` parses the arguments and calls the verb's module (`init`: write a profile; `sandbox`:
hand over to the sandbox's own command line; `summary`: read a run's evidence files back and
print the CI job summary; `schema`: print the profile schema, and write the copy `init` puts
beside the profiles). The verbs that only print what `docs` renders (catalog, codes, explain)
are dispatched by `cli` directly.
Exit codes: 0 done, `USAGE_ERROR` (2) the input is wrong.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from cpi_preflight.text import log_line

USAGE_ERROR = 2


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors quote the arguments given as one visible line
    (`text.log_line`): argparse repeats an unknown argument raw, escape sequences and all."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE_ERROR, f"{self.prog}: error: {log_line(message)}\n")


def exit_code(exc: SystemExit) -> int:
    """The exit code an argparse `SystemExit` carries (`--help`: 0; wrong arguments: 2)."""
    return exc.code if isinstance(exc.code, int) else USAGE_ERROR
