"""``ccpulse simulate`` live: each event leaves when it occurs, to within milliseconds, not
held back by how the run's start was taken (it used to be cut to the second and taken before
the publisher connected: every live event reached Kafka 0.1–1.3 s old, so the demo's
wallboard was always that stale). No broker is needed: the publisher is replaced by one
that records when each event was handed to it."""

from __future__ import annotations

import time
from typing import Any, ClassVar

import pytest

import streams.simulate.cli
from streams.cli import main
from streams.core.timestamps import parse_us
from streams.publish import PublishReport
from streams.settings import ENV_OVERRIDES


class ClockedPublisher:
    """Stands in for ``streams.publish.Publisher``: the wall time each event was sent at."""

    sent: ClassVar[list[tuple[int, dict[str, Any]]]] = []

    def __init__(self, broker: str, **_: Any) -> None:
        self.report = PublishReport()
        self.topic_prefix = ""

    async def __aenter__(self) -> ClockedPublisher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def send_event(self, event: dict[str, Any]) -> None:
        self.sent.append((time.time_ns() // 1000, event))


def test_a_live_event_leaves_within_milliseconds_of_its_occurred_at(monkeypatch):
    for var in (*ENV_OVERRIDES, "CCPULSE_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(ClockedPublisher, "sent", [])
    monkeypatch.setattr(streams.simulate.cli, "Publisher", ClockedPublisher)
    assert main(["simulate", "--speed", "1", "--duration", "3s", "--scenario", "demo",
                 "--seed", "3"]) == 0
    late_ms = [(sent_us - parse_us(event["occurred_at"])) / 1000
               for sent_us, event in ClockedPublisher.sent]
    assert len(late_ms) >= 5, late_ms
    assert min(late_ms) >= -1.0, "an event left before it occurred"  # stamped to the ms
    assert max(late_ms) == pytest.approx(0, abs=50), sorted(late_ms)[-5:]
