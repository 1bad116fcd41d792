"""Values many entities hold alike are held once (``streams.core.entities.shared``), and the
table that shares them drops the values no entity holds any more, so it does not grow with
stream time (issue 10: memory that stays flat)."""

from __future__ import annotations

import orjson

from streams.core.config import parse_config
from streams.core.contributions import Count
from streams.core.engine import Engine, NoStore
from streams.core.entities import shared as shared_module
from streams.core.entities.shared import shared, sweep
from streams.core.kpis import all_families
from streams.core.pipeline import PipelineStats
from streams.ingest import ingest
from streams.simulate.generator import generate
from streams.simulate.scenarios import contact_centre

START_MS = 1_795_338_000_000  # 2026-11-22T09:00Z
DAY_MS = 86_400_000


def _only_in_the_table() -> int:
    return len(shared_module._only_held_here(shared_module._HELD))


def test_a_sweep_drops_the_values_only_the_table_holds_and_keeps_sharing_the_others():
    kept = shared(Count("cust_revenue_micro", ("2026-11", "EUR"), 49_900_001))
    shared(Count("cust_revenue_micro", ("2026-11", "EUR"), 49_900_002))  # held by no one
    assert sweep() >= 1
    assert (Count, Count("cust_revenue_micro", ("2026-11", "EUR"), 49_900_002)) \
        not in shared_module._HELD
    again = shared(Count("cust_revenue_micro", ("2026-11", "EUR"), 49_900_001))
    assert again is kept  # still the one value


def _run(days: float, sweep_every: int, monkeypatch) -> tuple[Engine, list[int]]:
    monkeypatch.setattr(shared_module, "SWEEP_EVERY", sweep_every)
    shared_module._HELD.clear()
    engine = Engine(parse_config({}), NoStore())
    stats = PipelineStats()
    unheld = []
    events = generate(contact_centre(), seed=2, start_ms=START_MS, duration_ms=int(days * DAY_MS))
    for n, event in enumerate(events, 1):
        ingest(orjson.dumps(event), engine, stats)
        if n % 20_000 == 0:
            unheld.append(_only_in_the_table())
    return engine, unheld


def _families(engine: Engine) -> dict:
    now = engine.stream_us
    return {f.name: dict(f.samples) for f in all_families(engine.config, [engine.ledger], now)}


def test_values_no_entity_holds_do_not_accumulate_as_stream_time_advances(monkeypatch):
    """Two simulated days: customers' revenue sums are replaced and idle customers frozen,
    leaving values only the table holds. With a sweep every 64 values added they stay at
    most 64; without sweeps they pile up."""
    _, swept = _run(2, 64, monkeypatch)
    _, unswept = _run(2, 10**9, monkeypatch)
    assert len(swept) >= 5
    assert max(swept) <= 64
    assert unswept[-1] > 4 * 64 and unswept[-1] > unswept[len(unswept) // 2]


def test_sweeping_changes_no_kpi(monkeypatch):
    swept, _ = _run(1, 1, monkeypatch)  # a sweep at every value added
    unswept, _ = _run(1, 10**9, monkeypatch)  # never
    assert _families(swept) == _families(unswept)
    assert swept.kept_records() == unswept.kept_records()
