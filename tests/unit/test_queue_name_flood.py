"""A flood of distinct queue names (issue 11, hostile input): the engine's first-seen map and
its calendars stay bounded, and no label or KPI changes."""

from __future__ import annotations

import random

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.config import parse_config
from streams.core.engine import Engine
from streams.core.kpis import OTHER_QUEUE, QueueLabels, all_families
from streams.core.ledger import Ledger
from streams.core.pipeline import PipelineStats
from streams.core.timestamps import format_us
from streams.ingest import ingest

MAX_QUEUES = 3
CONFIG = parse_config({"limits": {"max_queues": MAX_QUEUES},
                       "queues": {"sales": {"timezone": "Europe/Paris"}}})
NOW_US = 1_795_000_000_000_000


def admitted(first: dict[str, int]) -> set[str]:
    """The reference admission of contract §4, from the full first-seen map."""
    others = sorted((at, q) for q, at in first.items() if q not in ("sales", "unknown"))
    return {q for _, q in others[:MAX_QUEUES]}


sightings = st.lists(st.tuples(st.integers(0, 3), st.sampled_from(
    [f"q{i}" for i in range(40)] + ["sales", "unknown"]), st.integers(0, 50)), max_size=300)


@settings(max_examples=200, deadline=None)
@given(sightings)
def test_a_bounded_first_seen_map_admits_the_same_queues_over_several_ledgers(seen):
    ledgers = [Ledger(CONFIG) for _ in range(4)]
    for ledger in ledgers:
        ledger.first_seen_cap = MAX_QUEUES + 2  # cut back often
    full: dict[str, int] = {}
    for part, queue, at in seen:
        ledgers[part].saw_queues((queue,), at)
        full[queue] = min(at, full.get(queue, at))
    label = QueueLabels(CONFIG, ledgers)
    names = {q for _, q, _ in seen}
    assert {q for q in names if label(q) == q} - {"sales", "unknown"} == admitted(full)
    for ledger in ledgers:
        assert len(ledger.first_seen) <= ledger.first_seen_cap


def flood(engine: Engine, count: int, seed: int) -> None:
    """``count`` waiting calls, each in a queue of its own, in a shuffled event-time order."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    stats = PipelineStats()
    for i in order:
        queue = "sales" if i % 97 == 0 else f"flood-{i}"
        event = {"event_id": f"e{i}", "type": "call.queued", "call_id": f"c{i}",
                 "occurred_at": format_us(NOW_US - 3_600_000_000 + i * 1_000_000),
                 "queue": queue}
        ingest(orjson.dumps(event), engine, stats, now_us=None)


def test_a_flood_of_queue_names_keeps_first_seen_and_calendars_bounded_and_every_kpi():
    bounded, unbounded = Engine(CONFIG), Engine(CONFIG)
    unbounded.ledger.first_seen_cap = 10**9
    flood(bounded, 3000, seed=1)
    flood(unbounded, 3000, seed=1)
    assert len(bounded.ledger.first_seen) <= bounded.ledger.first_seen_cap < 3000
    assert len(unbounded.ledger.first_seen) == 3000 - len(range(0, 3000, 97)) + 1
    assert set(bounded.ledger._calendars) <= {"sales"}
    families = {f.name: f.samples for f in all_families(CONFIG, [bounded.ledger], NOW_US)}
    expected = {f.name: f.samples for f in all_families(CONFIG, [unbounded.ledger], NOW_US)}
    assert families == expected
    queues = {labels[0] for labels in families["cc_contacts_offered_total"]}
    assert queues == {"sales", OTHER_QUEUE, "flood-1", "flood-2", "flood-3"}
