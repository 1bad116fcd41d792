"""A builder that keeps its families across scrapes tells the exposition which keys it wrote
(``streams.core.metrics.Journal``): the exposition then looks at those keys only, and at
every render the bytes are still what prometheus-client writes for the samples then —
whatever was written, added, removed, left out of a render, or changed by a caller that
dropped the journal."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from streams import exporter
from streams.core.metrics import Family, Journal
from streams.exporter import render, render_with_client

pytestmark = pytest.mark.usefixtures("run_size")  # tests/unit/conftest.py

BOUNDS = (0.5, 20.0, 1e7)


def test_a_journal_tells_the_keys_written_after_an_epoch_up_to_another():
    journal = Journal()
    assert journal.close(["a"]) == 1
    assert journal.close([]) == 2
    assert journal.close(["b", "c"]) == 3
    assert journal.since(0, 3) == [["b", "c"], ["a"]]
    assert journal.since(1, 3) == [["b", "c"]]
    assert journal.since(1, 2) == []
    assert journal.since(3, 3) == []
    assert journal.since(3, 4) is None  # not an epoch yet
    assert journal.since(2, 1) is None


def test_a_journal_merges_its_oldest_updates_so_a_reader_far_behind_gets_every_key_since():
    journal = Journal()
    for i in range(1, Journal.KEPT + 6):  # update i writes key i (and key 0 at the first)
        journal.close([0, i] if i == 1 else [i])
    newest = journal.epoch
    assert [list(keys) for keys in journal.since(newest - 2, newest)] == [[newest],
                                                                          [newest - 1]]
    far = {key for keys in journal.since(0, newest) for key in keys}
    assert far == set(range(newest + 1))  # every key written since, merged or apart
    behind = {key for keys in journal.since(2, newest) for key in keys}
    assert set(range(3, newest + 1)) <= behind  # what changed for it, maybe more
    older = {key for keys in journal.since(2, 4) for key in keys}  # a copy as of epoch 4
    assert {3, 4} <= older and newest not in older
    assert len(journal._written) == Journal.KEPT + 1


class Builder:
    """Keeps a gauge's and a histogram's samples as the KPI builders do: set in place,
    added at the end, popped, and every key written closed into the journal."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.universe = [(f"q{i:03d}", w) for i in range(90) for w in ("interval", "today")]
        self.journal = Journal()
        self.gauge = Family("cc_kept", "gauge", "help", ("queue", "window"), journal=self.journal)
        self.hist = Family("cc_kept_seconds", "histogram", "help", ("queue", "window"),
                           journal=self.journal)
        for key in self.universe:
            if rng.random() < 0.7:
                self.gauge.samples[key] = rng.random()
                self.hist.samples[key] = (BOUNDS, [1, 2, 3, 4], 1.5)
        self.update(0)

    def value(self) -> Any:
        return self.rng.choice([0, 0.0, -0.0, 1, 1.0, self.rng.random(), 2**53 + 1, math.inf,
                                1e6])

    def update(self, n: int) -> None:
        rng, written = self.rng, []
        for _ in range(n):
            key = rng.choice(self.universe)
            written.append(key)
            action = rng.random()
            if action < 0.15 and key in self.gauge.samples:
                del self.gauge.samples[key]
                del self.hist.samples[key]
            elif action < 0.25 and key in self.gauge.samples:  # popped and back at the end
                del self.gauge.samples[key]
                self.gauge.samples[key] = self.value()
            else:
                self.gauge.samples[key] = self.value()
                total = rng.choice([0.0, 2.5, float(rng.randint(1, 9))])
                self.hist.samples[key] = (BOUNDS, [rng.randint(0, 3) for _ in range(4)], total)
        epoch = self.journal.close(written)
        self.gauge.epoch = self.hist.epoch = epoch

    def scrape(self) -> list[Family]:
        return [self.gauge.copy(), self.hist.copy()]


@pytest.mark.parametrize("seed", range(25))
def test_renders_from_a_journal_are_what_prometheus_client_writes(seed):
    rng = random.Random(seed)
    exporter.forget()
    builder = Builder(rng)
    older: list[Family] = []
    for _ in range(40):
        builder.update(rng.choice([0, 1, 3, 20, 150]))
        if rng.random() < 0.3:
            continue  # updated, not rendered (the worker's warm-up)
        if rng.random() < 0.15:  # wallboard reads between scrapes: older updates merged
            for _ in range(Journal.KEPT + rng.randint(0, 10)):
                builder.update(rng.choice([0, 1, 3]))
        fams = builder.scrape()
        if rng.random() < 0.1:
            fams[0].add(("q000", "interval"), 1)  # a caller's change: the journal dropped
        if older and rng.random() < 0.1:
            fams = older  # an older copy rendered after a newer one
        older = builder.scrape()
        assert render(lambda: fams) == render_with_client(lambda: fams)  # noqa: B023
        assert render(lambda: fams) == render_with_client(lambda: fams)  # noqa: B023 (kept)


def test_a_render_from_a_journal_looks_only_at_the_keys_written():
    """What makes it cheap, pinned: a value changed behind the journal's back is not seen
    (a builder must journal every key it writes), one journaled is."""
    exporter.forget()
    journal = Journal()
    fam = Family("cc_kept", "gauge", "help", ("queue",),
                 {(f"q{i}",): float(i) for i in range(100)}, journal, journal.close([]))
    render(lambda: [fam.copy()])
    fam.samples[("q1",)] = 41.0  # not journaled
    fam.samples[("q2",)] = 42.0
    fam.epoch = journal.close([("q2",)])
    text = render(lambda: [fam.copy()]).decode()
    assert 'cc_kept{queue="q1"} 1.0\n' in text and 'cc_kept{queue="q2"} 42.0\n' in text


def test_keys_added_from_a_journal_then_every_line_written_anew_as_runs():
    exporter.forget()
    journal = Journal()
    keys = [(f"q{i:03d}",) for i in range(0, 200, 2)]
    fam = Family("cc_kept", "gauge", "help", ("queue",), {k: 1.0 for k in keys}, journal,
                 journal.close([]))

    def renders_as_the_client(copy: Family) -> None:
        assert render(lambda: [copy]) == render_with_client(lambda: [copy])

    renders_as_the_client(fam.copy())
    moved = Family("cc_kept", "gauge", "help", ("queue",), {k: 2.5 for k in keys})
    renders_as_the_client(moved)  # no journal: every line written anew, as runs
    fam.samples[keys[0]] = 3.0
    fam.epoch = journal.close([keys[0]])
    renders_as_the_client(fam.copy())
    added = [(f"q{i:03d}",) for i in range(1, 40, 2)]  # between the old keys
    fam.samples.update(dict.fromkeys(added, 4.0))
    fam.epoch = journal.close(added)
    renders_as_the_client(fam.copy())  # from the journal: the new lines in their places
    renders_as_the_client(Family("cc_kept", "gauge", "help", ("queue",),
                                 {k: 5.5 for k in fam.samples}))


def histogram(samples: dict[tuple[str, ...], Any], journal: Journal) -> Family:
    return Family("cc_kept_seconds", "histogram", "help", ("queue",), samples, journal,
                  journal.epoch)


@pytest.mark.parametrize("then", [((0.5, 20.0), [1, 0, 0], -0.0), ((-0.0, 20.0), [1, 0, 0], 0.0)],
                         ids=["sum", "bound"])
def test_a_journaled_histogram_sample_turning_to_minus_zero_is_written_so(then):
    exporter.forget()
    journal = Journal()
    fam = histogram({("a",): ((0.0, 20.0) if then[0][0] == 0 else (0.5, 20.0), [1, 0, 0], 0.0),
                     ("b",): ((0.5, 20.0), [0, 1, 0], 1.0)}, journal)
    fam.epoch = journal.close([])
    render(lambda: [fam.copy()])
    fam.samples[("a",)] = then
    fam.epoch = journal.close([("a",)])
    copy = fam.copy()
    assert render(lambda: [copy]) == render_with_client(lambda: [copy])


@pytest.mark.parametrize("kind", ["gauge", "histogram"])
def test_an_older_copy_rendered_between_newer_ones_leaves_the_newer_text(kind):
    exporter.forget()
    journal = Journal()

    def family(values: list[float]) -> Family:
        samples: dict[tuple[str, ...], Any] = {
            (f"q{i:03d}",): (v if kind == "gauge" else ((1.0,), [1, 1], v))
            for i, v in enumerate(values)}
        return Family("cc_kept_seconds", kind, "help", ("queue",), samples, journal,
                      journal.close([(f"q{i:03d}",) for i in range(len(values))]))

    old, new = family([1.0] * 80), family([2.0] * 80)
    for fams in ([new], [old], [new], [new]):
        assert render(lambda: fams) == render_with_client(lambda: fams)  # noqa: B023


@pytest.mark.parametrize("change", ["added", "removed"])
def test_samples_more_or_fewer_than_the_journal_told_are_compared_every_one(change):
    """A builder that forgot a key: the count of samples gives it away."""
    exporter.forget()
    journal = Journal()
    for kind in ("gauge", "histogram"):
        value: Any = 1.0 if kind == "gauge" else ((1.0,), [1, 1], 1.0)
        fam = Family(f"cc_kept_{kind}", kind, "help", ("queue",),
                     {(f"q{i:03d}",): value for i in range(0, 80, 2)}, journal, journal.close([]))
        render(lambda: [fam.copy()])  # noqa: B023
        if change == "added":
            fam.samples[("q001",)] = value
        else:
            del fam.samples[("q002",)]
        fam.epoch = journal.close([])
        copy = fam.copy()
        assert render(lambda: [copy]) == render_with_client(lambda: [copy])  # noqa: B023
