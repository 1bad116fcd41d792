"""Faust: a textbook agent counting per queue in a tumbling 1-minute windowed table.

What Faust's "Count page views" tutorial teaches, windowed as its user guide shows and applied
to call events::

    counts = app.Table("queue_counts", default=int).tumbling(
        timedelta(minutes=1), expires=timedelta(hours=1)).relative_to_field(CallEvent.occurred_at)

    @app.agent(calls)
    async def count(events):
        async for event in events.group_by(queue_of, name="queue"):
            counts[queue_of(event)] += 1

Values are decoded into a ``faust.Record`` (``occurred_at`` coerced to a ``datetime``; the
window is event time through ``relative_to_field``). The table's key (queue) is not the topic's
key (``call_id``), and a Faust table must be co-partitioned with the stream that writes it, so
``group_by`` repartitions: every event is produced once more to the internal
``<agent>-<topic>-queue-repartition`` topic (same partition count) and consumed again by the
agent. Defaults otherwise: in-memory table store with a changelog topic, at-least-once,
commit every 2.8 s, producer linger 0; the web server is off (nothing reads it). The worker
logs at INFO, as the docs' ``faust -A app worker -l info`` (at WARNING and above its terminal
spinner comes on: escape codes on stdout, the root logger set to DEBUG). The first event is
timed when the consumer hands over the first source message (a ``Sensor``), the last when the
agent has applied the ``--events``-th ``+= 1``; then the worker is stopped with SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import datetime, timedelta
from typing import Any

import faust
from _common import PROGRESS_EVERY, now, parse_args, progress, result


class CallEvent(faust.Record, serializer="json", coerce=True):
    """The fields the count uses; the others are kept on the record, unused."""

    event_id: str
    type: str
    occurred_at: datetime
    queue: str | None = None


def queue_of(event: CallEvent) -> str:
    return event.queue or "-"


class FirstMessage(faust.Sensor):
    """Notes when the consumer hands over the first message of the source topic."""

    def __init__(self, topic: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.topic = topic
        self.first = 0.0

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        if not self.first and tp.topic == self.topic:
            self.first = now()


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    app = faust.App(args.group, broker=f"kafka://{args.bootstrap}", datadir=args.state_dir,
                    topic_partitions=args.partitions, consumer_auto_offset_reset="earliest",
                    web_enabled=False)
    first = FirstMessage(args.topic)
    app.sensors.add(first)
    calls = app.topic(args.topic, value_type=CallEvent)
    counts = app.Table("queue_counts", default=int).tumbling(
        timedelta(minutes=1), expires=timedelta(hours=1)).relative_to_field(CallEvent.occurred_at)
    done = {"events": 0}

    @app.agent(calls)
    async def count(events: faust.StreamT[CallEvent]) -> None:
        async for event in events.group_by(queue_of, name="queue"):
            counts[queue_of(event)] += 1
            done["events"] += 1
            n = done["events"]
            if n % PROGRESS_EVERY == 0:
                progress(n)
            if n == args.events:
                result(first.first, now(), n)
                os.kill(os.getpid(), signal.SIGTERM)

    # stdout carries only our lines: the worker's console output (and its spinner's
    # escape codes) goes to stderr, and print() is not redirected to the log.
    worker = faust.Worker(app, loglevel="INFO", quiet=True, stdout=sys.stderr,
                          redirect_stdouts=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
