"""Idle records on disk through the real broker: a worker leaves the records of idle entities
(tickets solved over a day ago, customers without an event for a day) in its local RocksDB
store instead of memory, and reads one back when an event, a trim or a retirement needs it
(``Engine.spill``, ``streams.worker.checkpoint.TableStore``; docs/performance.md). It must
still expose exactly what ``ccpulse replay`` gives: after the backlog, after every event is
sent again (duplicates of entities on disk) with fresh traffic, and after a SIGKILL and a
restart on the same data directory.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import orjson
from test_worker_restarts_with_local_state import committed_total, produce
from worker_harness import (
    FRESH_LOAD,
    Worker,
    check_fresh,
    free_port,
    topics_of,
    wait_caught_up,
    wait_equals_replay,
    wait_for,
)

from streams.simulate.generator import generate
from streams.simulate.model import IntradayProfile
from streams.simulate.scenarios import contact_centre

DAY_MS = 86_400_000
#: The entity families whose records go idle (tickets, customers and their marketing spend).
IDLE_FAMILIES = ("ticket", "customer", "marketing")


def tickets_and_customers(path: Path, start_ms: int, duration_ms: int, seed: int,
                          load: float | None = None) -> list[dict]:
    """The contact-centre scenario's ticket and customer events in ``[start_ms, start_ms +
    duration_ms)``, written to ``path`` and returned. ``load`` flattens the intraday profile
    to that multiple of the scenario's rates, so every topic has events up to the end (a
    night's quiet minutes would leave a topic's newest event minutes old)."""
    scenario = contact_centre()
    if load is not None:
        scenario = replace(scenario, profile=IntradayProfile(((0.0, load),)))
    events = [e for e in generate(scenario, seed=seed, start_ms=start_ms,
                                  duration_ms=duration_ms)
              if e["type"].split(".")[0] in IDLE_FAMILIES]
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return events


def held(worker: Worker) -> dict[str, float]:
    """``cc_entities`` by ``where``."""
    return {dict(labels)["where"]: v for (name, labels), v in worker.metrics().items()
            if name == "cc_entities"}


def test_idle_records_go_to_disk_and_every_value_stays_the_replays(
        kafka_bootstrap, unique_name, tmp_path):
    now_ms = time.time_ns() // 1_000_000
    backlog = tmp_path / "backlog.jsonl"
    tickets_and_customers(backlog, now_ms - 3 * DAY_MS, 3 * DAY_MS - 600_000, seed=51)
    prefix = unique_name + "."
    produce(kafka_bootstrap, prefix, backlog)
    files = [backlog]

    def fresh_traffic(to: Worker, name: str, seed: int) -> None:
        """Two minutes of tickets and customers ending now, :data:`FRESH_LOAD` times the
        scenario's peak (a ticket within seconds of the end: :func:`check_fresh`), sent to a
        running worker: its live ages (the ticket backlog) then follow the wall clock, as the
        replay's do. A feed whose newest events were read a minute or more after they
        happened is shown as behind (docs/decisions.md, live ages), so this is made and sent
        once the worker has read everything sent before (on a loaded machine, a backlog read
        first took longer than that)."""
        wait_caught_up(to, files)
        path = tmp_path / name
        now_ms = time.time_ns() // 1_000_000
        events = tickets_and_customers(path, now_ms - 120_000, 119_000, seed=seed,
                                       load=FRESH_LOAD)
        check_fresh(events, topics_of(files), now_ms)
        produce(kafka_bootstrap, prefix, path)
        files.append(path)

    data = tmp_path / "node"
    worker = Worker(kafka_bootstrap, unique_name, prefix, data, free_port())
    try:
        worker.start()
        fresh_traffic(worker, "fresh-1.jsonl", seed=52)
        wait_equals_replay(worker, files)
        # written at a checkpoint, then left there: on disk, not in memory
        # (frozen until the next checkpoint has written them, then on disk)
        wait_for(lambda: held(worker).get("disk", 0) > max(1000, held(worker)["memory"]),
                 "most records on disk", worker)
        local = [v for (name, _), v in worker.metrics().items()
                 if name == "cc_local_store_memory_bytes"]
        assert local and local[0] > 0, local

        # every event again: duplicates, most of them of entities on disk, read back to be
        # told apart
        produce(kafka_bootstrap, prefix, backlog)
        fresh_traffic(worker, "fresh-2.jsonl", seed=53)
        wait_for(lambda: sum(v for (n, _), v in worker.metrics().items()
                             if n == "cc_events_duplicate_total") > 1000,
                 "the resent events to be counted as duplicates", worker)
        wait_equals_replay(worker, files)

        wait_for(lambda: asyncio.run(committed_total(kafka_bootstrap, unique_name)) > 0,
                 "offsets committed", worker)
        worker.kill()  # SIGKILL: no clean stop, no snapshot at the end
        restarted = Worker(kafka_bootstrap, unique_name, prefix, data, free_port())
        worker = restarted
        restarted.start()
        fresh_traffic(restarted, "fresh-3.jsonl", seed=54)
        wait_equals_replay(restarted, files)
    finally:
        worker.stop()
