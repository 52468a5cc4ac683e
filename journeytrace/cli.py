"""The `journeytrace` command line: `serve` runs the server, `import` backfills platform records,
`simulate` posts simulated journeys."""

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
    _add_simulate(commands)
    return parser


def _add_simulate(commands: argparse._SubParsersAction) -> None:
    simulate = commands.add_parser(
        "simulate",
        help="post simulated multi-platform journeys (native payloads) to a running server",
        description=(
            "Generate realistic contact-center journeys (PolyAI, Vapi, Twilio, Amazon Connect, Genesys Cloud, "
            "LiveKit) with their trouble (abandoned, dropped, failed transfers, poor audio) and post them through "
            "POST /v1/platforms/PLATFORM as the platforms would. The same seed gives the same journeys."
        ),
    )
    simulate.add_argument("--server", default="http://localhost:4318", help="OTLP/HTTP base URL of the server")
    simulate.add_argument("--journeys", type=int, default=20, help="how many journeys (default: 20)")
    simulate.add_argument("--rate", type=float, default=2.0, help="journeys per second (default: 2)")
    simulate.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    simulate.add_argument("--late-seconds", type=float, default=5.0,
                          help="delay of late payloads: Connect CTRs, Twilio Insights (default: 5)")
    simulate.add_argument("--token", default=None, help="bearer token, if a platform secret is configured")
    simulate.add_argument("--wait-ready", action="store_true",
                          help="first wait (up to 120 s) for the server's /readyz on --query")
    simulate.add_argument("--query", default="http://localhost:16686", help="query API base URL, for --wait-ready")


def _simulate(args: argparse.Namespace) -> int:
    from journeytrace import simulator

    if args.wait_ready and not simulator.wait_ready(args.query, args.server, 120.0):
        print(f"journeytrace: server not ready at {args.query}", file=sys.stderr)
        return 1
    report = simulator.simulate(
        args.server, count=args.journeys, rate=args.rate, seed=args.seed, late_seconds=args.late_seconds,
        token=args.token,
    )  # fmt: skip
    print(f"simulated {args.journeys} journeys: {report.posts} payloads ({report.spans} spans); "
          f"{len(report.failures)} failed")  # fmt: skip
    for failure in report.failures:
        print(f"  {failure}", file=sys.stderr)
    return 1 if report.failures else 0


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
    if args.command == "simulate":
        return _simulate(args)
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
