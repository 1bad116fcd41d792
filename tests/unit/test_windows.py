"""Local-time windows (contract §2): intervals, business days, DST, odd offsets, day starts."""

from __future__ import annotations

import pytest
from kpi_helpers import Centre, call, us

from streams.core.calendar import QueueCalendar


def iso_us(text: str) -> int:
    return us(text)


@pytest.mark.parametrize(
    ("zone", "instant", "hours"),
    [
        ("Europe/Lisbon", "2026-03-29T12:00:00Z", 23),
        ("Europe/Lisbon", "2026-10-25T12:00:00Z", 25),
        ("America/New_York", "2026-03-08T12:00:00Z", 23),
        ("America/New_York", "2026-11-01T12:00:00Z", 25),
        ("Europe/Lisbon", "2026-11-22T12:00:00Z", 24),
    ],
    ids=["lisbon-spring", "lisbon-autumn", "ny-spring", "ny-autumn", "ordinary"],
)
def test_business_day_lasts_23_or_25_hours_on_dst_days(zone: str, instant: str, hours: int):
    start, end = QueueCalendar(zone, 15, 0).day_bounds(iso_us(instant))
    assert (end - start) / 3_600_000_000 == hours


def test_interval_in_a_half_hour_offset_zone_with_60_minute_intervals():
    cal = QueueCalendar("Asia/Kolkata", 60, 0)  # +05:30
    # 10:40 local = 05:10 UTC; the local hour 10:00–11:00 is 04:30–05:30 UTC.
    assert cal.interval_start(iso_us("2026-11-22T05:10:00Z")) == iso_us("2026-11-22T04:30:00Z")
    _current, previous, day = cal.windows(iso_us("2026-11-22T05:10:00Z"))
    assert previous == iso_us("2026-11-22T03:30:00Z")
    assert day == iso_us("2026-11-21T18:30:00Z")  # local midnight


def test_day_start_other_than_midnight():
    cal = QueueCalendar("UTC", 30, 7 * 60 + 30)
    # 07:10 is before the 07:30 day start: still yesterday's business day.
    assert cal.day_start(iso_us("2026-11-22T07:10:00Z")) == iso_us("2026-11-21T07:30:00Z")
    assert cal.day_start(iso_us("2026-11-22T07:30:00Z")) == iso_us("2026-11-22T07:30:00Z")


def test_intervals_repeat_local_labels_across_the_autumn_dst_change():
    cal = QueueCalendar("Europe/Lisbon", 15, 0)
    # 01:00–02:00 local happens twice on 2026-10-25 (00:00 and 01:00 UTC); both are distinct
    # 15-minute intervals in UTC.
    first = cal.interval_start(iso_us("2026-10-25T00:20:00Z"))
    second = cal.interval_start(iso_us("2026-10-25T01:20:00Z"))
    assert first == iso_us("2026-10-25T00:15:00Z")
    assert second == iso_us("2026-10-25T01:15:00Z")


def test_day_start_inside_the_spring_forward_gap_is_the_jump():
    cal = QueueCalendar("Europe/Berlin", 15, 2 * 60 + 30)  # 02:30 does not exist on 29 March
    assert cal.day_start(iso_us("2026-03-29T12:00:00Z")) == iso_us("2026-03-29T01:00:00Z")


def test_today_window_on_a_25_hour_day_counts_from_local_midnight():
    c = Centre(queues={"lx": {"timezone": "Europe/Lisbon"}})
    # Local midnight of 25 Oct is 23:00 UTC on the 24th (summer time, +01:00).
    call(c, "early", "lx", "2026-10-24T23:05:00Z", "answered", "2026-10-24T23:05:10Z")
    call(c, "before", "lx", "2026-10-24T22:55:00Z", "answered", "2026-10-24T22:55:10Z")
    call(c, "late", "lx", "2026-10-25T23:30:00Z", "answered", "2026-10-25T23:30:10Z")
    now = "2026-10-25T23:40:00Z"  # still 25 Oct locally (23:40 +00:00)
    c.feed()
    assert c.value(now, "cc_window_contacts_answered", queue="lx", channel="voice",
                   window="today") == 2


def test_windows_follow_each_queue_timezone_and_interval():
    c = Centre(queues={"in": {"timezone": "Asia/Kolkata", "interval_minutes": 60}})
    call(c, "x", "in", "2026-11-22T04:35:00Z", "answered", "2026-11-22T04:35:05Z")
    call(c, "y", "in", "2026-11-22T04:25:00Z", "answered", "2026-11-22T04:25:05Z")
    now = "2026-11-22T05:10:00Z"
    c.feed()
    v = lambda w: c.value(now, "cc_window_contacts_answered", queue="in", channel="voice",  # noqa: E731
                          window=w)
    assert v("interval") == 1  # 04:30–05:30 UTC
    assert v("previous_interval") == 1  # 03:30–04:30 UTC
    assert v("today") == 2
