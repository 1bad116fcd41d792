"""``ccpulse connect SYSTEM ...``: a real system's records in, contract events out.

Every system is a module of :mod:`streams.sources` listed in :data:`SYSTEMS`, with

- ``HELP`` (one line) and ``DESCRIPTION`` (the sub-command's ``--help`` text);
- ``add_arguments(parser)``: its own options (keep the module's top-level imports light: the
  parser is built on every ``ccpulse`` start);
- either ``build(args, config) -> Connector`` -- a pull connector, run by :func:`run_connect`
  with the options every pull connector shares (``--to``, checkpoints, progress, summary) --
  or ``run(args, config) -> int`` when it is a server (the webhook receiver).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

from streams.core.config import Config
from streams.errors import CcpulseError
from streams.settings import add_kafka_arguments

#: ``ccpulse connect`` systems and their modules, in the order ``--help`` lists them.
SYSTEMS: dict[str, str] = {
    "asterisk": "streams.sources.asterisk",
    "amazon-connect": "streams.sources.amazon_connect",
    "http": "streams.sources.webhooks",
    "csv": "streams.sources.csv_mapping",
}


def _module(system: str) -> ModuleType | None:
    try:
        return importlib.import_module(SYSTEMS[system])
    except ModuleNotFoundError as exc:
        if exc.name == SYSTEMS[system]:
            return None  # not built yet
        raise


def pulls(system: str) -> bool:
    """True when ``system`` is a pull connector (it has checkpoints and ``--to``)."""
    module = _module(system)
    return module is not None and hasattr(module, "build")


def add_connect_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``connect`` and one sub-command per system."""
    parser = subparsers.add_parser(
        "connect", help="read a real system's records, send contract events",
        description="Read the records of a real contact-centre system (Asterisk queue_log, "
                    "Amazon Connect contact records and agent events, Zendesk and Chatwoot "
                    "webhooks, any CSV or JSON-lines export through a mapping), turn them into "
                    "ccpulse events and send them to Kafka or a JSON-lines file. Progress and "
                    "a summary of what was read, sent and skipped (by reason) go to standard "
                    "error. Field mappings: docs/sources.md.")
    systems = parser.add_subparsers(dest="system", metavar="SYSTEM", required=True)
    for system in SYSTEMS:
        module = _module(system)
        if module is None:
            continue
        p = systems.add_parser(system, help=module.HELP, description=module.DESCRIPTION)
        module.add_arguments(p)
        if hasattr(module, "build"):
            add_common_arguments(p)
        else:
            add_kafka_arguments(p, config_help=", and this system's [connect.*] table")
        p.set_defaults(func=run_connect, connect_module=module)
    return parser


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """What every pull connector shares: destination, Kafka, checkpoints."""
    parser.add_argument("--to", default="kafka", metavar="kafka|FILE",
                        help="where events go: kafka (default: the configured broker and "
                             "topic prefix), or a JSON-lines file for `ccpulse replay` "
                             "(- is standard output)")
    add_kafka_arguments(parser, config_help=", and this system's [connect.*] table")
    parser.add_argument("--checkpoint-dir", metavar="DIR",
                        help="where the connector remembers how far it has read (default: "
                             "the data directory's connect/ folder: $CCPULSE_DATA_DIR, else "
                             "[worker] data_dir, else .ccpulse)")
    parser.add_argument("--from-start", action="store_true",
                        help="forget the checkpoint and read the input from its beginning "
                             "(events already sent are sent again with the same ids; the "
                             "engine drops them)")


def run_connect(args: argparse.Namespace) -> int:
    """The ``connect SYSTEM`` command."""
    from streams.logfilter import quiet_stderr_logging
    from streams.settings import load_config

    quiet_stderr_logging("connect")
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    # "Topic … not found in cluster metadata" is logged as an error while a broker creates a
    # topic on first use; a topic that never comes fails the send, which is reported anyway.
    logging.getLogger("aiokafka.cluster").setLevel(logging.CRITICAL)
    config = load_config(args.config)
    module = args.connect_module
    if not hasattr(module, "build"):
        return int(module.run(args, config))
    connector = module.build(args, config)
    return asyncio.run(_run_pull(args, config, connector))


def check_input(connector: Any) -> None:
    """Open the input and read up to its first record, so that a wrong path or an unreadable
    file is a one-line error before anything starts or any output file is touched. A followed
    input that does not exist yet is waited for, not an error."""
    reader = connector.read(None)
    try:
        next(reader, None)
    finally:
        reader.close()


def primed(connector: Any, store: Any) -> Any:
    """``connector`` with its input opened and its first record read already, from where the
    checkpoint in ``store`` says (the position :func:`~streams.sources.run.pump` resumes
    from), so a wrong path is a one-line error before Kafka is connected or an output file is
    touched, and the input is still read once."""
    import itertools
    from dataclasses import replace

    saved = store.load() if store is not None else None
    reader = connector.read(saved.get("position") if saved is not None else None)
    first = next(reader, None)
    items = reader if first is None else itertools.chain([first], reader)
    return replace(connector, read=lambda position: items)


async def _run_pull(args: argparse.Namespace, config: Config, connector: Any) -> int:
    from streams.publish import LIVE_LINGER_MS, Publisher
    from streams.settings import kafka_target
    from streams.sources.checkpoint import CheckpointStore
    from streams.sources.run import file_target_label, format_summary, pump
    from streams.sources.sinks import FileSink, KafkaSink

    err = sys.stderr
    directory = Path(args.checkpoint_dir or os.path.join(config.deployment.data_dir, "connect"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if args.to == "kafka":
        target = kafka_target(config, args.broker, args.topic_prefix)
        store = CheckpointStore(directory, connector.system, connector.identity,
                                f"kafka:{target.broker}/{target.topic_prefix}")
        if args.from_start:
            store.clear()
        connector = primed(connector, store)
        async with Publisher(target.broker, topic_prefix=target.topic_prefix,
                             security=target.security, linger_ms=LIVE_LINGER_MS) as publisher:
            sink = KafkaSink(publisher, target.broker)
            _say_start(connector, sink.label, store, err)
            report = await pump(connector, sink, store, err=err, stop=stop)
        label = sink.label
    else:
        label = file_target_label(args.to)
        store = None
        if args.to != "-":
            store = CheckpointStore(directory, connector.system, connector.identity,
                                    f"file:{label}")
            if args.from_start or not os.path.exists(args.to):
                store.clear()
        connector = primed(connector, store)
        with _open_target(args.to, append=store is not None and store.load() is not None) \
                as out:
            sink = FileSink(out, label)
            _say_start(connector, label, store, err)
            report = await pump(connector, sink, store, err=err, stop=stop)
    print(format_summary(connector, report, label), file=err, flush=True)
    if report.records and not report.sent and not report.resumed:
        print(f"Error: none of the {report.records:,} records gave an event; check the "
              "input and the options (see the reasons above)", file=err)
        return 1
    return 0


def _say_start(connector: Any, target: str, store: Any, err: Any) -> None:
    saved = store.load() if store is not None else None
    where = ""
    if saved is not None:
        position = saved.get("position") or {}
        place = (f"{position['path']} byte {position['offset']:,}; "
                 if "path" in position and position.get("offset") else "")
        where = f" from the checkpoint ({place}--from-start to read it all again)"
    err.write(f"connect {connector.system}: {connector.describe or connector.identity} → "
              f"{target}{where}\n")
    err.flush()


@contextlib.contextmanager
def _open_target(path: str, *, append: bool) -> Iterator[BinaryIO]:
    if path == "-":
        yield sys.stdout.buffer
        return
    try:
        out = open(path, "ab" if append else "wb")  # noqa: SIM115 -- closed below
    except OSError as exc:
        raise CcpulseError(f"cannot write {path!r}: {exc.strerror}; choose another --to "
                           "file or create its directory") from None
    with out:
        yield out
