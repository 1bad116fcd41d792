"""Live Erlang A against a stationary simulated M/M/N+M queue, through the engine.

The seeded simulator's ``mmn`` scenario (Poisson arrivals, exponential handle time and
exponential patience, agents always logged in) is fed event by event into the engine, and
every 30 minutes (at hh:00:30 and hh:30:30, so the trailing window is exactly the half hour
before) the live inputs and the exported families are read.

Parameters: λ = 100 calls per 180 s (A = 100 erlangs at AHT 180 s), 100 agents, mean
patience 120 s, threshold 20 s — a centre at full load where about 4 % abandon, so each
window holds ~35 abandons.

What is checked:

1. *Bookkeeping, exactly.* At every check the patience the engine estimates equals the
   hazard-rate estimator computed independently from the raw events (the waits of the
   segments whose outcome fell in the window, plus those still waiting up to the window's
   end, over the abandons), and the exported ``cc_erlang_a_*`` values equal Erlang A at the
   exported inputs.
2. *The estimator recovers the truth.* Pooled over the ``WINDOWS`` disjoint windows (~850
   abandons), the patience estimate is within ``Z`` = 4 standard errors of 120 s, the SE of a
   censored exponential MLE being ``patience/√abandons`` (≈ 3.4 %, so the band is ≈ ±14 %);
   measured: 119.6 s from 859 abandons (SE 4.1 s).
3. *The live predictions reproduce Erlang A.* Erlang A at the pooled estimates (λ̂, AHT, patience)
   lies within the range Erlang A takes over the box of parameters within ``Z`` standard
   errors of the truth (SE of λ̂ = λ/√offered, of AHT = AHT/√handled for exponential handle
   times): the tolerance is what the inputs' own sampling error allows, stated per number.
   Measured (truth → live, band): SL 0.885 → 0.904 in [0.755, 0.954]; abandon 0.0439 →
   0.0380 in [0.0215, 0.0745]; P(wait) 0.464 → 0.420 in [0.275, 0.663]. The band is wide
   because a centre at full load is that sensitive to its load (λ̂·AHT came out 98.8
   erlangs for 100); so, isolating the patience estimate, Erlang A at the *true* load with
   the estimated patience must also lie within the band of patience ± 4 SE alone (SL
   [0.871, 0.898], abandon [0.0426, 0.0453], P(wait) [0.447, 0.480]; measured 0.8849, 0.0439,
   0.4639 against the truth's 0.8846, 0.0439, 0.4642).

A single 30-minute window is noisy at this size (per-window patience SD ≈ 21 %, predicted SL
SD ≈ 0.05), which is why the band is checked on the pooled estimate, and why the wallboard
and dashboards should be read as trends, not to the second decimal.
"""

from __future__ import annotations

import itertools
import math

import pytest

from streams.core import erlang, staffing
from streams.core.config import parse_config
from streams.core.engine import Engine
from streams.core.kpis import all_families
from streams.simulate import mmn, timed_events
from streams.validation import decode_obj

AGENTS = 100
ARRIVALS_PER_SECOND = 100 / 180
AHT_SECONDS = 180.0
PATIENCE_SECONDS = 120.0
THRESHOLD_SECONDS = 20.0
START_MS = 1_795_305_600_000          # a whole hour
WARM_UP_MS = 3_600_000
HALF_HOUR_MS = 1_800_000
WINDOWS = 24
Z = 4.0
SEED = 3


class Tally:
    """Independent bookkeeping of the raw events: queued and outcome times per call."""

    def __init__(self) -> None:
        self.queued: dict[str, int] = {}
        self.outcome: dict[str, tuple[str, int]] = {}

    def see(self, event: dict, ms: int) -> None:
        kind = event["type"]
        if kind == "call.queued":
            self.queued[event["call_id"]] = ms
        elif kind in ("call.answered", "call.abandoned"):
            self.outcome[event["call_id"]] = (kind, ms)

    def patience_seconds(self, lo_ms: int, hi_ms: int) -> float:
        exposure_ms = 0
        abandons = 0
        for call, queued_ms in self.queued.items():
            done = self.outcome.get(call)
            if done is None:
                exposure_ms += max(0, hi_ms - queued_ms)     # still waiting: up to the end
            elif lo_ms <= done[1] < hi_ms:
                exposure_ms += done[1] - queued_ms
                abandons += done[0] == "call.abandoned"
        return exposure_ms / 1000 / abandons


@pytest.fixture(scope="module")
def run() -> dict:
    return simulate()


def simulate() -> dict:
    """Feed the run into an engine; the live loads, the independent estimates and the
    exported Erlang families at every check."""
    config = parse_config({"defaults": {"service_level": {
        "threshold_seconds": THRESHOLD_SECONDS, "target_ratio": 0.8}}})
    engine = Engine(config)
    tally = Tally()
    checks = [START_MS + WARM_UP_MS + (i + 1) * HALF_HOUR_MS + 30_000 for i in range(WINDOWS)]
    pending = list(checks)
    loads, independent, exported = [], [], []
    duration_ms = WARM_UP_MS + WINDOWS * HALF_HOUR_MS + 60_000
    for ms, event in timed_events(mmn(AGENTS, ARRIVALS_PER_SECOND, AHT_SECONDS,
                                      PATIENCE_SECONDS), seed=SEED, start_ms=START_MS,
                                  duration_ms=duration_ms):
        while pending and ms >= pending[0]:
            now_ms = pending.pop(0)
            hi_ms = now_ms - 30_000
            loads.append(staffing.live_loads(config, [engine.ledger], now_ms * 1000)[
                ("support", "voice")])
            independent.append(tally.patience_seconds(hi_ms - HALF_HOUR_MS, hi_ms))
            exported.append({(f.name, labels): value
                             for f in all_families(config, [engine.ledger], now_ms * 1000)
                             if f.name.startswith("cc_erlang")
                             for labels, value in f.samples.items()})
        tally.see(event, ms)
        engine.apply(decode_obj(event, now_us=ms * 1000))
    assert not pending
    return {"loads": loads, "independent": independent, "exported": exported}


def test_engine_patience_is_the_hazard_rate_estimate_of_the_raw_events(run):
    engine = [load.patience_seconds for load in run["loads"]]
    assert engine == pytest.approx(run["independent"], rel=1e-12)


def test_exported_erlang_a_is_erlang_a_at_the_live_inputs(run):
    key = ("support", "voice")
    for load, families in zip(run["loads"], run["exported"], strict=True):
        assert load.agents_staffed == AGENTS
        result = erlang.erlang_a(AGENTS, load.arrival_rate_per_second, load.aht_seconds,
                                 load.patience_seconds, THRESHOLD_SECONDS)
        assert families[("cc_erlang_a_patience_seconds", key)] == load.patience_seconds
        assert families[("cc_erlang_a_predicted_service_level_ratio", key)] == pytest.approx(
            result.service_level, abs=1e-12)
        assert families[("cc_erlang_a_predicted_abandon_ratio", key)] == pytest.approx(
            result.abandon_probability, abs=1e-12)
        assert families[("cc_erlang_a_predicted_wait_probability_ratio", key)] == \
            pytest.approx(result.wait_probability, abs=1e-12)
        assert families[("cc_erlang_a_required_agents", key)] == \
            erlang.required_agents_erlang_a(load.arrival_rate_per_second, load.aht_seconds,
                                            load.patience_seconds, THRESHOLD_SECONDS, 0.8)


def pooled(loads: list[staffing.Load]) -> dict[str, float]:
    offered = sum(load.offered for load in loads)
    abandoned = sum(load.abandoned for load in loads)
    handled = offered - abandoned     # every answered call is handled (no transfers in mmn)
    aht = sum(load.aht_seconds * 1.0 for load in loads) / len(loads)
    return {
        "rate": offered / (len(loads) * staffing.WINDOW_SECONDS),
        "aht": aht,
        "patience": sum(load.waiting_us for load in loads) / abandoned / 1e6,
        "offered": offered, "abandoned": abandoned, "handled": handled,
    }


def test_pooled_patience_estimate_is_within_four_standard_errors_of_the_truth(run):
    est = pooled(run["loads"])
    standard_error = PATIENCE_SECONDS / math.sqrt(est["abandoned"])
    assert est["abandoned"] > 600, "run too short to test anything"
    assert abs(est["patience"] - PATIENCE_SECONDS) <= Z * standard_error, (
        f"pooled patience {est['patience']:.1f} s, truth {PATIENCE_SECONDS} s "
        f"± {Z * standard_error:.1f}")


@pytest.mark.parametrize("statistic", ["service_level", "abandon_probability",
                                       "wait_probability"])
def test_live_prediction_is_erlang_a_within_the_inputs_sampling_error(run, statistic):
    est = pooled(run["loads"])
    predicted = getattr(erlang.erlang_a(AGENTS, est["rate"], est["aht"], est["patience"],
                                        THRESHOLD_SECONDS), statistic)
    bands = {
        "rate": ARRIVALS_PER_SECOND * Z / math.sqrt(est["offered"]),
        "aht": AHT_SECONDS * Z / math.sqrt(est["handled"]),
        "patience": PATIENCE_SECONDS * Z / math.sqrt(est["abandoned"]),
    }
    corners = [getattr(erlang.erlang_a(AGENTS, ARRIVALS_PER_SECOND + r, AHT_SECONDS + h,
                                       PATIENCE_SECONDS + p, THRESHOLD_SECONDS), statistic)
               for r, h, p in itertools.product(*[(-b, b) for b in bands.values()])]
    truth = getattr(erlang.erlang_a(AGENTS, ARRIVALS_PER_SECOND, AHT_SECONDS, PATIENCE_SECONDS,
                                    THRESHOLD_SECONDS), statistic)
    assert min(corners) <= truth <= max(corners)
    assert min(corners) <= predicted <= max(corners), (
        f"{statistic}: live {predicted:.4f}, truth {truth:.4f}, "
        f"band [{min(corners):.4f}, {max(corners):.4f}]")


@pytest.mark.parametrize("statistic", ["service_level", "abandon_probability",
                                       "wait_probability"])
def test_estimated_patience_reproduces_erlang_a_at_the_true_load(run, statistic):
    est = pooled(run["loads"])
    band = PATIENCE_SECONDS * Z / math.sqrt(est["abandoned"])

    def at(patience: float) -> float:
        return getattr(erlang.erlang_a(AGENTS, ARRIVALS_PER_SECOND, AHT_SECONDS, patience,
                                       THRESHOLD_SECONDS), statistic)

    edges = sorted((at(PATIENCE_SECONDS - band), at(PATIENCE_SECONDS + band)))
    assert edges[0] <= at(est["patience"]) <= edges[1]
    assert edges[1] - edges[0] < {"service_level": 0.03, "abandon_probability": 0.005,
                                  "wait_probability": 0.04}[statistic], "band too wide"
