"""Engine snapshots (streams.worker.snapshots): an engine restored from one, its records left in
the store until needed, behaves exactly as the engine it was taken from.

And per-entity de-duplication, which a snapshot restore relies on (docs/decisions.md,
"De-duplication scope"): an event id is a duplicate when the record of the entity it
addresses holds it.
"""

from __future__ import annotations

import pickle

import orjson
import pytest
from kpi_helpers import Centre
from test_engine_invariants import config, exported, traffic

from streams.core.config import parse_config
from streams.core.engine import Engine, MemoryStore, Outcome
from streams.core.events import Event
from streams.worker.checkpoint import encode_record
from streams.worker.snapshots import fingerprint


def persisted(store: MemoryStore) -> dict[str, bytes]:
    """The store as a worker's local store holds it: records encoded as bytes."""
    return {key: encode_record(record) for key, record in store.data.items()}


def contents(store: MemoryStore) -> dict[str, object]:
    """The persisted records, the base's lists of totals as sets (their order is the order
    entities retired in, which carries no meaning)."""
    out: dict[str, object] = {}
    for key, raw in persisted(store).items():
        record = orjson.loads(raw)
        if record.get("kind") == "base":
            record = {k: sorted(orjson.dumps(x) for x in v) if isinstance(v, list) else v
                      for k, v in record.items()}
        out[key] = record
    return out


def restored_from_snapshot(engine: Engine) -> tuple[Engine, dict[str, bytes]]:
    """A fresh engine loaded from ``engine``'s snapshot (through pickle, as on disk), its
    records read from a copy of the store as it was at the snapshot."""
    disk = persisted(engine.store)  # type: ignore[arg-type]
    state = pickle.loads(pickle.dumps(engine.snapshot(), protocol=pickle.HIGHEST_PROTOCOL))
    store = MemoryStore()
    store.data = {key: orjson.loads(raw) for key, raw in disk.items()}
    restored = Engine(engine.config, store, partition=engine.partition)

    def read(key: str) -> dict | None:
        raw = disk.get(key)
        return None if raw is None else orjson.loads(raw)

    restored.load_snapshot(state, read)
    return restored, disk


def run(events, engine: Engine | None = None) -> tuple[Engine, list[Outcome]]:
    engine = engine or Engine(config(), MemoryStore())
    outcomes = []
    for event in events:
        outcomes.append(engine.apply(event))
        engine.maybe_prune()
    return engine, outcomes


@pytest.mark.parametrize(("cut", "warm"), [(0.1, False), (0.35, True), (0.5, False),
                                           (0.5, True), (0.8, False), (0.97, True)])
def test_an_engine_restored_from_a_snapshot_gives_what_the_original_gives(cut, warm):
    events = traffic()
    n = int(len(events) * cut)
    original, _ = run(events[:n])
    restored, _ = restored_from_snapshot(original)
    assert restored.entity_count == original.entity_count
    now = events[n - 1].occurred_us + 60_000_000
    assert exported(restored, now) == exported(original, now)
    if warm:
        restored.warm_undated(10**9)
    # the rest, with every event before the cut sent again (redelivery): duplicates
    rest = [*events[n:], *events[:n]]
    _, expected = run(rest, original)
    _, got = run(rest, restored)
    assert got == expected
    assert got[len(events) - n:] == [o if o is Outcome.LATE else Outcome.DUPLICATE
                                    for o in expected[len(events) - n:]]
    end = events[-1].occurred_us + 60_000_000
    assert exported(restored, end) == exported(original, end)
    assert restored.entity_count == original.entity_count
    assert contents(restored.store) == contents(original.store)


def test_a_snapshot_restore_reads_no_record_until_one_is_needed():
    events = traffic()
    original, _ = run(events[: len(events) // 2])
    reads: list[str] = []
    disk = persisted(original.store)  # type: ignore[arg-type]
    restored = Engine(original.config, MemoryStore(), partition=original.partition)
    restored.load_snapshot(pickle.loads(pickle.dumps(original.snapshot())),
                           lambda key: reads.append(key) or orjson.loads(disk[key]))
    now = events[len(events) // 2].occurred_us
    assert exported(restored, now) == exported(original, now)
    assert reads == []
    restored.apply(events[len(events) // 2])
    assert len(reads) <= 2  # the entity the event addresses (and one it may reference)


def test_a_snapshot_of_an_engine_restored_from_a_snapshot_is_as_good():
    events = traffic()
    first, _ = run(events[: len(events) // 3])
    second, _ = restored_from_snapshot(first)
    run(events[len(events) // 3: len(events) // 2], first)
    run(events[len(events) // 3: len(events) // 2], second)
    third, _ = restored_from_snapshot(second)  # most of its records never left the store
    run(events[len(events) // 2:], first)
    run(events[len(events) // 2:], third)
    end = events[-1].occurred_us
    assert exported(third, end) == exported(first, end)


def test_load_snapshot_refuses_another_partition_or_format():
    original, _ = run(traffic()[:200])
    state = original.snapshot()
    other = Engine(original.config, partition=1)
    try:
        other.load_snapshot(state, lambda key: None)
    except ValueError as exc:
        assert "partition" in str(exc)
    else:
        raise AssertionError("a snapshot of partition 0 loaded into partition 1")


def test_the_snapshot_fingerprint_follows_the_config():
    assert fingerprint(config()) == fingerprint(config())
    assert fingerprint(config()) != fingerprint(parse_config({"limits": {"max_queues": 4}}))
    moved = parse_config({"limits": {"max_queues": 3}, "worker": {"web_port": 7001}})
    assert fingerprint(moved) == fingerprint(config())  # a new port keeps the snapshots


# ---------------------------------------------------------------------- per-entity dedupe
def two_calls_sharing_an_event_id(c: Centre) -> tuple[Event, Event]:
    first = c.event("call.queued", "2026-11-22T09:00:00Z", event_id="x1", call_id="c1",
                    queue="a")
    reused = c.event("call.queued", "2026-11-22T09:01:00Z", event_id="x1", call_id="c2",
                     queue="a")
    return first, reused


def test_an_event_id_reused_by_another_entity_is_applied_and_redeliveries_of_both_dropped():
    c = Centre()
    first, reused = two_calls_sharing_an_event_id(c)
    assert c.engine.apply(first) is Outcome.APPLIED
    assert c.engine.apply(reused) is Outcome.APPLIED  # another call: not a duplicate
    assert c.engine.apply(first) is Outcome.DUPLICATE
    assert c.engine.apply(reused) is Outcome.DUPLICATE


def test_a_reused_id_stays_a_duplicate_for_one_entity_after_the_other_is_dropped():
    c = Centre()
    first, reused = two_calls_sharing_an_event_id(c)
    c.engine.apply(first)
    c.engine.apply(reused)
    # c1 ends and both are kept; then c2 keeps going two days, so c1 alone is past retention
    for hour in range(1, 50):
        day, h = divmod(9 + hour, 24)
        c.engine.apply(c.event("call.queued", f"2026-11-{22 + day}T{h:02d}:01:00Z",
                               call_id="c2", queue="a"))
        c.engine.prune()
    assert c.engine.apply(reused) is Outcome.DUPLICATE


def test_a_record_still_in_the_previous_format_on_disk_is_read_back_from_a_snapshot():
    """A format-1 record (milliseconds, no kind or version) stays so in the store until it is
    next written; an engine restored from a snapshot reads it as the rebuild does."""
    ms = 1_795_338_000_000  # 2026-11-22T09:00Z
    old_store = {"call:c1": {"p": 0, "t": ms, "ch": "voice", "ev": [
        ["e1", "queued", ms, "sales", None], ["e2", "answered", ms + 8_000, "sales", None]]}}
    original = Engine(config())
    original.rebuild(orjson.loads(orjson.dumps(old_store)).items())
    restored = Engine(config())
    restored.load_snapshot(pickle.loads(pickle.dumps(original.snapshot())),
                           lambda key: orjson.loads(orjson.dumps(old_store[key])))
    c = Centre()
    ended = c.event("call.ended", "2026-11-22T09:03:00Z", call_id="c1", queue="sales",
                    agent_id="x")
    duplicate = c.event("call.answered", "2026-11-22T09:00:08Z", event_id="e2",
                        call_id="c1", queue="sales", agent_id="x")
    for engine in (original, restored):
        assert engine.apply(duplicate) is Outcome.DUPLICATE
        assert engine.apply(ended) is Outcome.APPLIED
    now = ms * 1000 + 240_000_000
    assert exported(restored, now) == exported(original, now)


# ---------------------------------------------------------------------- catch-up after a crash
def changes_between(before: dict[str, bytes], after: dict[str, bytes]):
    """What a worker's journal gives after a crash: each key whose persisted record changed,
    with its record at the snapshot and now (None: no record)."""
    return [(key, None if before.get(key) is None else orjson.loads(before[key]),
             None if after.get(key) is None else orjson.loads(after[key]))
            for key in sorted({*before, *after}) if before.get(key) != after.get(key)]


def caught_up(state: dict, at_snapshot: dict[str, bytes], original: Engine) -> Engine:
    """An engine restored from ``state`` (taken when the store held ``at_snapshot``) and caught
    up to ``original``'s store as it is now, as a worker restarting after a crash does."""
    now = persisted(original.store)  # type: ignore[arg-type]
    store = MemoryStore()
    store.data = {key: orjson.loads(raw) for key, raw in now.items()}
    restored = Engine(original.config, store, partition=original.partition)
    restored.load_snapshot(pickle.loads(state), lambda key: (
        None if now.get(key) is None else orjson.loads(now[key])))
    restored.catch_up(changes_between(at_snapshot, now))
    restored.finish_rebuild()
    return restored


@pytest.mark.parametrize(("at_snapshot", "at_crash"), [
    (0.1, 0.3), (0.2, 0.45), (0.3, 0.6), (0.45, 0.55), (0.5, 0.97), (0.05, 0.9)])
def test_a_snapshot_caught_up_with_the_changes_since_gives_what_the_original_gives(
        at_snapshot, at_crash):
    """The snapshot is taken, the original goes on (retention and pruning included: the
    traffic has a three-day gap in the middle), then the worker "crashes": the restored
    engine gets the snapshot plus the records changed since, and must equal the original in
    every value, outcome, entity count and persisted record from then on."""
    events = traffic()
    n, m = int(len(events) * at_snapshot), int(len(events) * at_crash)
    original, _ = run(events[:n])
    state = pickle.dumps(original.snapshot(), protocol=pickle.HIGHEST_PROTOCOL)
    at_snap = persisted(original.store)  # type: ignore[arg-type]
    run(events[n:m], original)
    restored = caught_up(state, at_snap, original)
    assert restored.entity_count == original.entity_count
    now = events[m - 1].occurred_us + 60_000_000
    assert exported(restored, now) == exported(original, now)
    rest = [*events[m:], *events[:m]]  # the rest, then everything again (redelivery)
    _, expected = run(rest, original)
    _, got = run(rest, restored)
    assert got == expected
    end = events[-1].occurred_us + 60_000_000
    assert exported(restored, end) == exported(original, end)
    assert restored.entity_count == original.entity_count
    assert contents(restored.store) == contents(original.store)


def test_a_catch_up_with_nothing_changed_is_the_snapshot_itself():
    events = traffic()
    original, _ = run(events[: len(events) // 3])
    state = pickle.dumps(original.snapshot())
    restored = caught_up(state, persisted(original.store), original)  # type: ignore[arg-type]
    assert restored.catch_up([]) == 0
    now = events[len(events) // 3].occurred_us
    assert exported(restored, now) == exported(original, now)


def test_a_catch_up_naming_an_entity_the_snapshot_lacks_is_refused():
    events = traffic()
    original, _ = run(events[:300])
    restored = Engine(original.config, partition=original.partition)
    restored.load_snapshot(pickle.loads(pickle.dumps(original.snapshot())), lambda key: None)
    with pytest.raises(ValueError, match="does not hold it"):
        restored.catch_up([("call:nobody", {"kind": "contact"}, None)])
