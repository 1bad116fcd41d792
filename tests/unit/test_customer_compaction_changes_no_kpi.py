"""Folding customers' revenue and interactions (record format 3) changes no KPI value.

A customer record sums its revenue and interaction events per month once it holds more than
``FOLD_AFTER`` of them (streams.core.entities.customer, docs/customers.md). These tests run
multi-month customer streams through an engine that folds and one that never does (the full
history: ``FOLD_AFTER`` set out of reach) and compare every sample of every family at many
engine clocks, the outcomes of every event, and the state restored from persisted records.
With the ids of folded events released (``CustomerKind.trim``), duplicates and very late
events of folded months change no KPI either.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from streams.core.config import Config, parse_config
from streams.core.engine import Engine, MemoryStore
from streams.core.entities import customer as C
from streams.core.events import Event
from streams.core.kpis import all_families
from streams.core.timestamps import DAY_US, HOUR_US, parse_us
from streams.worker.checkpoint import encode_record

START_US = parse_us("2027-01-01T00:00:00Z")
CUSTOMER = C.CustomerKind().name


def customer_stream(seed: int, customers: int = 60, days: int = 240,
                    long_gaps: bool = False) -> list[Event]:
    """A customer base over ``days``: acquisitions (some referred, some repeated), churns
    and come-backs, revenue in two currencies (amounts with cents, some 0), interactions,
    marketing spend; in time order. With ``long_gaps`` some customers go silent for longer
    than the 13-month retention now and then."""
    rng = random.Random(seed)
    events: list[Event] = []
    n = 0

    def emit(type_: str, at_us: int, **body: Any) -> None:
        nonlocal n
        n += 1
        eid = f"s{seed}-{n}"
        events.append(Event(eid, type_, at_us, {"event_id": eid, "type": type_, **body}))

    for i in range(customers):
        cid = f"c{i}"
        at = START_US + rng.randrange(days * DAY_US // 2)
        if rng.random() < 0.8:  # else a customer older than the stream
            emit("customer.acquired", at, customer_id=cid,
                 **({"referred_by": "c0"} if rng.random() < 0.3 else {}))
        end = START_US + days * DAY_US
        while at < end:
            # now and then silent for longer than the 13-month retention: a fresh record
            gap = 420 * DAY_US if long_gaps and rng.random() < 0.03 else 12 * DAY_US
            at += rng.randrange(1, gap)
            r = rng.random()
            if r < 0.5:
                emit("customer.interaction", at, customer_id=cid, kind="web_visit")
            elif r < 0.9:
                emit("customer.revenue", at, customer_id=cid,
                     amount=rng.choice([0, 9.99, 29, 49.9, 120.05]),
                     currency=rng.choice(["EUR", "EUR", "USD"]))
            elif r < 0.95:
                emit("customer.churned", at, customer_id=cid)
            else:
                emit("customer.acquired", at, customer_id=cid)
    for day in range(0, days, 7):
        emit("marketing.spend", START_US + day * DAY_US + HOUR_US, amount=100.5,
             currency=rng.choice(["EUR", "USD"]), campaign="c")
    events.sort(key=lambda ev: ev.occurred_us)
    return events


def disordered(events: list[Event], seed: int, very_late: bool = True) -> list[Event]:
    """Out of order: each event moved up to 40 days later in arrival (with ``very_late``, one
    in fifty up to 480 days: late, or not if its customer is still kept), a few duplicated."""
    rng = random.Random(seed)
    keyed = [(ev.occurred_us + rng.randrange(
        (480 if very_late and rng.random() < 0.02 else 40) * DAY_US), i, ev)
        for i, ev in enumerate(events)]
    keyed += [(ev.occurred_us + rng.randrange(90 * DAY_US), -1, ev)
              for ev in rng.sample(events, len(events) // 10)]
    return [ev for *_, ev in sorted(keyed, key=lambda k: k[:2])]


def families(config: Config, engine: Engine, now_us: int) -> dict:
    return {(f.name, labels): value
            for f in all_families(config, [engine.ledger], now_us)
            for labels, value in f.samples.items()}


def clocks(engine: Engine) -> list[int]:
    """Engine clocks from the stream's start to past its end: every month's windows."""
    return list(range(START_US + 15 * DAY_US, engine.stream_us + 70 * DAY_US, 10 * DAY_US))


def customer_counters(engine: Engine) -> dict:
    return {k: v for k, v in engine.ledger.counters.items() if k[0].startswith(C.PREFIX)}


@pytest.fixture
def no_folding(monkeypatch: pytest.MonkeyPatch):
    """Run the body with the full history: no record ever folds."""
    def run(fn, *args):
        with monkeypatch.context() as m:
            m.setattr(C, "FOLD_AFTER", 10**9)
            return fn(*args)
    return run


def run(config: Config, events: list[Event], prune_every: int = 50, ids: str = "kept"
        ) -> tuple[Engine, MemoryStore, list[str]]:
    """Apply ``events`` in order, pruning now and then. ``ids``: ``"kept"``, the ids of
    folded events are never released; ``"released"``, they are at every prune (as an engine
    that trims customers does)."""
    store = MemoryStore()
    engine = Engine(config, store)
    outcomes = []
    with pytest.MonkeyPatch.context() as m:
        if ids == "kept":
            m.setattr(C.CustomerKind, "trim", lambda self, record, stream_us: [])
        for i, ev in enumerate(events):
            outcomes.append(engine.apply(ev).value)
            if i % prune_every == 0:
                engine.prune()
                if ids == "released":
                    release_ids(engine)
        engine.prune()
    return engine, store, outcomes


def folded_records(engine: Engine) -> list[dict]:
    engine.thaw_all()  # the records themselves, not copies: tests find their keys by identity
    return [r for r in engine._records.values() if r["kind"] == CUSTOMER and "ft" in r]


def gone_us(record: dict) -> int:
    """Where a folded record's fingerprints end (0: none released yet)."""
    return record["ft"][2]


def release_ids(engine: Engine) -> int:
    """What an engine that trims customers at prune does (CustomerKind.trim); returns how
    many ids it released."""
    kind = C.CustomerKind()
    released = 0
    engine.thaw_all()
    for key, record in list(engine._records.items()):
        if record["kind"] == CUSTOMER:
            dropped = kind.trim(record, engine.stream_us)
            if dropped:
                engine._trimmed(key, kind, record, dropped)
                released += len(dropped)
    return released


def persisted(store: MemoryStore) -> dict[str, dict]:
    return orjson.loads(orjson.dumps({k: orjson.loads(encode_record(r))
                                      for k, r in store.data.items()}))


@pytest.mark.parametrize("timezone", ["UTC", "Pacific/Chatham", "America/Sao_Paulo"])
@pytest.mark.parametrize("seed", [1, 2])
def test_folding_gives_every_sample_of_the_full_history(no_folding, seed: int, timezone: str):
    config = parse_config({"customers": {"timezone": timezone}})
    events = disordered(customer_stream(seed, days=700, long_gaps=True), seed)
    events += [Event(f"ghost-{i}", "customer.revenue", START_US + i * DAY_US,  # late
                     {"customer_id": "ghost", "amount": 5, "currency": "EUR"}) for i in range(3)]
    full, full_store, full_outcomes = no_folding(run, config, events)
    compact, store, outcomes = run(config, events)
    assert folded_records(compact), "the stream is long enough for records to fold"
    assert not folded_records(full)
    assert outcomes == full_outcomes  # duplicates and late events alike
    assert {"late", "duplicate"} <= set(outcomes)
    assert customer_counters(compact) == customer_counters(full)
    for now in clocks(full):
        assert families(config, compact, now) == families(config, full, now)
    # what a record holds stays bounded: at most FOLD_AFTER unfolded revenue/interactions
    for record in folded_records(compact):
        assert sum(ev.kind in C.FOLDABLE for ev in record["ev"]) <= C.FOLD_AFTER

    # a restart from the persisted records rebuilds the same state, ids included
    restored = Engine(config)
    restored.rebuild(persisted(store).items())
    assert customer_counters(restored) == customer_counters(full)
    for now in clocks(full):
        assert families(config, restored, now) == families(config, full, now)
    # ... and takes a redelivery of everything as the full history does (duplicates; events
    # of entities retired since are late or start a fresh record, by the usual rules)
    full_restored = Engine(config)
    full_restored.rebuild(persisted(full_store).items())
    redelivered = [restored.apply(ev).value for ev in events]
    assert redelivered == no_folding(lambda: [full_restored.apply(ev).value for ev in events])
    assert customer_counters(restored) == customer_counters(full_restored)
    for now in clocks(full):
        assert families(config, restored, now) == families(config, full_restored, now)


@pytest.mark.parametrize("seed", range(3, 8))
def test_arrival_order_does_not_matter_with_folding(seed: int):
    config = parse_config({})
    events = customer_stream(1, customers=25)
    reference, _, _ = run(config, events, ids="released")
    # (no come-back after 13 silent months here: whether an event of the earlier life counts
    # then depends on arrival, by the retention rule, with or without folding)
    shuffled, _, _ = run(config, disordered(events, seed, very_late=False), prune_every=7,
                         ids="released")
    assert customer_counters(shuffled) == customer_counters(reference)
    for now in clocks(reference):
        assert families(config, shuffled, now) == families(config, reference, now)


def test_a_format_2_record_restores_to_the_same_values_and_folds_later():
    config = parse_config({})
    events = customer_stream(4, customers=10, days=60)
    engine, store, _ = run(config, events)
    now = engine.stream_us
    expected = families(config, engine, now)
    counters = customer_counters(engine)
    # the customers as the release before folding wrote them: every event, format 2
    raw = persisted(store)
    for key in [k for k in raw if k.startswith("customer:")]:
        raw[key] = {"kind": CUSTOMER, "v": 2, "p": 0, "ev": sorted(
            [e.occurred_us, e.event_id, e.type.partition(".")[2],
             C.to_micro(e.body.get("amount", 0)), e.body.get("currency"),
             e.type == "customer.acquired" and "referred_by" in e.body]
            for e in events if e.body.get("customer_id") == key.partition(":")[2])}
    assert any(len(r["ev"]) > C.FOLD_AFTER for r in raw.values() if r["kind"] == CUSTOMER)
    restored = Engine(config)
    restored.rebuild(raw.items())
    assert not folded_records(restored)  # read as it is
    assert customer_counters(restored) == counters
    assert families(config, restored, now) == expected
    assert {restored.apply(ev).value for ev in events} == {"duplicate"}
    late = Event("one-more", "customer.interaction", events[0].occurred_us,
                 {"customer_id": "c1", "kind": "web_visit"})
    restored.apply(late)
    engine.apply(late)
    assert folded_records(restored)
    assert customer_counters(restored) == customer_counters(engine)
    assert families(config, restored, now) == families(config, engine, now)


def as_format_3(record: dict) -> dict:
    """A persisted customer record of format 4 as format 3 wrote it: the fingerprints of
    folded ids in one string per 8-day bucket of event time (a dict by bucket number), the
    sums in two dicts, three times of their own, the ids (``fid``) even when empty."""
    by_bucket: dict[str, str] = {}
    fh = record["fh"]
    for i in range(0, len(fh), C.ENTRY_CHARS):
        bucket = str(int(fh[i:i + C.BUCKET_CHARS], 16))
        by_bucket[bucket] = by_bucket.get(bucket, "") + fh[i + C.BUCKET_CHARS:i + C.ENTRY_CHARS]
    lo, hi, gone = record["ft"]
    old = {k: v for k, v in record.items() if k not in ("ft", "fs", "fh", "fid")}
    old.update(v=3, flo=lo, fhi=hi, fh=by_bucket, fid=list(record.get("fid", [])),
               fi={k: n for k, n in record["fs"].items() if len(k) == 7},
               fr={k: n for k, n in record["fs"].items() if len(k) > 7})
    if gone:
        old["fgone"] = gone
    return old


def entries(record: dict) -> list[str]:
    fh = record["fh"]
    return sorted(fh[i:i + C.ENTRY_CHARS] for i in range(0, len(fh), C.ENTRY_CHARS))


def test_a_format_3_record_restores_to_the_same_state_and_is_written_as_format_4():
    """Format 3 (the release before) held the folded part in more objects."""
    config = parse_config({})
    events = customer_stream(6, days=200)
    engine, store, _ = run(config, events, ids="released")
    now = engine.stream_us
    raw = persisted(store)
    old = {k: as_format_3(r) if r["kind"] == CUSTOMER and "fh" in r else r
           for k, r in raw.items()}
    assert any(isinstance(r.get("fh"), dict) and len(r["fh"]) > 1 and r.get("fgone")
               for r in old.values())
    restored = Engine(config)
    restored.rebuild(old.items())
    assert customer_counters(restored) == customer_counters(engine)
    assert families(config, restored, now) == families(config, engine, now)
    engine.thaw_all()
    restored.thaw_all()
    for key, record in engine._records.items():  # the same fingerprints, as format 4 has them
        if "fh" in record:
            back = restored._records[key]
            assert entries(back) == entries(record)
            assert back["ft"] == record["ft"] and back["fs"] == record["fs"]
            assert back.get("fid") == record.get("fid")
    # copies of folded events are told apart alike; a changed record is written as format 4
    kind = C.CustomerKind()
    assert [kind.ignores(restored._records[f"customer:{ev.body['customer_id']}"], ev)
            for ev in events if ev.type.startswith("customer.")] == [
        kind.ignores(engine._records[f"customer:{ev.body['customer_id']}"], ev)
        for ev in events if ev.type.startswith("customer.")]
    store_after = MemoryStore()
    restored.store = store_after
    for ev in events:
        restored.apply(ev)
    restored.prune()
    release_ids(restored)
    assert store_after.data
    for record in persisted(store_after).values():
        if record["kind"] == CUSTOMER:
            assert record["v"] == kind.version == 4
            assert not {"flo", "fhi", "fi", "fr", "fgone", "fx"} & record.keys()


class TestReleasedIds:
    """Ids of folded events released (CustomerKind.trim, 64 days behind stream time)."""

    def setup_method(self):
        self.config = parse_config({})
        self.events = customer_stream(5, days=300)

    def test_trim_releases_only_ids_of_events_64_days_behind_stream_time(self):
        engine, _, _ = run(self.config, self.events)
        before = {k: families(self.config, engine, now) for k, now in enumerate(clocks(engine))}
        engine.thaw_all()  # frozen customers hold no ids until they are brought back
        held = len(engine._seen)
        released = release_ids(engine)
        assert released > 0
        assert len(engine._seen) == held - released
        for record in folded_records(engine):
            assert gone_us(record) <= engine.stream_us - C.ID_WINDOW_US
        after = {k: families(self.config, engine, now) for k, now in enumerate(clocks(engine))}
        assert after == before  # releasing ids changes no value

    @pytest.mark.parametrize("restart", [False, True])
    def test_duplicates_of_folded_events_change_nothing(self, restart: bool):
        engine, store, _ = run(self.config, self.events)
        release_ids(engine)
        counters = customer_counters(engine)
        values = [families(self.config, engine, now) for now in clocks(engine)]
        if restart:  # from the persisted records, released ids and all
            engine = Engine(self.config, store)
            engine.rebuild(persisted(store).items())
            assert customer_counters(engine) == counters
        outcomes = {engine.apply(ev).value for ev in self.events}  # a whole export again
        assert outcomes <= {"duplicate", "late", "applied"}
        assert customer_counters(engine) == counters
        assert [families(self.config, engine, now) for now in clocks(engine)] == values
        # and again, after their ids were released once more
        release_ids(engine)
        for ev in self.events:
            engine.apply(ev)
        assert customer_counters(engine) == counters

    def test_new_events_older_than_the_held_ids_change_no_kpi(self, no_folding):
        full, _, _ = no_folding(run, self.config, self.events)
        engine, _, _ = run(self.config, self.events)
        release_ids(engine)
        record = max(folded_records(engine), key=gone_us)
        cid = next(k for k, r in engine._records.items() if r is record).partition(":")[2]
        gone = gone_us(record)
        late = [Event(f"late-{i}", type_, gone - (i + 1) * 5 * DAY_US,
                      {"customer_id": cid, "kind": "email_open", "amount": 10, "currency": "EUR"})
                for i, type_ in enumerate(["customer.revenue", "customer.interaction"] * 3)]
        late.append(Event("late-oldest", "customer.interaction", START_US - 30 * DAY_US,
                          {"customer_id": cid, "kind": "web_visit"}))
        # new events within the fingerprints' window (ids released, fingerprints held) count
        late += [Event(f"recent-{i}", "customer.revenue", engine.stream_us - i * 9 * DAY_US,
                       {"customer_id": cid, "amount": 7.5, "currency": "USD"})
                 for i in range(1, 7)]
        for ev in late:
            full.apply(ev)
            engine.apply(ev)
        assert full.stream_us == engine.stream_us
        # the engine clock is at most 5 minutes behind stream time (future limit, SPEC §1.1)
        for now in range(engine.stream_us - 5 * 60 * 10**6, engine.stream_us + 400 * DAY_US,
                         3 * DAY_US):
            assert families(self.config, engine, now) == families(self.config, full, now)
        # only counters of months before the previous month of stream time differ
        calendar = C.month_calendar("UTC")
        shown = C.previous_month(calendar.month(engine.stream_us))
        full_counters, counters = customer_counters(full), customer_counters(engine)
        for key in set(full_counters) | set(counters):
            if full_counters.get(key) != counters.get(key):
                assert key[1][0] < shown, key
        # and the oldest event's month (where an existing customer counts) is the full one's
        assert C.CustomerKind().oldest_us(record) == START_US - 30 * DAY_US

    def test_the_record_stays_bounded_as_events_come(self):
        """What is held for a customer with a year of daily activity: monthly sums, at most
        FOLD_AFTER events, and the fingerprints of the last 64 days' ids."""
        config = self.config
        engine = Engine(config)
        for day in range(365):
            for j in range(3):
                ev_id = f"d{day}-{j}"
                engine.apply(Event(ev_id, "customer.interaction",
                                   START_US + day * DAY_US + j * HOUR_US,
                                   {"customer_id": "busy", "kind": "web_visit"}))
            engine.prune()
            release_ids(engine)
        record = engine._records["customer:busy"]
        assert gone_us(record)
        assert len(record["ev"]) <= C.FOLD_AFTER
        held = 3 * (64 + 2 * 8)  # 64 days and up to two buckets more (8 days each)
        assert len(record["fh"]) // C.ENTRY_CHARS <= held
        assert not record.get("fid")  # the ids themselves: only those of unfolded events
        # 8 keys (9 with ids until the next trim): a dict of 272 bytes, not 464 (format 3)
        assert set(record) == {"kind", "v", "p", "ev", "ftz", "ft", "fs", "fh"}
        assert len(record["fs"]) == 12  # months (interactions only)
        assert len(engine._seen) <= C.FOLD_AFTER
        assert sum(record["fs"].values()) + len(record["ev"]) == 3 * 365

    def test_a_copy_of_a_folded_event_is_told_apart_by_its_fingerprint(self):
        """After release, what the kind says of copies (an engine may count them so): a
        recent one by its fingerprint is a duplicate, one older than the fingerprints held
        is late, a new recent one is applied."""
        engine, _, _ = run(self.config, self.events)
        release_ids(engine)
        kind = C.CustomerKind()
        record = max(folded_records(engine), key=gone_us)
        key = next(k for k, r in engine._records.items() if r is record)
        unfolded = {ev.event_id for ev in record["ev"]}
        mine = [ev for ev in self.events if ev.type in ("customer.revenue", "customer.interaction")
                and f"customer:{ev.body['customer_id']}" == key and ev.event_id not in unfolded]
        assert not any(engine._holds(ev.event_id, key) for ev in mine)  # ids released
        says = {kind.ignores(record, ev) for ev in mine if ev.occurred_us < gone_us(record)}
        assert says == {"late"}
        recent = [ev for ev in mine if ev.occurred_us >= gone_us(record)]
        assert recent and {kind.ignores(record, ev) for ev in recent} == {"duplicate"}
        new = recent[-1]._replace(event_id="a-new-one")
        assert kind.ignores(record, new) is None
