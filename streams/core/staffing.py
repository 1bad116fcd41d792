"""Workforce from live traffic (docs/contract.md §3.5): the Erlang inputs of the trailing
window, the Erlang C, A and B families, and what-if staffing tables. Pure: plain data in and
out, no clock of its own.

The inputs, per queue and channel, from the 30 whole minutes before the current one
(``[m − 30 min, m)``, ``m`` the start of the current minute), summed over the ledgers given:

* arrival rate λ = segments offered (queued) in the window / 1800 s;
* AHT = handle time / contacts handled in the window (else today's); no AHT, no estimate;
* staffed = agents serving the queue now whose state is ``available``, ``on_contact`` or
  ``after_contact_work``;
* patience (Erlang A): the hazard-rate estimator of exponential patience,
  ``θ̂ = abandons / total time spent waiting``, mean patience ``1/θ̂``. This is the maximum
  likelihood estimate of an exponential rate from right-censored observations: every
  segment's wait is an exposure to abandoning, an abandon is an observed patience, an answer
  or a flow-out (and a wait still going on) a censored one. Sources: Brown, Gans, Mandelbaum,
  Sakov, Shen, Zeltyn, Zhao, "Statistical analysis of a telephone call center: a
  queueing-science perspective", JASA 100 (2005) — patience estimated from abandons and
  censored waits; Mandelbaum & Zeltyn, "Staffing many-server queues with impatient
  customers", Operations Research 57 (2009), and "The Palm/Erlang-A queue, with applications
  to call centers" (Technion, 2005) §4.6, where ``P(Ab) = θ·E[W]`` under exponential patience,
  so ``θ̂ = P(Ab)/E[W]`` — the same ratio per caller. Abandons are
  every abandon booked in the window, *short abandons included* (a short abandon is a
  patience that ran out early; leaving it out would bias the estimate up). The exposure is
  the whole wait of every segment whose outcome (answered, abandoned, flowed out) falls in the
  window, plus, for every segment still waiting now (stale ones excepted), its wait up to the
  window's end. Under stationarity abandons accrue at ``θ·E[queue]`` and waiting time at
  ``E[queue]`` per second, so the ratio converges to θ.
* trunks (Erlang B): the queue's ``trunks`` setting; the offered trunk load is
  ``(voice segments offered + calls blocked) / 1800 s × voice AHT`` — a blocked call was
  offered to the trunks too, and the handle time stands for the trunk holding time.

Where the window has no abandon (or no waiting time) there is no patience estimate, and no
Erlang A family is exported for that queue and channel: Erlang A with infinite patience *is*
Erlang C, which is exported beside it (docs/decisions.md "Erlang A and B").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from streams.core import contributions as F
from streams.core import erlang
from streams.core.config import Config
from streams.core.kpis import SECOND_US, QueueLabels, _sum_fields, _window_sums
from streams.core.ledger import Ledger
from streams.core.metrics import Family, new_family

#: Trailing window of the Erlang inputs (contract §3.5): the 30 whole minutes before this one.
ERLANG_WINDOW_US = 30 * 60 * SECOND_US
WINDOW_SECONDS = ERLANG_WINDOW_US / SECOND_US
MINUTE_US = 60 * SECOND_US
#: Agent states that count as staffed for the Erlang predictions.
STAFFED_STATES = ("available", "on_contact", "after_contact_work")
#: What-if tables run from ``agents - WHAT_IF_BELOW`` to ``agents + WHAT_IF_ABOVE``.
WHAT_IF_BELOW, WHAT_IF_ABOVE = 2, 3


@dataclass(frozen=True, slots=True)
class Load:
    """The live Erlang inputs of one queue and channel (module doc for each definition)."""

    offered: int
    arrival_rate_per_second: float
    #: None when nothing was handled in the window nor today: no estimate at all.
    aht_seconds: float | None
    #: Every abandon in the window, short ones included.
    abandoned: int
    #: Total waiting time (µs) that exposed callers to abandoning (the estimator's denominator).
    waiting_us: int
    threshold_seconds: float
    target_ratio: float
    agents_staffed: int
    blocked: int = 0
    trunks: int | None = None

    @property
    def patience_seconds(self) -> float | None:
        """Mean patience ``waiting / abandons`` in seconds; None without an abandon or wait."""
        return patience_seconds(self.abandoned, self.waiting_us)

    @property
    def traffic_erlangs(self) -> float | None:
        """Offered load ``λ·AHT``; None without an AHT."""
        if self.aht_seconds is None:
            return None
        return self.arrival_rate_per_second * self.aht_seconds


def patience_seconds(abandoned: int, waiting_us: int) -> float | None:
    """The hazard-rate (censored exponential MLE) estimate of mean patience in seconds:
    total waiting time over abandons (Brown et al. 2005; module doc). None when there is no
    abandon or no waiting time to estimate from."""
    if abandoned <= 0 or waiting_us <= 0:
        return None
    return waiting_us / abandoned / SECOND_US


def live_loads(config: Config, ledgers: Sequence[Ledger], now_us: int,
               label: QueueLabels | None = None) -> dict[tuple[str, str], Load]:
    """(queue label, channel) -> :class:`Load` at the engine clock ``now_us``. A pure read."""
    label = label or QueueLabels(config, ledgers)
    this_minute = now_us - now_us % MINUTE_US
    lo = this_minute - ERLANG_WINDOW_US
    trailing: dict[tuple[str, str], dict[str, float]] = {}
    settings: dict[tuple[str, str], Any] = {}
    for ledger in ledgers:
        for (queue, channel), minutes in ledger.minutes.items():
            if not channel:
                continue
            key = (label(queue), channel)
            settings.setdefault(key, (config.policy(queue, channel), config.queue(queue)))
            acc = trailing.setdefault(key, {})
            for start, fields in minutes.items():
                if lo <= start < this_minute:
                    _sum_fields(acc, fields)
    still_waiting: dict[tuple[str, str], int] = {}
    for ledger in ledgers:
        for (queue, channel), segs in ledger.waiting.items():
            key = (label(queue), channel)
            stale_before = now_us - config.queue(queue).stale_after_us
            for (_, queued_us), n in segs.items():
                if stale_before <= queued_us < this_minute:
                    still_waiting[key] = still_waiting.get(key, 0) + n * (this_minute - queued_us)
    staffed: dict[str, int] = {}
    for ledger in ledgers:
        for state, queues, _ in ledger.agents.values():
            if state in STAFFED_STATES:
                for queue in queues:
                    q = label(queue)
                    staffed[q] = staffed.get(q, 0) + 1
    today = _window_sums(ledgers, label, now_us)
    loads: dict[tuple[str, str], Load] = {}
    for (q, channel), f in trailing.items():
        handled, handle_us = f.get(F.HANDLED, 0), f.get(F.HANDLE_US, 0)
        if not handled:
            day = today.get((q, channel, "today"), {})
            handled, handle_us = day.get(F.HANDLED, 0), day.get(F.HANDLE_US, 0)
        policy, queue_settings = settings[(q, channel)]
        waiting_us = (f.get(F.WAIT_ANSWERED_US, 0) + f.get(F.WAIT_ABANDONED_US, 0)
                      + f.get(F.WAIT_FLOWED_OUT_US, 0) + still_waiting.get((q, channel), 0))
        loads[(q, channel)] = Load(
            offered=int(f.get(F.OFFERED, 0)),
            arrival_rate_per_second=f.get(F.OFFERED, 0) / WINDOW_SECONDS,
            aht_seconds=handle_us / handled / SECOND_US if handled and handle_us > 0 else None,
            abandoned=int(f.get(F.ABANDONED, 0) + f.get(F.SHORT_ABANDONED, 0)),
            waiting_us=int(waiting_us),
            threshold_seconds=policy.threshold_seconds,
            target_ratio=policy.target_ratio,
            agents_staffed=staffed.get(q, 0),
            blocked=int(f.get(F.BLOCKED, 0)),
            trunks=queue_settings.trunks,
        )
    return loads


# --------------------------------------------------------------------------------------------
# predictions for one staffing level


@dataclass(frozen=True, slots=True)
class Prediction:
    """What a model predicts for ``agents`` agents (all ratios per offered contact).

    ``asa_seconds`` is the mean wait of answered contacts (contract §3.2's ASA; ``inf`` when
    Erlang C's queue is unstable, A ≥ N); ``average_wait_seconds`` the mean wait of every
    contact, answered or not (equal to ASA under Erlang C, where all are answered).
    """

    agents: int
    service_level: float
    asa_seconds: float
    average_wait_seconds: float
    abandon_ratio: float
    wait_probability: float
    occupancy: float


def predict_erlang_c(agents: int, arrival_rate_per_second: float, aht_seconds: float,
                     threshold_seconds: float) -> Prediction:
    """Erlang C (M/M/N) prediction: nobody abandons. ``agents`` ≥ 1."""
    traffic = erlang.traffic_erlangs(arrival_rate_per_second, aht_seconds)
    asa = erlang.average_speed_of_answer_seconds(agents, traffic, aht_seconds)
    return Prediction(
        agents=agents,
        service_level=erlang.service_level(agents, traffic, aht_seconds, threshold_seconds),
        asa_seconds=asa, average_wait_seconds=asa, abandon_ratio=0.0,
        wait_probability=erlang.erlang_c(agents, traffic),
        occupancy=erlang.occupancy(agents, traffic),
    )


def predict_erlang_a(agents: int, arrival_rate_per_second: float, aht_seconds: float,
                     patience_seconds: float, threshold_seconds: float) -> Prediction:
    """Erlang A (M/M/N+M) prediction with mean patience ``patience_seconds``. ``agents`` ≥ 1.

    The service level counts abandons against it: answered within the threshold / offered."""
    result = _erlang_a(agents, arrival_rate_per_second, aht_seconds, patience_seconds,
                       threshold_seconds)
    return Prediction(
        agents=agents, service_level=result.service_level,
        asa_seconds=result.average_speed_of_answer_seconds,
        average_wait_seconds=result.average_wait_seconds,
        abandon_ratio=result.abandon_probability,
        wait_probability=result.wait_probability, occupancy=result.occupancy,
    )


@lru_cache(maxsize=4096)
def _erlang_a(agents: int, rate: float, aht: float, patience: float,
              threshold: float) -> erlang.ErlangAResult:
    # The inputs move once a minute (whole-minute window) while scrapes come every few
    # seconds: a memo of the pure function keeps a scrape cheap.
    return erlang.erlang_a(agents, rate, aht, patience, threshold)


@lru_cache(maxsize=1024)
def _required_erlang_a(rate: float, aht: float, patience: float, threshold: float,
                       target: float) -> int:
    return erlang.required_agents_erlang_a(rate, aht, patience, threshold, target)


@dataclass(frozen=True, slots=True)
class WhatIf:
    """One row of a what-if table: the two models' predictions for the same agents."""

    agents: int
    erlang_c: Prediction
    #: None without a patience estimate (no abandons observed).
    erlang_a: Prediction | None


def what_if(agents: int, arrival_rate_per_second: float, aht_seconds: float,
            threshold_seconds: float, patience_seconds: float | None = None,
            below: int = WHAT_IF_BELOW, above: int = WHAT_IF_ABOVE) -> list[WhatIf]:
    """Predictions for ``agents − below`` … ``agents + above`` agents (counts below 1 left out).

    Raises ``ValueError`` for a negative rate, a non-positive AHT or patience, or a
    negative threshold (the message names the value)."""
    if isinstance(agents, bool) or not isinstance(agents, int) or agents < 0:
        raise ValueError(f"agents must be a whole number ≥ 0, got {agents!r}")
    erlang.traffic_erlangs(arrival_rate_per_second, aht_seconds)  # validates both
    if patience_seconds is not None and not (0 < patience_seconds < math.inf):
        raise ValueError(f"patience_seconds must be a positive finite number, "
                         f"got {patience_seconds!r}")
    rows = []
    for n in range(max(1, agents - below), agents + above + 1):
        rows.append(WhatIf(
            agents=n,
            erlang_c=predict_erlang_c(n, arrival_rate_per_second, aht_seconds,
                                      threshold_seconds),
            erlang_a=None if patience_seconds is None else predict_erlang_a(
                n, arrival_rate_per_second, aht_seconds, patience_seconds, threshold_seconds),
        ))
    return rows


# --------------------------------------------------------------------------------------------
# the exported families


_FAMILIES = (
    "cc_erlang_required_agents", "cc_erlang_predicted_service_level_ratio",
    "cc_erlang_arrival_rate_per_second", "cc_erlang_average_handle_time_seconds",
    "cc_erlang_a_patience_seconds", "cc_erlang_a_required_agents",
    "cc_erlang_a_predicted_service_level_ratio", "cc_erlang_a_predicted_abandon_ratio",
    "cc_erlang_a_predicted_wait_probability_ratio",
    "cc_erlang_b_trunks", "cc_erlang_b_predicted_blocking_ratio",
)


def erlang_families(config: Config, ledgers: Sequence[Ledger], now_us: int,
                    label: QueueLabels | None = None) -> list[Family]:
    """Erlang C, A and B per queue and channel (docs/contract.md §3.5) at ``now_us``.

    Per (queue, channel) with an AHT: the inputs (arrival rate, AHT); Erlang C required
    agents and, with traffic, the service level predicted with the agents staffed now (0
    with none, or when A ≥ agents). With a patience estimate as well: the patience and
    Erlang A's required agents and, with traffic, its service level, abandon ratio and
    P(wait) with the agents staffed now (0, 1 and 1 with none). Per voice queue with
    ``trunks`` set and traffic: the trunks and Erlang B's blocking at the trunk load.
    """
    g = {name: new_family(name) for name in _FAMILIES}
    loads = live_loads(config, ledgers, now_us, label)
    for (q, channel), load in loads.items():
        aht = load.aht_seconds
        if aht is None:
            continue  # no AHT yet: no staffing estimate
        key = (q, channel)
        rate, threshold, target = (load.arrival_rate_per_second, load.threshold_seconds,
                                   load.target_ratio)
        traffic = rate * aht
        agents = load.agents_staffed
        g["cc_erlang_arrival_rate_per_second"].samples[key] = rate
        g["cc_erlang_average_handle_time_seconds"].samples[key] = aht
        g["cc_erlang_required_agents"].samples[key] = erlang.required_agents(
            traffic, aht, threshold, target)
        if traffic > 0:
            g["cc_erlang_predicted_service_level_ratio"].samples[key] = (
                erlang.service_level(agents, traffic, aht, threshold) if agents > 0 else 0.0)
        patience = load.patience_seconds
        if patience is not None:
            g["cc_erlang_a_patience_seconds"].samples[key] = patience
            g["cc_erlang_a_required_agents"].samples[key] = _required_erlang_a(
                rate, aht, patience, threshold, target)
            if traffic > 0:
                a = _erlang_a(agents, rate, aht, patience, threshold) if agents > 0 else None
                g["cc_erlang_a_predicted_service_level_ratio"].samples[key] = (
                    a.service_level if a else 0.0)
                g["cc_erlang_a_predicted_abandon_ratio"].samples[key] = (
                    a.abandon_probability if a else 1.0)
                g["cc_erlang_a_predicted_wait_probability_ratio"].samples[key] = (
                    a.wait_probability if a else 1.0)
        if channel == "voice" and load.trunks is not None:
            trunk_rate = (load.offered + load.blocked) / WINDOW_SECONDS
            g["cc_erlang_b_trunks"].samples[(q,)] = load.trunks
            if trunk_rate > 0:
                g["cc_erlang_b_predicted_blocking_ratio"].samples[(q,)] = erlang.erlang_b(
                    load.trunks, trunk_rate * aht)
    return list(g.values())
