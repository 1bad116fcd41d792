"""A worker learns when each client reads /metrics and brings its families and exposition up
to date just before the next read (``streams.worker.scrape_rhythm``); no value changes."""

from __future__ import annotations

import asyncio
import logging

import pytest
from test_scrape_reuse import Run, check, fresh, fresh_text, snapshot

from streams import exporter
from streams.worker.scrape_rhythm import (
    LEAD_EXTRA_MAX_S,
    LEAD_S,
    MAX_CLIENTS,
    NO_CATCH_UP_ENV,
    POLL_S,
    ScrapeRhythm,
    catch_up_before_reads,
    catch_up_off,
    steady,
)

PROMETHEUS = "10.0.0.5 Prometheus/2.42.0"
REPLICA = "10.0.0.6 Prometheus/2.42.0"


def learned(reads: list[tuple[str, float]]) -> tuple[ScrapeRhythm, list[float | None]]:
    rhythm = ScrapeRhythm()
    return rhythm, [rhythm.read(client, at_s) for client, at_s in reads]


@pytest.mark.parametrize(("previous_s", "interval_s", "agree"), [
    (15.0, 15.0, True),
    (15.0, 15.24, True),  # a read answered late by the worker's own event loop
    (5.0, 5.26, False),  # past 0.25 s
    (15.0, 15.3, True),  # 2 % of a longer interval: 0.3 s at 15 s
    (15.0, 14.6, False),
    (60.0, 61.1, True),
    (60.0, 61.3, False),
    (0.6, 0.6, False),  # a person reloading, not a scraper
    (5.0, 10.0, False),
])
def test_two_intervals_agree_within_a_quarter_second_or_two_percent(
        previous_s, interval_s, agree):
    assert steady(previous_s, interval_s) is agree


def test_a_scraper_at_a_fixed_interval_is_predicted_from_its_third_read():
    rhythm, told = learned([(PROMETHEUS, 100.0), (PROMETHEUS, 115.0), (PROMETHEUS, 130.0)])
    assert told == [None, None, 15.0]
    assert rhythm.next_read_s(130.2) == 145.0
    rhythm.read(PROMETHEUS, 145.02)  # as predicted, a little late
    # the period over the reads, 45.02 / 3 s, carried forward from each: the earliest
    assert rhythm.next_read_s(145.1) == pytest.approx(130.0 + 2 * 45.02 / 3)


def test_the_interval_is_told_once_and_again_when_it_changes():
    reads = [(PROMETHEUS, 100.0 + 15 * i) for i in range(5)]
    reads += [(PROMETHEUS, 160.0 + 5 * i) for i in range(1, 4)]  # scrape_interval now 5 s
    _, told = learned(reads)
    assert told == [None, None, 15.0, None, None, None, 5.0, None]


def test_irregular_reads_are_not_predicted():
    rhythm, told = learned([(PROMETHEUS, 100.0), (PROMETHEUS, 103.0), (PROMETHEUS, 115.0),
                            (PROMETHEUS, 116.0)])
    assert told == [None] * 4
    assert rhythm.next_read_s(116.0) is None


def test_two_replicas_at_their_own_offsets_are_each_predicted():
    reads = sorted([(PROMETHEUS, 100.0 + 15 * i) for i in range(3)]
                   + [(REPLICA, 104.0 + 15 * i) for i in range(3)], key=lambda r: r[1])
    rhythm, _ = learned(reads)
    assert rhythm.next_read_s(134.5) == 145.0  # the first replica's next
    rhythm.read(PROMETHEUS, 145.0)
    assert rhythm.next_read_s(145.5) == 149.0  # then the second's


def test_reads_answered_late_keep_the_rhythm():
    # the worker's event loop notes a read when it answers it: after a batch or a catch-up
    rhythm, told = learned([(PROMETHEUS, at) for at in (100.0, 115.0, 130.0, 145.2, 160.0,
                                                         175.1, 190.0)])
    assert told == [None, None, 15.0, None, None, None, None]
    assert rhythm.next_read_s(190.1) == pytest.approx(205.0)  # not 205.2 or 205.1


def test_a_read_that_does_not_come_ends_that_prediction_and_the_next_read_resumes_it():
    rhythm, _ = learned([(PROMETHEUS, 100.0), (PROMETHEUS, 115.0), (PROMETHEUS, 130.0)])
    assert rhythm.next_read_s(145.0) == 145.0
    assert rhythm.next_read_s(145.5) is None  # missed (Prometheus down, a network fault)
    assert rhythm.read(PROMETHEUS, 160.0) is None  # two periods: it fits
    assert rhythm.next_read_s(160.5) == 175.0


def test_a_client_whose_reads_stop_fitting_its_period_is_no_longer_predicted():
    rhythm, told = learned([(PROMETHEUS, at) for at in (100.0, 115.0, 130.0, 137.0, 141.0,
                                                         149.0)])
    assert told == [None, None, 15.0, None, None, None]  # 7, 4, 8: three misses
    assert rhythm.next_read_s(149.0) is None


def test_an_interval_changed_to_a_multiple_of_the_period_is_learned():
    reads = [(PROMETHEUS, 100.0 + 5 * i) for i in range(4)]  # every 5 s
    reads += [(PROMETHEUS, 115.0 + 15 * i) for i in range(1, 4)]  # then every 15 s
    rhythm, told = learned(reads)
    assert told == [None, None, 5.0, None, None, 15.0, None]
    assert rhythm.next_read_s(160.5) == pytest.approx(175.0)


def test_the_period_is_estimated_over_the_reads_not_from_one_late_interval():
    # learned from 5.0 then 5.24 (the third read answered late: their mean), then on time
    rhythm, told = learned([(PROMETHEUS, at) for at in (100.0, 105.0, 110.24, 115.0, 120.1,
                                                         125.0, 130.0)])
    assert told == [None, None, pytest.approx(5.12), None, None, None, None]
    # over the reads 100 ... 130: 5.0 s; carried from its earliest, not from the late ones
    assert rhythm.next_read_s(130.5) == pytest.approx(135.0)


def test_the_client_read_least_recently_is_forgotten_beyond_the_limit():
    rhythm, _ = learned([(PROMETHEUS, 100.0), (PROMETHEUS, 115.0), (PROMETHEUS, 130.0)])
    for n in range(MAX_CLIENTS - 1):
        rhythm.read(f"10.1.0.{n} curl/8.5", 131.0)
    assert rhythm.next_read_s(131.0) == 145.0  # still followed: MAX_CLIENTS in all
    rhythm.read("10.2.0.1 curl/8.5", 132.0)
    assert rhythm.next_read_s(132.0) is None


# ------------------------------------------------------------------ the loop


class Wall:
    """A monotonic clock that sleeps and catch-ups move on, with a scraper reading at its own
    instants; the loop ends after ``sleeps`` sleeps."""

    class Done(Exception):
        pass

    def __init__(self, rhythm: ScrapeRhythm, reads: list[float], sleeps: int,
                 catch_up_s: float = 0.0, clients: list[str] | None = None) -> None:
        self.rhythm = rhythm
        self.now_s = reads[0]
        self.reads = list(reads)
        self.clients = list(clients or [PROMETHEUS] * len(reads))
        self.left = sleeps
        self.catch_up_s = catch_up_s
        self.caught_up: list[float] = []
        self._advance(0.0)

    def _advance(self, seconds: float) -> None:
        self.now_s += seconds
        while self.reads and self.reads[0] <= self.now_s:
            self.rhythm.read(self.clients.pop(0), self.reads.pop(0))

    async def sleep(self, seconds: float) -> None:
        if self.left == 0:
            raise Wall.Done
        self.left -= 1
        self._advance(seconds)

    def catch_up(self) -> None:
        self.caught_up.append(self.now_s)
        self._advance(self.catch_up_s)


def run_loop(wall: Wall) -> None:
    with pytest.raises(Wall.Done):
        asyncio.run(catch_up_before_reads(wall.catch_up, wall.rhythm, lambda: wall.now_s,
                                          wall.sleep))


def test_each_predicted_read_is_preceded_by_one_catch_up_the_lead_before_it():
    reads = [100.0 + 15 * i for i in range(8)]  # 100 ... 205
    wall = Wall(ScrapeRhythm(), reads, sleeps=200)
    run_loop(wall)
    # learned at the third read (130): a catch-up before each read from 145 on, and before
    # 220, the one the last read predicts
    assert wall.caught_up == pytest.approx([at - LEAD_S for at in [*reads[3:], 220.0]])


def test_the_lead_grows_by_the_longest_recent_catch_up():
    reads = [100.0 + 15 * i for i in range(7)]
    wall = Wall(ScrapeRhythm(), reads, sleeps=200, catch_up_s=0.09)
    run_loop(wall)
    # the first before anything took time, then LEAD_S + 0.09 s before each read
    predicted = [*reads[3:], 205.0]
    assert wall.caught_up == pytest.approx(
        [145.0 - LEAD_S] + [at - LEAD_S - 0.09 for at in predicted[1:]])
    assert all(at + 0.09 < read for at, read in zip(wall.caught_up, predicted, strict=True))


def test_a_worker_read_irregularly_never_catches_up():
    wall = Wall(ScrapeRhythm(), [100.0, 103.0, 115.0, 116.0, 140.0, 141.0], sleeps=80)
    run_loop(wall)
    assert wall.caught_up == []
    assert wall.now_s >= 140.0 + 20 * POLL_S  # it went on looking


def test_a_read_that_does_not_come_gets_one_catch_up_and_no_more():
    wall = Wall(ScrapeRhythm(), [100.0, 115.0, 130.0], sleeps=60)  # the scraper then stops
    run_loop(wall)
    assert wall.caught_up == pytest.approx([145.0 - LEAD_S])


def test_two_replicas_close_together_each_get_their_catch_up():
    rhythm = ScrapeRhythm()
    reads = sorted([(PROMETHEUS, 100.0 + 5 * i) for i in range(6)]
                   + [(REPLICA, 100.5 + 5 * i) for i in range(6)], key=lambda r: r[1])
    wall = Wall(rhythm, [at for _, at in reads], sleeps=400, clients=[c for c, _ in reads])
    run_loop(wall)
    # from each one's third read on: 115 and 115.5, 120 and 120.5, ...
    due = sorted([100.0 + 5 * i for i in range(3, 7)] + [100.5 + 5 * i for i in range(3, 7)])
    assert wall.caught_up == pytest.approx([at - LEAD_S for at in due])


def test_one_slow_catch_up_does_not_push_the_next_ones_away_from_their_reads():
    reads = [100.0 + 5 * i for i in range(9)]
    wall = Wall(ScrapeRhythm(), reads, sleeps=400, catch_up_s=3.8)  # after a rebalance, say
    durations = iter([3.8] + [0.05] * 20)
    wall.catch_up_s = 0.0

    def catch_up() -> None:
        wall.caught_up.append(wall.now_s)
        wall._advance(next(durations))

    wall.catch_up = catch_up  # type: ignore[method-assign]
    run_loop(wall)
    # the lead adds at most LEAD_EXTRA_MAX_S of a catch-up's time: each still runs in the
    # last 1.25 s before its read, not just after the one before
    predicted = [*reads[3:], 145.0]
    assert len(wall.caught_up) == len(predicted)
    assert all(read - LEAD_S - LEAD_EXTRA_MAX_S - 1e-6 <= at < read
               for at, read in zip(wall.caught_up, predicted, strict=True))


def test_a_failing_catch_up_is_logged_once_and_the_loop_goes_on(caplog):
    wall = Wall(ScrapeRhythm(), [100.0 + 15 * i for i in range(6)], sleeps=200)
    calls: list[float] = []

    def catch_up() -> None:
        calls.append(wall.now_s)
        raise ValueError("a broken family")

    wall.catch_up = catch_up  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="ccpulse.worker"):
        run_loop(wall)
    assert len(calls) == 4  # before 145, 160, 175 and 190
    failures = [r for r in caplog.records if "before a scrape failed" in r.getMessage()]
    assert len(failures) == 1 and "the scrape computes them" in failures[0].getMessage()


def test_a_failure_after_a_success_is_logged_again(caplog):
    wall = Wall(ScrapeRhythm(), [100.0 + 15 * i for i in range(6)], sleeps=200)
    outcomes = iter([ValueError("first"), None, ValueError("again"), ValueError("again")])

    def catch_up() -> None:
        failure = next(outcomes)
        if failure is not None:
            raise failure

    wall.catch_up = catch_up  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="ccpulse.worker"):
        run_loop(wall)
    failures = [r for r in caplog.records if "before a scrape failed" in r.getMessage()]
    assert len(failures) == 2  # the first, and the first after the success


# ------------------------------------------------------------------ the worker's state


def catch_up(run: Run) -> None:
    """What the worker's catch-up does: the families computed and rendered, nothing sent."""
    families = run.state.families(run.state.engines)
    exporter.render_parts(lambda: families)


def test_a_scrape_after_a_catch_up_shows_what_a_fresh_computation_does():
    run = Run()
    run.feed(n=3_000)
    check(run)  # a scrape
    for between, after in ((400, 10), (1_000, 1), (50, 0), (3, 30)):
        run.feed(n=between)
        catch_up(run)
        if after:
            run.feed(n=after)
        run.clock.now_us += 150_000  # the read comes a little after
        families = run.state.families(run.state.engines)
        text = exporter.render(families.copy)
        new = fresh(run.state)
        assert snapshot(families) == snapshot(new)
        assert text == fresh_text(new)


# ------------------------------------------------------------------ the worker's wiring


def test_the_worker_learns_its_scrapers_and_catches_up_only_after_new_messages(
        tmp_path, monkeypatch):
    from streams.core.config import parse_config
    from streams.worker import app as worker_app

    seen: dict[str, object] = {}

    async def loop(catch_up, rhythm):
        seen.update(catch_up=catch_up, rhythm=rhythm)

    monkeypatch.setattr(worker_app, "catch_up_before_reads", loop)
    rendered: list[int] = []
    render_parts = worker_app.render_parts

    def counted(source):
        rendered.append(len(source()))
        return render_parts(source)

    monkeypatch.setattr(worker_app, "render_parts", counted)
    pipeline = worker_app.build_pipeline(parse_config({"worker": {"data_dir": str(tmp_path)}}))
    tasks = [t for t in pipeline.app._app_tasks if t.__name__ == "catch_up"]
    assert len(tasks) == 1
    asyncio.run(tasks[0]())
    assert seen["rhythm"] is pipeline.scrape_rhythm
    for at_s in (100.0, 115.0, 130.0):
        pipeline.note_scrape(PROMETHEUS, at_s)
    assert pipeline.scrape_rhythm.next_read_s(130.5) == 145.0

    pipeline.snapshot()  # a read
    rendered.clear()
    seen["catch_up"]()  # nothing handled since: nothing to do
    assert rendered == []
    pipeline.state.last_offsets[("cc.calls", 0)] = 41  # a message handled
    pipeline.families()  # the wallboard or the staffing page: computed, not rendered
    read_at = pipeline.families_read_s
    seen["catch_up"]()
    assert len(rendered) == 1
    seen["catch_up"]()  # again with nothing new: nothing
    assert len(rendered) == 1 and pipeline.families_read_s == read_at  # not a read
    pipeline.state.last_offsets[("cc.calls", 0)] = 42
    pipeline.snapshot()  # a read renders: the catch-up after it has nothing to do
    seen["catch_up"]()
    assert len(rendered) == 2


@pytest.mark.parametrize(("value", "off"), [("1", True), ("yes", True), ("0", False),
                                             ("", False), (None, False)])
def test_the_catch_up_is_turned_off_by_its_environment_variable(value, off):
    environ = {} if value is None else {NO_CATCH_UP_ENV: value}
    assert catch_up_off(environ) is off


def test_a_worker_with_the_catch_up_off_neither_learns_nor_catches_up(tmp_path, monkeypatch):
    from streams.core.config import parse_config
    from streams.worker import app as worker_app

    monkeypatch.setenv(NO_CATCH_UP_ENV, "1")
    pipeline = worker_app.build_pipeline(parse_config({"worker": {"data_dir": str(tmp_path)}}))
    assert [t for t in pipeline.app._app_tasks if t.__name__ == "catch_up"] == []
    assert pipeline.scrape_rhythm is None
    for at_s in (100.0, 115.0, 130.0):
        pipeline.note_scrape(PROMETHEUS, at_s)  # no error, nothing learned
