"""The fault suite: every KPI survives kills, broker restarts, rebalances, redelivery and
hostile input, compared value for value with ``ccpulse replay`` of the same events.

Every test here is marked ``faults`` (and ``integration``: it needs the real broker), so
``pytest -m faults`` runs the suite alone and ``-m "not faults"`` leaves it out. The fixtures
are the integration tests' (one local broker for the session, ``unique_name``,
``new_local_broker``), and so are the helpers (``worker_harness``, ``traffic``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).parent
sys.path.insert(0, str(_HERE.parent / "integration"))

from broker_fixtures import kafka_bootstrap, new_local_broker, unique_name  # noqa: E402

__all__ = ["kafka_bootstrap", "new_local_broker", "unique_name"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.faults)
            item.add_marker(pytest.mark.integration)
