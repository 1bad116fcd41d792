"""The worker through the real broker: same KPIs as the replay, restarts, dead letters.

Each test writes an event file, sends it with ``ccpulse produce``, runs ``ccpulse worker`` as a
subprocess and compares its ``/metrics`` with ``ccpulse replay`` of the same file. The first
runs both with per-agent series on (``[limits] per_agent``, fewer ``max_agents`` than the
centre has agents), so the opt-in families and their ``agent="other"`` bucket agree too; the
others run on the default configuration.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from kafka_reads import committed_offsets, read_topic
from worker_harness import (
    Worker,
    cli,
    differences,
    free_port,
    get_json,
    kpis,
    parse_metrics,
    wait_for,
)

from streams.core.timestamps import HOUR_US, format_us
from streams.simulate.generator import generate
from streams.simulate.model import IntradayProfile
from streams.simulate.scenarios import contact_centre

SIM_MINUTES = 20
#: Families whose entities this release keeps state (and so de-duplication) for.
#: Every family the engine keeps state for: redelivered duplicates of any must be dropped.
STATEFUL = ("call", "chat", "agent", "ticket", "survey", "qa", "customer", "marketing")
#: One family of each kind that the mixed stream must show, so "equal" is not vacuous.
EVERY_KIND = ("cc_service_level_ratio", "cc_agents", "cc_tickets_created_total",
              "cc_tickets_open", "cc_survey_responses_total", "cc_qa_reviews_total",
              "cc_window_customers_acquired")
#: Per-agent series on, with fewer agent labels than the simulated centre has agents.
PER_AGENT_CONFIG = "[limits]\nper_agent = true\nmax_agents = 5\n"
PER_AGENT_FAMILIES = ("cc_window_per_agent_state_seconds", "cc_window_per_agent_contacts_handled",
                      "cc_per_agent_occupancy_ratio", "cc_per_agent_average_handle_time_seconds")


def now_us() -> int:
    return time.time_ns() // 1000


def simulated_events(minutes: int = SIM_MINUTES, seed: int = 11) -> list[dict]:
    """A realistic stream that ends about now (so the worker's windows see it)."""
    start = now_us() // 1000 - minutes * 60_000
    daytime = replace(contact_centre(), profile=IntradayProfile(((0.0, 1.0),)))  # any hour
    return list(generate(daytime, seed=seed, start_ms=start, duration_ms=minutes * 60_000))


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def produce(bootstrap: str, prefix: str, path: Path, topic: str | None = None) -> None:
    args = ["produce", str(path), "--broker", bootstrap, "--topic-prefix", prefix]
    if topic:
        args += ["--topic", topic]
    done = cli(*args)
    assert done.returncode == 0, done.stderr.decode()


def replay_kpis(path: Path, as_of_us: int, config: Path | None = None) -> dict:
    args = ["replay", str(path), "--as-of", format_us(as_of_us)]
    if config is not None:
        args += ["--config", str(config)]
    done = cli(*args)
    assert done.returncode == 0, done.stderr.decode()
    return kpis(parse_metrics(done.stdout.decode()))


def converged(worker: Worker, path: Path, config: Path | None = None) -> tuple[bool, list[str]]:
    """Scrape, then replay with the scrape time as the clock; compare the KPI values."""
    before = now_us()
    scraped = kpis(worker.metrics())
    expected = replay_kpis(path, (before + now_us()) // 2, config)
    problems = differences(scraped, expected)
    return not problems, problems


def wait_converged(worker: Worker, path: Path, config: Path | None = None) -> None:
    last: list[str] = []

    def check() -> bool:
        nonlocal last
        ok, last = converged(worker, path, config)
        return ok

    try:
        wait_for(check, "the worker's KPIs to equal the replay's", worker)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nfirst differences:\n" + "\n".join(last[:20])) from None


@pytest.fixture
def worker_factory(kafka_bootstrap: str, unique_name: str, tmp_path: Path):
    started: list[Worker] = []

    def make(port: int | None = None, data: str = "worker") -> Worker:
        w = Worker(kafka_bootstrap, unique_name, unique_name + ".", tmp_path / data,
                   port or free_port())
        started.append(w)
        return w

    yield make
    for w in started:
        w.stop()


def test_worker_through_kafka_exposes_the_same_kpis_as_the_replay(
        kafka_bootstrap, unique_name, tmp_path, worker_factory):
    events = simulated_events()
    assert len(events) > 500
    lines = [orjson.dumps(e) for e in events]
    tracked = [orjson.dumps(e) for e in events if e["type"].split(".")[0] in STATEFUL]
    lines += random.Random(3).sample(tracked, 40)  # redelivered duplicates
    path = write_lines(tmp_path / "events.jsonl", lines)
    config = tmp_path / "ccpulse.toml"
    config.write_text(PER_AGENT_CONFIG)
    worker = worker_factory()
    worker.env["CCPULSE_CONFIG"] = str(config)
    worker.start()
    produce(kafka_bootstrap, unique_name + ".", path)
    wait_converged(worker, path, config)
    values = worker.metrics()
    assert sum(v for (n, _), v in values.items() if n == "cc_events_duplicate_total") == 40
    shown = {n for n, _ in values}
    assert set(EVERY_KIND) <= shown, set(EVERY_KIND) - shown
    assert set(PER_AGENT_FAMILIES) <= shown, set(PER_AGENT_FAMILIES) - shown
    agents = {dict(labels)["agent"] for n, labels in values if n in PER_AGENT_FAMILIES}
    assert len(agents) == 5 + 1 and "other" in agents, agents  # max_agents, then "other"
    what_if_through_the_worker(worker)


def what_if_through_the_worker(worker: Worker) -> None:
    """``/staffing.json`` is built from the live Erlang families the worker exports, and
    ``ccpulse staffing`` prints its table from it (contract §3.5)."""
    rate_key = ("cc_erlang_arrival_rate_per_second",
                frozenset({"queue": "support", "channel": "voice"}.items()))
    entry: dict = {}

    def same_rate_as_metrics() -> bool:  # the trailing window moves on each minute: retry
        nonlocal entry
        status, doc = get_json(worker.url + "/staffing.json?queue=support&channel=voice")
        assert status == 200, doc
        (entry,) = doc["queues"]
        return entry["arrival_rate_per_second"] == worker.metrics().get(rate_key)

    wait_for(same_rate_as_metrics, "/staffing.json to show the exported arrival rate", worker)
    assert [row["agents"] for row in entry["rows"]] == list(
        range(max(1, entry["agents"] - 2), entry["agents"] + 4))
    done = cli("staffing", "--queue", "support", "--channel", "voice", "--agents", "10",
               "--url", worker.url)
    assert done.returncode == 0, done.stderr.decode()
    table = done.stdout.decode().splitlines()
    assert table[0].startswith(f"support · voice (live from {worker.url}): ")
    assert [line.split()[0] for line in table[2:]] == ["8", "9", "10", "11", "12", "13"]
    status, error = get_json(worker.url + "/staffing.json?agents=lots")
    assert (status, error) == (400, {"error": "agents must be a whole number ≥ 0, got 'lots'"})


def test_worker_killed_mid_stream_and_restarted_counts_nothing_twice_and_loses_nothing(
        kafka_bootstrap, unique_name, tmp_path, worker_factory):
    events = simulated_events(seed=12)
    lines = [orjson.dumps(e) for e in events]
    half = len(lines) // 2
    first = write_lines(tmp_path / "first.jsonl", lines[:half])
    everything = write_lines(tmp_path / "all.jsonl", lines)
    port = free_port()
    worker = worker_factory(port)
    worker.start()
    produce(kafka_bootstrap, unique_name + ".", first)

    def some_processed() -> bool:
        total = sum(v for (n, _), v in worker.metrics().items() if n == "cc_events_total")
        return total > half // 3

    wait_for(some_processed, "the worker to process part of the stream", worker)
    # Kill only once the group has committed offsets: from then on the restarted worker can
    # only get the state of the committed events from the changelog, not by redelivery.
    wait_for(lambda: asyncio.run(_committed(kafka_bootstrap, unique_name)) > 0,
             "the worker to commit consumer offsets", worker)
    worker.kill()  # SIGKILL: no clean shutdown, no final commit
    rest = write_lines(tmp_path / "rest.jsonl", lines[half:])
    produce(kafka_bootstrap, unique_name + ".", rest)
    restarted = worker_factory(port)
    restarted.start()
    wait_converged(restarted, everything)


INVALID_LINES = {
    "not_json": b"{this is not json",
    "not_object": b'["call.queued"]',
    "missing_field": b'{"type": "call.queued", "occurred_at": "2026-11-22T09:00:00Z", '
                     b'"call_id": "x1", "queue": "sales"}',
    "wrong_type": b'{"event_id": 7, "type": "call.queued", "occurred_at": '
                  b'"2026-11-22T09:00:00Z", "call_id": "x2", "queue": "sales"}',
    "unknown_type": b'{"event_id": "bad-5", "type": "call.teleported", "occurred_at": '
                    b'"2026-11-22T09:00:00Z", "call_id": "x3"}',
    "bad_timestamp": b'{"event_id": "bad-6", "type": "call.queued", "occurred_at": '
                     b'"2026-11-22 nine", "call_id": "x4", "queue": "sales"}',
    "bad_enum": b'{"event_id": "bad-8", "type": "call.flowed_out", "occurred_at": '
                b'"2026-11-22T09:00:00Z", "call_id": "x6", "queue": "sales", "reason": "bored"}',
}


def test_invalid_events_go_to_the_dead_letter_topic_and_leave_valid_kpis_untouched(
        kafka_bootstrap, unique_name, tmp_path, worker_factory):
    events = simulated_events(minutes=10, seed=13)
    valid = [orjson.dumps(e) for e in events if e["type"].startswith("call.")]
    invalid = dict(INVALID_LINES)
    invalid["offset_less_timestamp"] = (
        b'{"event_id": "bad-7", "type": "call.queued", "occurred_at": "2026-11-22T09:00:00", '
        b'"call_id": "x5", "queue": "sales"}')
    invalid["future_timestamp"] = orjson.dumps(
        {"event_id": "bad-9", "type": "call.queued", "occurred_at": format_us(now_us() + HOUR_US),
         "call_id": "x7", "queue": "sales"})
    mixed = list(valid)
    for i, line in enumerate(invalid.values()):
        mixed.insert(min(len(mixed), 1 + i * 17), line)
    path = write_lines(tmp_path / "mixed.jsonl", mixed)
    valid_only = write_lines(tmp_path / "valid.jsonl", valid)
    worker = worker_factory()
    worker.start()
    topic = unique_name + ".cc.calls"
    produce(kafka_bootstrap, unique_name + ".", path, topic=topic)
    wait_converged(worker, valid_only)

    values = worker.metrics()
    invalid_count = sum(v for (n, _), v in values.items() if n == "cc_events_invalid_total")
    assert invalid_count == len(invalid)
    letters = asyncio.run(read_topic(kafka_bootstrap, unique_name + ".cc.deadletter",
                                             len(invalid)))
    assert sorted(m["value"] for m in letters) == sorted(invalid.values())
    for m in letters:
        assert m["headers"]["ccpulse.source.topic"] == topic
        assert int(m["headers"]["ccpulse.source.offset"]) >= 0
        assert m["headers"]["ccpulse.reason"], "every dead letter says why"
    assert worker.proc is not None and worker.proc.poll() is None, "the worker survived"


async def _committed(bootstrap: str, group: str) -> int:
    """How many messages the consumer group has committed, over all partitions."""
    return sum(max(0, offset) for (topic, _), offset in
               (await committed_offsets(bootstrap, group)).items()
               if not topic.endswith("-changelog"))


def _summed(workers: list[Worker]) -> dict:
    """Sum the counters of several workers (``sum by`` over workers in PromQL)."""
    out: dict = {}
    for w in workers:
        for key, value in kpis(w.metrics()).items():
            if key[0].endswith("_total"):
                out[key] = out.get(key, 0) + value
    return out


def test_two_workers_split_the_partitions_and_their_counters_sum_to_the_replay(
        kafka_bootstrap, unique_name, tmp_path, worker_factory):
    events = simulated_events(seed=14)
    path = write_lines(tmp_path / "events.jsonl", [orjson.dumps(e) for e in events])
    first = worker_factory(data="w1")
    first.start()
    produce(kafka_bootstrap, unique_name + ".", path)
    second = worker_factory(data="w2")
    second.start()  # joins the group: the first worker's partitions are rebalanced
    expected = {k: v for k, v in replay_kpis(path, now_us()).items() if k[0].endswith("_total")}
    last: dict = {}

    def split_and_complete() -> bool:
        nonlocal last
        last = _summed([first, second])
        lags = [{dict(lbl)["partition"] + dict(lbl)["topic"] for (n, lbl) in w.metrics()
                 if n == "cc_consumer_lag_messages"} for w in (first, second)]
        # Seconds counters are floats: a sum over two workers may differ from the replay's
        # one sum in the last bit, as Prometheus' would (differences() allows for that).
        return (bool(lags[0]) and bool(lags[1]) and not lags[0] & lags[1]
                and not differences(last, expected))

    try:
        wait_for(split_and_complete, "both workers to own disjoint partitions and their "
                 "counters to sum to the replay's", second)
    except AssertionError as exc:
        diff = differences(last, expected)
        raise AssertionError(f"{exc}\n" + "\n".join(diff[:20])) from None
