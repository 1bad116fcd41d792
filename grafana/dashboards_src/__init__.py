"""The ccpulse dashboards, one module each; ``DASHBOARDS`` is what ``grafana.generate`` writes.

To add a dashboard: a module with ``UID`` (``ccpulse-<area>``) and ``build()`` returning the
SDK's dashboard model, then its ``build`` in ``DASHBOARDS``. See grafana/README.md.
"""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.models.dashboard import Dashboard

from . import agent_detail, agents, month, pipeline, queue_detail, tickets, wallboard

DASHBOARDS: tuple[Callable[[], Dashboard], ...] = (
    wallboard.build,
    queue_detail.build,
    agents.build,
    agent_detail.build,
    tickets.build,
    month.build,
    pipeline.build,
)
