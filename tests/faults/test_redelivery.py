"""A producer redelivers a whole hour of events: nothing is counted twice.

Producers redeliver after a timeout, a restart from an older checkpoint or an operator
replaying a file. Every event carries its ``event_id``; the engine remembers the ids of every
event of every entity it keeps, so a redelivered event is a duplicate whatever its partition's
worker has been through since (here: a restart between the original and the redelivery, so
the ids come back from the changelogs, not from memory).
"""

from __future__ import annotations

from pathlib import Path

import orjson
from fault_harness import mixed_events, wait_equals_replay, write_lines
from traffic import produce
from worker_harness import Worker, family_total, free_port, wait_for

EVENTS = 30_000
HOUR_MS = 3_600_000


def event_ms(line: bytes) -> int:
    from streams.core.timestamps import parse_us

    return parse_us(orjson.loads(line)["occurred_at"]) // 1000


def test_a_whole_hour_redelivered_after_a_restart_counts_nothing_twice(
        kafka_bootstrap: str, unique_name: str, tmp_path: Path) -> None:
    lines = mixed_events(EVENTS, seed=34)
    path = write_lines(tmp_path / "events.jsonl", lines)
    start = event_ms(lines[0])
    # the second hour of the stream, every family, in the order it was first sent
    hour = [line for line in lines if start + HOUR_MS <= event_ms(line) < start + 2 * HOUR_MS]
    assert len(hour) > 3_000
    prefix = unique_name + "."
    worker = Worker(kafka_bootstrap, unique_name, prefix, tmp_path / "node", free_port())
    try:
        worker.start()
        produce(kafka_bootstrap, prefix, path)
        wait_equals_replay(worker, path)
        worker.stop()  # a deploy between the original and the redelivery
        produce(kafka_bootstrap, prefix, write_lines(tmp_path / "hour.jsonl", hour))
        worker.start()
        wait_for(lambda: family_total(worker, "cc_events_duplicate_total") >= len(hour),
                 f"the {len(hour):,} redelivered events to be read", worker)
        # every one of them recognised, none applied: the KPIs are the original stream's
        assert family_total(worker, "cc_events_duplicate_total") == len(hour)
        wait_equals_replay(worker, path)
    finally:
        worker.stop()
