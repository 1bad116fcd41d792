"""Erlang A and B against published values.

Sources:

* **pyworkforce** (github.com/rodrigo-arenas/pyworkforce, commit ca48925, file
  ``pyworkforce/queuing/tests/test_abandonment.py``): its scenario is 100 contacts per
  30 minutes, AHT 3 min, patience 5 min, threshold ("asa") 20/60 min. Its suite asserts the
  14-agent snapshot (P(wait) 0.14526, P(abandon) 0.013984, occupancy 0.704297, mean wait
  0.069919 min, SL 0.916792), the Erlang C limit at 15/20/25 agents, and the
  required-positions search for SL 0.8 / occupancy ≤ 0.85 / abandon ≤ 0.05. The other rows
  below (12–20 agents, patience 1 and 20 min, thresholds 5 s and 60 s, required positions 13)
  are pyworkforce's own ``ErlangA`` at that commit, run outside ccpulse on the same
  scenario (pyworkforce is not a dependency).
* **Erlang B table**: D. Collins, *Carrier Grade Voice over IP*, 2nd ed., McGraw-Hill 2003,
  Appendix A "Table of Erlang B" (traffic in erlangs that n channels carry at a blocking
  probability, one decimal), rows 1–9 at every tabulated blocking from 0.01 % to 5 %.
* **Palm's special case of Erlang A**: with patience equal to the handle time (θ = μ) the
  birth–death rates of M/M/N+M are ``n·μ`` in every state, those of M/M/∞ (Mandelbaum &
  Zeltyn, "The Palm/Erlang-A queue, with applications to call centers", Technion 2005, §3),
  so the number of contacts present is Poisson(A): P(wait) = P(X ≥ N) and
  P(abandon) = θ·E[(X − N)⁺]/λ = E[(X − N)⁺]/A.
"""

from __future__ import annotations

import math

import pytest

from streams.core import erlang

ARRIVALS_PER_SECOND = 100 / 1800
AHT_SECONDS = 180.0
PATIENCE_SECONDS = 300.0
THRESHOLD_SECONDS = 20.0


def pyworkforce_a(agents: int, patience_seconds: float = PATIENCE_SECONDS,
                  threshold_seconds: float = THRESHOLD_SECONDS) -> erlang.ErlangAResult:
    return erlang.erlang_a(agents, ARRIVALS_PER_SECOND, AHT_SECONDS, patience_seconds,
                           threshold_seconds)


class TestErlangAAgainstPyworkforce:
    @pytest.mark.parametrize(
        ("agents", "wait", "abandon", "occupancy", "mean_wait_minutes", "service_level"),
        [
            (12, 0.331802, 0.042711, 0.797741, 0.213556, 0.772279),
            (13, 0.225797, 0.024963, 0.750028, 0.124817, 0.858178),
            (14, 0.14526, 0.013984, 0.704297, 0.069919, 0.916792),
            (15, 0.088547, 0.007514, 0.661657, 0.037572, 0.953856),
            (16, 0.051251, 0.003876, 0.622577, 0.019381, 0.975745),
            (18, 0.014804, 0.000914, 0.555048, 0.00457, 0.99424),
            (20, 0.003548, 0.000184, 0.499908, 0.000921, 0.998868),
        ],
        ids=["12-agents", "13-agents", "14-agents-suite-snapshot", "15-agents", "16-agents",
             "18-agents", "20-agents"],
    )
    def test_metrics_match_pyworkforce_to_six_decimals(
            self, agents, wait, abandon, occupancy, mean_wait_minutes, service_level):
        result = pyworkforce_a(agents)
        assert round(result.wait_probability, 6) == pytest.approx(wait, abs=1e-6)
        assert round(result.abandon_probability, 6) == pytest.approx(abandon, abs=1e-6)
        assert round(result.occupancy, 6) == pytest.approx(occupancy, abs=1e-6)
        assert round(result.average_wait_seconds / 60, 6) == pytest.approx(mean_wait_minutes,
                                                                           abs=1e-6)
        assert round(result.service_level, 6) == pytest.approx(service_level, abs=1e-6)

    @pytest.mark.parametrize("agents", [15, 20, 25], ids=["15", "20", "25"])
    def test_very_patient_callers_give_erlang_c_as_in_the_suite(self, agents):
        result = pyworkforce_a(agents, patience_seconds=60_000_000, threshold_seconds=19.8)
        traffic = ARRIVALS_PER_SECOND * AHT_SECONDS
        assert result.wait_probability == pytest.approx(erlang.erlang_c(agents, traffic),
                                                        abs=1e-4)
        assert result.occupancy == pytest.approx(erlang.occupancy(agents, traffic), abs=1e-4)
        assert result.service_level == pytest.approx(
            erlang.service_level(agents, traffic, AHT_SECONDS, 19.8), abs=1e-3)

    @pytest.mark.parametrize(("patience_minutes", "abandon", "service_level"),
                             [(1, 0.030322, 0.943776), (20, 0.005177, 0.89919)],
                             ids=["impatient-1-min", "patient-20-min"])
    def test_less_patience_means_more_abandons_as_in_the_suite(
            self, patience_minutes, abandon, service_level):
        result = pyworkforce_a(14, patience_seconds=patience_minutes * 60)
        assert round(result.abandon_probability, 6) == abandon
        assert round(result.service_level, 6) == service_level

    @pytest.mark.parametrize(("threshold_seconds", "service_level"),
                             [(5.0, 0.957531), (60.0, 0.992972)], ids=["5-s", "60-s"])
    def test_service_level_at_other_thresholds(self, threshold_seconds, service_level):
        result = pyworkforce_a(16, threshold_seconds=threshold_seconds)
        assert round(result.service_level, 6) == service_level

    def test_required_agents_for_80_percent_is_13_with_its_occupancy_and_abandons(self):
        agents = erlang.required_agents_erlang_a(ARRIVALS_PER_SECOND, AHT_SECONDS,
                                                 PATIENCE_SECONDS, THRESHOLD_SECONDS, 0.8)
        assert agents == 13
        result = pyworkforce_a(13)
        assert round(result.service_level, 6) == 0.858178
        assert result.occupancy <= 0.85 and result.abandon_probability <= 0.05
        assert pyworkforce_a(12).service_level < 0.8

    def test_mean_wait_is_queue_length_over_arrival_rate(self):
        result = pyworkforce_a(16)
        queue_length = 0.064603  # pyworkforce's average_queue_length at 16 agents
        assert result.average_wait_seconds * ARRIVALS_PER_SECOND == pytest.approx(
            queue_length, abs=1e-6)


class TestErlangAPalmCase:
    @pytest.mark.parametrize(("agents", "traffic"), [(12, 10.0), (8, 10.0), (30, 25.0)],
                             ids=["12-agents-10-erl", "overloaded-8-agents", "30-agents-25-erl"])
    def test_patience_equal_to_aht_is_poisson_occupancy(self, agents, traffic):
        aht = 180.0
        rate = traffic / aht
        poisson = [math.exp(-traffic)]
        for k in range(1, 400):
            poisson.append(poisson[-1] * traffic / k)
        waits = sum(poisson[agents:])
        excess = sum((k - agents) * p for k, p in enumerate(poisson) if k > agents)
        result = erlang.erlang_a(agents, rate, aht, patience_seconds=aht, threshold_seconds=20)
        assert result.wait_probability == pytest.approx(waits, rel=1e-9)
        assert result.abandon_probability == pytest.approx(excess / traffic, rel=1e-9)


class TestErlangAAnsweredWait:
    def test_answered_and_abandoned_waits_add_up_to_the_mean_wait(self):
        """E[W] = P(answered)·ASA + P(abandoned)·E[W | abandoned], the latter computed by
        the tagged caller's chain independently of ``erlang``'s sum."""
        agents, patience = 12, 120.0
        service_rate, theta = agents / AHT_SECONDS, 1 / patience
        below, tail = erlang._erlang_a_distribution(
            agents, ARRIVALS_PER_SECOND * AHT_SECONDS, ARRIVALS_PER_SECOND, service_rate,
            theta)
        total = below + sum(tail)
        abandoned_wait = 0.0
        for j, weight in enumerate(tail):
            reach, elapsed = 1.0, 0.0      # P(reaching position k), mean time spent so far
            for k in range(j, -1, -1):
                rate = service_rate + (k + 1) * theta
                elapsed += 1 / rate
                abandoned_wait += weight / total * reach * theta / rate * elapsed
                reach *= (service_rate + k * theta) / rate
        result = erlang.erlang_a(agents, ARRIVALS_PER_SECOND, AHT_SECONDS, patience, 20)
        answered = 1 - result.abandon_probability
        assert answered * result.average_speed_of_answer_seconds + abandoned_wait == \
            pytest.approx(result.average_wait_seconds, rel=1e-9)

    def test_is_erlang_c_asa_for_very_patient_callers(self):
        result = pyworkforce_a(14, patience_seconds=1e9)
        assert result.average_speed_of_answer_seconds == pytest.approx(
            erlang.average_speed_of_answer_seconds(14, 10.0, AHT_SECONDS), rel=1e-5)


#: Collins, Carrier Grade Voice over IP (2nd ed.), Appendix A: erlangs per channel count.
COLLINS_BLOCKING = (0.0001, 0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008,
                    0.009, 0.01, 0.02, 0.03, 0.04, 0.05)
COLLINS_TABLE = {
    1: (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1),
    2: (0.0, 0.0, 0.0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4),
    3: (0.1, 0.2, 0.2, 0.2, 0.3, 0.3, 0.3, 0.4, 0.4, 0.4, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    4: (0.2, 0.4, 0.4, 0.5, 0.6, 0.7, 0.7, 0.7, 0.8, 0.8, 0.8, 0.9, 1.1, 1.3, 1.4, 1.5),
    5: (0.5, 0.6, 0.8, 0.9, 1.0, 1.1, 1.1, 1.2, 1.2, 1.3, 1.3, 1.4, 1.7, 1.9, 2.1, 2.2),
    6: (0.7, 1.0, 1.1, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.8, 1.9, 1.9, 2.3, 2.5, 2.8, 3.0),
    7: (1.1, 1.4, 1.6, 1.8, 1.9, 2.1, 2.2, 2.2, 2.3, 2.4, 2.4, 2.5, 2.9, 3.2, 3.5, 3.7),
    8: (1.4, 1.8, 2.1, 2.3, 2.5, 2.6, 2.7, 2.8, 2.9, 3.0, 3.1, 3.1, 3.6, 4.0, 4.3, 4.5),
    9: (1.8, 2.3, 2.6, 2.9, 3.1, 3.2, 3.3, 3.4, 3.5, 3.6, 3.7, 3.8, 4.3, 4.7, 5.1, 5.4),
}


def traffic_at_blocking(channels: int, blocking: float) -> float:
    """The load whose Erlang B blocking is ``blocking`` (B rises with the load: bisection)."""
    low, high = 0.0, 2.0 * channels + 5.0
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if erlang.erlang_b(channels, middle) < blocking else \
            (low, middle)
    return low


class TestErlangBAgainstCollinsTable:
    @pytest.mark.parametrize("channels", sorted(COLLINS_TABLE), ids=lambda n: f"{n}-channels")
    def test_every_tabulated_load_to_one_decimal(self, channels):
        computed = tuple(round(traffic_at_blocking(channels, b), 1) for b in COLLINS_BLOCKING)
        assert computed == COLLINS_TABLE[channels]

    @pytest.mark.parametrize(("channels", "traffic", "blocking"),
                             [(5, 1.4, 0.01), (9, 3.8, 0.01), (9, 5.4, 0.05), (8, 3.6, 0.02)],
                             ids=["5-at-1pct", "9-at-1pct", "9-at-5pct", "8-at-2pct"])
    def test_blocking_at_a_tabulated_load_rounds_to_the_column(self, channels, traffic,
                                                                blocking):
        # The table rounds the load, so the blocking at it is near the column's value.
        assert erlang.erlang_b(channels, traffic) == pytest.approx(blocking, rel=0.15)
