"""``ccpulse connect asterisk`` through the real broker into a running worker.

The three-queue fixture queue_log, moved in time so that its last line is a minute old, is
connected into Kafka (the test's broker and topic prefix); the worker's ``/metrics`` must equal
``ccpulse replay`` of what the same command writes to a file. Connecting again with
``--from-start`` sends the same event ids: the worker drops them all and no KPI moves.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from worker_harness import Worker, cli, family_total, free_port, wait_equals_replay, wait_for

pytestmark = pytest.mark.integration

FIXTURE = (Path(__file__).resolve().parents[1] / "fixtures" / "sources" / "asterisk"
           / "three_queues.queue_log")


def shifted(source: Path, target: Path) -> Path:
    """``source`` with every line's epoch moved so that the newest is 60 s ago."""
    lines = source.read_text().splitlines()
    delta = int(time.time()) - 60 - max(int(line.split("|", 1)[0]) for line in lines)
    target.write_text("".join(f"{int(when) + delta}|{rest}\n"
                              for when, rest in (line.split("|", 1) for line in lines)))
    return target


def connect(*args: str) -> str:
    done = cli("connect", "asterisk", *args)
    assert done.returncode == 0, done.stderr.decode()
    return done.stderr.decode()


def test_a_connected_queue_log_gives_the_worker_the_replays_kpis_and_a_second_run_changes_nothing(
        kafka_bootstrap, unique_name, tmp_path):
    log = shifted(FIXTURE, tmp_path / "queue_log")
    prefix = unique_name + "."
    expected = tmp_path / "events.jsonl"
    connect("--queue-log", str(log), "--to", str(expected),
            "--checkpoint-dir", str(tmp_path / "file-cp"))
    sent = len(expected.read_text().splitlines())
    assert sent > 90

    worker = Worker(kafka_bootstrap, unique_name, prefix, tmp_path / "worker", free_port())
    try:
        worker.start()
        kafka = ["--queue-log", str(log), "--broker", kafka_bootstrap, "--topic-prefix", prefix,
                 "--checkpoint-dir", str(tmp_path / "kafka-cp")]
        connect(*kafka)
        wait_equals_replay(worker, expected)
        families = {name for name, _ in worker.metrics()}
        assert {"cc_service_level_ratio", "cc_agents", "cc_window_calls_blocked"} <= families

        summary = connect(*kafka, "--from-start")
        assert f"sent {sent:,} events" in summary
        wait_for(lambda: family_total(worker, "cc_events_duplicate_total") == sent,
                 "the worker to drop every event of the second run as a duplicate", worker)
        wait_equals_replay(worker, expected)
    finally:
        worker.stop()
