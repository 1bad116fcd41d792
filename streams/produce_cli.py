"""``ccpulse produce FILE...``: send JSON-lines events to Kafka (docs/contract.md §7).

Each line goes to its type's topic keyed by its entity id, or with ``--topic T`` every line
goes to ``T`` as-is. Lines that cannot be routed (not JSON, no or unknown ``type``) are
reported on standard error as ``FILE:LINE: reason`` and skipped; they do not change the exit
status. Empty lines are skipped and counted. Standard output gets the count sent per topic.
Exit 1 only when a file cannot be read or Kafka fails; every file is opened before anything is
sent, so a typo sends nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO, TextIO

from streams.errors import CcpulseError
from streams.kafka.security import KafkaSecurity
from streams.logfilter import quiet_stderr_logging
from streams.publish import Publisher, PublishReport
from streams.settings import add_kafka_arguments, kafka_target, load_config

STDIN_NAME = "<stdin>"


def add_produce_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``produce`` on the ``ccpulse`` sub-command parsers."""
    parser = subparsers.add_parser(
        "produce", help="send JSON-lines events to Kafka",
        description="Send JSON-lines events to Kafka: each line to its type's topic keyed "
                    "by its id (call_id, chat_id, ticket_id, agent_id, ...), or every line "
                    "as-is to --topic. Lines that cannot be routed are reported on stderr; "
                    "empty lines are skipped and counted in the summary.")
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="JSON-lines files; - is standard input")
    parser.add_argument("--topic", metavar="T",
                        help="send every line unchanged to this topic (no prefix added)")
    add_kafka_arguments(parser)
    parser.set_defaults(func=run_produce)
    return parser


def run_produce(args: argparse.Namespace, out: TextIO | None = None,
                err: TextIO | None = None) -> int:
    """The ``produce`` command."""
    out = out or sys.stdout
    err = err or sys.stderr
    # aiokafka logs every retried request (a new topic's leader moving, ...) as a warning;
    # real failures surface as BrokerError, so keep stderr for what the user must act on.
    quiet_stderr_logging("produce")
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    target = kafka_target(load_config(args.config), args.broker, args.topic_prefix)
    sources = _open_all(args.files)
    try:
        report = asyncio.run(_produce(sources, target.broker, target.topic_prefix, args.topic,
                                      target.security))
    finally:
        for name, stream in sources:
            if name != STDIN_NAME:
                stream.close()
    for line in report.unroutable:
        print(f"{line.source}:{line.line_no}: {line.reason}", file=err)
    print(format_report(report), file=out)
    return 0


def format_report(report: PublishReport) -> str:
    """``sent N events`` and one ``  topic  count`` line per topic (and skipped lines)."""
    lines = [f"sent {_count(report.total_sent, 'event')}"]
    width = max((len(topic) for topic in report.sent), default=0)
    lines += [f"  {topic:<{width}}  {count}" for topic, count in sorted(report.sent.items())]
    if report.unroutable:
        lines.append(f"skipped {_count(len(report.unroutable), 'unroutable line')} (see stderr)")
    if report.empty_lines:
        lines.append(f"skipped {_count(report.empty_lines, 'empty line')}")
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    """``1 event``, ``2 events``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


async def _produce(sources: list[tuple[str, BinaryIO]], broker: str, prefix: str,
                   topic: str | None, security: KafkaSecurity | None = None) -> PublishReport:
    async with Publisher(broker, topic_prefix=prefix, security=security) as publisher:
        await publisher.send_lines(_numbered_lines(sources), topic=topic)
    return publisher.report


def _open_all(paths: list[str]) -> list[tuple[str, BinaryIO]]:
    opened: list[tuple[str, BinaryIO]] = []
    for path in paths:
        if path == "-":
            opened.append((STDIN_NAME, sys.stdin.buffer))
            continue
        try:
            opened.append((path, open(path, "rb")))  # noqa: SIM115 -- closed by the caller
        except OSError as exc:
            for name, stream in opened:
                if name != STDIN_NAME:
                    stream.close()
            raise CcpulseError(f"cannot read {path!r}: {exc.strerror}; nothing was sent") \
                from None
    return opened


def _numbered_lines(sources: list[tuple[str, BinaryIO]]) -> Iterator[tuple[str, int, bytes]]:
    for name, stream in sources:
        for number, line in enumerate(stream, start=1):
            yield name, number, line
