"""The demo's one status line: sums over every queue, and an events count that does not drop
when the demo starts a dead worker again."""

from __future__ import annotations

from streams.demo import floor_numbers, summary

EXPOSITION = b"""\
# TYPE cc_events counter
cc_events_total{topic="cc.calls",type="call.offered"} 1200
cc_events_total{topic="cc.chats",type="chat.offered"} 66
# TYPE cc_queue_contacts_waiting gauge
cc_queue_contacts_waiting{queue="billing",channel="voice"} 3
cc_queue_contacts_waiting{queue="sales",channel="voice"} 0
# TYPE cc_window_contacts_offered gauge
cc_window_contacts_offered{queue="billing",channel="voice",window="today"} 100
cc_window_contacts_offered{queue="sales",channel="voice",window="today"} 51
cc_window_contacts_offered{queue="sales",channel="voice",window="15m"} 9
# TYPE cc_window_contacts_service_level_met gauge
cc_window_contacts_service_level_met{queue="billing",channel="voice",window="today"} 70
cc_window_contacts_service_level_met{queue="sales",channel="voice",window="today"} 50
# TYPE cc_window_contacts_service_level_counted gauge
cc_window_contacts_service_level_counted{queue="billing",channel="voice",window="today"} 95
cc_window_contacts_service_level_counted{queue="sales",channel="voice",window="today"} 48
"""


def test_the_status_line_sums_every_queue_of_today() -> None:
    assert floor_numbers(EXPOSITION) == {"waiting": 3.0, "offered": 151.0, "met": 120.0,
                                         "counted": 143.0, "events": 1266.0}
    assert summary(EXPOSITION) == ("events processed 1,266 · waiting now 3 · offered today 151 "
                                   "· service level today 84%")


def test_events_of_earlier_worker_processes_are_added_after_a_restart() -> None:
    assert summary(EXPOSITION, events_before=50_000).startswith("events processed 51,266 ·")


def test_no_counted_contact_today_is_not_a_service_level() -> None:
    assert summary(b"").endswith("service level today n/a")
