"""The simulator's stationary M/M/N(+M) queue reproduces Erlang C and Erlang A.

The pyworkforce scenario: 100 calls per 30 minutes (λ = 1/18 per second), exponential handle
time with mean 180 s (A = 10 erlangs), threshold 19.8 s; 14 or 15 agents; with patience, an
exponential patience of mean 300 s. The generated *events* are tallied directly: each call's
``queued`` is paired with its ``answered`` or ``abandoned``, and each agent's time
``on_contact`` is summed from ``agent.state_changed``.

Tolerances. Successive callers' waits are strongly correlated (a busy spell delays many in a
row), so the binomial standard error ``√(p(1−p)/n)`` understates the real one four to five
times. We measure it instead by batch means: the run (after a warm-up that forgets the empty
start) is cut into ``BATCHES`` = 40 stretches of 15 simulated hours, each far longer than the
queue's memory (minutes), so the batch estimates are nearly independent and
``SE = stdev(batch estimates)/√BATCHES``. (Twelve seeds of the 14-agent run scattered with a
standard deviation of 0.004 in SL, matching the batch-means SE.) A statistic passes when it is
within ``Z = 4`` standard errors of the formula: a correct simulator fails that by chance about
three times in ten thousand (Student t, 39 degrees of freedom), and the seeds are fixed, so the
test is deterministic anyway. So that a noisy run cannot pass trivially, each standard error
must also be below ``MAX_SE``: the widest band allowed, 4 × 0.008 = 0.032 for SL and P(wait),
is still narrower than the gap between 14 agents (SL 0.888, P(wait) 0.174) and 15 (0.941,
0.102), so a simulator that got the queue wrong by one agent's worth fails.

Length: 40 × 15 h ≈ 120 000 calls per scenario, 3–5 s each on a 2-core machine.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

import pytest

from streams.core import erlang
from streams.simulate import mmn, timed_events

ARRIVALS_PER_SECOND = 100 / 1800
AHT_SECONDS = 180.0
THRESHOLD_MS = 19_800
START_MS = 1_795_305_600_000
WARM_UP_MS = 2 * 3_600_000
BATCHES = 40
BATCH_MS = 15 * 3_600_000
COOL_DOWN_MS = 3_600_000
"""Simulated after the last batch so every counted call has its outcome."""
Z = 4.0
MAX_SE = {"service_level": 0.008, "wait_probability": 0.008, "abandon_probability": 0.002,
          "occupancy": 0.005}


@dataclass
class Batch:
    calls: int = 0
    within_threshold: int = 0
    waited: int = 0
    abandoned: int = 0
    busy_ms: float = 0.0


@dataclass
class Estimate:
    value: float
    standard_error: float


@dataclass
class Run:
    agents: int
    batches: list[Batch] = field(default_factory=lambda: [Batch() for _ in range(BATCHES)])

    def estimate(self, statistic: str) -> Estimate:
        per_batch = [self._ratio(statistic, [batch]) for batch in self.batches]
        return Estimate(self._ratio(statistic, self.batches),
                        statistics.stdev(per_batch) / math.sqrt(BATCHES))

    def _ratio(self, statistic: str, batches: list[Batch]) -> float:
        calls = sum(b.calls for b in batches)
        if statistic == "occupancy":
            return sum(b.busy_ms for b in batches) / (self.agents * BATCH_MS * len(batches))
        count = {"service_level": lambda b: b.within_threshold, "wait_probability":
                 lambda b: b.waited, "abandon_probability": lambda b: b.abandoned}[statistic]
        return sum(count(b) for b in batches) / calls


def simulate(agents: int, patience_seconds: float | None, seed: int) -> Run:
    """Generate the run and tally its events into batches."""
    run = Run(agents)
    first_ms = START_MS + WARM_UP_MS
    last_ms = first_ms + BATCHES * BATCH_MS
    queued_at: dict[str, int] = {}
    busy_since: dict[str, int] = {}

    def book_call(queued_ms: int, wait_ms: int, answered: bool) -> None:
        if first_ms <= queued_ms < last_ms:
            batch = run.batches[(queued_ms - first_ms) // BATCH_MS]
            batch.calls += 1
            batch.waited += wait_ms > 0
            batch.within_threshold += answered and wait_ms <= THRESHOLD_MS
            batch.abandoned += not answered

    def book_busy(since_ms: int, until_ms: int) -> None:
        since_ms, until_ms = max(since_ms, first_ms), min(until_ms, last_ms)
        while since_ms < until_ms:
            index = (since_ms - first_ms) // BATCH_MS
            batch_end = first_ms + (index + 1) * BATCH_MS
            run.batches[index].busy_ms += min(until_ms, batch_end) - since_ms
            since_ms = batch_end

    scenario = mmn(agents, ARRIVALS_PER_SECOND, AHT_SECONDS, patience_seconds)
    duration_ms = WARM_UP_MS + BATCHES * BATCH_MS + COOL_DOWN_MS
    for ms, event in timed_events(scenario, seed=seed, start_ms=START_MS,
                                  duration_ms=duration_ms):
        kind = event["type"]
        if kind == "call.queued":
            queued_at[event["call_id"]] = ms
        elif kind == "call.answered" or kind == "call.abandoned":
            queued_ms = queued_at.pop(event["call_id"])
            book_call(queued_ms, ms - queued_ms, kind == "call.answered")
        elif kind == "agent.state_changed":
            agent = event["agent_id"]
            if event["state"] == "on_contact":
                busy_since[agent] = ms
            elif agent in busy_since:
                book_busy(busy_since.pop(agent), ms)
    for since_ms in busy_since.values():
        book_busy(since_ms, last_ms)
    return run


def erlang_c_expectations(agents: int) -> dict[str, float]:
    traffic = ARRIVALS_PER_SECOND * AHT_SECONDS
    return {
        "service_level": erlang.service_level(agents, traffic, AHT_SECONDS, THRESHOLD_MS / 1000),
        "wait_probability": erlang.erlang_c(agents, traffic),
        "abandon_probability": 0.0,
        "occupancy": erlang.occupancy(agents, traffic),
    }


def erlang_a_expectations(agents: int, patience_seconds: float) -> dict[str, float]:
    result = erlang.erlang_a(agents, ARRIVALS_PER_SECOND, AHT_SECONDS, patience_seconds,
                             THRESHOLD_MS / 1000)
    return {
        "service_level": result.service_level,
        "wait_probability": result.wait_probability,
        "abandon_probability": result.abandon_probability,
        "occupancy": result.occupancy,
    }


CASES = [
    pytest.param((14, None, erlang_c_expectations(14)), id="erlang-c-14-agents"),
    pytest.param((15, None, erlang_c_expectations(15)), id="erlang-c-15-agents"),
    pytest.param((14, 300.0, erlang_a_expectations(14, 300.0)), id="erlang-a-14-agents"),
]


@pytest.fixture(scope="module", params=CASES)
def case(request: pytest.FixtureRequest) -> tuple[Run, dict[str, float]]:
    agents, patience, expected = request.param
    return simulate(agents, patience, seed=agents * 1000 + int(patience or 0)), expected


def test_oracles_are_the_published_values():
    """The expectations are the pyworkforce numbers the Erlang tests pin down."""
    assert [round(erlang_c_expectations(n)[k], 3) for n in (14, 15)
            for k in ("service_level", "wait_probability", "occupancy")] == [
        0.888, 0.174, 0.714, 0.941, 0.102, 0.667]
    assert round(erlang_a_expectations(14, 300.0)["wait_probability"], 5) == 0.14526
    assert round(erlang_a_expectations(14, 300.0)["abandon_probability"], 6) == 0.013984


@pytest.mark.parametrize("statistic", ["service_level", "wait_probability",
                                       "abandon_probability", "occupancy"])
def test_simulated_statistic_matches_the_formula(case, statistic):
    run, expected = case
    estimate = run.estimate(statistic)
    assert estimate.standard_error <= MAX_SE[statistic], "run too short to test anything"
    deviation = estimate.value - expected[statistic]
    assert abs(deviation) <= Z * estimate.standard_error + 1e-12, (
        f"{statistic}: simulated {estimate.value:.4f} ± {estimate.standard_error:.4f}, "
        f"formula {expected[statistic]:.4f} ({deviation / max(estimate.standard_error, 1e-12):+.1f}"
        " SE)")


def test_every_call_is_counted_once(case):
    run, _ = case
    calls = sum(batch.calls for batch in run.batches)
    expected = ARRIVALS_PER_SECOND * BATCHES * BATCH_MS / 1000
    assert abs(calls - expected) < 5 * math.sqrt(expected)   # Poisson count


def test_busy_time_is_exclusive_per_agent():
    """No agent is ever on two calls at once: the tally's occupancy premise."""
    on_call: dict[str, str] = defaultdict(str)
    for _, event in timed_events(mmn(3, 1 / 40, 100), seed=1, start_ms=START_MS,
                                 duration_ms=3_600_000):
        if event["type"] == "call.answered":
            assert not on_call[event["agent_id"]]
            on_call[event["agent_id"]] = event["call_id"]
        elif event["type"] == "call.ended":
            assert on_call.pop(event["agent_id"]) == event["call_id"]
