"""Per-partition engines of one worker process, and their Faust-table stores.

Every (topic, partition) the worker owns gets its own :class:`~streams.core.engine.Engine`.
Its records persist in the topic's Faust table — each changed record once per commit, see
``streams.worker.checkpoint``. Its ledger is written only in an engine snapshot: at a clean
stop or a revoke, and at a checkpoint when a partition has none or many of its records changed
since its last (``streams.worker.snapshots``; every local write after a snapshot is journaled,
``streams.worker.journal``). An engine restored from one, caught up with the records changed
since, keeps its other records on disk until needed; without a valid one (a new node, a
config change) the engine is rebuilt from the recovered table.

**Live clocks.** Live contact ages (waiting, oldest wait, stale) follow the wall clock only
while a partition's feed is live. When a partition is behind — a worker reading a backlog, or
a feed that sends events well after they happened (the simulator fast-forwarding through the
last hour) — the wall clock would age the contacts that have just joined at stream time by
the whole delay (the 19–36-minute oldest waits of a catch-up). So each partition's live
state is shown as of its *feed time*: the wall clock less how far its stream time was behind
the wall clock when the worker last read an event that moved it on (:meth:`WorkerState.
live_clock`; the rule is in docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import orjson

from streams.core.admission import AdmissionView
from streams.core.config import Config
from streams.core.engine import BASE_KEY, Directory, Engine
from streams.core.kpis import all_families
from streams.core.metrics import Family, new_family
from streams.core.pipeline import PipelineStats
from streams.runtime import freeze_long_lived
from streams.worker.checkpoint import (
    ChangelogTable,
    Pending,
    TableStore,
    checkpoint,
    local_base,
    local_slices,
    table_key,
)
from streams.worker.journal import Then
from streams.worker.snapshots import Captured, Snapshots, cold_source, local_offset
from streams.worker.status import status_warning

log = logging.getLogger("ccpulse.worker")

TP = tuple[str, int]  # (base topic name, partition)

SECOND_US = 1_000_000
#: A feed less than this behind the wall clock is live: its ages follow the wall clock (a
#: pipeline's own latency of a few seconds changes nothing).
LIVE_WITHIN_US = 60 * SECOND_US
#: A partition whose stream time has not moved for this long is idle (nothing of it is being
#: read): the freshest delay seen on its topic applies to it too.
IDLE_AFTER_US = 10 * SECOND_US
#: A running worker snapshots a partition's engine at a checkpoint when it has no snapshot
#: yet, or when this many of its records changed since (and :data:`JOURNAL_SHARE` of them):
#: a crash then costs a catch-up of at most about that many records per partition.
JOURNAL_LIMIT = 5_000
JOURNAL_SHARE = 0.05
#: After a snapshot taking t seconds, the next waits ``SNAPSHOT_SPACING × t`` (at least a
#: second): snapshots take at most ~3 % of a worker's time, even while it catches up.
SNAPSHOT_SPACING = 30.0
#: A checkpoint takes snapshots until they have cost this long (at least one): every small
#: engine gets its first snapshot at once, a large one alone.
SNAPSHOT_BUDGET_S = 0.05


class SnapshotUnusable(Exception):
    """A snapshot failed to restore an engine (removed): the engine is rebuilt instead."""


class Feed(NamedTuple):
    """A read that moved a partition's stream time on: when, and how far behind it was."""

    read_us: int  #: wall clock of the read
    delay_us: int  #: wall clock − the partition's stream time right after it (≥ 0)


class ReadLog(dict[TP, int]):
    """The offset of the last message handled per partition (what ``last_offsets`` always
    held) that also tells the state of each read, so that :meth:`WorkerState.note_read`
    sees every message: the Faust app sets an item after handling each one
    (``state.last_offsets[tp] = message.offset``) and needs no other call."""

    def __init__(self, state: WorkerState) -> None:
        super().__init__()
        self._state = state

    def __setitem__(self, tp: TP, offset: int) -> None:
        super().__setitem__(tp, offset)
        self._state.note_read(tp)


class WorkerState:
    """Engines per owned partition, pipeline counts, and the snapshot for ``/metrics``."""

    def __init__(self, config: Config, tables: Mapping[str, ChangelogTable],
                 clock_us: Callable[[], int] | None = None,
                 snapshots: Snapshots | None = None) -> None:
        self.config = config
        #: Engine snapshots in the data directory (streams.worker.snapshots), if kept.
        self.snapshots = snapshots
        #: Partitions whose engine came from a snapshot: their undated records (open tickets,
        #: agents) are read into memory in the background (:meth:`warm`).
        self.warming: set[TP] = set()
        #: How many engines were restored from snapshots, since the worker started, and how
        #: many records changed since their snapshots they were caught up with.
        self.from_snapshots = 0
        self.caught_up = 0
        #: How many engines holding records were rebuilt from them, since the worker started.
        self.rebuilt = 0
        self._checkpointing = asyncio.Lock()
        self.tables = tables  # base topic -> Faust table
        self.pending: dict[str, Pending] = {topic: {} for topic in tables}
        self.engines: dict[TP, Engine] = {}
        #: Partition number -> the directory its engines share (a survey finds the queue of
        #: its contact in the calls/chats/tickets engine of the same number: the topics are
        #: keyed by the same ids and co-partitioned).
        self.directories: dict[int, Directory] = {}
        #: The merged queue admission of the engines this worker owns: the labels of its
        #: ``/metrics``, which retirements follow too (streams.core.admission).
        self.admissions = AdmissionView(config)
        self.stats = PipelineStats()
        #: The wall clock (epoch µs): which windows are current, live ages, the future limit.
        self.clock_us = clock_us or (lambda: time.time_ns() // 1000)
        self.last_offsets: dict[TP, int] = ReadLog(self)
        #: Partition -> its last read that moved its stream time on (:meth:`live_clock`).
        self.feeds: dict[TP, Feed] = {}
        #: Topic -> the most recent of those reads among its partitions.
        self.topic_feeds: dict[str, Feed] = {}
        self._stream_at_read: dict[TP, int] = {}
        #: Monotonic time before which no snapshot is taken at a checkpoint.
        self._snapshot_not_before = 0.0
        self._topic_of_store: dict[int, str] = {}

    def engine(self, tp: TP) -> Engine:
        """The engine of ``tp``, rebuilt from its recovered table the first time it is used."""
        engine = self.engines.get(tp)
        if engine is None:
            self.rebuild(tp[0], {tp[1]})
            engine = self.engines[tp]
        return engine

    def rebuild(self, topic: str, partitions: set[int]) -> None:
        """Build the engines of ``partitions`` of ``topic`` from its table, at once."""
        for p in partitions:
            tp = (topic, p)
            old = self.engines.get(tp)
            if old is not None:
                old.directory.detach(old)
                self._forget(tp)
            engine = self._new_engine(tp)
            try:
                for _ in self._restoring(tp, engine, slice_records=10_000):
                    pass
            except SnapshotUnusable:  # removed: rebuilt from the records
                engine.directory.detach(engine)
                engine = self._new_engine(tp)
                for _ in self._restoring(tp, engine, slice_records=10_000):
                    pass
            self._install(tp, engine)
        if self.snapshots is not None:
            self.snapshots.report()

    async def build(self, wanted: Callable[[], set[TP]], slice_records: int = 500) -> int:
        """Build the engine of every partition in ``wanted()`` that has none, restoring its
        records a slice at a time and returning to the event loop between slices, so a large
        partition (a million records take tens of seconds) never stalls the worker's web
        server, heartbeats or commits. A partition no longer wanted, or built meanwhile, is
        abandoned. Returns how many engines were built."""
        built = 0
        for tp in sorted(wanted()):
            if tp in self.engines:
                continue
            engine = self._new_engine(tp)
            try:
                for _ in self._restoring(tp, engine, slice_records):
                    # The restored records are long-lived: out of the collector's sight, or
                    # each full collection re-scans all of them — pauses of seconds that
                    # outlast the group's session timeout with a million records
                    # (streams.runtime).
                    freeze_long_lived()
                    await asyncio.sleep(0)
                    if tp in self.engines or tp not in wanted():
                        break
            except SnapshotUnusable:  # removed: the next pass rebuilds it from its records
                engine.directory.detach(engine)
                continue
            if tp in self.engines or tp not in wanted():
                engine.directory.detach(engine)
                continue
            self._install(tp, engine)
            built += 1
        freeze_long_lived()  # an engine from a snapshot is built in no slices
        if self.snapshots is not None:
            self.snapshots.report()
        return built

    def _new_engine(self, tp: TP) -> Engine:
        topic, p = tp
        store = (TableStore(self.pending[topic], p, self.tables[topic].data,
                            self._checkpointing.locked) if topic in self.tables else None)
        return Engine(self.config, store, partition=p,
                      directory=self.directories.setdefault(p, Directory()),
                      admission_view=self.admissions)

    def _restoring(self, tp: TP, engine: Engine, slice_records: int) -> Iterator[None]:
        """Restore ``tp``'s records from its table into ``engine``, yielding after each slice."""
        table = self.tables.get(tp[0])
        if table is None:
            return
        if self.snapshots is not None:  # a store without an offset (memory://) has none
            taken = self.snapshots.take(tp, local_offset(table.data, tp[1]))
            if taken is not None:
                read = cold_source(table.data, tp[1], table_key)
                try:
                    engine.load_snapshot(taken.state, read)
                    if taken.changed:
                        engine.catch_up(self._changes(tp, taken.changed, read))
                except (ValueError, LookupError) as exc:  # a fault: never a wrong value
                    status_warning(f"snapshot of {tp[0]}-{tp[1]} not used, rebuilding from "
                                   f"the records (it failed to restore the engine: {exc})")
                    self.snapshots.discard(tp)
                    raise SnapshotUnusable(str(exc)) from exc
                self.warming.add(tp)
                self.from_snapshots += 1
                self.caught_up += len(taken.changed)
                log.info("engine of %s-%d restored from its snapshot and %d records changed "
                         "since: %d records stay on disk until needed", tp[0], tp[1],
                         len(taken.changed), engine.entity_count)
                return
        base = local_base(table.data, tp[1])
        if base is not None:
            engine.load_base(base)
        for records in local_slices(table.data, tp[1], slice_records):
            engine.restore(records)
            yield

    def _snapshot_rebuilt(self, tp: TP, engine: Engine) -> None:
        """Snapshot an engine just rebuilt from its records (no event applied since, so it
        holds exactly what its store holds): a crash from now on restarts from it instead of
        rebuilding again. Costs ~1.5 µs a record, against ~100 µs for the rebuild. Not when its
        rebuild wrote records (a retirement) that no checkpoint has written yet."""
        self._snapshot_if_stored(tp, engine)

    def _snapshot_if_stored(self, tp: TP, engine: Engine) -> bool | None:
        """Write ``engine``'s snapshot if every record of it is in its local store: True when
        written, False when records are not yet written (dirty), None when there is nothing
        to snapshot against (no snapshots kept, no table, a store that covers no offset)."""
        table = self.tables.get(tp[0])
        if self.snapshots is None or table is None:
            return None
        if any(p == tp[1] for p, _ in self.pending[tp[0]].values()):
            return False  # records not yet written: the store is behind the engine
        offset = local_offset(table.data, tp[1])
        if offset is None:
            return None  # nothing ever written: its engine is empty, rebuilt in no time
        self.snapshots.write(tp, engine, offset)
        return True

    @staticmethod
    def _changes(tp: TP, changed: dict[bytes, Then],
                 read: Callable[[str], dict[str, Any] | None],
                 ) -> list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]]:
        """The journal's keys of ``tp`` as ``Engine.catch_up`` takes them: (engine key,
        record at the snapshot, record now)."""
        base = table_key(BASE_KEY, tp[1])
        out = []
        for raw_key, then in changed.items():
            key = BASE_KEY if raw_key == base else raw_key.decode()
            out.append((key, None if then is None else orjson.loads(then), read(key)))
        return out

    def _install(self, tp: TP, engine: Engine) -> None:
        engine.finish_rebuild()
        self.engines[tp] = engine
        if tp not in self.warming:  # rebuilt from its records
            self.rebuilt += 1
            if engine.entity_count:
                self._snapshot_rebuilt(tp, engine)  # a crash from now on restarts from it
        self.admissions.ledgers.append(engine.ledger)
        # Restored state is not a read: the partition's feed is known from its next one.
        self.feeds.pop(tp, None)
        self._stream_at_read[tp] = engine.stream_us

    def ensure(self, active: Iterable[TP]) -> None:
        missing: dict[str, set[int]] = {}
        for tp in active:
            if tp not in self.engines:
                missing.setdefault(tp[0], set()).add(tp[1])
        for topic, parts in missing.items():
            self.rebuild(topic, parts)

    def drop(self, tps: Iterable[TP], unwritten: bool = False) -> None:
        """Forget engines of partitions no longer actively owned, after a checkpoint wrote
        their records, and the offsets last read from them (whoever owns one next resumes at
        the group's commit); with ``unwritten``, their records not yet written are forgotten
        too (engines that must write nothing: see ``Pipeline._on_assigned``)."""
        tps = list(tps)
        if unwritten:
            for topic, part in tps:
                pending = self.pending.get(topic)
                if pending:
                    for key in [k for k, (p, _) in pending.items() if p == part]:
                        del pending[key]
        for tp in tps:
            self.last_offsets.pop(tp, None)
            self.feeds.pop(tp, None)
            self._stream_at_read.pop(tp, None)
            engine = self._forget(tp)
            if engine is not None:
                engine.directory.detach(engine)

    async def warm(self, slice_records: int = 500) -> None:
        """Read the cold undated records (open tickets, agents) of engines restored from a
        snapshot into memory, a slice at a time between which the event loop runs, so the
        first prune does not read them all at once."""
        for tp in sorted(self.warming):
            engine = self.engines.get(tp)
            while engine is not None and self.engines.get(tp) is engine:
                if not engine.warm_undated(slice_records):
                    break
                await asyncio.sleep(0)
            self.warming.discard(tp)
        freeze_long_lived()

    def write_snapshots(self, tps: Iterable[TP] | None = None) -> int:
        """Write the snapshot of each engine in ``tps`` (default: all) whose records are all
        in its local store (none dirty), with the changelog offset the store covers: call
        right after a checkpoint, with no event applied and no checkpoint in flight since
        (:meth:`checkpoint_and_snapshot`). Returns how many; says on standard output how many
        were skipped and why."""
        if self.snapshots is None:
            return 0
        written = 0
        dirty: list[TP] = []
        for tp in sorted(self.engines if tps is None else tps):
            engine = self.engines.get(tp)
            if engine is None:
                continue
            done = self._snapshot_if_stored(tp, engine)
            if done is False:
                dirty.append(tp)
            written += done is True
        if dirty:
            status_warning(f"no snapshot of {len(dirty)} engines with records not yet written "
                           f"({', '.join(f'{t}-{p}' for t, p in dirty[:4])}…)")
        return written

    def build_counts(self) -> dict[str, int]:
        """How the engines were built since the worker started (for ``/readyz``)."""
        return {"restored_from_snapshots": self.from_snapshots,
                "records_caught_up": self.caught_up,
                "rebuilt_from_records": self.rebuilt}

    def _forget(self, tp: TP) -> Engine | None:
        self.warming.discard(tp)
        engine = self.engines.pop(tp, None)
        if engine is not None:
            self.admissions.ledgers.remove(engine.ledger)
        return engine

    async def checkpoint(self, producer: Any) -> int:
        """Write every dirty record to its changelog, then to its table's local store (called
        before a commit; see ``streams.worker.checkpoint``). Returns how many. One at a time:
        a checkpoint started while another is in flight waits for it, so the local store never
        takes an older write after a newer one, and "nothing dirty" means "all written"."""
        async with self._checkpointing:
            # Taken before the checkpoint captures the dirty records (no await in between):
            # each engine holds then exactly what its store holds once they are written.
            captured: list[tuple[TP, Captured]] = []
            spent = 0.0
            for tp in self._snapshots_due():
                captured.append((tp, Snapshots.capture(self.engines[tp])))
                spent += captured[-1][1].seconds
                if spent >= SNAPSHOT_BUDGET_S:
                    break
            written = await checkpoint(self.tables, self.pending, producer,
                                       before=self.journal_write)
            if captured:
                self._write_captured(captured)
        self.spill()  # no await since the lock was let go: no checkpoint in flight
        return written

    def spill(self) -> int:
        """Leave in the local stores the idle records frozen while a write of theirs was
        pending and now written (``Engine.spill``); returns how many. Only between
        checkpoints (a record taken by one in flight is not in the local store yet)."""
        if self._checkpointing.locked():
            return 0
        return sum(engine.spill() for engine in self.engines.values())

    def _snapshots_due(self) -> list[TP]:
        """The partitions whose engines to snapshot at this checkpoint, most needed first:
        those with no snapshot yet (the largest first), then those with more records changed
        since their snapshot than :data:`JOURNAL_LIMIT` (and :data:`JOURNAL_SHARE` of their
        records), the most changed first; none while the last snapshots' spacing lasts
        (:data:`SNAPSHOT_SPACING`)."""
        snapshots = self.snapshots
        if snapshots is None or time.monotonic() < self._snapshot_not_before:
            return []
        due: list[tuple[int, int, TP]] = []
        for tp, engine in self.engines.items():
            table = self.tables.get(tp[0])
            if table is None or not hasattr(table.data, "_db_for_partition"):
                continue  # a memory store: nothing survives a restart to snapshot against
            changed = snapshots.journal_size(tp)
            if changed is None:
                if engine.entity_count:
                    due.append((1, engine.entity_count, tp))
            elif changed >= max(JOURNAL_LIMIT, JOURNAL_SHARE * engine.entity_count):
                due.append((0, changed, tp))
        return [tp for *_, tp in sorted(due, reverse=True)]

    def _write_captured(self, captured: list[tuple[TP, Captured]]) -> None:
        """Write the snapshots captured before the checkpoint that just ended."""
        assert self.snapshots is not None
        started = time.monotonic()
        for tp, snapshot in captured:
            offset = local_offset(self.tables[tp[0]].data, tp[1])
            if offset is not None and tp in self.engines:
                self.snapshots.write_captured(tp, snapshot, offset)
        took = time.monotonic() - started + sum(c.seconds for _, c in captured)
        self._snapshot_not_before = time.monotonic() + max(1.0, SNAPSHOT_SPACING * took)

    def journal_write(self, data: Any, partition: int, writes: list[tuple[bytes, Any]],
                      offset: int | None) -> None:
        """Right before a write to a table's local store (a checkpoint's, or a changelog
        tail recovered into it): journal what the keys hold, if the partition has a
        snapshot (streams.worker.journal)."""
        snapshots = self.snapshots
        if snapshots is None or not snapshots.journals or not hasattr(data,
                                                                       "_db_for_partition"):
            return
        topic = self._topic_of_store.get(id(data))
        if topic is None:
            for name, table in self.tables.items():
                if table.data is data:
                    topic = self._topic_of_store[id(data)] = name
                    break
            else:
                return
        db = data._db_for_partition(partition)
        snapshots.before_write((topic, partition), db.get, [key for key, _ in writes], offset)

    async def checkpoint_and_snapshot(self, producer: Any, tps: Iterable[TP] | None = None,
                                      ) -> tuple[int, int]:
        """A checkpoint, then the snapshots of the engines of ``tps`` (default: all), with no
        other checkpoint in between: each snapshot is of exactly what its local store holds.
        Returns (records written, snapshots written)."""
        async with self._checkpointing:
            written = await checkpoint(self.tables, self.pending, producer,
                                       before=self.journal_write)
            snapshots = self.write_snapshots(tps)
        self.spill()
        return written, snapshots

    # ------------------------------------------------------------------ live clocks
    def note_read(self, tp: TP) -> None:
        """A message of ``tp`` has been handled. When it moved the partition's stream time
        on, note how far that stream time is behind the wall clock; a message that did not
        (invalid, a duplicate, an older event) says nothing about the feed's delay."""
        engine = self.engines.get(tp)
        if engine is None:
            return
        stream = engine.stream_us
        if stream <= self._stream_at_read.get(tp, 0):
            return
        self._stream_at_read[tp] = stream
        now = self.clock_us()
        feed = Feed(now, max(0, now - stream))
        self.feeds[tp] = feed
        self.topic_feeds[tp[0]] = feed

    def live_clock(self, tp: TP, now_us: int | None = None) -> int:
        """The instant the live state of ``tp`` is shown as of: at most the wall clock.

        The partition's *feed delay* is how far its stream time was behind the wall clock
        when a read last moved it on; when that read is more than :data:`IDLE_AFTER_US` old
        (or there was none since the engine was built), the smaller of that and the delay at
        the most recent such read of its topic — a quiet partition of a live topic is live,
        and one whose backlog ended on an old event is not held back by it once its topic
        reads fresh events. A delay under :data:`LIVE_WITHIN_US` counts as none: the wall
        clock. Otherwise the wall clock less the delay, never before the partition's stream
        time (its state is complete up to there).
        """
        now = self.clock_us() if now_us is None else now_us
        own = self.feeds.get(tp)
        if own is not None and now - own.read_us <= IDLE_AFTER_US:
            delay = own.delay_us
        else:
            seen = [f.delay_us for f in (own, self.topic_feeds.get(tp[0])) if f is not None]
            delay = min(seen, default=0)
        if delay < LIVE_WITHIN_US:
            return now
        engine = self.engines.get(tp)
        stream = engine.stream_us if engine is not None else 0
        return min(now, max(stream, now - delay))

    def families(self, active: Iterable[TP]) -> list[Family]:
        now = self.clock_us()
        tps = [tp for tp in sorted(set(active)) if tp in self.engines]
        ledgers = [self.engines[tp].ledger for tp in tps]
        live = [self.live_clock(tp, now) for tp in tps]
        return [*all_families(self.config, ledgers, now, live), *self.stats.families(),
                self.entities_family()]

    def entities_family(self) -> Family:
        """``cc_entities``: the entities of every engine of this worker by where their record
        is (``Engine.held``)."""
        family = new_family("cc_entities")
        totals = {"memory": 0, "frozen": 0, "disk": 0}
        for engine in self.engines.values():
            for where, n in engine.held().items():
                totals[where] += n
        family.samples = {(where,): n for where, n in totals.items()}
        return family
