"""The worker's consumer reads only committed events (``read_committed``), whatever Faust's
processing guarantee: a transaction a source aborts is never counted (streams.worker.isolation;
through the broker: tests/integration/test_transactional_producer.py)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from streams.core.config import parse_config
from streams.worker.app import build_pipeline
from streams.worker.isolation import read_committed


def test_the_workers_consumer_reads_committed_events_only() -> None:
    async def created() -> tuple[str, str]:
        app = build_pipeline(parse_config({})).app
        # aiokafka gives the consumer's level to its fetcher as it starts
        consumer = app.consumer._thread._create_worker_consumer(app.transport)
        try:
            return consumer._isolation_level, app.conf.processing_guarantee.value
        finally:
            await consumer.stop()

    level, guarantee = asyncio.run(created())
    assert (level, guarantee) == ("read_committed", "at_least_once")


def test_a_faust_without_the_consumer_factory_is_refused_at_start_up() -> None:
    app = SimpleNamespace(consumer=SimpleNamespace(_thread=SimpleNamespace()))
    with pytest.raises(RuntimeError, match="cannot set the isolation level"):
        read_committed(app)


def test_an_aiokafka_consumer_without_the_level_is_refused_when_made() -> None:
    thread = SimpleNamespace(_create_worker_consumer=lambda transport: object())
    read_committed(SimpleNamespace(consumer=SimpleNamespace(_thread=thread)))
    with pytest.raises(RuntimeError, match="aiokafka's consumer changed"):
        thread._create_worker_consumer(None)
