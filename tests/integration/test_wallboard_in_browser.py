"""The worker's /wallboard in a real headless Chromium, fed through the real broker."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import orjson
import pytest
from test_worker_through_kafka import produce, simulated_events, write_lines
from worker_harness import WAIT_TIMEOUT_S, Worker, free_port, wait_for

CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium(url: str, profile: Path, *extra: str) -> str:
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url],
                          capture_output=True, timeout=WAIT_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done.stdout.decode()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                    "(deploy/setup.sh installs it)")
def test_wallboard_page_renders_live_queues_in_a_browser(kafka_bootstrap, unique_name,
                                                         tmp_path):
    events = simulated_events(minutes=10, seed=21)
    queues = {e["queue"] for e in events if e["type"] == "call.queued"}
    path = write_lines(tmp_path / "events.jsonl", [orjson.dumps(e) for e in events])
    worker = Worker(kafka_bootstrap, unique_name, unique_name + ".", tmp_path / "w",
                    free_port())
    try:
        worker.start()
        produce(kafka_bootstrap, unique_name + ".", path)
        wait_for(lambda: sum(v for (n, _), v in worker.metrics().items()
                             if n == "cc_events_total") >= len(events),
                 "the worker to process the events", worker)
        dom = chromium(worker.url + "/wallboard", tmp_path / "profile", "--dump-dom")
        for queue in queues:
            assert f"<th>{queue}</th>" in dom
        assert "SL interval" in dom
        # The back office: the simulator's tickets and surveys fill its tiles and queue rows.
        dom = dom.replace('"', "'")  # the browser serialises attributes with double quotes
        ticket_queues = {e["queue"] for e in events if e["type"] == "ticket.created"}
        assert ticket_queues and "Tickets &amp; customers" in dom
        for title in ("Open tickets", "First responses overdue", "CSAT today"):
            assert f"<div class='label'>{title}</div>" in dom
        back_office = dom[dom.index("Tickets &amp; customers"):]
        for queue in ticket_queues:
            assert f"<tr><th>{queue}</th>" in back_office
        shot = tmp_path / "wallboard.png"
        chromium(worker.url + "/wallboard", tmp_path / "profile2", f"--screenshot={shot}",
                 "--window-size=1400,1000")
        assert shot.stat().st_size > 10_000  # a rendered page, not a blank one
    finally:
        worker.stop()
