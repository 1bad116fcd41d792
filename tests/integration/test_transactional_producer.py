"""A producer that writes in Kafka transactions (exactly-once connectors, Kafka Streams apps)
leaves a commit marker after each transaction: an offset in every partition it wrote that
holds no event. A fetch that begins past one looks like a hole left by a rebalance, which the
worker reads again (streams.worker.inline); the same hole coming back is a real gap, passed
and logged. Through the real broker: every event applied, the values equal the replay, and the
gap logged with its offsets.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer
from broker_security import security_for
from worker_harness import Worker, family_total, free_port, wait_equals_replay, wait_for

from streams.publish import route_event
from streams.simulate.generator import generate
from streams.simulate.model import IntradayProfile
from streams.simulate.scenarios import contact_centre

MINUTES = 20
TRANSACTIONS = 3
GAP_LINE = ("absent when read again: passed over (transaction markers, aborted transactions, "
            "compacted or deleted records)")
GAP = re.compile(r"\] ccpulse worker: (?P<where>\S+-\d+): (?:offset (?P<offset>\d+) is|offsets "
                 r"(?P<start>\d+) to (?P<end>\d+) are) absent when read again")


def recent_events(seed: int = 23) -> list[dict]:
    """Every family of events over the last :data:`MINUTES` minutes (today's windows)."""
    end_ms = time.time_ns() // 1_000_000
    daytime = replace(contact_centre(), profile=IntradayProfile(((0.0, 1.0),)))
    return list(generate(daytime, seed=seed, start_ms=end_ms - MINUTES * 60_000,
                         duration_ms=MINUTES * 60_000))


async def send_in_a_transaction(bootstrap: str, prefix: str, events: list[dict],
                                transactional_id: str, *, abort: bool = False) -> None:
    """``events``, routed as ``ccpulse produce`` routes them, in one transaction, committed
    (or aborted, ``abort``: its records stay in the log, marked aborted)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=transactional_id,
                                enable_idempotence=True,
                                **security_for(bootstrap).aiokafka_kwargs())
    await producer.start()
    try:
        await producer.begin_transaction()
        for event in events:
            route = route_event(event, prefix)
            await producer.send(route.topic, route.value, key=route.key)
        await producer.flush()  # every record in the log before the transaction ends
        if abort:
            await producer.abort_transaction()
        else:
            await producer.commit_transaction()
    finally:
        await producer.stop()


def test_a_transactional_producers_commit_markers_lose_no_event_and_its_aborts_count_none(
        kafka_bootstrap: str, unique_name: str, tmp_path: Path) -> None:
    events = recent_events()
    # other calls and chats over the same minutes: counted, they would change the windows and
    # totals the replay of the committed events gives
    aborted = [e for e in recent_events(seed=41) if e["type"].startswith(("call.", "chat."))]
    assert len(aborted) > 100
    assert len(events) > 1_000
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    prefix = unique_name + "."
    worker = Worker(kafka_bootstrap, unique_name, prefix, tmp_path / "worker", free_port())
    worker.env["CCPULSE_LOG_LEVEL"] = "info"  # the fetch loop's lines are info lines
    size = -(-len(events) // TRANSACTIONS)
    try:
        worker.start()
        for n in range(TRANSACTIONS):
            part = events[n * size:(n + 1) * size]
            asyncio.run(send_in_a_transaction(kafka_bootstrap, prefix, part, unique_name))
            if n == 0:  # between two committed ones, a transaction the producer aborts
                asyncio.run(send_in_a_transaction(kafka_bootstrap, prefix, aborted,
                                                  unique_name, abort=True))
            # every event so far read before the next transaction: its records then begin
            # one past the marker, where the worker's next fetch begins
            sent = min(len(events), (n + 1) * size)
            wait_for(lambda sent=sent: family_total(worker, "cc_events_total")
                     + family_total(worker, "cc_events_duplicate_total") >= sent,
                     f"the worker to read the {sent:,} events of {n + 1} transactions", worker)
        # the partitions now end in offsets the client skips (the last transaction aborted:
        # its records and its marker): no lag once the worker has fetched past them (it
        # showed them as lag until the next event, for ever on a quiet partition)
        asyncio.run(send_in_a_transaction(kafka_bootstrap, prefix, aborted, unique_name,
                                          abort=True))
        wait_for(lambda: family_total(worker, "cc_consumer_lag_messages") == 0,
                 "no lag behind the skipped offsets at the partitions' ends", worker)
        wait_equals_replay(worker, path)
        assert family_total(worker, "cc_events_total") == len(events)
        assert family_total(worker, "cc_events_invalid_total") == 0
        log = worker.log_path.read_text(errors="replace")
        gaps = [line for line in log.splitlines() if GAP_LINE in line]
        # a marker in each partition at each of the 2 boundaries read past (~40 in a run): far
        # more than the 6 topics' first lines that a collapsing log filter would let through
        assert len(gaps) >= 10, f"{len(gaps)} gap lines for the commit markers:\n{log[-4000:]}"
        # one marker an offset, each partition's line (none collapsed), passed over only
        # after it was read again
        for line in gaps:
            found = GAP.search(line)
            assert found, line
            where = found["where"]
            start = int(found["offset"] or found["start"])  # a range: the aborted records
            end = int(found["offset"] or found["end"])
            read_again = (f"ccpulse worker: {where}: fetched from offset {end + 1}, the next "
                          f"to apply is {start}: read again from there")
            assert read_again in log[:log.index(line)], (line, worker.log_tail())
    finally:
        worker.stop()
