"""What every peer consumer shares: its arguments and how it talks to bench_side_by_side.

A peer is run as ``python bench/peers/<name>.py --bootstrap B --topic T --group G --events N
--state-dir D``. It reads ``T`` from the earliest offset with its own consumer group until it
has handled ``N`` events, writes ``progress <n>`` lines while it runs and, last, one
``result {json}`` line on stdout. Times are ``time.monotonic()`` (CLOCK_MONOTONIC, the same
clock in every process of the machine), so the parent can subtract its own start time.
Library logs go to stderr, which the parent sends to a log file.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import orjson

#: A ``progress`` line every this many events.
PROGRESS_EVERY = 50_000


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bootstrap", required=True, help="host:port of the broker")
    parser.add_argument("--topic", required=True, help="the pre-filled topic")
    parser.add_argument("--group", required=True, help="consumer group / application id")
    parser.add_argument("--events", type=int, required=True, help="stop after this many")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of --topic")
    parser.add_argument("--state-dir", required=True, help="where the peer keeps its state")
    parser.add_argument("--grace-ms", type=int, default=0,
                        help="how late an event may be for its window (the parent passes the "
                             "topic's event-time span: a backlog read partition by partition "
                             "is late by design)")
    return parser.parse_args()


def progress(count: int) -> None:
    print(f"progress {count}", flush=True)


def result(first_mono: float, last_mono: float, events: int, **extra: Any) -> None:
    """The last line the parent reads: when the first and the last event were handled."""
    body = {"first_mono": first_mono, "last_mono": last_mono, "events": events, **extra}
    sys.stdout.write("result " + orjson.dumps(body).decode() + "\n")
    sys.stdout.flush()


def queue_of(value: dict[str, Any]) -> str:
    """The key every peer counts by: the event's queue, ``-`` for the call events that carry
    none (``call.ended``, holds, wrap-up: the queue is known only from the call's state)."""
    return value.get("queue") or "-"


def now() -> float:
    return time.monotonic()
