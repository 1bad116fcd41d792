"""Records evicted from memory (``Engine.evict_idle``) change nothing: an engine that drops its
idle dated records (contacts, solved tickets, customers, feedback) and reads them back from
its store when needed gives, event for event, what an engine holding every record gives —
values, outcomes (duplicates included), entity counts and persisted records."""

from __future__ import annotations

import orjson
import pytest
from test_engine_invariants import config, exported, traffic
from test_engine_snapshot import contents

from streams.core.engine import Engine, MemoryStore
from streams.worker.checkpoint import encode_record


def evicting_engine() -> Engine:
    """An engine whose store is read back as a worker's local store is: encoded bytes."""
    store = MemoryStore()
    engine = Engine(config(), store)
    engine.read_from(lambda key: None if key not in store.data
                     else orjson.loads(encode_record(store.data[key])))
    return engine


@pytest.mark.parametrize("every", [50, 400])
def test_an_engine_evicting_idle_records_gives_what_one_holding_them_all_gives(every):
    events = traffic()
    rest = [*events, *events[: len(events) // 2]]  # everything, then half again: duplicates
    holding = Engine(config(), MemoryStore())
    evicting = evicting_engine()
    evicted = 0
    for i, event in enumerate(rest, 1):
        assert evicting.apply(event) == holding.apply(event), i
        holding.maybe_prune()
        evicting.maybe_prune()
        if i % every == 0:
            evicted += evicting.evict_idle(lambda key: False)
            now = event.occurred_us + 60_000_000
            assert exported(evicting, now) == exported(holding, now), i
            assert evicting.entity_count == holding.entity_count
    assert evicted > len(events) // 20  # it did evict, many records
    assert contents(evicting.store) == contents(holding.store)  # type: ignore[arg-type]


def test_only_records_untouched_for_two_passes_and_already_stored_are_evicted():
    events = traffic()[:600]
    engine = evicting_engine()
    for event in events:
        engine.apply(event)
    in_memory = len(engine._records)
    assert engine.evict_idle(lambda key: False) == 0  # touched during this pass
    assert engine.evict_idle(lambda key: True) == 0  # every record dirty: none leaves
    assert engine.evict_idle(lambda key: False) > 0
    assert len(engine._records) < in_memory
    assert engine.entity_count == in_memory


def test_an_engine_without_a_store_to_read_back_from_evicts_nothing():
    engine = Engine(config(), MemoryStore())
    for event in traffic()[:300]:
        engine.apply(event)
    for _ in range(3):
        assert engine.evict_idle(lambda key: False) == 0
