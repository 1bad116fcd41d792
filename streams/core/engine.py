"""The engine: applies validated events to entity records and keeps the ledger in step.

One engine holds the state of one Kafka partition (the worker runs one per partition it owns)
or of a whole event file (the replay). It is deliberately the only place that mutates state,
and it does so in one way: an event changes one entity's record; the entity's samples are
recomputed from the record; the ledger swaps the old samples for the new ones. Because
nothing else is ever incremented:

* a duplicate (same ``event_id``) changes nothing and is reported as such;
* events may arrive in any order: the record is sorted by event time;
* a restarted worker rebuilds the exact ledger from the persisted records (``rebuild``).

Records are plain JSON-able values handed to a :class:`RecordStore` (a dict for the replay, a
Faust table with a changelog for the worker). Entities untouched for the retention period are
pruned; what they added to the since-the-start counters is kept in a small *base* record.
"""

from __future__ import annotations

from bisect import insort
from collections import Counter
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Protocol

from streams.core.agents import StateChange, agent_samples, appended_samples
from streams.core.config import Config
from streams.core.contacts import compact, contact_samples
from streams.core.events import Event
from streams.core.ledger import Ledger
from streams.core.samples import AGENT, COUNTER, OBSERVE, WAITING, Sample
from streams.core.tickets import ticket_compact, ticket_samples

HOUR_MS = 3_600_000
#: State retention and de-duplication horizon (SPEC §2 asks for at least 48 h).
RETENTION_MS = 48 * HOUR_MS
BASE_KEY = "__base__"

_CHANNEL_OF_FAMILY = {"call": "voice", "chat": "chat"}
_KEY_FIELD = {"call": "call_id", "chat": "chat_id", "agent": "agent_id", "ticket": "ticket_id"}
_PREFIX = {"call": "call:", "chat": "chat:", "agent": "agent:", "ticket": "ticket:"}


class Outcome(StrEnum):
    """What applying one event did (the shell counts these per topic)."""

    APPLIED = "applied"
    LATE = "late"  # applied, but older than the retention: it cannot reach any window
    DUPLICATE = "duplicate"
    UNTRACKED = "untracked"  # valid, but no KPI of this release keeps state for its family


class RecordStore(Protocol):
    """Where records persist. The engine keeps its own decoded copy; the store is durability."""

    def put(self, key: str, record: dict[str, Any]) -> None: ...

    def delete(self, key: str) -> None: ...


class MemoryStore:
    """A dict-backed store, for the replay and for tests."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}

    def put(self, key: str, record: dict[str, Any]) -> None:
        self.data[key] = record

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


class Engine:
    """State of one partition (or of one replay): records, samples, ledger."""

    def __init__(self, config: Config, store: RecordStore | None = None, partition: int = 0):
        self.config = config
        self.partition = partition
        self.store: RecordStore = store if store is not None else MemoryStore()
        self.ledger = Ledger(config)
        self._base = Ledger(config)  # counters/histograms of pruned entities
        self._watermark = 0
        self._records: dict[str, dict[str, Any]] = {}
        self._samples: dict[str, list[Sample]] = {}
        self._seen: dict[str, str] = {}

    # ------------------------------------------------------------------ events
    def apply(self, event: Event, now_ms: int) -> Outcome:
        family = event.family
        key_field = _KEY_FIELD.get(family)
        if key_field is None:
            return Outcome.UNTRACKED
        if event.event_id in self._seen:
            return Outcome.DUPLICATE
        key = _PREFIX[family] + str(event.body[key_field])
        record = self._records.get(key)
        if family == "agent":
            record = self._apply_agent(key, record, event)
        elif family == "ticket":
            record = self._apply_ticket(key, record, event)
        else:
            record = self._apply_contact(key, record, event, family)
        record["t"] = now_ms
        self._seen[event.event_id] = key
        self.store.put(key, record)
        return Outcome.LATE if event.occurred_ms < now_ms - RETENTION_MS else Outcome.APPLIED

    def _apply_contact(
        self, key: str, record: dict[str, Any] | None, event: Event, family: str
    ) -> dict[str, Any]:
        channel = _CHANNEL_OF_FAMILY[family]
        if record is None:
            record = {"p": self.partition, "t": 0, "ch": channel, "ev": []}
            self._records[key] = record
        kind = event.type.partition(".")[2]
        item = compact(kind, event.event_id, event.occurred_ms, event.body)
        events: list[Any] = record["ev"]
        insort(events, item, key=lambda e: (e[2], e[0]))
        self._replace(key, contact_samples(channel, events, self.config))
        return record

    def _apply_ticket(
        self, key: str, record: dict[str, Any] | None, event: Event
    ) -> dict[str, Any]:
        if record is None:
            record = {"p": self.partition, "t": 0, "kind": "ticket", "ev": []}
            self._records[key] = record
        item = ticket_compact(event.type.partition(".")[2], event.event_id, event.occurred_ms,
                              event.body)
        events: list[Any] = record["ev"]
        insort(events, item, key=lambda e: (e[2], e[0]))
        self._replace(key, ticket_samples(events))
        return record

    def _apply_agent(self, key: str, record: dict[str, Any] | None, event: Event) -> dict[str, Any]:
        if record is None:
            record = {"p": self.partition, "t": 0, "tl": []}
            self._records[key] = record
        queues = event.body.get("queues")
        change: StateChange = (
            event.occurred_ms,
            event.body["state"],
            tuple(queues) if isinstance(queues, list) else None,
            event.event_id,
        )
        timeline: list[StateChange] = record["tl"]
        appended = not timeline or (change[0], change[3]) >= (timeline[-1][0], timeline[-1][3])
        insort(timeline, change, key=lambda c: (c[0], c[3]))
        old = self._samples.get(key, [])
        fast = appended_samples(timeline, old) if appended else None
        if fast is None:
            self._replace(key, agent_samples(timeline))
        else:
            removed, added = fast
            self.ledger.apply(key, removed, -1)
            self.ledger.apply(key, added, 1)
            self._samples[key] = old[:-1] + added
        return record

    def _replace(self, key: str, new: list[Sample]) -> None:
        """Swap an entity's samples: retract what it no longer contributes, add what is new."""
        old = self._samples.get(key)
        self._samples[key] = new
        if not old:
            self.ledger.apply(key, new, 1)
            return
        if old == new:
            return
        diff = Counter(old)
        diff.subtract(new)
        for sample, n in diff.items():
            if n:
                self.ledger.apply_one(key, sample, -n)

    # ------------------------------------------------------------------ upkeep
    def prune(self, now_ms: int) -> int:
        """Drop entities untouched for the retention period; returns how many were dropped.

        Their counter and histogram contributions stay (they are "since the start"): they move
        into the base record, written *before* the records are deleted, with a watermark so
        that a crash between the two writes cannot count anything twice on rebuild.
        """
        cutoff = now_ms - RETENTION_MS
        old = [k for k, r in self._records.items() if r["t"] < cutoff]
        if not old:
            return 0
        for key in old:
            for s in self._samples.pop(key, []):
                if s[0] in (COUNTER, OBSERVE):
                    self._base.apply_one(key, s, 1)
                elif s[0] in (WAITING, AGENT):
                    self.ledger.apply_one(key, s, -1)
        self._watermark = cutoff
        self.store.put(BASE_KEY, {"p": self.partition, "wm": cutoff, **self._base.export_totals()})
        seen = set(old)
        self._seen = {eid: k for eid, k in self._seen.items() if k not in seen}
        for key in old:
            del self._records[key]
            self.store.delete(key)
        self.ledger.prune_windows(cutoff - 2 * 24 * HOUR_MS)
        return len(old)

    def rebuild(self, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Restore the whole state from persisted records (after a restart or rebalance)."""
        pending = []
        for key, record in items:
            if key == BASE_KEY:
                self._load_base(record)
            else:
                pending.append((key, record))
        for key, record in pending:
            if record["t"] < self._watermark:
                continue  # already folded into the base before a crash
            samples, event_ids = self._restore(record)
            for event_id in event_ids:
                self._seen[event_id] = key
            self._records[key] = record
            self._samples[key] = samples
            self.ledger.apply(key, samples, 1)

    def _restore(self, record: dict[str, Any]) -> tuple[list[Sample], list[str]]:
        """Turn a decoded record back into its in-memory form (JSON made tuples lists);
        return its samples and the event ids it holds."""
        if "tl" in record:
            record["tl"] = [(c[0], c[1], tuple(c[2]) if c[2] is not None else None, c[3])
                            for c in record["tl"]]
            return agent_samples(record["tl"]), [c[3] for c in record["tl"]]
        record["ev"] = [tuple(e) for e in record["ev"]]
        if record.get("kind") == "ticket":
            samples = ticket_samples(record["ev"])
        else:
            samples = contact_samples(record["ch"], record["ev"], self.config)
        return samples, [e[0] for e in record["ev"]]

    def _load_base(self, record: dict[str, Any]) -> None:
        self._watermark = record["wm"]
        for metric, labels, value in record["c"]:
            sample = (COUNTER, metric, tuple(labels), value)
            self._base.apply_one(BASE_KEY, sample, 1)
            self.ledger.apply_one(BASE_KEY, sample, 1)
        for metric, labels, row in record["h"]:
            for target in (self._base, self.ledger):
                target.histograms[(metric, tuple(labels))] = [
                    a + b for a, b in zip(
                        target.histograms.get((metric, tuple(labels)), [0.0] * len(row)), row,
                        strict=True,
                    )
                ]

    @property
    def entity_count(self) -> int:
        return len(self._records)
