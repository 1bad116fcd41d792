"""The staffing searches' shortcuts give exactly the numbers of the plain functions.

``required_agents_erlang_a`` evaluates only the service level at each staffing it tries, and
carries Erlang B's recursion from one staffing to the next (:class:`erlang._LogBelow`);
``required_agents`` carries Erlang B along its walk. Each is compared here, bit for bit, with
the plain computation it replaces: ``erlang_a(...).service_level``,
``_log_inverse_blocking_minus_one`` from scratch, and the searches written over them.
"""

from __future__ import annotations

import itertools
import math

import pytest

from streams.core import erlang

#: (arrival rate /s, AHT s, patience s, threshold s): a quiet queue of the wide bench, a busy
#: one, pyworkforce's 10-erlang oracle, an overloaded impatient one, a large centre.
LOADS = [
    (0.0077777777777777776, 228.6243, 224.3165, 20.0),
    (0.05, 346.73, 120.0, 20.0),
    (100 / 1800, 180.0, 300.0, 20.0),
    (20 / 180, 180.0, 60.0, 30.0),
    (480 / 180, 180.0, 300.0, 20.0),
]
LOAD_IDS = ["quiet-queue", "busy-queue", "pyworkforce-10-erl", "overloaded-impatient",
            "large-centre-480-erl"]
TARGETS = [0.5, 0.8, 0.95]


def plain_required_agents_erlang_a(rate: float, aht: float, patience: float,
                                   threshold: float, target: float) -> int:
    """The fewest agents whose ``erlang_a`` service level meets ``target``, found by trying
    every staffing from 1 up (the search's bisection relies on the service level rising with
    the agents; this oracle does not)."""
    return next(agents for agents in itertools.count(1)
                if erlang.erlang_a(agents, rate, aht, patience, threshold).service_level
                >= target)


def plain_required_agents(traffic: float, aht: float, threshold: float, target: float) -> int:
    """Erlang C's walk over ``service_level`` as it was written before its shortcut."""
    agents = math.floor(traffic) + 1
    while erlang.service_level(agents, traffic, aht, threshold) < target:
        agents += 1
    return agents


class TestErlangAServiceLevelAlone:
    @pytest.mark.parametrize(("rate", "aht", "patience", "threshold"), LOADS, ids=LOAD_IDS)
    def test_is_erlang_a_service_level_bit_for_bit_at_staffings_asked_in_any_order(
            self, rate, aht, patience, threshold):
        traffic = rate * aht
        log_below = erlang._LogBelow(traffic)
        base = max(1, math.ceil(traffic))
        for agents in (base + 7, 1, base, base + 40, 2, base + 3, base + 1, base + 100):
            assert log_below(agents) == erlang._log_inverse_blocking_minus_one(agents, traffic)
            alone = erlang._erlang_a_service_level(agents, rate, aht, patience, threshold,
                                                   log_below(agents))
            assert alone == erlang.erlang_a(agents, rate, aht, patience,
                                            threshold).service_level


class TestRequiredAgentsErlangA:
    @pytest.mark.parametrize("target", TARGETS, ids=[f"target-{t}" for t in TARGETS])
    @pytest.mark.parametrize(("rate", "aht", "patience", "threshold"), LOADS, ids=LOAD_IDS)
    def test_is_the_plain_search_over_erlang_a(self, rate, aht, patience, threshold, target):
        assert erlang.required_agents_erlang_a(rate, aht, patience, threshold, target) == (
            plain_required_agents_erlang_a(rate, aht, patience, threshold, target))

    @pytest.mark.parametrize(
        ("patience", "threshold", "message"),
        [(0.0, 20.0, "patience_seconds must be a positive finite number, got 0.0"),
         (300.0, -1.0, "threshold_seconds must be a finite number ≥ 0, got -1.0")],
        ids=["no-patience", "negative-threshold"])
    def test_rejects_what_erlang_a_rejects_with_the_same_message(
            self, patience, threshold, message):
        with pytest.raises(ValueError, match=message):
            erlang.required_agents_erlang_a(0.05, 180.0, patience, threshold, 0.8)


class TestRequiredAgentsErlangC:
    @pytest.mark.parametrize("target", TARGETS, ids=[f"target-{t}" for t in TARGETS])
    @pytest.mark.parametrize(("rate", "aht", "patience", "threshold"), LOADS, ids=LOAD_IDS)
    def test_is_the_plain_walk_over_service_level(self, rate, aht, patience, threshold,
                                                  target):
        traffic = rate * aht
        assert erlang.required_agents(traffic, aht, threshold, target) == (
            plain_required_agents(traffic, aht, threshold, target))

    @pytest.mark.parametrize(("rate", "aht", "patience", "threshold"), LOADS, ids=LOAD_IDS)
    def test_carries_erlang_b_of_each_staffing_walked_bit_for_bit(
            self, monkeypatch, rate, aht, patience, threshold):
        traffic = rate * aht
        walked: list[tuple[int, float]] = []
        plain = erlang._service_level_c

        def recording(agents, traffic_, aht_, threshold_, blocking):
            walked.append((agents, blocking))
            return plain(agents, traffic_, aht_, threshold_, blocking)

        monkeypatch.setattr(erlang, "_service_level_c", recording)
        erlang.required_agents(traffic, aht, threshold, 0.99)
        assert len(walked) > 1
        for agents, blocking in walked:
            assert blocking == erlang.erlang_b(agents, traffic)
            assert plain(agents, traffic, aht, threshold, blocking) == erlang.service_level(
                agents, traffic, aht, threshold)
