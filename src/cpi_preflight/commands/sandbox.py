"""`cpi-preflight sandbox ARGS...`: the sandbox's own command line, reached through ours.

The sandbox is imported only when this command runs; an installation without its module gets a
one-line usage error. Its argparse's exits (`--help`, wrong arguments) become exit codes.
"""

from __future__ import annotations

from cpi_preflight.commands import exit_code
from cpi_preflight.errors import ConfigError

SANDBOX_MODULE = "cpi_preflight.sandbox.__main__"


def run(argv: list[str], prog: str) -> int:
    """Hand the arguments to the sandbox's own command line (`python -m cpi_preflight.sandbox`)."""
    try:
        from cpi_preflight.sandbox.__main__ import main as sandbox_main
    except ModuleNotFoundError as exc:
        if exc.name != SANDBOX_MODULE:
            raise
        raise ConfigError(f"this installation has no sandbox ({SANDBOX_MODULE} is missing); "
                          "reinstall cpi-preflight") from None
    try:
        return sandbox_main(argv, prog=prog)
    except SystemExit as exc:  # its argparse exits on --help and on wrong arguments
        return exit_code(exc)
