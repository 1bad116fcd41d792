"""Fixtures for tests against a real Kafka broker.

The session starts one real local broker (``LocalBroker``) on free ports in a temporary
directory, from the shared jar cache (fetched on first use), and stops it at the end. To run
the integration tests against a broker you already have, set ``CCPULSE_TEST_BROKER=host:port``
(with TLS or SASL: and its client settings in the ``CCPULSE_*`` security variables).
Every test isolates itself with ``unique_name``: topics and Faust app ids never collide, so
tests share the broker without cleaning up after each other.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from broker_fixtures import kafka_bootstrap, new_local_broker, unique_name

__all__ = ["kafka_bootstrap", "new_local_broker", "unique_name"]

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration ``integration`` (``-m "not integration"``)."""
    for item in items:
        if _HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)
