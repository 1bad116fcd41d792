"""Live Erlang B against a simulated loss system, through the engine.

The simulator's ``mmn`` queue with as many trunks as agents (``Scenario.trunks``): a call that
finds every trunk busy is blocked (``call.blocked``), and one that gets a trunk also gets an
agent at once, so the queue is M/M/N/N — Erlang B's world. 10 agents and trunks, λ = 8 calls
per 180 s, exponential handle time of mean 180 s: A = 8 erlangs, B(10, 8) = 0.1217.

Checked every 30 minutes over ``WINDOWS`` = 96 windows (48 simulated hours, ~7,700 attempts)
after a warm-up:

1. *Exactly*: ``cc_erlang_b_predicted_blocking_ratio`` is Erlang B with the configured trunks at
   (voice offered + blocked in the window) / 1800 s × the window's AHT.
2. *The simulated blocking is Erlang B's*: the blocked share of all attempts, pooled, is within
   ``Z`` = 4 standard errors of B(10, 8), the standard error measured by batch means over the
   windows (each 30-minute window is hundreds of handle times long, so nearly independent).
3. *The live prediction reproduces it*: Erlang B at the pooled estimated load lies within the
   range Erlang B takes for loads within ``Z`` standard errors of the true one (SE of the load
   from Poisson attempts and exponential handle times: ``A·√(1/attempts + 1/handled)``).

Measured (seed 11): 7,710 attempts, 917 blocked: simulated 0.1189 ± 0.0066 against Erlang B's
0.1217; the live prediction at the pooled load (7.996 erlangs) 0.1215, band [0.098, 0.146].
"""

from __future__ import annotations

import math
import statistics
from dataclasses import replace

import pytest

from streams.core import erlang, staffing
from streams.core.config import parse_config
from streams.core.engine import Engine
from streams.core.kpis import all_families
from streams.simulate import mmn, timed_events
from streams.validation import decode_obj

AGENTS = TRUNKS = 10
ARRIVALS_PER_SECOND = 8 / 180
AHT_SECONDS = 180.0
START_MS = 1_795_305_600_000
WARM_UP_MS = 3_600_000
HALF_HOUR_MS = 1_800_000
WINDOWS = 96
Z = 4.0
TRUTH = erlang.erlang_b(TRUNKS, ARRIVALS_PER_SECOND * AHT_SECONDS)


@pytest.fixture(scope="module")
def run() -> dict:
    return simulate()


def simulate() -> dict:
    """The live loads and the exported Erlang B blocking at every check."""
    config = parse_config({"queues": {"support": {"trunks": TRUNKS}}})
    engine = Engine(config)
    scenario = replace(mmn(AGENTS, ARRIVALS_PER_SECOND, AHT_SECONDS), trunks=TRUNKS)
    pending = [START_MS + WARM_UP_MS + (i + 1) * HALF_HOUR_MS + 30_000 for i in range(WINDOWS)]
    loads, exported = [], []
    for ms, event in timed_events(scenario, seed=11, start_ms=START_MS,
                                  duration_ms=WARM_UP_MS + WINDOWS * HALF_HOUR_MS + 60_000):
        while pending and ms >= pending[0]:
            now_us = pending.pop(0) * 1000
            loads.append(staffing.live_loads(config, [engine.ledger], now_us)[
                ("support", "voice")])
            families = {f.name: f for f in all_families(config, [engine.ledger], now_us)}
            exported.append(families["cc_erlang_b_predicted_blocking_ratio"].samples[
                ("support",)])
        engine.apply(decode_obj(event, now_us=ms * 1000))
    assert not pending
    return {"loads": loads, "exported": exported}


def test_exported_blocking_is_erlang_b_at_the_window_s_trunk_load(run):
    for load, blocking in zip(run["loads"], run["exported"], strict=True):
        trunk_load = (load.offered + load.blocked) / 1800 * load.aht_seconds
        assert load.trunks == TRUNKS
        assert blocking == pytest.approx(erlang.erlang_b(TRUNKS, trunk_load), rel=1e-12)


def test_simulated_blocking_is_erlang_b(run):
    per_window = [load.blocked / (load.blocked + load.offered) for load in run["loads"]]
    attempts = sum(load.blocked + load.offered for load in run["loads"])
    pooled = sum(load.blocked for load in run["loads"]) / attempts
    standard_error = statistics.stdev(per_window) / math.sqrt(WINDOWS)
    assert attempts > 6000 and standard_error < 0.01, "run too short to test anything"
    assert abs(pooled - TRUTH) <= Z * standard_error, (
        f"simulated {pooled:.4f} ± {standard_error:.4f}, Erlang B {TRUTH:.4f}")


def test_live_prediction_is_erlang_b_within_the_load_s_sampling_error(run):
    loads = run["loads"]
    attempts = sum(load.blocked + load.offered for load in loads)
    handled = sum(load.offered for load in loads)            # every carried call is handled
    aht = sum(load.aht_seconds for load in loads) / len(loads)
    estimated = erlang.erlang_b(TRUNKS, attempts / (WINDOWS * 1800) * aht)
    true_load = ARRIVALS_PER_SECOND * AHT_SECONDS
    band = true_load * Z * math.sqrt(1 / attempts + 1 / handled)
    low, high = erlang.erlang_b(TRUNKS, true_load - band), erlang.erlang_b(TRUNKS, true_load + band)
    assert low <= TRUTH <= high
    assert low <= estimated <= high, f"live {estimated:.4f}, band [{low:.4f}, {high:.4f}]"
