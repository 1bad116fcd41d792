"""A flood of distinct queue names (issue 11, hostile input): the admission keeps exactly the
names contract §4 admits, no more; what retired contacts added under names labelled ``other``
is kept under ``other``, so nothing stays per name once its contacts and windows are gone; and
no label or KPI differs from keeping every raw name and mapping it at scrape time — over one
engine, several engines of one worker, any arrival order and a restart."""

from __future__ import annotations

import random
import zlib

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.admission import OTHER_QUEUE, Admission, AdmissionView, QueueLabels
from streams.core.config import parse_config
from streams.core.engine import Engine, MemoryStore
from streams.core.kpis import all_families
from streams.core.ledger import Ledger
from streams.core.pipeline import PipelineStats
from streams.core.timestamps import DAY_US, format_us
from streams.ingest import ingest

MAX_QUEUES = 3
CONFIG = parse_config({"limits": {"max_queues": MAX_QUEUES},
                       "queues": {"sales": {"timezone": "Europe/Paris"}}})
NOW_US = 1_795_000_000_000_000
#: What any ledger may name: the admitted others, the configured queue, unknown and other.
BOUND = MAX_QUEUES + 3


class KeepEveryName(Admission):
    """The reference admission: every raw name kept (labels are still decided at the scrape,
    by ``QueueLabels`` over all of them)."""

    def see(self, queue: str, at_us: int) -> None:
        if queue not in self.first_seen or at_us < self.first_seen[queue]:
            self.first_seen[queue] = at_us


class AdmitAll(AdmissionView):
    """The reference retirements: every name kept as itself in the base."""

    def labels(self):  # type: ignore[override]
        return lambda queue: queue


def reference_engine() -> Engine:
    engine = Engine(CONFIG, admission_view=AdmitAll(CONFIG))
    engine.ledger.admission = KeepEveryName(CONFIG.queues, MAX_QUEUES)
    engine.ledger.first_seen = engine.ledger.admission.first_seen
    return engine


def admitted(first: dict[str, int]) -> set[str]:
    """The reference admission of contract §4, from the full first-seen map."""
    others = sorted((at, q) for q, at in first.items() if q not in ("sales", "unknown"))
    return {q for _, q in others[:MAX_QUEUES]}


sightings = st.lists(st.tuples(st.integers(0, 3), st.sampled_from(
    [f"q{i}" for i in range(40)] + ["sales", "unknown"]), st.integers(0, 50)), max_size=300)


@settings(max_examples=200, deadline=None)
@given(sightings)
def test_the_bounded_admission_admits_the_queues_of_contract_4_over_several_ledgers(seen):
    ledgers = [Ledger(CONFIG) for _ in range(4)]
    full: dict[str, int] = {}
    for part, queue, at in seen:
        ledgers[part].saw_queues((queue,), at)
        full[queue] = min(at, full.get(queue, at))
    label = QueueLabels(CONFIG, ledgers)
    names = {q for _, q, _ in seen}
    assert {q for q in names if label(q) == q} - {"sales", "unknown"} == admitted(full)
    for ledger in ledgers:
        assert len(ledger.first_seen) <= BOUND - 1  # no "other" in first-seen


def flood_events(count: int, seed: int) -> list[bytes]:
    """``count`` calls, each in a queue of its own (every 97th in ``sales``), queued an hour
    before ``NOW_US``; a third answered, a third abandoned, a third still waiting; the lines
    shuffled, so that names arrive out of event-time order and push each other out."""
    lines = []
    for i in range(count):
        queue = "sales" if i % 97 == 0 else f"flood-{i}"
        queued = NOW_US - 3_600_000_000 + i * 1_000_000
        lines.append({"event_id": f"q{i}", "type": "call.queued", "call_id": f"c{i}",
                      "occurred_at": format_us(queued), "queue": queue})
        if i % 3 == 0:
            lines.append({"event_id": f"a{i}", "type": "call.answered", "call_id": f"c{i}",
                          "occurred_at": format_us(queued + 20_000_000), "queue": queue,
                          "agent_id": "a1"})
        elif i % 3 == 1:
            lines.append({"event_id": f"x{i}", "type": "call.abandoned", "call_id": f"c{i}",
                          "occurred_at": format_us(queued + 45_000_000), "queue": queue})
    random.Random(seed).shuffle(lines)
    return [orjson.dumps(line) for line in lines]


def feed(engine: Engine, lines: list[bytes]) -> Engine:
    stats = PipelineStats()
    for line in lines:
        ingest(line, engine, stats, now_us=None)
    return engine


def exported(engine: Engine, now_us: int = NOW_US) -> dict:
    return {f.name: f.samples for f in all_families(CONFIG, [engine.ledger], now_us)}


def queue_names(engine: Engine) -> set[str]:
    """Every queue name the ledger holds state under (counters, histograms, windows, live)."""
    ledger = engine.ledger
    names = {labels[0] for _, labels in ledger.counters}
    names |= {labels[0] for _, labels in ledger.histograms}
    for store in (ledger.intervals, ledger.days, ledger.minutes, ledger.waiting,
                  ledger.tickets_awaiting, ledger.tickets_created_at):
        names |= {queue for queue, *_ in store}
    names |= {q for agent in ledger.agents.values() for q in agent.queues}
    return names


def test_a_flood_of_queue_names_keeps_every_kpi_and_max_queues_labels():
    lines = flood_events(3000, seed=1)
    bounded, reference = feed(Engine(CONFIG), lines), feed(reference_engine(), lines)
    assert len(reference.ledger.first_seen) > 2900  # the reference keeps every raw name
    assert len(bounded.ledger.first_seen) <= BOUND - 1
    assert set(bounded.ledger._calendars) <= {"sales"}
    families = exported(bounded)
    assert families == exported(reference)
    queues = {labels[0] for labels in families["cc_contacts_offered_total"]}
    assert queues == {"sales", OTHER_QUEUE, "flood-1", "flood-2", "flood-3"}
    assert families["cc_contacts_offered_total"][(OTHER_QUEUE, "voice")] == 3000 - 31 - 3


def test_a_flood_of_queue_names_gives_the_same_kpis_in_any_arrival_order():
    first = exported(feed(Engine(CONFIG), flood_events(1500, seed=2)))
    for seed in (3, 4):
        assert exported(feed(Engine(CONFIG), flood_events(1500, seed=seed))) == first


def after_retention(engines: list[Engine], lines: list[bytes], tails: int = 0) -> int:
    """Feed ``lines`` to ``engines`` by call id (as Kafka partitions them), then one call six
    days later (past the contacts' retention and the window keep) to each (or ``tails`` such
    calls over them), and prune; returns that instant."""
    later = NOW_US + 6 * DAY_US
    for line in lines:
        call_id = orjson.loads(line)["call_id"].encode()
        feed(engines[zlib.crc32(call_id) % len(engines)], [line])
    for n in range(tails or len(engines)):
        feed(engines[n % len(engines)], [orjson.dumps({
            "event_id": f"later-{n}", "type": "call.queued", "call_id": f"later-{n}",
            "occurred_at": format_us(later), "queue": "sales"})])
    for engine in engines:
        engine.prune()
    return later


def test_nothing_of_a_flood_stays_per_name_once_retention_and_windows_have_passed():
    lines = flood_events(2000, seed=5)
    store = MemoryStore()
    bounded, reference = Engine(CONFIG, store=store), reference_engine()
    later = after_retention([bounded], lines)
    after_retention([reference], lines)
    kept = {"sales", OTHER_QUEUE, "flood-1", "flood-2", "flood-3"}
    assert len(queue_names(reference)) > 1900  # every raw name, for ever
    assert queue_names(bounded) <= kept
    assert {labels[0] for _, labels in bounded._base.counters} == kept
    assert exported(bounded, later) == exported(reference, later)
    restarted = Engine(CONFIG)  # from what the changelog holds: the base and the live records
    restarted.rebuild(store.data.items())
    assert exported(restarted, later) == exported(reference, later)


def test_engines_of_one_worker_retire_by_their_merged_admission():
    """A name one engine saw first and the others only after ``max_queues`` names of their own
    is admitted for the worker: no engine may keep its retired contacts under ``other`` (a
    per-engine admission would: the fault suite's flood caught it through a real worker)."""
    known = [orjson.dumps({"event_id": f"k{i}", "type": "call.queued", "call_id": f"k{i}",
                           "occurred_at": format_us(NOW_US - 600_000_000 + i),
                           "queue": "flood-1"}) for i in range(8)]
    lines = [*flood_events(2000, seed=7), *known]
    view = AdmissionView(CONFIG)
    engines = [Engine(CONFIG, admission_view=view) for _ in range(4)]
    view.ledgers.extend(engine.ledger for engine in engines)
    later = after_retention(engines, lines)
    reference = reference_engine()
    after_retention([reference], lines, tails=len(engines))
    families = {f.name: f.samples
                for f in all_families(CONFIG, [e.ledger for e in engines], later)}
    assert families == exported(reference, later)
    assert families["cc_contacts_offered_total"][("flood-1", "voice")] == 1 + 8
    for engine in engines:
        assert {q for _, (q, *_) in engine._base.counters} <= {
            "sales", OTHER_QUEUE, "flood-1", "flood-2", "flood-3"}


def test_restarting_from_the_records_books_the_flood_the_same_way():
    store = MemoryStore()
    engine = Engine(CONFIG, store=store)
    feed(engine, flood_events(1500, seed=6))
    restarted = Engine(CONFIG)
    restarted.rebuild(store.data.items())
    assert exported(restarted) == exported(engine)
    assert len(restarted.ledger.first_seen) <= BOUND - 1
