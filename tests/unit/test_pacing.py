"""Pacing a timed event stream against a (fake) clock."""

from __future__ import annotations

import asyncio

import pytest

from streams.simulate.pacing import paced

START_MS = 1_795_305_600_000


class FakeTime:
    """A monotonic clock that only moves when someone sleeps (plus an optional overshoot)."""

    def __init__(self, overshoot_s: float = 0.0) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._overshoot_s = overshoot_s

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds + self._overshoot_s


def release_times(offsets_ms: list[int], *, speed: float, fake: FakeTime,
                  start_ms: int = START_MS, wall_epoch_ms: int | None = None) -> list[float]:
    """Wall seconds (from the start) at which each event leaves ``paced``."""
    events = [(start_ms + offset, {"n": i}) for i, offset in enumerate(offsets_ms)]
    begin = fake.now

    async def collect() -> list[float]:
        return [fake.now - begin async for _ in paced(
            events, speed=speed, start_ms=start_ms, wall_epoch_ms=wall_epoch_ms,
            clock=fake.clock, sleep=fake.sleep)]

    return asyncio.run(collect())


class TestPaced:
    @pytest.mark.parametrize(
        ("speed", "expected"),
        [(1.0, [0.0, 1.0, 3.0, 60.0]), (10.0, [0.0, 0.1, 0.3, 6.0]),
         (60.0, [0.0, 1 / 60, 0.05, 1.0])],
        ids=["real-time", "10x", "60x"],
    )
    def test_releases_each_event_at_its_scaled_time(self, speed, expected):
        times = release_times([0, 1000, 3000, 60_000], speed=speed, fake=FakeTime())
        assert times == pytest.approx(expected)

    def test_never_releases_an_event_before_its_own_time_on_the_wall_clock(self):
        # Starts 10 s in the past at 10x: catches up with the present after 10/9 s, then the
        # feed is live (real time).
        times = release_times([0, 5000, 20_000], speed=10.0, fake=FakeTime(),
                              wall_epoch_ms=START_MS + 10_000)
        assert times == pytest.approx([0.0, 0.5, 10.0])

    def test_events_closer_than_a_few_milliseconds_go_out_together_without_sleeping(self):
        fake = FakeTime()
        release_times([0, 1, 2, 3], speed=1.0, fake=fake)
        assert fake.sleeps == []

    def test_oversleeping_does_not_accumulate_into_drift(self):
        fake = FakeTime(overshoot_s=0.004)
        times = release_times(list(range(0, 100_000, 1000)), speed=1.0, fake=fake)
        assert times[-1] == pytest.approx(99.0, abs=0.01)

    @pytest.mark.parametrize("speed", [0.0, -1.0], ids=["zero", "negative"])
    def test_refuses_a_speed_that_is_not_positive(self, speed):
        with pytest.raises(ValueError, match="speed must be > 0"):
            release_times([0], speed=speed, fake=FakeTime())
