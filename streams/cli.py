"""The ``ccpulse`` command line (SPEC §7).

Errors are one line, ``Error: <what was wrong and what to do>``, exit status 1; usage errors
exit 2 (argparse). ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime

from streams import __version__
from streams.errors import CcpulseError


def parse_timestamp_ms(text: str) -> int:
    """An RFC 3339 timestamp with offset, as epoch milliseconds (for ``--as-of``)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an RFC 3339 timestamp (e.g. 2026-11-22T09:15:00Z)"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset; add Z or +hh:mm")
    return int(moment.timestamp() * 1000)


def _replay(args: argparse.Namespace) -> int:
    from streams.replay import run_replay
    from streams.settings import load_config

    config = load_config(args.config)
    return run_replay(args.files, config, args.as_of, sys.stdout.buffer, sys.stderr)


def _worker(args: argparse.Namespace) -> int:
    from streams.worker.main import run_worker

    return run_worker(args.config)


def _demo(args: argparse.Namespace) -> int:
    from streams.demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccpulse", description="Live contact-centre KPIs from Kafka event streams.")
    parser.add_argument("--version", action="version", version=f"ccpulse {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("worker", help="run a Faust worker: consume topics, serve /metrics")
    p.add_argument("--config", help="TOML config file (default: $CCPULSE_CONFIG)")
    p.set_defaults(func=_worker)

    p = sub.add_parser("replay", help="run the engine over JSON-lines files, print /metrics")
    p.add_argument("files", nargs="+", metavar="FILE", help="JSON-lines event files; - is stdin")
    p.add_argument("--config", help="TOML config file (default: $CCPULSE_CONFIG)")
    p.add_argument("--as-of", type=parse_timestamp_ms, metavar="TIMESTAMP",
                   help="engine clock (RFC 3339); default: the newest valid occurred_at")
    p.set_defaults(func=_replay)

    from streams.produce_cli import add_produce_parser
    from streams.simulate.cli import add_simulate_parser

    add_produce_parser(sub)
    add_simulate_parser(sub)

    from streams.kafka.cli import add_kafka_parser

    add_kafka_parser(sub)

    p = sub.add_parser("demo", help="broker, topics, worker and simulator together")
    p.add_argument("--speed", type=float, default=10.0,
                   help="simulator speed (× real time, default 10)")
    p.add_argument("--config", help="TOML config file (default: $CCPULSE_CONFIG)")
    p.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CcpulseError as exc:
        if args.debug:
            raise
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
