"""The engine: applies validated events to entity records and keeps the ledger in step.

One engine holds the state of one Kafka partition (the worker runs one per partition it owns)
or of a whole event file (the replay). It is the only place that mutates state, and it does so
in one way: an event changes one entity's record (the entity's kind says how, see
``streams.core.entities.kinds``); the entity's contributions are recomputed from the record;
the ledger swaps the old contributions for the new ones. Because nothing else is ever
incremented:

* a duplicate (same ``event_id``) changes nothing and is reported as such;
* events may arrive in any order: each kind keeps its record in a deterministic order;
* a restarted worker rebuilds the exact ledger from the persisted records (:meth:`rebuild`),
  or restores it from a snapshot taken at a clean stop, its records read from the store only
  when needed (:meth:`snapshot`, :meth:`load_snapshot`).

**Stream time** (contract §2) is the newest event time applied. It alone decides retention and
lateness, so a worker running live, a worker catching up on a backlog and the replay keep and
drop exactly the same state. An entity past its retention is gone at once, whether or not a
:meth:`prune` pass has run: the next event for it starts a fresh record. An event too old for
its kind's retention is *late*: it changes nothing. The engine never reads a clock.

Records are plain values handed to a :class:`RecordStore` (a dict for the replay, a Faust
table with a changelog for the worker). What retired entities added to the since-the-start
counters is kept in a small *base* record, with the stream time it was written at.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any, Protocol, cast

from streams.core.admission import OTHER_QUEUE, AdmissionView, QueueLabels
from streams.core.cold_keys import ColdKeys
from streams.core.config import Config
from streams.core.contributions import (
    STALE,
    AgentNow,
    Contribution,
    Count,
    Observe,
    TicketNow,
    Waiting,
)
from streams.core.entities.customer import PREFIX as CUSTOMER_PREFIX
from streams.core.entities.kinds import (
    KIND_BY_NAME,
    KIND_OF_FAMILY,
    EntityKind,
    Record,
    kind_of_legacy_record,
)
from streams.core.events import Event
from streams.core.frozen import Freezer
from streams.core.ledger import Ledger
from streams.core.outcome import Outcome
from streams.core.timestamps import DAY_US, HOUR_US

# The settings below are not ``Final`` on purpose: tests patch them, and the engine compiled
# by mypyc (streams.compiled) reads a module global that is not ``Final`` from the module at
# each use, where it would inline a ``Final`` one.
BASE_KEY = "__base__"
BASE_VERSION = 2
#: Window buckets older than this behind stream time are dropped (no window shows them).
WINDOW_KEEP_US = 3 * DAY_US
#: Minute buckets older than this behind stream time are dropped. They serve only the Erlang
#: loads' 30 whole minutes before the engine clock's current minute, and no valid event is
#: more than 5 minutes ahead of the engine clock that applied it (SPEC §1.1), so at that clock
#: or a later one the window starts after stream time − 36 minutes; the rest is room for a
#: clock behind the one that applied the events (another worker's after a rebalance, a clock
#: stepped back): 84 minutes behind that clock, 89 behind stream time.
MINUTE_KEEP_US = 2 * HOUR_US
#: The replay prunes whenever stream time has moved on this much (memory bounded by state).
PRUNE_STEP_US = HOUR_US
#: Stale entries the prune index keeps (beyond one per key filed) before it is compacted.
STALE_SLACK = 4096
#: Keys one prune of :meth:`Engine.maybe_prune` visits, about: whole prune steps, oldest
#: first, until one takes it to this many (at least one step). A jump of stream time (a
#: topic quiet for hours, a backlog that ends long before the live stream starts) makes
#: hours of entities due at once, and retiring ~3,700 contacts held the event loop for
#: ~100 ms an engine. The rest is pruned in further chunks. At 512 keys a chunk held it
#: ~15-45 ms, one every 16 events, and the first live second after a backlog waited on them
#: (freshness p99 over 250 ms, docs/performance.md); at 128, ~5-15 ms.
PRUNE_BUDGET = 128
#: Events applied between two chunks of a prune that has more due.
PRUNE_AGAIN_AFTER = 16
#: Undated keys (agents, open tickets: no expiry to file them by) a chunk of
#: :meth:`Engine.maybe_prune` visits, of the round each prune step starts (before: all of
#: them in the chunk that finished the prune). An agent's first trim after a catch-up drops
#: hours of spans (~2-3 ms): all of an engine's agents at once held the event loop 40-85 ms.
UNDATED_SLICE = 16
#: The layout of :meth:`Engine.snapshot`.
SNAPSHOT_FORMAT = 2


#: Kinds with a fast path for an event appended at the end (``kind.appended``).
_APPENDABLE = frozenset(k.name for k in KIND_BY_NAME.values() if hasattr(k, "appended"))
#: Kinds whose retention is a stream time known from the record (``kind.expires_us``).
_DUE_TRACKED = frozenset(k.name for k in KIND_BY_NAME.values() if hasattr(k, "expires_us"))
#: Kinds whose counters and histograms have the queue as their first label (customers' have
#: none).
_NAMING_QUEUES = frozenset(k.name for k in KIND_BY_NAME.values() if k.name != "customer")
#: Kinds whose records may take their queue from another entity (``kind.references``).
_REFERRING = frozenset(k.name for k in KIND_BY_NAME.values() if hasattr(k, "references"))
#: Kinds whose records release part of their state before they expire (``kind.trim_due_us``,
#: the stream time after which ``kind.trim`` has something to drop): a prune visits such an
#: entity at the earlier of that time and its expiry.
_TRIM_DUE = frozenset(k.name for k in KIND_BY_NAME.values() if hasattr(k, "trim_due_us"))
#: Kinds whose records go idle (``kind.idle_due_us``: a ticket solved a day ago, a customer
#: without an event for a day): a prune then *freezes* the entity (:meth:`Engine._freeze`):
#: its record is kept as bytes (streams.core.frozen), its contributions and event ids are
#: dropped, and all three come back as a restarted worker reads them from its store when it
#: next changes, is referenced, trimmed or retires (:meth:`Engine._record`). Contributions are
#: a function of the record and the config, so no value changes; memory then grows with the
#: active entities, not with the retention windows. Only a dated entity freezes (its prune
#: visits are then its expiry and its trims): an undated one (an open ticket) is visited by
#: every prune.
_FREEZING = frozenset(k.name for k in KIND_BY_NAME.values() if hasattr(k, "idle_due_us"))


#: Event type -> the kind keeping it (None: untracked), filled as types are seen (an event's
#: type is validated before it reaches the engine, so the types are few).
_KIND_OF_TYPE: dict[str, EntityKind | None] = {}


def _swap(contributions: list[Contribution], removed: list[Contribution],
          added: list[Contribution]) -> None:
    """Take one of each of ``removed`` (all of which ``contributions`` holds) out of
    ``contributions`` and append ``added``, in place: an agent's list holds two days of
    spans, so copying it would cost more than the change."""
    if removed:
        n_kept = len(contributions) - len(removed)
        if contributions[n_kept:] == removed:  # the usual case: the tail
            del contributions[n_kept:]
        else:
            for contribution in removed:
                contributions.remove(contribution)
    contributions.extend(added)


class RecordStore(Protocol):
    """Where records persist. The engine keeps its own decoded copy; the store is durability."""

    def put(self, key: str, record: dict[str, Any]) -> None: ...

    def delete(self, key: str) -> None: ...


class SpillStore(RecordStore, Protocol):
    """A store an engine can leave idle records in (the worker's RocksDB tables): it reads a
    record back as persisted, and tells whether it holds a key's latest put yet."""

    #: Whether records may be left here (a store in memory would hold them larger).
    spills: bool

    def holds(self, key: str) -> bool:
        """Whether :meth:`get` gives the record last put for ``key`` (no write pending)."""
        ...

    def get(self, key: str) -> dict[str, Any] | None:
        """The persisted record of ``key`` (JSON-decoded), or None."""
        ...


class NoStore:
    """No durability: the replay and the backfill run from their files again, so they keep
    no copy of the records (the engine holds them, a frozen one as bytes)."""

    def put(self, key: str, record: dict[str, Any]) -> None:
        pass

    def delete(self, key: str) -> None:
        pass


class MemoryStore:
    """A dict-backed store, for tests: every record put, as put (the objects themselves)."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}

    def put(self, key: str, record: dict[str, Any]) -> None:
        self.data[key] = record

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


class Directory:
    """How a survey or review finds the queue of the contact or ticket it references.

    Calls, chats, tickets and feedback are keyed by the same ids, so they land in the same
    partition number of their topics, which Faust assigns together (co-partitioned topics);
    the worker gives the engines of one partition number one directory, the replay has one
    engine. A feedback record that takes its queue from another entity *watches* that
    entity's key: when the entity changes, the feedback's queue is resolved again, so the
    result does not depend on which of the two arrived first.
    """

    def __init__(self) -> None:
        self.engines: list[Engine] = []
        #: referenced entity key -> {feedback key: engine holding the feedback}
        self.watchers: dict[str, dict[str, Engine]] = {}

    def queue_of(self, refs: Iterable[str], at_us: int) -> str | None:
        """The queue at ``at_us`` of the first referenced entity that is kept and names one."""
        for ref in refs:
            for engine in self.engines:
                queue = engine.feedback_queue(ref, at_us)
                if queue is not None:
                    return queue
        return None

    def watch(self, refs: Iterable[str], key: str, engine: Engine) -> None:
        for ref in refs:
            self.watchers.setdefault(ref, {})[key] = engine

    def unwatch(self, refs: Iterable[str], key: str) -> None:
        for ref in refs:
            watching = self.watchers.get(ref)
            if watching is not None:
                watching.pop(key, None)
                if not watching:
                    del self.watchers[ref]

    def changed(self, ref: str) -> None:
        for key, engine in list(self.watchers.get(ref, {}).items()):
            engine.resolve_feedback(key)

    def detach(self, engine: Engine) -> None:
        """Forget an engine whose partition this worker no longer owns."""
        if engine in self.engines:
            self.engines.remove(engine)
        for ref in list(self.watchers):
            watching = self.watchers[ref]
            for key in [k for k, e in watching.items() if e is engine]:
                del watching[key]
            if not watching:
                del self.watchers[ref]


class Engine:
    """State of one partition (or of one replay): records, contributions, ledger."""

    def __init__(self, config: Config, store: RecordStore | None = None, partition: int = 0,
                 directory: Directory | None = None,
                 admission_view: AdmissionView | None = None, *, freezes: bool = True):
        """``freezes``: whether idle entities are frozen (:data:`_FREEZING`); False keeps every
        record as objects (the tests compare both). A ``store`` that ``spills``
        (:class:`SpillStore`: the worker's local RocksDB) keeps the idle ones instead: their
        records leave memory once it holds them (:meth:`spill`), read back when needed."""
        self.config = config
        self.partition = partition
        self.store: RecordStore = store if store is not None else MemoryStore()
        #: Where idle records go when the store holds them (None: frozen as bytes in memory).
        self._spill_store: SpillStore | None = (
            store if freezes and getattr(store, "spills", False) else None)  # type: ignore
        self.directory = directory if directory is not None else Directory()
        self.directory.engines.append(self)
        self.ledger = Ledger(config)
        #: The queue labels retirements follow: the merged admission of the engines whose
        #: KPIs are shown together (a worker's partitions; by default this engine alone). The
        #: shell adds this engine's ledger to a shared view once it is built.
        self.admission_view = (admission_view if admission_view is not None
                               else AdmissionView(config, [self.ledger]))
        self._base = Ledger(config)  # counters/histograms of retired entities
        #: Newest event time applied (epoch µs); 0 before any event.
        self.stream_us = 0
        self._watermark_us = 0  # the watermark the last base write carried
        #: Every entity expired at this stream time is folded into the base, and every entity
        #: folded expired before it: the watermark a base write carries (:meth:`_write_base`).
        self._folded_us = 0
        self._legacy_watermark_ms = 0  # format-1 base records: wall-clock cutoff
        self._last_prune_us = 0
        #: The ``before_us`` of the ledger's last window prune (:meth:`prune`).
        self._windows_before_us = -WINDOW_KEEP_US - PRUNE_STEP_US
        #: Events to apply before the next chunk of an unfinished prune; 0: none pending.
        self._prune_again_in = 0
        self._records: dict[str, Record] = {}
        self._contributions: dict[str, list[Contribution]] = {}
        #: Event id -> the key of the kept entity whose record holds it; the rare id held by
        #: the records of several entities (a producer reusing ids) has the others in
        #: ``_shared_ids``. De-duplication is per entity (:meth:`_holds`).
        self._seen: dict[str, str] = {}
        self._shared_ids: dict[str, set[str]] = {}
        #: Entities whose records are only in the store (idle ones spilled, or restored from a
        #: snapshot (:meth:`load_snapshot`) and not read since): read by ``_cold_source`` when
        #: first needed (:meth:`_record`). Their keys and prune steps are kept there, packed
        #: (:class:`~streams.core.cold_keys.ColdKeys`), not in ``_due_step``; an undated one
        #: is in ``_undated`` too.
        self._cold = ColdKeys()
        self._cold_source: Callable[[str], dict[str, Any] | None] | None = (
            None if self._spill_store is None else self._spill_store.get)
        self._cold_undated: list[str] = []
        #: Idle entities (:data:`_FREEZING`): their records as :class:`~streams.core.frozen.Freezer`
        #: gives them, brought back by :meth:`_record`.
        self._frozen: dict[str, bytes] = {}
        self._freezer = Freezer()
        self._freezes = freezes
        #: What :meth:`prune` visits. Entities of kinds with ``expires_us``, by the prune step
        #: their retention ends in: key -> step (the truth), and step -> the keys filed there,
        #: in a list that also keeps keys filed elsewhere since (:meth:`_untrack` leaves them,
        #: :data:`_stale` counts them, and a prune or :meth:`_compact_index` drops them): an
        #: entry of a list costs 8 bytes, one of a set ~40, and a set never shrinks. One int
        #: object per step (``_steps``), not one per key. The others, in an ordered set.
        self._due_keys: dict[int, list[str]] = {}
        self._due_step: dict[str, int] = {}
        self._steps: dict[int, int] = {}
        self._stale = 0
        self._undated: dict[str, None] = {}
        #: The undated keys a chunked prune has still to visit this round (last first).
        self._undated_round: list[str] = []

    # ------------------------------------------------------------------ events
    def apply(self, event: Event) -> Outcome:
        kind = _KIND_OF_TYPE.get(event.type)
        if kind is None:
            kind = _KIND_OF_TYPE[event.type] = KIND_OF_FAMILY.get(event.type.partition(".")[0])
            if kind is None:
                return Outcome.UNTRACKED
        key = kind.key(event)
        record = self._record(key)
        if self._holds(event.event_id, key):
            return Outcome.DUPLICATE
        at = event.occurred_us
        if at > self.stream_us:
            self.stream_us = at
        stream = self.stream_us
        if record is not None and kind.expired(record, stream):
            self._retire(key, kind, record)
            record = None
        if stream - at > kind.late_after_us and kind.is_late(record, at, stream):
            return Outcome.LATE
        if record is None:
            record = {"kind": kind.name, "v": kind.version, "p": self.partition,
                      **kind.new_record(event)}
            self._records[key] = record
        # A kind may take an event in and say it adds nothing, and why ("duplicate" of state it
        # folded, or "late"): a customer's copy of a folded event (streams.core.entities.customer).
        ignored = kind.add(record, event)
        self._track(key, kind, record)
        if ignored is None:
            self._hold(event.event_id, key)
        first_seen = self.ledger.first_seen
        for queue in kind.queues_of(event):
            seen = first_seen.get(queue)
            if seen is None or at < seen:
                self.ledger.admission.see(queue, at)
        if kind.name in _REFERRING:
            refs = kind.references(record)  # type: ignore[attr-defined]
            record["rq"] = self.directory.queue_of(refs, at) if refs else None
            self.directory.watch(refs, key, self)
        self._update(key, kind, record, event)
        self.store.put(key, record)
        if key in self.directory.watchers:
            self.directory.changed(key)
        return Outcome.APPLIED if ignored is None else Outcome(ignored)

    # ------------------------------------------------------------------ references
    def feedback_queue(self, key: str, at_us: int) -> str | None:
        """The queue a survey or review at ``at_us`` of entity ``key`` takes, if this engine
        keeps it."""
        record = self._record(key)
        if record is None:
            return None
        kind = KIND_BY_NAME[record["kind"]]
        if kind.expired(record, self.stream_us):
            return None
        queue_of = getattr(kind, "feedback_queue", None)
        return queue_of(record, at_us) if queue_of is not None else None

    def resolve_feedback(self, key: str) -> None:
        """Resolve again the queue of feedback ``key`` (a referenced entity changed)."""
        record = self._record(key)
        if record is None:
            return
        kind = KIND_BY_NAME[record["kind"]]
        refs = kind.references(record)  # type: ignore[attr-defined]
        queue = self.directory.queue_of(refs, kind.newest_us(record))
        if queue is None or queue == record.get("rq"):
            return
        record["rq"] = queue
        self._update(key, kind, record)
        self.store.put(key, record)

    def _update(self, key: str, kind: EntityKind, record: Record,
                event: Event | None = None) -> None:
        """Swap the entity's contributions: retract what it no longer adds, add what is new.

        ``event`` is the event just added to ``record``, if any: a kind with an ``appended``
        fast path may then say what it changed without a full recompute. An entity's
        contributions are a multiset to the ledger; a kind may rely on the order it builds
        them in, which both paths keep (an agent's: its timeline's, AgentKind.trimmed).
        """
        old = self._contributions.get(key)
        if old and event is not None and kind.name in _APPENDABLE:
            fast = kind.appended(record, old, event, self.config)  # type: ignore[attr-defined]
            if fast is not None:
                removed, added = fast
                if removed:
                    self.ledger.retract(key, removed)
                    _swap(old, removed, added)
                else:
                    old.extend(added)
                if added:
                    self.ledger.add(key, added)
                return
        new = kind.contributions(record, self.config)
        self._contributions[key] = new
        if not old:
            self.ledger.add(key, new)
            return
        n_old = len(old)
        if len(new) >= n_old and new[:n_old] == old:  # e.g. a chat message: only appended
            if len(new) > n_old:
                self.ledger.add(key, new[n_old:])
            return
        # Contribution types never compare equal to one another (their vocabularies are
        # disjoint, a unit test pins it), so one multiset difference finds the change.
        diff = Counter(old)
        diff.subtract(new)
        for contribution, n in diff.items():
            if n:
                self.ledger.add_one(key, contribution, -n)

    # ------------------------------------------------------------------ retention
    def _retire(self, key: str, kind: EntityKind, record: Record) -> None:
        """Drop one entity past its retention (see :meth:`_fold`), persisted at once: an
        event arrived for it. A prune up to its expiry retires it with every other entity
        expired by then, so that the base written carries a watermark past its expiry and
        no entity expired at that watermark is left out of the base."""
        expires = getattr(kind, "expires_us", None)
        due = expires(record) if expires is not None else None
        self.prune(until_us=self.stream_us if due is None else due + 1)
        if key in self._records:  # not filed where that prune looked: fold it alone
            self._fold(key, kind, self.admission_view.labels())
            self._write_base()  # the prune's limit is past its expiry already
            self.store.delete(key)

    def _fold(self, key: str, kind: EntityKind, label: QueueLabels) -> None:
        """Forget an entity in memory. What it added to the since-the-start counters and
        histograms stays, in the base; a segment still waiting when its contact is dropped
        was stale, and is counted so. Bookings and spans stay in their window buckets, which
        are pruned by age.

        What it added under a queue name that ``label`` (the merged admission) shows as
        ``other`` is kept under ``other``: a flood of queue names leaves no state per name
        once its contacts are gone (streams.core.admission)."""
        record = self._records.pop(key)
        self._untrack(key)
        if kind.name in _REFERRING:
            self.directory.unwatch(kind.references(record), key)  # type: ignore[attr-defined]
        names_queues = kind.name in _NAMING_QUEUES
        contributions = self._contributions.pop(key, None)
        if contributions is None:  # never computed: what the record adds
            contributions = kind.contributions(record, self.config)
        for c in contributions:
            cls = c.__class__
            if cls is Count or cls is Observe:
                total = cast("Count | Observe", c)
                labels = total[1]
                if names_queues and labels[0] != OTHER_QUEUE and label(labels[0]) == OTHER_QUEUE:
                    kept = cls(total[0], (OTHER_QUEUE, *labels[1:]), total[2])  # type: ignore
                    self.ledger.add_one(key, c, -1)
                    self.ledger.add_one(key, kept, 1)
                    c = kept
                self._base.add_one(key, c, 1)
            elif cls is Waiting:
                self.ledger.add_one(key, c, -1)
                stale = Count(STALE, (label(c.queue), c.channel), 1)  # type: ignore[union-attr]
                self._base.add_one(key, stale, 1)
                self.ledger.add_one(key, stale, 1)
            elif cls is AgentNow or cls is TicketNow:
                self.ledger.add_one(key, c, -1)
        for event_id in kind.event_ids(record):
            self._release(event_id, key)

    def _write_base(self) -> None:
        """Persist the base record; written before the deletes it accounts for. Its
        watermark (``wm``) is :attr:`_folded_us`: a restore skips the stored records expired
        at it as already counted by the base (:meth:`restore`), so it must be past the
        expiry of every entity folded and before that of every entity not folded yet."""
        self._watermark_us = self._folded_us
        self.store.put(BASE_KEY, {"kind": "base", "v": BASE_VERSION, "p": self.partition,
                                  "wm": self._folded_us, "fs": dict(self.ledger.first_seen),
                                  **self._base.export_totals()})

    def prune(self, budget: int | None = None, until_us: int | None = None,
              continuing: bool = False) -> int:
        """Apply retention at stream time to every entity; returns how many were dropped.

        Results never depend on when this runs (an expired entity is already gone for
        :meth:`apply`, and contributes nothing a KPI can show): it only frees memory. Only the
        entities that may be due are visited: those whose retention ends by the current prune
        step, and those of kinds without ``expires_us``.

        With a ``budget`` (keys), only the oldest due prune steps are visited, whole, up to
        about that many keys (at least one step), and the next :data:`UNDATED_SLICE` keys of
        a round of the undated ones (no expiry to file them by: agents, open tickets), which
        a prune that is not ``continuing`` starts when the last round is done; if more are
        due, :meth:`maybe_prune` goes on after :data:`PRUNE_AGAIN_AFTER` more events.

        Retires only the entities expired at the *limit*: stream time, or the end of the last
        prune step visited when a budget stops the prune before the current step, or
        ``until_us`` (a retirement's prune: :meth:`_retire`) when earlier. Every entity
        expired at the limit is then folded into the base (:attr:`_folded_us`), which is
        what the base's watermark promises a restore.
        """
        stream = self.stream_us
        until = stream if until_us is None else min(until_us, stream)
        step = until // PRUNE_STEP_US
        due_step = self._due_step
        cold = self._cold
        passed = sorted({s for s in self._due_keys if s <= step}
                        | {s for s in cold.steps() if s <= step})
        finished = True
        if budget is not None:
            taken = 0
            for n, s in enumerate(passed):
                if n and taken >= budget:
                    passed, finished = passed[:n], False
                    break
                taken += len(self._due_keys.get(s, ())) + cold.filed_at(s)
        limit = until if finished else min(until, (passed[-1] + 1) * PRUNE_STEP_US)
        if until_us is None:
            self._last_prune_us = stream
            self._prune_again_in = 0 if finished else PRUNE_AGAIN_AFTER
        due = sorted({key for s in passed for key in self._due_keys.get(s, ())
                      if due_step.get(key) == s}.union(*(cold.take(s) for s in passed)))
        undated: Iterable[str] = ()
        if until_us is None and budget is None:  # everything: every undated key
            undated = list(self._undated)
            self._undated_round = []
        elif until_us is None:  # a chunk: the next slice of this prune's round
            if not self._undated_round and not continuing:
                self._undated_round = list(self._undated)
            round_ = self._undated_round
            sliced = round_[-UNDATED_SLICE:]
            del round_[-UNDATED_SLICE:]
            undated = [key for key in sliced if key in self._undated]  # not gone since
            if round_:
                self._prune_again_in = PRUNE_AGAIN_AFTER
        expired = []
        for key in chain(due, undated):
            record = self._record(key)
            assert record is not None, key
            kind = KIND_BY_NAME[record["kind"]]
            if kind.expired(record, limit):
                expired.append((key, kind))
                continue
            if limit < stream and kind.expired(record, stream):
                # filed early (a trim, going idle) and expired after the limit: filed again
                # at its expiry, retired by the chunk that reaches it (left where it was, a
                # step this chunk visited, the next chunk would visit it again, and so on)
                self._file(key, kind.expires_us(record) // PRUNE_STEP_US)  # type: ignore
                continue
            dropped = kind.trim(record, stream)
            if dropped:
                self._trimmed(key, kind, record, dropped)
            if kind.name in _TRIM_DUE:
                self._track(key, kind, record)  # filed by its next trim or its expiry
            # frozen only after its trim: a customer's record names the ids of events it
            # ignored (``fid``) until a trim releases them, and _bring_in holds every id a
            # record names (a resend of an ignored late event would then be a duplicate)
            idle_us = self._idle_due_us(kind, record)
            if idle_us is not None and stream > idle_us and key in self._due_step:
                self._freeze(key, kind, record)
        label = self.admission_view.labels()
        for key, kind in expired:
            self._fold(key, kind, label)
        self._folded_us = max(self._folded_us, limit)
        if self._fold_base(label) or expired:
            self._write_base()  # one base write covers every retirement, before the deletes
        for key, _ in expired:
            self.store.delete(key)
        self._sweep(passed)
        if (budget is None and until_us is None) or \
                stream - WINDOW_KEEP_US - self._windows_before_us >= PRUNE_STEP_US:
            # A chunk or a retirement prunes the windows once a PRUNE_STEP_US of stream time:
            # chunks come every 16 events while a backlog drains, and each window prune reads
            # every queue's bucket dicts.
            self._prune_windows(stream)
        return len(expired)

    def _prune_windows(self, stream: int) -> None:
        """Forget the ledger's window buckets ``WINDOW_KEEP_US`` and its minute buckets
        ``MINUTE_KEEP_US`` behind ``stream`` (µs)."""
        self._windows_before_us = stream - WINDOW_KEEP_US
        self.ledger.prune_windows(self._windows_before_us, stream - MINUTE_KEEP_US)

    def _sweep(self, steps: Iterable[int]) -> None:
        """Keep in the lists of ``steps`` only the keys still filed there, once each."""
        due_step = self._due_step
        for s in steps:
            keys = self._due_keys.get(s)
            if keys is None:
                continue
            live = [key for key in dict.fromkeys(keys) if due_step.get(key) == s]
            self._stale -= len(keys) - len(live)
            if live:
                self._due_keys[s] = live
            else:
                del self._due_keys[s]
                self._steps.pop(s, None)

    def _compact_index(self) -> None:
        """File every dated key again from ``_due_step``: no stale entry left."""
        self._due_keys = self._filed()
        self._steps = {step: step for step in self._due_step.values()}
        self._stale = 0

    def _fold_base(self, label: QueueLabels) -> int:
        """Move the base's totals under queue names ``label`` shows as ``other`` (names
        admitted when their contacts retired, since displaced by names seen earlier) to
        ``other``, in the base and the ledger alike; returns how many moved. The KPIs do not
        change: such a name is labelled ``other`` already."""
        moved = 0
        stores: tuple[dict[tuple[str, tuple[str, ...]], Any], ...] = (
            self._base.counters, self._base.histograms)
        for store in stores:
            for (metric, labels), value in list(store.items()):
                queue = labels[0] if labels else OTHER_QUEUE
                if (queue == OTHER_QUEUE or metric.startswith(CUSTOMER_PREFIX)
                        or label(queue) != OTHER_QUEUE):
                    continue
                into = (OTHER_QUEUE, *labels[1:])
                self._base.move_totals(metric, labels, into, value)
                self.ledger.move_totals(metric, labels, into, value)
                moved += 1
        return moved

    def _track(self, key: str, kind: EntityKind, record: Record, hot: bool = True) -> None:
        """File the entity where :meth:`prune` will look for it (after each change): at its
        expiry, its next trim, and, ``hot`` (its record held as objects), when it goes idle."""
        self._file(key, self._due(kind, record, hot))

    def _due(self, kind: EntityKind, record: Record, hot: bool) -> int | None:
        """The prune step :meth:`_track` files an entity at (None: undated)."""
        due_us = kind.expires_us(record) if kind.name in _DUE_TRACKED else None  # type: ignore
        if due_us is not None and kind.name in _TRIM_DUE:
            trim_us = kind.trim_due_us(record)  # type: ignore[attr-defined]
            if trim_us is not None and trim_us < due_us:
                due_us = trim_us
        if hot and due_us is not None:
            idle_us = self._idle_due_us(kind, record)
            if idle_us is not None and idle_us < due_us:
                due_us = idle_us
        return None if due_us is None else due_us // PRUNE_STEP_US

    def _file(self, key: str, step: int | None) -> None:
        """File ``key`` in the prune index at ``step`` (None: undated)."""
        old = self._due_step.get(key)
        if step == old:
            if step is None:
                self._undated[key] = None
            return
        self._untrack(key)
        if step is None:
            self._undated[key] = None
        else:
            step = self._steps.setdefault(step, step)
            self._due_step[key] = step
            keys = self._due_keys.get(step)
            if keys is None:
                keys = self._due_keys[step] = []
            keys.append(key)

    def _untrack(self, key: str) -> None:
        if self._due_step.pop(key, None) is not None:
            # left in its step's list until a prune sweeps it, or a compaction
            self._stale += 1
            if self._stale > len(self._due_step) + STALE_SLACK:
                self._compact_index()
        self._undated.pop(key, None)

    def maybe_prune(self) -> int:
        """:meth:`prune` of :data:`PRUNE_BUDGET` keys when stream time has moved
        :data:`PRUNE_STEP_US` since the last one, or when an unfinished prune's next chunk is
        due (:data:`PRUNE_AGAIN_AFTER` events after the last)."""
        if self._prune_again_in:
            self._prune_again_in -= 1
            if not self._prune_again_in:
                return self.prune(PRUNE_BUDGET, continuing=True)
        elif self.stream_us - self._last_prune_us >= PRUNE_STEP_US:
            return self.prune(PRUNE_BUDGET)
        return 0

    def _idle_due_us(self, kind: EntityKind, record: Record) -> int | None:
        """When the entity goes idle and a prune may freeze it (``kind.idle_due_us``); None
        when this engine does not freeze, or its kind never does, or it is not idle-bound."""
        if not self._freezes or kind.name not in _FREEZING:
            return None
        return kind.idle_due_us(record)  # type: ignore[attr-defined,no-any-return]

    def _freeze(self, key: str, kind: EntityKind, record: Record) -> None:
        """Keep an idle entity's record as bytes (:class:`streams.core.frozen.Freezer`), or
        with a spilling store that holds it already, nowhere in memory (cold: read back from
        the store as after a snapshot restore), and drop its contributions (the ledger keeps
        counting them) and the event ids it holds: :meth:`_record` brings all three back as
        they were. Filed for prune by its expiry and trims only."""
        spill_store = self._spill_store
        cold = spill_store is not None and spill_store.holds(key)
        if not cold:  # a write of it still pending: :meth:`spill` moves it once written
            self._frozen[key] = self._freezer.freeze(kind.name, record)
        del self._records[key]
        self._contributions.pop(key, None)
        for event_id in kind.event_ids(record):
            self._release(event_id, key)
        if cold:  # filed in _cold only: dated, as every entity a prune freezes is
            self._untrack(key)
            self._cold.add(key, self._due(kind, record, hot=False))
        else:
            self._track(key, kind, record, hot=False)

    def _leave_memory(self, key: str) -> None:
        """Count frozen ``key``, filed by :meth:`_track`, as cold: a dated one's prune step
        moved from ``_due_step`` to ``_cold``; an undated one stays in ``_undated`` (every
        prune visits those)."""
        step = self._due_step.get(key)
        if step is not None:
            self._untrack(key)  # its entry in _due_keys is stale now
        self._cold.add(key, step)

    def spill(self) -> int:
        """With a spilling store (:class:`SpillStore`), leave there the frozen records it now
        holds (frozen while a write of theirs was pending): the worker calls this after each
        checkpoint. Returns how many left memory. Changes no value."""
        spill_store = self._spill_store
        if spill_store is None or not self._frozen:
            return 0
        held = [key for key in self._frozen if spill_store.holds(key)]
        for key in held:
            del self._frozen[key]
            self._leave_memory(key)
        return len(held)

    def held(self) -> dict[str, int]:
        """How many entities' records are held where: ``memory`` (objects), ``frozen``
        (bytes in memory), ``disk`` (only in the store: :attr:`cold_count`)."""
        return {"memory": len(self._records), "frozen": len(self._frozen),
                "disk": len(self._cold)}

    @property
    def cold_count(self) -> int:
        """How many entities' records are only in the store (spilled, or not yet read after
        a snapshot restore)."""
        return len(self._cold)

    @property
    def frozen_count(self) -> int:
        """How many entities are frozen (:meth:`_freeze`)."""
        return len(self._frozen)

    def kept_records(self) -> dict[str, Record]:
        """Entity key -> record of every entity held in memory, a frozen one as a thawed copy
        (for reading: tools and tests; a change to a copy is not kept). Cold entities (only
        in the store: idle ones spilled, or not yet read after a snapshot restore) are left
        out."""
        out = dict(self._records)
        for key, frozen in self._frozen.items():
            out[key] = self._freezer.thaw(frozen)
        return out

    def thaw_all(self) -> int:
        """Bring every frozen entity back as if an event needed it (:meth:`_record`); returns
        how many. Changes no value; the next prune freezes those still idle."""
        keys = list(self._frozen)
        for key in keys:
            self._record(key)
        return len(keys)

    def contributions_of(self, key: str) -> list[Contribution]:
        """What the kept entity ``key`` adds to the ledger now (computed again if frozen)."""
        if self._record(key) is None:
            raise KeyError(key)
        return self._contributions[key]

    def _trimmed(self, key: str, kind: EntityKind, record: Record, dropped: list[str]) -> None:
        for event_id in dropped:
            self._release(event_id, key)
        trimmed = getattr(kind, "trimmed", None)
        if trimmed is None:
            self._update_full(key, kind, record)
        else:  # the kind tells which contributions the trim dropped
            kept, gone = trimmed(record, self._contributions.get(key, []))
            self.ledger.retract(key, gone)
            self._contributions[key] = kept
        self.store.put(key, record)

    def _update_full(self, key: str, kind: EntityKind, record: Record) -> None:
        """Recompute the entity's contributions and book only the multiset difference: a
        trimmed agent loses a few spans of the thousands its two days hold."""
        old = self._contributions.get(key, [])
        new = kind.contributions(record, self.config)
        diff = Counter(old)
        diff.subtract(new)
        for contribution, n in diff.items():
            if n:
                self.ledger.add_one(key, contribution, -n)
        self._contributions[key] = new

    # ------------------------------------------------------------------ restore
    def rebuild(self, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Restore the whole state from persisted records (after a restart or rebalance)."""
        pending = []
        for key, raw in items:
            if key == BASE_KEY:
                self._load_base(raw)
            else:
                pending.append((key, raw))
        self.restore(pending)
        self.finish_rebuild()

    def restore(self, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Restore persisted entity records, some at a time (a worker restores a large
        partition in slices between which it serves requests): the base record, if any, must
        have been loaded first (:meth:`load_base`), and :meth:`finish_rebuild` called after
        the last slice.

        With a spilling store that holds the record (the worker's RocksDB, which the records
        are read from), an entity with a known expiry is counted and then left there, cold,
        as after a snapshot restore (:meth:`load_snapshot`): read back when an event, a
        reference or its retirement needs it. A new node rebuilding a million contacts held
        each as objects, ~7 GiB at its peak (docs/performance.md). Undated ones (open tickets,
        agents: every prune visits them) stay in memory."""
        spill_store = self._spill_store
        for key, raw in items:
            if raw.get("v", 1) < 2 and raw.get("t", 0) < self._legacy_watermark_ms:
                continue  # already folded into the base before a crash (format 1)
            kind, record = self._decoded(raw)
            if self._watermark_us and kind.expired(record, self._watermark_us):
                continue  # already folded into the base before a crash
            self._records[key] = record
            self._adopt(key, kind, record)
            contributions = kind.contributions(record, self.config)
            self._contributions[key] = contributions
            self.ledger.add(key, contributions)
            if (spill_store is not None and self._due(kind, record, hot=False) is not None
                    and spill_store.holds(key)):
                self._freeze(key, kind, record)  # held by the store: cold, as a spilled one

    def _adopt(self, key: str, kind: EntityKind, record: Record) -> None:
        """Everything but the contributions that a record read from the store brings: its
        place in the prune index, the references it watches (it keeps the queue it had and
        follows later changes), its event ids, the queues it saw, and stream time."""
        self._track(key, kind, record)
        if kind.name in _REFERRING:
            self.directory.watch(kind.references(record), key, self)  # type: ignore
        for event_id in kind.event_ids(record):
            self._hold(event_id, key)
        for queue, at in kind.first_seen(record).items():
            self.ledger.saw_queues((queue,), at)
        newest = kind.newest_us(record)
        if newest > self.stream_us:
            self.stream_us = newest

    def _decoded(self, raw: dict[str, Any]) -> tuple[EntityKind, Record]:
        """A persisted record as this release keeps it in memory, in any stored format."""
        version = raw.get("v", 1)
        kind = KIND_BY_NAME[raw["kind"]] if version >= 2 else kind_of_legacy_record(raw)
        return kind, {"kind": kind.name, "v": kind.version, "p": raw.get("p", self.partition),
                      **kind.restore(raw, version)}

    def load_base(self, raw: dict[str, Any]) -> None:
        """Load the persisted base record (before any :meth:`restore`)."""
        self._load_base(raw)

    def finish_rebuild(self) -> None:
        """Complete a rebuild: prune from the restored stream time, resolve references.

        The windows are pruned at once: the records a rebuild books hold up to two days of
        minutes (a contact's retention), which the minutes' keep would otherwise hold until
        stream time moved on a prune step."""
        self._last_prune_us = self.stream_us
        self._prune_windows(self.stream_us)
        self._resolve_after_rebuild()

    def _resolve_after_rebuild(self) -> None:
        """Engines of one partition number are built one by one (a worker builds each when
        its topic-partition is first needed), so feedback restored here may reference entities
        of engines built before it, and entities restored here may be awaited by feedback of
        engines built before it. Resolve both ways: the result does not depend on the order
        the engines were built in. Every restored feedback record is resolved again, not only
        those without a queue: the tables of one checkpoint reach the changelog one after the
        other, so after a crash a contact may hold a change (a transfer) that the survey
        following it was restored without, and the redelivered event is then a duplicate
        that changes nothing."""
        # The feedback this engine holds, also those restored from a snapshot and still cold
        # (they watch what they reference): a partial checkpoint before a crash can have left
        # any of them behind the entity it follows, whatever the engine was built from.
        mine = {key for keys in self.directory.watchers.values()
                for key, engine in keys.items() if engine is self}
        mine.update(key for key, record in self._records.items()
                    if record["kind"] in _REFERRING)
        for key in sorted(mine):
            self.resolve_feedback(key)
        watchers = self.directory.watchers
        for key in [k for k in watchers
                    if k in self._records or k in self._cold or k in self._frozen]:
            self.directory.changed(key)

    def _load_base(self, raw: dict[str, Any]) -> None:
        if raw.get("v", 1) >= 2:
            self._watermark_us = raw["wm"]
            self._folded_us = max(self._folded_us, raw["wm"])
            self.stream_us = max(self.stream_us, raw["wm"])
            scale = 1
            for queue, at in raw.get("fs", {}).items():
                self.ledger.saw_queues((queue,), at)
        else:  # format 1: wall-clock watermark, histogram sums in milliseconds
            self._legacy_watermark_ms = raw["wm"]
            scale = 1000
        self._base.add_totals(raw, scale)
        self.ledger.add_totals(raw, scale)

    # ------------------------------------------------------------------ de-duplication
    def _holds(self, event_id: str, key: str) -> bool:
        """Whether the kept record of entity ``key`` holds ``event_id`` (a duplicate)."""
        holder = self._seen.get(event_id)
        if holder is None:
            return False
        if holder == key:
            return True
        shared = self._shared_ids.get(event_id)
        return shared is not None and key in shared

    def _hold(self, event_id: str, key: str) -> None:
        holder = self._seen.get(event_id)
        if holder is None:
            self._seen[event_id] = key
        elif holder != key:
            self._shared_ids.setdefault(event_id, set()).add(key)

    def _release(self, event_id: str, key: str) -> None:
        shared = self._shared_ids.get(event_id)
        if self._seen.get(event_id) == key:
            if shared:
                self._seen[event_id] = shared.pop()
                if not shared:
                    del self._shared_ids[event_id]
            else:
                del self._seen[event_id]
        elif shared is not None:
            shared.discard(key)
            if not shared:
                del self._shared_ids[event_id]

    # ------------------------------------------------------------------ snapshots
    def _record(self, key: str) -> Record | None:
        """The kept record of ``key``: thawed first if frozen (:meth:`_freeze`), read from
        the store first if it is still cold."""
        record = self._records.get(key)
        if record is None:
            if self._frozen and key in self._frozen:
                record = self._freezer.thaw(self._frozen.pop(key))
                return self._bring_in(key, KIND_BY_NAME[record["kind"]], record)
            if self._cold and key in self._cold:
                return self._materialize(key)
        return record

    def _materialize(self, key: str) -> Record:
        """Bring a cold entity's record into memory, unchanged since the snapshot
        (:meth:`_bring_in`)."""
        self._cold.discard(key)
        raw = self._cold_source(key) if self._cold_source is not None else None
        if raw is None:
            raise LookupError(f"entity {key!r} of partition {self.partition}, kept in the "
                              "store (a snapshot's or an idle one), is missing from it")
        return self._bring_in(key, *self._decoded(raw))

    def _bring_in(self, key: str, kind: EntityKind, record: Record) -> Record:
        """Keep in memory the record of an entity whose record was not (cold, or frozen) but
        which the ledger, the prune index and the watchers already count: only its record,
        its contributions (to swap at its next change) and its event ids are kept."""
        self._records[key] = record
        for event_id in kind.event_ids(record):
            self._hold(event_id, key)
        self._contributions[key] = kind.contributions(record, self.config)
        # filed again where the prune index has entities in memory (a cold one's step was in
        # ``_cold``), and, a freezing kind, for when it goes idle
        self._track(key, kind, record)
        return record

    def warm_undated(self, limit: int) -> int:
        """Bring up to ``limit`` cold records of kinds without a known expiry (open tickets,
        agents: every prune visits them) into memory; returns how many are still cold. A
        worker does this in the background after a snapshot restore, so its first prune does
        not read them all at once. Changes no value."""
        queue = self._cold_undated
        while limit > 0 and queue:
            key = queue.pop()
            if key in self._cold:
                self._materialize(key)
                limit -= 1
        while queue and queue[-1] not in self._cold:
            queue.pop()
        return len(queue)

    def _filed(self) -> dict[int, list[str]]:
        """Step -> the keys filed there (``_due_keys`` without its stale entries)."""
        filed: dict[int, list[str]] = {}
        for key, step in self._due_step.items():
            filed.setdefault(step, []).append(key)
        return filed

    def snapshot(self) -> dict[str, Any]:
        """The engine's derived state, for :meth:`load_snapshot` after a clean stop: the
        ledger and base, stream time, the prune index and the references this engine's
        feedback watches. Records are not in it: they are in the store. Valid only with the
        store exactly as it is now (the shell checks that by its changelog offset) and the
        same config and core code (``streams.worker.snapshots.fingerprint``)."""
        watching: dict[str, list[str]] = {}
        for ref, keys in self.directory.watchers.items():
            mine = [k for k, e in keys.items() if e is self]
            if mine:
                watching[ref] = mine
        return {
            "format": SNAPSHOT_FORMAT,
            "partition": self.partition,
            "stream_us": self.stream_us,
            "watermark_us": self._watermark_us,
            "folded_us": self._folded_us,
            "legacy_watermark_ms": self._legacy_watermark_ms,
            "last_prune_us": self._last_prune_us,
            "ledger": self.ledger,
            "base": self._base,
            "due_keys": self._filed(),
            "cold_keys": self._cold.packed(),
            "undated": list(self._undated),
            "watching": watching,
        }

    def load_snapshot(self, state: dict[str, Any],
                      cold_source: Callable[[str], dict[str, Any] | None]) -> None:
        """Restore a fresh engine from :meth:`snapshot`: every entity stays cold, read by
        ``cold_source(key)`` (its persisted record, or None) when an event, a prune or a
        reference first needs it. Costs time in the number of entities only to rebuild the
        prune index, not to decode or recompute them. Raises ValueError for another format."""
        if state.get("format") != SNAPSHOT_FORMAT or state.get("partition") != self.partition:
            raise ValueError("not a snapshot of this engine's format and partition")
        if self._records or self._cold or self._frozen:
            raise ValueError("load_snapshot needs a fresh engine")
        ledger: Ledger = state["ledger"]
        ledger.config = self.config
        shown_with = self.admission_view.ledgers  # labels follow the restored admission
        if self.ledger in shown_with:
            shown_with[shown_with.index(self.ledger)] = ledger
        self.ledger = ledger
        self._base = state["base"]
        self._base.config = self.config
        self.stream_us = state["stream_us"]
        self._watermark_us = state["watermark_us"]
        self._folded_us = state.get("folded_us", self._watermark_us)
        self._legacy_watermark_ms = state["legacy_watermark_ms"]
        self._last_prune_us = state["last_prune_us"]
        self._due_step = {}
        self._compact_index()
        cold = self._cold
        for step, keys in state["due_keys"].items():
            cold.add_many(keys, step)
        cold.add_packed(*state["cold_keys"])
        self._undated = dict.fromkeys(state["undated"])
        cold.add_many(list(self._undated), None)
        self._cold_undated = list(self._undated)
        self._cold_source = cold_source
        for ref, keys in state["watching"].items():
            for key in keys:
                self.directory.watch((ref,), key, self)

    def catch_up(self, changes: Iterable[tuple[str, dict[str, Any] | None,
                                              dict[str, Any] | None]]) -> int:
        """Bring an engine just restored by :meth:`load_snapshot` up to the store as it is
        now, when records changed after the snapshot was taken (a worker that crashed after
        its last snapshot, or a partition whose changelog tail was recovered into its local
        store). ``changes`` holds one ``(key, record then, record now)`` per changed key
        (``None``: no record), the base record's key (:data:`BASE_KEY`) included, in any
        order; the cold source passed to :meth:`load_snapshot` must read the store as it is
        now.

        Each changed entity's record at the snapshot is read in, then replaced by its record
        now as an event would replace it (its contributions swapped by difference); one gone
        from the store is retired as :meth:`prune` retired it (its window bookings stay). The
        since-the-start totals then move by the difference between the base now and the base
        the snapshot and those retirements make, so every counter is what a rebuild from the
        store gives, and window bookings are those the live engine had. Costs time in the
        number of changed keys only. Returns how many entities changed. Raises ValueError for
        an entity the snapshot does not hold, or a base record of the older format (rebuild
        from the records instead)."""
        base_now: dict[str, Any] | None = None
        base_changed = False
        entities = []
        for key, then, now in changes:
            if key == BASE_KEY:
                base_changed, base_now = True, now
            else:
                entities.append((key, then, now))
        if base_now is not None:
            if base_now.get("v", 1) < 2:
                raise ValueError("the base record is of the older format: rebuild instead")
            self._watermark_us = max(self._watermark_us, base_now["wm"])
            self._folded_us = max(self._folded_us, base_now["wm"])
            if base_now["wm"] > self.stream_us:
                self.stream_us = base_now["wm"]
            for queue, at in base_now.get("fs", {}).items():
                self.ledger.saw_queues((queue,), at)
        label = self.admission_view.labels()
        watermark = self._watermark_us
        for key, then, now in entities:
            kind = None
            if then is not None:
                if key not in self._cold:
                    raise ValueError(f"entity {key!r} changed since the snapshot of partition "
                                     f"{self.partition}, which does not hold it")
                self._cold.discard(key)
                kind, record = self._decoded(then)
                self._records[key] = record
                self._contributions[key] = kind.contributions(record, self.config)
                for event_id in kind.event_ids(record):
                    self._hold(event_id, key)
            if now is not None:
                new_kind, record = self._decoded(now)
                if kind is not None:  # the record it had at the snapshot, replaced
                    old = self._records[key]
                    for event_id in kind.event_ids(old):
                        self._release(event_id, key)
                    if kind.name in _REFERRING:
                        self.directory.unwatch(kind.references(old), key)  # type: ignore
                    self._records[key] = record
                    self._update_full(key, new_kind, record)
                else:
                    self._records[key] = record
                    contributions = new_kind.contributions(record, self.config)
                    self._contributions[key] = contributions
                    self.ledger.add(key, contributions)
                self._adopt(key, new_kind, record)
                kind = new_kind
                if not (watermark and kind.expired(record, watermark)):
                    continue
                # written before a prune that retired it, whose deletes never reached the
                # store (a crash in between): the base holds it already, as in restore()
            if kind is not None:
                self._fold(key, kind, label)
        if base_changed:
            self._rebase(base_now)
        return len(entities)

    def _rebase(self, raw: dict[str, Any] | None) -> None:
        """Make ``raw`` (a persisted base record, or None) the base, moving the ledger's
        since-the-start totals by the difference from the base held until now."""
        base = Ledger(self.config)
        if raw is not None:
            base.add_totals(raw)
        before = self._base.export_totals()
        self.ledger.add_totals(base.export_totals())
        self.ledger.add_totals({
            "c": [[metric, labels, -value] for metric, labels, value in before["c"]],
            "h": [[metric, labels, [-v for v in row]] for metric, labels, row in before["h"]],
        })
        for store in (self.ledger.counters, self.ledger.histograms):
            for key in [k for k, v in store.items() if not (any(v) if isinstance(v, list)
                                                             else v)]:
                del store[key]  # as if never booked, as a rebuild has it
        self._base = base

    @property
    def entity_count(self) -> int:
        return len(self._records) + len(self._cold) + len(self._frozen)
