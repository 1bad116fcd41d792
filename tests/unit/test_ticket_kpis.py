"""Ticket KPIs (docs/contract.md §3.1, §3.3, §4), each value computed by hand in the test.

Timeline helpers: tickets in queue ``support`` (channel ``email``), the engine clock ``NOW``
late on the same UTC day so the ``today`` window holds every booking.
"""

from __future__ import annotations

import random

from kpi_helpers import Centre, us

NOW = "2026-11-24T20:00:00Z"
Q = {"queue": "support", "channel": "email"}
W = {"queue": "support", "channel": "email", "window": "today"}


def ticket(c: Centre, tid: str, at: str, **body) -> None:
    c.event("ticket.created", at, ticket_id=tid, queue="support", channel="email",
            **body)


def reply(c: Centre, tid: str, at: str, author: str = "agent", **body) -> None:
    if author == "agent":
        body.setdefault("agent_id", "a1")
    c.event("ticket.replied", at, ticket_id=tid, author=author, **body)


def status(c: Centre, tid: str, at: str, value: str) -> None:
    c.event("ticket.status_changed", at, ticket_id=tid, status=value)


def test_first_response_and_resolution_times_are_booked_at_the_reply_and_the_solve():
    c = Centre()
    ticket(c, "t1", "2026-11-24T08:00:00Z")
    reply(c, "t1", "2026-11-24T08:30:00Z")  # FRT 1800 s
    status(c, "t1", "2026-11-24T10:00:00Z", "solved")  # resolution 7200 s
    ticket(c, "t2", "2026-11-24T09:00:00Z")
    reply(c, "t2", "2026-11-24T09:10:00Z")  # FRT 600 s
    c.feed()
    assert c.value(NOW, "cc_ticket_first_response_average_seconds", **W) == 1200.0
    assert c.value(NOW, "cc_window_ticket_first_responses", **W) == 2
    assert c.value(NOW, "cc_ticket_resolution_average_seconds", **W) == 7200.0
    assert c.value(NOW, "cc_window_tickets_solved", **W) == 1
    assert c.value(NOW, "cc_tickets_solved_total", **Q) == 1
    assert c.value(NOW, "cc_tickets_created_total", **Q, category="unknown") == 2
    # t1 solved, t2 open and not awaiting a reply (the agent answered last)
    assert c.value(NOW, "cc_tickets_open", **Q, priority="normal") == 1
    assert c.value(NOW, "cc_tickets_awaiting_reply", **Q) == 0
    _, counts, total = c.value(NOW, "cc_ticket_first_response_seconds", **Q)
    assert (sum(counts), total) == (2, 2400.0)
    # Resolution ratio: of the 2 tickets created today, 1 solved since.
    assert c.value(NOW, "cc_ticket_resolution_ratio", **W) == 0.5


def test_reopen_after_a_solve_counts_once_and_the_ticket_is_open_again():
    c = Centre()
    ticket(c, "t1", "2026-11-24T08:00:00Z")
    reply(c, "t1", "2026-11-24T08:10:00Z")
    status(c, "t1", "2026-11-24T09:00:00Z", "solved")
    status(c, "t1", "2026-11-24T09:30:00Z", "closed")  # solved -> closed: no new solve
    status(c, "t1", "2026-11-24T11:00:00Z", "open")  # reopen
    c.feed()
    assert c.value(NOW, "cc_tickets_reopened_total", **Q) == 1
    assert c.value(NOW, "cc_window_tickets_reopened", **W) == 1
    assert c.value(NOW, "cc_tickets_solved_total", **Q) == 1
    assert c.value(NOW, "cc_tickets_open", **Q, priority="normal") == 1


def test_a_ticket_solved_twice_has_one_first_solve_and_its_resolution_is_the_first():
    c = Centre()
    ticket(c, "t1", "2026-11-24T08:00:00Z")
    reply(c, "t1", "2026-11-24T08:10:00Z")
    status(c, "t1", "2026-11-24T09:00:00Z", "solved")  # first solve: 3600 s
    status(c, "t1", "2026-11-24T10:00:00Z", "open")
    reply(c, "t1", "2026-11-24T10:30:00Z")
    status(c, "t1", "2026-11-24T12:00:00Z", "solved")
    c.feed()
    assert c.value(NOW, "cc_tickets_solved_total", **Q) == 1
    assert c.value(NOW, "cc_window_tickets_solved", **W) == 1
    assert c.value(NOW, "cc_ticket_resolution_average_seconds", **W) == 3600.0
    assert c.value(NOW, "cc_tickets_reopened_total", **Q) == 1
    assert c.value(NOW, "cc_tickets_open", **Q, priority="normal") == 0
    # Replies per ticket counts the replies before the first solve only.
    assert c.value(NOW, "cc_replies_per_ticket", **W) == 1.0


def test_a_reply_before_created_arrives_gives_the_same_values_in_any_order():
    c = Centre()
    ticket(c, "t1", "2026-11-24T08:00:00Z", priority="high", category="billing")
    reply(c, "t1", "2026-11-24T08:20:00Z")
    reply(c, "t1", "2026-11-24T09:00:00Z", author="customer")
    reply(c, "t1", "2026-11-24T09:05:00Z", agent_id="a2")
    status(c, "t1", "2026-11-24T09:10:00Z", "solved")
    in_order = Centre()
    in_order.feed(c.events)
    expected = in_order.values(NOW)
    for seed in range(5):
        shuffled = list(c.events)
        random.Random(seed).shuffle(shuffled)
        other = Centre()
        other.feed(shuffled)
        assert other.values(NOW) == expected
    # Before `created` arrives the ticket contributes nothing.
    early = Centre()
    early.feed([c.events[1]])
    assert early.value(NOW, "cc_window_ticket_first_responses", **W) is None
    assert expected[("cc_ticket_first_response_average_seconds",
                     (("queue", "support"), ("channel", "email"), ("window", "today")))] == 1200.0


def test_response_time_runs_from_the_oldest_unanswered_customer_message():
    c = Centre()
    ticket(c, "t1", "2026-11-24T08:00:00Z")  # the customer's first message
    reply(c, "t1", "2026-11-24T08:10:00Z")  # response 600 s (first response too)
    reply(c, "t1", "2026-11-24T09:00:00Z", author="customer")
    reply(c, "t1", "2026-11-24T09:20:00Z", author="customer")
    reply(c, "t1", "2026-11-24T10:00:00Z")  # response 3600 s: from the oldest, 09:00
    reply(c, "t1", "2026-11-24T10:05:00Z")  # nothing waiting: no response
    c.feed()
    assert c.value(NOW, "cc_window_ticket_responses", **W) == 2
    assert c.value(NOW, "cc_ticket_response_average_seconds", **W) == 2100.0
    assert c.value(NOW, "cc_ticket_responses_total", **Q) == 2
    assert c.value(NOW, "cc_ticket_response_seconds_total", **Q) == 4200.0


def test_a_bot_reply_counts_for_neither_side():
    c = Centre()
    ticket(c, "t1", "2026-11-24T08:00:00Z")
    reply(c, "t1", "2026-11-24T08:00:05Z", author="bot")  # auto-acknowledgement
    reply(c, "t1", "2026-11-24T08:40:00Z")
    c.feed()
    assert c.value(NOW, "cc_ticket_first_response_average_seconds", **W) == 2400.0
    assert c.value(NOW, "cc_tickets_awaiting_reply", **Q) == 0
    # A bot message does not make the customer wait again either.
    c2 = Centre()
    ticket(c2, "t2", "2026-11-24T08:00:00Z")
    reply(c2, "t2", "2026-11-24T08:40:00Z")
    reply(c2, "t2", "2026-11-24T09:00:00Z", author="bot")
    c2.feed()
    assert c2.value(NOW, "cc_tickets_awaiting_reply", **Q) == 0


def test_a_private_note_is_not_a_response_and_the_customer_still_waits():
    c = Centre()
    ticket(c, "t1", "2026-11-24T08:00:00Z")
    reply(c, "t1", "2026-11-24T08:05:00Z", public=False)  # internal note
    c.feed()
    assert c.value(NOW, "cc_window_ticket_first_responses", **W) == 0
    assert c.value(NOW, "cc_tickets_awaiting_reply", **Q) == 1
    reply(c, "t1", "2026-11-24T09:00:00Z")
    c.feed(c.events[-1:])
    assert c.value(NOW, "cc_ticket_first_response_average_seconds", **W) == 3600.0
    assert c.value(NOW, "cc_tickets_awaiting_reply", **Q) == 0


def test_ticket_fcr_needs_one_public_agent_reply_and_at_most_one_agent():
    c = Centre()
    # t1: one reply, one agent -> FCR
    ticket(c, "t1", "2026-11-24T08:00:00Z")
    c.event("ticket.assigned", "2026-11-24T08:01:00Z", ticket_id="t1", agent_id="a1")
    reply(c, "t1", "2026-11-24T08:10:00Z", agent_id="a1")
    status(c, "t1", "2026-11-24T08:20:00Z", "solved")
    # t2: one public reply but assigned to a1, answered by a2 -> two agents, not FCR
    ticket(c, "t2", "2026-11-24T08:00:00Z")
    c.event("ticket.assigned", "2026-11-24T08:01:00Z", ticket_id="t2", agent_id="a1")
    reply(c, "t2", "2026-11-24T08:10:00Z", agent_id="a2")
    status(c, "t2", "2026-11-24T08:20:00Z", "solved")
    # t3: two public replies by one agent -> not FCR
    ticket(c, "t3", "2026-11-24T08:00:00Z")
    reply(c, "t3", "2026-11-24T08:10:00Z")
    reply(c, "t3", "2026-11-24T08:15:00Z")
    status(c, "t3", "2026-11-24T08:20:00Z", "solved")
    c.feed()
    assert c.value(NOW, "cc_window_tickets_resolved_first_contact", **W) == 1
    assert abs(c.value(NOW, "cc_ticket_first_contact_resolution_ratio", **W) - 1 / 3) < 1e-12
    assert c.value(NOW, "cc_replies_per_ticket", **W) == 4 / 3
    # The same parts since the start, for any period (the monthly report).
    assert c.value(NOW, "cc_tickets_resolved_first_contact_total", **Q) == 1
    assert c.value(NOW, "cc_ticket_replies_before_solve_total", **Q) == 4
    assert c.value(NOW, "cc_tickets_solved_total", **Q) == 3


def test_update_moves_live_gauges_while_windowed_kpis_keep_the_queue_at_booking_time():
    c = Centre()
    ticket(c, "t1", "2026-11-24T08:00:00Z", priority="low", category="billing")
    c.event("ticket.updated", "2026-11-24T08:30:00Z", ticket_id="t1", queue="escalations",
            priority="urgent")
    reply(c, "t1", "2026-11-24T09:00:00Z")
    c.feed()
    # Created in support (booked at creation); first response in escalations (at the reply).
    assert c.value(NOW, "cc_window_tickets_created", **Q, category="billing",
                   window="today") == 1
    assert c.value(NOW, "cc_window_ticket_first_responses", queue="escalations",
                   channel="email", window="today") == 1
    # Live: open in escalations as urgent, nothing left in support.
    assert c.value(NOW, "cc_tickets_open", queue="escalations", channel="email",
                   priority="urgent") == 1
    assert c.value(NOW, "cc_tickets_open", **Q, priority="low") == 0


def test_categories_outside_the_configured_list_become_other():
    c = Centre(limits={"ticket_categories": ["billing"]})
    ticket(c, "t1", "2026-11-24T08:00:00Z", category="billing")
    ticket(c, "t2", "2026-11-24T08:00:00Z", category="warp-drive")
    c.feed()
    assert c.value(NOW, "cc_tickets_created_total", **Q, category="billing") == 1
    assert c.value(NOW, "cc_tickets_created_total", **Q, category="other") == 1
    assert c.value(NOW, "cc_window_tickets_created_all", **W) == 2
    assert c.value(NOW, "cc_window_requests", channel="email", window="today") == 2


def test_backlog_counts_open_tickets_older_than_the_backlog_age():
    c = Centre(defaults={"backlog_age_seconds": 3600})
    ticket(c, "t1", "2026-11-24T18:00:00Z")  # 2 h old at NOW: backlog
    ticket(c, "t2", "2026-11-24T19:30:00Z")  # 30 min old
    ticket(c, "t3", "2026-11-24T17:00:00Z")
    status(c, "t3", "2026-11-24T17:30:00Z", "solved")  # solved: not open
    c.feed()
    assert c.value(NOW, "cc_tickets_backlog", **Q) == 1
    assert c.value(NOW, "cc_tickets_open", **Q, priority="normal") == 2
    assert c.value(NOW, "cc_tickets_awaiting_reply", **Q) == 2


def test_pending_and_on_hold_are_open_and_a_status_back_to_open_from_pending_is_no_reopen():
    c = Centre()
    ticket(c, "t1", "2026-11-24T08:00:00Z")
    status(c, "t1", "2026-11-24T08:10:00Z", "pending")
    status(c, "t1", "2026-11-24T09:00:00Z", "open")
    status(c, "t1", "2026-11-24T09:10:00Z", "on_hold")
    c.feed()
    assert c.value(NOW, "cc_tickets_open", **Q, priority="normal") == 1
    assert c.value(NOW, "cc_tickets_reopened_total", **Q) == 0


def test_duplicates_change_nothing_and_a_restart_gives_the_same_values():
    c = Centre()
    ticket(c, "t1", "2026-11-24T08:00:00Z")
    reply(c, "t1", "2026-11-24T08:30:00Z")
    status(c, "t1", "2026-11-24T10:00:00Z", "solved")
    status(c, "t1", "2026-11-24T11:00:00Z", "open")
    c.feed()
    before = c.values(NOW)
    assert {o.value for o in c.feed()} == {"duplicate"}
    assert c.values(NOW) == before
    restored = Centre(config=c.config)
    restored.engine.rebuild(c.engine.store.data.items())
    assert restored.values(NOW) == before


def test_a_ticket_is_kept_thirty_days_after_its_last_solve_so_a_reopen_is_recognised():
    c = Centre()
    ticket(c, "t1", "2026-10-01T08:00:00Z")
    status(c, "t1", "2026-10-01T09:00:00Z", "solved")
    # 29 days later another ticket moves stream time on; t1 is still kept
    ticket(c, "t2", "2026-10-30T09:00:00Z")
    status(c, "t1", "2026-10-30T10:00:00Z", "open")
    c.feed()
    assert c.value("2026-10-30T12:00:00Z", "cc_tickets_reopened_total", **Q) == 1
    # Over 30 days after the solve the ticket is gone: a status change is late.
    c2 = Centre()
    ticket(c2, "t1", "2026-10-01T08:00:00Z")
    status(c2, "t1", "2026-10-01T09:00:00Z", "solved")
    ticket(c2, "t2", "2026-11-05T09:00:00Z")
    # ... so a status change 30 days and 1 hour after the solve is no reopen.
    status(c2, "t1", "2026-10-31T10:00:00Z", "open")
    c2.feed()
    assert c2.value("2026-11-05T12:00:00Z", "cc_tickets_reopened_total", **Q) == 0
    assert c2.value("2026-11-05T12:00:00Z", "cc_tickets_solved_total", **Q) == 1


HOURS = {
    "timezone": "Europe/Lisbon",
    "business_hours": {"mon": ["08:00-12:00", "13:00-17:30"],
                       "tue": ["08:00-12:00", "13:00-17:30"], "holidays": ["2026-12-01"]},
    "first_response_target_seconds": {"urgent": 3600, "normal": 14400},
}


def test_business_time_skips_the_weekend_and_lunch_and_the_target_counts_opening_hours():
    c = Centre(queues={"support": HOURS})
    # Created on Saturday 10:00 Lisbon (UTC+0 in November), answered Monday 13:30:
    # business time = Monday 08:00-12:00 + 13:00-13:30 = 4.5 h; calendar time = 51.5 h.
    ticket(c, "t1", "2026-11-28T10:00:00Z", priority="normal")
    reply(c, "t1", "2026-11-30T13:30:00Z")
    status(c, "t1", "2026-11-30T14:00:00Z", "solved")  # business 5 h
    c.feed()
    now = "2026-11-30T20:00:00Z"
    w = {**W}
    assert c.value(now, "cc_ticket_first_response_average_seconds", **w) == 51.5 * 3600
    assert c.value(now, "cc_ticket_first_response_business_average_seconds", **w) == 4.5 * 3600
    assert c.value(now, "cc_ticket_resolution_business_average_seconds", **w) == 5 * 3600
    _, counts, total = c.value(now, "cc_ticket_resolution_business_seconds", **Q)
    assert (sum(counts), total) == (1, 5 * 3600.0)
    # Target normal = 4 business hours, due Monday 13:00: the 13:30 reply missed it.
    assert c.value(now, "cc_window_ticket_first_responses_with_target", **w) == 1
    assert c.value(now, "cc_ticket_first_response_within_target_ratio", **w) == 0.0


def test_an_open_ticket_past_its_first_response_target_is_overdue_and_a_reply_clears_it():
    c = Centre(queues={"support": HOURS})
    ticket(c, "t1", "2026-11-30T08:30:00Z", priority="urgent")  # due 09:30 Monday
    ticket(c, "t2", "2026-11-30T08:30:00Z", priority="low")  # no target for low
    # t3: 1.5 h on Monday; Tuesday a holiday, Wednesday-Sunday closed: due Mon 7 Dec 10:30
    ticket(c, "t3", "2026-11-30T16:00:00Z", priority="normal")
    c.feed()
    assert c.value("2026-11-30T09:29:59Z", "cc_tickets_first_response_overdue", **Q,
                   priority="urgent") == 0
    assert c.value("2026-11-30T09:30:01Z", "cc_tickets_first_response_overdue", **Q,
                   priority="urgent") == 1
    assert c.value("2026-12-07T10:29:00Z", "cc_tickets_first_response_overdue", **Q,
                   priority="normal") == 0
    assert c.value("2026-12-07T10:31:00Z", "cc_tickets_first_response_overdue", **Q,
                   priority="normal") == 1
    # low has no target: never overdue, and no series
    assert c.value("2026-12-09T00:00:00Z", "cc_tickets_first_response_overdue", **Q,
                   priority="low") is None
    reply(c, "t1", "2026-11-30T10:00:00Z")
    c.feed(c.events[-1:])
    assert c.value("2026-11-30T10:30:00Z", "cc_tickets_first_response_overdue", **Q,
                   priority="urgent") == 0


def test_events_of_a_ticket_never_created_are_dropped_thirty_days_after_the_newest():
    c = Centre()
    status(c, "stray", "2026-10-01T08:00:00Z", "open")  # created before the stream began
    ticket(c, "t2", "2026-11-01T09:00:00Z")  # 31 days later
    c.feed()
    c.engine.prune()
    assert "ticket:stray" not in c.engine._records
    assert "ticket:t2" in c.engine._records


def test_an_event_stamped_before_created_counts_as_at_creation():
    """Clock skew between a helpdesk's systems: a solve one second before the creation is a
    solve at creation (resolution 0), not an event that never happened — else the ticket
    would stay open for ever."""
    c = Centre()
    ticket(c, "t1", "2026-11-24T10:00:00Z")
    status(c, "t1", "2026-11-24T09:59:59Z", "solved")
    c.feed()
    assert c.value(NOW, "cc_tickets_solved_total", **Q) == 1
    assert c.value(NOW, "cc_ticket_resolution_average_seconds", **W) == 0.0
    assert c.value(NOW, "cc_tickets_open", **Q, priority="normal") == 0
    c2 = Centre()
    ticket(c2, "t2", "2026-11-24T10:00:00Z")
    reply(c2, "t2", "2026-11-24T09:59:00Z")  # an agent reply stamped before creation
    c2.feed()
    assert c2.value(NOW, "cc_ticket_first_response_average_seconds", **W) == 0.0


def test_a_ticket_moved_to_another_queue_has_zero_counters_there_before_its_first_solve():
    c = Centre()
    ticket(c, "t1", "2026-11-24T08:00:00Z")
    c.event("ticket.updated", "2026-11-24T08:30:00Z", ticket_id="t1", queue="billing")
    c.feed()
    moved = {"queue": "billing", "channel": "email"}
    assert c.value(NOW, "cc_tickets_solved_total", **moved) == 0
    assert c.value(NOW, "cc_tickets_reopened_total", **moved) == 0


def test_ticket_ages_of_a_feed_that_is_behind_are_taken_at_its_feeds_time():
    """A worker catching up shows a partition's live state as of its feed's time (see
    test_live_clock.py): backlog and overdue ages too, not only the contacts'."""
    from streams.core.kpis import all_families

    c = Centre(defaults={"backlog_age_seconds": 3600,
                         "first_response_target_seconds": {"normal": 1800}})
    ticket(c, "t1", "2026-11-24T18:40:00Z")  # 80 min old at NOW; 20 min at the feed's time
    c.feed()

    def live_value(name: str, live: str, **labels: str) -> float:
        fams = all_families(c.config, [c.engine.ledger], us(NOW), [us(live)])
        fam = next(f for f in fams if f.name == name)
        return fam.samples[tuple(labels[k] for k in fam.labels)]

    assert live_value("cc_tickets_backlog", NOW, **Q) == 1
    assert live_value("cc_tickets_backlog", "2026-11-24T19:00:00Z", **Q) == 0
    assert live_value("cc_tickets_first_response_overdue", NOW, **Q, priority="normal") == 1
    assert live_value("cc_tickets_first_response_overdue", "2026-11-24T19:00:00Z", **Q,
                      priority="normal") == 0
