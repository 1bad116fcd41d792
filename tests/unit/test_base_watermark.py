"""The base record's watermark (``wm``) tells a restore which stored records the base already
counts: a record expired at the watermark is skipped as "already folded". So every base
write must keep the rule *every entity expired at the watermark is folded into this base*:
an entity that expired since the last prune, still kept and not yet folded, must not be
skipped by a restart; an entity folded into the base must be skipped, even when the delete
of its record was lost in a crash.

Two writers of the base break the rule if they stamp it with stream time: a retirement when
an event arrives for an expired entity (other entities may have expired since the last prune
and are not folded yet), and a prune that stops after a chunk (``PRUNE_BUDGET``: later prune
steps are still due)."""

from __future__ import annotations

import copy

import orjson
from kpi_helpers import Centre, advance_stream_time, call

from streams.core import engine as engine_module
from streams.core.config import parse_config
from streams.core.engine import BASE_KEY, Engine, MemoryStore, NoStore
from streams.core.kpis import all_families, contact_families
from streams.core.pipeline import PipelineStats
from streams.ingest import ingest
from streams.simulate.generator import generate
from streams.simulate.scenarios import contact_centre
from streams.worker.checkpoint import encode_record


def _centre() -> Centre:
    """12 calls on 2026-11-22 between 09:00 and 09:12 (kept 48 h after their newest event)
    and, on 2026-11-23, 12 more between 09:00 and 09:12."""
    c = Centre()
    for day in (22, 23):
        for i in range(12):
            outcome = ("answered", "abandoned", "flowed_out")[i % 3]
            call(c, f"d{day}c{i}", ("a", "b")[i % 2], f"2026-11-{day}T09:{i:02d}:00Z",
                 outcome, f"2026-11-{day}T09:{i:02d}:{i * 4:02d}Z")
    return c


def _totals(engine: Engine) -> dict:
    """The since-the-start counters (what the base keeps for retired entities)."""
    families = contact_families(engine.config, [engine.ledger], engine.stream_us)
    return {f.name: f.samples for f in families if f.name.endswith("_total")}


def _restart(store: MemoryStore, config) -> Engine:
    restored = Engine(config)
    restored.rebuild(copy.deepcopy(list(store.data.items())))
    return restored


def _expired_since_the_last_prune() -> tuple[Centre, MemoryStore]:
    """The sample fed, pruned at 11-24 08:30 (11-22's calls expire from 09:00: not yet), then
    stream time at 09:20: now they have, and no prune has run since."""
    c = _centre()
    store = MemoryStore()
    c.engine = Engine(c.config, store)
    c.feed()
    advance_stream_time(c, "2026-11-24T08:30:00Z")
    c.engine.prune()
    advance_stream_time(c, "2026-11-24T09:20:00Z")
    return c, store


def test_a_retirement_between_prunes_leaves_the_other_expired_entities_counted_after_a_restart():
    c, store = _expired_since_the_last_prune()
    # an event for one of them: it is retired (folded into the base, written at once)
    c.feed([c.event("call.queued", "2026-11-24T09:21:00Z", call_id="d22c0", queue="a")])
    before = _totals(c.engine)
    assert _totals(_restart(store, c.config)) == before
    # and once a prune has folded the others, a restart still counts each once
    c.engine.prune()
    assert _totals(c.engine) == before
    assert _totals(_restart(store, c.config)) == before


def test_a_retirement_whose_record_delete_was_lost_is_not_counted_twice():
    c, store = _expired_since_the_last_prune()
    stored = copy.deepcopy(store.data)
    c.feed([c.event("call.queued", "2026-11-24T09:21:00Z", call_id="d22c0", queue="a")])
    # a crash after the base write, before the retired entity's new record reached the store
    crashed = MemoryStore()
    crashed.data = {**stored, BASE_KEY: copy.deepcopy(store.data[BASE_KEY])}
    restored = _restart(crashed, c.config)
    restored.apply(c.events[-1])  # redelivered: its offset was not committed
    assert _totals(restored) == _totals(c.engine)


def test_a_prune_stopped_after_a_chunk_leaves_the_later_steps_counted_after_a_restart(
        monkeypatch):
    monkeypatch.setattr(engine_module, "PRUNE_BUDGET", 1)  # one prune step a chunk
    c = _centre()
    store = MemoryStore()
    c.engine = Engine(c.config, store)
    c.feed()
    reference = Engine(c.config)
    for ev in c.events:
        reference.apply(ev)
    advance_stream_time(c, "2026-11-26T12:00:00Z")  # both days' calls expired: two prune steps due
    assert c.engine.prune(budget=1) > 0
    assert c.engine._prune_again_in  # 11-23's step is left for the next chunk
    before = _totals(c.engine)
    assert _totals(_restart(store, c.config)) == before
    c.engine.prune()
    assert _totals(_restart(store, c.config)) == before


# ---------------------------------------------------------------- a crash at any checkpoint

START_MS = 1_795_338_000_000  # 2026-11-22T09:00Z
HOUR_MS = 3_600_000
CHECKPOINT_EVERY = 50


class CheckpointedStore:
    """The worker's store as a crash leaves it: writes wait in ``pending`` (the last per key)
    until :meth:`checkpoint` makes them durable, the base record first
    (``streams.worker.checkpoint.writes_by_partition``)."""

    def __init__(self) -> None:
        self.durable: dict[str, dict] = {}
        self.pending: dict[str, dict | None] = {}

    def put(self, key: str, record: dict) -> None:
        self.pending[key] = orjson.loads(encode_record(record))

    def delete(self, key: str) -> None:
        self.pending[key] = None

    def checkpoint(self) -> None:
        self._write(list(self._ordered()))
        self.pending.clear()

    def crashed(self, written: int) -> dict[str, dict]:
        """What a restart reads after a crash that wrote the first ``written`` writes of
        the checkpoint in progress."""
        kept = CheckpointedStore()
        kept.durable = copy.deepcopy(self.durable)
        kept._write(list(self._ordered())[:written])
        return kept.durable

    def _ordered(self):
        base = [(k, v) for k, v in self.pending.items() if k == BASE_KEY]
        return base + [(k, v) for k, v in self.pending.items() if k != BASE_KEY]

    def _write(self, writes) -> None:
        for key, value in writes:
            if value is None:
                self.durable.pop(key, None)
            else:
                self.durable[key] = copy.deepcopy(value)


def _raw(start_ms: int, hours: float) -> list[bytes]:
    return [orjson.dumps(e) for e in generate(contact_centre(), seed=5, start_ms=start_ms,
                                              duration_ms=int(hours * HOUR_MS))]


def _all(engine: Engine, now_us: int) -> dict:
    return {f.name: dict(f.samples) for f in all_families(engine.config, [engine.ledger], now_us)}


def test_a_crash_at_any_point_of_a_chunked_prune_restarts_to_the_kpis_of_a_worker_that_never_stopped(  # noqa: E501
        monkeypatch):
    """Three hours of traffic, then 52 hours later (past the contacts' 48 h) twenty
    minutes more: the jump is pruned in chunks while events keep coming. A crash during any
    checkpoint after the jump's (the base written, any part of the rest lost), then a
    restart from what was written and the events since the last complete checkpoint
    delivered again, ends with every KPI of the engine that never stopped.

    Not covered: a crash whose redelivered events span the jump itself. The base written by
    the interrupted checkpoint restores the stream time after the jump, and the events from
    before it delivered again are then older than the contacts' retention behind it: late
    (docs/decisions.md, "A crash across a jump of stream time")."""
    # prune steps of 5 minutes, chunks of ~100 keys 8 events apart: ~40 chunks
    monkeypatch.setattr(engine_module, "PRUNE_STEP_US", 300_000_000)
    monkeypatch.setattr(engine_module, "PRUNE_BUDGET", 100)
    monkeypatch.setattr(engine_module, "PRUNE_AGAIN_AFTER", 8)
    before = _raw(START_MS, 3)
    after = _raw(START_MS + 52 * HOUR_MS, 1 / 3)
    stream = before + after
    config = parse_config({})

    reference = Engine(config, NoStore())
    stats = PipelineStats()
    for raw in stream:
        ingest(raw, reference, stats)
    end_us = reference.stream_us + 60_000_000
    expected = _all(reference, end_us)

    store = CheckpointedStore()
    live = Engine(config, store)
    stats = PipelineStats()
    committed = 0  # events whose state is durable: the consumer's committed offset
    crashes = 0
    for n, raw in enumerate(stream, 1):
        ingest(raw, live, stats)
        if n % CHECKPOINT_EVERY:
            continue
        if committed >= len(before) and BASE_KEY in store.pending:
            writes = len(store.pending)
            for written in sorted({1, writes // 2, writes - 1}):  # base, half, all but one
                restarted = Engine(config, NoStore())
                restarted.rebuild(list(store.crashed(written).items()))
                for again in stream[committed:]:
                    ingest(again, restarted, PipelineStats())
                assert _all(restarted, end_us) == expected, (n, written)
                crashes += 1
        store.checkpoint()
        committed = n
    assert crashes >= 6  # the chunks wrote the base in several checkpoints


def test_a_chunked_prune_finishes_when_entities_filed_early_expired_after_its_limit(
        monkeypatch):
    """Tickets solved at 10:00 are filed for the prune when they go idle (a day later), not
    at their expiry (30 days after the solve). Stream time then jumps 40 days: a chunk that
    stops at the idle step finds them expired at stream time but not by its limit. It files
    them again at their expiry, so the next chunks move on and the prune finishes."""
    monkeypatch.setattr(engine_module, "PRUNE_BUDGET", 5)
    c = Centre()
    for i in range(40):
        c.event("ticket.created", "2026-11-02T09:00:00Z", ticket_id=f"t{i}", queue="support",
                channel="email")
        c.event("ticket.status_changed", f"2026-11-02T10:{i:02d}:00Z", ticket_id=f"t{i}",
                status="solved")
    for h in range(12, 24):  # calls expiring each hour after the idle step: more steps due
        call(c, f"c{h}", "support", f"2026-11-02T{h:02d}:30:00Z", "abandoned",
             f"2026-11-02T{h:02d}:31:00Z")
    c.engine = Engine(c.config, MemoryStore())
    c.feed()
    advance_stream_time(c, "2026-12-12T12:00:00Z")
    for _ in range(200):
        c.engine.prune(budget=engine_module.PRUNE_BUDGET)
        if not c.engine._prune_again_in:
            break
    assert not c.engine._prune_again_in
    assert not [k for k in c.engine.kept_records() if k.startswith("ticket:")]
