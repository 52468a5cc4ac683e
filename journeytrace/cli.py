"""The `journeytrace` command line: `serve` runs the server, `import` backfills platform records."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from journeytrace import __version__, config


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="journeytrace", description=__doc__)
    parser.add_argument("--version", action="version", version=f"journeytrace {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="receive OTLP spans, store them and serve the query APIs",
        description=(
            "Receive OTLP spans (gRPC and HTTP), store them in an embedded DuckDB file and serve the query API. "
            f"Every flag can also be set as an environment variable {config.ENV_PREFIX}<NAME> "
            "(e.g. JOURNEYTRACE_QUERY_PORT) or in a YAML file given with --config (keys as the flag names, "
            "with - or _); flags win over the environment, which wins over the file."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--config", type=Path, default=None, help="YAML file of settings")
    defaults = config.Config()
    for setting in config.SETTINGS:
        serve.add_argument(
            "--" + setting.name.replace("_", "-"),
            dest=setting.name,
            default=None,
            metavar=setting.name.upper(),
            help=f"{setting.metadata['help']} (default: {getattr(defaults, setting.name)})",
        )
    backfill = commands.add_parser(
        "import",
        help="send a platform's exported records (JSON, JSON lines, CSV) to a running server",
        description=(
            "Backfill: send every record of FILE... through POST /v1/platforms/PLATFORM of a running server, "
            "exactly as live webhooks arrive. Bad records are listed at the end (exit status 1); good ones are kept."
        ),
    )
    backfill.add_argument("--platform", required=True, help="platform name, e.g. amazon_connect")
    backfill.add_argument("--server", default="http://localhost:4318", help="OTLP/HTTP base URL of the server")
    backfill.add_argument("--token", default=None, help="bearer token, if the platform has a secret configured")
    backfill.add_argument("files", nargs="+", type=Path, metavar="FILE")
    return parser


def _import(args: argparse.Namespace) -> int:
    from journeytrace.importer import import_files

    report = import_files(args.server, args.platform, args.files, token=args.token)
    print(f"imported {report.records} records ({report.spans} spans); {len(report.failures)} failed")
    for failure in report.failures:
        print(f"  {failure}", file=sys.stderr)
    return 1 if report.failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "import":
        return _import(args)
    flags = {s.name: getattr(args, s.name) for s in config.SETTINGS}
    try:
        settings = config.load(flags=flags, config_file=args.config)
    except config.ConfigError as exc:
        print(f"journeytrace: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from journeytrace.correlator.config import RulesError
    from journeytrace.server import serve

    try:
        asyncio.run(serve(settings))
    except (RulesError, config.ConfigError) as exc:
        print(f"journeytrace: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        logging.getLogger("journeytrace").error("cannot start: %s", exc)
        return 1
    return 0
