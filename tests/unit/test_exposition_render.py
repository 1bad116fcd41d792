"""The fast text exposition (streams.exporter.render) is byte for byte what prometheus-client
writes for the same families (render_with_client)."""

from __future__ import annotations

import time
from dataclasses import replace

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams import exporter
from streams.core.config import parse_config
from streams.core.engine import Engine
from streams.core.kpis import all_families
from streams.core.metrics import Family
from streams.exporter import (
    RUN_LINES,
    RUN_SAMPLES,
    Exposition,
    chunks,
    render,
    render_parts,
    render_with_client,
)
from streams.simulate.generator import generate
from streams.simulate.model import IntradayProfile
from streams.simulate.scenarios import contact_centre
from streams.validation import decode


def test_a_simulated_days_exposition_is_identical_to_prometheus_clients():
    now_ms = time.time_ns() // 1_000_000
    busy = replace(contact_centre(), profile=IntradayProfile(((0.0, 1.0),)))
    engine = Engine(parse_config({}))
    for event in generate(busy, seed=9, start_ms=now_ms - 4 * 3_600_000,
                          duration_ms=4 * 3_600_000):
        engine.apply(decode(orjson.dumps(event)))  # type: ignore[arg-type]
    families = all_families(engine.config, [engine.ledger], now_ms * 1000)
    ours = render(lambda: families)
    assert ours == render_with_client(lambda: families)
    assert ours.count(b"\n") > 2000  # not vacuous: every kind of family, many series


label_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
numbers = st.one_of(st.integers(-10**9, 10**12), st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.tuples(label_text, label_text, numbers), max_size=6),
       help_text=label_text)
def test_hostile_label_values_and_numbers_render_as_the_client_renders_them(values, help_text):
    counter = Family("cc_weird_total", "counter", help_text, ("zone", "queue"))
    gauge = Family("cc_weird_level", "gauge", help_text, ("queue", "channel"))
    plain = Family("cc_plain", "gauge", "no labels", ())
    histogram = Family("cc_weird_seconds", "histogram", help_text, ("queue", "window"))
    for a, b, n in values:
        counter.samples[(a, b)] = abs(n) if n == n else 0.0
        gauge.samples[(a, b)] = n
        histogram.samples[(a, b)] = ((0.5, 20.0, 1e7), [1, 2, 3, 4], float(abs(n) if n == n
                                                                            else 0))
    plain.samples[()] = 3
    families = [counter, gauge, plain, histogram]
    assert render(lambda: families) == render_with_client(lambda: families)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=60), st.integers(1, 64))
def test_the_served_chunks_are_the_exposition_in_order_and_keep_long_pieces_uncopied(
        parts, at_least):
    served = list(chunks(Exposition(parts), at_least))
    assert b"".join(served) == b"".join(parts)
    assert all(len(chunk) >= at_least for chunk in served[:-1])  # short pieces joined
    assert len(served) <= len(parts)
    pending = 0  # bytes of short pieces not yet sent when a piece comes
    for part in parts:  # a long piece with nothing short before it is sent as it is
        if len(part) >= at_least and not pending:
            assert any(chunk is part for chunk in served)
        pending = 0 if pending + len(part) >= at_least else pending + len(part)


def test_a_busy_exposition_is_served_as_runs_of_its_families_lines():
    busy = replace(contact_centre(), profile=IntradayProfile(((0.0, 1.0),)))
    now_ms = time.time_ns() // 1_000_000
    engine = Engine(parse_config({}))
    events = list(generate(busy, seed=3, start_ms=now_ms - 3_600_000, duration_ms=3_600_000))
    for event in events[:-200]:
        engine.apply(decode(orjson.dumps(event)))  # type: ignore[arg-type]
    at_us = now_ms * 1000
    render_parts(lambda: all_families(engine.config, [engine.ledger], at_us))
    for event in events[-200:]:  # some families change, the rest are kept texts
        engine.apply(decode(orjson.dumps(event)))  # type: ignore[arg-type]
    families = all_families(engine.config, [engine.ledger], at_us)
    exposition = render_parts(lambda: families)
    served = list(chunks(exposition))
    assert b"".join(served) == render_with_client(lambda: families)
    lines = sum(part.count(b"\n") for part in exposition.parts)
    assert len(exposition.parts) < len(families) + lines // RUN_LINES + 1  # runs, not lines
    buckets = [part.count(b"_bucket{") for part in exposition.parts]
    assert max(buckets) >= 2 * RUN_SAMPLES  # a histogram's samples, joined a run at a time
    assert len(served) < len(exposition.parts)  # the short ones joined for sending


def fed_floor(seed: int) -> tuple[Engine, list[dict], int]:
    busy = replace(contact_centre(), profile=IntradayProfile(((0.0, 1.0),)))
    now_ms = time.time_ns() // 1_000_000
    engine = Engine(parse_config({}))
    events = list(generate(busy, seed=seed, start_ms=now_ms - 3_600_000,
                           duration_ms=3_600_000))
    for event in events[:-100]:
        engine.apply(decode(orjson.dumps(event)))  # type: ignore[arg-type]
    return engine, events[-100:], now_ms * 1000


@pytest.mark.parametrize("per", [1, 2, 7])
def test_only_the_runs_holding_a_changed_line_are_joined_again(monkeypatch, per):
    """A family with one changed sample sends its other runs as the very objects it sent
    before; at every render the bytes are the client's."""
    monkeypatch.setattr(exporter, "RUN_LINES", per)
    monkeypatch.setattr(exporter, "RUN_SAMPLES", per)
    exporter.forget()
    engine, later, at_us = fed_floor(seed=5)
    families = all_families(engine.config, [engine.ledger], at_us)
    before = render_parts(lambda: families).parts
    name = "cc_window_tickets_created"
    fam = next(f for f in families if f.name == name)
    key = sorted(fam.samples)[len(fam.samples) // 2]
    fam.samples[key] += 1
    after = render_parts(lambda: families).parts
    assert b"".join(after) == render_with_client(lambda: families)
    assert len(after) == len(before)
    again = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a is not b]
    assert len(again) == 1 and name.encode() + b"{" in after[again[0]]
    for event in later:  # every kind of change a builder makes, at these run sizes
        engine.apply(decode(orjson.dumps(event)))  # type: ignore[arg-type]
        families = all_families(engine.config, [engine.ledger], at_us)
        assert render(lambda: families) == render_with_client(lambda: families)  # noqa: B023
