"""A prune that finds many hours of entities due at once (stream time jumped: a topic quiet
for hours, a backlog that ended long before the live stream) retires them in chunks of about
``PRUNE_BUDGET`` keys, a chunk every ``PRUNE_AGAIN_AFTER`` events, so that no single event
holds the worker's event loop for the whole retirement; the state it ends in is the one a
prune of everything at once gives."""

from __future__ import annotations

from itertools import pairwise

import orjson
import pytest

from streams.core import engine as engine_module
from streams.core.config import parse_config
from streams.core.engine import Engine, NoStore
from streams.core.kpis import all_families
from streams.core.pipeline import PipelineStats
from streams.ingest import ingest
from streams.simulate.generator import generate
from streams.simulate.scenarios import contact_centre

START_MS = 1_795_338_000_000  # 2026-11-22T09:00Z
HOUR_MS = 3_600_000
BUDGET = 200


def _events(start_ms: int, hours: float) -> list[bytes]:
    return [orjson.dumps(e) for e in generate(contact_centre(), seed=3, start_ms=start_ms,
                                              duration_ms=int(hours * HOUR_MS))]


@pytest.fixture(scope="module")
def streams() -> tuple[list[bytes], list[bytes]]:
    """Six hours of traffic, then half an hour 72 hours later (past the contacts' 48 h)."""
    return _events(START_MS, 6), _events(START_MS + 72 * HOUR_MS, 1 / 2)


def _fed(events: list[bytes]) -> tuple[Engine, PipelineStats]:
    """A new engine, and its counters, after ``events``."""
    engine = Engine(parse_config({}), NoStore())
    stats = PipelineStats()
    for raw in events:
        ingest(raw, engine, stats)
    return engine, stats


def _run(before: list[bytes], after: list[bytes]) -> tuple[Engine, list[int], dict]:
    """An engine fed ``before``, then ``after``; the keys it held after each event of
    ``after``, and its families after the first of them."""
    engine, stats = _fed(before)
    kept = []
    first: dict = {}
    for raw in after:
        ingest(raw, engine, stats)
        kept.append(len(engine._records) + engine.frozen_count)
        if not first:
            first = _families(engine)
    return engine, kept, first


def _families(engine: Engine) -> dict[str, dict]:
    now_us = engine.stream_us
    return {f.name: dict(f.samples) for f in all_families(engine.config, [engine.ledger], now_us)}


def test_a_jump_of_stream_time_is_pruned_in_chunks_to_the_same_state(streams, monkeypatch):
    before, after = streams
    monkeypatch.setattr(engine_module, "PRUNE_BUDGET", 10**9)  # everything due in one go
    whole, whole_kept, whole_first = _run(before, after)
    monkeypatch.setattr(engine_module, "PRUNE_BUDGET", BUDGET)
    chunked, chunked_kept, chunked_first = _run(before, after)

    # The first event after the jump retired a first chunk only: the engine held more
    # than after the whole prune, and fewer than before it.
    held_before = len(before)  # an upper bound of the keys kept before the jump
    assert whole_kept[0] < chunked_kept[0] < held_before
    assert chunked_kept[0] - whole_kept[0] > BUDGET  # left for the next chunks
    assert chunked_first == whole_first  # half pruned, the KPIs are the same
    # Then a chunk every PRUNE_AGAIN_AFTER events, until nothing is left to do.
    assert chunked._prune_again_in == 0
    assert chunked_kept[-1] == whole_kept[-1]
    assert sorted(chunked.kept_records()) == sorted(whole.kept_records())
    assert _families(chunked) == _families(whole)


def test_a_chunk_visits_whole_prune_steps_up_to_about_the_budget(streams, monkeypatch):
    before, after = streams
    monkeypatch.setattr(engine_module, "PRUNE_BUDGET", BUDGET)
    engine, stats = _fed(before)
    due_before = {s: len(keys) for s, keys in engine._due_keys.items()}
    ingest(after[0], engine, stats)  # the jump: one chunk
    step = engine.stream_us // engine_module.PRUNE_STEP_US
    passed = sorted(s for s in due_before if s <= step)
    visited = [s for s in passed if s not in engine._due_keys or len(engine._due_keys[s])
               != due_before[s]]
    assert engine._prune_again_in == engine_module.PRUNE_AGAIN_AFTER
    assert visited == passed[:len(visited)]  # the oldest steps first
    assert 0 < len(visited) < len(passed)
    assert sum(due_before[s] for s in visited[:-1]) < BUDGET  # it stopped once over it


def test_a_direct_prune_still_prunes_everything_due(streams, monkeypatch):
    before, _ = streams
    monkeypatch.setattr(engine_module, "PRUNE_BUDGET", BUDGET)
    engine, _ = _fed(before)
    engine.stream_us += 60 * 3_600_000_000
    engine.prune()
    step = engine.stream_us // engine_module.PRUNE_STEP_US
    assert not [s for s in engine._due_keys if s <= step]


def test_the_undated_keys_are_visited_a_slice_a_chunk_and_all_by_the_round_s_end(
        streams, monkeypatch):
    """Agents have no expiry to file them by: each prune visits them to trim their history,
    and an agent's first trim after a jump drops hours of spans. A chunk takes at most
    ``UNDATED_SLICE`` of them; the next chunks take the rest."""
    before, after = streams
    monkeypatch.setattr(engine_module, "PRUNE_BUDGET", BUDGET)
    engine, stats = _fed(before)
    agents = [key for key in engine._undated if engine._records[key]["kind"] == "agent"]
    assert len(agents) > engine_module.UNDATED_SLICE
    heads = {key: engine._records[key]["tl"][0] for key in agents}

    undated = len(engine._undated)

    ingest(after[0], engine, stats)  # the jump: a first chunk, a first slice of the round
    trimmed = [key for key in agents if engine._records[key]["tl"][0] != heads[key]]
    assert len(trimmed) <= engine_module.UNDATED_SLICE
    assert len(engine._undated_round) == undated - engine_module.UNDATED_SLICE
    assert engine._prune_again_in == engine_module.PRUNE_AGAIN_AFTER

    for raw in after[1:]:
        ingest(raw, engine, stats)
    assert all(engine._records[key]["tl"][0] != heads[key] for key in agents)
    assert engine._undated_round == []


def test_chunks_forget_old_window_buckets_once_a_stream_hour_and_leave_none_older(
        streams, monkeypatch):
    # Each window prune reads every queue's bucket dicts: the chunks that come
    # every PRUNE_AGAIN_AFTER events run it once a stream hour, and still bound the buckets.
    before, after = streams
    scans: list[int] = []
    original = engine_module.Ledger.prune_windows

    def counted(ledger, before_us: int, minutes_before_us: int | None = None) -> None:
        scans.append(before_us)
        original(ledger, before_us, minutes_before_us)

    monkeypatch.setattr(engine_module.Ledger, "prune_windows", counted)
    engine, _ = _fed(before + after)

    assert len(scans) > 2
    assert all(b - a >= engine_module.PRUNE_STEP_US for a, b in pairwise(scans))
    oldest = min(start for store in (engine.ledger.intervals, engine.ledger.minutes)
                 for buckets in store.values() for start in buckets)
    keep, step = engine_module.WINDOW_KEEP_US, engine_module.PRUNE_STEP_US
    assert oldest >= engine.stream_us - keep - 2 * step
    engine.prune()  # a direct prune forgets every bucket past the keep at once
    assert scans[-1] == engine.stream_us - engine_module.WINDOW_KEEP_US
