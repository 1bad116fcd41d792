"""Tickets and feedback in the engine: per-event cost beside contacts, and scrape time with
many open tickets.

Prints two tables:

1. ``engine.apply`` µs/event for the simulator's contact-only traffic (calls, chats, agents)
   and for the same traffic mixed with ticket life-cycles, surveys and QA reviews (at least
   30 % of the events), and the ratio of the two (the target: within 25 %);
2. the time to answer a scrape (every KPI family + the Prometheus text) with 10,000 to
   200,000 open tickets (the target: under 100 ms at 200,000).

No Kafka, no Faust. Run::

    .venv/bin/python bench/bench_tickets.py [minutes-of-contact-traffic]
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from typing import Any

import orjson

from streams.core.config import parse_config
from streams.core.engine import Engine
from streams.core.events import Event
from streams.core.kpis import all_families
from streams.core.timestamps import format_us
from streams.exporter import render
from streams.runtime import tune_gc
from streams.simulate.generator import generate
from streams.simulate.scenarios import contact_centre
from streams.validation import decode

START_MS = 1_795_338_000_000  # 2026-11-22T09:00Z
CONTACT_FAMILIES = ("call", "chat", "agent")
QUEUES = ("support", "billing", "returns", "tech")
CHANNELS = ("email", "web", "social", "phone", "chat", "other")
PRIORITIES = ("low", "normal", "normal", "normal", "high", "urgent")


def ticket_life(rng: random.Random, tid: str, at_us: int) -> Iterator[dict[str, Any]]:
    """One ticket's events: created, bot ack, assigned, replies, maybe pending, solved, closed,
    and a survey about it."""
    n = 0

    def ev(type_: str, at: int, **body: Any) -> dict[str, Any]:
        nonlocal n
        n += 1
        return {"event_id": f"{tid}-{n}", "type": type_, "occurred_at": format_us(at),
                "ticket_id": tid, **body}

    queue = rng.choice(QUEUES)
    channel = rng.choice(CHANNELS)
    yield ev("ticket.created", at_us, queue=queue, channel=channel,
             priority=rng.choice(PRIORITIES), category=rng.choice(("billing", "technical",
                                                                      "returns", "warranty")))
    t = at_us + 2_000_000
    yield ev("ticket.replied", t, author="bot")
    t += rng.randint(60, 3600) * 1_000_000
    agent = f"agent-{rng.randint(1, 40)}"
    yield ev("ticket.assigned", t, agent_id=agent)
    t += rng.randint(60, 7200) * 1_000_000
    yield ev("ticket.replied", t, author="agent", agent_id=agent)
    if rng.random() < 0.4:
        yield ev("ticket.status_changed", t + 1, status="pending")
        t += rng.randint(600, 7200) * 1_000_000
        yield ev("ticket.replied", t, author="customer")
        t += rng.randint(60, 3600) * 1_000_000
        yield ev("ticket.replied", t, author="agent", agent_id=agent)
    t += rng.randint(60, 3600) * 1_000_000
    yield ev("ticket.status_changed", t, status="solved")
    yield ev("ticket.status_changed", t + 3_600_000_000, status="closed")
    if rng.random() < 0.5:
        survey = rng.choice(("csat", "nps", "ces"))
        score = {"csat": rng.randint(1, 5), "nps": rng.randint(0, 10),
                 "ces": rng.randint(1, 7)}[survey]
        yield {"event_id": f"{tid}-s", "type": "survey.responded",
               "occurred_at": format_us(t + 600_000_000), "survey": survey, "score": score,
               "ticket_id": tid, "channel": channel}


def mixed(contacts: list[dict[str, Any]], share: float, seed: int = 1) -> list[dict[str, Any]]:
    """``contacts`` plus ticket life-cycles and feedback until they are ``share`` of events,
    ticket creations spread over the contacts' time span, all sorted by event time."""
    rng = random.Random(seed)
    first = min(e["occurred_at"] for e in contacts)
    last = max(e["occurred_at"] for e in contacts)
    from streams.core.timestamps import parse_us

    lo, hi = parse_us(first), parse_us(last)
    extra: list[dict[str, Any]] = []
    target = len(contacts) * share / (1 - share)
    i = 0
    while len(extra) < target:
        extra.extend(ticket_life(rng, f"t{i}", rng.randint(lo, hi)))
        i += 1
    out = contacts + extra
    out.sort(key=lambda e: e["occurred_at"])
    return out


def decoded(raw: list[dict[str, Any]], now_us: int) -> list[Event]:
    out = []
    for r in raw:
        ev = decode(orjson.dumps(r), now_us)
        assert isinstance(ev, Event), ev
        out.append(ev)
    return out


def apply_cost(events: list[Event], repeats: int = 3) -> float:
    """Best of ``repeats`` runs of engine.apply over ``events``: µs per event."""
    best = float("inf")
    for _ in range(repeats):
        engine = Engine(parse_config({}))
        t0 = time.perf_counter()
        for ev in events:
            engine.apply(ev)
        best = min(best, time.perf_counter() - t0)
    return best / len(events) * 1e6


def scrape_with_open_tickets(n: int) -> tuple[float, int]:
    """Seconds to answer one scrape with ``n`` open tickets (best of 3), and its size."""
    engine = Engine(parse_config({"defaults": {"first_response_target_seconds": {
        "urgent": 3600, "high": 14400, "normal": 86400, "low": 172800}}}))
    rng = random.Random(7)
    base = START_MS * 1000
    now_us = base + 10 * 86_400_000_000
    for i in range(n):
        at = base + rng.randint(0, 10 * 86_400_000_000 - 1)
        raw = {"event_id": f"c{i}", "type": "ticket.created", "occurred_at": format_us(at),
               "ticket_id": f"t{i}", "queue": rng.choice(QUEUES),
               "channel": rng.choice(CHANNELS), "priority": rng.choice(PRIORITIES)}
        ev = decode(orjson.dumps(raw), now_us)
        assert isinstance(ev, Event)
        engine.apply(ev)
    best, size = float("inf"), 0
    for _ in range(3):
        t0 = time.perf_counter()
        body = render(lambda: all_families(engine.config, [engine.ledger], now_us))
        best = min(best, time.perf_counter() - t0)
        size = len(body)
    return best, size


def main() -> None:
    minutes = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    tune_gc()  # as the worker and the replay run
    raw = list(generate(contact_centre(), seed=1, start_ms=START_MS,
                        duration_ms=minutes * 60_000))
    contacts = [e for e in raw if e["type"].split(".")[0] in CONTACT_FAMILIES]
    now_us = (START_MS + minutes * 60_000) * 1000 + 30 * 86_400_000_000
    only = decoded(contacts, now_us)
    mix = mixed(contacts, 0.35)
    share = 1 - len(contacts) / len(mix)
    both = decoded(mix, now_us)
    base_cost = apply_cost(only)
    mix_cost = apply_cost(both)
    print(f"engine.apply, {minutes} simulated minutes of contacts, best of 3\n")
    print(f"{'traffic':<40}{'events':>10}{'µs/event':>10}{'vs contacts':>13}")
    print(f"{'contacts only (calls, chats, agents)':<40}{len(only):>10,}{base_cost:>10.1f}"
          f"{'1.00':>13}")
    label = f"with tickets + feedback ({share:.0%})"
    print(f"{label:<40}{len(both):>10,}{mix_cost:>10.1f}{mix_cost / base_cost:>13.2f}")
    print("\nscrape with open tickets (all families + exposition text), best of 3\n")
    print(f"{'open tickets':>14}{'ms':>10}{'bytes':>12}")
    for n in (10_000, 50_000, 200_000):
        secs, size = scrape_with_open_tickets(n)
        print(f"{n:>14,}{secs * 1000:>10.1f}{size:>12,}")


if __name__ == "__main__":
    main()
