"""The floor wallboard's data: what ``/wallboard.json`` serves and the page draws.

The page itself is static (``streams/web/wallboard.html``, ``.css``, ``.js``, and
``clock.js``, which the staffing page loads too); it polls
``/wallboard.json`` every ``[wallboard] refresh_seconds``. :func:`wallboard_model` builds
that document from the very families ``/metrics`` serves (one snapshot), so a number on the
screen is a number in Prometheus. It decides the colours too — ``good``, ``warn`` or ``bad``
per number, from the queue's own service-level policy and the ``[wallboard]`` thresholds —
so the rules live in one tested place and the page only paints them.

One tile per queue and channel with contacts (waiting now, oldest wait, service level this
interval and today against the target, ASA this interval, abandoned today, agents available
and on contact, and the agents needed now — Erlang A's requirement where a patience is
observed, else Erlang C's — which the page shows when it differs from the agents staffed);
one back-office tile per queue with tickets (open, first responses overdue,
awaiting reply, CSAT today). It shows this worker's partitions: with several workers, use
Grafana (``grafana/``).
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from typing import Any

from streams.core.config import Config, WallboardSettings
from streams.core.metrics import Family
from streams.core.staffing import STAFFED_STATES

GOOD, WARN, BAD = "good", "warn", "bad"
#: The static files of the page, served as they are: name -> content type. ``clock.js`` (the
#: time of day in the floor's zone) is the staffing page's too.
ASSETS = {
    "wallboard.html": "text/html; charset=utf-8",
    "wallboard.css": "text/css; charset=utf-8",
    "wallboard.js": "text/javascript; charset=utf-8",
    "clock.js": "text/javascript; charset=utf-8",
}
#: CSAT colours: red below 70 % (the CsatDrop alert's threshold), green from 80 %.
CSAT_BAD, CSAT_GOOD = 0.7, 0.8

Labels = tuple[tuple[str, str], ...]


def asset(name: str) -> bytes:
    """The bytes of one of the page's static files (see :data:`ASSETS`)."""
    if name not in ASSETS:
        raise KeyError(name)
    return resources.files("streams.web").joinpath(name).read_bytes()


# --------------------------------------------------------------------------- colours

def rising(value: float | None, amber: float, red: float) -> str | None:
    """A number that is worse when higher: amber from ``amber``, red from ``red``."""
    if value is None:
        return None
    return BAD if value >= red else WARN if value >= amber else GOOD


def sl_level(value: float | None, target: float | None, margin: float) -> str | None:
    """Green at or above the target, amber within ``margin`` below it, red further below."""
    if value is None or target is None:
        return None
    return GOOD if value >= target else WARN if value >= target - margin else BAD


def wait_level(seconds: float | None, threshold_s: float, amber_fraction: float) -> str | None:
    """Green below ``amber_fraction`` of the SL threshold, amber up to it, red beyond (a
    contact waiting longer than the threshold already misses the service level)."""
    if seconds is None:
        return None
    return BAD if seconds > threshold_s else WARN if seconds >= threshold_s * amber_fraction \
        else GOOD


def agents_level(available: float | None, waiting: float | None) -> str | None:
    """Red when contacts wait and nobody is available, amber when fewer are available than
    wait, else green."""
    if available is None:
        return None
    waiting = waiting or 0
    if waiting > 0 and available == 0:
        return BAD
    return WARN if available < waiting else GOOD


def agents_needed_level(needed: float | None, staffed: float) -> str | None:
    """Amber when the model needs more agents than are staffed; no colour otherwise (fewer
    needed is no alarm)."""
    if needed is None:
        return None
    return WARN if needed > staffed else None


def csat_level(value: float | None) -> str | None:
    if value is None:
        return None
    return GOOD if value >= CSAT_GOOD else WARN if value >= CSAT_BAD else BAD


# --------------------------------------------------------------------------- families

def _samples(fams: dict[str, Family], name: str) -> dict[Labels, float]:
    fam = fams.get(name)
    if fam is None:
        return {}
    return {tuple(zip(fam.labels, lv, strict=True)): v for lv, v in fam.samples.items()}


def _sum_per_queue(fams: dict[str, Family], name: str, keep: Any,
                   **where: str) -> dict[str, float] | None:
    """``name`` summed per queue over the samples ``keep(labels)`` accepts and matching
    ``where``; None when the family is not exported at all."""
    if name not in fams:
        return None
    sums: dict[str, float] = {}
    for labels, value in _samples(fams, name).items():
        named = dict(labels)
        if keep(named) and all(named.get(k) == v for k, v in where.items()):
            sums[named["queue"]] = sums.get(named["queue"], 0.0) + value
    return sums


def _metric(value: float | None, level: str | None) -> dict[str, Any]:
    return {"value": value, "level": level}


def _wanted(values: Iterable[str]) -> set[str]:
    """``?queue=a,b&queue=c`` -> {a, b, c}; empty = everything."""
    return {v.strip() for value in values for v in value.split(",") if v.strip()}


def wallboard_model(families: list[Family], config: Config, *, now_s: float,
                    queues: Iterable[str] = (), channels: Iterable[str] = (),
                    health: dict[str, Any] | None = None) -> dict[str, Any]:
    """The document ``/wallboard.json`` serves, for the wall-clock instant ``now_s``.

    ``queues`` and ``channels`` filter the tiles (empty: all); ``health`` is the worker's
    readiness (``{"status": ..., "reasons": [...]}``); None means ready.
    """
    s: WallboardSettings = config.wallboard
    fams = {f.name: f for f in families}
    only_queues, only_channels = _wanted(queues), _wanted(channels)

    def keep(labels: dict[str, str]) -> bool:
        return ((not only_queues or labels.get("queue") in only_queues)
                and (not only_channels or labels.get("channel") in only_channels))

    waiting = _samples(fams, "cc_queue_contacts_waiting")
    oldest = _samples(fams, "cc_queue_oldest_wait_seconds")
    sl = _samples(fams, "cc_service_level_ratio")
    target = _samples(fams, "cc_service_level_target_ratio")
    asa = _samples(fams, "cc_average_speed_of_answer_seconds")
    abandoned = _samples(fams, "cc_window_contacts_abandoned")
    abandon_ratio = _samples(fams, "cc_abandon_ratio")
    agents = _samples(fams, "cc_agents")
    needed_a = _samples(fams, "cc_erlang_a_required_agents")
    needed_c = _samples(fams, "cc_erlang_required_agents")

    contacts = []
    for key in sorted(waiting):
        labels = dict(key)
        if not keep(labels):
            continue
        q, ch = labels["queue"], labels["channel"]

        def w(window: str, q: str = q, ch: str = ch) -> Labels:
            return (("queue", q), ("channel", ch), ("window", window))

        policy = config.policy(q, ch)
        tgt = target.get(w("interval"), target.get(w("today")))
        sl_now, sl_today = sl.get(w("interval")), sl.get(w("today"))
        free = agents.get((("queue", q), ("state", "available")))
        busy = agents.get((("queue", q), ("state", "on_contact")))
        abandoned_today = abandoned.get(w("today"))
        asa_now = asa.get(w("interval"))
        staffed = sum(agents.get((("queue", q), ("state", state)), 0)
                      for state in STAFFED_STATES)
        needed = needed_a.get(key, needed_c.get(key))
        contacts.append({
            "queue": q, "channel": ch,
            "target_ratio": tgt, "threshold_seconds": policy.threshold_seconds,
            "metrics": {
                "waiting": _metric(waiting[key], rising(waiting[key], s.waiting_amber,
                                                        s.waiting_red)),
                "oldest_wait": _metric(oldest.get(key), wait_level(
                    oldest.get(key), policy.threshold_seconds, s.wait_amber_fraction)),
                "sl_interval": _metric(sl_now, sl_level(sl_now, tgt, s.sl_amber_margin)),
                "sl_today": _metric(sl_today, sl_level(sl_today, tgt, s.sl_amber_margin)),
                "asa": _metric(asa_now, wait_level(asa_now, policy.threshold_seconds,
                                                   s.wait_amber_fraction)),
                "abandoned": _metric(abandoned_today, rising(
                    abandon_ratio.get(w("today")), s.abandon_rate_amber, s.abandon_rate_red)),
                "agents_available": _metric(free, agents_level(free, waiting[key])),
                "agents_on_contact": _metric(busy, None),
                "agents_needed": _metric(needed, agents_needed_level(needed, staffed)),
            },
            "agents_staffed": staffed,
        })

    open_ = _sum_per_queue(fams, "cc_tickets_open", keep)
    overdue = _sum_per_queue(fams, "cc_tickets_first_response_overdue", keep)
    awaiting = _sum_per_queue(fams, "cc_tickets_awaiting_reply", keep)
    satisfied = _sum_per_queue(fams, "cc_window_csat_satisfied", keep, window="today")
    responses = _sum_per_queue(fams, "cc_window_csat_responses", keep, window="today")
    tickets = []
    for q in sorted({*(open_ or {}), *(overdue or {}), *(awaiting or {}), *(responses or {})}):
        def get(by_queue: dict[str, float] | None, q: str = q) -> float | None:
            return None if by_queue is None else by_queue.get(q, 0.0)

        answered = get(responses)
        csat = get(satisfied) / answered if answered and satisfied is not None else None
        tickets.append({"queue": q, "metrics": {
            "open_tickets": _metric(get(open_), rising(get(open_), s.open_tickets_amber,
                                                       s.open_tickets_red)),
            "overdue": _metric(get(overdue), rising(get(overdue), s.overdue_amber,
                                                    s.overdue_red)),
            "awaiting_reply": _metric(get(awaiting), None),
            "csat_today": _metric(csat, csat_level(csat)),
        }})

    newest = max((v for v in _samples(fams, "cc_last_event_timestamp_seconds").values() if v > 0),
                 default=None)
    health = health or {"status": "ok", "reasons": []}
    return {
        "generated_at": now_s,
        "timezone": s.timezone or config.defaults.timezone,
        "refresh_seconds": s.refresh_seconds,
        "stale_after_seconds": s.stale_after_seconds,
        "data_stale_after_seconds": s.data_stale_after_seconds,
        "newest_event_at": newest,
        "newest_event_age_seconds": None if newest is None else max(0.0, now_s - newest),
        "ready": health.get("status") == "ok",
        "reasons": list(health.get("reasons", [])),
        "filters": {"queue": sorted(only_queues), "channel": sorted(only_channels)},
        "contacts": contacts,
        "tickets": tickets,
    }
