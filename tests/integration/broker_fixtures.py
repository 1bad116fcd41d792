"""The Kafka fixtures of the integration tests and the fault suite (``tests/faults``).

The session starts one real local broker (``LocalBroker``) on free ports in a temporary
directory, from the shared jar cache (fetched on first use), and stops it at the end. To run
the tests against a broker you already have, set ``CCPULSE_TEST_BROKER=host:port``, and for a
broker with TLS or SASL its client settings in the ``CCPULSE_*`` variables the commands read
(``CCPULSE_SECURITY_PROTOCOL``, ``CCPULSE_SASL_*``, ``CCPULSE_SSL_*``: ``broker_security``,
docs/security.md). Every test
isolates itself with ``unique_name``: topics and Faust app ids never collide, so tests share
the broker without cleaning up after each other.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from broker_security import security_for
from worker_harness import free_port

from streams.kafka import LocalBroker, bootstrap_servers, wait_until_ready

BROKER_TIMEOUT_S = 90.0
"""How long the session waits for its broker to start (a cold JVM on 2 cores takes ~6 s)."""



@pytest.fixture(scope="session")
def kafka_bootstrap(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[str]:
    """``"127.0.0.1:PORT"`` of a running broker for the whole session."""
    external = os.environ.get("CCPULSE_TEST_BROKER")
    if external:
        wait_until_ready(external, BROKER_TIMEOUT_S, security=security_for(external))
        yield bootstrap_servers(external)
        return
    broker = LocalBroker(
        state_dir=tmp_path_factory.mktemp("kafka"),
        port=free_port(),
        controller_port=free_port(),
    )
    broker.start(timeout_s=BROKER_TIMEOUT_S)  # a BrokerError carries the log tail
    try:
        yield broker.bootstrap
    finally:
        if request.session.testsfailed:
            _report(request, "Kafka broker log (tests failed)", broker.log_tail())
        broker.stop()


@pytest.fixture
def new_local_broker(tmp_path: Path) -> Iterator[Callable[..., LocalBroker]]:
    """Make unstarted brokers of their own (free ports, state under ``tmp_path``, other
    ``LocalBroker`` keywords passed on) for tests that stop or restart a broker; whatever is
    still running at the end is stopped."""
    made: list[LocalBroker] = []

    def make(**options: Any) -> LocalBroker:
        broker = LocalBroker(
            state_dir=tmp_path / f"kafka-{len(made)}",
            port=free_port(),
            controller_port=free_port(),
            **options,
        )
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.stop()


@pytest.fixture
def unique_name() -> str:
    """A fresh prefix such as ``it-3f2a9b1c0d1e`` for topic names and Faust app ids.

    Only characters valid in both (``[a-z0-9-]``); add a ``.`` to use it as a topic prefix.
    """
    return f"it-{uuid.uuid4().hex[:12]}"


def _report(request: pytest.FixtureRequest, title: str, text: str) -> None:
    """Write past pytest's output capture, which swallows what a fixture's teardown prints."""
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    if terminal is None:
        return
    terminal.write_sep("-", title)
    terminal.write_line(text)
