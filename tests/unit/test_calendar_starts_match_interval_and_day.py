"""``QueueCalendar.starts`` (one offset lookup for both windows, what the ledger books with)
equals ``(interval_start, day_start)`` at every instant, across DST changes and odd zones."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.calendar import QueueCalendar

ZONES = ("UTC", "Europe/Rome", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu",
         "America/St_Johns")
#: 2025-01-01 to 2027-12-31 in epoch microseconds: two DST changes a year in most zones.
INSTANTS = st.integers(1_735_689_600_000_000, 1_830_297_600_000_000)


class TestStarts:
    @settings(max_examples=600, deadline=None)
    @given(zone=st.sampled_from(ZONES), interval_minutes=st.sampled_from((5, 15, 30, 60)),
           day_start_minutes=st.sampled_from((0, 150, 360)), instants=st.lists(INSTANTS,
                                                                                 max_size=20))
    def test_starts_equals_interval_start_and_day_start(self, zone, interval_minutes,
                                                        day_start_minutes, instants):
        fast = QueueCalendar(zone, interval_minutes, day_start_minutes)
        slow = QueueCalendar(zone, interval_minutes, day_start_minutes)
        for instant in instants:
            assert fast.starts(instant) == (slow.interval_start(instant),
                                            slow.day_start(instant))
