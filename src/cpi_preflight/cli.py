"""The `cpi-preflight` command line: arguments and dispatch.

    cpi-preflight init --service-key KEY.json|- --name NAME [--roles A,B] [--endpoints X,Y]
                       [--ca-bundle CA.pem]
    cpi-preflight init [--environment neo] --name NAME --api-url URL --token-url URL --client-id ID
    cpi-preflight init --postman COLLECTION.json [--postman-environment ENV.json] --name NAME
    cpi-preflight catalog [--environment cf|neo] [--format text|markdown|json]
    cpi-preflight codes [--format text|markdown]
    cpi-preflight explain CODE
    cpi-preflight schema
    cpi-preflight sandbox [ARGS...]
    cpi-preflight summary [REPORTS] [--all]

The checks themselves run under pytest (`pytest --profile NAME`); this command only prepares
and explains. `init`, `sandbox`, `summary` and `schema` live in `commands/`; catalog, codes
and explain print what `docs` renders. Exit codes: 0 done, 2 the input is wrong (the message
says where and what to do).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from cpi_preflight import __version__, docs
from cpi_preflight import catalog as catalog_module
from cpi_preflight.commands import USAGE_ERROR, ArgumentParser, exit_code
from cpi_preflight.commands import init as init_command
from cpi_preflight.commands import sandbox as sandbox_command
from cpi_preflight.commands import schema as schema_command
from cpi_preflight.commands import summary as summary_command
from cpi_preflight.errors import PreflightError
from cpi_preflight.reporting.terminal import printable

PROG = "cpi-preflight"


# --- what each command does (init, sandbox, summary: in commands/) ----------------------------

_CATALOG_FORMATS: dict[str, Callable[[str | None], str]] = {
    "text": docs.catalog_text, "markdown": docs.catalog_markdown, "json": docs.catalog_json,
}
_CODES_FORMATS: dict[str, Callable[[], str]] = {
    "text": docs.codes_text, "markdown": docs.codes_table_markdown,
}


def run_catalog(args: argparse.Namespace) -> int:
    """Print the endpoints and role templates."""
    print(_CATALOG_FORMATS[args.format](args.environment))
    return 0


def run_codes(args: argparse.Namespace) -> int:
    """Print the failure codes."""
    print(_CODES_FORMATS[args.format]())
    return 0


def run_explain(args: argparse.Namespace) -> int:
    """Print one code's meaning, causes and fixes (an unknown code is a usage error)."""
    print(docs.explain(args.code))
    return 0


def run_summary(args: argparse.Namespace) -> int:
    """Print the Markdown summary of a run's reports (for `$GITHUB_STEP_SUMMARY`)."""
    print(summary_command.markdown_page(args.reports, every_run=args.all), end="")
    return 0


def run_sandbox(argv: list[str]) -> int:
    """Hand the arguments to the sandbox's own command line."""
    return sandbox_command.run(argv, prog=f"{PROG} sandbox")


# --- command line ------------------------------------------------------------------------------

def _names(value: str) -> list[str]:
    return [n for n in (p.strip() for p in value.split(",")) if n]


def _add_init(commands: argparse._SubParsersAction[ArgumentParser]) -> None:
    init = commands.add_parser(
        "init", help="write profiles/NAME.yaml from a service key (secrets stay in variables)",
        description="Write a tenant profile that refers to the secret only through ${VAR}, "
                    "and print the export lines and the pytest command to run next.")
    init.add_argument("--name", required=True, help="profile name: profiles/NAME.yaml")
    init.add_argument("--service-key", type=Path, metavar="KEY.json",
                      help="CF service key of the Process Integration Runtime (plan api): as "
                           "downloaded, as `cf service-key <instance> <key>` prints it, or a "
                           "VCAP_SERVICES JSON; - reads it from standard input")
    init.add_argument("--environment", choices=catalog_module.ENVIRONMENTS,
                      help="cf or neo (default: neo for a Neo token URL "
                           "(.../oauth2/api/v1/token), else cf)")
    init.add_argument("--api-url", help="without a service key (Neo): the tenant API URL")
    init.add_argument("--token-url", help="without a service key (Neo): the token endpoint")
    init.add_argument("--client-id", help="without a service key (Neo): the OAuth client id")
    init.add_argument("--profiles-dir", type=Path, default=Path("profiles"), metavar="DIR",
                      help="where to write the profile (default: profiles)")
    init.add_argument("--roles", type=_names, metavar="A,B",
                      help="required roles (default: MonitoringDataRead; Neo: "
                           "IntegrationOperationServer.read,NodeManager.read)")
    init.add_argument("--endpoints", type=_names, metavar="X,Y",
                      help="endpoints to call (default: "
                           "MessageProcessingLogs,IntegrationRuntimeArtifacts)")
    init.add_argument("--write-pem", type=Path, metavar="DIR",
                      help="certificate keys: write NAME.crt and NAME.key (mode 0600) into DIR")
    init.add_argument("--postman", type=Path, metavar="COLLECTION.json",
                      help="Postman Collection v2.1 export: OAuth 2.0 client credentials, API "
                           "URL and the entity sets its requests read")
    init.add_argument("--postman-environment", type=Path, metavar="ENV.json",
                      help="Postman environment export resolving the collection's {{variables}}")
    init.add_argument("--ca-bundle", type=Path, metavar="PEM",
                      help="extra trusted CA certificates (PEM) for a tenant or proxy behind a "
                           "private CA; written to the profile as ca_bundle")
    init.add_argument("--simulated", action="store_true",
                      help="the tenant is a `cpi-preflight sandbox` (its printed init line "
                           "adds this; a sandbox's service key says so itself): the profile "
                           "gets `simulated: sandbox`")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.set_defaults(handler=init_command.run)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `cpi-preflight`."""
    parser = ArgumentParser(
        prog=PROG, description="Set up and explain cpi-preflight checks; run them with "
                               "`pytest --profile NAME`.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_init(commands)
    catalog = commands.add_parser("catalog", help="list endpoints and role templates")
    catalog.add_argument("--environment", choices=catalog_module.ENVIRONMENTS,
                         help="only what applies to cf or neo")
    catalog.add_argument("--format", choices=sorted(_CATALOG_FORMATS), default="text")
    catalog.set_defaults(handler=run_catalog)
    codes = commands.add_parser("codes", help="list failure codes with cause and fix")
    codes.add_argument("--format", choices=sorted(_CODES_FORMATS), default="text")
    codes.set_defaults(handler=run_codes)
    explain = commands.add_parser("explain", help="what one failure code means and how to fix it")
    explain.add_argument("code", metavar="CODE", help="a failure code, e.g. ROLE_MISSING")
    explain.set_defaults(handler=run_explain)
    summarize = commands.add_parser(
        "summary", help="Markdown summary of a run's reports (result, failed checks, codes)",
        description="Print one Markdown page from REPORTS/<profile>/evidence.json: per profile "
                    "the result, when and in which CI run it started, and every failed check "
                    "and warning with its code; only the latest run's reports unless --all. "
                    'In GitHub Actions: cpi-preflight summary reports >> "$GITHUB_STEP_SUMMARY".')
    summarize.add_argument("reports", type=Path, nargs="?", default=Path("reports"),
                           metavar="REPORTS", help="reports folder of a run (default: reports)")
    summarize.add_argument("--all", action="store_true",
                           help="show every report in REPORTS, not only the latest run's")
    summarize.set_defaults(handler=run_summary)
    schema = commands.add_parser(
        "schema", help="print the JSON Schema of a profile (for editors and validators)",
        description="Print the JSON Schema (draft 2020-12) of profiles/NAME.yaml, the file "
                    "`init` writes beside the profiles as profile.schema.json. E.g. "
                    "cpi-preflight schema > profiles/profile.schema.json")
    schema.set_defaults(handler=schema_command.run)
    sandbox = commands.add_parser("sandbox", add_help=False,
                                  help="serve a simulated tenant (arguments go to the sandbox)")
    sandbox.add_argument("args", nargs=argparse.REMAINDER)
    sandbox.set_defaults(handler=lambda a: run_sandbox(a.args))
    return parser


def _parse(argv: Sequence[str]) -> argparse.Namespace | int:
    try:
        return build_parser().parse_args(argv)
    except SystemExit as exc:
        return exit_code(exc)


def main(argv: list[str] | None = None) -> int:
    """Run `cpi-preflight`; return the exit code (0 done, 2 wrong input)."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    command = arguments[0] if arguments else ""
    try:
        if command == "sandbox":
            return run_sandbox(arguments[1:])
        parsed = _parse(arguments)
        return parsed if isinstance(parsed, int) else int(parsed.handler(parsed))
    except PreflightError as exc:
        print(f"{PROG} {command}: {printable(str(exc))}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:
        # The reader went away (`cpi-preflight catalog | head`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
