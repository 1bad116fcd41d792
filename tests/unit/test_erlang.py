"""Erlang B / C / A against published values and independent computations.

Oracles: pyworkforce's test suite (rodrigo-arenas/pyworkforce, ``queuing/tests``): 100 calls
per 30 minutes, AHT 3 min, so λ = 100/1800 per second and A = 10 erlangs. Its Erlang C cases
use a 0.33-minute (19.8 s) threshold; its Erlang A snapshot (patience 5 min) uses 20/60 minute
= 20 s, so the Erlang A service level is checked at 20 s.
"""

from __future__ import annotations

import math

import pytest

from streams.core import erlang

ARRIVALS_PER_SECOND = 100 / 1800
AHT_SECONDS = 180.0
TRAFFIC = ARRIVALS_PER_SECOND * AHT_SECONDS


def uniformized_answered_within(agents: int, ahead: int, service_rate: float, theta: float,
                                threshold: float) -> float:
    """P(a caller with ``ahead`` callers in front is answered by ``threshold``).

    Independent of the closed form in ``erlang``: uniformization of the tagged-caller chain
    (position k advances at N·μ + k·θ, the caller abandons at θ), as pyworkforce computes it.
    """
    top = service_rate + ahead * theta + theta
    dist = [0.0] * (ahead + 1)
    dist[ahead] = 1.0
    served = 0.0
    rate_t = top * threshold
    poisson = math.exp(-rate_t)
    result = 0.0
    for step in range(1, int(rate_t + 12 * math.sqrt(rate_t) + 60)):
        new = [0.0] * (ahead + 1)
        for k, mass in enumerate(dist):
            advance = service_rate + k * theta
            if k == 0:
                served += mass * service_rate / top
            else:
                new[k - 1] += mass * advance / top
            new[k] += mass * (top - advance - theta) / top
        dist = new
        poisson *= rate_t / step
        result += poisson * served
    return result


class TestErlangB:
    @pytest.mark.parametrize(
        ("servers", "traffic", "expected"),
        [
            (0, 3.0, 1.0),
            (1, 1.0, 0.5),
            (2, 1.0, 0.2),
            (5, 2.0, 0.03669724770642202),   # (2^5/5!) / Σ 2^k/k!  = 0.2667 / 7.2667
            (10, 10.0, 0.21458234),           # classic table value
            (17, 10.0, 0.012948875),          # pyworkforce: 17 trunks for 2 % at 10 erl
        ],
        ids=["no-trunks-blocks-all", "1-trunk-1-erl", "2-trunks-1-erl", "5-trunks-2-erl",
             "10-trunks-10-erl", "17-trunks-10-erl"],
    )
    def test_matches_known_values(self, servers, traffic, expected):
        assert erlang.erlang_b(servers, traffic) == pytest.approx(expected, rel=1e-3)

    def test_matches_the_factorial_formula_where_that_is_still_exact(self):
        traffic = 7.3
        terms = [traffic**k / math.factorial(k) for k in range(13)]
        assert erlang.erlang_b(12, traffic) == pytest.approx(terms[-1] / sum(terms), rel=1e-12)

    def test_stays_finite_for_thousands_of_trunks(self):
        blocking = erlang.erlang_b(20_000, 19_500.0)
        assert 0.0 < blocking < 0.01

    @pytest.mark.parametrize(
        ("traffic", "max_blocking", "expected"),
        [(10.0, 0.02, 17), (10.0, 0.001, 21), (0.0, 0.01, 0)],
        ids=["2pct-at-10-erl", "0.1pct-at-10-erl", "no-traffic-needs-no-trunks"],
    )
    def test_required_trunks_is_the_smallest_count_meeting_the_target(
            self, traffic, max_blocking, expected):
        trunks = erlang.required_trunks(traffic, max_blocking)
        assert trunks == expected
        if trunks:
            assert erlang.erlang_b(trunks, traffic) <= max_blocking
            assert erlang.erlang_b(trunks - 1, traffic) > max_blocking


class TestErlangC:
    @pytest.mark.parametrize(
        ("agents", "service_level", "wait_probability", "occupancy"),
        [(14, 0.888, 0.174, 0.714), (15, 0.941, 0.102, 0.667)],
        ids=["14-agents", "15-agents"],
    )
    def test_reproduces_pyworkforce(self, agents, service_level, wait_probability, occupancy):
        assert round(erlang.service_level(agents, TRAFFIC, AHT_SECONDS, 19.8), 3) == \
            service_level
        assert round(erlang.erlang_c(agents, TRAFFIC), 3) == wait_probability
        assert round(erlang.occupancy(agents, TRAFFIC), 3) == occupancy

    def test_average_speed_of_answer_is_wait_probability_times_aht_over_spare_agents(self):
        asa = erlang.average_speed_of_answer_seconds(14, TRAFFIC, AHT_SECONDS)
        assert asa == pytest.approx(erlang.erlang_c(14, TRAFFIC) * AHT_SECONDS / 4)

    def test_matches_the_factorial_formula_of_the_field_notes(self):
        agents, traffic = 14, TRAFFIC
        top = traffic**agents / math.factorial(agents) * agents / (agents - traffic)
        below = sum(traffic**k / math.factorial(k) for k in range(agents))
        assert erlang.erlang_c(agents, traffic) == pytest.approx(top / (below + top), rel=1e-12)

    @pytest.mark.parametrize("agents", [10, 9], ids=["at-capacity", "overloaded"])
    def test_unstable_queue_means_everyone_waits_and_none_in_threshold(self, agents):
        assert erlang.erlang_c(agents, TRAFFIC) == 1.0
        assert erlang.service_level(agents, TRAFFIC, AHT_SECONDS, 20) == 0.0
        assert erlang.average_speed_of_answer_seconds(agents, TRAFFIC, AHT_SECONDS) == math.inf
        assert erlang.occupancy(agents, TRAFFIC) == 1.0

    def test_is_stable_for_large_centres(self):
        level = erlang.service_level(5_000, 4_950.0, AHT_SECONDS, 20)
        assert 0.0 < level < 1.0

    @pytest.mark.parametrize(
        ("traffic", "target", "expected"),
        [(TRAFFIC, 0.8, 14), (TRAFFIC, 0.9, 15), (TRAFFIC, 0.5, 12), (0.0, 0.8, 0)],
        ids=["80pct-needs-14", "90pct-needs-15", "50pct-needs-12", "no-traffic"],
    )
    def test_required_agents_is_the_smallest_staffing_meeting_the_target(
            self, traffic, target, expected):
        agents = erlang.required_agents(traffic, AHT_SECONDS, 19.8, target)
        assert agents == expected
        if agents:
            assert erlang.service_level(agents, traffic, AHT_SECONDS, 19.8) >= target
            assert erlang.service_level(agents - 1, traffic, AHT_SECONDS, 19.8) < target

    @pytest.mark.parametrize(
        ("call", "message"),
        [
            (lambda: erlang.erlang_c(0, 1.0), "agent/trunk count must be an integer ≥ 1"),
            (lambda: erlang.erlang_c(3, -1.0), "traffic must be a finite number ≥ 0"),
            (lambda: erlang.service_level(3, 1.0, 0, 20), "aht_seconds must be a positive"),
            (lambda: erlang.required_agents(1.0, 180, 20, 1.5), "target_ratio must be in [0, 1]"),
        ],
        ids=["zero-agents", "negative-traffic", "zero-aht", "target-above-one"],
    )
    def test_rejects_meaningless_arguments_with_the_value(self, call, message):
        with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
            call()


class TestErlangA:
    def test_reproduces_pyworkforce_snapshot(self):
        result = erlang.erlang_a(14, ARRIVALS_PER_SECOND, AHT_SECONDS, patience_seconds=300,
                                 threshold_seconds=20)
        assert round(result.wait_probability, 5) == 0.14526
        assert round(result.abandon_probability, 6) == 0.013984
        assert round(result.occupancy, 6) == 0.704297
        assert round(result.average_wait_seconds / 60, 6) == 0.069919
        assert round(result.service_level, 6) == 0.916792

    @pytest.mark.parametrize("agents", [12, 15, 20], ids=["12-agents", "15-agents", "20-agents"])
    def test_converges_to_erlang_c_as_patience_grows(self, agents):
        result = erlang.erlang_a(agents, ARRIVALS_PER_SECOND, AHT_SECONDS, 1e9, 19.8)
        assert result.wait_probability == pytest.approx(erlang.erlang_c(agents, TRAFFIC),
                                                        abs=1e-6)
        assert result.service_level == pytest.approx(
            erlang.service_level(agents, TRAFFIC, AHT_SECONDS, 19.8), abs=1e-6)
        assert result.abandon_probability < 1e-6

    @pytest.mark.parametrize(
        ("agents", "patience", "threshold"),
        [(14, 300.0, 20.0), (8, 60.0, 30.0), (12, 120.0, 60.0), (3, 30.0, 10.0)],
        ids=["oracle-case", "overloaded-impatient", "long-threshold", "tiny-team"],
    )
    def test_service_level_matches_uniformized_tagged_caller_chain(
            self, agents, patience, threshold):
        service_rate, theta = agents / AHT_SECONDS, 1 / patience
        below, tail = erlang._erlang_a_distribution(
            agents, TRAFFIC, ARRIVALS_PER_SECOND, service_rate, theta)
        total = below + sum(tail)
        reference = (below + sum(
            weight * uniformized_answered_within(agents, j, service_rate, theta, threshold)
            for j, weight in enumerate(tail))) / total
        result = erlang.erlang_a(agents, ARRIVALS_PER_SECOND, AHT_SECONDS, patience, threshold)
        assert result.service_level == pytest.approx(reference, abs=1e-9)

    def test_overload_sheds_exactly_the_excess_through_abandons(self):
        # 20 erlangs offered to 10 agents: they can answer at most half of the callers.
        result = erlang.erlang_a(10, 20 / AHT_SECONDS, AHT_SECONDS, 300, 20)
        assert result.abandon_probability == pytest.approx(0.5, abs=1e-3)
        assert result.occupancy == pytest.approx(1.0, abs=1e-3)

    def test_is_stable_for_large_centres(self):
        result = erlang.erlang_a(5_000, 4_900 / AHT_SECONDS, AHT_SECONDS, 300, 20)
        assert 0.0 < result.wait_probability < 1.0
        assert 0.0 < result.service_level <= 1.0

    def test_more_agents_never_lower_the_service_level(self):
        levels = [erlang.erlang_a(n, ARRIVALS_PER_SECOND, AHT_SECONDS, 300, 20).service_level
                  for n in range(1, 25)]
        assert levels == sorted(levels)

    def test_required_agents_is_the_smallest_staffing_meeting_the_target(self):
        agents = erlang.required_agents_erlang_a(ARRIVALS_PER_SECOND, AHT_SECONDS, 300, 20, 0.9)
        assert agents == 14
        assert erlang.erlang_a(13, ARRIVALS_PER_SECOND, AHT_SECONDS, 300, 20).service_level < 0.9

    def test_no_traffic_is_perfect_service(self):
        result = erlang.erlang_a(3, 0.0, AHT_SECONDS, 300, 20)
        assert (result.wait_probability, result.service_level) == (0.0, 1.0)
