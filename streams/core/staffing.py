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
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from streams.core import contributions as F
from streams.core import erlang, kpis
from streams.core.config import Config, QueueSettings, ServiceLevelPolicy
from streams.core.contributions import OCCUPANCY_STATES
from streams.core.kpis import SECOND_US, QueueLabels, _sum_fields, _window_sums
from streams.core.ledger import Ledger
from streams.core.metrics import Family, Journal, new_family

#: Trailing window of the Erlang inputs (contract §3.5): the 30 whole minutes before this one.
ERLANG_WINDOW_US = 30 * 60 * SECOND_US
WINDOW_SECONDS = ERLANG_WINDOW_US / SECOND_US
MINUTE_US = 60 * SECOND_US
#: Agent states that count as staffed for the Erlang predictions (those whose time counts
#: in occupancy: ``streams.core.kpis`` counts the staffed agents beside the others).
STAFFED_STATES = OCCUPANCY_STATES
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


def _staffed(ledgers: Sequence[Ledger], label: QueueLabels) -> dict[str, int]:
    """Agents in a staffed state per queue label, over ``ledgers``."""
    staffed: dict[str, int] = {}
    for ledger in ledgers:
        for state, queues, _ in ledger.agents.values():
            if state in STAFFED_STATES:
                for queue in queues:
                    q = label(queue)
                    staffed[q] = staffed.get(q, 0) + 1
    return staffed


def live_loads(config: Config, ledgers: Sequence[Ledger], now_us: int,
               label: QueueLabels | None = None) -> dict[tuple[str, str], Load]:
    """(queue label, channel) -> :class:`Load` at the engine clock ``now_us``. A pure read."""
    label = label or QueueLabels(config, ledgers)
    this_minute = now_us - now_us % MINUTE_US
    lo = this_minute - ERLANG_WINDOW_US
    trailing: dict[tuple[str, str], dict[str, int]] = {}
    settings: dict[tuple[str, str], tuple[ServiceLevelPolicy, QueueSettings]] = {}
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
    staffed = _staffed(ledgers, label)
    today = _window_sums(ledgers, label, now_us)
    return {(q, channel): _load(settings[(q, channel)][0], settings[(q, channel)][1], q, channel,
                                f, still_waiting.get((q, channel), 0), staffed.get(q, 0), today)
            for (q, channel), f in trailing.items()}


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


@lru_cache(maxsize=4096)
def _required_erlang_c(traffic: float, aht: float, threshold: float, target: float) -> int:
    # Memoized like _erlang_a: a queue whose staffed agents changed needs it again as it was.
    return erlang.required_agents(traffic, aht, threshold, target)


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
    for key, load in loads.items():
        _erlang_samples(g, key, load)
    return list(g.values())


def _erlang_samples(g: dict[str, Family], key: tuple[str, str], load: Load) -> None:
    """The samples of one (queue label, channel) with ``load`` (module doc)."""
    q, channel = key
    aht = load.aht_seconds
    if aht is None:
        return  # no AHT yet: no staffing estimate
    rate, threshold, target = (load.arrival_rate_per_second, load.threshold_seconds,
                               load.target_ratio)
    traffic = rate * aht
    agents = load.agents_staffed
    g["cc_erlang_arrival_rate_per_second"].samples[key] = rate
    g["cc_erlang_average_handle_time_seconds"].samples[key] = aht
    g["cc_erlang_required_agents"].samples[key] = _required_erlang_c(
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


class _ErlangKept(kpis._Incremental):
    """:func:`erlang_families` at a clock, kept up to date from the (queue label, channel)
    keys whose buckets or waiting segments changed (:attr:`Ledger.touched`: its minutes,
    and its today window sums, the AHT when the trailing window has none) and whose queue's
    staffed agents changed: each one's :class:`Load` and samples are computed again as
    :func:`live_loads` and :func:`erlang_families` compute them. Valid for the same
    configuration, labels and windows (the ``basis``); a key with a waiting segment that
    turned stale (or back) as the clock moved since is computed again too, and every key
    when the clock's minute moved, from each untouched member's trailing sums slid along
    (:meth:`_slide`) rather than summed again over the 30 minutes."""

    def __init__(self) -> None:
        super().__init__()
        self.reset(0)

    def reset(self, n: int) -> None:
        self.g = {name: new_family(name) for name in _FAMILIES}
        #: what each update wrote: in the families labelled (queue, channel), and (queue,)
        self.journals = (Journal(), Journal())
        for fam in self.g.values():
            fam.journal = self.journals[fam.labels == ("queue",)]
        #: (queue label, channel) -> {(ledger index, queue name): None}: minutes or waiting
        self.members: dict[tuple[str, str], dict[tuple[int, str], None]] = {}
        self.own: list[dict[tuple[str, str], tuple[str, str]]] = [{} for _ in range(n)]
        #: queue label -> its channels with members
        self.channels: dict[str, dict[str, None]] = {}
        self.staffed: dict[str, int] = {}
        self.now_us: int | None = None
        #: the start of the clock's minute at the last update (the trailing window's end)
        self.minute: int | None = None
        #: (ledger index, queue name, channel) -> its minutes summed over the trailing window
        #: (None: it has no minutes), while it is not touched; slid as the minute moves on
        self.trailing: dict[tuple[int, str, str], dict[str, int] | None] = {}

    def _slide(self, ledgers: Sequence[Ledger], minute: int | None, this_minute: int) -> None:
        """Move each kept trailing sum from the window ending at ``minute`` to the one ending
        at ``this_minute`` (later, by less than the window): the minutes that left it taken
        out, those that came in added — integers, exact; a field left at 0 stays at 0, which
        a load reads as its absence. Any other move drops them (each summed again)."""
        trailing = self.trailing
        if minute is None or not minute < this_minute < minute + ERLANG_WINDOW_US:
            trailing.clear()
            return
        leaving = range(minute - ERLANG_WINDOW_US, this_minute - ERLANG_WINDOW_US, MINUTE_US)
        entering = range(minute, this_minute, MINUTE_US)
        gone = []
        for key, found in trailing.items():
            if found is None:
                continue  # no minutes: none to move
            i, queue, channel = key
            minutes = ledgers[i].minutes.get((queue, channel))
            if minutes is None:  # pruned since: summed again (it is marked touched)
                gone.append(key)
                continue
            for start in leaving:
                fields = minutes.get(start)
                if fields:
                    for k, v in fields.items():
                        found[k] = found.get(k, 0) - v
            for start in entering:
                fields = minutes.get(start)
                if fields:
                    for k, v in fields.items():
                        found[k] = found.get(k, 0) + v
        for key in gone:
            del trailing[key]

    def families(self, config: Config, ledgers: Sequence[Ledger], now_us: int,
                 label: QueueLabels, stale_instants: list[int]) -> list[Family]:
        this_minute = now_us - now_us % MINUTE_US
        basis = (config, dict(label._allowed), kpis._windows_at(config, now_us))
        same = self.sync(ledgers, basis)
        crossed: list[tuple[str, str]] = []
        if same and self.now_us is not None and (
                bisect_left(stale_instants, self.now_us) != bisect_left(stale_instants, now_us)):
            crossed = self._crossed(config, ledgers, label, self.now_us, now_us)
        if not same:
            self.reset(len(ledgers))
        elif self.minute != this_minute:  # every key's window moved: each load again
            self._slide(ledgers, self.minute, this_minute)
            same = False
        self.minute = this_minute
        today = _window_sums(ledgers, label, now_us)
        dirty: dict[tuple[str, str], None] = {}
        for i, ledger in enumerate(ledgers):
            own = self.own[i]
            since = self.since(i)
            keys = kpis._changed(ledger, since, ledger.touched)
            everything = since is None or keys is None
            if keys is None:
                keys = [*own, *ledger.minutes, *ledger.waiting]
            trailing = self.trailing
            for key in keys:
                queue, channel = key
                if not channel:
                    continue
                # A trailing sum holds while the key's minutes before this one are as they
                # were (a floor books into the current minute; Ledger.minutes_changed).
                if since is None or everything or ledger.minutes_changed(key, this_minute,
                                                                          since):
                    trailing.pop((i, queue, channel), None)
                mkey = own.get(key)
                if key in ledger.minutes or key in ledger.waiting:
                    if mkey is None:
                        mkey = own[key] = (label(queue), channel)
                        self.members.setdefault(mkey, {})[(i, queue)] = None
                        self.channels.setdefault(mkey[0], {})[channel] = None
                elif mkey is not None:
                    del own[key]
                    del self.members[mkey][(i, queue)]
                else:
                    continue
                dirty[mkey] = None
        self.done(ledgers)
        self.now_us = now_us
        dirty.update(dict.fromkeys(crossed))
        staffed = kpis.agents_now(ledgers, label, now_us)[3]  # this scrape's, not changed
        old = self.staffed
        for q in {*old, *staffed}:
            if old.get(q) != staffed.get(q):
                dirty.update(((q, channel), None) for channel in self.channels.get(q, ()))
        self.staffed = staffed
        if not same:
            dirty.update(dict.fromkeys(self.members))
        g = self.g
        scratch = {name: new_family(name) for name in _FAMILIES}
        # per family: (its scratch samples, its kept samples, whether labelled by queue alone)
        moves = [(fam.samples, g[name].samples, fam.labels == ("queue",))
                 for name, fam in scratch.items()]
        lo = this_minute - ERLANG_WINDOW_US
        for mkey in dirty:
            q, channel = mkey
            load = self._load(config, ledgers, mkey, now_us, this_minute, lo, staffed, today)
            if load is not None:
                _erlang_samples(scratch, mkey, load)
            for written, kept, by_queue in moves:
                if by_queue:  # Erlang B: voice only
                    if channel != "voice":
                        continue
                    sample_key: tuple[str, ...] = (q,)
                else:
                    sample_key = mkey
                value = written.pop(sample_key, _NONE)
                if value is _NONE:
                    kept.pop(sample_key, None)
                else:
                    kept[sample_key] = value
        epochs = (self.journals[0].close(list(dirty)),
                  self.journals[1].close([(q,) for q, channel in dirty if channel == "voice"]))
        for fam in g.values():
            fam.epoch = epochs[fam.labels == ("queue",)]
        return list(g.values())

    @staticmethod
    def _crossed(config: Config, ledgers: Sequence[Ledger], label: QueueLabels, before_us: int,
                 now_us: int) -> list[tuple[str, str]]:
        """The (queue label, channel) keys with a waiting segment that turned stale, or back,
        as the clock moved from ``before_us`` to ``now_us`` (its stale instant between)."""
        lo, hi = min(before_us, now_us), max(before_us, now_us)
        keys = []
        for ledger in ledgers:
            for (queue, channel), segs in ledger.waiting.items():
                after_us = config.queue(queue).stale_after_us
                if any(lo <= queued_us + after_us < hi for _, queued_us in segs):
                    keys.append((label(queue), channel))
        return keys

    def _load(self, config: Config, ledgers: Sequence[Ledger], mkey: tuple[str, str],
              now_us: int, this_minute: int, lo: int, staffed: dict[str, int],
              today: dict[tuple[str, str, str], dict[str, int]]) -> Load | None:
        """The load of ``mkey`` from its members' minutes and waiting segments."""
        q, channel = mkey
        members = self.members.get(mkey)
        if not members:
            self.members.pop(mkey, None)
            channels = self.channels.get(q)
            if channels is not None:
                channels.pop(channel, None)
                if not channels:
                    del self.channels[q]
            return None
        acc: dict[str, int] | None = None
        waiting_us = 0
        trailing = self.trailing
        for i, queue in members:
            ledger = ledgers[i]
            key = (queue, channel)
            found = trailing.get((i, queue, channel), _NONE)
            if found is _NONE:
                minutes = ledger.minutes.get(key)
                found = None if minutes is None else _trailing_sum(minutes, lo, this_minute)
                trailing[(i, queue, channel)] = found
            if found is not None:
                if acc is None:
                    acc = dict(found)
                else:
                    _sum_fields(acc, found)
            segs = ledger.waiting.get(key)
            if segs:
                stale_before = now_us - config.queue(queue).stale_after_us
                for (_, queued_us), n in segs.items():
                    if stale_before <= queued_us < this_minute:
                        waiting_us += n * (this_minute - queued_us)
        if acc is None:
            return None  # waiting segments only: no load
        return _load(config.policy(q, channel), config.queue(q), q, channel, acc, waiting_us,
                     staffed.get(q, 0), today)


_NONE: Any = object()


def _trailing_sum(minutes: dict[int, dict[str, int]], lo: int, hi: int) -> dict[str, int]:
    """One member's minute fields (minute start µs -> field -> amount) summed over the
    minutes starting in ``[lo, hi)``, as :func:`live_loads` sums them: its minutes read
    (a few in a busy floor: ~5 of a queue's on a partition), not the window's 30 looked up,
    :func:`_sum_fields` inline. Integers: exact in any order."""
    found: dict[str, int] = {}
    get = found.get
    for start, fields in minutes.items():
        if lo <= start < hi:
            for k, v in fields.items():
                found[k] = get(k, 0) + v
    return found


def _load(policy: ServiceLevelPolicy, queue_settings: QueueSettings, q: str, channel: str,
          f: dict[str, int],
          still_waiting_us: int, staffed: int,
          today: dict[tuple[str, str, str], dict[str, int]]) -> Load:
    """The :class:`Load` of one (queue label, channel): its trailing-window sums ``f``, the
    wait of its segments still waiting, its staffed agents, and today's sums for the AHT
    when the window handled none; under ``policy`` and ``queue_settings`` (its trunks)."""
    handled, handle_us = f.get(F.HANDLED, 0), f.get(F.HANDLE_US, 0)
    if not handled:
        day = today.get((q, channel, "today"), {})
        handled, handle_us = day.get(F.HANDLED, 0), day.get(F.HANDLE_US, 0)
    waiting_us = (f.get(F.WAIT_ANSWERED_US, 0) + f.get(F.WAIT_ABANDONED_US, 0)
                  + f.get(F.WAIT_FLOWED_OUT_US, 0) + still_waiting_us)
    return Load(
        offered=int(f.get(F.OFFERED, 0)),
        arrival_rate_per_second=f.get(F.OFFERED, 0) / WINDOW_SECONDS,
        aht_seconds=handle_us / handled / SECOND_US if handled and handle_us > 0 else None,
        abandoned=int(f.get(F.ABANDONED, 0) + f.get(F.SHORT_ABANDONED, 0)),
        waiting_us=int(waiting_us),
        threshold_seconds=policy.threshold_seconds,
        target_ratio=policy.target_ratio,
        agents_staffed=staffed,
        blocked=int(f.get(F.BLOCKED, 0)),
        trunks=queue_settings.trunks,
    )


_ERLANG = _ErlangKept()
kpis._BUILDERS.append(_ERLANG)


def kept_erlang_families(config: Config, ledgers: Sequence[Ledger], now_us: int,
                         label: QueueLabels, stale_instants: list[int]) -> list[Family]:
    """:func:`erlang_families`, from what the previous scrape computed when it can
    (:class:`_ErlangKept`; inside ``streams.core.kpis.all_families``)."""
    if kpis._KEEP[0] and ledgers and kpis.OTHER_QUEUE not in config.queues:
        return _ERLANG.families(config, ledgers, now_us, label, stale_instants)
    return erlang_families(config, ledgers, now_us, label)
