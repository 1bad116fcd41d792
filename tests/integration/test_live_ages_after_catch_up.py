"""Live ages after a catch-up, through the real broker (issue 8, part 3).

Half an hour of traffic that ended half an hour ago is produced while no worker runs — an
outage's backlog, from a feed that is itself behind (the demo's simulator fast-forwarding
through the last hour is the same: events read long after they happened). The worker then
starts and reads it. Every scrape, during the catch-up and after, must show the oldest wait
of the contacts as of the events' time: two calls queued 40 s and 10 s before the end of the
data are 40 s old (plus the seconds since they were read), not 30 minutes. Then the feed
turns live (events stamped now on the contact topics) and the worker equals the replay
``--as-of`` the scrape, as when it has always been live.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from worker_harness import Worker, cli, differences, free_port, kpis, parse_metrics, wait_for

from streams.core.timestamps import MINUTE_US, SECOND_US, format_us, parse_us
from streams.simulate.generator import generate
from streams.simulate.model import IntradayProfile
from streams.simulate.scenarios import contact_centre
from streams.worker.state import IDLE_AFTER_US

QUEUE = "catchup"
BEHIND_US = 30 * MINUTE_US
OLDEST = "cc_queue_oldest_wait_seconds"
WAITING = "cc_queue_contacts_waiting"


def now_us() -> int:
    return time.time_ns() // 1000


def event(type_: str, at_us: int, n: int, **body: object) -> dict:
    return {"event_id": f"catchup-{n}-{type_}", "type": type_, "occurred_at": format_us(at_us),
            **body}


def write(path: Path, events: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


def produce(bootstrap: str, prefix: str, path: Path) -> None:
    done = cli("produce", str(path), "--broker", bootstrap, "--topic-prefix", prefix)
    assert done.returncode == 0, done.stderr.decode()


def replay(path: Path, as_of_us: int) -> dict:
    done = cli("replay", str(path), "--as-of", format_us(as_of_us))
    assert done.returncode == 0, done.stderr.decode()
    return kpis(parse_metrics(done.stdout.decode()))


def gauges(values: dict, name: str) -> dict[tuple[str, str], float]:
    out = {}
    for (n, labels), v in values.items():
        if n == name:
            lbl = dict(labels)
            out[(lbl["queue"], lbl["channel"])] = v
    return out


def longest_wait_s(events: list[dict], end_us: int) -> float:
    """The longest any segment of ``events`` waited at any instant up to ``end_us``: what a
    floor could ever have seen as the oldest wait (an outcome closes the oldest open segment
    of its contact and queue)."""
    open_: dict[tuple[str, str], list[int]] = {}
    longest = 0
    for e in events:
        kind, _, what = e["type"].partition(".")
        if kind not in ("call", "chat") or "queue" not in e:
            continue
        key, at = (e[f"{kind}_id"], e["queue"]), parse_us(e["occurred_at"])
        if what == "queued":
            open_.setdefault(key, []).append(at)
        elif what in ("answered", "abandoned", "flowed_out") and open_.get(key):
            longest = max(longest, at - open_[key].pop(0))
    for starts in open_.values():
        for at in starts:
            longest = max(longest, end_us - at)
    return longest / SECOND_US


def processed(values: dict) -> float:
    return sum(v for (n, _), v in values.items()
               if n in ("cc_events_total", "cc_events_duplicate_total"))


@pytest.fixture
def worker(kafka_bootstrap: str, unique_name: str, tmp_path: Path):
    w = Worker(kafka_bootstrap, unique_name, unique_name + ".", tmp_path / "worker",
               free_port())
    yield w
    w.stop()


def test_after_a_catch_up_the_oldest_wait_is_measured_in_event_time(
        kafka_bootstrap, unique_name, tmp_path, worker):
    end = now_us() - BEHIND_US
    daytime = replace(contact_centre(), profile=IntradayProfile(((0.0, 1.0),)))
    backlog = list(generate(daytime, seed=21, start_ms=(end - BEHIND_US) // 1000,
                            duration_ms=BEHIND_US // 1000))
    backlog += [event("call.queued", end - 40 * SECOND_US, 1, call_id="cu-1", queue=QUEUE),
                event("call.queued", end - 10 * SECOND_US, 2, call_id="cu-2", queue=QUEUE)]
    backlog.sort(key=lambda e: e["occurred_at"])
    path = write(tmp_path / "backlog.jsonl", backlog)
    # What the data says at its own end: the floor as it was when the feed stopped.
    at_end = replay(path, end)
    assert gauges(at_end, WAITING)[(QUEUE, "voice")] == 2
    assert gauges(at_end, OLDEST)[(QUEUE, "voice")] == pytest.approx(40.0)
    longest = longest_wait_s(backlog, end)

    produce(kafka_bootstrap, unique_name + ".", path)  # the worker is down: a backlog
    read_from = time.monotonic()
    worker.start()
    scrapes = 0

    def caught_up() -> bool:
        nonlocal scrapes
        values = worker.metrics()
        scrapes += 1
        slack = time.monotonic() - read_from + 5.0  # the feed's time moves on after a read
        for key, age in gauges(values, OLDEST).items():
            assert age <= longest + slack, (
                f"scrape {scrapes}: oldest wait of {key} is {age:.0f} s; no contact in the "
                f"data waited over {longest:.0f} s (the catch-up aged contacts by the wall "
                "clock)")
        return processed(values) >= len(backlog)

    wait_for(caught_up, "the worker to read the whole backlog", worker)
    values = worker.metrics()
    elapsed = time.monotonic() - read_from
    assert gauges(values, WAITING) == gauges(at_end, WAITING)
    age = gauges(values, OLDEST)[(QUEUE, "voice")]
    # cu-1 had waited 40 s when the data ended (its partition's stream time may be a few
    # seconds short of the end); since then only the seconds since it was read count.
    assert 0.0 < age <= 40.0 + elapsed + 1.0, (
        f"cu-1 waited 40 s when the data ended, {elapsed:.0f} s ago; the worker shows {age}")

    # The feed turns live: each contact topic reads an event stamped now. Once the backlog's
    # partitions are idle they follow their live topics, and the worker equals the replay.
    live_at = now_us()
    live = [event("call.queued", live_at, 3, call_id="cu-3", queue=QUEUE),
            event("call.answered", live_at, 3, call_id="cu-3", queue=QUEUE, agent_id="a1"),
            event("chat.queued", live_at, 4, chat_id="cu-4", queue=QUEUE),
            event("chat.answered", live_at, 4, chat_id="cu-4", queue=QUEUE, agent_id="a1")]
    produce(kafka_bootstrap, unique_name + ".", write(tmp_path / "live.jsonl", live))
    everything = write(tmp_path / "all.jsonl", backlog + live)
    time.sleep(IDLE_AFTER_US / SECOND_US)
    last: list[str] = []

    def equal_to_the_replay() -> bool:
        nonlocal last
        before = now_us()
        scraped = kpis(worker.metrics())
        last = differences(scraped, replay(everything, (before + now_us()) // 2))
        return not last

    try:
        wait_for(equal_to_the_replay, "the live worker's KPIs to equal the replay's", worker)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nfirst differences:\n" + "\n".join(last[:20])) from None
    age = gauges(worker.metrics(), OLDEST)[(QUEUE, "voice")]
    assert age >= BEHIND_US / SECOND_US, "live again: still waiting, aged by the wall clock"
