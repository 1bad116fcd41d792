"""Quix Streams: a count per queue in tumbling 1-minute windows of event time.

The pipeline the Quix Streams docs teach for a windowed count by a field that is not the
message key::

    sdf = app.dataframe(app.topic(T, value_deserializer="json", timestamp_extractor=...))
    sdf = sdf.group_by(queue_of, name="queue")              # repartition by queue
    sdf = sdf.tumbling_window(timedelta(minutes=1)).count().final()

Event time is the event's ``occurred_at`` (a ``timestamp_extractor`` on the source topic; the
repartition topic carries it on as the message timestamp). Windows are grouped by the message
key, and the topic is keyed by ``call_id``, so counting per queue needs ``group_by``: every
event is produced once more to an internal repartition topic (same partition count) and
consumed again. Defaults otherwise: at-least-once, RocksDB state in ``--state-dir`` with a
changelog topic, commit every 5 s. The grace period is ``--grace-ms`` (the parent passes the
topic's event-time span): a backlog is consumed a partition's batch at a time, so one queue's
events jump back by hours of event time between batches and, with the default grace of 0,
most would be skipped as late. Late records are counted, not logged. The run stops
(``Application.stop()``) once ``--events`` events have reached the window step.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from _common import PROGRESS_EVERY, now, parse_args, progress, queue_of, result
from quixstreams import Application


def occurred_ms(value: Any, headers: Any, timestamp: int, timestamp_type: Any) -> int:
    """Event time: ``occurred_at`` (ISO 8601 with ``Z``) in epoch milliseconds."""
    return int(datetime.fromisoformat(value["occurred_at"]).timestamp() * 1000)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    app = Application(broker_address=args.bootstrap, consumer_group=args.group,
                      auto_offset_reset="earliest", state_dir=args.state_dir,
                      loglevel="WARNING")
    seen = {"first": 0.0, "last": 0.0, "grouped": 0, "late": 0}

    def consumed(value: Any) -> None:
        if not seen["first"]:
            seen["first"] = now()

    def grouped(value: Any) -> None:
        seen["grouped"] += 1
        count = seen["grouped"]
        if count % PROGRESS_EVERY == 0:
            progress(count)
        if count >= args.events:
            seen["last"] = now()
            app.stop()

    def late(*_: Any) -> bool:
        seen["late"] += 1
        return False  # counted, not logged

    topic = app.topic(args.topic, value_deserializer="json", timestamp_extractor=occurred_ms)
    sdf = app.dataframe(topic)
    sdf = sdf.update(consumed)
    sdf = sdf.group_by(queue_of, name="queue")
    sdf = sdf.update(grouped)
    window = sdf.tumbling_window(timedelta(minutes=1), grace_ms=args.grace_ms, on_late=late)
    sdf = window.count().final()
    app.run()
    result(seen["first"], seen["last"] or now(), seen["grouped"], late=seen["late"])


if __name__ == "__main__":
    main()
