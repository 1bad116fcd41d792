"""A worker computes its families just after each wall-clock minute turns, while they are read
(``streams.worker.warm_up``): the first scrape of the minute then brings that result up to date
instead of computing every queue's Erlang staffing again, and no value changes."""

from __future__ import annotations

import asyncio
import logging

import pytest
from test_scrape_reuse import MINUTE_US, START_US, Run, call_events, check, fresh, snapshot

from streams.core import staffing
from streams.worker.warm_up import (
    SCRAPED_WITHIN_S,
    WARM_AFTER_S,
    seconds_to_warm_up,
    warm_up_new_minutes,
)

WARM_AFTER_US = int(WARM_AFTER_S * 1_000_000)


@pytest.mark.parametrize(("now_s", "wait_s"), [
    (120.0, 0.01),  # a minute turns: 10 ms in
    (120.004, 0.006),
    (120.01, 60.0),  # just warmed: the next minute
    (179.0, 1.01),
    (1_795_338_037.5, 22.51),
])
def test_the_warm_up_is_ten_milliseconds_into_the_next_minute(now_s, wait_s):
    assert seconds_to_warm_up(now_s) == pytest.approx(wait_s)
    assert (now_s + seconds_to_warm_up(now_s)) % 60 == pytest.approx(WARM_AFTER_S)


class Wall:
    """A wall clock that a sleep moves on; the loop ends after ``sleeps`` sleeps."""

    class Done(Exception):
        pass

    def __init__(self, now_s: float, sleeps: int) -> None:
        self.now_s = now_s
        self.left = sleeps

    async def sleep(self, seconds: float) -> None:
        if self.left == 0:
            raise Wall.Done
        self.left -= 1
        self.now_s += seconds


def run_loop(wall: Wall, warm, last_read) -> None:
    with pytest.raises(Wall.Done):
        asyncio.run(warm_up_new_minutes(warm, lambda: wall.now_s, last_read, wall.sleep))


def test_a_read_worker_warms_up_at_each_minute_and_a_forgotten_one_stops():
    wall = Wall(1_000.0, sleeps=8)  # 16 min 40 s: the minutes turn at 1,020, 1,080, ...
    warmed: list[float] = []
    run_loop(wall, lambda: warmed.append(wall.now_s), lambda: 1_000.0)  # read once, at 1,000
    # within SCRAPED_WITHIN_S (300 s) of the read: 1,020.01 ... 1,260.01; not 1,320.01
    assert warmed == pytest.approx([1_020.01, 1_080.01, 1_140.01, 1_200.01, 1_260.01])
    assert all(at - 1_000.0 <= SCRAPED_WITHIN_S for at in warmed)


class EarlyWall(Wall):
    """A wall clock whose first sleep wakes 50 ms early, as an event loop's timer may."""

    async def sleep(self, seconds: float) -> None:
        early = 0.05 if self.left == 3 else 0.0
        await super().sleep(seconds - early)


def test_a_wake_up_before_the_minute_turns_waits_for_the_turn():
    wall = EarlyWall(1_000.0, sleeps=3)  # the first wake-up at 1,019.96, in the old minute
    warmed: list[float] = []
    run_loop(wall, lambda: warmed.append(wall.now_s), lambda: 1_000.0)
    assert warmed == pytest.approx([1_020.01, 1_080.01])


def test_a_worker_never_read_does_not_warm_up():
    wall = Wall(1_000.0, sleeps=5)
    warmed: list[float] = []
    run_loop(wall, lambda: warmed.append(wall.now_s), lambda: None)
    assert warmed == []


def test_a_failing_warm_up_is_logged_once_and_the_loop_goes_on(caplog):
    wall = Wall(1_000.0, sleeps=3)
    calls: list[float] = []

    def warm() -> None:
        calls.append(wall.now_s)
        raise ValueError("a broken family")

    with caplog.at_level(logging.ERROR, logger="ccpulse.worker"):
        run_loop(wall, warm, lambda: wall.now_s)
    assert len(calls) == 3
    failures = [r for r in caplog.records if "new minute failed" in r.getMessage()]
    assert len(failures) == 1 and "the next scrape computes them" in failures[0].getMessage()


# ------------------------------------------------------------------ the worker's state


def minute_after(run: Run) -> int:
    """The start of the minute after the run's clock."""
    now = run.clock.now_us
    return now - now % MINUTE_US + MINUTE_US


def to_the_minute(warm_up: bool) -> tuple[Run, int]:
    """A busy worker scraped just before a minute turns and fed to just past its warm-up
    instant, where it warms up (``warm_up``) or not; returns it and the minute's start."""
    r = Run()
    r.feed(until_us=START_US - 30 * MINUTE_US)
    turn = minute_after(r)
    r.feed(until_us=turn - 2_000_000)
    r.state.families(r.state.engines)  # a scrape of the minute before
    r.feed(until_us=turn + WARM_AFTER_US - 1)
    r.clock.now_us = turn + WARM_AFTER_US
    if warm_up:
        r.state.families(r.state.engines)
    return r, turn


def then_billing_calls(r: Run, turn: int) -> None:
    """Events in one queue after the warm-up instant, the clock 4 s into the minute."""
    r.clock.now_us = turn + 4_000_000
    r.apply(iter(call_events(r.clock.now_us, "billing", "after-the-warm-up", 3, 1)))


def counting_loads(monkeypatch) -> list[tuple[str, str]]:
    """The (queue, channel) keys whose Erlang load is computed from here on."""
    computed: list[tuple[str, str]] = []
    load = staffing._ErlangKept._load

    def counted(self, config, ledgers, mkey, *args):
        computed.append(mkey)
        return load(self, config, ledgers, mkey, *args)

    monkeypatch.setattr(staffing._ErlangKept, "_load", counted)
    return computed


def test_the_first_scrape_after_a_warm_up_computes_only_the_loads_that_changed(monkeypatch):
    warmed, turn = to_the_minute(warm_up=True)
    then_billing_calls(warmed, turn)
    computed = counting_loads(monkeypatch)
    warmed.state.families(warmed.state.engines)
    after_warm_up = set(computed)

    cold, turn = to_the_minute(warm_up=False)
    then_billing_calls(cold, turn)
    computed.clear()
    cold.state.families(cold.state.engines)
    without = set(computed)

    assert {q for q, _ in after_warm_up} == {"billing"}  # the queue with events since
    assert len(without) > len(after_warm_up) and after_warm_up < without  # every queue


def test_a_warm_up_changes_no_value_of_the_next_scrapes():
    warmed, turn = to_the_minute(warm_up=True)
    cold, _ = to_the_minute(warm_up=False)
    for r in (warmed, cold):
        then_billing_calls(r, turn)
    # the scrape after the warm-up: what one without it shows, and a fresh computation
    assert snapshot(warmed.state.families(warmed.state.engines)) == snapshot(
        cold.state.families(cold.state.engines))
    check(warmed)
    assert snapshot(warmed.state.families(warmed.state.engines)) == snapshot(
        fresh(warmed.state))
    # and on through the next minutes, a warm-up at each
    for _ in range(3):
        turn = minute_after(warmed)
        warmed.feed(until_us=turn + WARM_AFTER_US - 1)
        warmed.clock.now_us = turn + WARM_AFTER_US
        warmed.state.families(warmed.state.engines)
        warmed.feed(n=40)
        check(warmed)


# ------------------------------------------------------------------ the worker's wiring


def test_the_worker_runs_the_warm_up_on_its_families_and_notes_each_read(tmp_path, monkeypatch):
    from streams.core.config import parse_config
    from streams.worker import app as worker_app

    seen: dict[str, object] = {}

    async def loop(warm, clock_s, last_read_s):
        seen.update(warm=warm, clock_s=clock_s, last_read_s=last_read_s)

    monkeypatch.setattr(worker_app, "warm_up_new_minutes", loop)
    pipeline = worker_app.build_pipeline(parse_config({"worker": {"data_dir": str(tmp_path)}}))
    pipeline.state.clock_us = lambda: 1_795_338_001_500_000
    tasks = [t for t in pipeline.app._app_tasks if t.__name__ == "warm_up"]
    assert len(tasks) == 1
    asyncio.run(tasks[0]())
    assert seen["clock_s"]() == pytest.approx(1_795_338_001.5)  # the state's wall clock
    assert seen["last_read_s"]() is None
    seen["warm"]()  # the warm-up computes the families: not a read
    assert seen["last_read_s"]() is None
    pipeline.families()  # a scrape, the wallboard, the staffing page
    assert seen["last_read_s"]() == pytest.approx(1_795_338_001.5)
