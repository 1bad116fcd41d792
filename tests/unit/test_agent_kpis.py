"""Agents by state and occupancy (docs/contract.md §3.1, §3.3)."""

from __future__ import annotations

import pytest
from kpi_helpers import Centre

NOW = "2026-11-22T09:10:00Z"


def states(c: Centre, agent: str, changes: list[tuple[str, str, list[str] | None]]) -> None:
    for at, state, queues in changes:
        body = {"agent_id": agent, "state": state}
        if queues is not None:
            body["queues"] = queues
        c.event("agent.state_changed", f"2026-11-22T{at}Z", **body)


def test_agents_are_counted_by_last_state_per_queue_served(centre: Centre):
    states(centre, "a1", [("08:00:00", "available", ["sales", "support"]),
                          ("09:00:00", "on_contact", None)])
    states(centre, "a2", [("08:00:00", "available", ["sales"])])
    states(centre, "a3", [("08:00:00", "available", ["sales"]), ("09:05:00", "offline", None)])
    centre.feed()
    v = lambda q, s: centre.value(NOW, "cc_agents", queue=q, state=s)  # noqa: E731
    assert v("sales", "on_contact") == 1
    assert v("sales", "available") == 1
    assert v("sales", "offline") == 1
    assert v("support", "on_contact") == 1
    assert v("support", "available") == 0


def test_occupancy_sums_time_in_states_inside_each_window(centre: Centre):
    states(centre, "a1", [("08:50:00", "available", ["q"]), ("09:02:00", "on_contact", None),
                          ("09:06:00", "after_contact_work", None), ("09:07:00", "not_ready", None),
                          ("09:08:00", "available", None)])
    centre.feed()
    occ = lambda w: centre.value(NOW, "cc_occupancy_ratio", queue="q", window=w)  # noqa: E731
    # interval 09:00–09:10 (now): available 2 + 2 = 4 min, on contact 4, ACW 1 → 5 / 9
    assert occ("interval") == pytest.approx(5 / 9)
    # previous 08:45–09:00: available 10 min only → 0
    assert occ("previous_interval") == 0.0
    # today: available 12 + 2 = 14 min, busy 5 → 5 / 19
    assert occ("today") == pytest.approx(5 / 19)


def test_agent_events_out_of_order_give_the_same_occupancy():
    changes = [("08:50:00", "available", ["q"]), ("09:02:00", "on_contact", None),
               ("09:06:00", "after_contact_work", None), ("09:08:00", "available", None)]
    in_order, reversed_ = Centre(), Centre()
    states(in_order, "a1", changes)
    states(reversed_, "a1", list(reversed(changes)))
    in_order.feed()
    reversed_.feed()
    assert in_order.values(NOW) == reversed_.values(NOW)


def test_agent_without_queues_is_reported_under_unknown(centre: Centre):
    states(centre, "a1", [("09:00:00", "available", None)])
    centre.feed()
    assert centre.value(NOW, "cc_agents", queue="unknown", state="available") == 1
