"""Business time (contract §3.6): opening spans, holidays, DST, deadlines; hand-computed values."""

from __future__ import annotations

from datetime import date, timedelta
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kpi_helpers import us

from streams.core.business_hours import MAX_SEARCH_DAYS, BusinessHours
from streams.core.config import QueueSettings

HOUR_US = 3_600_000_000
MINUTE_US = 60_000_000
WEEKDAYS_9_TO_5 = {day: [(9 * 60, 17 * 60)] for day in range(5)}
LUNCH_BREAK = {0: [(8 * 60, 12 * 60), (13 * 60, 17 * 60 + 30)]}  # mon 08:00-12:00, 13:00-17:30


def hours(timezone: str, weekly, holidays=()) -> BusinessHours:
    return BusinessHours(timezone, weekly, holidays)


class TestBusinessTime:
    @pytest.mark.parametrize(
        ("weekly", "holidays", "start", "end", "expected_us"),
        [
            # Fri 16:00 -> Mon 10:00: 1 h on Friday, nothing on the weekend, 1 h on Monday.
            (WEEKDAYS_9_TO_5, (), "2026-11-20T16:00:00Z", "2026-11-23T10:00:00Z", 2 * HOUR_US),
            # Thu 24 Dec 16:00 -> Mon 28 Dec 10:00 with Christmas (Fri) closed: 1 h + 1 h.
            (WEEKDAYS_9_TO_5, (date(2026, 12, 25),), "2026-12-24T16:00:00Z",
             "2026-12-28T10:00:00Z", 2 * HOUR_US),
            # The same without the holiday: 1 h + 8 h + 1 h.
            (WEEKDAYS_9_TO_5, (), "2026-12-24T16:00:00Z", "2026-12-28T10:00:00Z", 10 * HOUR_US),
            # Mon 11:00 -> 14:00 across the lunch break: 11-12 and 13-14.
            (LUNCH_BREAK, (), "2026-11-23T11:00:00Z", "2026-11-23T14:00:00Z", 2 * HOUR_US),
            # A whole Monday with a lunch break: 4 h + 4 h 30 min.
            (LUNCH_BREAK, (), "2026-11-23T00:00:00Z", "2026-11-24T00:00:00Z",
             8 * HOUR_US + 30 * MINUTE_US),
            # Created Saturday 10:00, first reply Monday 08:30: 30 min of business time.
            (LUNCH_BREAK, (), "2026-11-21T10:00:00Z", "2026-11-23T08:30:00Z", 30 * MINUTE_US),
            # Inside one span, to the microsecond.
            (WEEKDAYS_9_TO_5, (), "2026-11-23T09:00:00.000001Z", "2026-11-23T09:00:20.000401Z",
             20_000_400),
            # The whole of 2026: 261 weekdays (52 weeks and a Thursday) of 8 h.
            (WEEKDAYS_9_TO_5, (), "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z",
             261 * 8 * HOUR_US),
        ],
        ids=["weekend", "holiday", "holiday-not-set", "lunch-break", "lunch-break-whole-day",
             "created-outside-hours", "microseconds", "whole-year"],
    )
    def test_counts_only_time_inside_opening_spans(self, weekly, holidays, start, end,
                                                    expected_us):
        assert hours("UTC", weekly, holidays).business_us(us(start), us(end)) == expected_us

    def test_an_empty_or_reversed_interval_is_zero(self):
        bh = hours("UTC", WEEKDAYS_9_TO_5)
        t = us("2026-11-23T10:00:00Z")
        assert bh.business_us(t, t) == 0
        assert bh.business_us(t, t - HOUR_US) == 0

    def test_spans_follow_the_local_clock_of_the_zone(self):
        # 09:00-17:00 in Lisbon in winter (UTC+0) vs New York (UTC-5).
        monday = ("2026-11-23T00:00:00Z", "2026-11-24T00:00:00Z")
        ny = hours("America/New_York", WEEKDAYS_9_TO_5)
        assert ny.business_us(us(monday[0]), us("2026-11-23T14:00:00Z")) == 0
        assert ny.business_us(us("2026-11-23T14:00:00Z"), us("2026-11-23T15:00:00Z")) == HOUR_US
        assert ny.business_us(us(monday[0]), us(monday[1])) == 8 * HOUR_US

    def test_24_00_joins_a_span_to_the_next_day(self):
        # mon 20:00-24:00, tue 00:00-02:00
        bh = hours("UTC", {0: [(20 * 60, 1440)], 1: [(0, 2 * 60)]})
        start = us("2026-11-23T23:00:00Z")
        assert bh.business_us(start, us("2026-11-24T01:00:00Z")) == 2 * HOUR_US
        assert bh.deadline_us(start, 2 * HOUR_US) == us("2026-11-24T01:00:00Z")


class TestDaylightSaving:
    """Europe/Lisbon: 29 Mar 2026 01:00 WET -> 02:00 WEST; 25 Oct 2026 02:00 WEST -> 01:00 WET."""

    SUNDAY_NIGHT: ClassVar = {6: [(0, 4 * 60)]}  # sun 00:00-04:00

    @pytest.mark.parametrize(
        ("sunday", "expected_hours"),
        [("2026-03-29", 3), ("2026-10-25", 5), ("2026-11-22", 4)],
        ids=["spring-forward", "fall-back", "ordinary"],
    )
    def test_a_span_covering_the_change_lasts_its_real_elapsed_time(self, sunday, expected_hours):
        bh = hours("Europe/Lisbon", self.SUNDAY_NIGHT)
        day = date.fromisoformat(sunday)
        start = us(f"{day - timedelta(days=1)}T12:00:00Z")
        end = us(f"{day + timedelta(days=1)}T12:00:00Z")
        assert bh.business_us(start, end) == expected_hours * HOUR_US

    def test_spring_forward_span_opens_at_local_midnight_and_closes_at_summer_04_00(self):
        bh = hours("Europe/Lisbon", self.SUNDAY_NIGHT)
        assert bh.opening_spans_us(date(2026, 3, 29)) == (
            (us("2026-03-29T00:00:00Z"), us("2026-03-29T03:00:00Z")),
        )

    def test_a_span_starting_in_the_gap_starts_at_the_jump(self):
        bh = hours("Europe/Lisbon", {6: [(60, 4 * 60)]})  # 01:00 does not exist on 29 March
        assert bh.opening_spans_us(date(2026, 3, 29)) == (
            (us("2026-03-29T01:00:00Z"), us("2026-03-29T03:00:00Z")),
        )

    def test_a_span_entirely_inside_the_gap_is_closed(self):
        bh = hours("Europe/Lisbon", {6: [(75, 105)]})  # 01:15-01:45
        assert bh.opening_spans_us(date(2026, 3, 29)) == ()
        assert bh.opening_spans_us(date(2026, 4, 5)) == (
            (us("2026-04-05T00:15:00Z"), us("2026-04-05T00:45:00Z")),
        )

    def test_fall_back_wall_times_are_their_first_occurrence(self):
        # 00:00-01:30 on 25 October: opens 00:00 WEST (Sat 23:00Z), closes at the first
        # 01:30 (00:30Z); the repeated 01:00-01:30 (01:00Z-01:30Z) is closed.
        bh = hours("Europe/Lisbon", {6: [(0, 90)]})
        assert bh.opening_spans_us(date(2026, 10, 25)) == (
            (us("2026-10-24T23:00:00Z"), us("2026-10-25T00:30:00Z")),
        )

    def test_a_new_york_gap_at_02_00(self):
        bh = hours("America/New_York", {6: [(60, 4 * 60)]})  # 8 Mar 2026 02:00 -> 03:00
        start, end = us("2026-03-07T12:00:00Z"), us("2026-03-09T12:00:00Z")
        assert bh.business_us(start, end) == 2 * HOUR_US


class TestDeadline:
    def test_created_outside_hours_starts_counting_at_opening(self):
        bh = hours("UTC", LUNCH_BREAK)
        assert bh.deadline_us(us("2026-11-21T10:00:00Z"), 30 * MINUTE_US) == us(
            "2026-11-23T08:30:00Z")

    def test_skips_the_lunch_break_and_the_holiday(self):
        bh = hours("UTC", LUNCH_BREAK, [date(2026, 11, 30)])
        start = us("2026-11-23T11:00:00Z")
        assert bh.deadline_us(start, 2 * HOUR_US) == us("2026-11-23T14:00:00Z")
        # From 11:00 the Monday holds 1 h + 4 h 30 min; the next Monday is a holiday.
        assert bh.deadline_us(start, 5 * HOUR_US + 30 * MINUTE_US) == us("2026-11-23T17:30:00Z")
        assert bh.deadline_us(start, 6 * HOUR_US) == us("2026-12-07T08:30:00Z")

    def test_using_a_span_up_exactly_ends_at_its_close(self):
        bh = hours("UTC", WEEKDAYS_9_TO_5)
        assert bh.deadline_us(us("2026-11-20T16:00:00Z"), HOUR_US) == us("2026-11-20T17:00:00Z")

    def test_zero_is_the_start_itself_even_when_closed(self):
        bh = hours("UTC", WEEKDAYS_9_TO_5)
        saturday = us("2026-11-21T10:00:00Z")
        assert bh.deadline_us(saturday, 0) == saturday

    def test_negative_business_time_is_rejected(self):
        with pytest.raises(ValueError, match="must be >= 0"):
            hours("UTC", WEEKDAYS_9_TO_5).deadline_us(0, -1)

    def test_gives_up_after_two_years_of_holidays(self):
        mondays = [date(2026, 11, 23) + timedelta(weeks=n) for n in range(160)]
        bh = hours("UTC", {0: [(540, 600)]}, mondays)
        with pytest.raises(ValueError, match=f"within {MAX_SEARCH_DAYS} days"):
            bh.deadline_us(us("2026-11-22T00:00:00Z"), 1)


class TestConstruction:
    def test_a_week_without_opening_spans_is_rejected(self):
        with pytest.raises(ValueError, match="at least one opening span"):
            BusinessHours("UTC", {0: []}, [])

    @pytest.mark.parametrize(
        "weekly",
        [{0: [(600, 540)]}, {0: [(0, 1441)]}, {0: [(540, 720), (700, 800)]}, {7: [(0, 60)]}],
        ids=["reversed", "past-24h", "overlapping", "weekday-7"],
    )
    def test_malformed_spans_are_rejected(self, weekly):
        with pytest.raises(ValueError):
            BusinessHours("UTC", weekly, [])

    def test_equal_definitions_are_equal(self):
        assert hours("UTC", LUNCH_BREAK, [date(2026, 12, 25)]) == hours(
            "UTC", LUNCH_BREAK, [date(2026, 12, 25)])
        assert hours("UTC", LUNCH_BREAK) != hours("Europe/Lisbon", LUNCH_BREAK)


class TestQueueSettings:
    def test_no_business_hours_is_calendar_time(self):
        settings_ = QueueSettings(first_response_target_seconds={"urgent": 3600})
        start = us("2026-11-21T10:00:00Z")  # a Saturday: always open anyway
        assert settings_.business_us(start, start + 5 * HOUR_US) == 5 * HOUR_US
        assert settings_.business_us(start, start - 1) == 0
        assert settings_.first_response_deadline_us(start, "urgent") == start + HOUR_US

    def test_deadline_is_in_business_time_when_hours_are_set(self):
        settings_ = QueueSettings(business_hours=hours("UTC", LUNCH_BREAK),
                                  first_response_target_seconds={"high": 1800})
        assert settings_.first_response_target_us == {"high": 1_800_000_000}
        created = us("2026-11-21T10:00:00Z")
        assert settings_.first_response_deadline_us(created, "high") == us("2026-11-23T08:30:00Z")
        assert settings_.business_us(created, us("2026-11-23T08:30:00Z")) == 30 * MINUTE_US

    def test_a_priority_without_a_target_has_no_deadline(self):
        settings_ = QueueSettings(first_response_target_seconds={"urgent": 3600})
        assert settings_.first_response_deadline_us(0, "low") is None
        assert QueueSettings().first_response_deadline_us(0, "normal") is None


# --------------------------------------------------------------------------- invariants

ZONES = ("UTC", "Europe/Lisbon", "America/New_York", "Asia/Kolkata")
SCHEDULES = (
    LUNCH_BREAK,
    WEEKDAYS_9_TO_5,
    {6: [(0, 4 * 60)], 2: [(60, 150), (150, 1440)]},  # DST nights, touching spans
    {5: [(0, 1440)], 6: [(0, 1440)]},  # weekends round the clock
)
HOLIDAYS = [date(2026, 3, 30), date(2026, 10, 26), date(2026, 12, 25)]
YEAR_2026 = (us("2026-01-01T00:00:00Z"), us("2027-01-01T00:00:00Z"))

instants = st.integers(min_value=YEAR_2026[0], max_value=YEAR_2026[1])
business_amounts = st.integers(min_value=0, max_value=200 * HOUR_US)
schedules = st.builds(
    BusinessHours, st.sampled_from(ZONES), st.sampled_from(SCHEDULES), st.just(HOLIDAYS)
)


def deadline_consumes_exactly(bh: BusinessHours, start: int, amount: int) -> bool:
    return bh.business_us(start, bh.deadline_us(start, amount)) == amount


def deadline_is_earliest(bh: BusinessHours, start: int, amount: int) -> bool:
    deadline = bh.deadline_us(start, amount)
    return deadline >= start and (amount == 0 or bh.business_us(start, deadline - 1) < amount)


def business_time_is_additive(bh: BusinessHours, a: int, b: int, c: int) -> bool:
    a, b, c = sorted((a, b, c))
    return bh.business_us(a, c) == bh.business_us(a, b) + bh.business_us(b, c)


def business_time_never_exceeds_calendar_time(bh: BusinessHours, a: int, b: int) -> bool:
    return 0 <= bh.business_us(a, b) <= max(0, b - a)


@settings(max_examples=300, deadline=None)
@given(bh=schedules, start=instants, amount=business_amounts)
def test_deadline_is_the_inverse_of_business_time(bh, start, amount):
    assert deadline_consumes_exactly(bh, start, amount)
    assert deadline_is_earliest(bh, start, amount)


@settings(max_examples=300, deadline=None)
@given(bh=schedules, a=instants, b=instants, c=instants)
def test_business_time_adds_up_over_consecutive_intervals(bh, a, b, c):
    assert business_time_is_additive(bh, a, b, c)
    assert business_time_never_exceeds_calendar_time(bh, a, c)
