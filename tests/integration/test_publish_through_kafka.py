"""Simulated traffic through ``ccpulse produce`` into a real broker, and back out unchanged.

Two minutes of the contact centre are written to a file by ``ccpulse simulate --out``, sent by
``ccpulse produce`` under a fresh topic prefix, and read back: every topic holds exactly the
file's events of its families, each keyed by its entity id, byte for byte.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from broker_security import security_for

from streams.cli import main
from streams.core.events import TOPIC_OF_FAMILY, entity_key, topic_for_type
from streams.kafka import ensure_topics

TIMEOUT_S = 60.0
"""Deadline for reading back everything that was produced."""

SOURCE_TOPICS = sorted(set(TOPIC_OF_FAMILY.values()))


async def read_back(bootstrap: str, topics: list[str], expected: int) -> list:
    """Every record of ``topics`` once ``expected`` have arrived (or at the deadline)."""
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                **security_for(bootstrap).aiokafka_kwargs())
    await consumer.start()
    records = []
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while len(records) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


@pytest.fixture
def two_minutes(tmp_path: Path) -> tuple[Path, list[bytes]]:
    path = tmp_path / "two-minutes.jsonl"
    assert main(["simulate", "--duration", "2m", "--seed", "7", "--out", str(path)]) == 0
    return path, path.read_bytes().splitlines()


def test_produced_events_land_on_their_topics_keyed_by_entity(
        kafka_bootstrap, unique_name, two_minutes, capsys):
    path, lines = two_minutes
    prefix = f"{unique_name}."
    topics = [prefix + topic for topic in SOURCE_TOPICS]
    ensure_topics(kafka_bootstrap, topics, partitions=3,
                  security=security_for(kafka_bootstrap))
    events = [orjson.loads(line) for line in lines]
    expected_counts = Counter(prefix + str(topic_for_type(e["type"])) for e in events)

    assert main(["produce", str(path), "--broker", kafka_bootstrap,
                 "--topic-prefix", prefix]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"sent {len(lines)} events"
    assert {line.split()[0]: int(line.split()[1]) for line in out[1:]} == expected_counts

    records = asyncio.run(read_back(kafka_bootstrap, topics, len(lines)))
    assert Counter(record.topic for record in records) == expected_counts
    by_id = {event["event_id"]: (event, line) for event, line in zip(events, lines, strict=True)}
    for record in records:
        event, line = by_id.pop(orjson.loads(record.value)["event_id"])
        assert record.value == line
        assert record.key == entity_key(event["type"], event).encode()
        assert record.topic == prefix + str(topic_for_type(event["type"]))
    assert by_id == {}


def test_explicit_topic_takes_every_line_as_is_and_routing_reports_bad_lines(
        kafka_bootstrap, unique_name, tmp_path, capsys):
    path = tmp_path / "mixed.jsonl"
    good = b'{"event_id":"e1","type":"call.queued","occurred_at":"2026-11-22T09:00:00Z",' \
           b'"call_id":"c-1","queue":"sales"}'
    path.write_bytes(good + b"\nnot json\n\n" + b'{"type":"call.teleported"}\n')
    raw_topic = f"{unique_name}.raw"
    ensure_topics(kafka_bootstrap, [raw_topic, f"{unique_name}.cc.calls"], partitions=1,
                  security=security_for(kafka_bootstrap))

    assert main(["produce", str(path), "--broker", kafka_bootstrap,
                 "--topic-prefix", f"{unique_name}."]) == 0
    captured = capsys.readouterr()
    problems = captured.err.splitlines()
    assert len(problems) == 2
    assert problems[0].startswith(f"{path}:2: not JSON (")
    assert problems[1] == f"{path}:4: unknown type 'call.teleported'"
    assert captured.out.splitlines() == [
        "sent 1 event", f"  {unique_name}.cc.calls  1",
        "skipped 2 unroutable lines (see stderr)", "skipped 1 empty line"]

    assert main(["produce", str(path), "--broker", kafka_bootstrap, "--topic", raw_topic]) == 0
    records = asyncio.run(read_back(kafka_bootstrap, [raw_topic], 3))
    assert [(r.key, r.value) for r in records] == [
        (b"c-1", good), (None, b"not json"), (None, b'{"type":"call.teleported"}')]


def test_simulate_sends_the_seeded_run_straight_to_kafka(kafka_bootstrap, unique_name, capsys):
    from streams.simulate import contact_centre, generate

    prefix = f"{unique_name}."
    topics = [prefix + topic for topic in SOURCE_TOPICS]
    ensure_topics(kafka_bootstrap, topics, partitions=2,
                  security=security_for(kafka_bootstrap))
    start = "2026-11-22T09:00:00Z"
    assert main(["simulate", "--speed", "600", "--duration", "10m", "--seed", "5", "--start",
                 start, "--broker", kafka_bootstrap, "--topic-prefix", prefix]) == 0
    expected = list(generate(contact_centre(), seed=5, start_ms=1_795_338_000_000,
                             duration_ms=600_000))
    assert capsys.readouterr().err.splitlines()[-1].startswith(
        f"simulate: sent {len(expected):,} events in ")

    records = asyncio.run(read_back(kafka_bootstrap, topics, len(expected)))
    assert sorted(orjson.loads(r.value)["event_id"] for r in records) == sorted(
        e["event_id"] for e in expected)
