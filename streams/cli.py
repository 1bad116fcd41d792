"""The ``ccpulse`` command line (docs/contract.md §7).

Errors are one line, ``Error: <what was wrong and what to do>``, exit status 1; usage errors
exit 2 (argparse). ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from streams import __version__
from streams.core.timestamps import parse_us
from streams.errors import CcpulseError
from streams.invocation import as_run_here


def parse_timestamp_us(text: str) -> int:
    """``--as-of``: an RFC 3339 timestamp with offset, as epoch microseconds.

    The project's one parser (``streams.core.timestamps.parse_us``), so the engine clock keeps
    every digit an event time can have; its message becomes the usage error.
    """
    try:
        return parse_us(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _replay(args: argparse.Namespace) -> int:
    from streams.replay import run_replay
    from streams.runtime import tune_gc
    from streams.settings import load_config

    config = load_config(args.config)
    tune_gc()
    return run_replay(args.files, config, args.as_of, sys.stdout.buffer, sys.stderr)


def parse_step_us(text: str) -> int:
    """``--step``: a duration (``1m``, ``15m``, ``1h``, ``300``) of whole seconds, as
    microseconds."""
    from streams.simulate.cli import parse_duration_ms

    step_ms = parse_duration_ms(text)
    if step_ms % 1000:
        raise argparse.ArgumentTypeError(f"the step is a whole number of seconds, got {text!r}")
    return step_ms * 1000


def parse_disorder_us(text: str) -> int:
    """``--max-disorder``: a duration, 0 allowed, as microseconds."""
    from streams.simulate.cli import parse_duration_ms

    return 0 if text.strip() in {"0", "0s"} else parse_duration_ms(text) * 1000


def _backfill(args: argparse.Namespace) -> int:
    from streams.backfill import run_backfill
    from streams.runtime import tune_gc
    from streams.settings import load_config

    config = load_config(args.config)
    tune_gc()
    return run_backfill(args.files, config, args.out, step_us=args.step, from_us=args.from_,
                        to_us=args.to, max_disorder_us=args.max_disorder, err=sys.stderr)


def _worker(args: argparse.Namespace) -> int:
    from streams.worker.main import run_worker

    return run_worker(args.config)


def _demo(args: argparse.Namespace) -> int:
    from streams.demo import run_demo

    return run_demo(args)


class Parser(argparse.ArgumentParser):
    """argparse with click-style usage errors: one line saying what was wrong and where to
    look, exit status 2 (every sub-command parser is one of these too)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"Error: {message}. Try '{self.prog} --help'.\n")


def port_number(text: str) -> int:
    """A TCP port, 1-65535."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"a port is a whole number from 1 to 65535, got "
                                         f"{text!r}")
    return port


def build_parser() -> argparse.ArgumentParser:
    from streams.kafka.local_broker import DEFAULT_CONTROLLER_PORT, DEFAULT_PORT

    parser = Parser(
        prog="ccpulse", description="Live contact-centre KPIs from Kafka event streams.")
    parser.add_argument("--version", action="version", version=f"ccpulse {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "worker", help="run a Faust worker: consume topics, serve /metrics",
        description="Run a Faust worker: consume the event topics, keep per-contact state in "
                    "tables with changelogs, and serve /metrics (Prometheus), /healthz and "
                    "/wallboard on [worker] web_host:web_port (CCPULSE_WEB_PORT).")
    p.add_argument("--config", help="TOML config file (default: $CCPULSE_CONFIG)")
    p.set_defaults(func=_worker)

    p = sub.add_parser(
        "replay", help="run the engine over JSON-lines files, print /metrics",
        description="Run the engine over JSON-lines event files, in file order, and print the "
                    "Prometheus exposition the worker would serve. Standard error gets the "
                    "first 20 invalid lines, a count of the rest and a one-line summary; exit "
                    "1 if a file holds no valid event.")
    p.add_argument("files", nargs="+", metavar="FILE", help="JSON-lines event files; - is stdin")
    p.add_argument("--config", help="TOML config file (default: $CCPULSE_CONFIG)")
    p.add_argument("--as-of", type=parse_timestamp_us, metavar="TIMESTAMP",
                   help="engine clock (RFC 3339); default: the newest valid occurred_at")
    p.set_defaults(func=_replay)

    p = sub.add_parser(
        "backfill", help="the replay at every step of an archive, as OpenMetrics for promtool",
        description="Run the replay over an event archive and write its state at every step "
                    "boundary (what `ccpulse replay --as-of T` prints at T, every family) as "
                    "OpenMetrics with timestamps: one file per UTC day in --out, each ready "
                    "for `promtool tsdb create-blocks-from openmetrics FILE DATA_DIR`. The "
                    "archive is read once (gzip files too); memory is bounded by the engine's "
                    "state, not the archive. Snapshots are exact for an archive in event-time "
                    "order, or out of order by at most --max-disorder; an event later than "
                    "that is left out of the snapshots already written and counted as behind. "
                    "Progress and a summary on standard error; exit 1 if a file holds no valid "
                    "event.")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="JSON-lines event files, read in order, gzip or not; - is stdin")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="directory for the day files ccpulse-YYYY-MM-DD.om (created if missing)")
    p.add_argument("--step", type=parse_step_us, default=60_000_000, metavar="D",
                   help="time between snapshots, whole seconds: 30s, 1m, 15m, 1h, 300 (default "
                        "1m); the boundaries are multiples of the step since the epoch")
    p.add_argument("--from", dest="from_", type=parse_timestamp_us, metavar="TIMESTAMP",
                   help="first snapshot at the first boundary at or after this (RFC 3339); "
                        "default: the first event's; earlier events still count")
    p.add_argument("--to", type=parse_timestamp_us, metavar="TIMESTAMP",
                   help="last snapshot at the last boundary at or before this (RFC 3339); "
                        "default: the first boundary at or after the newest event")
    p.add_argument("--max-disorder", type=parse_disorder_us, default=0, metavar="D",
                   help="how far an event may arrive after a later one and still be in every "
                        "snapshot (default 0: the archive is in event-time order); events "
                        "wait in memory that long")
    p.add_argument("--config", help="TOML config file (default: $CCPULSE_CONFIG)")
    p.set_defaults(func=_backfill)

    from streams.produce_cli import add_produce_parser
    from streams.simulate.cli import add_simulate_parser

    add_produce_parser(sub)
    add_simulate_parser(sub)

    from streams.sources.cli import add_connect_parser

    add_connect_parser(sub)

    from streams.kafka.cli import add_kafka_parser

    add_kafka_parser(sub)

    from streams.staffing_cli import add_staffing_parser

    add_staffing_parser(sub)

    from streams.report_cli import add_report_parser

    add_report_parser(sub)

    p = sub.add_parser(
        "demo", help="broker, topics, worker and simulator together",
        description="Start a local Kafka broker, the topics, a worker and the simulator, print "
                    "the URLs, and stop them all on Ctrl-C (also when the output is piped or "
                    "the terminal closes). One demo per data directory ($CCPULSE_DATA_DIR, "
                    "default .ccpulse); logs in its logs/ folder.")
    p.add_argument("--speed", type=float, default=60.0,
                   help="how fast the simulator replays the last hour of traffic before it "
                        "goes live in real time (× real time, default 60: about a minute)")
    p.add_argument("--config", help="TOML config file (default: $CCPULSE_CONFIG, else the "
                                    "demo's own streams/demo.toml)")
    p.add_argument("--web-port", type=port_number, metavar="PORT",
                   help="the worker's web port (default: $CCPULSE_WEB_PORT, else the "
                        "config's [worker] web_port, else 6066)")
    p.add_argument("--broker-port", type=port_number, default=DEFAULT_PORT, metavar="PORT",
                   help=f"the local Kafka broker's client port (default {DEFAULT_PORT})")
    p.add_argument("--controller-port", type=port_number, default=DEFAULT_CONTROLLER_PORT,
                   metavar="PORT", help="the local Kafka broker's KRaft controller port "
                                        f"(default {DEFAULT_CONTROLLER_PORT})")
    p.add_argument("--secure", action="store_true",
                   help="run the local broker with a SASL_SSL listener (as `ccpulse kafka "
                        "start --secure`) and connect the worker and the simulator over it; "
                        "implied when the config's security_protocol is not PLAINTEXT")
    p.add_argument("--source", metavar="SYSTEM",
                   help="feed the demo from a real system instead of the simulator; that "
                        "system's `ccpulse connect SYSTEM` options follow, e.g. `ccpulse demo "
                        "--source asterisk --queue-log /var/log/asterisk/queue_log --follow`")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--stop", action="store_true",
                      help="stop the demo running from this data directory, and exit")
    what.add_argument("--reset", action="store_true",
                      help="start from empty state (the broker's topics and the worker's "
                           "tables are deleted first)")
    p.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # ``demo --source SYSTEM`` passes the options that follow to ``connect SYSTEM``; every
    # other command takes only its own.
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "source", None) is None:
        args = parser.parse_args(argv)  # the usual one-line usage error
    args.source_args = extra
    try:
        return int(args.func(args) or 0)
    except CcpulseError as exc:
        if args.debug:
            raise
        print(f"Error: {as_run_here(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
