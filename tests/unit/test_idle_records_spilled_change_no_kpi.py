"""A worker leaves idle records in its local RocksDB store instead of memory, changing no value.

With a store that ``spills`` (the worker's ``TableStore`` over Faust's RocksDB store), an idle
entity (a ticket solved a day ago, a customer without an event for a day) that a prune would
freeze leaves memory altogether once the local store holds its latest write: the engine keeps
only its key (cold), and reads its record back from the store when an event, a reference, a
trim or its retirement needs it (``Engine._freeze``, ``Engine.spill``,
``streams.worker.checkpoint.TableStore``). A record whose write is still pending, or taken by a
checkpoint Kafka has not acknowledged yet, is frozen as bytes until the checkpoint has written
it. These tests run the same events through a spilling engine over a real RocksDB database
(checkpointed as the worker does) and one that keeps every record as objects, and compare what
each apply returned, the ledgers and every exported sample.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
from test_frozen_entities_change_no_kpi import (
    CONFIG,
    centre_traffic,
    exported,
    later_events_for,
    ledgers_equal,
    ticket_event,
)
from test_worker_checkpoint import FakeProducer, RocksStore

from streams.core.engine import Engine
from streams.core.entities import ticket as T
from streams.core.entities.kinds import KIND_BY_NAME
from streams.core.events import Event
from streams.core.timestamps import DAY_US, HOUR_US
from streams.worker.checkpoint import (
    TableStore,
    encode_record,
    local_base,
    local_slices,
    write_local,
    writes_by_partition,
)
from streams.worker.state import WorkerState

PARTITION = 0


class Disk:
    """An engine over a real RocksDB database through the worker's ``TableStore``,
    checkpointed by hand: the pending writes taken (in flight), then written."""

    def __init__(self, root: Path) -> None:
        self.data = RocksStore(root)
        self.pending: dict = {}
        self.in_flight = False
        self.store = TableStore(self.pending, PARTITION, self.data, lambda: self.in_flight)
        self.engine = Engine(CONFIG, self.store, partition=PARTITION)

    def checkpoint(self) -> None:
        write_local(self.data, PARTITION, writes_by_partition(self.pending).get(PARTITION, []))
        self.engine.spill()

    def cold_records(self) -> dict:
        """Cold key -> its record as the engine would hold it, read from the database."""
        return {key: self.engine._decoded(self.store.get(key))[1]
                for key in self.engine._cold}


def run_both(events: list[Event], disk: Disk, never: Engine, every: int = 500) -> None:
    for i, event in enumerate(events):
        assert disk.engine.apply(event) == never.apply(event), event
        if i % every == 0:
            disk.engine.prune()
            never.prune()
        elif i % every == every // 2:  # events between a prune and a checkpoint, as live
            disk.checkpoint()
    disk.engine.prune()
    never.prune()
    disk.checkpoint()


def both(tmp_path: Path) -> tuple[Disk, Engine]:
    return Disk(tmp_path), Engine(CONFIG, freezes=False)


def spilled_tickets(disk: Disk) -> list[str]:
    return sorted(k for k, r in disk.cold_records().items() if r["kind"] == T.TicketKind().name)


class TestIdleRecordsSpilled:
    def test_idle_tickets_and_customers_leave_memory_and_the_values_stay_the_same(self, tmp_path):
        disk, never = both(tmp_path)
        run_both(centre_traffic(), disk, never)
        engine = disk.engine
        cold = disk.cold_records()
        kinds = {r["kind"] for r in cold.values()}
        assert {T.TicketKind().name, "customer"} <= kinds
        assert engine.frozen_count == 0  # every one written by the last checkpoint
        assert not any(k in engine._records or k in engine._contributions for k in cold)
        assert not any(k in engine._due_step for k in cold)  # filed packed (ColdKeys)
        assert engine.cold_count == len(cold) == len(set(engine._cold))
        assert not any(key in engine._seen.values() for key in cold)  # their ids let go
        assert engine.entity_count == never.entity_count
        assert {**engine._records, **cold} == never._records
        assert ledgers_equal(engine, never)
        for now in range(engine.stream_us - DAY_US, engine.stream_us + DAY_US, 3 * HOUR_US):
            assert exported(engine, now) == exported(never, now)

    def test_a_reopen_late_events_and_duplicates_of_spilled_tickets_give_the_same_values(
            self, tmp_path):
        disk, never = both(tmp_path)
        run_both(centre_traffic(), disk, never)
        spilled = spilled_tickets(disk)
        assert spilled
        # later_events_for reads the frozen keys: bring the spilled tickets in as frozen
        engine = disk.engine
        steps = {key: engine._cold.step_of(key) for key in spilled}
        for key in spilled:
            engine._frozen[key] = engine._freezer.freeze("ticket", disk.cold_records()[key])
            engine._cold.discard(key)
        later = later_events_for(engine, 0)
        for key in spilled:  # and back to the store, as they were
            del engine._frozen[key]
            engine._cold.add(key, steps[key])
        assert later
        run_both(later + later[:5], disk, never, every=7)
        assert ledgers_equal(engine, never)
        values = exported(engine, engine.stream_us)
        assert values == exported(never, never.stream_us)
        assert any(name == "cc_tickets_reopened_total" and v for (name, _), v in values.items())

    def test_every_event_again_is_told_a_duplicate_or_late_alike(self, tmp_path):
        disk, never = both(tmp_path)
        traffic = centre_traffic()
        run_both(traffic, disk, never)
        assert disk.engine.cold_count
        run_both(traffic[:3000], disk, never)  # apply outcomes compared one by one
        assert ledgers_equal(disk.engine, never)
        assert exported(disk.engine, disk.engine.stream_us) == exported(never, never.stream_us)

    def test_spilled_tickets_retire_with_the_totals_they_added(self, tmp_path):
        disk, never = both(tmp_path)
        run_both(centre_traffic(), disk, never)
        assert spilled_tickets(disk)
        # 31 days on: every solved ticket retires (moved into the base) at the next prune
        tick = ticket_event(10**6, "ticket.created", disk.engine.stream_us + 31 * DAY_US,
                            ticket_id="later", queue="support", channel="email")
        run_both([tick], disk, never)
        assert not spilled_tickets(disk)
        assert ledgers_equal(disk.engine, never)
        assert disk.engine._base.counters
        assert {**disk.engine._records, **disk.cold_records()} == never._records
        assert exported(disk.engine, disk.engine.stream_us) == exported(never, never.stream_us)


def test_a_record_whose_write_is_pending_stays_frozen_until_a_checkpoint_writes_it(tmp_path):
    disk, never = both(tmp_path)
    for event in centre_traffic():  # no checkpoint: every write still pending
        disk.engine.apply(event)
        never.apply(event)
    disk.engine.prune()
    never.prune()
    frozen = disk.engine.frozen_count
    assert frozen and not disk.engine.cold_count
    assert disk.engine.spill() == 0  # not written yet: a read would miss it
    disk.checkpoint()
    assert disk.engine.cold_count == frozen and not disk.engine.frozen_count
    assert {**disk.engine._records, **disk.cold_records()} == never._records


def test_nothing_spills_while_a_checkpoint_is_in_flight(tmp_path):
    disk, _ = both(tmp_path)
    for event in centre_traffic():
        disk.engine.apply(event)
    taken = writes_by_partition(disk.pending).get(PARTITION, [])  # taken, not yet written
    disk.in_flight = True
    disk.engine.prune()
    assert disk.engine.frozen_count and not disk.engine.cold_count
    assert disk.engine.spill() == 0
    write_local(disk.data, PARTITION, taken)
    disk.in_flight = False
    assert disk.engine.spill() == disk.engine.cold_count > 0


def test_a_spilled_record_is_read_back_as_the_local_store_holds_it(tmp_path):
    disk, never = both(tmp_path)
    run_both(centre_traffic(), disk, never)
    key = spilled_tickets(disk)[0]
    raw = disk.data._db_for_partition(PARTITION)[key.encode()]
    assert orjson.loads(raw) == orjson.loads(encode_record(never._records[key]))
    assert disk.engine.contributions_of(key) == never.contributions_of(key)
    assert key in disk.engine._records and key not in disk.engine._cold


def test_a_store_in_memory_keeps_idle_records_frozen_in_the_engine():
    table = {}  # Faust's memory:// store: a dict, no database per partition
    store = TableStore({}, PARTITION, table, lambda: False)
    assert not store.spills
    engine = Engine(CONFIG, store)
    for event in centre_traffic():
        engine.apply(event)
    engine.prune()
    assert engine.frozen_count and not engine.cold_count


def test_the_workers_checkpoint_leaves_idle_records_in_the_local_store(tmp_path):
    class Table:
        data = RocksStore(tmp_path)
        changelog_topic = type("Topic", (), {"get_topic_name": lambda self: "cc-changelog"})()

    async def scenario() -> None:
        state = WorkerState(CONFIG, {"cc.tickets": Table()})
        engine = state.engine(("cc.tickets", PARTITION))
        for event in centre_traffic():
            engine.apply(event)
        producer = FakeProducer()
        task = asyncio.create_task(state.checkpoint(producer))
        for _ in range(5):
            await asyncio.sleep(0)
        engine.prune()  # while Kafka has not answered: frozen, not spilled
        assert engine.frozen_count and not engine.cold_count
        assert state.spill() == 0
        producer.acknowledge()
        await task
        assert engine.cold_count and not engine.frozen_count
        held = state.entities_family().samples  # cc_entities{where}
        assert held == {("memory",): len(engine._records), ("frozen",): 0,
                        ("disk",): engine.cold_count}

    asyncio.run(scenario())


def rebuilt_from_disk(disk: Disk) -> Engine:
    """A new engine over ``disk``'s store, rebuilt from its records as a new node's is
    (``WorkerState._restoring``): the base record, then the records in slices."""
    engine = Engine(CONFIG, disk.store, partition=PARTITION)
    base = local_base(disk.data, PARTITION)
    if base is not None:
        engine.load_base(base)
    for records in local_slices(disk.data, PARTITION, 500):
        engine.restore(records)
    engine.finish_rebuild()
    return engine


def test_a_rebuild_from_the_local_store_leaves_dated_records_there_and_changes_no_value(
        tmp_path):
    """A new node rebuilding from its RocksDB store counts every record, then leaves those with
    a known expiry (contacts, customers, solved tickets) in the store, cold, as a snapshot
    restore does: only undated ones (open tickets, agents) stay in memory. Its values, and
    those after the rest of the traffic and every event again, are those of an engine that
    keeps every record as objects."""
    disk, never = both(tmp_path)
    traffic = centre_traffic()
    half = len(traffic) // 2
    run_both(traffic[:half], disk, never)
    engine = disk.engine = rebuilt_from_disk(disk)
    cold = disk.cold_records()
    assert {"contact", "customer"} <= {r["kind"] for r in cold.values()}
    assert engine.cold_count == len(cold) and not engine.frozen_count
    # in memory: undated ones, and the feedback the rebuild resolved with what it follows
    feedback = KIND_BY_NAME["feedback"]
    followed = {ref for r in engine._records.values() if r["kind"] == "feedback"
                for ref in feedback.references(r)}
    assert all(engine._due(KIND_BY_NAME[r["kind"]], r, hot=False) is None
               or r["kind"] == "feedback" or key in followed
               for key, r in engine._records.items())
    assert len(engine._records) < engine.cold_count / 4
    assert not any(k in engine._records or k in engine._contributions or k in engine._due_step
                   for k in cold)
    assert not any(key in engine._seen.values() for key in cold)  # their ids let go
    assert {**engine._records, **cold} == never._records
    assert ledgers_equal(engine, never)
    for now in range(engine.stream_us - DAY_US, engine.stream_us + DAY_US, 3 * HOUR_US):
        assert exported(engine, now) == exported(never, now)
    run_both(traffic[half:] + traffic[:3000], disk, never)  # the rest, then duplicates
    assert ledgers_equal(engine, never)
    assert exported(engine, engine.stream_us) == exported(never, never.stream_us)


def test_a_rebuild_while_a_checkpoint_is_in_flight_keeps_the_records_in_memory(tmp_path):
    """The store holds a record only when no checkpoint is in flight (``TableStore.holds``):
    restored then, every record stays in memory, and the values are the same."""
    disk, never = both(tmp_path)
    run_both(centre_traffic(), disk, never)
    disk.in_flight = True
    engine = rebuilt_from_disk(disk)
    assert not engine.cold_count and engine._records == never._records
    assert ledgers_equal(engine, never)
