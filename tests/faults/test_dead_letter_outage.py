"""The dead-letter topic unavailable for a while: invalid events are not lost, valid ones flow.

How the topic becomes unavailable, for real: the test's own broker runs with topic
auto-creation off (as managed clusters usually do), and the dead-letter topic, which the worker
created at its start, is deleted while the worker runs. Every write to it then fails (no
metadata for the topic: the producer waits, then times out), while every other topic takes
writes as usual; nothing re-creates it until someone does (here ``ensure_topics``, exactly what
the worker runs at its start). (A topic's ``min.insync.replicas`` above its replication factor
would refuse ``acks=all`` writes on a real cluster, but Kafka 4 caps it at the replication
factor: on one node it changes nothing.) A probe producer checks that the outage is real.

First outage: the worker applies the valid events meanwhile (its KPIs equal the replay of the
valid ones), the topic comes back, and the same worker delivers every waiting dead letter.
Second outage: again valid events flow; the worker is SIGKILLed with hundreds of letters
waiting, never having committed an offset past one of them, and its restart (which creates the
missing topic) dead-letters them again. Every invalid event ends on the topic exactly once here
(the guarantee is at least once: none reached the topic before the kill) and the group's
commits reach the end of the source topic.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from kafka_reads import committed_offsets, read_topic
from traffic import produce, write_jsonl
from worker_harness import (
    WAIT_TIMEOUT_S,
    Worker,
    family_total,
    free_port,
    wait_caught_up,
    wait_equals_replay,
    wait_for,
)

from streams.core.events import DEADLETTER_TOPIC
from streams.kafka import LocalBroker
from streams.kafka.admin import ensure_topics
from streams.simulate.generator import generate
from streams.simulate.model import IntradayProfile
from streams.simulate.scenarios import contact_centre

PARTITIONS = 4
#: Invalid events in each outage: hundreds of dead letters wait in the worker.
INVALID_PER_HALF = 300
AUTO_CREATE = "auto.create.topics.enable"


class NoAutoCreateBroker(LocalBroker):
    """The local broker with topic auto-creation off: a deleted topic stays deleted."""

    def _server_properties(self) -> str:
        text = super()._server_properties()
        assert f"{AUTO_CREATE}=true" in text
        return text.replace(f"{AUTO_CREATE}=true", f"{AUTO_CREATE}=false")


def calls(minutes: int, seed: int) -> list[bytes]:
    start = time.time_ns() // 1_000_000 - minutes * 60_000
    busy = replace(contact_centre(), profile=IntradayProfile(((0.0, 1.0),)))
    events = generate(busy, seed=seed, start_ms=start, duration_ms=minutes * 60_000)
    return [orjson.dumps(e) for e in events if e["type"].startswith("call.")]


def invalid_lines(half: str) -> list[bytes]:
    """Distinct invalid events (an unknown type, a bad timestamp, a missing field, not JSON),
    each a few hundred bytes with its dead-letter headers."""
    pad = "x" * 120
    makers = (
        lambda i: {"event_id": f"bad-{half}-{i}", "type": "call.teleported",
                   "occurred_at": "2026-11-22T09:00:00Z", "call_id": f"t{i}", "note": pad},
        lambda i: {"event_id": f"bad-{half}-{i}", "type": "call.queued",
                   "occurred_at": "2026-11-22 nine", "call_id": f"n{i}", "queue": "sales",
                   "note": pad},
        lambda i: {"event_id": f"bad-{half}-{i}", "type": "call.queued",
                   "occurred_at": "2026-11-22T09:00:00Z", "queue": "sales", "note": pad},
    )
    out = []
    for i in range(INVALID_PER_HALF):
        if i % 4 == 3:
            out.append(f"{{not json {half}-{i} {pad}".encode())
        else:
            out.append(orjson.dumps(makers[i % 4](i)))
    return out


def mixed(valid: list[bytes], invalid: list[bytes]) -> list[bytes]:
    out = list(valid)
    if not invalid:
        return out
    step = max(1, len(valid) // len(invalid))
    for i, line in enumerate(invalid):
        out.insert(min(len(out), i * (step + 1)), line)
    return out


async def delete_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic], timeout_ms=10_000)
    finally:
        await admin.close()


async def write_refused(bootstrap: str, topic: str) -> bool:
    """Whether an ``acks=all`` write to ``topic`` fails (within a few seconds)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                request_timeout_ms=3000)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"probe", partition=0)
    except KafkaError:
        return True
    finally:
        await producer.stop()
    return False


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await asyncio.sleep(0)  # aiokafka: a consumer stopped before its tasks ran raises
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(PARTITIONS)])
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def topic_exists(bootstrap: str, topic: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return topic in await admin.list_topics()
    finally:
        await admin.close()


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    return {p: offset for (t, p), offset in (await committed_offsets(bootstrap, group)).items()
            if t == topic}


def test_dead_letter_topic_missing_valid_events_flow_and_no_invalid_event_is_lost(
        unique_name, tmp_path):
    broker = NoAutoCreateBroker(state_dir=tmp_path / "kafka", port=free_port(),
                                controller_port=free_port())
    broker.start(timeout_s=WAIT_TIMEOUT_S)
    bootstrap = broker.bootstrap
    prefix = unique_name + "."
    source = prefix + "cc.calls"
    deadletter = prefix + DEADLETTER_TOPIC
    files: list[Path] = []
    sent_invalid: dict[str, list[bytes]] = {}

    def produce_calls(name: str, minutes: int, seed: int, with_invalid: bool = True) -> None:
        """Calls of the last ``minutes`` (ending now, so the worker's live ages are on the
        wall clock as the replay's) mixed with ``INVALID_PER_HALF`` invalid events."""
        lines = calls(minutes, seed)
        invalid = sent_invalid[name] = invalid_lines(name) if with_invalid else []
        files.append(write_jsonl(tmp_path / f"valid-{name}.jsonl", lines))
        produce(bootstrap, prefix, write_jsonl(tmp_path / f"mixed-{name}.jsonl",
                                               mixed(lines, invalid)), topic=source)

    def outage(worker: Worker) -> None:
        asyncio.run(delete_topic(bootstrap, deadletter))
        wait_for(lambda: asyncio.run(write_refused(bootstrap, deadletter)),
                 "writes to the deleted dead-letter topic to fail", worker)

    def letters(expected: int) -> list[dict]:
        return asyncio.run(read_topic(bootstrap, deadletter, expected, timeout_s=30))

    port = free_port()
    workers: list[Worker] = []

    def start() -> Worker:
        w = Worker(bootstrap, unique_name, prefix, tmp_path / "w", port, partitions=PARTITIONS)
        workers.append(w)
        w.start()
        return w

    try:
        first = start()  # creates the topics, the dead-letter one included
        outage(first)
        produce_calls("a", 5, seed=41)
        wait_equals_replay(first, files)  # valid events flow while dead letters wait
        wait_for(lambda: family_total(first, "cc_events_invalid_total") == INVALID_PER_HALF,
                 "every invalid event to be counted", first)
        # the gauge an operator sees (and CcpulseDeadLettersStuck reads): every letter waits
        assert family_total(first, "cc_dead_letters_pending") == INVALID_PER_HALF
        assert not asyncio.run(topic_exists(bootstrap, deadletter))
        ensure_topics(bootstrap, [deadletter], PARTITIONS)  # the outage ends: same worker
        delivered = letters(INVALID_PER_HALF)
        assert sorted(m["value"] for m in delivered) == sorted(sent_invalid["a"])
        wait_for(lambda: family_total(first, "cc_dead_letters_pending") == 0,
                 "the pending dead letters to drop to 0 once delivered", first)
        caught_up = asyncio.run(end_offsets(bootstrap, source))
        wait_for(lambda: asyncio.run(committed(bootstrap, unique_name, source)) == caught_up,
                 "the commits to resume once the letters are delivered", first)

        outage(first)
        produce_calls("b", 5, seed=42)
        wait_equals_replay(first, files)
        wait_for(lambda: family_total(first, "cc_events_invalid_total") == 2 * INVALID_PER_HALF,
                 "every invalid event to be counted", first)
        time.sleep(4)  # more than the commit interval (2.8 s): commits were attempted
        before_kill = asyncio.run(committed(bootstrap, unique_name, source))
        assert not asyncio.run(topic_exists(bootstrap, deadletter))
        first.kill()  # SIGKILL during the outage: the letters waiting in its memory are gone

        second = start()  # creates the missing topic, re-reads from the last commit
        # fresh traffic only once the re-read is done: read a minute late, it would show its
        # feed behind, which the replay at the wall clock is not (wait_caught_up)
        wait_caught_up(second, files)
        produce_calls("c", 1, seed=43, with_invalid=False)  # fresh: valid events flow on
        delivered = letters(INVALID_PER_HALF)
        values = [m["value"] for m in delivered]
        assert set(values) == set(sent_invalid["b"]), "an invalid event is missing"
        assert len(values) == len(set(values)), "a dead letter was written twice"
        for m in delivered:  # nothing was committed past a dead letter delivered only now
            partition = int(m["headers"]["ccpulse.source.partition"])
            offset = int(m["headers"]["ccpulse.source.offset"])
            assert before_kill.get(partition, -1) <= offset, (partition, offset, before_kill)
        ends = asyncio.run(end_offsets(bootstrap, source))
        wait_for(lambda: asyncio.run(committed(bootstrap, unique_name, source)) == ends,
                 "the commits to reach the end of the source topic", second)
        wait_equals_replay(second, files)
        assert family_total(second, "cc_events_invalid_total") == INVALID_PER_HALF
        assert second.proc is not None and second.proc.poll() is None
    finally:
        for w in workers:
            w.stop()
        broker.stop()
