"""``ccpulse kafka start|stop|status|fetch``: the local development broker from the shell.

Progress of slow steps goes to standard error, the one-line result to standard output. Errors
are raised as ``CcpulseError`` for the program's ``main`` to print as one ``Error: ...`` line.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from streams.kafka.local_broker import (
    DEFAULT_CONTROLLER_PORT,
    DEFAULT_PORT,
    BrokerStatus,
    LocalBroker,
)

EXIT_OK = 0
EXIT_NOT_RUNNING = 3
"""``status`` of a stopped broker, like ``systemctl status`` / LSB "program is not running"."""

_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 30.0


def add_kafka_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register ``kafka`` on the program's sub-command parsers; sets ``func=handle_kafka``."""
    parser = subparsers.add_parser(
        "kafka",
        help="run a local single-node Apache Kafka broker (KRaft) for development",
        description=(
            "A local single-node Apache Kafka broker for development, tests and the demo. "
            "The jars are fetched once from Maven Central (needs Java 17+ and Maven); "
            "start and stop are idempotent."
        ),
    )
    parser.add_argument(
        "action",
        choices=("start", "stop", "status", "fetch"),
        help="start (and wait until ready), stop, status (exit 3 if not running), "
        "fetch (download the jars only)",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"client port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--controller-port",
        type=int,
        default=DEFAULT_CONTROLLER_PORT,
        help=f"KRaft controller port (default {DEFAULT_CONTROLLER_PORT})",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="data, logs and pid file (default $CCPULSE_DATA_DIR/kafka, i.e. ./.ccpulse/kafka)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help=f"seconds to wait for start ({_START_TIMEOUT_S:g}) or stop ({_STOP_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--secure",
        action="store_true",
        help="start: the client listener is SASL_SSL (SCRAM-SHA-512, and PLAIN) with a CA, a "
        "certificate and a user 'ccpulse' generated in the state directory's secure/; prints "
        "the settings clients need (see docs/security.md)",
    )
    parser.set_defaults(func=handle_kafka)
    return parser


def handle_kafka(args: argparse.Namespace) -> int:
    """Run one action; return the process exit code."""
    broker = LocalBroker(
        state_dir=args.state_dir or default_state_dir(),
        port=args.port,
        controller_port=args.controller_port,
        progress=_progress,
        secure=getattr(args, "secure", False),
    )
    if args.action == "fetch":
        lib_dir = broker.fetch()
        jars = sum(1 for _ in lib_dir.glob("*.jar"))
        print(f"Kafka jars are ready in {lib_dir} ({jars} jars)")
        return EXIT_OK
    if args.action == "start":
        was_running = broker.status().running
        status = broker.start(timeout_s=args.timeout or _START_TIMEOUT_S)
        print(_running_line(status, already=was_running))
        if broker.secure:
            print(_secure_lines(broker))
        return EXIT_OK
    if args.action == "stop":
        pid = broker.stop(timeout_s=args.timeout or _STOP_TIMEOUT_S)
        print(f"Kafka stopped (was pid {pid})" if pid else "Kafka is not running")
        return EXIT_OK
    status = broker.status()
    if status.running:
        print(_running_line(status))
        return EXIT_OK
    print(f"Kafka is not running (state: {broker.state_dir}); start it with `ccpulse kafka start`")
    return EXIT_NOT_RUNNING


def default_state_dir() -> Path:
    """``$CCPULSE_DATA_DIR/kafka``: the broker's state sits beside the worker's (contract §6)."""
    return Path(os.environ.get("CCPULSE_DATA_DIR") or ".ccpulse") / "kafka"


def _running_line(status: BrokerStatus, *, already: bool = False) -> str:
    verb = "is already running" if already else "is running"
    return f"Kafka {verb} on {status.bootstrap} (pid {status.pid}, log: {status.log_path})"


def _secure_lines(broker: LocalBroker) -> str:
    """How clients connect to the secure broker: the settings, never the password itself."""
    settings = broker.client_environment()
    return "\n".join([
        f"SASL_SSL with SCRAM-SHA-512 (PLAIN too) as user "
        f"{settings['CCPULSE_SASL_USERNAME']!r}; clients need these settings (or the [worker] "
        "keys of the same names, in lower case without CCPULSE_):",
        f"  CCPULSE_BROKER={broker.bootstrap}",
        *(f"  {name}={value}" for name, value in settings.items()),
    ])


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
