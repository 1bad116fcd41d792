"""The exposition keeps a gauge's or counter's lines between renders (``streams.exporter``:
only the lines of values written differently are written again, keys added after the old
ones are merged into the sorted order, any other change of the keys ranks them anew) and
keeps every family's lines joined in runs, joining again only the runs whose lines changed: at
every render the bytes are what prometheus-client writes for the samples then."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.utils import floatToGoString

from streams import exporter
from streams.core.metrics import Family
from streams.exporter import render, render_with_client

pytestmark = pytest.mark.usefixtures("run_size")  # tests/unit/conftest.py


def gauge(samples: dict[tuple[str, ...], Any], kind: str = "gauge") -> list[Family]:
    name = "cc_kept_total" if kind == "counter" else "cc_kept"
    return [Family(name, kind, "help", ("queue", "window"), samples),
            Family("cc_kept_seconds", "histogram", "help", ("queue",),
                   {(q,): ((1.0,), [1, 1], 0.5) for q, _ in samples})]


def renders_as_the_client(steps: list[dict[tuple[str, ...], Any]], kind: str = "gauge") -> None:
    exporter.forget()
    for samples in steps:
        fams = gauge(samples, kind)
        assert render(lambda: fams) == render_with_client(lambda: fams)  # noqa: B023
        assert render(lambda: fams) == render_with_client(lambda: fams)  # noqa: B023 (kept)


A, B, C, D = ("a", "today"), ("b", "today"), ("c", "today"), ("d", "today")


@pytest.mark.parametrize("steps", [
    [{B: 1, D: 2}, {B: 1, D: 2, A: 3}, {B: 1, D: 2, A: 3, C: 4}],
    [{B: 1}, {B: 1, D: 2, A: 3, C: 4}],
    [{B: 1, D: 2}, {B: 5, D: 2, A: 3}, {B: 5, D: 7, A: 3, C: 4}],
    [{C: 1, A: 2}, {C: 1.0, A: 2, B: 5, D: 0.0}, {C: 1, A: 7, B: 5, D: -0.0}],
    [{A: 1, B: 2, C: 3}, {A: 1, C: 3}, {A: 1, C: 3, B: 2}, {C: 3, A: 1, B: 2}],
    [{A: 1, B: 2, C: 3}, {C: 3, B: 5, A: 1.0}, {B: 5, A: -0.0, C: 3}],
    [{A: 0.0, B: 0}, {A: -0.0, B: -0.0}, {A: 0, B: 0.0}],
    [{A: 1, B: 2}, {A: 2**53, B: 2**53 + 1}, {A: 2**53 + 1, B: 2**53}],
    [{A: math.nan, B: 1e6}, {A: math.nan, B: 1_000_000}, {A: math.inf, B: -math.inf}],
    [{A: 1, B: 2}, {A: "1.5", B: 2}, {A: 1, B: 2}],
    [{A: 1}, {}, {B: 1}],
], ids=["keys-added-after-the-old-ones", "many-added-at-once",
        "old-values-changed-as-keys-are-added", "same-text-other-objects",
        "a-key-gone-and-back-and-reordered", "the-same-keys-in-other-orders", "signs-of-zero",
        "ints-past-2**53",
        "nan-inf-and-a-million", "a-value-not-a-number", "emptied"])
def test_kept_lines_are_what_prometheus_client_writes(steps):
    renders_as_the_client(steps)
    renders_as_the_client(steps, "counter")


def test_a_value_changed_to_an_equal_one_keeps_its_line_and_a_new_one_is_written():
    exporter.forget()
    one = {A: 1, B: 2.0}
    render(lambda: gauge(one))
    kept = exporter._LINES["cc_kept"].lines
    lines = list(kept)
    fams = gauge({A: 1.0, B: 3.0})  # 1.0 is written as 1 was; 3.0 is not
    assert render(lambda: fams) == render_with_client(lambda: fams)
    assert exporter._LINES["cc_kept"].lines[0] is lines[0]
    assert exporter._LINES["cc_kept"].lines[1] is not lines[1]


labels = st.sampled_from([("a", "today"), ("b", "today"), ("b", "interval"), ("c", "x y"),
                          ("d", 'q"uote'), ("e", "today")])
numbers = st.one_of(st.integers(-3, 3), st.sampled_from([0.0, -0.0, 0.5, 1.0, math.nan,
                                                         math.inf, 2.0**53, 1e6, 2**53 + 1]))
edits = st.lists(st.tuples(st.sampled_from(["set", "pop", "same"]), labels, numbers),
                 max_size=5)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(labels, numbers, max_size=6), st.lists(edits, min_size=1, max_size=6))
def test_every_render_of_a_family_changed_in_place_is_what_prometheus_client_writes(
        first, steps):
    """Each step changes the previous samples as a builder does (values set, keys added at
    the end, keys popped), so the kept lines' paths are all taken."""
    samples = dict(first)
    seen = [dict(samples)]
    for step in steps:
        for what, key, value in step:
            if what == "set":
                samples[key] = value
            elif what == "pop":
                samples.pop(key, None)
            elif key in samples:
                samples[key] = float(samples[key]) if samples[key] == samples[key] else value
        seen.append(dict(samples))
    renders_as_the_client(seen)


def histogram(samples: dict[tuple[str, ...], Any]) -> list[Family]:
    return [Family("cc_kept_seconds", "histogram", "help", ("queue", "channel"), samples)]


BOUNDS = (1.0, 2.5)
X, Y, Z = ("x", "voice"), ("y", "chat"), ("w", "voice")
V, W = ("a", "chat"), ("z", "voice")


@pytest.mark.parametrize("steps", [
    [{X: (BOUNDS, [1, 2, 3], 4.0), Y: (BOUNDS, [0, 0, 1], 9.5)},
     {X: (BOUNDS, [1, 2, 4], 4.5), Y: (BOUNDS, [0, 0, 1], 9.5)},
     {X: (BOUNDS, [1, 2, 4], 4.5), Y: (BOUNDS, [0, 0, 1], 9.5), Z: (BOUNDS, [1, 0, 0], 0.5)},
     {Z: (BOUNDS, [1, 0, 0], 0.5), X: (BOUNDS, [1, 2, 4], 4.5)}],
    [{X: (BOUNDS, [1, 0, 0], 0)}, {X: (BOUNDS, [1, 0, 0], 0.0)}, {X: (BOUNDS, [1, 0, 0], -0.0)},
     {X: (BOUNDS, [1, 0, 0], 0.0)}],
    [{X: (BOUNDS, [0, 1, 0], math.nan)}, {X: (BOUNDS, [0, 1, 0], math.nan)},
     {X: (BOUNDS, [0, 1, 0], 2.0)}],
    [{X: (BOUNDS, [0, 1, 0], 2.0)}, {X: ((1.0, 2.0), [0, 1, 0], 2.0)},
     {X: ((-0.0, 2.0), [0, 1, 0], 2.0)}, {X: ((0.0, 2.0), [0, 1, 0], 2.0)}],
    [{Y: (BOUNDS, [0, 0, 1], 9.5)},
     {Y: (BOUNDS, [0, 1, 1], 9.5), X: (BOUNDS, [1, 2, 3], 4.0), V: (BOUNDS, [1, 0, 0], 0.5)},
     {Y: (BOUNDS, [0, 1, 1], 9.5), X: (BOUNDS, [1, 2, 3], 4.0), V: (BOUNDS, [1, 0, 1], 3.5),
      W: (BOUNDS, [0, 0, 0], 0.0), Z: (BOUNDS, [1, 0, 0], 0.5)},
     {Y: (BOUNDS, [0, 1, 1], 9.5), X: (BOUNDS, [1, 2, 3], 4.0), V: (BOUNDS, [1, 0, 1], 3.5),
      W: (BOUNDS, [0, 0, 0], -0.0), Z: (BOUNDS, [1, 0, 0], 0.5)}],
], ids=["counts-sums-and-keys-changed", "signs-of-zero-sums", "nan-sums", "bounds-changed",
        "keys-added-after-the-old-ones-before-between-and-after-them"])
def test_kept_histogram_texts_are_what_prometheus_client_writes(steps):
    exporter.forget()
    for samples in steps:
        fams = histogram(samples)
        assert render(lambda: fams) == render_with_client(lambda: fams)  # noqa: B023
        assert render(lambda: fams) == render_with_client(lambda: fams)  # noqa: B023 (kept)


def test_a_kept_histogram_text_follows_counts_changed_in_place():
    exporter.forget()
    counts = [1, 2, 3]
    fams = histogram({X: (BOUNDS, counts, 1.5), Y: (BOUNDS, [0, 0, 1], 3.0)})
    render(lambda: fams)
    for n in (7, 8):
        counts[1] = n  # the same list, changed after the render
        assert render(lambda: fams) == render_with_client(lambda: fams)


@pytest.mark.parametrize("seed", range(12))
def test_a_wide_family_whose_keys_go_and_come_back_renders_as_the_client(seed):
    """Ratios on a wide floor: a key goes while its denominator is 0 and comes back at the
    end of the samples, a few or many at a time, values moving."""
    import random

    rng = random.Random(seed)
    universe = [(f"queue-{i:03d}", w) for i in range(150) for w in ("interval", "today")]
    samples = {key: rng.random() for key in universe if rng.random() < 0.8}
    steps = [dict(samples)]
    for _ in range(8):
        for _ in range(rng.choice([1, 3, 40, 90])):
            key = rng.choice(universe)
            if key in samples:
                del samples[key]
            else:
                samples[key] = rng.choice([0.0, -0.0, 1, rng.random()])
        for key in rng.sample(list(samples), min(5, len(samples))):
            samples[key] = rng.random()
        steps.append(dict(samples))
    renders_as_the_client(steps)


@pytest.mark.parametrize("seed", range(12))
def test_a_wide_family_moving_with_the_clock_renders_as_the_client(seed):
    """Busy seconds on a wide floor: most values move at every scrape (written anew as runs,
    ``exporter._all_lines``), then a few, none, keys added or gone, signs of zero."""
    import random

    rng = random.Random(seed)
    universe = [(f"queue-{i:03d}", w) for i in range(120) for w in ("interval", "today")]
    samples: dict[tuple[str, ...], Any] = {key: rng.random() for key in universe[:200]}
    steps = [dict(samples)]
    for _ in range(10):
        share = rng.choice([1.0, 0.9, 0.6, 0.05, 0.0])
        for key in list(samples):
            if rng.random() < share:
                samples[key] = rng.choice([samples[key] + 1.5, 0.0, -0.0, 0, 7, rng.random()])
        if rng.random() < 0.3:
            samples[rng.choice(universe[200:])] = 1.0  # a key added at the end
        if rng.random() < 0.2:
            del samples[rng.choice(list(samples))]
        steps.append(dict(samples))
    renders_as_the_client(steps)
    exporter.forget()
    fams = gauge({key: float(i) for i, key in enumerate(universe)})
    render(lambda: fams)
    fams = gauge({key: i + 0.5 for i, key in enumerate(universe)})
    assert render(lambda: fams) == render_with_client(lambda: fams)
    assert exporter._LINES["cc_kept"].lines is None  # written anew as runs, no lines kept


class Subfloat(float):
    """A float subclass (as numpy's float64 is)."""


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.floats(), st.floats(-2e6, 2e6), st.integers(-2**60, 2**60)),
                max_size=30))
def test_a_list_of_numbers_is_written_as_the_client_writes_each(values):
    """``exporter._numbers_text``: floats only, finite, below a million take a path in C."""
    assert exporter._numbers_text(values) == [floatToGoString(v) for v in values]


@pytest.mark.parametrize("values", [[1.5, "2.5"], [1.5, None], ["1"], [1.5, Subfloat(2.5)]])
def test_a_list_with_something_not_an_int_or_a_float_is_refused(values):
    """The family is then written by the plain path (``exporter._cached_text``)."""
    with pytest.raises(TypeError):
        exporter._numbers_text(values)


def test_a_family_kept_at_one_run_size_renders_as_the_client_after_it_changes(monkeypatch):
    """A family keeps the run size it was first written with (``_Lines.per``): the runs it
    holds are cut at that size even if the module's changes."""
    monkeypatch.setattr(exporter, "RUN_LINES", 2)
    monkeypatch.setattr(exporter, "RUN_SAMPLES", 2)
    exporter.forget()
    keys = [(f"q{i:02d}", "today") for i in range(70)]  # past ALL_LINES_FROM
    samples = {key: float(i) for i, key in enumerate(keys)}
    fams = gauge(samples)
    render(lambda: fams)
    monkeypatch.setattr(exporter, "RUN_LINES", 5)
    monkeypatch.setattr(exporter, "RUN_SAMPLES", 5)
    # one line moved (its run joined again), most moved (every run written anew), one again
    for step, moved in enumerate([[3], list(range(60)), [7], [41, 42]]):
        for i in moved:
            samples[keys[i]] += 0.25
        fams = gauge(samples)
        fams[1].samples[(keys[3 + step][0],)] = ((1.0,), [step, 1], 0.5 + step)
        assert render(lambda: fams) == render_with_client(lambda: fams)  # noqa: B023
