"""Requests by channel (contract §3.3): offered contacts + blocked calls + created tickets."""

from __future__ import annotations

import copy

from kpi_helpers import Centre, call, us

from streams.core.engine import Engine, MemoryStore
from streams.core.kpis import contact_families

NOW = "2026-11-22T09:14:00Z"


def requests(c: Centre, window: str = "interval") -> dict[str, float]:
    return {dict(lbl)["channel"]: v for (n, lbl), v in c.values(NOW).items()
            if n == "cc_window_requests" and dict(lbl)["window"] == window}


def ticket(c: Centre, ticket_id: str, at: str, channel: str, queue: str = "support") -> None:
    c.event("ticket.created", at, ticket_id=ticket_id, queue=queue, channel=channel)


def test_requests_count_contacts_blocked_calls_and_new_tickets_per_channel(centre: Centre):
    call(centre, "c1", "sales", "2026-11-22T09:00:00Z", "answered", "2026-11-22T09:00:05Z")
    centre.event("call.blocked", "2026-11-22T09:01:00Z", call_id="c2", reason="no_capacity",
                 queue="sales")
    centre.event("chat.queued", "2026-11-22T09:02:00Z", chat_id="h1", queue="sales")
    ticket(centre, "t1", "2026-11-22T09:03:00Z", "email")
    ticket(centre, "t2", "2026-11-22T09:04:00Z", "email")
    ticket(centre, "t3", "2026-11-22T09:05:00Z", "chat")
    ticket(centre, "t4", "2026-11-22T08:55:00Z", "web")  # previous interval
    centre.event("ticket.replied", "2026-11-22T09:06:00Z", ticket_id="t1", author="agent")
    centre.feed()
    assert requests(centre) == {"voice": 2, "chat": 2, "email": 2, "web": 0}
    assert requests(centre, "today") == {"voice": 2, "chat": 2, "email": 2, "web": 1}


def test_ticket_channels_do_not_create_contact_gauges(centre: Centre):
    ticket(centre, "t1", "2026-11-22T09:03:00Z", "email")
    centre.feed()
    names = {n for (n, _), _v in centre.values(NOW).items()}
    assert "cc_window_contacts_offered" not in names
    assert "cc_service_level_target_ratio" not in names


def test_a_redelivered_ticket_is_counted_once_and_survives_a_rebuild():
    c = Centre()
    store = MemoryStore()
    c.engine = Engine(c.config, store)
    ticket(c, "t1", "2026-11-22T09:03:00Z", "email")
    c.feed()
    assert [o.value for o in c.feed()] == ["duplicate"]
    assert requests(c) == {"email": 1}
    restored = Engine(c.config)
    restored.rebuild(copy.deepcopy(list(store.data.items())))
    fam = {f.name: f for f in contact_families(c.config, [restored.ledger], us(NOW))}
    assert fam["cc_window_requests"].samples[("email", "interval")] == 1
