"""The fast text exposition (streams.exporter.render) is byte for byte what prometheus-client
writes for the same families (render_with_client)."""

from __future__ import annotations

import re
import time
from dataclasses import replace

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.config import parse_config
from streams.core.engine import Engine
from streams.core.kpis import all_families
from streams.core.metrics import Family
from streams.exporter import Exposition, chunks, render, render_parts, render_with_client
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
@given(st.lists(st.tuples(st.binary(max_size=40), st.booleans()), max_size=60),
       st.integers(1, 16))
def test_the_served_chunks_are_the_exposition_in_order_and_keep_whole_families_uncopied(
        pieces, per):
    parts = [piece for piece, _ in pieces]
    whole = [i for i, (_, is_whole) in enumerate(pieces) if is_whole]
    served = list(chunks(Exposition(parts, whole), per))
    assert b"".join(served) == b"".join(parts)
    assert all(any(c is parts[i] for c in served) for i in whole)  # sent, not copied
    runs = [b - a - 1 for a, b in zip([-1, *whole], [*whole, len(parts)], strict=True)]
    assert len(served) == len(whole) + sum(-(-n // per) for n in runs)  # per lines a chunk


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=40), st.sampled_from("wlh")), max_size=80),
       st.integers(1, 16), st.integers(1, 5))
def test_histogram_texts_are_served_fewer_at_a_time_than_lines(pieces, per, heavy_per):
    parts = [piece for piece, _ in pieces]
    kinds = "".join(kind for _, kind in pieces)  # w: whole, l: a line, h: a histogram's text
    whole = [i for i, kind in enumerate(kinds) if kind == "w"]
    heavy = [(m.start(), m.end()) for m in re.finditer("h+", kinds)]
    served = list(chunks(Exposition(parts, whole, heavy), per, heavy_per))
    assert b"".join(served) == b"".join(parts)
    assert all(any(c is parts[i] for c in served) for i in whole)  # sent, not copied
    runs = [(len(m.group()), heavy_per if m.group()[0] == "h" else per)
            for m in re.finditer("h+|l+", kinds)]
    assert len(served) == len(whole) + sum(-(-n // at) for n, at in runs)


def test_a_busy_exposition_is_served_as_chunks_of_its_render():
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
    assert 0 < len(exposition.whole) < len(families) and len(served) > len(exposition.whole)
    assert exposition.heavy  # the contact histograms' samples
    for start, stop in exposition.heavy:
        assert all(piece.count(b"_bucket{") >= 2 for piece in exposition.parts[start:stop])
