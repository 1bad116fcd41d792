"""Every Erlang formula stays finite and in range over the whole domain a live queue can reach:
a pool of hundreds of agents on a queue of a few calls an hour (Erlang B underflows to 0 and
its inverse overflows a float: a fresh-user trial took /metrics down with it), a heavy
overload, impatient and patient callers. A formula that raises or returns NaN here would fail
every scrape of the worker, not only its queue's series."""

from __future__ import annotations

import math

from hypothesis import example, given, settings
from hypothesis import strategies as st

from streams.core import erlang

agents = st.integers(min_value=1, max_value=2_000)
rates = st.floats(min_value=1e-6, max_value=5.0)  # arrivals per second: up to 18,000 an hour
ahts = st.floats(min_value=1.0, max_value=3_600.0)
#: Up to two hours. Longer patience on an overloaded queue makes the Erlang A sum long (its
#: terms peak at (λ − Nμ)/θ callers waiting): correct, but seconds per evaluation; see
#: docs/decisions.md ("Workforce").
patiences = st.floats(min_value=1.0, max_value=7_200.0)
thresholds = st.floats(min_value=0.0, max_value=600.0)


def in_unit(value: float) -> bool:
    return math.isfinite(value) and -1e-12 <= value <= 1 + 1e-12


@settings(max_examples=150, deadline=None)
@given(agents, rates, ahts, patiences, thresholds)
@example(1, 1.0, 1.0, 2.0, 5e-324)  # θT below the smallest float: log(0) raised
def test_erlang_a_is_finite_and_its_probabilities_are_probabilities_anywhere(
        n, rate, aht, patience, threshold):
    result = erlang.erlang_a(n, rate, aht, patience, threshold)
    for value in (result.wait_probability, result.abandon_probability, result.service_level,
                  result.occupancy):
        assert in_unit(value)
    assert result.average_wait_seconds >= 0 and not math.isnan(result.average_wait_seconds)
    assert not math.isnan(result.average_speed_of_answer_seconds)


@settings(max_examples=300, deadline=None)
@given(agents, rates, ahts, thresholds)
def test_erlang_b_and_c_are_finite_and_in_range_anywhere(n, rate, aht, threshold):
    traffic = erlang.traffic_erlangs(rate, aht)
    assert in_unit(erlang.erlang_b(n, traffic))
    assert in_unit(erlang.erlang_c(n, traffic))
    assert in_unit(erlang.service_level(n, traffic, aht, threshold))
    assert not math.isnan(erlang.average_speed_of_answer_seconds(n, traffic, aht))


def test_a_large_pool_on_a_quiet_queue_answers_everyone_at_once():
    """The trial's case: 160 and 400 agents on 10 and 200 calls an hour."""
    for n, per_hour in ((160, 10), (400, 200), (100_000, 200)):
        result = erlang.erlang_a(n, per_hour / 3600, 180.0, 60.0, 20.0)
        assert result.wait_probability == 0.0
        assert result.abandon_probability == 0.0
        assert result.service_level == 1.0


def test_the_log_space_masses_equal_the_direct_ones_where_floats_hold_them():
    for n, traffic in ((1, 0.5), (14, 10.0), (30, 28.5), (100, 100.0), (150, 20.0)):
        direct = 1.0 / erlang.erlang_b(n, traffic) - 1.0
        logged = math.exp(erlang._log_inverse_blocking_minus_one(n, traffic))
        assert math.isclose(logged, direct, rel_tol=1e-9)
