"""``ccpulse connect amazon-connect`` through the real broker into a running worker.

The fixture contact records and agent events, moved in time so they end a minute ago, are
connected into Kafka (the test's broker and topic prefix); the worker's ``/metrics`` must equal
``ccpulse replay`` of what the same command writes to a file. Connecting again with
``--from-start`` sends the same event ids: the worker drops them all and no KPI moves.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import orjson
import pytest
from worker_harness import Worker, cli, family_total, free_port, wait_equals_replay, wait_for

from streams.core.timestamps import format_us, parse_us

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources" / "amazon-connect"
STAMP = re.compile(r'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)"')


def now_us() -> int:
    return time.time_ns() // 1000


def shifted(source: Path, target: Path, delta_us: int) -> Path:
    """``source`` with every timestamp moved by ``delta_us`` (whole milliseconds, as Connect
    writes them)."""
    def move(match: re.Match[str]) -> str:
        moved = parse_us(match.group(1)) + delta_us
        return '"' + format_us(moved - moved % 1000) + '"'

    target.write_text(STAMP.sub(move, source.read_text()))
    return target


def connect(*args: str) -> str:
    done = cli("connect", "amazon-connect", *args)
    assert done.returncode == 0, done.stderr.decode()
    return done.stderr.decode()


def test_connected_records_give_the_worker_the_replays_kpis_and_a_second_run_changes_nothing(
        kafka_bootstrap, unique_name, tmp_path):
    newest = max(parse_us(m) for f in FIXTURES.glob("*.jsonl")
                 for m in STAMP.findall(f.read_text()))
    delta = now_us() - 60_000_000 - newest
    ctrs = shifted(FIXTURES / "ctr.jsonl", tmp_path / "ctr.jsonl", delta)
    agents = shifted(FIXTURES / "agent-events.jsonl", tmp_path / "agent-events.jsonl", delta)
    inputs = ["--contact-records", str(ctrs), "--agent-events", str(agents)]
    prefix = unique_name + "."
    expected = tmp_path / "events.jsonl"
    connect(*inputs, "--to", str(expected), "--checkpoint-dir", str(tmp_path / "file-cp"))
    lines = expected.read_text().splitlines()
    sent = len(lines)
    ids = [orjson.loads(line)["event_id"] for line in lines]
    repeated = len(ids) - len(set(ids))  # the record delivered three times
    assert sent > 40 and repeated > 0

    worker = Worker(kafka_bootstrap, unique_name, prefix, tmp_path / "worker", free_port())
    try:
        worker.start()
        kafka = ["--broker", kafka_bootstrap, "--topic-prefix", prefix,
                 "--checkpoint-dir", str(tmp_path / "kafka-cp")]
        connect(*inputs, *kafka)
        wait_equals_replay(worker, expected)
        families = {name for name, _ in worker.metrics()}
        assert {"cc_service_level_ratio", "cc_agents", "cc_average_handle_time_seconds"} \
            <= families

        summary = connect(*inputs, *kafka, "--from-start")
        assert f"sent {sent:,} events" in summary
        wait_for(lambda: family_total(worker, "cc_events_duplicate_total") == repeated + sent,
                 "the worker to drop every event of the second run as a duplicate", worker)
        wait_equals_replay(worker, expected)
    finally:
        worker.stop()
