"""``ccpulse simulate``: realistic contact-centre traffic to Kafka or to a JSON-lines file.

Time placement. To a file (``--out``) the run is written as fast as possible and, without
``--start``, ends now (so every event is in the past and the file can be produced to a live
worker). To Kafka the events are paced at ``--speed`` × real time and are never sent before
their own ``occurred_at``: without ``--start`` the simulated clock starts
``duration × (1 − 1/speed)`` in the past and meets the wall clock as the run ends. An endless
run (no ``--duration``) fast-forwards through the last hour that way and then stays live in
real time. (Starting at now and running faster would put events minutes or hours in the
future, and the engine dead-letters anything more than 5 minutes ahead, docs/contract.md §1.1.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import secrets
import sys
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

from streams.core.timestamps import parse_us
from streams.errors import CcpulseError
from streams.logfilter import quiet_stderr_logging
from streams.publish import LIVE_LINGER_MS, Publisher
from streams.settings import KafkaTarget, add_kafka_arguments, kafka_target, load_config
from streams.simulate.generator import timed_events
from streams.simulate.pacing import paced
from streams.simulate.progress import Progress
from streams.simulate.scenarios import SCENARIOS
from streams.simulate.sinks import send_to_kafka, write_jsonl
from streams.simulate.stamps import rfc3339_ms

#: A file run without ``--duration`` covers this much simulated time.
DEFAULT_FILE_DURATION_MS = 3_600_000
#: An endless Kafka run fast-forwards through this much of the recent past first.
CATCH_UP_MS = 3_600_000
PROGRESS_EVERY_S = 5.0

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms]?)")
_UNIT_MS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000, "": 1000}


def parse_duration_ms(text: str) -> int:
    """``30m``, ``2h``, ``1h30m``, ``45s``, ``1d`` or plain seconds (``600``) → milliseconds."""
    compact = text.strip().lower().replace(" ", "")
    parts = list(_DURATION_PART.finditer(compact))
    if not compact or "".join(part.group(0) for part in parts) != compact:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration; use e.g. 600 (seconds), 45s, 30m, 2h, 1h30m or 1d")
    total = sum(float(part.group(1)) * _UNIT_MS[part.group(2)] for part in parts)
    if total <= 0:
        raise argparse.ArgumentTypeError(f"duration must be more than 0, got {text!r}")
    return round(total)


def parse_speed(text: str) -> float:
    """A speed factor > 0 (1 = real time)."""
    try:
        speed = float(text)
    except ValueError:
        speed = 0.0
    if not 0 < speed < float("inf"):
        raise argparse.ArgumentTypeError(f"speed must be a number > 0 (1 = real time), got "
                                         f"{text!r}")
    return speed


def parse_start_ms(text: str) -> int:
    """``--start``: an RFC 3339 timestamp with offset → epoch milliseconds.

    Parsed by the project's one parser (``streams.core.timestamps.parse_us``, same forms and
    messages as event times); the simulator stamps milliseconds, so a finer fraction is
    truncated (floored), never rounded into the next millisecond.
    """
    try:
        return parse_us(text) // 1000
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_simulate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``simulate`` on the ``ccpulse`` sub-command parsers."""
    parser = subparsers.add_parser(
        "simulate", help="generate realistic contact-centre traffic (Kafka or a file)",
        description="Simulate a contact centre (sales, support and billing queues on voice "
                    "and chat, agents, tickets, surveys, QA, customers) and send the events "
                    "to Kafka paced at --speed × real time, or write them to a JSON-lines "
                    "file as fast as possible. Kafka events are never sent before their "
                    "occurred_at: a fast run starts in the past and ends at now.")
    parser.add_argument("--speed", type=parse_speed, default=1.0, metavar="X",
                        help="simulated seconds per wall second for Kafka (default 1)")
    parser.add_argument("--duration", type=parse_duration_ms, metavar="D",
                        help="simulated time to cover: 600 (seconds), 30m, 2h, 1d (default: "
                             "endless for Kafka, 1h for --out)")
    parser.add_argument("--seed", type=int, metavar="N",
                        help="random seed; same seed and --start give the same events "
                             "(default: random, printed)")
    parser.add_argument("--out", metavar="FILE",
                        help="write JSON lines to FILE (- for stdout) instead of Kafka")
    add_kafka_arguments(parser)
    parser.add_argument("--start", type=parse_start_ms, metavar="T",
                        help="simulated start time, RFC 3339 (default: so that the run ends "
                             "now; an endless Kafka run starts up to 1 h back and goes live)")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="contact-centre",
                        help="what to simulate: contact-centre (default; follows a weekday "
                             "profile by UTC hour) or demo (peak level at any hour, billing "
                             "understaffed so the wallboard shows amber and red)")
    parser.set_defaults(func=run_simulate)
    return parser


def run_simulate(args: argparse.Namespace) -> int:
    """The ``simulate`` command."""
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    # aiokafka logs every retried request (a new topic's leader moving, ...) as a warning;
    # real failures surface as BrokerError, so keep stderr for what the user must act on. With
    # the broker gone it logs each reconnect attempt as an error (5,000 lines a second): one
    # line per kind, with backoff.
    quiet_stderr_logging("simulate")
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    now_ms = time.time_ns() // 1_000_000
    if args.out is not None:
        return _to_file(args, seed, now_ms)
    target = kafka_target(load_config(args.config), args.broker, args.topic_prefix)
    return asyncio.run(_to_kafka(args, target, seed, now_ms))


def _to_file(args: argparse.Namespace, seed: int, now_ms: int) -> int:
    duration_ms = args.duration or DEFAULT_FILE_DURATION_MS
    start_ms = args.start if args.start is not None else now_ms - duration_ms
    target = "stdout" if args.out == "-" else args.out
    _say(f"seed {seed} · {_span(start_ms, duration_ms)} · to {target}")
    progress = Progress(sys.stderr, every_s=PROGRESS_EVERY_S)
    events = timed_events(SCENARIOS[args.scenario](), seed=seed, start_ms=start_ms,
                          duration_ms=duration_ms)
    with _open_out(args.out) as out:
        count = write_jsonl(events, out, progress.tick)
    _say(f"wrote {count:,} events to {target} in {progress.elapsed_s():.1f} s "
         f"({progress.rate():,.0f} events/s)")
    return 0


async def _to_kafka(args: argparse.Namespace, target: KafkaTarget, seed: int,
                    now_ms: int) -> int:
    speed = args.speed
    broker, prefix = target.broker, target.topic_prefix
    fast_ms = args.duration or CATCH_UP_MS
    start_ms = args.start if args.start is not None else now_ms - round(fast_ms * (1 - 1 / speed))
    progress = Progress(sys.stderr, every_s=PROGRESS_EVERY_S)
    events = timed_events(SCENARIOS[args.scenario](), seed=seed, start_ms=start_ms,
                          duration_ms=args.duration)
    async with Publisher(broker, topic_prefix=prefix, security=target.security,
                         linger_ms=LIVE_LINGER_MS) as publisher:
        _say(f"seed {seed} · {_span(start_ms, args.duration)} · {speed:g}× real time · to "
             f"Kafka {broker}" + (f" (topic prefix {prefix!r})" if prefix else ""))
        reporter = asyncio.create_task(_report_every(progress, PROGRESS_EVERY_S, broker))
        try:
            # the wall clock as pacing starts, to the millisecond: an epoch taken earlier (or
            # cut to the second) would hold every live event back by the difference
            await send_to_kafka(paced(events, speed=speed, start_ms=start_ms,
                                      wall_epoch_ms=time.time_ns() // 1_000_000),
                                publisher, progress.tick)
        except asyncio.CancelledError:  # Ctrl-C: say what went out, then stop as asked
            _say_sent("stopped; sent", progress, publisher)
            raise
        finally:
            reporter.cancel()
    _say_sent("sent", progress, publisher)
    return 0


def _say_sent(verb: str, progress: Progress, publisher: Publisher) -> None:
    per_topic = ", ".join(f"{topic} {count:,}"
                          for topic, count in sorted(publisher.report.sent.items()))
    _say(f"{verb} {progress.count:,} events in {progress.elapsed_s():.1f} s "
         f"({progress.rate():,.0f} events/s): {per_topic or 'nothing yet'}")


async def _report_every(progress: Progress, every_s: float, broker: str) -> None:
    """The progress line every ``every_s`` while events go out; one line when sending stalls
    (Kafka gone, or nothing due yet) and one when it resumes, not the same line forever."""
    stalled_since: float | None = None
    count = progress.count
    while True:
        await asyncio.sleep(every_s)
        if progress.count != count:
            if stalled_since is not None:
                _say(f"sending again after {time.monotonic() - stalled_since:.0f} s")
                stalled_since = None
            count = progress.count
            progress.report()
        elif stalled_since is None:
            stalled_since = time.monotonic() - every_s
            _say(f"nothing sent for {every_s:g} s (is Kafka at {broker} up?); one line when "
                 "sending resumes")


@contextlib.contextmanager
def _open_out(path: str) -> Iterator[BinaryIO]:
    if path == "-":
        yield sys.stdout.buffer
        return
    try:
        out = open(path, "wb")  # noqa: SIM115 -- closed below, errors reworded first
    except OSError as exc:
        raise CcpulseError(f"cannot write {path!r}: {exc.strerror}. Choose another --out "
                           "file or create its directory.") from None
    with out:
        yield out


def _span(start_ms: int, duration_ms: int | None) -> str:
    end = "endless (live after catching up)" if duration_ms is None else rfc3339_ms(
        start_ms + duration_ms)
    return f"{rfc3339_ms(start_ms)} → {end}"


def _say(message: str) -> None:
    print(f"simulate: {message}", file=sys.stderr, flush=True)
