"""Restarts through the real broker with the worker's tables on disk (RocksDB).

A worker is SIGKILLed while it applies a backlog batch by batch (after its group committed
offsets, before it reached the end); restarted on the same data directory it reads its local
state and the changelog tail; a new node with an empty data directory recovers everything from
the changelogs. Both must expose exactly what ``ccpulse replay`` gives for the same events.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import orjson
from kafka_reads import committed_offsets
from worker_harness import (
    FRESH_LOAD,
    LIVE_AGE_TOPICS,
    Worker,
    check_fresh,
    cli,
    family_total,
    free_port,
    wait_caught_up,
    wait_equals_replay,
    wait_for,
)

from streams.simulate.generator import generate
from streams.simulate.model import IntradayProfile
from streams.simulate.scenarios import contact_centre

# ~90,000 events: several seconds of work at ~20,000 events/s, so the kill lands inside the
# backlog after the first commit (2.8 s)
BACKLOG_MINUTES = 720


def simulated(path: Path, minutes: int, seed: int) -> int:
    """Write ``minutes`` of busy traffic ending now, its last minute :data:`FRESH_LOAD` times
    as busy so that every topic with live ages has an event within seconds of the end (else
    the worker shows that topic as behind, and its live ages differ from the replay's until
    it reads more: :func:`check_fresh`); returns how many events."""
    now_ms = time.time_ns() // 1_000_000
    events: list[dict] = []
    for load, start_ms, end_ms in ((1.0, now_ms - minutes * 60_000, now_ms - 60_000),
                                   (FRESH_LOAD, now_ms - 60_000, now_ms)):
        if end_ms > start_ms:
            busy = replace(contact_centre(), profile=IntradayProfile(((0.0, load),)))
            events += generate(busy, seed=seed, start_ms=start_ms, duration_ms=end_ms - start_ms)
    check_fresh(events, set(LIVE_AGE_TOPICS), now_ms)
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return len(events)


def produce(bootstrap: str, prefix: str, path: Path) -> None:
    done = cli("produce", str(path), "--broker", bootstrap, "--topic-prefix", prefix)
    assert done.returncode == 0, done.stderr.decode()


async def committed_total(bootstrap: str, group: str) -> int:
    return sum(max(0, offset) for offset in (await committed_offsets(bootstrap, group)).values())


def rocksdb_databases(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.rglob("*.db") if p.is_dir() and (p / "CURRENT").exists()]


def test_sigkill_mid_batch_then_restarts_with_and_without_local_state_equal_the_replay(
        kafka_bootstrap, unique_name, tmp_path):
    events = tmp_path / "events.jsonl"
    total = simulated(events, BACKLOG_MINUTES, seed=21)
    prefix = unique_name + "."
    produce(kafka_bootstrap, prefix, events)
    files = [events]

    def fresh_traffic(to: Worker, name: str, seed: int) -> None:
        """A minute of traffic ending now: by the time a restarted worker is compared the
        backlog's last events are minutes old, and a feed that reads only old events is
        shown as behind (its live ages as of its stream time, docs/decisions.md), which the
        replay's clock is not. Made and sent once the worker has read everything sent before
        (:func:`wait_caught_up`), so that it reads these within the minute."""
        wait_caught_up(to, files)
        path = tmp_path / name
        simulated(path, 1, seed=seed)
        produce(kafka_bootstrap, prefix, path)
        files.append(path)

    workers: list[Worker] = []

    def start(data: str) -> Worker:
        w = Worker(kafka_bootstrap, unique_name, prefix, tmp_path / data, free_port())
        workers.append(w)
        w.start()
        return w

    try:
        first = start("node-a")

        def partly_done_and_committed() -> bool:
            applied = family_total(first, "cc_events_total")
            return applied > total // 5 and asyncio.run(
                committed_total(kafka_bootstrap, unique_name)) > 0

        wait_for(partly_done_and_committed, "the worker to commit part of the backlog", first)
        applied_at_kill = family_total(first, "cc_events_total")
        first.kill()  # SIGKILL inside the backlog: no final commit, no clean shutdown
        assert applied_at_kill < total, "the backlog was finished before the kill"
        assert rocksdb_databases(tmp_path / "node-a"), "no RocksDB database in the data dir"

        same_disk = start("node-a")
        fresh_traffic(same_disk, "fresh-1.jsonl", seed=22)
        wait_equals_replay(same_disk, files)
        same_disk.kill()

        new_node = start("node-b")  # empty data directory: everything from the changelogs
        fresh_traffic(new_node, "fresh-2.jsonl", seed=23)
        wait_equals_replay(new_node, files)
        # the group's committed offsets are past most of the backlog, so what node-b shows of
        # it came from the changelogs, into its own local store
        assert rocksdb_databases(tmp_path / "node-b")
    finally:
        for w in workers:
            w.stop()


def test_a_clean_stop_writes_engine_snapshots_and_the_restart_from_them_equals_the_replay(
        kafka_bootstrap, unique_name, tmp_path):
    """SIGTERM: the worker writes each engine's snapshot after its last checkpoint; restarted
    on the same data directory it restores the engines from them, its records left on disk
    until needed (streams.worker.snapshots), and must give the replay's values: at once, after
    fresh traffic that changes restored entities (agents, tickets), and after every event is
    sent again (all duplicates, most of them of entities still only on disk)."""
    events = tmp_path / "events.jsonl"
    simulated(events, 90, seed=31)
    prefix = unique_name + "."
    produce(kafka_bootstrap, prefix, events)
    files = [events]
    data = tmp_path / "node"
    worker = Worker(kafka_bootstrap, unique_name, prefix, data, free_port())
    try:
        worker.start()
        wait_equals_replay(worker, files)
        worker.stop()
        assert worker.proc is not None and worker.proc.returncode == 0, worker.log_tail()
        files_written = sorted(p.name for p in data.rglob("*.snapshot"))
        said = re.findall(r"wrote (\d+) engine snapshots", worker.log_tail(200_000))
        assert files_written and said, f"no snapshot written on a clean stop:\n{worker.log_tail()}"
        assert int(said[-1]) == len(files_written)

        restarted = Worker(kafka_bootstrap, unique_name, prefix, data, free_port())
        worker = restarted
        restarted.start()
        # every snapshot is used (an engine of a partition that never had a record has none)
        wait_for(lambda: re.search(rf"engines built in [\d.]+ s \({len(files_written)} "
                                   r"restored from snapshots", restarted.log_tail(200_000)),
                 "the engines restored from their snapshots", restarted)
        wait_equals_replay(restarted, files)
        assert "did not leave the group" not in restarted.log_tail(200_000)  # it left

        fresh = tmp_path / "fresh.jsonl"
        simulated(fresh, 2, seed=32)
        produce(kafka_bootstrap, prefix, fresh)
        files.append(fresh)
        produce(kafka_bootstrap, prefix, events)  # every event again: duplicates
        wait_for(lambda: family_total(restarted, "cc_events_duplicate_total") > 0,
                 "the resent events to be counted as duplicates", restarted)
        wait_equals_replay(restarted, files)
    finally:
        worker.stop()


def test_a_worker_killed_after_its_snapshots_restarts_from_them_and_equals_the_replay(
        kafka_bootstrap, unique_name, tmp_path):
    """SIGKILL after the worker's running snapshots (taken at checkpoints) and fresh traffic
    since: restarted on the same data directory it restores the engines from them and catches
    them up with the records journaled since (streams.worker.journal), instead of rebuilding
    every record; it must give the replay's values, at once and after every event is sent
    again (duplicates of entities both caught up and still on disk)."""
    events = tmp_path / "events.jsonl"
    sent = simulated(events, 60, seed=41)
    prefix = unique_name + "."
    produce(kafka_bootstrap, prefix, events)
    files = [events]
    data = tmp_path / "node"
    worker = Worker(kafka_bootstrap, unique_name, prefix, data, free_port())
    try:
        worker.start()
        wait_equals_replay(worker, files)
        wait_for(lambda: list(data.rglob("*.snapshot")), "a running snapshot", worker)
        fresh = tmp_path / "fresh.jsonl"
        sent += simulated(fresh, 3, seed=42)
        produce(kafka_bootstrap, prefix, fresh)
        files.append(fresh)
        wait_equals_replay(worker, files)
        # committed, so checkpointed: the fresh records are in the store, after the snapshots
        wait_for(lambda: asyncio.run(committed_total(kafka_bootstrap, unique_name)) >= sent,
                 "the fresh traffic's offsets to be committed", worker)
        worker.kill()  # no clean stop: no snapshot at the end, no LeaveGroup

        restarted = Worker(kafka_bootstrap, unique_name, prefix, data, free_port())
        worker = restarted
        restarted.start()
        # the killed worker's member is removed from the group, not waited for (membership.py)
        wait_for(lambda: "did not leave the group (it was killed or crashed); removed it"
                 in restarted.log_tail(200_000), "the killed member removed", restarted)
        pattern = (r"engines built in [\d.]+ s \((\d+) restored from snapshots and (\d+) "
                   r"records changed since")
        # the log has the first process's build line too: the restart's is the second
        wait_for(lambda: len(re.findall(pattern, restarted.log_tail(200_000))) >= 2,
                 "the engines built", restarted)
        restored, changed = map(int, re.findall(pattern, restarted.log_tail(200_000))[-1])
        assert restored > 0 and changed > 0, restarted.log_tail()
        wait_equals_replay(restarted, files)
        # /readyz says so too
        with urllib.request.urlopen(restarted.url + "/readyz", timeout=10) as answer:
            engines = json.loads(answer.read())["engines"]
        assert engines == {"restored_from_snapshots": restored, "records_caught_up": changed,
                           "rebuilt_from_records": 0}

        produce(kafka_bootstrap, prefix, events)  # every event again: duplicates
        produce(kafka_bootstrap, prefix, fresh)
        wait_for(lambda: family_total(restarted, "cc_events_duplicate_total") > 0,
                 "the resent events to be counted as duplicates", restarted)
        wait_equals_replay(restarted, files)
    finally:
        worker.stop()
