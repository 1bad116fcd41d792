"""Engine state: rebuilding from records, pruning, and invariants under reordering/duplicates."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st
from kpi_helpers import Centre, advance_stream_time, call, us

from streams.core.engine import BASE_KEY, Engine, MemoryStore
from streams.core.entities.contact import RETENTION_US
from streams.core.kpis import contact_families

NOW = "2026-11-22T09:30:00Z"


def sample_centre() -> Centre:
    c = Centre()
    for i in range(12):
        outcome = ("answered", "abandoned", "flowed_out", None)[i % 4]
        call(c, f"c{i}", ("a", "b")[i % 2], f"2026-11-22T09:{i:02d}:00Z", outcome,
             f"2026-11-22T09:{i:02d}:{i * 4:02d}Z")
        if outcome == "answered":
            c.event("call.ended", f"2026-11-22T09:{i + 1:02d}:00Z", call_id=f"c{i}", agent_id="x")
            c.event("call.wrapup_ended", f"2026-11-22T09:{i + 1:02d}:30Z", call_id=f"c{i}",
                    agent_id="x", resolved=True)
    c.event("agent.state_changed", "2026-11-22T08:00:00Z", agent_id="x", state="available",
            queues=["a", "b"])
    c.event("agent.state_changed", "2026-11-22T09:01:00Z", agent_id="x", state="on_contact")
    return c


def exported(engine: Engine, now: str) -> dict:
    return {f.name: f.samples for f in contact_families(engine.config, [engine.ledger], us(now))}


def test_rebuilding_from_persisted_records_restores_every_kpi():
    c = sample_centre()
    store = MemoryStore()
    c.engine = Engine(c.config, store)
    c.feed()
    restored = Engine(c.config)
    restored.rebuild(copy.deepcopy(list(store.data.items())))
    assert exported(restored, NOW) == exported(c.engine, NOW)
    # and the restored engine still recognises the events it has seen
    assert {restored.apply(ev).value for ev in c.events} == {"duplicate"}


LATER = "2026-11-24T10:00:00Z"  # more than 48 h after the sample's newest event


def test_pruning_keeps_counters_and_forgets_contacts_past_their_retention():
    c = sample_centre()
    store = MemoryStore()
    c.engine = Engine(c.config, store)
    c.feed()
    before = exported(c.engine, NOW)
    advance_stream_time(c, LATER)
    assert c.engine.stream_us - us("2026-11-22T09:12:30Z") > RETENTION_US
    assert c.engine.prune() == 12  # the 12 calls; agents' current state is kept for ever
    assert c.engine.entity_count == 2  # agents x and clock
    later = us(LATER)
    after = {f.name: f.samples for f in contact_families(c.config, [c.engine.ledger], later)}
    assert after["cc_contacts_offered_total"] == before["cc_contacts_offered_total"]
    assert after["cc_contact_wait_seconds"] == before["cc_contact_wait_seconds"]
    assert set(store.data) == {BASE_KEY, "agent:x", "agent:clock"}
    # A restart after pruning rebuilds the same counters from the base record.
    restored = Engine(c.config)
    restored.rebuild(copy.deepcopy(list(store.data.items())))
    again = {f.name: f.samples for f in contact_families(c.config, [restored.ledger], later)}
    assert again["cc_contacts_offered_total"] == before["cc_contacts_offered_total"]
    assert again["cc_contacts_handled_total"] == before["cc_contacts_handled_total"]


def test_records_older_than_the_base_watermark_are_not_counted_twice_after_a_crash():
    c = sample_centre()
    store = MemoryStore()
    c.engine = Engine(c.config, store)
    c.feed()
    advance_stream_time(c, LATER)
    leftover = copy.deepcopy(store.data)  # records as they were before the prune's deletes
    c.engine.prune()
    crashed = {**leftover, BASE_KEY: store.data[BASE_KEY]}  # base written, deletes lost
    restored = Engine(c.config)
    restored.rebuild(copy.deepcopy(list(crashed.items())))
    assert exported(restored, NOW)["cc_contacts_offered_total"] == \
        exported(c.engine, NOW)["cc_contacts_offered_total"]


def counters_never_negative(engine: Engine) -> bool:
    return all(v >= 0 for v in engine.ledger.counters.values())


def same_kpis(a: Engine, b: Engine, now: str) -> bool:
    return exported(a, now) == exported(b, now)


@settings(max_examples=40, deadline=None)
@given(order=st.permutations(range(len(sample_centre().events))),
       dupes=st.lists(st.integers(min_value=0, max_value=40), max_size=15))
def test_any_order_with_any_duplicates_gives_the_same_kpis(order, dupes):
    reference = sample_centre()
    reference.feed()
    shuffled = sample_centre()
    events = [shuffled.events[i] for i in order]
    events += [events[d % len(events)] for d in dupes]
    shuffled.feed(events)
    assert counters_never_negative(shuffled.engine)
    assert same_kpis(reference.engine, shuffled.engine, NOW)
