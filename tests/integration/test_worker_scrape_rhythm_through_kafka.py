"""A worker read at a fixed interval learns it and brings its families up to date just before
each read (``streams.worker.scrape_rhythm``), through the real broker and web server: it says
so in a status line naming the client, its debug log shows the catch-ups while events arrive
between the reads, and after them the worker's KPIs are what the replay computes."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import orjson
from test_worker_through_kafka import produce, simulated_events, wait_converged, write_lines
from worker_harness import Worker, free_port, parse_metrics, wait_for

#: The scraper's interval: a little over the shortest a rhythm may be
#: (``scrape_rhythm.MIN_INTERVAL_S``, 2 s), with room for the test's own timing.
INTERVAL_S = 2.5


class Scraper(threading.Thread):
    """GETs /metrics every :data:`INTERVAL_S` on its own schedule (as Prometheus does) until
    stopped; keeps each answer's status."""

    def __init__(self, worker: Worker) -> None:
        super().__init__(daemon=True)
        self.worker = worker
        self.statuses: list[int] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        n = 0
        while not self.stopped.wait(max(0.0, start + n * INTERVAL_S - time.monotonic())):
            status, body = self.worker._get("/metrics")
            self.statuses.append(status)
            if status == 200:
                parse_metrics(body)  # what a scraper reads is a valid exposition
            n += 1


def test_a_worker_read_at_a_fixed_interval_learns_it_and_still_equals_the_replay(
        kafka_bootstrap, unique_name, tmp_path: Path):
    first = [orjson.dumps(e) for e in simulated_events(minutes=10, seed=5)]
    first_path = write_lines(tmp_path / "first.jsonl", first)
    worker = Worker(kafka_bootstrap, unique_name, unique_name + ".", tmp_path / "worker",
                    free_port())
    worker.env["CCPULSE_LOG_LEVEL"] = "debug"  # the catch-ups' own lines
    try:
        worker.start()
        produce(kafka_bootstrap, unique_name + ".", first_path)
        wait_converged(worker, first_path)
        scraper = Scraper(worker)
        scraper.start()
        try:
            pattern = (r"\[INFO\] ccpulse worker: /metrics is read every 2\.[4-6] s by "
                       r"127\.0\.0\.1 Python-urllib/3\.\d+: the families are brought up to "
                       r"date just before each read")
            wait_for(lambda: re.search(pattern, worker.log_tail(400_000)) is not None,
                     "the status line of the scrape rhythm learned", worker)
            learned_at = len(worker.log_path.read_bytes())
            # more events arrive between the scraper's reads (the last minute's, fresh, in
            # three parts), each read's state brought up to date just before it
            rest = [orjson.dumps(e) for e in simulated_events(minutes=1, seed=6)]
            third = len(rest) // 3 + 1
            for i in range(3):
                produce(kafka_bootstrap, unique_name + ".", write_lines(
                    tmp_path / f"rest-{i}.jsonl", rest[i * third:(i + 1) * third]))
            time.sleep(3 * INTERVAL_S)
        finally:
            scraper.stopped.set()
            scraper.join(timeout=30)
        assert len(scraper.statuses) >= 6 and set(scraper.statuses) == {200}, scraper.statuses
        since_learned = worker.log_path.read_bytes()[learned_at:].decode(errors="replace")
        assert re.search(r"\[DEBUG\] scrape catch-up: [\d.]+ ms", since_learned), (
            "no catch-up before the scraper's reads:\n" + since_learned[-3000:])
        wait_converged(worker, write_lines(tmp_path / "events.jsonl", first + rest))
        log = worker.log_path.read_text(errors="replace")
        assert "before a scrape failed" not in log, log[-3000:]
    finally:
        worker.stop()
