"""Queueing formulas for workforce KPIs (docs/contract.md §3.5): Erlang B, Erlang C and Erlang A.

Conventions: time in seconds (``_seconds`` in names), rates per second, offered traffic in
erlangs (``traffic = arrival rate × AHT``). Every function is pure and cheap enough to call on
every scrape.

Numerical stability. The textbook forms use ``Aᴺ/N!``, which overflows near N = 170 and loses
all precision long before. Instead:

* Erlang B uses the recursion ``B(k) = A·B(k−1) / (k + A·B(k−1))``, whose every step is a
  ratio in [0, 1] (no overflow, no cancellation);
* Erlang C is derived from it: ``C = N·B / (N − A·(1 − B))``;
* Erlang A (M/M/N+M) normalises its birth–death chain *relative to the state "all N agents
  busy"*: the mass below N is ``1/B − 1`` and the queue tail is a product of ratios summed in
  log space, so nothing depends on ``Aᴺ/N!``.

Erlang A service level. A caller who arrives to find ``j`` others waiting is answered once
``j + 1`` "advances" happen before their own patience runs out. In queue position ``k`` the
advance rate is ``N·μ + k·θ`` (an agent frees up, or someone ahead abandons) and the caller's
own abandon rate is ``θ``, so the time to answer is a sum of exponentials with rates
``N·μ + (k+1)·θ``, independent of which way each step went. The probability that every step is
an advance telescopes to ``N·μ / (N·μ + (j+1)·θ)``, and a sum of exponentials whose rates form
the progression ``θ·(β + k)``, ``β = (N·μ + θ)/θ``, has the closed form
``P(S ≤ T) = I_x(j+1, β)`` with ``x = 1 − e^(−θT)`` (``e^(−θS)`` is a product of
``Beta(β+k, 1)`` variables, i.e. ``Beta(β, j+1)``). With an integer first argument the
regularised incomplete beta is ``1 −`` a negative-binomial sum of positive terms, computed in
log space — no uniformisation, no truncated series in time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: A stationary-distribution term below ``e^-LOG_TAIL_CUTOFF`` of the largest one is dropped.
LOG_TAIL_CUTOFF = 45.0

#: Staffing searches give up above ``traffic + MAX_EXTRA_AGENTS`` (a target that cannot be met).
MAX_EXTRA_AGENTS = 100_000


def traffic_erlangs(arrival_rate_per_second: float, aht_seconds: float) -> float:
    """Offered load ``A = λ·AHT``: the average number of agents the work keeps busy."""
    _require_non_negative("arrival_rate_per_second", arrival_rate_per_second)
    _require_positive("aht_seconds", aht_seconds)
    return arrival_rate_per_second * aht_seconds


# --------------------------------------------------------------------------------------------
# Erlang B: blocking with c trunks and no waiting room


def erlang_b(servers: int, traffic: float) -> float:
    """Probability that a call finds all ``servers`` (trunks) busy and is blocked (M/M/c/c)."""
    _require_servers(servers, allow_zero=True)
    _require_non_negative("traffic", traffic)
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = traffic * blocking / (k + traffic * blocking)
    return blocking


def required_trunks(traffic: float, max_blocking: float) -> int:
    """Smallest number of trunks whose Erlang B blocking is at most ``max_blocking``."""
    _require_non_negative("traffic", traffic)
    _require_ratio("max_blocking", max_blocking)
    if traffic == 0:
        return 0
    blocking = 1.0
    trunks = 0
    while blocking > max_blocking:
        trunks += 1
        blocking = traffic * blocking / (trunks + traffic * blocking)
        if trunks > traffic + MAX_EXTRA_AGENTS:
            raise ValueError(f"no trunk count reaches blocking {max_blocking} for {traffic} erl")
    return trunks


# --------------------------------------------------------------------------------------------
# Erlang C: M/M/N with infinitely patient callers


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a caller has to wait (all agents busy on arrival); 1 when A ≥ N.

    At ``traffic ≥ agents`` the queue grows without bound: everyone waits.
    """
    _require_servers(agents)
    _require_non_negative("traffic", traffic)
    if traffic >= agents:
        return 1.0
    blocking = erlang_b(agents, traffic)
    return agents * blocking / (agents - traffic * (1.0 - blocking))


def service_level(agents: int, traffic: float, aht_seconds: float,
                  threshold_seconds: float) -> float:
    """Erlang C share of callers answered within ``threshold_seconds``; 0 when A ≥ N."""
    _require_positive("aht_seconds", aht_seconds)
    _require_non_negative("threshold_seconds", threshold_seconds)
    if traffic >= agents:
        _require_servers(agents)
        return 0.0
    wait = erlang_c(agents, traffic)
    return 1.0 - wait * math.exp(-(agents - traffic) * threshold_seconds / aht_seconds)


def average_speed_of_answer_seconds(agents: int, traffic: float, aht_seconds: float) -> float:
    """Erlang C mean wait over all callers (``P(wait)·AHT/(N−A)``); ``inf`` when A ≥ N."""
    _require_positive("aht_seconds", aht_seconds)
    if traffic >= agents:
        _require_servers(agents)
        return math.inf
    return erlang_c(agents, traffic) * aht_seconds / (agents - traffic)


def occupancy(agents: int, traffic: float) -> float:
    """Share of staffed time agents spend on contacts, ``A/N`` capped at 1 (Erlang C)."""
    _require_servers(agents)
    _require_non_negative("traffic", traffic)
    return min(1.0, traffic / agents)


def required_agents(traffic: float, aht_seconds: float, threshold_seconds: float,
                    target_ratio: float) -> int:
    """Smallest N whose Erlang C service level reaches ``target_ratio`` (0 for no traffic).

    Service level rises with N, so the search walks up from the first stable N.
    """
    _require_non_negative("traffic", traffic)
    _require_ratio("target_ratio", target_ratio)
    if traffic == 0:
        return 0
    _require_positive("aht_seconds", aht_seconds)
    _require_non_negative("threshold_seconds", threshold_seconds)
    agents = math.floor(traffic) + 1
    # Erlang B of each N walked, carried from N - 1 by its recursion: the very values
    # erlang_b(N, A) gives (the same steps), without starting over at every N.
    blocking = erlang_b(agents, traffic)
    while _service_level_c(agents, traffic, aht_seconds, threshold_seconds,
                           blocking) < target_ratio:
        agents += 1
        if agents > traffic + MAX_EXTRA_AGENTS:
            raise ValueError(f"no staffing reaches service level {target_ratio}")
        blocking = traffic * blocking / (agents + traffic * blocking)
    return agents


def _service_level_c(agents: int, traffic: float, aht_seconds: float,
                     threshold_seconds: float, blocking: float) -> float:
    """:func:`service_level` for ``traffic < agents``, given ``erlang_b(agents, traffic)``."""
    wait = agents * blocking / (agents - traffic * (1.0 - blocking))  # erlang_c
    return 1.0 - wait * math.exp(-(agents - traffic) * threshold_seconds / aht_seconds)


# --------------------------------------------------------------------------------------------
# Erlang A: M/M/N+M, callers abandon after an exponential patience


@dataclass(frozen=True, slots=True)
class ErlangAResult:
    """Stationary metrics of an M/M/N+M queue (all per arriving caller unless said)."""

    #: P(all agents busy on arrival), the share of callers who wait at all.
    wait_probability: float
    #: P(the caller abandons before being answered).
    abandon_probability: float
    #: P(answered within the threshold): answered-in-time / offered (abandons count against).
    service_level: float
    #: Busy agents / agents: answered traffic ``λ·(1 − P(abandon))·AHT / N``.
    occupancy: float
    #: Mean time in queue over all callers, answered or not (Little: ``E[queue]/λ``); what
    #: pyworkforce calls ``average_speed_of_answer``.
    average_wait_seconds: float
    #: Mean wait of the callers who are answered (contract §3.2's ASA: answered waits over
    #: answered), ``Σⱼ p(N+j)·P(answered | j ahead)·E[wait | j ahead]`` over ``P(answered)``.
    average_speed_of_answer_seconds: float = 0.0


def erlang_a(agents: int, arrival_rate_per_second: float, aht_seconds: float,
             patience_seconds: float, threshold_seconds: float) -> ErlangAResult:
    """Erlang A metrics for ``agents`` agents, mean patience ``patience_seconds``."""
    _require_servers(agents)
    _require_non_negative("arrival_rate_per_second", arrival_rate_per_second)
    _require_positive("aht_seconds", aht_seconds)
    _require_positive("patience_seconds", patience_seconds)
    _require_non_negative("threshold_seconds", threshold_seconds)
    lam = arrival_rate_per_second
    if lam == 0:
        return ErlangAResult(0.0, 0.0, 1.0, 0.0, 0.0)
    service_rate = agents / aht_seconds                        # N·μ
    theta = 1.0 / patience_seconds
    below, tail = _erlang_a_distribution(agents, lam * aht_seconds, lam, service_rate, theta)
    in_queue = math.fsum(tail)
    total = below + in_queue
    wait_probability = in_queue / total
    mean_queue = math.fsum(j * q for j, q in enumerate(tail)) / total
    abandon_probability = theta * mean_queue / lam
    answered_late = _answered_within(tail, service_rate, theta, threshold_seconds)
    answered = 1.0 - abandon_probability
    return ErlangAResult(
        wait_probability=wait_probability,
        abandon_probability=abandon_probability,
        service_level=min(1.0, (below + answered_late) / total),
        occupancy=min(1.0, lam * answered / service_rate),
        average_wait_seconds=mean_queue / lam,
        average_speed_of_answer_seconds=(
            _answered_wait(tail, service_rate, theta) / total / answered if answered > 0
            else math.inf),
    )


def required_agents_erlang_a(arrival_rate_per_second: float, aht_seconds: float,
                             patience_seconds: float, threshold_seconds: float,
                             target_ratio: float) -> int:
    """Smallest N whose Erlang A service level reaches ``target_ratio`` (0 for no traffic).

    The service level rises with N, so the answer is bracketed by doubling from ``⌈A⌉`` and
    then bisected: about ``2·log₂ N`` evaluations instead of N (this runs on every scrape).
    Raises ``ValueError`` when no N up to ``A + MAX_EXTRA_AGENTS`` reaches the target.
    """
    _require_ratio("target_ratio", target_ratio)
    if arrival_rate_per_second == 0:
        return 0
    traffic = traffic_erlangs(arrival_rate_per_second, aht_seconds)
    _require_positive("patience_seconds", patience_seconds)
    _require_non_negative("threshold_seconds", threshold_seconds)
    log_below = _LogBelow(traffic)

    def meets(agents: int) -> bool:
        return _erlang_a_service_level(agents, arrival_rate_per_second, aht_seconds,
                                       patience_seconds, threshold_seconds,
                                       log_below(agents)) >= target_ratio

    low, high = 0, max(1, math.ceil(traffic))        # meets(low) is False (no agents)
    while not meets(high):
        low, high = high, 2 * high
        if high > traffic + MAX_EXTRA_AGENTS:
            raise ValueError(f"no staffing reaches service level {target_ratio}")
    while high - low > 1:
        middle = (low + high) // 2
        if meets(middle):
            high = middle
        else:
            low = middle
    return high


def _erlang_a_service_level(agents: int, lam: float, aht_seconds: float,
                            patience_seconds: float, threshold_seconds: float,
                            log_below: float) -> float:
    """``erlang_a(...).service_level`` for ``lam > 0`` and valid arguments, by the same
    steps and nothing else (a staffing search reads only it), given ``log_below``
    (:func:`_log_inverse_blocking_minus_one` of ``agents`` at ``lam × aht_seconds``)."""
    service_rate = agents / aht_seconds
    theta = 1.0 / patience_seconds
    below, tail = _erlang_a_distribution(agents, lam * aht_seconds, lam, service_rate, theta,
                                         log_below)
    total = below + math.fsum(tail)
    answered_late = _answered_within(tail, service_rate, theta, threshold_seconds)
    return min(1.0, (below + answered_late) / total)


class _LogBelow:
    """:func:`_log_inverse_blocking_minus_one` at one traffic for any server count, its
    recursion carried from the counts already asked (a staffing search asks ~2·log₂ N of
    them): each value is the one the function gives, by the same steps."""

    def __init__(self, traffic: float) -> None:
        self.log_traffic = math.log(traffic)
        #: log(1/B(k) − … ) before its last step: the recursion's value at k, k = 0, 1, ...
        self.steps = [0.0]

    def __call__(self, servers: int) -> float:
        steps = self.steps
        log_traffic = self.log_traffic
        log, log1p, exp = math.log, math.log1p, math.exp
        log_inverse = steps[-1]
        for k in range(len(steps), servers + 1):
            x = log(k) - log_traffic + log_inverse
            log_inverse = x + log1p(exp(-x)) if x > 0 else log1p(exp(x))
            steps.append(log_inverse)
        log_inverse = steps[servers]
        if log_inverse == 0.0:
            return -math.inf
        return log_inverse + math.log(-math.expm1(-log_inverse))


def _erlang_a_distribution(agents: int, traffic: float, lam: float, service_rate: float,
                           theta: float, log_below: float | None = None
                           ) -> tuple[float, list[float]]:
    """Unnormalised stationary masses with ``p(N) = 1``.

    Returns the mass of the states below N (``1/B(N, A) − 1``: the M/M/N/N part of the chain
    is a truncated Poisson) and ``tail[j] = p(N + j)/p(N)``, the chance-weight of finding
    ``j`` callers already waiting. Tail terms that would overflow when the queue is heavily
    overloaded are rescaled together with ``below``. ``log_below``: that of ``agents`` at
    ``traffic`` when already known (:class:`_LogBelow`).
    """
    if log_below is None:
        log_below = _log_inverse_blocking_minus_one(agents, traffic)
    log_terms = [0.0]
    append = log_terms.append
    log = math.log
    log_q = 0.0
    peak = 0.0
    j = 0
    while True:
        j += 1
        rate = service_rate + j * theta
        log_q += log(lam / rate)
        append(log_q)
        if log_q > peak:  # max(peak, log_q), inline
            peak = log_q
        if rate > lam and log_q < peak - LOG_TAIL_CUTOFF:
            break
    # Scale every mass by the largest, so that neither side overflows: many agents and little
    # traffic make ``below`` astronomically large (the tail then underflows to 0: nobody
    # waits), a heavy overload makes the tail so.
    top = max(peak, log_below)
    scale = -top if top > 600.0 else 0.0
    below = math.exp(log_below + scale) if log_below > -math.inf else 0.0
    return below, [math.exp(t + scale) for t in log_terms]


def _log_inverse_blocking_minus_one(servers: int, traffic: float) -> float:
    """``log(1/B(N, A) − 1)`` (``-inf`` for no servers), computed in logs.

    By the recursion ``1/B(k) = 1 + k/A · 1/B(k−1)``, ``1/B(0) = 1``: with many servers and
    little traffic ``B`` underflows to 0 and ``1/B`` overflows a float (a pool of 200 agents
    on a queue of a few calls an hour), while its logarithm stays small.
    """
    log_traffic = math.log(traffic)
    log_inverse = 0.0
    for k in range(1, servers + 1):
        x = math.log(k) - log_traffic + log_inverse  # log(k/A · 1/B(k−1))
        log_inverse = x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))
    if log_inverse == 0.0:
        return -math.inf
    return log_inverse + math.log(-math.expm1(-log_inverse))


def _answered_within(tail: list[float], service_rate: float, theta: float,
                     threshold_seconds: float) -> float:
    """Σⱼ tail[j] · P(answered by T | j callers ahead), by the closed form in the module doc."""
    x = -math.expm1(-theta * threshold_seconds)  # x = 1 − e^(−θT)
    if x <= 0.0:  # T = 0, or θT below the smallest float (a threshold of 5e-324 s)
        return 0.0
    beta = (service_rate + theta) / theta
    log_x = math.log(x)
    log_one_minus_x = -theta * threshold_seconds
    # Negative-binomial terms t_k = Γ(β+k)/(Γ(β)·k!) · x^k · (1−x)^β, summed cumulatively:
    # I_x(j+1, β) = 1 − Σ_{k≤j} t_k.
    log_t = beta * log_one_minus_x
    log, exp = math.log, math.exp
    cumulative = exp(log_t)
    answered = 0.0
    for j, weight in enumerate(tail):
        if j > 0:
            log_t += log((beta + j - 1) / j) + log_x
            cumulative += exp(log_t)
        reached = 1.0 - cumulative
        if not reached > 0.0:  # max(0.0, reached), inline
            reached = 0.0
        answered += weight * service_rate / (service_rate + (j + 1) * theta) * reached
    return answered


def _answered_wait(tail: list[float], service_rate: float, theta: float) -> float:
    """Σⱼ tail[j] · P(answered | j ahead) · E[wait | j ahead, answered].

    In queue position k the caller stays an ``Exp(N·μ + (k+1)·θ)`` time whichever event ends
    it, so the wait of an answered caller who found ``j`` ahead is the sum of those means for
    k = j … 0, and P(answered | j) = N·μ / (N·μ + (j+1)·θ) (module doc).
    """
    total = 0.0
    mean_wait = 0.0
    for j, weight in enumerate(tail):
        mean_wait += 1.0 / (service_rate + (j + 1) * theta)
        total += weight * service_rate / (service_rate + (j + 1) * theta) * mean_wait
    return total


# --------------------------------------------------------------------------------------------
# argument checks: a wrong input is a programming error, said plainly


def _require_servers(count: int, allow_zero: bool = False) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < (0 if allow_zero else 1):
        least = 0 if allow_zero else 1
        raise ValueError(f"agent/trunk count must be an integer ≥ {least}, got {count!r}")


def _require_positive(name: str, value: float) -> None:
    if not value > 0 or math.isinf(value):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def _require_non_negative(name: str, value: float) -> None:
    if not value >= 0 or math.isinf(value):
        raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")


def _require_ratio(name: str, value: float) -> None:
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
