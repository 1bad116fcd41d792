"""Contact KPIs of docs/contract.md §3.1–3.3, with hand-computed values."""

from __future__ import annotations

import random

import pytest
from kpi_helpers import Centre, call

NOW = "2026-11-22T09:14:00Z"  # interval 09:00–09:15 UTC


def test_answered_within_and_beyond_threshold_give_service_level_and_asa(centre: Centre):
    call(centre, "c1", "sales", "2026-11-22T09:00:00Z", "answered", "2026-11-22T09:00:10Z")
    call(centre, "c2", "sales", "2026-11-22T09:01:00Z", "answered", "2026-11-22T09:01:20Z")
    call(centre, "c3", "sales", "2026-11-22T09:02:00Z", "answered", "2026-11-22T09:02:30Z")
    centre.feed()
    v = lambda n, **kw: centre.value(NOW, n, queue="sales", channel="voice", **kw)  # noqa: E731
    assert v("cc_contacts_answered_total") == 3
    # 20 s exactly is within the threshold (A≤T).
    assert v("cc_contacts_answered_within_threshold_total") == 2
    assert v("cc_service_level_ratio", window="interval") == pytest.approx(2 / 3)
    assert v("cc_average_speed_of_answer_seconds", window="interval") == pytest.approx(20.0)
    assert v("cc_service_level_target_ratio", window="today") == 0.8


def _abandons_centre(mode: str) -> Centre:
    c = Centre(defaults={"service_level": {"abandons": mode}})
    call(c, "a1", "q", "2026-11-22T09:00:00Z", "answered", "2026-11-22T09:00:10Z")  # A≤T
    call(c, "a2", "q", "2026-11-22T09:00:00Z", "answered", "2026-11-22T09:01:00Z")  # A>T
    call(c, "b1", "q", "2026-11-22T09:00:00Z", "abandoned", "2026-11-22T09:00:15Z")  # B≤T
    call(c, "b2", "q", "2026-11-22T09:00:00Z", "abandoned", "2026-11-22T09:02:00Z")  # B>T
    call(c, "s1", "q", "2026-11-22T09:00:00Z", "abandoned", "2026-11-22T09:00:03Z")  # short
    call(c, "f1", "q", "2026-11-22T09:00:00Z", "flowed_out", "2026-11-22T09:05:00Z")
    c.feed()
    return c


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("negative", 1 / 4),  # A≤T / (A + B)          = 1 / (2 + 2)
        ("ignored", 1 / 2),  # A≤T / A                 = 1 / 2
        ("positive", 2 / 4),  # (A≤T + B≤T) / (A + B)  = (1 + 1) / 4
    ],
    ids=["negative", "ignored", "positive"],
)
def test_abandons_mode_decides_service_level(mode: str, expected: float):
    c = _abandons_centre(mode)
    assert c.value(NOW, "cc_service_level_ratio", queue="q", channel="voice",
                   window="interval") == pytest.approx(expected)


def test_short_abandons_are_counted_apart_and_left_out_of_ratios():
    c = _abandons_centre("negative")
    v = lambda n, **kw: c.value(NOW, n, queue="q", channel="voice", **kw)  # noqa: E731
    assert v("cc_contacts_abandoned_total") == 2
    assert v("cc_contacts_short_abandoned_total") == 1
    assert v("cc_window_contacts_abandoned", window="interval") == 2
    # abandon ratio = B / (A + B + flowed out) = 2 / (2 + 2 + 1)
    assert v("cc_abandon_ratio", window="interval") == pytest.approx(2 / 5)


def test_flow_outs_count_against_service_level_only_when_negative():
    c = Centre(defaults={"service_level": {"flow_outs": "negative"}})
    call(c, "a1", "q", "2026-11-22T09:00:00Z", "answered", "2026-11-22T09:00:10Z")
    call(c, "f1", "q", "2026-11-22T09:00:00Z", "flowed_out", "2026-11-22T09:05:00Z",
         reason="overflow", to_queue="q2")
    c.feed()
    assert c.value(NOW, "cc_service_level_ratio", queue="q", channel="voice",
                   window="interval") == pytest.approx(1 / 2)
    assert c.value(NOW, "cc_contacts_flowed_out_total", queue="q", channel="voice",
                   reason="overflow") == 1
    ignored = Centre()
    call(ignored, "a1", "q", "2026-11-22T09:00:00Z", "answered", "2026-11-22T09:00:10Z")
    call(ignored, "f1", "q", "2026-11-22T09:00:00Z", "flowed_out", "2026-11-22T09:05:00Z")
    ignored.feed()
    assert ignored.value(NOW, "cc_service_level_ratio", queue="q", channel="voice",
                         window="interval") == 1.0


def test_per_queue_and_per_channel_policy_overrides_apply():
    c = Centre(queues={"support": {"service_level": {"threshold_seconds": 30,
                                                     "chat": {"threshold_seconds": 60}}}})
    call(c, "v1", "support", "2026-11-22T09:00:00Z", "answered", "2026-11-22T09:00:25Z")
    c.event("chat.queued", "2026-11-22T09:00:00Z", chat_id="h1", queue="support")
    c.event("chat.answered", "2026-11-22T09:00:50Z", chat_id="h1", queue="support",
            agent_id="a1")
    call(c, "v2", "other", "2026-11-22T09:00:00Z", "answered", "2026-11-22T09:00:25Z")
    c.feed()
    sl = lambda q, ch: c.value(NOW, "cc_service_level_ratio", queue=q, channel=ch,  # noqa: E731
                               window="interval")
    assert sl("support", "voice") == 1.0  # 25 s ≤ 30 s
    assert sl("support", "chat") == 1.0  # 50 s ≤ 60 s
    assert sl("other", "voice") == 0.0  # 25 s > 20 s default


def test_queue_transfer_makes_a_second_segment_in_the_new_queue(centre: Centre):
    centre.event("call.queued", "2026-11-22T09:00:00Z", call_id="c1", queue="sales")
    centre.event("call.answered", "2026-11-22T09:00:05Z", call_id="c1", queue="sales",
                 agent_id="a1")
    centre.event("call.transferred", "2026-11-22T09:02:00Z", call_id="c1", agent_id="a1",
                 to_queue="billing")
    centre.event("call.queued", "2026-11-22T09:02:01Z", call_id="c1", queue="billing")
    centre.event("call.answered", "2026-11-22T09:02:31Z", call_id="c1", queue="billing",
                 agent_id="a2")
    centre.event("call.ended", "2026-11-22T09:05:00Z", call_id="c1", agent_id="a2")
    centre.event("call.wrapup_ended", "2026-11-22T09:06:00Z", call_id="c1", agent_id="a2",
                 resolved=True)
    centre.feed()
    v = centre.value
    assert v(NOW, "cc_contacts_offered_total", queue="sales", channel="voice") == 1
    assert v(NOW, "cc_contacts_offered_total", queue="billing", channel="voice") == 1
    # Handled once, in the queue of the last answered segment; handle time from first answer
    # to the end of wrap-up (355 s) less the 30 s the caller waited again in billing.
    assert v(NOW, "cc_contacts_handled_total", queue="billing", channel="voice") == 1
    assert v(NOW, "cc_contacts_handled_total", queue="sales", channel="voice") is None
    assert v(NOW, "cc_average_handle_time_seconds", queue="billing", channel="voice",
             window="interval") == pytest.approx(325.0)
    # Resolved, but transferred: not a first-contact resolution.
    assert v(NOW, "cc_first_contact_resolution_ratio", queue="billing", channel="voice",
             window="interval") == 0.0
    assert v(NOW, "cc_contacts_resolved_first_contact_total", queue="billing",
             channel="voice") == 0


def test_handle_time_is_talk_hold_and_after_contact_work(centre: Centre):
    call(centre, "c1", "q", "2026-11-22T09:00:00Z", "answered", "2026-11-22T09:00:10Z")
    centre.event("call.hold_started", "2026-11-22T09:01:00Z", call_id="c1", agent_id="a1")
    centre.event("call.hold_ended", "2026-11-22T09:01:30Z", call_id="c1", agent_id="a1")
    centre.event("call.ended", "2026-11-22T09:03:10Z", call_id="c1", agent_id="a1")
    centre.event("call.wrapup_ended", "2026-11-22T09:04:10Z", call_id="c1", agent_id="a1",
                 resolved=True)
    centre.feed()
    # talk + hold = 09:03:10 − 09:00:10 = 180 s; ACW = 60 s.
    assert centre.value(NOW, "cc_average_handle_time_seconds", queue="q", channel="voice",
                        window="interval") == pytest.approx(240.0)
    assert centre.value(NOW, "cc_first_contact_resolution_ratio", queue="q", channel="voice",
                        window="interval") == 1.0
    assert centre.value(NOW, "cc_contacts_resolved_first_contact_total", queue="q",
                        channel="voice") == 1


def test_blocked_call_takes_queue_of_its_contact_else_unknown(centre: Centre):
    call(centre, "c1", "sales", "2026-11-22T09:00:00Z")
    centre.event("call.blocked", "2026-11-22T09:00:01Z", call_id="c1", reason="no_agents")
    centre.event("call.blocked", "2026-11-22T09:01:00Z", call_id="c9", reason="network")
    centre.event("call.blocked", "2026-11-22T09:02:00Z", call_id="c8", reason="closed",
                 queue="billing")
    centre.feed()
    v = centre.value
    assert v(NOW, "cc_calls_blocked_total", queue="sales", reason="no_agents") == 1
    assert v(NOW, "cc_calls_blocked_total", queue="unknown", reason="network") == 1
    assert v(NOW, "cc_calls_blocked_total", queue="billing", reason="closed") == 1
    # blocking ratio = blocked / (blocked + offered voice) = 1 / (1 + 1)
    assert v(NOW, "cc_blocking_ratio", queue="sales", window="interval") == pytest.approx(0.5)
    # requests by channel: 1 offered + 3 blocked
    assert v(NOW, "cc_window_requests", channel="voice", window="interval") == 4


def test_waiting_now_and_oldest_wait_exclude_stale_contacts():
    c = Centre(defaults={"stale_after_seconds": 3600})
    call(c, "w1", "q", "2026-11-22T09:10:00Z")
    call(c, "w2", "q", "2026-11-22T09:12:30Z")
    call(c, "old", "q", "2026-11-22T07:00:00Z")
    call(c, "done", "q", "2026-11-22T09:00:00Z", "answered", "2026-11-22T09:00:05Z")
    c.feed()
    v = lambda n: c.value(NOW, n, queue="q", channel="voice")  # noqa: E731
    assert v("cc_queue_contacts_waiting") == 2
    assert v("cc_queue_oldest_wait_seconds") == 240.0
    assert v("cc_contacts_stale_total") == 1


def test_no_waiting_contacts_gives_zero_oldest_wait(centre: Centre):
    call(centre, "c1", "q", "2026-11-22T09:00:00Z", "answered", "2026-11-22T09:00:05Z")
    centre.feed()
    assert centre.value(NOW, "cc_queue_contacts_waiting", queue="q", channel="voice") == 0
    assert centre.value(NOW, "cc_queue_oldest_wait_seconds", queue="q", channel="voice") == 0


def test_ratio_with_zero_denominator_is_not_exported(centre: Centre):
    call(centre, "c1", "q", "2026-11-22T09:00:00Z")
    centre.feed()
    assert centre.value(NOW, "cc_service_level_ratio", queue="q", channel="voice",
                        window="interval") is None
    assert centre.value(NOW, "cc_window_contacts_offered", queue="q", channel="voice",
                        window="interval") == 1


def test_wait_is_booked_once_both_events_are_known_in_any_order(centre: Centre):
    answered = centre.event("call.answered", "2026-11-22T09:00:12Z", call_id="c1", queue="q",
                            agent_id="a1")
    centre.feed([answered])
    assert centre.value(NOW, "cc_contacts_answered_total", queue="q", channel="voice") is None
    queued = centre.event("call.queued", "2026-11-22T09:00:00Z", call_id="c1", queue="q")
    centre.feed([queued])
    assert centre.value(NOW, "cc_contacts_answered_total", queue="q", channel="voice") == 1
    assert centre.value(NOW, "cc_average_speed_of_answer_seconds", queue="q", channel="voice",
                        window="interval") == 12.0
    assert centre.value(NOW, "cc_queue_contacts_waiting", queue="q", channel="voice") == 0


def test_duplicates_are_dropped_and_reported(centre: Centre):
    call(centre, "c1", "q", "2026-11-22T09:00:00Z", "answered", "2026-11-22T09:00:05Z")
    first = centre.feed()
    again = centre.feed()
    assert [o.value for o in first] == ["applied", "applied"]
    assert [o.value for o in again] == ["duplicate", "duplicate"]
    assert centre.value(NOW, "cc_contacts_offered_total", queue="q", channel="voice") == 1


def test_outcome_is_booked_in_the_window_of_its_own_time(centre: Centre):
    # Queued in the previous interval, answered in this one.
    call(centre, "c1", "q", "2026-11-22T08:59:50Z", "answered", "2026-11-22T09:00:05Z")
    centre.feed()
    v = lambda n, w: centre.value(NOW, n, queue="q", channel="voice", window=w)  # noqa: E731
    assert v("cc_window_contacts_offered", "previous_interval") == 1
    assert v("cc_window_contacts_offered", "interval") == 0
    assert v("cc_window_contacts_answered", "interval") == 1
    assert v("cc_window_contacts_answered", "today") == 1


def test_chat_response_time_measures_from_oldest_unanswered_customer_message(centre: Centre):
    c = centre
    c.event("chat.queued", "2026-11-22T09:00:00Z", chat_id="h1", queue="web")
    c.event("chat.answered", "2026-11-22T09:00:30Z", chat_id="h1", queue="web", agent_id="a1")
    for at, sender in [("09:00:00", "customer"), ("09:00:10", "customer"), ("09:00:20", "bot"),
                       ("09:00:40", "agent"), ("09:01:00", "customer"), ("09:01:30", "agent"),
                       ("09:01:40", "agent")]:
        c.event("chat.message", f"2026-11-22T{at}Z", chat_id="h1", sender=sender)
    c.feed()
    # responses: 40 s (from 09:00:00) and 30 s; the second agent message answers nothing.
    assert c.value(NOW, "cc_chat_response_average_seconds", queue="web",
                   window="interval") == pytest.approx(35.0)
    # The same responses since the start, for any period (the monthly report).
    assert c.value(NOW, "cc_chat_responses_total", queue="web", channel="chat") == 2
    assert c.value(NOW, "cc_chat_response_seconds_total", queue="web",
                   channel="chat") == pytest.approx(70.0)


def test_result_does_not_depend_on_arrival_order():
    def build() -> Centre:
        c = Centre()
        for i in range(30):
            q = ("sales", "support")[i % 2]
            start = f"2026-11-22T09:{i:02d}:00Z"
            outcome = ("answered", "abandoned", "flowed_out", None)[i % 4]
            call(c, f"c{i}", q, start, outcome, f"2026-11-22T09:{i:02d}:{(i * 7) % 60:02d}Z")
        return c

    ordered = build()
    ordered.feed()
    shuffled = build()
    events = list(shuffled.events)
    random.Random(7).shuffle(events)
    shuffled.feed(events)
    now = "2026-11-22T09:40:00Z"
    assert ordered.values(now) == shuffled.values(now)


def test_queues_beyond_max_queues_are_reported_as_other():
    c = Centre(limits={"max_queues": 2}, queues={"vip": {}})
    for i, q in enumerate(["q1", "q2", "q3", "q4", "vip"]):
        call(c, f"c{i}", q, f"2026-11-22T09:0{i}:00Z", "answered", f"2026-11-22T09:0{i}:05Z")
    c.feed()
    offered = {dict(lbl)["queue"]: v for (n, lbl), v in c.values(NOW).items()
               if n == "cc_contacts_offered_total"}
    # configured queues always keep their label; then the first two seen; the rest sum up
    assert offered == {"vip": 1, "q1": 1, "q2": 1, "other": 2}


def test_stale_counter_never_goes_down_when_a_late_outcome_arrives():
    c = Centre(defaults={"stale_after_seconds": 3600})
    call(c, "w1", "q", "2026-11-22T07:00:00Z")
    c.feed()
    assert c.value(NOW, "cc_contacts_stale_total", queue="q", channel="voice") == 1
    late = c.event("call.abandoned", "2026-11-22T09:13:00Z", call_id="w1", queue="q")
    c.feed([late])
    assert c.value(NOW, "cc_contacts_stale_total", queue="q", channel="voice") == 1
    assert c.value(NOW, "cc_queue_contacts_waiting", queue="q", channel="voice") == 0
