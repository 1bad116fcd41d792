"""Minute buckets serve only the Erlang loads' trailing 30 minutes: the engine keeps them
``MINUTE_KEEP_US`` (2 h) behind stream time instead of the windows' three days (at 500 queues
on two channels, three days of minutes were ~2 M bucket dicts), and no Erlang value at an
engine clock up to 89 minutes behind stream time changes (the window reads the 30 whole
minutes before the clock's current minute: back to less than 31 minutes before the clock)."""

from __future__ import annotations

import orjson
import pytest

from streams.core import engine as engine_module
from streams.core.config import parse_config
from streams.core.engine import (
    BASE_KEY,
    MINUTE_KEEP_US,
    PRUNE_STEP_US,
    WINDOW_KEEP_US,
    Engine,
    MemoryStore,
    NoStore,
)
from streams.core.ledger import Ledger
from streams.core.pipeline import PipelineStats
from streams.core.staffing import erlang_families
from streams.ingest import ingest
from streams.simulate.generator import generate
from streams.simulate.scenarios import contact_centre

START_MS = 1_795_338_000_000  # 2026-11-22T09:00Z
HOUR_MS = 3_600_000
MINUTE_US = 60_000_000


@pytest.fixture(scope="module")
def events() -> list[bytes]:
    """Seven hours of a contact centre's traffic."""
    return [orjson.dumps(e) for e in generate(contact_centre(), seed=5, start_ms=START_MS,
                                              duration_ms=7 * HOUR_MS)]


def _fed(events: list[bytes], prune_at_end: bool = False,
         store: NoStore | MemoryStore | None = None) -> Engine:
    """An engine after ``events``; pruned at once at the end (``prune_at_end``: minutes cut
    exactly at the keep, not up to a stream hour later as the hourly prunes do)."""
    engine = Engine(parse_config({}), store or NoStore())
    stats = PipelineStats()
    for raw in events:
        ingest(raw, engine, stats)
    if prune_at_end:
        engine.prune()
    return engine


def _erlang(engine: Engine, now_us: int) -> dict[str, dict]:
    return {f.name: dict(f.samples)
            for f in erlang_families(engine.config, [engine.ledger], now_us)}


def test_minutes_are_kept_two_hours_and_the_windows_three_days(events):
    engine = _fed(events)
    stream = engine.stream_us
    minutes = [s for buckets in engine.ledger.minutes.values() for s in buckets]
    intervals = [s for buckets in engine.ledger.intervals.values() for s in buckets]
    # pruned once a stream hour: at most one step more than the keep
    assert min(minutes) >= stream - MINUTE_KEEP_US - PRUNE_STEP_US
    assert max(minutes) >= stream - MINUTE_KEEP_US  # ... and the recent ones kept
    assert min(intervals) < START_MS * 1000 + HOUR_MS * 1000  # the windows: the first hour


def test_no_erlang_value_changes_at_a_clock_up_to_89_minutes_behind_stream_time(
        events, monkeypatch):
    kept_long = _fed(events, prune_at_end=True)  # minutes from stream time − 2 h exactly
    monkeypatch.setattr(engine_module, "MINUTE_KEEP_US", WINDOW_KEEP_US)
    never_pruned = _fed(events, prune_at_end=True)  # minutes kept as long as the windows
    assert sum(map(len, never_pruned.ledger.minutes.values())) > \
        sum(map(len, kept_long.ledger.minutes.values()))  # the keep did drop minutes
    stream = kept_long.stream_us
    assert never_pruned.stream_us == stream
    compared = 0
    for behind_min in (-5, 0, 1, 10, 30, 60, 84, 89):  # 5 min ahead (the future limit) …
        now_us = stream - behind_min * MINUTE_US
        expected = _erlang(never_pruned, now_us)
        assert _erlang(kept_long, now_us) == expected, f"{behind_min} min behind"
        compared += sum(map(len, expected.values()))
    assert compared > 0
    # ... and the keep is no longer than needed: at 95 minutes behind, minutes are missing
    now_us = stream - 95 * MINUTE_US
    assert _erlang(kept_long, now_us) != _erlang(never_pruned, now_us)


def test_a_rebuild_from_records_keeps_only_the_minutes_of_the_keep(events):
    """A new node books two days of its contacts' minutes as it rebuilds: the rebuild's end
    prunes them, as the hourly prunes would have."""
    store = MemoryStore()
    fed = _fed(events, store=store)
    rebuilt = Engine(fed.config, MemoryStore(), partition=fed.partition)
    if BASE_KEY in store.data:
        rebuilt.load_base(store.data[BASE_KEY])
    rebuilt.restore((k, r) for k, r in store.data.items() if k != BASE_KEY)
    rebuilt.finish_rebuild()
    stream = rebuilt.stream_us
    assert stream == fed.stream_us
    minutes = [s for buckets in rebuilt.ledger.minutes.values() for s in buckets]
    assert minutes and min(minutes) >= stream - MINUTE_KEEP_US


def test_a_ledger_prunes_its_minutes_at_their_own_cut():
    ledger = Ledger(parse_config({}))
    hour = 60 * MINUTE_US
    start = START_MS * 1000
    for h in range(6):
        ledger._book("support", "voice", start + h * hour, "offered", 1)
    ledger.prune_windows(start + 2 * hour, start + 4 * hour)
    assert sorted(s for b in ledger.minutes.values() for s in b) == \
        [start + 4 * hour, start + 5 * hour]
    assert min(s for b in ledger.intervals.values() for s in b) >= start + 2 * hour


def test_a_keep_shorter_than_the_erlang_window_would_change_values(events, monkeypatch):
    """The test above can fail: minutes kept 20 minutes lose part of the trailing window."""
    monkeypatch.setattr(engine_module, "MINUTE_KEEP_US", 20 * MINUTE_US)
    short = _fed(events, prune_at_end=True)
    monkeypatch.setattr(engine_module, "MINUTE_KEEP_US", WINDOW_KEEP_US)
    never_pruned = _fed(events, prune_at_end=True)
    now_us = short.stream_us - 40 * MINUTE_US
    assert _erlang(short, now_us) != _erlang(never_pruned, now_us)
