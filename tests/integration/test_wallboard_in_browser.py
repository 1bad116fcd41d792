"""The worker's /wallboard in a real headless Chromium, fed through the real broker: what it
shows equals /metrics, colours follow the targets, it fits 720p, 1080p and 4K without
scrolling, passes axe-core's contrast rule, filters, says "stale" when events stop, and
carries on after the worker restarts."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from test_worker_through_kafka import produce, simulated_events, write_lines
from wallboard_browser import (
    SIZES,
    browser,
    contrast_violations,
    needs_browser,
    open_page,
    overflowing_text,
    screenshot,
    scroll_size,
    tiles,
)
from worker_harness import WAIT_TIMEOUT_S, Worker, free_port, wait_for

STALE_AFTER_S = 20
SURGE = "surge"  # a queue of hand-made calls that miss its service level


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "ccpulse.toml"
    path.write_text(f"[wallboard]\nstale_after_seconds = {STALE_AFTER_S}\n"
                    "data_stale_after_seconds = 6\nrefresh_seconds = 1\n")
    return path


def surge_calls() -> list[dict]:
    """One call answered after 40 s (SL 0 %, over the 20 s threshold) and one still waiting
    for 90 s, ending about now."""
    now = datetime.now(UTC)

    def event(type_: str, seconds_ago: float, call_id: str, **extra: str) -> dict:
        at = (now - timedelta(seconds=seconds_ago)).isoformat(timespec="milliseconds")
        return {"event_id": str(uuid.uuid4()), "type": type_, "occurred_at": at.replace(
            "+00:00", "Z"), "call_id": call_id, "queue": SURGE, **extra}

    return [event("call.queued", 120, "surge-1"),
            event("call.answered", 80, "surge-1", agent_id="surge-agent"),
            event("call.queued", 90, "surge-2")]


def started_worker(kafka_bootstrap: str, unique_name: str, tmp_path: Path,
                   port: int | None = None) -> Worker:
    worker = Worker(kafka_bootstrap, unique_name, unique_name + ".", tmp_path / "w",
                    port or free_port())
    worker.env["CCPULSE_CONFIG"] = str(config_file(tmp_path))
    worker.start()
    return worker


def scrape(worker: Worker) -> dict[tuple[str, frozenset], float]:
    return worker.metrics()


def sample(values: dict, name: str, **labels: str) -> float | None:
    return values.get((name, frozenset(labels.items())))


#: (page metric, family, window or None) for the numbers that do not move with the clock.
SHOWN = (("waiting", "cc_queue_contacts_waiting", None),
         ("sl_interval", "cc_service_level_ratio", "interval"),
         ("sl_today", "cc_service_level_ratio", "today"),
         ("asa", "cc_average_speed_of_answer_seconds", "interval"),
         ("abandoned", "cc_window_contacts_abandoned", "today"))


def differences(shown: dict, before: dict, after: dict) -> list[str]:
    """Where the page differs from both scrapes: a value, its text, or its colour against the
    queue's own target."""
    problems = []
    for key, metrics in shown.items():
        queue, channel = key.split("/")
        if channel == "tickets":
            continue
        for metric, family, window in SHOWN:
            labels = {"queue": queue, "channel": channel}
            if window:
                labels["window"] = window
            values = {sample(v, family, **labels) for v in (before, after)}
            cell = metrics[metric]
            if cell["value"] == "":
                if values != {None} or cell["text"] != "–" or cell["level"] is not None:
                    problems.append(f"{key} {metric}: page {cell}, /metrics {values}")
                continue
            if float(cell["value"]) not in values:
                problems.append(f"{key} {metric}: page {cell}, /metrics {values}")
            elif cell["text"] != expected_text(metric, float(cell["value"])):
                problems.append(f"{key} {metric}: text {cell['text']!r}")
        target = sample(after, "cc_service_level_target_ratio", queue=queue, channel=channel,
                        window="interval")
        sl = metrics["sl_interval"]
        if sl["value"] != "" and (sl["level"] == "good") != (float(sl["value"]) >= target):
            problems.append(f"{key} sl_interval colour {sl} against target {target}")
    return problems


def expected_text(metric: str, value: float) -> str:
    if metric.startswith("sl_"):
        return f"{round(value * 100)}%"
    if metric == "asa":
        return f"{round(value)}s" if value < 60 else f"{int(value) // 60}:{round(value) % 60:02d}"
    return str(round(value))


@needs_browser
def test_wallboard_shows_metrics_values_coloured_by_target_at_three_sizes(
        kafka_bootstrap, unique_name, tmp_path):
    events = simulated_events(minutes=10, seed=21) + surge_calls()
    path = write_lines(tmp_path / "events.jsonl", [orjson.dumps(e) for e in events])
    worker = started_worker(kafka_bootstrap, unique_name, tmp_path)
    try:
        produce(kafka_bootstrap, unique_name + ".", path)
        wait_for(lambda: sum(v for (n, _), v in scrape(worker).items()
                             if n == "cc_events_total") >= len(events),
                 "the worker to process the events", worker)
        with browser() as b:
            page = open_page(b, worker.url + "/wallboard")
            page.wait_for_selector("body.live", timeout=WAIT_TIMEOUT_S * 1000)
            # An interval can end between a poll and a scrape: compare until both agree.
            problems: list[str] = []

            def agrees() -> bool:
                before, shown, after = scrape(worker), tiles(page), scrape(worker)
                problems[:] = differences(shown, before, after)
                return not problems

            deadline = time.monotonic() + 20
            while not agrees() and time.monotonic() < deadline:
                time.sleep(0.5)
            assert problems == []
            shown = tiles(page)
            queues = {e["queue"] for e in events if e["type"] == "call.queued"}
            assert {key.split("/")[0] for key in shown} >= queues
            surge = shown[f"{SURGE}/voice"]
            assert surge["sl_today"]["text"] == "0%" and surge["sl_today"]["level"] == "bad"
            assert surge["waiting"]["text"] == "1"
            assert surge["oldest_wait"]["level"] == "bad"  # 90 s > the 20 s threshold
            ticket_queues = {e["queue"] for e in events if e["type"] == "ticket.created"}
            assert {f"{q}/tickets" for q in ticket_queues} <= set(shown)
            assert page.inner_text("#status").lower() == "live"
            assert "Newest event" in page.inner_text("#freshness")
            assert page.is_hidden("#banner")
            assert contrast_violations(page) == []

            for width, height in SIZES:
                sized = open_page(b, worker.url + "/wallboard", width, height)
                sized.wait_for_selector("article.tile")
                scroll_w, inner_w, scroll_h, inner_h = scroll_size(sized)
                assert scroll_w <= inner_w and scroll_h <= inner_h, (width, height)
                assert overflowing_text(sized) == [], (width, height)
                shot = screenshot(sized, f"wallboard-{width}x{height}.png", tmp_path)
                assert shot.stat().st_size > 20_000
                sized.close()

            # the what-if staffing page: its tables, and its time in UTC, named (a browser's
            # own zone and 12-hour clock said "as of 5:15:46 AM" beside the board's UTC)
            staffing = b.new_page(viewport={"width": 1600, "height": 900})
            staffing.goto(worker.url + "/staffing")
            staffing.wait_for_function(
                "() => document.getElementById('status').textContent.startsWith('as of')",
                timeout=WAIT_TIMEOUT_S * 1000)
            assert re.fullmatch(r"as of \d\d:\d\d:\d\d UTC",
                                staffing.inner_text("#status")), staffing.inner_text("#status")
            assert staffing.locator("#queues table").count() >= 1
            screenshot(staffing, "staffing-1600x900.png", tmp_path)
            staffing.close()

            # clock.js not served (the worker restarting between the page's requests): the
            # page still paints, tells the time, keeps polling, and loads itself again
            broken = b.new_page(viewport={"width": 1280, "height": 720})
            polls: list[str] = []
            broken.on("request", lambda r: polls.append(r.url) if "wallboard.json" in r.url
                      else None)
            broken.route("**/clock.js", lambda route: route.abort())
            broken.goto(worker.url + "/wallboard")
            broken.wait_for_selector("body.live", timeout=WAIT_TIMEOUT_S * 1000)
            assert re.fullmatch(r"\d\d:\d\d:\d\d", broken.inner_text("#clock")), \
                broken.inner_text("#clock")
            seen = len(polls)
            broken.wait_for_event("framenavigated", timeout=20_000)  # reloads after 10 s
            assert len(polls) >= seen + 3, (seen, len(polls))  # polled on meanwhile (1 s)
            broken.close()

            one = open_page(b, f"{worker.url}/wallboard?queue={SURGE}&channel=voice")
            one.wait_for_selector("article.tile")
            assert set(tiles(one)) == {f"{SURGE}/voice"}

            # Events stop: once the newest is older than stale_after_seconds, the page says so.
            page.wait_for_selector("body.stale", timeout=WAIT_TIMEOUT_S * 1000)
            assert page.inner_text("#banner").startswith("STALE — no new event for")
            assert page.inner_text("#status").lower() == "stale"
            assert contrast_violations(page) == []
    finally:
        worker.stop()


@needs_browser
def test_wallboard_keeps_its_numbers_while_the_worker_restarts_and_carries_on(
        kafka_bootstrap, unique_name, tmp_path):
    events = surge_calls()
    path = write_lines(tmp_path / "events.jsonl", [orjson.dumps(e) for e in events])
    port = free_port()
    worker = started_worker(kafka_bootstrap, unique_name, tmp_path, port)
    try:
        produce(kafka_bootstrap, unique_name + ".", path)
        with browser() as b:
            page = open_page(b, worker.url + "/wallboard")
            page.wait_for_selector(f"article[data-queue='{SURGE}']",
                                   timeout=WAIT_TIMEOUT_S * 1000)
            worker.kill()
            page.wait_for_selector("body.down", timeout=WAIT_TIMEOUT_S * 1000)
            assert "cannot reach the worker since" in page.inner_text("#banner")
            assert page.inner_text("#status").lower() == "not live"
            assert tiles(page)[f"{SURGE}/voice"]["waiting"]["text"] == "1"  # kept
            screenshot(page, "wallboard-worker-down.png", tmp_path)
            worker = started_worker(kafka_bootstrap, unique_name, tmp_path, port)
            page.wait_for_selector("body:not(.down)", timeout=WAIT_TIMEOUT_S * 1000)
            assert "cannot reach" not in page.inner_text("#banner")
            # Live again as soon as it consumes: what the killed worker had not committed
            # yet is read again, so the surge may come back a moment later (at least once).
            wait_for(lambda: tiles(page).get(f"{SURGE}/voice", {}).get(
                "waiting", {}).get("text") == "1", "the surge queue's tile back", worker)
    finally:
        worker.stop()
