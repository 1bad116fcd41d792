"""The simulator's one entry point: a scenario, a seed and a start time in; events out.

Pure and deterministic: the same (scenario, seed, start_ms, duration_ms) yields the same
events, byte for byte, in nondecreasing ``occurred_at`` order. Nothing reads the clock or does
I/O; pacing against a real clock and writing to files or Kafka are the callers' business
(:mod:`streams.simulate.pacing`, :mod:`streams.simulate.sinks`).

The run starts with an empty centre (nobody waiting, the first shift just logged in) and stops
at ``start_ms + duration_ms``: contacts still in progress then simply have no further events,
exactly what a live feed cut at that moment would show.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from streams.simulate.backoffice import BackOffice
from streams.simulate.contacts import ContactCentre
from streams.simulate.customers import CustomerBase
from streams.simulate.model import CustomerActivity, Scenario
from streams.simulate.world import TimedEvent, World


def timed_events(scenario: Scenario, *, seed: int, start_ms: int,
                 duration_ms: int | None = None) -> Iterator[TimedEvent]:
    """``(occurred_ms, event)`` pairs of ``scenario`` from ``start_ms`` for ``duration_ms``.

    ``duration_ms=None`` runs for ever (the iterator is lazy: a real-time feed pulls from it).
    """
    world = World(scenario, seed, start_ms)
    customers = CustomerBase(world, scenario.customers or CustomerActivity())
    centre = ContactCentre(world, scenario, customers.pick)
    office = BackOffice(world, scenario, centre, customers)
    centre.start()
    office.start()
    return world.run(None if duration_ms is None else duration_ms / 1000.0)


def generate(scenario: Scenario, *, seed: int, start_ms: int,
             duration_ms: int | None = None) -> Iterator[dict[str, Any]]:
    """The events of :func:`timed_events`, as plain docs/contract.md §1 event dicts."""
    for _, event in timed_events(scenario, seed=seed, start_ms=start_ms,
                                 duration_ms=duration_ms):
        yield event
