"""The fast text exposition (streams.exporter.render) is byte for byte what prometheus-client
writes for the same families (render_with_client)."""

from __future__ import annotations

import time
from dataclasses import replace

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.config import parse_config
from streams.core.engine import Engine
from streams.core.kpis import all_families
from streams.core.metrics import Family
from streams.exporter import CHUNK_BYTES, chunks, render, render_parts, render_with_client
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


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40) | st.binary(min_size=90, max_size=200), max_size=60),
       st.integers(1, 128))
def test_the_served_chunks_are_the_exposition_in_order_and_keep_large_pieces_uncopied(
        parts, size):
    served = list(chunks(parts, size))
    assert b"".join(served) == b"".join(parts)
    large = [p for p in parts if len(p) >= size]
    assert [c for c in served if any(c is p for p in large)] == large  # the same objects
    for chunk in served:
        if not any(chunk is p for p in large):  # a run: joined up to size, at most one more
            assert len(chunk) < 2 * size + 40


def test_a_busy_exposition_is_served_as_chunks_of_its_render():
    busy = replace(contact_centre(), profile=IntradayProfile(((0.0, 1.0),)))
    now_ms = time.time_ns() // 1_000_000
    engine = Engine(parse_config({}))
    for event in generate(busy, seed=3, start_ms=now_ms - 3_600_000, duration_ms=3_600_000):
        engine.apply(decode(orjson.dumps(event)))  # type: ignore[arg-type]
    families = all_families(engine.config, [engine.ledger], now_ms * 1000)
    parts = render_parts(lambda: families)
    served = list(chunks(parts))
    assert b"".join(served) == render_with_client(lambda: families)
    assert len(served) > 1 and max(map(len, served)) < 2 * CHUNK_BYTES
