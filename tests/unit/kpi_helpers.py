"""Builders for core tests: events by hand, an engine, and the KPI values it exports."""

from __future__ import annotations

import itertools
from typing import Any

from streams.core.config import Config, parse_config
from streams.core.engine import Engine, Outcome
from streams.core.events import Event
from streams.core.kpis import all_families
from streams.core.timestamps import parse_us


def us(text: str) -> int:
    """RFC 3339 text to epoch microseconds."""
    return parse_us(text)


class Centre:
    """A tiny contact centre under test: feed events, read exported values."""

    _ids = itertools.count(1)

    def __init__(self, config: Config | None = None, **raw: Any) -> None:
        self.config = config or parse_config(raw)
        self.engine = Engine(self.config)
        self.events: list[Event] = []

    def event(self, type_: str, at: str, event_id: str | None = None, **body: Any) -> Event:
        eid = event_id or f"e{next(self._ids)}"
        ev = Event(eid, type_, us(at), {"event_id": eid, "type": type_, "occurred_at": at, **body})
        self.events.append(ev)
        return ev

    def feed(self, events: list[Event] | None = None) -> list[Outcome]:
        """Apply ``events`` (default: every event built so far) in list order."""
        return [self.engine.apply(ev) for ev in (self.events if events is None else events)]

    def values(self, now: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], Any]:
        out = {}
        for fam in all_families(self.config, [self.engine.ledger], us(now)):
            for labels, value in fam.samples.items():
                out[(fam.name, tuple(zip(fam.labels, labels, strict=True)))] = value
        return out

    def value(self, now: str, name: str, **labels: str) -> Any:
        values = self.values(now)
        key = (name, tuple(sorted(labels.items())))
        for (n, lbl), v in values.items():
            if n == name and tuple(sorted(lbl)) == key[1]:
                return v
        return None


def call(c: Centre, call_id: str, queue: str, queued: str, outcome: str | None = None,
         at: str | None = None, **extra: Any) -> None:
    """A call segment: queued, and optionally its outcome (answered/abandoned/flowed_out)."""
    c.event("call.queued", queued, call_id=call_id, queue=queue)
    if outcome is not None:
        body = {"call_id": call_id, "queue": queue, **extra}
        if outcome == "answered":
            body.setdefault("agent_id", "a1")
        if outcome == "flowed_out":
            body.setdefault("reason", "timeout")
        c.event(f"call.{outcome}", at, **body)


def advance_stream_time(c: Centre, at: str) -> None:
    """Apply one unrelated event at ``at``: stream time is the newest event applied."""
    c.feed([c.event("agent.state_changed", at, agent_id="clock", state="offline", queues=[])])
