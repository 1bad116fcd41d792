"""``ccpulse connect csv`` through the real broker into a running worker.

A call log (one row per call, several timestamps) and a ticket log (one row per activity, with
per-ticket memory) of the last hour, written in local time of two zones, are connected into
Kafka by the unit tests' mappings (tests/fixtures/sources/csv/); the worker's ``/metrics`` must
equal ``ccpulse replay`` of what the same commands write to files. Connecting again with
``--from-start`` sends the same event ids: the worker drops them all and no KPI moves.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from worker_harness import Worker, cli, family_total, free_port, wait_equals_replay, wait_for

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources" / "csv"
BERLIN = ZoneInfo("Europe/Berlin")
ROME = ZoneInfo("Europe/Rome")


def local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def call_log(path: Path, end: datetime) -> Path:
    """Twelve calls in the last 40 minutes (served and abandoned) and one that never queued."""
    rows = ["call,queue,entered,waited,outcome,agent,ended,note"]
    for n in range(12):
        entered = end - timedelta(minutes=40 - 3 * n)
        waited = 5 + 7 * n
        served = n % 3 != 0
        ended = entered + timedelta(seconds=waited + 120)
        rows.append(",".join([
            f"C{n}", "billing" if n % 2 else "sales", local(entered, BERLIN), str(waited),
            "SERVED" if served else "ABANDON", f"a{n % 4}" if served else "",
            local(ended, BERLIN) if served else "", f'"row {n}\nsecond line"' if n == 5 else ""]))
    rows.append(f"C99,,{local(end, BERLIN)},0,ABANDON,,,")
    path.write_text("\n".join(rows) + "\n")
    return path


def ticket_log(path: Path, end: datetime) -> Path:
    """Three tickets' activities in the last 50 minutes: created, solved, reopened."""
    activity = [("T1", 50, "new", "P1"), ("T2", 45, "new", "P2"), ("T1", 40, "solve", "P1"),
                ("T3", 30, "new", "P1"), ("T2", 20, "solve", "P2"), ("T1", 15, "hold", "P2"),
                ("T1", 10, "unblock", "P2"), ("T3", 5, "solve", "P1")]
    rows = ["ticket,at,action,prio"] + [
        f"{t},{local(end - timedelta(minutes=m), ROME)},{a},{p}" for t, m, a, p in activity]
    path.write_text("\n".join(rows) + "\n")
    return path


def connect(*args: str) -> str:
    done = cli("connect", "csv", *args)
    assert done.returncode == 0, done.stderr.decode()
    return done.stderr.decode()


def test_connected_exports_give_the_worker_the_replays_kpis_and_a_second_run_changes_nothing(
        kafka_bootstrap, unique_name, tmp_path):
    end = datetime.now(BERLIN).replace(microsecond=0) - timedelta(minutes=1)
    inputs = {"calls": call_log(tmp_path / "calls.csv", end),
              "tickets": ticket_log(tmp_path / "tickets.csv", end)}
    expected: list[Path] = []
    for name, data in inputs.items():
        out = tmp_path / f"{name}.jsonl"
        connect(str(data), "--mapping", str(FIXTURES / f"{name}.toml"), "--to", str(out),
                "--checkpoint-dir", str(tmp_path / "file-cp"))
        expected.append(out)
    sent = {name: len(out.read_text().splitlines()) for name, out in zip(inputs, expected,
                                                                           strict=True)}
    assert sent["calls"] > 30 and sent["tickets"] > 8

    prefix = unique_name + "."
    worker = Worker(kafka_bootstrap, unique_name, prefix, tmp_path / "worker", free_port())
    kafka = ["--broker", kafka_bootstrap, "--topic-prefix", prefix,
             "--checkpoint-dir", str(tmp_path / "kafka-cp")]
    try:
        worker.start()
        for name, data in inputs.items():
            connect(str(data), "--mapping", str(FIXTURES / f"{name}.toml"), *kafka)
        wait_equals_replay(worker, expected)
        families = {name for name, _ in worker.metrics()}
        assert {"cc_service_level_ratio", "cc_tickets_open", "cc_tickets_reopened_total"} \
            <= families

        for name, data in inputs.items():
            summary = connect(str(data), "--mapping", str(FIXTURES / f"{name}.toml"), *kafka,
                              "--from-start")
            assert f"sent {sent[name]:,} events" in summary
        wait_for(lambda: family_total(worker, "cc_events_duplicate_total") == sum(sent.values()),
                 "the worker to drop every event of the second run as a duplicate", worker)
        wait_equals_replay(worker, expected)
    finally:
        worker.stop()
